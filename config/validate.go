package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/tokenizer"
)

// lookupEnv is os.LookupEnv; tests use t.Setenv rather than replacing it.
var lookupEnv = os.LookupEnv

// nameRE is what a name may hold: it becomes a label value and part of
// archive file names, so no spaces, slashes or quotes.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

var (
	kinds    = []string{string(KindChat), string(KindCompletions), string(KindVision), string(KindEmbeddings), string(KindRerank)}
	modes    = []string{ModeRate, ModeThroughput, ModeSweep, ModeProcedure, ModeTrace}
	arrivals = []string{ArrivalConstant, ArrivalPoisson, ArrivalGamma}
	caches   = []string{PrefixCacheCold, PrefixCacheWarm}
)

// validate checks c, recording every problem. It also resolves relative
// paths and reads API keys, since whether they can be read is part of
// whether the config is valid.
func (l *loader) validate(c *Config) {
	l.validateGlobal(&c.Global)

	targets := map[string]string{} // name -> path of its first use
	for i := range c.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		if l.bad[p] {
			continue
		}
		l.checkName(p, c.Targets[i].Name, targets)
		l.validateTarget(&c.Targets[i], p)
	}
	workloads := map[string]string{}
	for i := range c.Workloads {
		p := fmt.Sprintf("workloads[%d]", i)
		if l.bad[p] {
			continue
		}
		l.checkName(p, c.Workloads[i].Name, workloads)
		l.validateWorkload(&c.Workloads[i], p)
	}
	// Probes and soaks share one namespace: both name runs in the archive.
	runs := map[string]string{}
	for i := range c.Probes {
		p := fmt.Sprintf("probes[%d]", i)
		if l.bad[p] {
			continue
		}
		pr := &c.Probes[i]
		l.checkName(p, pr.Name, runs)
		l.checkRefs(p, pr.Targets, pr.Workload, targets, workloads)
		l.checkKinds(p, pr.Targets, pr.Workload, c)
		l.required(p+".schedule", pr.Schedule == "")
		if pr.Schedule != "" {
			l.checkSchedule(p+".schedule", pr.Schedule)
		}
		if l.has(p+".requests", pr.Requests != 0) && (pr.Requests < 1 || pr.Requests > MaxRequests) {
			l.errorf(p+".requests", "must be between 1 and %d", MaxRequests)
		}
		l.validateSLO(&pr.SLO, p+".slo")
	}
	for i := range c.Soaks {
		p := fmt.Sprintf("soaks[%d]", i)
		if l.bad[p] {
			continue
		}
		s := &c.Soaks[i]
		l.checkName(p, s.Name, runs)
		l.checkRefs(p, s.Targets, s.Workload, targets, workloads)
		l.checkKinds(p, s.Targets, s.Workload, c)
		l.checkTraceRun(p, s, c)
		if w := c.Workload(s.Workload); w != nil && w.Conversation != nil && (s.Mode == ModeSweep || s.Mode == ModeProcedure) {
			// A sweep's rates are derived and judged in requests per second;
			// a conversation's rate is conversations per second.
			l.errorf(p+".mode", "a %s cannot replay the conversations of workload %s: use rate or throughput mode", s.Mode, quote(s.Workload))
		}
		if s.Schedule != "" {
			l.checkSchedule(p+".schedule", s.Schedule)
		}
		l.validateSoak(s, p)
	}
}

func (l *loader) validateGlobal(g *Global) {
	// model.Duration cannot be negative in YAML; a Config built in code can.
	if g.ProbeJitter < 0 {
		l.errorf("global.probe_jitter", "must not be negative")
	}
}

// required records "required" at path when empty, unless the value was
// there but of the wrong type (already reported).
func (l *loader) required(path string, empty bool) {
	if empty && !l.bad[path] {
		l.errorf(path, "required")
	}
}

// checkName checks the name of the item at p and records it in seen.
func (l *loader) checkName(p, name string, seen map[string]string) {
	np := p + ".name"
	switch {
	case name == "":
		l.required(np, true)
	case !nameRE.MatchString(name) || name == "." || name == "..":
		l.errorf(np, "invalid name %s: use letters, digits and _ . : -", quote(name))
	case seen[name] != "":
		l.errorf(np, "duplicate name %s (first used by %s)", quote(name), seen[name])
	default:
		seen[name] = p
	}
}

