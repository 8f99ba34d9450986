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

// answerPooling answers a parsed, valid pooling request (embeddings, rerank)
// of prompt tokens: faults, admission and queueing as for generation, then
// the body that build appends (given the response's id bits), TTFT after the
// request got a slot.
func (s *Server) answerPooling(w http.ResponseWriter, r *http.Request, st *reqState, prompt int, build func(b []byte, hi, lo uint64) []byte) {
	arrival := time.Now()
	ep := s.epoch()
	f, hi, lo, ticket, ok := s.admit(w, ep)
	if !ok {
		return
	}
	j := s.accept(ep, arrival, prompt, true)
	// As in generate: the job ends before Stats counts the outcome.
	ended, inFlight := false, false
	finish := func(reason string) {
		if !ended {
			ended = true
			j.end(reason)
		}
	}
	cancel := func() {
		finish("abort")
		s.st.canceled.Add(1)
	}
	defer func() {
		finish("abort")
		if inFlight {
			s.st.inFlight.Add(-1)
		}
	}()
	ctx := r.Context()
	if ticket == nil {
		j.schedule()
	} else {
		j.enqueue()
		s.st.queued.Add(1)
		granted := ep.lim.wait(ctx, ep.cut, ticket)
		if granted {
			j.schedule()
		} else {
			j.dequeue()
		}
		s.st.queued.Add(-1)
		if !granted {
			cancel()
			s.cutShort(ctx, w)
			return
		}
	}
	s.st.inFlight.Add(1)
	inFlight = true
	if !j.hold(r) {
		cancel()
		s.cutShort(ctx, w)
		return
	}
	if s.cfg.Jitter != 0 {
		st.pcg.Seed(hi, lo)
	}
	wait := s.jitter(st, scaleDelay(s.cfg.TTFT, s.slowdown(ep)))
	start := time.Now()
	if f == faultDisconnect || f == faultStall {
		if !s.sleepUntil(ctx, ep.cut, st.timer, start.Add(wait/2)) {
			cancel()
			s.cutShort(ctx, w)
			return
		}
		if f == faultDisconnect {
			finish("error")
			s.st.disconnects.Add(1)
			abortConnection(w)
			return
		}
		s.st.stalls.Add(1)
		select {
		case <-ctx.Done():
		case <-ep.cut:
			s.cutShort(ctx, w)
		}
		return
	}
	st.buf = build(st.buf[:0], hi, lo)
	if !s.sleepUntil(ctx, ep.cut, st.timer, start.Add(wait)) {
		cancel()
		s.cutShort(ctx, w)
		return
	}
	j.answered()
	finish("stop")
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
