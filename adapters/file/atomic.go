package file

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to path with mode perm so that a reader, or a
// drillbook killed half way, sees the old file or the whole new one, never
// part of it: the data goes to a temporary file in the same directory, is
// synced, and is renamed over path; the directory is then synced so the
// rename survives a crash. The directory must exist. On error path is
// unchanged and the temporary file is removed; the error names the file
// that failed, and callers add what they were writing.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}
