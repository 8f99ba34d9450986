package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// streamOptions is the request's stream_options.
type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

// decodeBody reads the body (at most MaxBodyBytes) into st.body and
// unmarshals it into v, answering 413 or 400 itself on failure.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, st *reqState, v any) bool {
	// Reading the body to its end also lets net/http notice a client
	// that goes away (it watches the connection once the body is read).
	_, err := st.body.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.badRequest(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Request body too large: the limit is %d bytes.", MaxBodyBytes))
		} else {
			s.badRequest(w, http.StatusBadRequest, "Could not read the request body: "+err.Error())
		}
		return false
	}
	if err := json.Unmarshal(st.body.Bytes(), v); err != nil {
		s.badRequest(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) badRequest(w http.ResponseWriter, status int, msg string) {
	s.st.badRequests.Add(1)
	writeError(w, status, msg)
}

// checkModel answers 404 unless model is empty or the served model.
func (s *Server) checkModel(w http.ResponseWriter, model string) bool {
	if model == "" || model == s.cfg.Model {
		return true
	}
	s.badRequest(w, http.StatusNotFound, "The model `"+model+"` does not exist.")
	return false
}

// outputLength returns the number of tokens to generate and the finish
// reason: OutputTokens, capped by maxTokens, raised to minTokens (within
// maxTokens). "length" when maxTokens limited the output, else "stop".
func (s *Server) outputLength(maxTokens, minTokens *int) (int, string, error) {
	n, finish := s.cfg.OutputTokens, "stop"
	if maxTokens != nil {
		if *maxTokens < 1 {
			return 0, "", fmt.Errorf("max_tokens must be at least 1, got %d", *maxTokens)
		}
		if *maxTokens <= n {
			n, finish = *maxTokens, "length"
		}
	}
	if minTokens != nil {
		if *minTokens < 0 {
			return 0, "", fmt.Errorf("min_tokens must be at least 0, got %d", *minTokens)
		}
		if maxTokens != nil && *minTokens > *maxTokens {
			return 0, "", fmt.Errorf("min_tokens (%d) must be less than or equal to max_tokens (%d)", *minTokens, *maxTokens)
		}
		if *minTokens > n {
			n = *minTokens
			if maxTokens != nil && n == *maxTokens {
				finish = "length"
			}
		}
	}
	return n, finish, nil
}

// estimateTokens turns a character count into a prompt token estimate.
func estimateTokens(chars int) int {
	return max(1, (chars+CharsPerToken-1)/CharsPerToken)
}
