package rabbitmq

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/drillbook/drillbook/adapters/file"
)

// This file is the adapter's only direct use of the local file system,
// beside adapters/file (copies, manifests, atomic writes): every other file
// of the package reads and writes the broker host's files through these
// functions, so that moving them onto the host seam (adapters/host, SSH)
// changes this file alone.

// statPath returns a file's information, following links.
func statPath(p string) (fs.FileInfo, error) { return os.Stat(p) }

// lstatPath returns a file's information without following a last link.
func lstatPath(p string) (fs.FileInfo, error) { return os.Lstat(p) }

// readDir lists a directory.
func readDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(p) }

// readFile reads a whole file.
func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// mkdirNew creates a directory that must not exist yet (its parent must):
// a backup set is never written into an existing directory.
func mkdirNew(p string) error { return os.Mkdir(p, 0o755) }

// mkdirAll creates a directory and its missing parents.
func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

// removeFile removes a file; a missing one is no error.
func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeJSON writes v to path as indented JSON with file.WriteAtomic, so a
// crash leaves the old file or the whole new one.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return file.WriteAtomic(path, append(b, '\n'), 0o644)
}

// readJSON decodes a JSON file; a file that does not decode is named.
func readJSON(path string, v any) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// fsSpace is what a file system holds and has free.
type fsSpace struct {
	// Free is what an unprivileged writer may still use, in bytes.
	Free int64
	// Dev identifies the file system (two paths with the same Dev are on
	// the same one).
	Dev uint64
}

// spaceAt reports the file system that holds p.
func spaceAt(p string) (fsSpace, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return fsSpace{}, err
	}
	dev, err := deviceOf(p)
	if err != nil {
		return fsSpace{}, err
	}
	return fsSpace{Free: int64(st.Bavail) * int64(st.Bsize), Dev: dev}, nil
}

// deviceOf returns the device number of the file system p is on.
func deviceOf(p string) (uint64, error) {
	info, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no device number on this system", p)
	}
	return uint64(st.Dev), nil
}

// writable reports whether drillbook may create files in directory p,
// without creating one.
func writable(p string) error { return unix.Access(p, unix.W_OK|unix.X_OK) }

// sameFile reports whether a and b are the same file or directory.
func sameFile(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}

// treeSize adds up the sizes of the regular files under root.
func treeSize(root string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			bytes += info.Size()
		}
		return nil
	})
	return files, bytes, err
}

// chownTree gives everything under root to uid/gid: restored files must
// belong to the node's user, whoever took the backup.
func chownTree(root string, owner [2]int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, owner[0], owner[1])
	})
}

// ownerOf returns the uid and gid of p.
func ownerOf(p string) (*[2]int, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, nil
	}
	return &[2]int{int(st.Uid), int(st.Gid)}, nil
}

// runningAsRoot reports whether drillbook may give files to another user.
func runningAsRoot() bool { return os.Geteuid() == 0 }
