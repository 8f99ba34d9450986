package cli

import (
	"encoding/json"
	"net/http"

	"github.com/llmprobe/llmprobe/daemon"
)

// statusHandler serves every probe's last result as JSON. Records carry no
// secrets: the API key lives only in the client.
func statusHandler(d *daemon.Daemon) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"probes": d.Statuses()})
	})
}