// checkRefs checks a probe's or soak's targets and workload exist.
func (l *loader) checkRefs(p string, targetNames []string, workload string, targets, workloads map[string]string) {
	tp := p + ".targets"
	l.required(tp, len(targetNames) == 0)
	for i, name := range targetNames {
		ip := fmt.Sprintf("%s[%d]", tp, i)
		switch {
		case l.bad[ip]:
		case targets[name] == "":
			l.errorf(ip, "unknown target %s", quote(name))
		case slices.Index(targetNames, name) < i:
			l.errorf(ip, "duplicate target %s", quote(name))
		}
	}
	wp := p + ".workload"
	switch {
	case workload == "":
		l.required(wp, true)
	case workloads[workload] == "":
		l.errorf(wp, "unknown workload %s", quote(workload))
	}
}

func (l *loader) checkSchedule(path, s string) {
	if _, err := ParseSchedule(s); err != nil {
		l.errorf(path, "invalid schedule %s: %s", quote(s), err)
	}
}

// oneOf checks that v, if set, is one of allowed.
func (l *loader) oneOf(path, what, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		l.errorf(path, "invalid %s %s (want %s)", what, quote(v), list(allowed))
	}
}

// list writes "a, b or c".
func list(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// positive checks a duration that, when set, must be above zero.
func (l *loader) positive(path string, d model.Duration) {
	if l.has(path, d != 0) && d <= 0 {
		l.errorf(path, "must be positive")
	}
}

// intRange checks an integer that, when set, must lie in [lo, hi].
func (l *loader) intRange(path string, v, lo, hi int) {
	if l.has(path, v != 0) && (v < lo || v > hi) {
		l.errorf(path, "must be between %d and %d", lo, hi)
	}
}

func (l *loader) validateTarget(t *Target, p string) {
	l.required(p+".url", t.URL == "")
	if t.URL != "" {
		if msg := checkURL(t.URL); msg != "" {
			l.errorf(p+".url", "%s", msg) // never echo the URL: it may hold a password
		}
	}
	l.required(p+".model", t.Model == "")
	l.oneOf(p+".kind", "kind", string(t.Kind), kinds)
	l.resolveAPIKey(t, p)

	l.positive(p+".timeout", t.Timeout)
	l.positive(p+".idle_timeout", t.IdleTimeout)
	timeout := orDefault(t.Timeout, DefaultTimeout)
	if t.IdleTimeout > 0 && timeout > 0 && t.IdleTimeout > timeout {
		l.errorf(p+".idle_timeout", "%s exceeds timeout (%s)", t.IdleTimeout, timeout)
	}
	if l.has(p+".max_response_bytes", t.MaxResponseBytes != 0) && t.MaxResponseBytes <= 0 {
		l.errorf(p+".max_response_bytes", "must be positive")
	}
	if t.Stream != nil && *t.Stream && !streamsByDefault(t.Kind) {
		l.errorf(p+".stream", "kind %s cannot stream", t.Kind)
	}
	l.checkHeaders(t.Headers, p+".headers")
	if h := t.APIKeyHeader; h != "" {
		switch {
		case !isToken(h):
			l.errorf(p+".api_key_header", "invalid header name")
		case t.APIKeyFile == "" && t.APIKeyEnv == "":
			l.errorf(p+".api_key_header", "names the header of the key: give api_key_file or api_key_env too")
		case slices.ContainsFunc(slices.Collect(maps.Keys(t.Headers)), func(k string) bool {
			return http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(h)
		}):
			l.errorf(p+".api_key_header", "%s is also in headers", quote(h))
		}
	}
	l.positive(p+".metrics_interval", t.MetricsInterval)
	l.positive(p+".metrics_timeout", t.MetricsTimeout)
	if l.has(p+".metrics_max_bytes", t.MetricsMaxBytes != 0) && t.MetricsMaxBytes <= 0 {
		l.errorf(p+".metrics_max_bytes", "must be positive")
	}
	for _, pr := range metricsProblems(t) {
		l.errorf(p+"."+pr.field, "%s", pr.msg)
	}
	if t.RerankPath != "" {
		if t.Kind != KindRerank {
			l.errorf(p+".rerank_path", "only used by rerank targets")
		} else if msg := checkAPIPath(t.RerankPath); msg != "" {
			l.errorf(p+".rerank_path", "invalid path %s: %s", quote(t.RerankPath), msg)
		}
	}
}

// servers are the values of a target's server field.
var servers = []string{"auto", "vllm", "sglang", "tgi", "llamacpp", "generic"}

type problem struct{ field, msg string }

// metricsProblems returns what is wrong with a target's metrics page
// settings (for Load and for bench's flags), in words that never repeat a
// URL.
func metricsProblems(t *Target) []problem {
	var out []problem
	bad := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	if t.Server != "" && !slices.Contains(servers, t.Server) {
		bad("server", "invalid server %s (want %s)", quote(t.Server), list(servers))
	}
	if t.MetricsURL == MetricsNone {
		for _, f := range []struct {
			name string
			set  bool
		}{{"server", t.Server != ""}, {"metrics_auth", t.MetricsAuth != nil}, {"metrics_interval", t.MetricsInterval != 0},
			{"metrics_timeout", t.MetricsTimeout != 0}, {"metrics_max_bytes", t.MetricsMaxBytes != 0}} {
			if f.set {
				bad(f.name, "has no effect with metrics_url: none")
			}
		}
		return out
	}
	if t.MetricsURL != "" {
		if msg := checkMetricsURL(t.MetricsURL); msg != "" {
			bad("metrics_url", "%s", msg)
		}
	}
	if t.MetricsAuth != nil && *t.MetricsAuth && t.APIKey == "" && t.APIKeyFile == "" && t.APIKeyEnv == "" {
		bad("metrics_auth", "the target has no key to send: give api_key_file or api_key_env")
	}
	if t.MetricsInterval > 0 && t.MetricsInterval < MinMetricsInterval {
		bad("metrics_interval", "%s is below the minimum of %s", t.MetricsInterval, MinMetricsInterval)
	}
	return out
}

// checkMetricsURL returns what is wrong with a metrics page URL: a
// target's URL rules (no query either, since a token there would show in
// every result and log that names the page), with its own word for
// credentials.
func checkMetricsURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return "URL must not hold credentials: the target's key is sent with metrics_auth"
	}
	return checkURL(s)
}

