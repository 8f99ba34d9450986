package sim

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"time"
)

// maxDimensions bounds EmbeddingDimensions and a request's "dimensions".
const maxDimensions = 1 << 16

// serveHead is what answerPooling writes before the request's own fields: the id,
// "object", "created" and "model".
func (s *Server) serveHead(b []byte, prefix, object string, hi, lo uint64) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, prefix...)
	b = appendUUID(b, hi, lo)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"model":`...)
	return append(b, s.modelJSON...)
}

// answerPooling answers a parsed, valid pooling request (embeddings, rerank):
// faults, admission and queueing as for generation, then the body that
// build appends (given the response's id bits), TTFT after the request got
// a slot.
func (s *Server) answerPooling(w http.ResponseWriter, r *http.Request, st *reqState, build func(b []byte, hi, lo uint64) []byte) {
	f, hi, lo, ticket, ok := s.admit(w)
	if !ok {
		return
	}
	ctx := r.Context()
	if ticket != nil {
		s.st.queued.Add(1)
		granted := s.lim.wait(ctx, s.done, ticket)
		s.st.queued.Add(-1)
		if !granted {
			s.st.canceled.Add(1)
			return
		}
	}
	s.st.inFlight.Add(1)
	defer func() {
		s.st.inFlight.Add(-1)
		s.lim.release()
	}()
	if s.cfg.Jitter != 0 {
		st.pcg.Seed(hi, lo)
	}
	wait := s.jitter(st, s.cfg.TTFT)
	start := time.Now()
	if f == faultDisconnect || f == faultStall {
		if !s.sleepUntil(ctx, st.timer, start.Add(wait/2)) {
			s.st.canceled.Add(1)
			return
		}
		if f == faultDisconnect {
			s.st.disconnects.Add(1)
			abortConnection(w)
			return
		}
		s.st.stalls.Add(1)
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		return
	}
	st.buf = build(st.buf[:0], hi, lo)
	if !s.sleepUntil(ctx, st.timer, start.Add(wait)) {
		s.st.canceled.Add(1)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(st.buf)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(st.buf); err != nil {
		s.st.canceled.Add(1)
		return
	}
	s.st.completed.Add(1)
}

// textHash hashes the texts, with a separator, for the deterministic
// vectors and scores.
func textHash(texts ...string) uint64 {
	h := fnv.New64a()
	for _, t := range texts {
		_, _ = h.Write([]byte(t))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}
