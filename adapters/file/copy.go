package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drillbook/drillbook/adapters/internal/flock"
)

// CopyOptions change how Copy works.
type CopyOptions struct {
	// Replace allows dst to exist: it is replaced, as a whole, by the copy.
	// This destroys dst; the zero value refuses to touch an existing dst.
	Replace bool
	// Progress, when not nil, is called after each file with the files and
	// bytes copied so far.
	Progress func(files int, bytes int64)
}

// Copy copies src (a file, or a directory and everything under it) to dst
// and returns a manifest of what it copied, hashed while copying.
//
// Modes, modification times and, when drillbook runs as root, owners are
// kept; symbolic links are copied as links; devices, pipes and sockets are
// refused. Every file and directory is synced before Copy returns. When
// dst exists and opts.Replace is not set the error wraps fs.ErrExist.
//
// The copy is made in a hidden directory next to dst and moved into place
// only once it is complete, so dst is never left half written: when Copy
// fails (a read error, ctx cancelled) dst is as it was. With
// opts.Replace an existing dst is swapped for the copy in one atomic rename
// where the file system supports it (Linux renameat2 RENAME_EXCHANGE),
// otherwise in two renames, and then removed.
//
// The hidden directory is locked (flock) while Copy works in it. A copy
// killed half way (kill -9, a crash) leaves it behind; the next Copy to the
// same dst finds it unlocked and removes it first, after putting back an
// old dst that a two-rename replace had moved aside, so a rerun is never
// refused, nor left with litter, because of an earlier copy's leftovers.
func Copy(ctx context.Context, src, dst string, opts CopyOptions) (*Manifest, error) {
	srcInfo, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", src, err)
	}
	dstAbs, err := filepath.Abs(dst)
	if err != nil {
		return nil, fmt.Errorf("copy to %s: %w", dst, err)
	}
	srcAbs, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", src, err)
	}
	if srcInfo.IsDir() && (dstAbs == srcAbs || isUnder(dstAbs, srcAbs)) {
		return nil, fmt.Errorf("cannot copy %s into itself (%s): choose a destination outside it", src, dst)
	}
	parent := filepath.Dir(dstAbs)
	if err := cleanStaging(parent, filepath.Base(dstAbs)); err != nil {
		return nil, fmt.Errorf("copy to %s: %w", dst, err)
	}
	dstExists := false
	if _, err := os.Lstat(dst); err == nil {
		dstExists = true
		if !opts.Replace {
			return nil, fmt.Errorf("%s already exists: copy will not overwrite it; use file.replace (a destructive step) or choose a new destination: %w", dst, fs.ErrExist)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create the parent directory of %s: %w", dst, err)
	}
	stageDir, err := os.MkdirTemp(parent, stagingPrefix(filepath.Base(dstAbs)))
	if err != nil {
		return nil, fmt.Errorf("copy to %s: create a staging directory next to it: %w", dst, err)
	}
	unlock, err := lockStaging(stageDir)
	if err != nil {
		removeTree(stageDir)
		return nil, fmt.Errorf("copy to %s: lock the staging directory %s: %w", dst, stageDir, err)
	}
	defer func() {
		removeTree(stageDir)
		unlock()
	}()
	stage := filepath.Join(stageDir, "new")

	c := &copier{ctx: ctx, bufs: [][]byte{make([]byte, bufSize), make([]byte, bufSize), make([]byte, bufSize)}, root: os.Geteuid() == 0, progress: opts.Progress}
	c.m = &Manifest{Version: ManifestVersion, Root: src, Taken: time.Now().UTC()}
	if err := c.tree(src, stage); err != nil {
		return nil, fmt.Errorf("copy %s to %s: %w (%s is unchanged)", src, dst, err, dst)
	}
	c.m.sort()

	if err := place(stage, dstAbs, stageDir, dstExists); err != nil {
		return nil, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := syncDir(parent); err != nil {
		return nil, fmt.Errorf("copy %s to %s: sync %s: %w", src, dst, parent, err)
	}
	return c.m, nil
}

func isUnder(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != ".."+string(filepath.Separator))
}