// checkAPIPath returns what is wrong with an API path such as /v1/rerank.
func checkAPIPath(s string) string {
	u, err := url.Parse(s)
	switch {
	case !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//"):
		return "must start with a single /"
	case err != nil || u.Path != s || u.RawQuery != "" || u.Fragment != "":
		return "want a plain path, without query or escapes"
	case slices.Contains(strings.Split(s, "/"), ".."):
		return `must not hold ".."`
	}
	return ""
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkURL returns what is wrong with a target URL, in words that do not
// repeat it.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return "invalid URL: " + err.Error()
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "invalid URL: must start with http:// or https://"
	case u.User != nil:
		return "URL must not hold credentials: put the key in api_key_file or api_key_env"
	case u.Host == "" || u.Hostname() == "":
		return "invalid URL: missing host"
	case u.RawQuery != "" || u.ForceQuery:
		return "URL must not have a query"
	case u.Fragment != "":
		return "URL must not have a fragment"
	}
	return ""
}

// resolveAPIKey reads t's key from its file or environment variable. No
// message here may hold the key.
func (l *loader) resolveAPIKey(t *Target, p string) {
	switch {
	case t.APIKeyFile != "" && t.APIKeyEnv != "":
		l.errorf(p+".api_key_env", "api_key_file and api_key_env are mutually exclusive")
	case t.APIKeyFile != "":
		t.APIKeyFile = resolvePath(l.dir, t.APIKeyFile)
		key, err := readKeyFile(t.APIKeyFile)
		if err != nil {
			l.errorf(p+".api_key_file", "%s", err)
			return
		}
		t.APIKey = commoncfg.Secret(key)
	case t.APIKeyEnv != "":
		v, ok := l.lookupEnv(t.APIKeyEnv)
		v = strings.TrimSpace(v)
		switch {
		case !ok:
			l.errorf(p+".api_key_env", "environment variable %s is not set", quote(t.APIKeyEnv))
		case v == "":
			l.errorf(p+".api_key_env", "environment variable %s is empty", quote(t.APIKeyEnv))
		case strings.ContainsAny(v, "\r\n\x00"):
			l.errorf(p+".api_key_env", "environment variable %s holds a line break or NUL", quote(t.APIKeyEnv))
		default:
			t.APIKey = commoncfg.Secret(v)
		}
	}
}

