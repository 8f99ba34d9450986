package servermetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Defaults of a Scraper.
const (
	DefaultMaxBytes = 16 << 20
	DefaultTimeout  = 5 * time.Second
)

// Accept is the Accept header a Scraper sends: protobuf first (the only format
// that carries native histograms), then the text format, then anything, so a
// server that ignores the header still answers.
var Accept = string(expfmt.FmtProtoDelim) + ";q=0.7," + string(expfmt.FmtText) + ";q=0.3,*/*;q=0.1"

// Scraper reads one server's /metrics page. It is safe for concurrent use
// (a daemon's probes and soaks share one per target) when Observe is.
type Scraper struct {
	URL string // the page, e.g. http://host:8000/metrics
	// Key is sent as "Authorization: Bearer <Key>", or as the value of
	// KeyHeader when that names another header (Azure's api-key); never
	// logged or put in errors.
	Key       string
	KeyHeader string
	MaxBytes  int64         // a bigger page is an error; 0 means DefaultMaxBytes
	Timeout   time.Duration // for the whole request and body; 0 means DefaultTimeout
	Server    Server        // "" or Auto detects it from the page
	// Client nil means one that follows redirects only on the page's own
	// host, so a key never travels to another.
	Client *http.Client
	// Derived: URL was derived from the target's URL rather than
	// configured, so a missing page is expected of some servers: a run
	// tries it once and gives up on a failure (Sampler).
	Derived bool
	// Observe, if set, is told of every scrape not canceled by its caller:
	// how long it took and its error (nil on success). The daemon's health
	// metrics hang here.
	Observe func(took time.Duration, err error)
}

// Failure classes of Error.Class: a small fixed set, safe as a metric label.
const (
	FailHTTP          = "http"           // a status other than 200
	FailNotExposition = "not_exposition" // HTML, JSON, or another Content-Type
	FailTooLarge      = "too_large"      // past the size cap
	FailTimeout       = "timeout"        // past the timeout
	FailParse         = "parse"          // expfmt could not decode it
	FailConnection    = "connection"     // no answer: refused, reset, DNS, TLS, a bad URL
)

// FailureClasses lists every Error.Class.
var FailureClasses = []string{FailHTTP, FailNotExposition, FailTooLarge, FailTimeout, FailParse, FailConnection}

// Error is a failed scrape: the page's URL (credentials redacted) and what was wrong.
type Error struct {
	URL    string // url.URL.Redacted
	Class  string // one of FailureClasses
	Reason string
	Err    error // the cause, when there is one
}

// Class returns the failure class of a scrape error (FailConnection for an
// error that is not an *Error), "" for nil.
func Class(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Class != "" {
		return e.Class
	}
	return FailConnection
}

// CheckRedirect is the redirect policy of a Scraper's default client: at
// most 5 redirects, all on the page's own scheme and host, so that a key
// sent in a header of our choosing (which net/http does not strip, unlike
// Authorization) never reaches another host.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if first := via[0].URL; req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
		return errors.New("refused a redirect to another host")
	}
	return nil
}

var defaultClient = &http.Client{CheckRedirect: CheckRedirect}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("server metrics %s: %s: %v", e.URL, e.Reason, e.Err)
	}
	return fmt.Sprintf("server metrics %s: %s", e.URL, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

func (s *Scraper) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Scraper) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// redacted is the URL for messages: its password replaced, or the raw string
// cut at "@" when it does not parse.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "<unparsable URL>@" + raw[i+1:]
		}
		return raw
	}
	return u.Redacted()
}

// Scrape fetches and parses the page and reads it into the vocabulary.
func (s *Scraper) Scrape(ctx context.Context) (Snapshot, error) {
	start := time.Now()
	fams, err := s.Fetch(ctx)
	if s.Observe != nil && ctx.Err() == nil { // a scrape its caller gave up says nothing of the page
		s.Observe(time.Since(start), err)
	}
	if err != nil {
		return Snapshot{}, err
	}
	return FromFamilies(fams, s.Server, time.Now()), nil
}

