package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/drillbook/drillbook/adapters/host"
)

// This file is where the adapter reaches the node's files: its data
// directory (msg_stores, the import marker, the maintenance record) and the
// backup sets under rabbitmq.backup_dir all lie on the node's host,
// rabbitmq.host (issue 14). Every read, hash and copy happens there through
// host.Host: a msg_stores copy and its manifest are made and hashed where
// the files are (Host.Copy, Host.Manifest), never pulled over the network.
// Nothing here touches the local file system directly; on this machine the
// host is host.Local.
//
// The backup sets lie on the node's host too, with no backup host of their
// own: `rabbitmqctl export_definitions FILE` writes the set's definitions
// where the CLI runs, and import_definitions reads them there (seed 004,
// "rabbitmqctl export_definitions /path/to/definitions.json"), so a set on
// another host would have to be copied back and forth around every CLI
// call. A set is moved off the node's host by the estate's own backup
// tooling, as the seed's `cp -a` copy is.

// statPath returns a file's information on h, following links.
func statPath(ctx context.Context, h host.Host, p string) (fs.FileInfo, error) {
	return h.Stat(ctx, p)
}

// lstatPath returns a file's information on h without following a last
// link: its entry in the parent's listing (Host.ReadDir does not follow
// links).
func lstatPath(ctx context.Context, h host.Host, p string) (fs.FileInfo, error) {
	p = filepath.Clean(p)
	entries, err := h.ReadDir(ctx, filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() == filepath.Base(p) {
			return e, nil
		}
	}
	return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
}

// readDir lists a directory on h, sorted by name.
func readDir(ctx context.Context, h host.Host, p string) ([]fs.FileInfo, error) {
	return h.ReadDir(ctx, p)
}

// readFile reads a whole file on h.
func readFile(ctx context.Context, h host.Host, p string) ([]byte, error) {
	return h.ReadFile(ctx, p, 0)
}

// mkdirNew creates a directory on h that must not exist yet (its parent
// must): a backup set is never written into an existing directory. It
// runs mkdir(1) there, an argv (POSIX: it fails on an existing directory,
// as mkdir(2) does); a failure on a path that now exists is fs.ErrExist.
func mkdirNew(ctx context.Context, h host.Host, p string) error {
	if _, err := h.Stat(ctx, p); err == nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	_, err := h.Run(ctx, host.Command{Argv: []string{"mkdir", "--", p}})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		if _, serr := h.Stat(ctx, p); serr == nil {
			return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
		}
	}
	return err
}

// mkdirAll creates a directory on h and its missing parents.
func mkdirAll(ctx context.Context, h host.Host, p string) error {
	return h.MkdirAll(ctx, p, 0o755)
}

// removeFile removes a file on h; a missing one is no error.
func removeFile(ctx context.Context, h host.Host, p string) error {
	return h.RemoveAll(ctx, p)
}

// writeJSON writes v to path on h as indented JSON, atomically: a crash
// leaves the old file or the whole new one.
func writeJSON(ctx context.Context, h host.Host, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return h.WriteFile(ctx, path, append(b, '\n'), 0o644)
}

// readJSON decodes a JSON file on h; a file that does not decode is named.
func readJSON(ctx context.Context, h host.Host, path string, v any) error {
	b, err := readFile(ctx, h, path)
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

// spaceAt reports the file system that holds p on h.
func spaceAt(ctx context.Context, h host.Host, p string) (fsSpace, error) {
	sp, err := h.FreeSpace(ctx, p)
	if err != nil {
		return fsSpace{}, err
	}
	dev, err := deviceOf(ctx, h, p)
	if err != nil {
		return fsSpace{}, err
	}
	return fsSpace{Free: int64(sp.Avail), Dev: dev}, nil
}

// deviceOf returns the device number of the file system p is on, on h.
func deviceOf(ctx context.Context, h host.Host, p string) (uint64, error) {
	info, err := h.Stat(ctx, p)
	if err != nil {
		return 0, err
	}
	st, ok := info.Sys().(*host.Sys)
	if !ok || st == nil || st.Dev == 0 {
		return 0, fmt.Errorf("%s: %s gives no device number: install this drillbook's binary there", p, h.Name())
	}
	return st.Dev, nil
}

// writable reports whether drillbook may create files in directory p on
// h, without creating one: test -w there (POSIX test(1), an argv, no
// shell; AIX has it too), which asks access(2) as a local check would.
func writable(ctx context.Context, h host.Host, p string) error {
	_, err := h.Run(ctx, host.Command{Argv: []string{"test", "-w", p, "-a", "-x", p}})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s is not writable by this user on %s", p, h.Name())
	}
	return err
}

// sameFile reports whether a and b are the same file or directory on h:
// the same inode on the same file system.
func sameFile(ctx context.Context, h host.Host, a, b string) (bool, error) {
	ia, err := h.Stat(ctx, a)
	if err != nil {
		return false, err
	}
	ib, err := h.Stat(ctx, b)
	if err != nil {
		return false, err
	}
	sa, _ := ia.Sys().(*host.Sys)
	sb, _ := ib.Sys().(*host.Sys)
	if sa == nil || sb == nil {
		return false, nil
	}
	return sa.Inode == sb.Inode && sa.Dev == sb.Dev, nil
}

// treeSize adds up the sizes of the regular files under root on h,
// reading no content.
func treeSize(ctx context.Context, h host.Host, root string) (files int, bytes int64, err error) {
	fi, err := h.Stat(ctx, root)
	if err != nil {
		return 0, 0, err
	}
	if fi.Mode().IsRegular() {
		return 1, fi.Size(), nil
	}
	var walk func(d string) error
	walk = func(d string) error {
		entries, err := h.ReadDir(ctx, d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			switch {
			case e.IsDir():
				if err := walk(filepath.Join(d, e.Name())); err != nil {
					return err
				}
			case e.Mode().IsRegular():
				files++
				bytes += e.Size()
			}
		}
		return nil
	}
	err = walk(root)
	return files, bytes, err
}

// chownTree gives everything under root on h to uid/gid: restored files
// must belong to the node's user, whoever took the backup. It runs
// chown(1) there, an argv (POSIX -R; -h so that a link is changed, not
// its target).
func chownTree(ctx context.Context, h host.Host, root string, owner [2]int) error {
	_, err := h.Run(ctx, host.Command{
		Argv: []string{"chown", "-R", "-h", strconv.Itoa(owner[0]) + ":" + strconv.Itoa(owner[1]), "--", root},
	})
	return err
}

// ownerOf returns the uid and gid of p on h.
func ownerOf(ctx context.Context, h host.Host, p string) (*[2]int, error) {
	info, err := h.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	st, ok := info.Sys().(*host.Sys)
	if !ok || st == nil {
		return nil, nil
	}
	return &[2]int{int(st.UID), int(st.GID)}, nil
}

// runningAsRoot reports whether drillbook may give files to another user
// on h: `id -u` there (POSIX, an argv) says 0.
func runningAsRoot(ctx context.Context, h host.Host) bool {
	oc, err := h.Run(ctx, host.Command{Argv: []string{"id", "-u"}, Capture: 64})
	return err == nil && strings.TrimSpace(oc.Stdout) == "0"
}