// readKeyFile returns the trimmed content of a key file. It refuses
// anything but a small regular file, so that a path such as /dev/zero or a
// FIFO cannot hang or exhaust a reload.
func readKeyFile(path string) (string, error) {
	f, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %s", quote(path), pathErr(err))
	}
	if len(b) > maxKeyBytes {
		return "", fmt.Errorf("%s is larger than %d KiB", quote(path), maxKeyBytes>>10)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("%s is empty", quote(path))
	case strings.ContainsAny(key, "\r\n\x00"):
		return "", fmt.Errorf("%s holds more than one line", quote(path))
	}
	return key, nil
}

// openRegular opens path for reading if it is a regular file. It checks
// before opening because opening a FIFO blocks.
func openRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", quote(path), pathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", quote(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", quote(path), pathErr(err))
	}
	return f, nil
}

// pathErr drops the path that fs.PathError repeats.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// refusedHeaders carry credentials by convention: written inline, the
// secret would sit where the config is logged and marshalled. A key goes in
// api_key_file or api_key_env, and api_key_header names its header.
var refusedHeaders = []string{"Authorization", "Proxy-Authorization", "Api-Key", "X-Api-Key",
	"X-Auth-Token", "Cookie", "Ocp-Apim-Subscription-Key"}

func (l *loader) checkHeaders(h map[string]string, p string) {
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		hp := p + "." + name
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !isToken(name):
			l.errorf(hp, "invalid header name")
		case canon == "Authorization":
			l.errorf(hp, "not allowed in headers: put the key in api_key_file or api_key_env")
		case slices.Contains(refusedHeaders, canon):
			l.errorf(hp, "not allowed in headers: put the key in api_key_file or api_key_env, and name this header with api_key_header")
		case seen[canon] != "":
			l.errorf(hp, "duplicate header (same as %s)", quote(seen[canon]))
		case strings.ContainsAny(h[name], "\r\n\x00"):
			l.errorf(hp, "invalid header value") // values are not echoed
		}
		seen[canon] = name
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 field name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

func (l *loader) validateWorkload(w *Workload, p string) {
	l.validateConversation(w, p)
	l.validateSharedPrefix(w, p)
	l.validateTools(w, p)
	var sources []string
	for _, s := range []struct {
		field string
		set   bool
	}{
		{"prompt", w.Prompt != ""},
		{"input_tokens", l.has(p+".input_tokens", w.InputTokens != 0)},
		{"dataset", w.Dataset != ""},
	} {
		if !s.set {
			continue
		}
		if len(sources) > 0 {
			l.errorf(p+"."+s.field, "conflicts with %s: set only one of prompt, input_tokens and dataset", sources[0])
		}
		sources = append(sources, s.field)
	}
	l.validateInputTokens(w, p)
	if w.Dataset != "" {
		w.Dataset = resolvePath(l.dir, w.Dataset)
		l.checkFile(p+".dataset", w.Dataset, func(string) error { return w.parseDataset() })
	}
	op := p + ".output_tokens"
	if !l.bad[op] {
		d := w.OutputTokens
		has := func(k string) bool { return l.has(op+"."+k, *d.field(k) != 0) }
		for _, pr := range checkDecodeOptions(d, has) {
			l.errorf(op+"."+pr.key, "%s", pr.msg)
		}
	}
	l.oneOf(p+".prefix_cache", "prefix_cache", w.PrefixCache, caches)
	if t := w.Temperature; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0) || *t < 0) {
		l.errorf(p+".temperature", "must be a non-negative number")
	}

	l.intRange(p+".batch_size", w.BatchSize, 1, MaxBatchSize)
	l.intRange(p+".dimensions", w.Dimensions, 1, MaxDimensions)
	l.intRange(p+".documents", w.Documents, 1, MaxDocuments)
	if l.has(p+".query", w.Query != "") && strings.TrimSpace(w.Query) == "" {
		l.errorf(p+".query", "must not be blank")
	}
	uris := make([]string, 0, len(w.Images))
	for i := range w.Images {
		ip := fmt.Sprintf("%s.images[%d]", p, i)
		if l.bad[ip] {
			continue
		}
		if w.Images[i] == "" {
			l.errorf(ip, "empty path")
			continue
		}
		w.Images[i] = resolvePath(l.dir, w.Images[i])
		l.checkFile(ip, w.Images[i], func(path string) error {
			uri, err := readImage(path)
			if err == nil {
				uris = append(uris, uri)
			}
			return err
		})
	}
	if len(w.Images) > 0 && len(uris) == len(w.Images) {
		w.keepImages(uris)
	}
	if l.has(p+".images_per_request", w.ImagesPerRequest != 0) {
		if len(w.Images) == 0 {
			l.errorf(p+".images_per_request", "only used with images")
		} else {
			l.intRange(p+".images_per_request", w.ImagesPerRequest, 1, len(w.Images))
		}
	}
}

