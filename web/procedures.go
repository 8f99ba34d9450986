package web

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ProceduresDir is where stress procedures live in the data directory, one
// directory per procedure ID holding procedure.json, report.html and the
// report's PNG charts (see package stress).
const ProceduresDir = "procedures"

var (
	procedureID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)
	procedureFile = regexp.MustCompile(`^(report\.html|procedure\.json|[a-z0-9-]{1,64}\.png)$`)
)

// procedureFileHandler serves GET /procedures/{id}/{file}: a procedure's
// report, its charts and its JSON, read-only. Only those names are served,
// and the ID cannot leave the procedures directory.
func (h *handler) procedureFile(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("file")
	if name == "" {
		name = "report.html"
	}
	if h.o.Archive == nil || !procedureID.MatchString(id) || strings.Contains(id, "..") || !procedureFile.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	path := filepath.Join(h.o.Archive.Dir(), ProceduresDir, id, name)
	f, err := os.Open(path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	// The report is self-contained: nothing it loads comes from elsewhere.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, st.ModTime(), f)
}
