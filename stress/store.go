package stress

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/atomicfile"
)

// FileName is the procedure's file in its directory.
const FileName = "procedure.json"

// ErrNotFound is returned by Load for a procedure that is not in the store.
var ErrNotFound = errors.New("no such procedure")

// Store keeps procedures in a data directory, beside the archive's runs:
// <Dir>/procedures/<id>/procedure.json, with the report written beside it.
// Each save replaces the file atomically, so an interrupted procedure
// always leaves a whole file to resume from.
type Store struct {
	Dir string // the data directory (--data-dir)
}

// ProcedureDir is the directory of procedure id.
func (s *Store) ProcedureDir(id string) string { return filepath.Join(s.Dir, "procedures", id) }

// idTimeFormat names procedures by their start, as the archive names runs.
const idTimeFormat = "20060102T150405Z"

// Create gives p an ID not yet used in the store (its start and target)
// and makes its directory.
func (s *Store) Create(p *Procedure) error {
	base := p.Started.UTC().Format(idTimeFormat) + "_" + safeName(p.Target)
	if err := os.MkdirAll(filepath.Join(s.Dir, "procedures"), 0o755); err != nil {
		return fmt.Errorf("procedure store: %w", err)
	}
	id := base
	for i := 2; ; i++ {
		err := os.Mkdir(s.ProcedureDir(id), 0o755)
		if err == nil {
			p.ID = id
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("procedure store: %w", err)
		}
		id = fmt.Sprintf("%s_%d", base, i)
	}
}

// Save writes p's file atomically (a temporary file renamed into place).
func (s *Store) Save(p *Procedure) error {
	if !validID(p.ID) {
		return fmt.Errorf("procedure store: invalid id %q", p.ID)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("procedure %s: %w", p.ID, err)
	}
	dir := s.ProcedureDir(p.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("procedure store: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, FileName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("procedure %s: %w", p.ID, err)
	}
	return nil
}

// Load reads procedure id.
func (s *Store) Load(id string) (*Procedure, error) {
	if !validID(id) {
		return nil, fmt.Errorf("procedure %q: not a procedure id", id)
	}
	b, err := os.ReadFile(filepath.Join(s.ProcedureDir(id), FileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("procedure %s in %s: %w", id, s.Dir, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("procedure %s: %w", id, err)
	}
	var p Procedure
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("procedure %s: %s: %w", id, FileName, err)
	}
	if p.ID != id {
		return nil, fmt.Errorf("procedure %s: its file names it %q", id, p.ID)
	}
	return &p, nil
}

// NewID is an ID for a procedure that is not stored: its start and target.
func NewID(started time.Time, target string) string {
	return started.UTC().Format(idTimeFormat) + "_" + safeName(target)
}

// safeName keeps the characters of a label that are safe in a file name.
func safeName(s string) string {
	if s == "" {
		return "procedure"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s)
}

// validID reports whether id can name a procedure (no path tricks).
func validID(id string) bool {
	return id != "" && !strings.HasPrefix(id, ".") && safeName(id) == id && !strings.Contains(id, "..")
}