// validateInputTokens checks the synthetic length distribution and the
// tokenizer that measures it.
func (l *loader) validateInputTokens(w *Workload, p string) {
	ip := p + ".input_tokens"
	mean := l.has(ip, w.InputTokens != 0)
	l.intRange(ip, w.InputTokens, 1, TokensLimit)
	spread := []struct {
		field string
		v     int
		lo    int
	}{
		{"input_tokens_stddev", w.InputTokensStddev, 0},
		{"input_tokens_min", w.InputTokensMin, 1},
		{"input_tokens_max", w.InputTokensMax, 1},
	}
	ok := true
	for _, f := range spread {
		fp := p + "." + f.field
		if !l.has(fp, f.v != 0) {
			continue
		}
		switch {
		case !mean && !l.bad[ip]:
			l.errorf(fp, "only used with input_tokens")
			ok = false
		case f.v < f.lo || f.v > TokensLimit:
			l.errorf(fp, "must be between %d and %d", f.lo, TokensLimit)
			ok = false
		}
	}
	if ok && mean && w.InputTokens >= 1 && w.InputTokens <= TokensLimit {
		if w.InputTokensMin > w.InputTokens {
			l.errorf(p+".input_tokens_min", "%d exceeds input_tokens (%d)", w.InputTokensMin, w.InputTokens)
		}
		if w.InputTokensMax > 0 && w.InputTokensMax < w.InputTokens {
			l.errorf(p+".input_tokens_max", "%d is below input_tokens (%d)", w.InputTokensMax, w.InputTokens)
		}
	}
	if w.Tokenizer != "" {
		tp := p + ".tokenizer"
		if !mean && !l.bad[ip] {
			l.errorf(tp, "only used with input_tokens")
			return
		}
		w.Tokenizer = resolvePath(l.dir, w.Tokenizer)
		l.checkFile(tp, w.Tokenizer, func(path string) error {
			_, err := tokenizer.Load(path)
			return err
		})
	}
}

// checkFile checks that path is a readable regular file, then runs check
// on it; errors are recorded at field path fp.
func (l *loader) checkFile(fp, path string, check func(string) error) {
	f, err := openRegular(path)
	if err != nil {
		l.errorf(fp, "%s", err)
		return
	}
	f.Close()
	if err := check(path); err != nil {
		l.errorf(fp, "%s", pathErr(err))
	}
}

