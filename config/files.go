package config

import (
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/probe"
)

// A workload's dataset and images are parsed once, when the config is
// loaded (validation has to parse them to check them anyway), and kept in
// the Workload, so that the generators of every probe and soak using it
// need not read the files again. Each part remembers the path it was read
// from: a Workload built in code, or a copy whose path was changed since
// (bench swaps in a file of prepared prompts), has its file read when
// asked instead.
//
// A tokenizer is not kept here: tokenizer.Load already parses a file
// version once (its cache is keyed by path, size and mtime), and the stat
// it does on each call is what lets a daemon refuse, at Apply, a file that
// turned bad after validation rather than trust the parsed one blindly.

// The readers, variables so that a test can count the reads.
var (
	readDataset = dataset.Load
	readImage   = dataset.Image
)

// parsedFiles is what validation read from a workload's files. It is part
// of Workload, so reflect.DeepEqual (with which the daemon tells a changed
// job on reload) compares the files' contents too: a job whose dataset or
// images changed is rebuilt with the new ones.
type parsedFiles struct {
	datasetPath string
	entries     []dataset.Entry

	imagePaths []string
	imageURIs  []string

	// The tools and the JSON Schema, compiled (see parsedAnswers).
	toolsPath  string
	tools      *probe.Tools
	schemaPath string
	schema     *probe.JSONSchema
}

// parseDataset reads w.Dataset and keeps its prompts.
func (w *Workload) parseDataset() error {
	e, err := readDataset(w.Dataset)
	if err != nil {
		return err
	}
	w.files.datasetPath, w.files.entries = w.Dataset, e
	return nil
}

// keepImages keeps the data: URIs of w.Images, read by validation.
func (w *Workload) keepImages(uris []string) {
	w.files.imagePaths, w.files.imageURIs = slices.Clone(w.Images), uris
}

// DatasetEntries returns the prompts of the Dataset file: those parsed when
// the config was loaded, else (a Workload built in code) read now.
func (w *Workload) DatasetEntries() ([]dataset.Entry, error) {
	if w.files.entries != nil && w.files.datasetPath == w.Dataset {
		return w.files.entries, nil
	}
	return readDataset(w.Dataset)
}

// UseDatasetEntries makes entries w's dataset, as if read from it: bench
// hands the prompts it prepared (cut, filtered) to the generator this way
// instead of writing them to a file for the generator to read back.
func (w *Workload) UseDatasetEntries(entries []dataset.Entry) {
	w.files.datasetPath = w.Dataset
	w.files.entries = entries
}

// ImageURIs returns the Images as data: URIs: those read when the config
// was loaded, else read now. The slice is the caller's.
func (w *Workload) ImageURIs() ([]string, error) {
	if w.files.imageURIs != nil && slices.Equal(w.files.imagePaths, w.Images) {
		return slices.Clone(w.files.imageURIs), nil
	}
	var uris []string
	for _, path := range w.Images {
		uri, err := readImage(path)
		if err != nil {
			return nil, err
		}
		uris = append(uris, uri)
	}
	return uris, nil
}

// readAnswerFile reads a tools or JSON Schema file; a variable so that a
// test can count the reads.
var readAnswerFile = func(path string) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAnswerFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", quote(path), pathErr(err))
	}
	if len(b) > maxAnswerFileBytes {
		return nil, fmt.Errorf("%s is larger than %d KiB", quote(path), maxAnswerFileBytes>>10)
	}
	return b, nil
}

// parsedAnswers hands out one compiled form per file content. A compiled
// schema cannot be told equal to another by reflect.DeepEqual (it holds
// functions), and the daemon compares workloads with it on reload: one
// pointer per content keeps an unchanged file's jobs running. It is
// emptied when it grows past maxParsedAnswers (edits over a long life),
// which costs the jobs of unchanged files one restart.
var parsedAnswers struct {
	sync.Mutex
	tools   map[[32]byte]*probe.Tools
	schemas map[[32]byte]*probe.JSONSchema
}