// Fetch fetches and parses the page into metric families.
func (s *Scraper) Fetch(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	where := redacted(s.URL)
	fail := func(class, reason string, err error) error {
		return &Error{URL: where, Class: class, Reason: reason, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fail(FailConnection, "bad URL", errors.New(strings.ReplaceAll(err.Error(), s.URL, where)))
	}
	req.Header.Set("Accept", Accept)
	if s.Key != "" {
		if h := s.KeyHeader; h != "" && !strings.EqualFold(h, "Authorization") {
			req.Header.Set(h, s.Key)
		} else {
			req.Header.Set("Authorization", "Bearer "+s.Key)
		}
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	timedOut := func(err error) error {
		if ctx.Err() == context.DeadlineExceeded {
			return fail(FailTimeout, fmt.Sprintf("timed out after %s", s.timeout()), nil)
		}
		return fail(FailConnection, "request failed", cleanErr(err, s.URL, where))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, timedOut(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fail(FailHTTP, fmt.Sprintf("HTTP %s", resp.Status), nil)
	}
	format, reason := formatOf(resp.Header)
	if reason != "" {
		return nil, fail(FailNotExposition, reason, nil)
	}
	limit := s.maxBytes()
	if resp.ContentLength > limit {
		return nil, fail(FailTooLarge, fmt.Sprintf("page of %d bytes is larger than the %s cap", resp.ContentLength, size(limit)), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, timedOut(err)
	}
	if int64(len(body)) > limit {
		return nil, fail(FailTooLarge, fmt.Sprintf("page larger than the %s cap", size(limit)), nil)
	}
	fams, err := Parse(body, format)
	if err != nil {
		var nx notExposition
		if errors.As(err, &nx) {
			return nil, fail(FailNotExposition, nx.Error(), nil)
		}
		return nil, fail(FailParse, "unparsable exposition", err)
	}
	return fams, nil
}

// cleanErr rewrites an error's text so the raw URL (and any password in it) is replaced.
func cleanErr(err error, raw, where string) error {
	if raw == where || !strings.Contains(err.Error(), raw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, where))
}

func size(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// formatOf is the exposition format a response says it has; a reason when it is
// not one (HTML, JSON, anything but text, OpenMetrics or protobuf).
func formatOf(h http.Header) (expfmt.Format, string) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return expfmt.FmtText, ""
	}
	if f := expfmt.ResponseFormat(h); f != expfmt.FmtUnknown {
		return f, ""
	}
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "text/plain" { // another version parameter: read it as text and let the parser judge
		return expfmt.FmtText, ""
	}
	return expfmt.FmtUnknown, fmt.Sprintf("not a metrics exposition (Content-Type %q)", ct)
}

type notExposition string

func (n notExposition) Error() string { return string(n) }

// Parse decodes a page in the given format (expfmt.FmtText, FmtProtoDelim,
// OpenMetrics) with prometheus/common's expfmt into families by name; families
// that come twice (protobuf allows it) are joined.
func Parse(body []byte, format expfmt.Format) (map[string]*dto.MetricFamily, error) {
	if format.FormatType() != expfmt.TypeProtoDelim {
		head := strings.ToLower(string(bytes.TrimSpace(body[:min(len(body), 512)])))
		if strings.HasPrefix(head, "<!doctype") || strings.HasPrefix(head, "<html") {
			return nil, notExposition("not a metrics exposition (an HTML page)")
		}
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body), format)
	fams := map[string]*dto.MetricFamily{}
	for {
		f := &dto.MetricFamily{}
		err := dec.Decode(f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if old, ok := fams[f.GetName()]; ok {
			old.Metric = append(old.Metric, f.Metric...)
			continue
		}
		fams[f.GetName()] = f
	}
	return fams, nil
}
