package config

import (
	"strconv"
	"strings"
)

// Error is one problem in a config, located as precisely as the YAML allows.
// Its message never holds a secret: not an API key, not a header value, not
// a URL that carried a password.
type Error struct {
	File  string // as given to Load; may be empty
	Line  int    // 1-based; 0 when unknown (a Config built in code)
	Field string // path such as targets[0].timeout; empty for the file itself
	Msg   string
}

// Error formats e as "file:line: field: msg", leaving out the parts that are
// unknown.
func (e Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config, in file order.
type Errors []Error

// Error joins the errors with newlines, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
