package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// loader decodes and validates one config, collecting every error rather
// than stopping at the first: a user fixing a file wants the whole list.
//
// We walk a yaml.Node tree instead of decoding with KnownFields because the
// decoder stops at the first unknown field per document and reports type
// errors without the field's path.
type loader struct {
	file string
	dir  string // for relative paths; "" means the working directory
	errs Errors

	// fromYAML says presence is known: present holds the paths that had a
	// non-null value. A Config built in code has no such record, so there a
	// zero value counts as absent.
	fromYAML bool
	lines    map[string]int  // path -> line of its value
	present  map[string]bool // path -> set to a non-null value
	bad      map[string]bool // path -> failed to decode; validation skips it

	lookupEnv func(string) (string, bool)
}

func newLoader(filename string) *loader {
	l := &loader{
		file:    filename,
		lines:   map[string]int{},
		present: map[string]bool{},
		bad:     map[string]bool{},
	}
	if filename != "" {
		l.dir = filepath.Dir(filename)
	}
	l.lookupEnv = lookupEnv
	return l
}

// errorf records an error at path, on the line of path or of its nearest
// ancestor that has one (a missing field is reported on its parent's line).
func (l *loader) errorf(path, format string, args ...any) {
	l.errs = append(l.errs, Error{File: l.file, Line: l.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) errorAt(n *yaml.Node, path, format string, args ...any) {
	l.errs = append(l.errs, Error{File: l.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) line(path string) int {
	for p := path; ; p = parent(p) {
		if n, ok := l.lines[p]; ok {
			return n
		}
		if p == "" {
			return 0
		}
	}
}

// parent strips the last element of a field path: "a[0].b" -> "a[0]" -> "a".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// has reports whether path was set; nonZero stands in for a Config built in
// code.
func (l *loader) has(path string, nonZero bool) bool {
	if l.fromYAML {
		return l.present[path]
	}
	return nonZero
}

// result returns the collected errors in file order, or nil.
func (l *loader) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b Error) int { return a.Line - b.Line })
	return l.errs
}

var yamlLineRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// parse returns the root node of data's only document, nil for an empty
// document or a syntax error (which it records).
func (l *loader) parse(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a bad config must
		// be an error, never a crash of the daemon reloading it.
		if r := recover(); r != nil {
			l.errs = append(l.errs, Error{File: l.file, Msg: fmt.Sprintf("invalid YAML: %v", r)})
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			l.yamlError(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		l.yamlError(err, data)
		return nil
	default:
		l.errs = append(l.errs, Error{File: l.file, Line: next.Line, Msg: "only one YAML document is allowed"})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root = doc.Content[0]
	if isNull(root) {
		return nil
	}
	return root
}

// yaml.v3 numbers lines inconsistently: parser errors carry a 0-based line,
// scanner errors a 1-based one, both drop the line when it is 0, and reader
// errors (bad encoding) carry none. yamlError puts them all on 1-based lines.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var readerProblems = []string{
	"control characters are not allowed",
	"expected low surrogate area",
	"incomplete UTF-",
	"input error: ",
	"invalid Unicode character",
	"invalid leading UTF-8 octet",
	"invalid length of a UTF-8 sequence",
	"invalid trailing UTF-8 octet",
	"unexpected low surrogate area",
}

// Errors raised while building nodes rather than while scanning; their line
// is unknown.
var nodeProblems = []string{"unknown anchor", "attempted to go past"}

func (l *loader) yamlError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	hasPrefix := func(p string) bool { return strings.HasPrefix(msg, p) }
	switch {
	case slices.Contains(parserProblems, msg):
		line++
	case slices.ContainsFunc(readerProblems, hasPrefix):
		line = badCharLine(data)
	case slices.ContainsFunc(nodeProblems, hasPrefix):
	case line == 0: // a scanner error on the first line
		line = 1
	}
	l.errs = append(l.errs, Error{File: l.file, Line: line, Msg: msg})
}

// badCharLine returns the line of the first byte that YAML's reader refuses:
// invalid UTF-8 or a control character. 0 if none is found (or the input is
// UTF-16, which the reader decodes first).
func badCharLine(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return 0
	}
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size == 1:
			return line
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20, r >= 0x7F && r < 0xA0, r >= 0xD800 && r < 0xE000, r == 0xFFFE, r == 0xFFFF:
			return line
		}
		data = data[size:]
	}
	return 0
}

var (
	durationType      = reflect.TypeFor[model.Duration]()
	decodeOptionsType = reflect.TypeFor[DecodeOptions]()
)

// decode fills c from the document's root node.
func (l *loader) decode(root *yaml.Node, c *Config) {
	l.value(root, reflect.ValueOf(c).Elem(), "")
}

// value decodes n into v, recording errors at path. It is driven by v's
// type, so only the schema's depth is ever walked, whatever aliases the
// document holds.
func (l *loader) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	l.lines[path] = n.Line
	if isNull(n) {
		return
	}
	ok := l.decodeValue(n, v, path)
	if ok {
		l.present[path] = true
	} else {
		l.bad[path] = true
	}
}

