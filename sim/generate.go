package sim

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// textKind describes a text-generation endpoint's response shape.
type textKind struct {
	chat        bool   // chat deltas (role chunk, delta.content) vs completions text
	idPrefix    string // "chatcmpl-" / "cmpl-"
	chunkObject string // object of streamed chunks
	fullObject  string // object of a non-streamed response
}

// genRequest is a parsed, validated text-generation request.
type genRequest struct {
	kind            *textKind
	stream          bool
	includeUsage    bool     // stream_options.include_usage
	continuousUsage bool     // stream_options.continuous_usage_stats (vLLM)
	prompt          int      // estimated prompt tokens
	blocks          []uint64 // prompt blocks the prefix cache may serve
	cached          int      // prompt tokens served from the prefix cache
	n               int      // output tokens
	reasoning       int      // leading output tokens that are reasoning (<= n)
	finish          string
	tool            *toolAnswer // a tool call or JSON document (tools.go); nil: text
}

type fault uint8

const (
	faultNone fault = iota
	fault429
	fault500
	faultDisconnect
	faultStall
)

// reqState is per-request scratch memory, pooled across requests.
type reqState struct {
	body      bytes.Buffer
	head      []byte      // response prefix up to and including `"usage":`
	buf       []byte      // the chunks being written
	content   []byte      // non-streamed answer
	reasoning []byte      // non-streamed reasoning
	timer     *time.Timer // pooling requests' waits
	due       []time.Time // when each chunk in buf was due
	trace     SendTrace   // the request's sends, when traced
	pcg       rand.PCG
	rng       *rand.Rand
	hasher    blockHasher // the prompt's blocks, for the prefix cache
}

func newReqState() *reqState {
	st := &reqState{
		head:  make([]byte, 0, 192),
		buf:   make([]byte, 0, 512),
		timer: time.NewTimer(time.Hour),
	}
	st.timer.Stop()
	st.rng = rand.New(&st.pcg)
	return st
}

const maxPooledBuf = 64 << 10

func (s *Server) getState() *reqState { return s.pool.Get().(*reqState) }

func (s *Server) putState(st *reqState) {
	st.timer.Stop()
	if st.body.Cap() > maxPooledBuf {
		st.body = bytes.Buffer{}
	}
	st.body.Reset()
	if cap(st.buf) > maxPooledBuf {
		st.buf = make([]byte, 0, 512)
	}
	if cap(st.content) > maxPooledBuf {
		st.content = nil
	}
	if cap(st.reasoning) > maxPooledBuf {
		st.reasoning = nil
	}
	if cap(st.hasher.blocks) > maxPooledBuf/8 {
		st.hasher.blocks = nil
	}
	if cap(st.due) > maxPooledBuf/8 {
		st.due = nil
	}
	if cap(st.trace.Due) > maxPooledBuf/8 {
		st.trace.Due, st.trace.Sent = nil, nil
	}
	s.pool.Put(st)
}

// promptHasher returns st's block hasher, reset, when the prefix cache is
// on; nil when it is off.
func (s *Server) promptHasher(st *reqState) *blockHasher {
	if s.cache == nil {
		return nil
	}
	st.hasher.reset(s.cacheSeed, s.cfg.PrefixCache.BlockTokens)
	return &st.hasher
}

// draw decides a request's fault and its random bits (id, jitter seed) from
// the seeded RNG.
func (s *Server) draw() (f fault, hi, lo uint64) {
	fs := &s.cfg.Faults
	s.rngMu.Lock()
	if fs.any() {
		u429, u500, uDisc, uStall := s.rng.Float64(), s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
		switch {
		case u429 < fs.HTTP429:
			f = fault429
		case u500 < fs.HTTP500:
			f = fault500
		case uDisc < fs.Disconnect:
			f = faultDisconnect
		case uStall < fs.Stall:
			f = faultStall
		}
	}
	hi, lo = s.rng.Uint64(), s.rng.Uint64()
	s.rngMu.Unlock()
	return f, hi, lo
}

// jitter scales d by a normal factor of mean 1 and stddev cfg.Jitter,
// clamped at 0.
func (s *Server) jitter(st *reqState, d time.Duration) time.Duration {
	if s.cfg.Jitter == 0 {
		return d
	}
	f := 1 + st.rng.NormFloat64()*s.cfg.Jitter
	if f <= 0 {
		return 0
	}
	return time.Duration(float64(d) * f)
}

