package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/daemon"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// runSoak serves POST /api/v1/soaks/{name}/run[?target=T]: it starts the
// soak now and answers 202 with the targets started and those already
// running (409 if all were), 404 for an unknown soak. It must be mounted
// behind the same authentication as the rest of the web interface (and the
// write guard), with a {name} path wildcard.
func (h *handler) runSoak(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	name := r.PathValue("name")
	started, running, err := h.o.Soaks.RunNow(name, r.URL.Query().Get("target"))
	switch {
	case errors.Is(err, daemon.ErrUnknownSoak):
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	code := http.StatusAccepted
	if len(started) == 0 {
		code = http.StatusConflict
	}
	writeJSON(w, code, map[string]any{"soak": name, "started": nonNil(started), "already_running": nonNil(running)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// soaks serves GET /api/v1/soaks: every soak job's state.
func (h *handler) soaks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"soaks": h.o.Soaks.Statuses()})
}

// runs serves GET /api/v1/runs[?name=&target=&limit=]: the archived
// runs, newest first.
func (h *handler) runs(w http.ResponseWriter, r *http.Request) {
	if h.o.Archive == nil {
		writeJSON(w, http.StatusOK, map[string]any{"runs": []archive.Run{}})
		return
	}
	runs, err := h.o.Archive.List()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	q := r.URL.Query()
	limit := -1
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSONError(w, http.StatusBadRequest, "limit must be a non-negative integer")
			return
		}
		limit = n
	}
	out := make([]archive.Run, 0, len(runs))
	for _, run := range runs {
		if (q.Get("name") != "" && run.Name != q.Get("name")) || (q.Get("target") != "" && run.Target != q.Get("target")) {
			continue
		}
		if limit >= 0 && len(out) >= limit {
			break
		}
		out = append(out, run)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}

// runResult serves GET /api/v1/runs/{id}: a run's JSON result.
func (h *handler) runResult(w http.ResponseWriter, r *http.Request) {
	h.archived(w, r, "application/json", func(a *archive.Archive, id string) (io.ReadCloser, error) {
		b, err := a.Result(id)
		return io.NopCloser(bytes.NewReader(b)), err
	})
}

// runTimeline serves GET /api/v1/runs/{id}/timeline: a run's JSONL
// request timeline.
func (h *handler) runTimeline(w http.ResponseWriter, r *http.Request) {
	h.archived(w, r, "application/x-ndjson", func(a *archive.Archive, id string) (io.ReadCloser, error) {
		return a.Timeline(id)
	})
}

// archived serves one file of the run named by the path's {id}: 404 for a
// run the archive does not have (or no archive), 500 when it cannot be read.
func (h *handler) archived(w http.ResponseWriter, r *http.Request, contentType string, open func(*archive.Archive, string) (io.ReadCloser, error)) {
	if h.o.Archive == nil {
		writeJSONError(w, http.StatusNotFound, archive.ErrNotFound.Error())
		return
	}
	f, err := open(h.o.Archive, r.PathValue("id"))
	switch {
	case errors.Is(err, archive.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", contentType)
	_, _ = io.Copy(w, f)
}
