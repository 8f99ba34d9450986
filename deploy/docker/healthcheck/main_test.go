package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRun(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/-/healthy" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "Healthy\n")
	}))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-url", healthy.URL + "/-/healthy"}, 0},
		{[]string{"-url", healthy.URL + "/other"}, 1},
		{[]string{"-url", failing.URL + "/-/healthy"}, 1},
		{[]string{"-url", closed.URL + "/-/healthy", "-timeout", "1s"}, 1},
		{[]string{"-bogus"}, 2},
	} {
		if got := run(tc.args, io.Discard); got != tc.want {
			t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