// place moves the finished copy at stage to dst. When dst exists it is
// swapped out into stageDir (which the caller removes).
func place(stage, dst, stageDir string, dstExists bool) error {
	if !dstExists {
		err := renameNoReplace(stage, dst)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY):
			return fmt.Errorf("%s appeared while copying: it was left alone: %w", dst, fs.ErrExist)
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL):
			// The file system cannot do it atomically: check, then rename.
			if _, err := os.Lstat(dst); err == nil {
				return fmt.Errorf("%s appeared while copying: it was left alone: %w", dst, fs.ErrExist)
			}
			return os.Rename(stage, dst)
		}
		return err
	}
	err := renameExchange(stage, dst)
	if err == nil {
		return nil // the old dst is now at stage, removed with stageDir
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("swap the copy into place: %w", err)
	}
	old := filepath.Join(stageDir, "old")
	if err := os.Rename(dst, old); err != nil {
		return fmt.Errorf("move the old %s aside: %w", dst, err)
	}
	if err := os.Rename(stage, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return fmt.Errorf("move the copy into place: %w; and putting the old one back failed too, it is at %s: %v", err, old, rerr)
		}
		return fmt.Errorf("move the copy into place: %w (the old one was put back)", err)
	}
	return nil
}

type copier struct {
	ctx      context.Context
	bufs     [][]byte
	root     bool // running as root: keep owners
	m        *Manifest
	progress func(int, int64)
	dirs     []dirFix
}

// dirFix is a directory whose mode and time are set once its content is
// written (writing into it changes its time; a read-only mode would stop
// the writes).
type dirFix struct {
	path  string
	mode  fs.FileMode
	mtime time.Time
}

