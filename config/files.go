package config

import (
	"slices"

	"github.com/llmprobe/llmprobe/dataset"
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