// checkKinds checks that a run's workload suits each of its targets'
// kinds: images go to vision targets, and only there.
func (l *loader) checkKinds(p string, targetNames []string, workload string, c *Config) {
	w := c.Workload(workload)
	if w == nil || l.bad[p+".workload"] {
		return
	}
	for i, name := range targetNames {
		t := c.Target(name)
		if t == nil {
			continue
		}
		switch kind := orDefault(t.Kind, KindChat); {
		case kind == KindVision && len(w.Images) == 0:
			l.errorf(p+".workload", "workload %s has no images, which vision target %s needs", quote(workload), quote(name))
		case kind != KindVision && len(w.Images) > 0:
			l.errorf(fmt.Sprintf("%s.targets[%d]", p, i), "target %s is of kind %s: only vision targets take the images of workload %s", quote(name), kind, quote(workload))
		}
		if msg := w.AnswerKindProblem(orDefault(t.Kind, KindChat)); msg != "" {
			l.errorf(fmt.Sprintf("%s.targets[%d]", p, i), "target %s: %s", quote(name), msg)
		}
	}
}

func (l *loader) validateSLO(s *SLO, p string) {
	l.positive(p+".ttft", s.TTFT)
	l.positive(p+".itl", s.ITL)
	l.positive(p+".tpot", s.TPOT)
	l.positive(p+".e2e", s.E2E)
	if r := s.ErrorRatio; math.IsNaN(r) || r < 0 || r > 1 {
		l.errorf(p+".error_ratio", "must be between 0 and 1")
	}
}

func (l *loader) validateSoak(s *Soak, p string) {
	l.validateArrivals(s, p)
	l.required(p+".mode", s.Mode == "")
	l.oneOf(p+".mode", "mode", s.Mode, modes)

	// Each mode takes only its own fields: a stray one is a misunderstanding
	// that would otherwise be silently ignored.
	rates := l.has(p+".rates", len(s.Rates) > 0)
	vus := l.has(p+".vus", s.VUs != 0)
	maxVUs := l.has(p+".max_vus", s.MaxVUs != 0)
	numRates := l.has(p+".num_rates", s.NumRates != 0)
	arrival := l.has(p+".arrival", s.Arrival != "")
	only := func(set bool, field, modes string) {
		if set {
			l.errorf(p+"."+field, "only used in %s", modes)
		}
	}
	switch s.Mode {
	case ModeRate:
		l.required(p+".rates", len(s.Rates) == 0 && s.Ramp == nil) // a ramp replaces them
		only(vus, "vus", "throughput mode")
		only(maxVUs, "max_vus", "sweep mode")
		only(numRates, "num_rates", "sweep mode")
	case ModeThroughput:
		l.required(p+".vus", !vus)
		only(rates, "rates", "rate mode")
		only(maxVUs, "max_vus", "sweep mode")
		only(numRates, "num_rates", "sweep mode")
		only(arrival, "arrival", "rate and sweep modes")
	case ModeSweep:
		only(rates, "rates", "rate mode")
		only(vus, "vus", "throughput mode")
	case ModeTrace:
		// The trace's times are the arrivals, its window and speed the length.
		for _, f := range []struct {
			set   bool
			field string
		}{{rates, "rates"}, {vus, "vus"}, {maxVUs, "max_vus"}, {numRates, "num_rates"}, {arrival, "arrival"},
			{s.Duration != 0, "duration"}, {s.Warmup != 0, "warmup"}} { // String() writes a zero duration
			if f.set {
				l.errorf(p+"."+f.field, "not used in trace mode: the trace's times are the arrivals (trace.speed, trace.start and trace.end shape the replay)")
			}
		}
	case ModeProcedure:
		// Every step's load is derived from the earlier steps' results.
		const derived = "not used in procedure mode: each step's load is derived from the earlier steps (set it under procedure:)"
		for _, f := range []struct {
			set   bool
			field string
		}{{rates, "rates"}, {vus, "vus"}, {maxVUs, "max_vus"}, {numRates, "num_rates"}, {arrival, "arrival"},
			{s.Duration != 0, "duration"}, {s.Warmup != 0, "warmup"}} { // String() writes a zero duration
			if f.set {
				l.errorf(p+"."+f.field, derived)
			}
		}
	}
	if s.Mode != ModeProcedure && l.has(p+".procedure", !reflect.DeepEqual(s.Procedure, Procedure{})) {
		l.errorf(p+".procedure", "only used in procedure mode")
	}

	for i, r := range s.Rates {
		if l.bad[fmt.Sprintf("%s.rates[%d]", p, i)] {
			continue
		}
		if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
			l.errorf(fmt.Sprintf("%s.rates[%d]", p, i), "must be a positive number")
		}
	}
	l.oneOf(p+".arrival", "arrival", s.Arrival, arrivals)
	l.intRange(p+".max_in_flight", s.MaxInFlight, 1, InFlightLimit)
	inFlight := orDefault(s.MaxInFlight, DefaultMaxInFlight)
	if inFlight < 1 || inFlight > InFlightLimit {
		inFlight = InFlightLimit // already reported; keep the checks below quiet
	}
	l.intRange(p+".vus", s.VUs, 1, inFlight)
	l.intRange(p+".max_vus", s.MaxVUs, 1, inFlight)
	l.intRange(p+".num_rates", s.NumRates, 1, MaxNumRates)

	if s.Mode == ModeProcedure {
		l.validateProcedure(&s.Procedure, p+".procedure", inFlight)
	} else if s.Mode != ModeTrace { // a trace's window sets its length
		l.required(p+".duration", s.Duration == 0 && !l.has(p+".duration", false))
		l.positive(p+".duration", s.Duration)
	}
	if s.Warmup < 0 {
		l.errorf(p+".warmup", "must not be negative")
	}
	if r := s.StopErrorRatio; l.has(p+".stop_error_ratio", r != 0) && !(r > 0 && r <= 1) {
		l.errorf(p+".stop_error_ratio", "must be above 0 and at most 1")
	}
	l.validateSLO(&s.SLO, p+".slo")
}