// sleepUntil waits for deadline; false when ctx or the epoch (cut) ended
// first.
func (s *Server) sleepUntil(ctx context.Context, cut <-chan struct{}, t *time.Timer, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		select {
		case <-ctx.Done():
			return false
		case <-cut:
			return false
		default:
			return true
		}
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-cut:
	}
	t.Stop()
	return false
}

// cutShort ends a request that a wait gave up on: when neither the client
// nor Close ended it, a restart did, and a restarted server's connections
// break (Close only ends the response early).
func (s *Server) cutShort(ctx context.Context, w http.ResponseWriter) {
	if ctx.Err() == nil && !s.closed() {
		abortConnection(w)
	}
}

// flusher returns w's flush function.
func flusher(w http.ResponseWriter) func() error {
	switch f := w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError
	case http.Flusher:
		return func() error { f.Flush(); return nil }
	}
	return http.NewResponseController(w).Flush
}

// abortConnection closes the client connection without finishing the
// response (what was flushed stays sent), so that the client sees a
// truncated body, or no response at all.
func abortConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a writer that cannot hijack
}

// admit draws the request's fault and answers the ones that refuse at once
// (injected 429 and 500), then takes a place in ep's decode queue, answering
// 429 when the queue is full. ok is false when the request was answered.
// The ticket, if any, must be waited for before decoding.
func (s *Server) admit(w http.ResponseWriter, ep *epoch) (f fault, hi, lo uint64, ticket *waiter, ok bool) {
	f, hi, lo = s.draw()
	switch f {
	case fault429:
		s.st.http429.Add(1)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded (simulated fault).")
		return f, hi, lo, nil, false
	case fault500:
		s.st.http500.Add(1)
		writeError(w, http.StatusInternalServerError, "Internal server error (simulated fault).")
		return f, hi, lo, nil, false
	}
	ticket, ok = ep.lim.admit()
	if !ok {
		s.st.rejected.Add(1)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "Too many requests: the server's queue is full.")
	}
	return f, hi, lo, ticket, ok
}

