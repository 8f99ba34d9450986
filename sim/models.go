package sim

import (
	"net/http"
	"strconv"
	"time"
)

// serveModels answers GET /v1/models with the one served model.
func (s *Server) serveModels(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 0, 160+2*len(s.modelJSON))
	b = append(b, `{"object":"list","data":[{"id":`...)
	b = append(b, s.modelJSON...)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"owned_by":"llmprobe-sim","root":`...)
	b = append(b, s.modelJSON...)
	b = append(b, `,"parent":null}]}`...)
	writeJSON(w, r, b)
}

// serveHealth answers GET /health.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, []byte(`{"status":"ok"}`))
}

func writeJSON(w http.ResponseWriter, r *http.Request, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
