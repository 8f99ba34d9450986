package web

import (
	"fmt"
	"net/http"
	"os"

	"gopkg.in/yaml.v3"
)

// writesProtected reports whether a Prometheus web-config file puts every
// request behind authentication (basic auth users, or required client
// certificates), which is what write endpoints need.
func writesProtected(webConfigFile string) (bool, error) {
	if webConfigFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(webConfigFile)
	if err != nil {
		return false, err
	}
	var wc struct {
		BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
		TLS            struct {
			ClientAuthType string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false, fmt.Errorf("%s: %w", webConfigFile, err)
	}
	return len(wc.BasicAuthUsers) > 0 || wc.TLS.ClientAuthType == "RequireAndVerifyClientCert", nil
}

// Guard refuses write requests that are not POST, or that would be
// unauthenticated without an explicit opt-in.
type Guard struct {
	allowed bool
	reason  string
}

// Wrap guards h.
func (g Guard) Wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !g.allowed {
			http.Error(w, g.reason, http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// NewGuard returns the guard of the write endpoints: they are allowed when
// the web config (--web.config.file) puts every request behind
// authentication, or when unauthenticated writes were asked for.
func NewGuard(webConfigFile string, allowUnauthenticated bool) (Guard, error) {
	if allowUnauthenticated {
		return Guard{allowed: true}, nil
	}
	protected, err := writesProtected(webConfigFile)
	if err != nil {
		return Guard{}, err
	}
	return Guard{allowed: protected, reason: "write endpoints are disabled: put them behind authentication " +
		"(basic_auth_users or required client certificates in --web.config.file) or pass --web.enable-unauthenticated-writes"}, nil
}
