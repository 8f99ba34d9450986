package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/archive"
)

func TestProcedureFiles(t *testing.T) {
	dir := t.TempDir()
	arch, err := archive.Open(dir, archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, ProceduresDir, "weekly-20261201T030000.000Z")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"report.html": "<html>report</html>", "throughput-vs-p99.png": "PNG", "notes.txt": "secret"} {
		if err := os.WriteFile(filepath.Join(pdir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "outside.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Logger: slog.New(slog.DiscardHandler), Gatherer: prometheus.NewRegistry(), MetricsPath: "/metrics", Archive: arch}))
	defer srv.Close()
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/procedures/weekly-20261201T030000.000Z/", 200, "<html>report</html>"},
		{"/procedures/weekly-20261201T030000.000Z/report.html", 200, "<html>report</html>"},
		{"/procedures/weekly-20261201T030000.000Z/throughput-vs-p99.png", 200, "PNG"},
		{"/procedures/weekly-20261201T030000.000Z/notes.txt", 404, ""},   // not a report file
		{"/procedures/weekly-20261201T030000.000Z/missing.png", 404, ""}, // absent
		{"/procedures/nope/report.html", 404, ""},                        // no such procedure
		{"/procedures/..%2F..%2Fetc/report.html", 404, ""},               // escapes
		{"/procedures/weekly-20261201T030000.000Z/..%2F..%2Foutside.png", 404, ""},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || (c.body != "" && string(b) != c.body) {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, resp.StatusCode, b, c.code, c.body)
		}
		if c.code == 200 && resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", c.path)
		}
	}
}