func (l *loader) decodeValue(n *yaml.Node, v reflect.Value, path string) bool {
	switch v.Type() {
	case durationType:
		if n.Kind != yaml.ScalarNode {
			l.errorAt(n, path, "expected a duration, got %s", describe(n))
			return false
		}
		d, err := model.ParseDuration(n.Value)
		if err != nil {
			l.errorAt(n, path, "invalid duration %s", quote(n.Value))
			return false
		}
		v.SetInt(int64(d))
		return true
	case decodeOptionsType:
		if n.Kind == yaml.ScalarNode {
			return l.decodeOptionsScalar(n, v.Addr().Interface().(*DecodeOptions), path)
		}
	}

	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			l.errorAt(n, path, "expected a string, got %s", describe(n))
			return false
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			l.errorAt(n, path, "expected an integer, got %s", describe(n))
			return false
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			l.errorAt(n, path, "expected a number, got %s", describe(n))
			return false
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			l.errorAt(n, path, "expected true or false, got %s", describe(n))
			return false
		}
		v.SetBool(b)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !l.decodeValue(n, p.Elem(), path) {
			return false
		}
		v.Set(p)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.errorAt(n, path, "expected a list, got %s", describe(n))
			return false
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if item = resolve(item); isNull(item) {
				l.lines[p] = item.Line
				l.bad[p] = true
				l.errorAt(item, p, "expected %s, got null", expected(s.Index(i)))
				continue
			}
			l.value(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		return l.decodeMap(n, v, path)
	case reflect.Struct:
		return l.decodeStruct(n, v, path)
	default:
		// Only reachable if a field of an unsupported type is added.
		panic(fmt.Sprintf("config: cannot decode into %s", v.Type()))
	}
	return true
}

// decodeMap decodes a mapping into a map[string]T.
func (l *loader) decodeMap(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind != yaml.MappingNode {
		l.errorAt(n, path, "expected a mapping, got %s", describe(n))
		return false
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for _, kv := range l.pairs(n, path) {
		key, ok := l.key(kv, path)
		if !ok {
			continue
		}
		p := join(path, key)
		if first, dup := seen[key]; dup {
			if !kv.merged {
				l.errorAt(kv.key, p, "duplicate key (first at line %d)", first)
			}
			continue
		}
		seen[key] = kv.key.Line
		e := reflect.New(v.Type().Elem()).Elem()
		l.value(kv.val, e, p)
		l.lines[p] = kv.key.Line
		m.SetMapIndex(reflect.ValueOf(key), e)
	}
	v.Set(m)
	return true
}

// decodeStruct decodes a mapping into a struct, field names from yaml tags.
func (l *loader) decodeStruct(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind != yaml.MappingNode {
		l.errorAt(n, path, "expected a mapping, got %s", describe(n))
		return false
	}
	fields := structFields(v.Type())
	seen := map[string]int{}
	for _, kv := range l.pairs(n, path) {
		key, ok := l.key(kv, path)
		if !ok {
			continue
		}
		p := join(path, key)
		if first, dup := seen[key]; dup {
			if !kv.merged { // explicit keys override merged ones
				l.errorAt(kv.key, p, "duplicate field (first at line %d)", first)
			}
			continue
		}
		seen[key] = kv.key.Line
		i, known := fields[key]
		if !known {
			l.errorAt(kv.key, p, "unknown field")
			continue
		}
		l.value(kv.val, v.Field(i), p)
		l.lines[p] = kv.key.Line // a block value starts below its key
	}
	return true
}

// key returns a mapping key as a string, recording an error if it is not a
// scalar.
func (l *loader) key(kv pair, path string) (string, bool) {
	k := resolve(kv.key)
	if k.Kind != yaml.ScalarNode {
		l.errorAt(k, path, "expected a field name, got %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// structFields maps yaml keys to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

type pair struct {
	key, val *yaml.Node
	merged   bool // came from a << merge key
}

// pairs returns a mapping's key/value pairs: its own first, then those of
// merge keys (<<: *anchor), which YAML ranks below the mapping's own and
// earlier sources above later ones. Each merged mapping is expanded once, so
// chains of merges cannot blow up.
func (l *loader) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[*yaml.Node]bool{n: true}
	var mergeFrom func(v *yaml.Node)
	mergeFrom = func(v *yaml.Node) {
		v = resolve(v)
		switch v.Kind {
		case yaml.MappingNode:
			if seen[v] {
				return
			}
			seen[v] = true
			var later []*yaml.Node
			for i := 0; i+1 < len(v.Content); i += 2 {
				if isMergeKey(v.Content[i]) {
					later = append(later, v.Content[i+1])
					continue
				}
				merged = append(merged, pair{v.Content[i], v.Content[i+1], true})
			}
			for _, m := range later {
				mergeFrom(m)
			}
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item = resolve(item); item.Kind != yaml.MappingNode {
					l.errorAt(item, join(path, "<<"), "expected a mapping to merge, got %s", describe(item))
					continue
				}
				mergeFrom(item)
			}
		default:
			l.errorAt(v, join(path, "<<"), "expected a mapping to merge, got %s", describe(v))
		}
	}
	var sources []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			sources = append(sources, n.Content[i+1])
			continue
		}
		own = append(own, pair{n.Content[i], n.Content[i+1], false})
	}
	for _, s := range sources {
		mergeFrom(s)
	}
	return append(own, merged...)
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// resolve follows aliases to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 100 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return quote(n.Value)
	}
	return "nothing"
}

// expected names what v's type takes, for a null list item.
func expected(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Struct:
		return "a mapping"
	case reflect.String:
		return "a string"
	default:
		return "a number"
	}
}

// quote quotes a value from the file for a message, cut short so that a
// stray blob does not flood the output.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
