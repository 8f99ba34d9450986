// Package atomicfile writes a file whole or not at all: through a temporary
// file in the same directory (TempPrefix + name + random), synced, then
// renamed into place, and the directory synced, so a reader, a crash or a
// kill sees the old file or the new one, never half of one. The archive,
// the stress procedure's store, the report and bench's result files all
// write this way.
package atomicfile

import (
	"os"
	"path/filepath"
)

// TempPrefix starts the temporary files' names, so that a directory's owner
// can recognise (and remove) what a crash left.
const TempPrefix = ".tmp-"

// Write writes data to path with permissions perm.
func Write(path string, data []byte, perm os.FileMode) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}