const maxParsedAnswers = 64

// answerKey is the cache key of a file's content (and, for a schema, the
// name it falls back to).
func answerKey(b []byte, extra string) [32]byte {
	h := sha256.New()
	h.Write(b)
	h.Write([]byte{0})
	h.Write([]byte(extra))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// loadTools reads and parses the tools file at path.
func loadTools(path string) (*probe.Tools, error) {
	b, err := readAnswerFile(path)
	if err != nil {
		return nil, err
	}
	k := answerKey(b, "")
	parsedAnswers.Lock()
	defer parsedAnswers.Unlock()
	if t := parsedAnswers.tools[k]; t != nil {
		return t, nil
	}
	t, err := probe.ParseTools(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quote(path), err)
	}
	if len(parsedAnswers.tools) >= maxParsedAnswers || parsedAnswers.tools == nil {
		parsedAnswers.tools = map[[32]byte]*probe.Tools{}
	}
	parsedAnswers.tools[k] = t
	return t, nil
}

// loadJSONSchema reads and parses the JSON Schema file at path.
func loadJSONSchema(path string) (*probe.JSONSchema, error) {
	b, err := readAnswerFile(path)
	if err != nil {
		return nil, err
	}
	name := schemaName(path)
	k := answerKey(b, name)
	parsedAnswers.Lock()
	defer parsedAnswers.Unlock()
	if s := parsedAnswers.schemas[k]; s != nil {
		return s, nil
	}
	s, err := probe.ParseJSONSchema(b, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quote(path), err)
	}
	if len(parsedAnswers.schemas) >= maxParsedAnswers || parsedAnswers.schemas == nil {
		parsedAnswers.schemas = map[[32]byte]*probe.JSONSchema{}
	}
	parsedAnswers.schemas[k] = s
	return s, nil
}

// parseTools reads w.ToolsFile and keeps its tools.
func (w *Workload) parseTools() (*probe.Tools, error) {
	t, err := loadTools(w.ToolsFile)
	if err != nil {
		return nil, err
	}
	w.files.toolsPath, w.files.tools = w.ToolsFile, t
	return t, nil
}

// parseJSONSchema reads w.JSONSchemaFile and keeps its schema.
func (w *Workload) parseJSONSchema() error {
	s, err := loadJSONSchema(w.JSONSchemaFile)
	if err != nil {
		return err
	}
	w.files.schemaPath, w.files.schema = w.JSONSchemaFile, s
	return nil
}

// AnswerSpec returns what w's requests ask of their answers (tools,
// tool_choice, json_schema), nil when nothing: the files parsed when the
// config was loaded, else (a Workload built in code, as bench builds one)
// read now. It is shared by every request and never modified.
func (w *Workload) AnswerSpec() (*probe.AnswerSpec, error) {
	if w.ToolsFile == "" && w.ToolChoice == "" && w.JSONSchemaFile == "" {
		return nil, nil
	}
	spec := &probe.AnswerSpec{Choice: probe.ToolChoice(w.ToolChoice)}
	if w.ToolsFile != "" {
		spec.Tools = w.files.tools
		if spec.Tools == nil || w.files.toolsPath != w.ToolsFile {
			t, err := loadTools(w.ToolsFile)
			if err != nil {
				return nil, fmt.Errorf("tools_file: %w", err)
			}
			spec.Tools = t
		}
	}
	if err := probe.CheckToolChoice(spec.Choice, spec.Tools); err != nil {
		return nil, fmt.Errorf("tool_choice: %w", err)
	}
	if w.JSONSchemaFile != "" {
		spec.Schema = w.files.schema
		if spec.Schema == nil || w.files.schemaPath != w.JSONSchemaFile {
			s, err := loadJSONSchema(w.JSONSchemaFile)
			if err != nil {
				return nil, fmt.Errorf("json_schema_file: %w", err)
			}
			spec.Schema = s
		}
	}
	return spec, nil
}