// generate answers a parsed text-generation request: faults, admission,
// queueing, then tokens on schedule.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, st *reqState, g *genRequest) {
	arrival := time.Now()
	created := arrival.Unix()
	ep := s.epoch()
	f, hi, lo, ticket, ok := s.admit(w, ep)
	if !ok {
		return
	}
	j := s.accept(ep, arrival, g.prompt, false)
	// The job ends before Stats counts the outcome, so that a test that
	// saw Stats change finds /metrics changed too.
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
		finish("abort") // a panic (HTTP/2 abort) on the way
		if inFlight {
			s.st.inFlight.Add(-1)
		}
	}()
	if ticket == nil {
		j.schedule() // admit took a slot at once
	} else {
		j.enqueue()
	}
	if s.cfg.Jitter != 0 {
		st.pcg.Seed(hi, lo)
	}
	ttft := s.cfg.TTFT
	if s.cache != nil && len(g.blocks) > 0 {
		// Looked up once admitted, so that refused requests cache
		// nothing; before queueing, so that the role chunk's usage
		// (continuous_usage_stats) already says what was cached.
		g.cached = s.cache.lookup(g.blocks) * s.cfg.PrefixCache.BlockTokens
		s.st.cachedTokens.Add(int64(g.cached))
		ep.m.cacheQueries.Add(float64(g.prompt))
		ep.m.cacheHits.Add(float64(g.cached))
		ttft = s.cfg.PrefixCache.ttft(ttft, g.cached, g.prompt)
	}
	st.head = g.appendHead(st.head[:0], s.modelJSON, hi, lo, created)

	ctx := r.Context()
	flush := flusher(w)
	traced := g.stream && s.tracing(&st.trace, r.RemoteAddr, arrival)
	var werr error
	if g.stream {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if g.kind.chat {
			st.buf = g.appendRoleChunk(st.buf[:0], st.head)
			_, werr = w.Write(st.buf)
		}
		if werr == nil {
			werr = flush()
		}
	}
	if ticket != nil {
		granted := false
		s.st.queued.Add(1)
		if werr == nil {
			granted = ep.lim.wait(ctx, ep.cut, ticket)
		} else {
			ep.lim.abandon(ticket)
		}
		if granted {
			j.schedule()
		} else {
			j.dequeue()
		}
		s.st.queued.Add(-1)
		if !granted {
			cancel()
			if werr == nil {
				s.cutShort(ctx, w)
			}
			return
		}
	} else if werr != nil {
		cancel()
		return
	}
	s.st.inFlight.Add(1)
	inFlight = true
	if !j.hold(r) {
		cancel()
		s.cutShort(ctx, w)
		return
	}

	// Decode: chunks of up to TokensPerChunk tokens, never mixing
	// reasoning and answer; chunk j>0 is due len(chunk)*ITL after chunk
	// j-1, chunk 0 TTFT after the start. The send clock wakes the request
	// at each deadline (sendclock.go). A chunk written is flushed before
	// the wait for the next one, unless that one is due already (the
	// request woke late): then they leave in one write, as do the last
	// token and the end of the stream.
	faultAt := -1
	if f == faultDisconnect || f == faultStall {
		faultAt = min((g.n+1)/2, g.n-1)
	}
	st.content, st.reasoning = st.content[:0], st.reasoning[:0]
	st.buf, st.due = st.buf[:0], st.due[:0]
	send := func() bool {
		sent := time.Now()
		for _, due := range st.due {
			s.sendLag.Observe(sent.Sub(due).Seconds())
			if traced {
				st.trace.Due = append(st.trace.Due, due.UnixNano())
				st.trace.Sent = append(st.trace.Sent, sent.UnixNano())
			}
		}
		st.due = st.due[:0]
		if _, werr = w.Write(st.buf); werr == nil {
			werr = flush()
		}
		st.buf = st.buf[:0]
		return werr == nil
	}
	k := s.cfg.TokensPerChunk
	slow := s.slowdown(ep)
	itl := scaleDelay(s.cfg.ITL, slow)
	deadline := time.Now().Add(s.jitter(st, scaleDelay(ttft, slow)))
	sl := s.clock.sleeper(ctx, ep.ctx)
	defer sl.release()
	for pos := 0; pos < g.n; {
		end := min(pos+k, g.n)
		if pos < g.reasoning && end > g.reasoning {
			end = g.reasoning
		}
		if pos > 0 {
			deadline = deadline.Add(s.jitter(st, time.Duration(end-pos)*itl))
		}
		if len(st.due) > 0 && (faultAt >= 0 && pos >= faultAt || time.Until(deadline) > 0) && !send() {
			cancel()
			return
		}
		if !sl.until(deadline) {
			cancel()
			s.cutShort(ctx, w)
			return
		}
		if pos >= faultAt && faultAt >= 0 {
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
		j.emit(end - pos)
		if g.stream {
			st.buf = g.appendTokenChunk(st.buf, st.head, pos, end)
			st.due = append(st.due, deadline)
		} else {
			for i := pos; i < end; i++ {
				if i < g.reasoning {
					st.reasoning = append(st.reasoning, reasoningToken(i)...)
				} else {
					st.content = append(st.content, contentToken(i-g.reasoning)...)
				}
			}
		}
		s.st.outputTokens.Add(int64(end - pos))
		pos = end
	}

	// The engine is done before the answer's last bytes leave (as vLLM's
	// finishes a request before its API server sends them), so that a
	// client that has read the whole answer finds it on /metrics.
	finish(g.finish)
	if g.stream {
		st.buf = g.appendEnd(st.buf, st.head)
		send()
	} else {
		st.buf = g.appendFull(st.buf[:0], st.head, st.reasoning, st.content)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(st.buf)))
		w.WriteHeader(http.StatusOK)
		_, werr = w.Write(st.buf)
	}
	if werr != nil {
		s.st.canceled.Add(1)
		return
	}
	s.st.completed.Add(1)
	if traced {
		s.traceSends(&st.trace)
	}
}

// appendHead appends the response prefix shared by all chunks of a request:
// [data: ]{"id":"...","model":"...","object":"...","created":N,"usage":
func (g *genRequest) appendHead(b, modelJSON []byte, hi, lo uint64, created int64) []byte {
	obj := g.kind.fullObject
	if g.stream {
		b = append(b, "data: "...)
		obj = g.kind.chunkObject
	}
	b = append(b, `{"id":"`...)
	b = append(b, g.kind.idPrefix...)
	b = appendUUID(b, hi, lo)
	b = append(b, `","model":`...)
	b = append(b, modelJSON...)
	b = append(b, `,"object":"`...)
	b = append(b, obj...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, created, 10)
	return append(b, `,"usage":`...)
}

