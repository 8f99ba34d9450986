package sim

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is a simulated OpenAI-compatible model server. Its zero value is not
// usable; create one with New. It is safe for concurrent use.
type Server struct {
	cfg       Config
	modelJSON []byte // cfg.Model as a JSON string

	rngMu sync.Mutex
	rng   *rand.Rand

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	// ep is the engine since the last restart; epochMu orders restarts
	// with Close.
	ep           atomic.Pointer[epoch]
	epochMu      sync.Mutex
	restartTimer *time.Timer // the next Faults.RestartEvery restart

	hold chan struct{} // tests only: decoding waits until it is closed

	pool sync.Pool // of *reqState

	cache     *prefixCache // nil: off
	cacheSeed maphash.Seed

	traceSends func(*SendTrace) // nil: off (TraceSends)

	clock   *sendClock
	sendLag prometheus.Histogram
	ownReg  *prometheus.Registry // the simulator's own metrics (sendLag)

	st counters
}

type counters struct {
	requests, inFlight, queued, completed, canceled, rejected, badRequests atomic.Int64
	http429, http500, disconnects, stalls, outputTokens, cachedTokens      atomic.Int64
	restarts                                                               atomic.Int64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Requests     int64 // generation requests received (invalid ones included)
	InFlight     int64 // sequences being decoded (slots lost to Faults.LeakSlotEvery not included)
	Queued       int64 // requests waiting for a slot
	Completed    int64 // requests answered in full
	Canceled     int64 // requests ended early: client gone or server closed
	Rejected     int64 // 429 answers because the queue was full
	BadRequests  int64 // 4xx answers to invalid requests (bad JSON, unknown model, ...)
	HTTP429      int64 // injected 429 faults
	HTTP500      int64 // injected 500 faults
	Disconnects  int64 // injected mid-stream disconnects
	Stalls       int64 // injected stalls
	OutputTokens int64 // output tokens sent
	CachedTokens int64 // prompt tokens served from the prefix cache
	Restarts     int64 // simulated restarts (Faults.RestartEvery, Restart)
}

// New returns a server for cfg with defaults applied. It panics if
// cfg.Validate fails; check user-supplied configs with Validate first.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	mj, _ := json.Marshal(cfg.Model)
	s := &Server{
		cfg:       cfg,
		modelJSON: mj,
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6c6c6d70726f6265)), // "llmprobe"
		done:      make(chan struct{}),
	}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	s.ep.Store(s.newEpoch(start))
	s.pool.New = func() any { return newReqState() }
	s.clock = newSendClock()
	s.sendLag, s.ownReg = newSendLag()
	if cfg.PrefixCache.Enabled {
		s.cache = newPrefixCache(cfg.PrefixCache.Blocks)
		s.cacheSeed = maphash.MakeSeed()
	}
	if cfg.Faults.RestartEvery > 0 {
		s.scheduleRestart()
	}
	return s
}

// Config returns the server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the server's HTTP handler (the server itself).
func (s *Server) Handler() http.Handler { return s }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:     s.st.requests.Load(),
		InFlight:     s.st.inFlight.Load(),
		Queued:       s.st.queued.Load(),
		Completed:    s.st.completed.Load(),
		Canceled:     s.st.canceled.Load(),
		Rejected:     s.st.rejected.Load(),
		BadRequests:  s.st.badRequests.Load(),
		HTTP429:      s.st.http429.Load(),
		HTTP500:      s.st.http500.Load(),
		Disconnects:  s.st.disconnects.Load(),
		Stalls:       s.st.stalls.Load(),
		OutputTokens: s.st.outputTokens.Load(),
		CachedTokens: s.st.cachedTokens.Load(),
		Restarts:     s.st.restarts.Load(),
	}
}

// Close ends every queued and in-flight request at once (streams are cut
// short), stops the restarts of Faults.RestartEvery and makes later
// generation requests fail with 503. It does not close listeners; it is
// safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.epochMu.Lock()
		close(s.done)
		if s.restartTimer != nil {
			s.restartTimer.Stop()
		}
		s.epochMu.Unlock()
		s.epoch().end()
	})
}

func (s *Server) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// ServeHTTP routes a request to its endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions":
		if s.generationMethod(w, r) {
			s.serveChat(w, r)
		}
	case "/v1/completions":
		if s.generationMethod(w, r) {
			s.serveCompletions(w, r)
		}
	case "/v1/embeddings":
		if s.generationMethod(w, r) {
			s.serveEmbeddings(w, r)
		}
	case "/v1/rerank", "/rerank", "/v2/rerank":
		if s.generationMethod(w, r) {
			s.serveRerank(w, r)
		}
	case "/v1/models":
		if getMethod(w, r) {
			s.serveModels(w, r)
		}
	case "/health":
		if getMethod(w, r) {
			s.serveHealth(w, r)
		}
	case "/metrics":
		if getMethod(w, r) {
			s.serveMetrics(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, "Route "+r.URL.Path+" not found.")
	}
}

// generationMethod counts the request and answers 405 unless it is a POST.
func (s *Server) generationMethod(w http.ResponseWriter, r *http.Request) bool {
	s.st.requests.Add(1)
	if r.Method != http.MethodPost {
		s.st.badRequests.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed.")
		return false
	}
	if s.closed() {
		writeError(w, http.StatusServiceUnavailable, "The server is shutting down.")
		return false
	}
	return true
}

func getMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed.")
		return false
	}
	return true
}

// errorTypes names errors by status as vLLM does.
var errorTypes = map[int]string{
	http.StatusBadRequest:            "BadRequestError",
	http.StatusNotFound:              "NotFoundError",
	http.StatusMethodNotAllowed:      "MethodNotAllowedError",
	http.StatusRequestEntityTooLarge: "BadRequestError",
	http.StatusTooManyRequests:       "RateLimitError",
	http.StatusInternalServerError:   "InternalServerError",
	http.StatusServiceUnavailable:    "ServiceUnavailableError",
}

// writeError answers an OpenAI-shaped error:
// {"error":{"message":...,"type":...,"param":null,"code":status}}.
func writeError(w http.ResponseWriter, status int, msg string) {
	typ := errorTypes[status]
	if typ == "" {
		typ = "Error"
	}
	b := make([]byte, 0, 96+len(msg))
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","param":null,"code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, "}}"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Listen starts a server for cfg on addr ("127.0.0.1:0" picks a free port)
// in a goroutine and returns it with the address it listens on. When ctx
// ends, in-flight requests are ended and the server shuts down.
func Listen(ctx context.Context, addr string, cfg Config) (*http.Server, net.Addr, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	return New(cfg).Listen(ctx, addr)
}

// Listen serves s on addr in a goroutine until ctx ends; see the
// package-level Listen.
func (s *Server) Listen(ctx context.Context, addr string) (*http.Server, net.Addr, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Request contexts derive from ctx, so every handler ends when
		// ctx does and Shutdown does not wait for long streams.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Close()
		}
	}()
	go func() {
		<-ctx.Done()
		s.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	}()
	return hs, ln.Addr(), nil
}