// applyDefaults fills what a valid config left out.
func (l *loader) applyDefaults(c *Config) {
	g := &c.Global
	g.DataDir = orDefault(g.DataDir, DefaultDataDir)
	if !l.has("global.probe_jitter", g.ProbeJitter != 0) {
		g.ProbeJitter = DefaultProbeJitter
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		t.Kind = orDefault(t.Kind, KindChat)
		t.Timeout = orDefault(t.Timeout, DefaultTimeout)
		t.IdleTimeout = orDefault(t.IdleTimeout, min(DefaultIdleTimeout, t.Timeout))
		t.MaxResponseBytes = orDefault(t.MaxResponseBytes, DefaultMaxResponseBytes)
		if t.Kind == KindRerank {
			t.RerankPath = orDefault(t.RerankPath, DefaultRerankPath)
		}
		if t.Stream == nil {
			s := streamsByDefault(t.Kind)
			t.Stream = &s
		}
	}
	for i := range c.Workloads {
		w := &c.Workloads[i]
		p := fmt.Sprintf("workloads[%d]", i)
		if w.Prompt == "" && w.InputTokens == 0 && w.Dataset == "" {
			w.Prompt = DefaultPrompt
		}
		w.OutputTokens.applyDefaults(l.has(p+".output_tokens.num_tokens", w.OutputTokens.NumTokens != 0))
		w.PrefixCache = orDefault(w.PrefixCache, PrefixCacheCold)
		if len(w.Images) > 0 {
			w.ImagesPerRequest = orDefault(w.ImagesPerRequest, len(w.Images))
		}
	}
	for i := range c.Probes {
		c.Probes[i].Requests = orDefault(c.Probes[i].Requests, DefaultRequests)
	}
	for i := range c.Soaks {
		s := &c.Soaks[i]
		if s.Mode == ModeRate || s.Mode == ModeSweep {
			s.Arrival = orDefault(s.Arrival, ArrivalConstant)
		}
		if s.Mode == ModeSweep {
			s.NumRates = orDefault(s.NumRates, DefaultNumRates)
		}
		s.MaxInFlight = orDefault(s.MaxInFlight, DefaultMaxInFlight)
		if s.Mode == ModeSweep {
			// A small max_in_flight lowers the default rather than clash with it.
			s.MaxVUs = orDefault(s.MaxVUs, min(DefaultMaxVUs, s.MaxInFlight))
		}
		s.StopErrorRatio = orDefault(s.StopErrorRatio, DefaultStopErrorRatio)
	}
}