// appendChunkUsage appends the usage value of a streamed chunk: the usage
// so far with continuous_usage_stats, else null.
func (g *genRequest) appendChunkUsage(b []byte, done int) []byte {
	if !g.continuousUsage {
		return append(b, "null"...)
	}
	return appendUsage(b, g.prompt, g.cached, done, min(done, g.reasoning))
}

func (g *genRequest) appendRoleChunk(b, head []byte) []byte {
	b = append(b, head...)
	b = g.appendChunkUsage(b, 0)
	return append(b, `,"choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}]}`+"\n\n"...)
}

// appendTokenChunk appends the chunk carrying output tokens [from, to).
func (g *genRequest) appendTokenChunk(b, head []byte, from, to int) []byte {
	if g.tool != nil && from >= g.reasoning {
		return g.appendToolChunk(b, head, from, to)
	}
	b = append(b, head...)
	b = g.appendChunkUsage(b, to)
	switch {
	case !g.kind.chat:
		if to == from+1 {
			return append(b, textTails[from%len(textTails)]...)
		}
		b = append(b, textOpen...)
		for i := from; i < to; i++ {
			b = append(b, contentToken(i)...)
		}
		return append(b, textClose...)
	case from < g.reasoning:
		if to == from+1 {
			return append(b, reasoningTails[from%len(reasoningTails)]...)
		}
		b = append(b, reasoningOpen...)
		for i := from; i < to; i++ {
			b = append(b, reasoningToken(i)...)
		}
	default:
		if to == from+1 {
			return append(b, contentTails[(from-g.reasoning)%len(contentTails)]...)
		}
		b = append(b, contentOpen...)
		for i := from; i < to; i++ {
			b = append(b, contentToken(i-g.reasoning)...)
		}
	}
	return append(b, deltaClose...)
}

// A one-token chunk after its usage: its choices, encoded once per piece
// of the vocabulary.
const (
	textOpen      = `,"choices":[{"index":0,"finish_reason":null,"text":"`
	textClose     = `"}]}` + "\n\n"
	reasoningOpen = `,"choices":[{"index":0,"finish_reason":null,"delta":{"reasoning_content":"`
	contentOpen   = `,"choices":[{"index":0,"finish_reason":null,"delta":{"content":"`
	deltaClose    = `"}}]}` + "\n\n"
)

var (
	textTails      = encodeTails(contentVocab[:], textOpen, textClose)
	reasoningTails = encodeTails(reasoningVocab[:], reasoningOpen, deltaClose)
	contentTails   = encodeTails(contentVocab[:], contentOpen, deltaClose)
)

func encodeTails(vocab []string, open, close string) [][]byte {
	out := make([][]byte, len(vocab))
	for i, piece := range vocab {
		out[i] = []byte(open + piece + close)
	}
	return out
}

// appendEnd appends the final chunk (finish_reason), the usage-only chunk
// if asked for, and [DONE].
func (g *genRequest) appendEnd(b, head []byte) []byte {
	b = append(b, head...)
	b = g.appendChunkUsage(b, g.n)
	b = append(b, `,"choices":[{"index":0,"finish_reason":"`...)
	b = append(b, g.apiFinish()...)
	if g.kind.chat {
		b = append(b, `","delta":{}}]}`+"\n\n"...)
	} else {
		b = append(b, `","text":""}]}`+"\n\n"...)
	}
	if g.includeUsage {
		b = append(b, head...)
		b = appendUsage(b, g.prompt, g.cached, g.n, g.reasoning)
		b = append(b, `,"choices":[]}`+"\n\n"...)
	}
	return append(b, "data: [DONE]\n\n"...)
}

// appendFull appends a non-streamed response.
func (g *genRequest) appendFull(b, head, reasoning, content []byte) []byte {
	if g.tool != nil {
		return g.appendToolFull(b, head, reasoning)
	}
	b = append(b, head...)
	b = appendUsage(b, g.prompt, g.cached, g.n, g.reasoning)
	b = append(b, `,"choices":[{"index":0,"finish_reason":"`...)
	b = append(b, g.finish...)
	if !g.kind.chat {
		b = append(b, `","text":"`...)
		b = append(b, content...)
		return append(b, `"}]}`...)
	}
	b = append(b, `","message":{"role":"assistant",`...)
	if g.reasoning > 0 {
		b = append(b, `"reasoning_content":"`...)
		b = append(b, reasoning...)
		b = append(b, `",`...)
	}
	b = append(b, `"content":"`...)
	b = append(b, content...)
	return append(b, `"}}]}`...)
}
