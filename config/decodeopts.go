package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeOptions set the requested output length the way Hugging Face's
// inference-benchmarker does: each request asks for a length drawn around
// NumTokens with spread Variance, clamped to [MinTokens, MaxTokens]. Zero
// MinTokens and MaxTokens mean no clamp. The drawn length is sent as
// max_tokens, and as min_tokens only to targets that support it, so output
// length is always measured, never assumed.
type DecodeOptions struct {
	// NumTokens is the target length. Default 64, moved into
	// [MinTokens, MaxTokens] when those exclude it.
	NumTokens int `yaml:"num_tokens" json:"num_tokens"`
	MaxTokens int `yaml:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	MinTokens int `yaml:"min_tokens,omitempty" json:"min_tokens,omitempty"`
	Variance  int `yaml:"variance,omitempty" json:"variance,omitempty"`
}

// decodeOptionKeys are the option names, in the order messages list them.
var decodeOptionKeys = []string{"num_tokens", "max_tokens", "min_tokens", "variance"}

func (d *DecodeOptions) field(key string) *int {
	switch key {
	case "num_tokens":
		return &d.NumTokens
	case "max_tokens":
		return &d.MaxTokens
	case "min_tokens":
		return &d.MinTokens
	case "variance":
		return &d.Variance
	}
	return nil
}

// ParseDecodeOptions parses the command-line form
// "num_tokens=80,max_tokens=100,min_tokens=60,variance=10" (any subset, in
// any order), validates it as Load would and applies the defaults. The empty
// string gives the defaults.
func ParseDecodeOptions(s string) (DecodeOptions, error) {
	d, set, err := parseDecodeOptions(s)
	if err != nil {
		return DecodeOptions{}, err
	}
	if probs := checkDecodeOptions(d, func(k string) bool { return set[k] }); len(probs) > 0 {
		return DecodeOptions{}, fmt.Errorf("%s: %s", probs[0].key, probs[0].msg)
	}
	d.applyDefaults(set["num_tokens"])
	return d, nil
}

// parseDecodeOptions parses the key=value form, returning which keys were
// given so that an explicit zero is not mistaken for an absent value.
func parseDecodeOptions(s string) (DecodeOptions, map[string]bool, error) {
	var d DecodeOptions
	set := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		return d, set, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return d, nil, fmt.Errorf("expected key=value, got %s", quote(strings.TrimSpace(item)))
		}
		p := d.field(k)
		if p == nil {
			return d, nil, fmt.Errorf("unknown option %s (want num_tokens, max_tokens, min_tokens or variance)", quote(k))
		}
		if set[k] {
			return d, nil, fmt.Errorf("%s: given twice", k)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return d, nil, fmt.Errorf("%s: expected an integer, got %s", k, quote(v))
		}
		*p = n
		set[k] = true
	}
	return d, set, nil
}

type keyMsg struct{ key, msg string }

// checkDecodeOptions returns d's problems by option name; has reports
// whether an option was given.
func checkDecodeOptions(d DecodeOptions, has func(key string) bool) []keyMsg {
	var probs []keyMsg
	for _, k := range decodeOptionKeys {
		if !has(k) {
			continue
		}
		v := *d.field(k)
		lo := 0
		if k == "num_tokens" || k == "max_tokens" {
			lo = 1
		}
		switch {
		case v < lo && lo == 1:
			probs = append(probs, keyMsg{k, "must be positive"})
		case v < lo:
			probs = append(probs, keyMsg{k, "must not be negative"})
		case v > TokensLimit:
			probs = append(probs, keyMsg{k, fmt.Sprintf("must be at most %d", TokensLimit)})
		}
	}
	if len(probs) > 0 {
		return probs // the bounds below compare values already known to be bad
	}
	if d.MaxTokens > 0 && d.MinTokens > d.MaxTokens {
		probs = append(probs, keyMsg{"min_tokens", fmt.Sprintf("%d exceeds max_tokens (%d)", d.MinTokens, d.MaxTokens)})
		return probs
	}
	if has("num_tokens") {
		if d.MaxTokens > 0 && d.NumTokens > d.MaxTokens {
			probs = append(probs, keyMsg{"num_tokens", fmt.Sprintf("%d exceeds max_tokens (%d)", d.NumTokens, d.MaxTokens)})
		}
		if d.NumTokens < d.MinTokens {
			probs = append(probs, keyMsg{"num_tokens", fmt.Sprintf("%d is below min_tokens (%d)", d.NumTokens, d.MinTokens)})
		}
	}
	return probs
}

// applyDefaults sets NumTokens unless it was given, clamped so that a lone
// max_tokens: 32 does not clash with the default 64.
func (d *DecodeOptions) applyDefaults(numSet bool) {
	if numSet {
		return
	}
	d.NumTokens = DefaultNumTokens
	if d.MaxTokens > 0 {
		d.NumTokens = min(d.NumTokens, d.MaxTokens)
	}
	d.NumTokens = max(d.NumTokens, d.MinTokens, 1)
}

// decodeOptionsScalar decodes output_tokens written as a bare integer (the
// num_tokens) or as the command-line key=value string.
func (l *loader) decodeOptionsScalar(n *yaml.Node, d *DecodeOptions, path string) bool {
	if n.ShortTag() == "!!int" {
		var i int
		if n.Decode(&i) != nil {
			l.errorAt(n, path, "expected a mapping, an integer or a key=value string, got %s", describe(n))
			return false
		}
		d.NumTokens = i
		p := join(path, "num_tokens")
		l.present[p], l.lines[p] = true, n.Line
		return true
	}
	opts, set, err := parseDecodeOptions(n.Value)
	if err != nil {
		l.errorAt(n, path, "%s", err)
		return false
	}
	*d = opts
	for k := range set {
		p := join(path, k)
		l.present[p], l.lines[p] = true, n.Line
	}
	return true
}