func (c *copier) tree(src, stage string) error {
	err := walk(src, func(rel, path string, fi fs.FileInfo) error {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		e, err := entryOf(rel, path, fi)
		if err != nil {
			return err
		}
		target := filepath.Join(stage, filepath.FromSlash(rel))
		switch e.Type {
		case TypeDir:
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			c.dirs = append(c.dirs, dirFix{target, e.Mode.FileMode(), fi.ModTime()})
		case TypeSymlink:
			if err := os.Symlink(e.Target, target); err != nil {
				return err
			}
			ts := []unix.Timespec{unix.NsecToTimespec(fi.ModTime().UnixNano()), unix.NsecToTimespec(fi.ModTime().UnixNano())}
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("set the time of link %s: %w", target, err)
			}
		case TypeFile:
			sum, n, err := c.file(path, target, fi)
			if err != nil {
				return err
			}
			e.SHA256, e.Size = sum, n
			if err := os.Chtimes(target, time.Time{}, fi.ModTime()); err != nil {
				return err
			}
		}
		if e.Type != TypeFile {
			if err := c.chown(target, fi); err != nil {
				return err
			}
		}
		c.m.add(e)
		if e.Type == TypeFile && c.progress != nil {
			c.progress(c.m.Files, c.m.Bytes)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deepest directories first: setting a child's time touches no parent,
	// but its mode might forbid the parent's later changes.
	for i := len(c.dirs) - 1; i >= 0; i-- {
		d := c.dirs[i]
		if err := syncDir(d.path); err != nil {
			return err
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return err
		}
		if err := os.Chtimes(d.path, time.Time{}, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// chown gives target the owner of fi when drillbook runs as root (a
// restored msg_stores must belong to the broker's user, not to root).
func (c *copier) chown(target string, fi fs.FileInfo) error {
	if !c.root {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Lchown(target, int(st.Uid), int(st.Gid))
}

// file copies one regular file, hashing what it writes, and syncs it. The
// owner is set before the mode, since chown clears setuid and setgid.
func (c *copier) file(src, dst string, fi fs.FileInfo) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := c.stream(out, in, h)
	if err == nil {
		err = c.chown(dst, fi)
	}
	if err == nil {
		err = out.Chmod(PermOf(fi.Mode()).FileMode())
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// stream copies in to out and h, checking ctx between blocks. The hash
// runs in a second goroutine on the block just read while the main one
// writes it, so hashing costs almost no wall time on a machine with two
// cores.
func (c *copier) stream(out io.Writer, in io.Reader, h io.Writer) (int64, error) {
	free := make(chan []byte, len(c.bufs))
	for _, b := range c.bufs {
		free <- b
	}
	work := make(chan []byte, len(c.bufs))
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range work {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	defer func() { close(work); <-hashed }()
	var n int64
	for {
		if err := c.ctx.Err(); err != nil {
			return n, err
		}
		b := <-free
		k, rerr := in.Read(b)
		if k > 0 {
			if _, err := out.Write(b[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			work <- b[:k]
		} else {
			free <- b
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// stagingPrefix is the name a copy to base stages in, next to it, before a
// random suffix: ".msg_stores.drillbook-".
func stagingPrefix(base string) string { return "." + base + ".drillbook-" }

// stagingLock is the file, inside a staging directory, that its copy holds
// an exclusive flock on while it works.
const stagingLock = "lock"

// lockStaging takes the staging directory's lock; the kernel releases it
// when the process dies, which is how a later Copy tells a leftover from a
// copy at work.
func lockStaging(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, stagingLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock.TryLock(f, true); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// staleAfter is how old a staging directory without a lock file must be
// before it counts as a leftover: one that young may belong to a copy that
// has made it and not yet taken its lock.
const staleAfter = time.Minute

// cleanStaging removes the staging directories that earlier copies to base
// in parent left behind when they were killed: those whose lock nobody
// holds. When one holds the old base that a two-rename replace moved aside
// and base is missing, the old base is put back first.
func cleanStaging(parent, base string) error {
	matches, err := filepath.Glob(filepath.Join(parent, globEscape(stagingPrefix(base))+"*"))
	if err != nil {
		return err
	}
	for _, dir := range matches {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, stagingLock), os.O_RDWR, 0)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if time.Since(fi.ModTime()) < staleAfter {
				continue
			}
		case err != nil:
			return fmt.Errorf("check the leftover staging directory %s: %w", dir, err)
		default:
			lerr := flock.TryLock(f, true)
			if lerr != nil {
				f.Close()
				if errors.Is(lerr, flock.ErrHeld) {
					continue // a copy at work, in this or another process
				}
				return fmt.Errorf("check the leftover staging directory %s: %w", dir, lerr)
			}
			defer f.Close() // hold it until the directory is gone
		}
		dst := filepath.Join(parent, base)
		old := filepath.Join(dir, "old")
		if _, err := os.Lstat(old); err == nil {
			if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(old, dst); err != nil {
					return fmt.Errorf("put back %s, which an interrupted replace left at %s: %w", dst, old, err)
				}
			}
		}
		if err := removeTree(dir); err != nil {
			return fmt.Errorf("remove the leftover staging directory %s of an interrupted copy: %w", dir, err)
		}
	}
	return nil
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// removeTree removes a tree even where a copied read-only directory would
// stop a user who is not root from deleting its entries.
func removeTree(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

// Same reports whether dst holds exactly what src holds, as a finished Copy
// leaves it: the same entries, each with the same type, mode, modification
// time, size, SHA-256 and link target. It returns dst's manifest. A rerun
// of a copy interrupted after its copy was moved into place (before its
// result was recorded) uses it to find its work done.
func Same(ctx context.Context, src, dst string) (*Manifest, bool, error) {
	a, err := BuildManifest(ctx, src)
	if err != nil {
		return nil, false, err
	}
	b, err := BuildManifest(ctx, dst)
	if err != nil {
		return nil, false, err
	}
	if len(a.Entries) != len(b.Entries) {
		return b, false, nil
	}
	for i := range a.Entries {
		x, y := a.Entries[i], b.Entries[i]
		if x.Path != y.Path || x.Type != y.Type || x.Mode != y.Mode || !x.MTime.Equal(y.MTime) ||
			x.Size != y.Size || x.SHA256 != y.SHA256 || x.Target != y.Target {
			return b, false, nil
		}
	}
	return b, true, nil
}
