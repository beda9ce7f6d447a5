package host

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drillbook/drillbook/adapters/file"
)

// A tree crosses from one host to another as a POSIX tar stream (PAX, so
// long names and nanosecond times survive): the root first as ".", then
// every entry under it, parents before children. Only files, directories
// and symbolic links are sent, as file.Copy copies only those.

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func newManifest(root string) *file.Manifest {
	return &file.Manifest{Version: file.ManifestVersion, Root: root, Taken: time.Now().UTC()}
}

func addEntry(m *file.Manifest, e file.Entry) {
	m.Entries = append(m.Entries, e)
	if e.Type == file.TypeFile {
		m.Files++
		m.Bytes += e.Size
	}
}

func sortManifest(m *file.Manifest) {
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
}

func sendTree(ctx context.Context, root string, w io.Writer) (*file.Manifest, error) {
	m := newManifest(root)
	tw := tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	send := func(rel, p string, fi fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			link = l
		}
		t := fi.Mode().Type()
		if t != 0 && t != fs.ModeDir && t != fs.ModeSymlink {
			return fmt.Errorf("%s is not a file, directory or link: it cannot be copied", p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("describe %s: %w", p, err)
		}
		hdr.Name, hdr.Uname, hdr.Gname, hdr.Format = rel, "", "", tar.FormatPAX
		if t == fs.ModeDir {
			hdr.Name = rel + "/"
		}
		e := file.Entry{Path: rel, Mode: file.PermOf(fi.Mode()), MTime: fi.ModTime().UTC(), Target: link}
		switch t {
		case fs.ModeDir:
			e.Type = file.TypeDir
		case fs.ModeSymlink:
			e.Type = file.TypeSymlink
		default:
			e.Type = file.TypeFile
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if e.Type == file.TypeFile {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			n, err := io.CopyBuffer(tw, io.TeeReader(ctxReader{ctx, io.LimitReader(f, fi.Size())}, h), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("send %s: %w", p, err)
			}
			if n != fi.Size() {
				return fmt.Errorf("send %s: it shrank from %d to %d bytes while being read: copy it when nothing writes to it", p, fi.Size(), n)
			}
			e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		}
		addEntry(m, e)
		return nil
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", root, err)
	}
	if err := send(".", root, fi); err != nil {
		return nil, err
	}
	if fi.IsDir() {
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return send(filepath.ToSlash(rel), p, info)
		})
		if err != nil {
			return nil, fmt.Errorf("send %s: %w", root, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("send %s: %w", root, err)
	}
	sortManifest(m)
	return m, nil
}

// receiveTree unpacks a tar stream from sendTree at dst. Entries may only
// land inside directories the stream itself created, so a hostile stream
// cannot write through a link or outside dst.
func receiveTree(ctx context.Context, dst string, r io.Reader) (m *file.Manifest, err error) {
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("receive into %s: it already exists: %w", dst, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("receive into %s: %w", dst, err)
	}
	m = newManifest(dst)
	created := false
	defer func() {
		if err != nil && created {
			os.RemoveAll(dst)
		}
	}()
	type dirFix struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirFix
	isDir := map[string]bool{}
	root := os.Geteuid() == 0
	buf := make([]byte, 1<<20)
	tr := tar.NewReader(ctxReader{ctx, r})
	first := true
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("receive into %s: %w", dst, err)
		}
		name := path.Clean(hdr.Name)
		if first != (name == ".") {
			return nil, fmt.Errorf("receive into %s: the stream does not start with its root (got %q)", dst, hdr.Name)
		}
		var target string
		if name == "." {
			target = dst
		} else {
			if !fs.ValidPath(name) || !isDir[path.Dir(name)] {
				return nil, fmt.Errorf("receive into %s: entry %q is outside the tree or not under a directory of it", dst, hdr.Name)
			}
			target = filepath.Join(dst, filepath.FromSlash(name))
		}
		first = false
		info := hdr.FileInfo()
		e := file.Entry{Path: name, Mode: file.PermOf(info.Mode()), MTime: hdr.ModTime.UTC()}
		switch hdr.Typeflag {
		case tar.TypeDir:
			e.Type = file.TypeDir
			if err := os.Mkdir(target, 0o700); err != nil {
				return nil, err
			}
			created = created || name == "."
			isDir[name] = true
			dirs = append(dirs, dirFix{target, e.Mode.FileMode(), hdr.ModTime})
		case tar.TypeSymlink:
			e.Type, e.Target = file.TypeSymlink, hdr.Linkname
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return nil, err
			}
			created = created || name == "."
			ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return nil, fmt.Errorf("set the time of link %s: %w", target, err)
			}
		case tar.TypeReg:
			e.Type = file.TypeFile
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return nil, err
			}
			created = created || name == "."
			h := sha256.New()
			n, err := io.CopyBuffer(io.MultiWriter(f, h), tr, buf)
			if err == nil && root {
				err = f.Chown(hdr.Uid, hdr.Gid)
			}
			if err == nil {
				err = f.Chmod(e.Mode.FileMode())
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Chtimes(target, time.Time{}, hdr.ModTime)
			}
			if err != nil {
				return nil, fmt.Errorf("receive %s: %w", target, err)
			}
			e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		default:
			return nil, fmt.Errorf("receive into %s: entry %q is of a kind drillbook does not copy (tar type %q)", dst, hdr.Name, hdr.Typeflag)
		}
		if root && e.Type != file.TypeFile {
			if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
				return nil, err
			}
		}
		addEntry(m, e)
	}
	if first {
		return nil, fmt.Errorf("receive into %s: the stream was empty", dst)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := syncDir(d.path); err != nil {
			return nil, err
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, err
		}
		if err := os.Chtimes(d.path, time.Time{}, d.mtime); err != nil {
			return nil, err
		}
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return nil, err
	}
	sortManifest(m)
	return m, nil
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

// sameContent compares two manifests of the same tree taken on two hosts:
// every entry's path, type, size, hash and link target. It returns the
// first difference, "" when they agree.
func sameContent(a, b *file.Manifest) string {
	if len(a.Entries) != len(b.Entries) {
		return fmt.Sprintf("%d entries sent, %d received", len(a.Entries), len(b.Entries))
	}
	for i := range a.Entries {
		x, y := a.Entries[i], b.Entries[i]
		if x.Path != y.Path || x.Type != y.Type || x.Size != y.Size || x.SHA256 != y.SHA256 || x.Target != y.Target {
			return fmt.Sprintf("%s differs: sent %s %d bytes sha256 %s, received %s %d bytes sha256 %s", x.Path, x.Type, x.Size, x.SHA256, y.Type, y.Size, y.SHA256)
		}
	}
	return ""
}
