package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// ManifestVersion is the version of the manifest format this package writes
// and the only one it reads.
const ManifestVersion = 1

// Manifest lists every entry of a file tree (a file store, a store backup,
// a RabbitMQ msg_stores directory) with what is needed to prove later that
// a copy of it is complete and unchanged. It is written as indented JSON:
//
//	{
//	  "version": 1,
//	  "root": "/var/lib/rabbitmq/mnesia/rabbit@host/msg_stores",
//	  "taken": "2026-11-23T03:12:45.123456789Z",
//	  "files": 2,
//	  "bytes": 16384,
//	  "entries": [
//	    {"path": ".", "type": "dir", "mode": "0750", "mtime": "..."},
//	    {"path": "vhosts", "type": "dir", "mode": "0750", "mtime": "..."},
//	    {"path": "vhosts/628W/msg_store_persistent/0.rdq", "type": "file",
//	     "size": 16384, "mode": "0640", "mtime": "...", "sha256": "9f86d0..."},
//	    {"path": "current", "type": "symlink", "mode": "0777", "mtime": "...",
//	     "target": "vhosts"}
//	  ]
//	}
type Manifest struct {
	// Version is ManifestVersion.
	Version int `json:"version"`
	// Root is the file or directory the manifest describes, as it was
	// named when the manifest was taken (informative: Verify takes the
	// directory to check as an argument).
	Root string `json:"root"`
	// Taken is when the manifest was taken, in UTC.
	Taken time.Time `json:"taken"`
	// Files counts the regular files.
	Files int `json:"files"`
	// Bytes is the total size of the regular files.
	Bytes int64 `json:"bytes"`
	// Entries lists the root itself (path ".") and everything under it,
	// sorted by Path.
	Entries []Entry `json:"entries"`
}

// EntryType is the kind of a manifest entry.
type EntryType string

// The kinds of entry a manifest holds; other file types (devices, pipes,
// sockets) are refused.
const (
	TypeFile    EntryType = "file"
	TypeDir     EntryType = "dir"
	TypeSymlink EntryType = "symlink"
)

// Entry is one file, directory or symbolic link of a manifest.
type Entry struct {
	// Path is relative to the root, with forward slashes; "." is the root.
	Path string `json:"path"`
	// Type says what the entry is.
	Type EntryType `json:"type"`
	// Size is a file's size in bytes; zero for directories and links.
	Size int64 `json:"size,omitempty"`
	// Mode holds the permission bits and the setuid, setgid and sticky
	// bits.
	Mode Perm `json:"mode"`
	// MTime is the modification time.
	MTime time.Time `json:"mtime"`
	// SHA256 is the hex SHA-256 of a file's content; empty for others.
	SHA256 string `json:"sha256,omitempty"`
	// Target is a symbolic link's target, as stored in the link.
	Target string `json:"target,omitempty"`
}

// Perm is a file mode's permission, setuid, setgid and sticky bits, written
// in JSON as a four-digit octal string ("0644", "4755").
type Perm fs.FileMode

// PermOf returns the Perm part of a file mode.
func PermOf(m fs.FileMode) Perm {
	return Perm(m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
}

// FileMode returns the permission as an fs.FileMode, for os.Chmod.
func (p Perm) FileMode() fs.FileMode { return fs.FileMode(p) }

// String renders the mode as octal digits, the way chmod takes it.
func (p Perm) String() string {
	m := fs.FileMode(p)
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// MarshalJSON writes the mode as an octal string.
func (p Perm) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads an octal string such as "0644".
func (p *Perm) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be an octal string such as \"0644\": %w", err)
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return fmt.Errorf("mode %q is not an octal permission such as \"0644\"", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	*p = Perm(m)
	return nil
}

// add appends an entry and keeps the totals.
func (m *Manifest) add(e Entry) {
	m.Entries = append(m.Entries, e)
	if e.Type == TypeFile {
		m.Files++
		m.Bytes += e.Size
	}
}

func (m *Manifest) sort() {
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Path < m.Entries[j].Path })
}

// WriteManifest writes m to path as indented JSON, atomically: a reader
// sees the old file or the whole new one, never half of it.
func WriteManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	b = append(b, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	if err := WriteAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return nil
}

// ReadManifest reads and checks a manifest written by WriteManifest.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s is not a drillbook manifest: %w", path, err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest %s has version %d: this drillbook reads version %d", path, m.Version, ManifestVersion)
	}
	seen := make(map[string]bool, len(m.Entries))
	for i, e := range m.Entries {
		switch {
		case e.Path == "" || e.Path != "." && (!fs.ValidPath(e.Path)):
			return nil, fmt.Errorf("manifest %s: entry %d has path %q: paths must be relative, with / and no . or .. parts", path, i, e.Path)
		case seen[e.Path]:
			return nil, fmt.Errorf("manifest %s: %q is listed twice", path, e.Path)
		case e.Type != TypeFile && e.Type != TypeDir && e.Type != TypeSymlink:
			return nil, fmt.Errorf("manifest %s: %q has type %q: want file, dir or symlink", path, e.Path, e.Type)
		case e.Type == TypeFile && len(e.SHA256) != sha256.Size*2:
			return nil, fmt.Errorf("manifest %s: file %q has no valid sha256", path, e.Path)
		}
		seen[e.Path] = true
	}
	return &m, nil
}

// BuildManifest hashes every file under root (or root itself when it is a
// file) and returns the manifest. ignore lists paths relative to root, with
// forward slashes, to leave out (a manifest written inside the tree).
func BuildManifest(ctx context.Context, root string, ignore ...string) (*Manifest, error) {
	skip := toSet(ignore)
	m := &Manifest{Version: ManifestVersion, Root: root, Taken: time.Now().UTC()}
	buf := make([]byte, bufSize)
	err := walk(root, func(rel, path string, fi fs.FileInfo) error {
		if skip[rel] {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := entryOf(rel, path, fi)
		if err != nil {
			return err
		}
		if e.Type == TypeFile {
			sum, n, err := hashFile(ctx, path, buf)
			if err != nil {
				return err
			}
			e.SHA256, e.Size = sum, n
		}
		m.add(e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", root, err)
	}
	m.sort()
	return m, nil
}

// entryOf describes a file system object, without its hash.
func entryOf(rel, path string, fi fs.FileInfo) (Entry, error) {
	e := Entry{Path: rel, Mode: PermOf(fi.Mode()), MTime: fi.ModTime().UTC()}
	switch t := fi.Mode().Type(); {
	case t == 0:
		e.Type, e.Size = TypeFile, fi.Size()
	case t == fs.ModeDir:
		e.Type = TypeDir
	case t == fs.ModeSymlink:
		e.Type = TypeSymlink
		target, err := os.Readlink(path)
		if err != nil {
			return e, err
		}
		e.Target = target
	default:
		return e, fmt.Errorf("%s is a %s: only files, directories and symbolic links can be copied or listed", path, typeName(t))
	}
	return e, nil
}

func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// walk calls fn for root (rel ".") and everything under it, parents before
// children, in lexical order. Symbolic links are not followed, except root
// itself.
func walk(root string, fn func(rel, path string, fi fs.FileInfo) error) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if err := fn(".", root, fi); err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), path, info)
	})
}

// bufSize is the read buffer for copying and hashing.
const bufSize = 1 << 20

func hashFile(ctx context.Context, path string, buf []byte) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", n, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func toSet(list []string) map[string]bool {
	s := make(map[string]bool, len(list))
	for _, p := range list {
		s[p] = true
	}
	return s
}

// VerifyReport is the result of checking a tree against a manifest.
type VerifyReport struct {
	// Checked counts the manifest entries that were found and match.
	Checked int
	// Bytes is the total size of the files that were hashed.
	Bytes int64
	// Missing lists the paths in the manifest that are not in the tree.
	Missing []string
	// Extra lists the paths in the tree that are not in the manifest.
	Extra []string
	// Changed lists the paths whose type, size, content or link target
	// differ from the manifest.
	Changed []string
	// Details say, one line per changed path, what differs.
	Details []string
	// Notes are differences that do not fail the check (permissions).
	Notes []string
}

// OK reports whether the tree matches the manifest.
func (r *VerifyReport) OK() bool {
	return len(r.Missing) == 0 && len(r.Extra) == 0 && len(r.Changed) == 0
}

// String summarises the report in one line, naming the paths that differ.
func (r *VerifyReport) String() string {
	if r.OK() {
		return fmt.Sprintf("all %d entries match (%s hashed)", r.Checked, humanBytes(r.Bytes))
	}
	var parts []string
	for _, g := range []struct {
		what  string
		paths []string
	}{{"changed", r.Changed}, {"missing", r.Missing}, {"extra", r.Extra}} {
		if len(g.paths) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(g.paths), g.what, listNames(g.paths, 10)))
		}
	}
	return strings.Join(parts, ", ")
}

func listNames(paths []string, max int) string {
	if len(paths) <= max {
		return strings.Join(paths, ", ")
	}
	return strings.Join(paths[:max], ", ") + fmt.Sprintf(" and %d more", len(paths)-max)
}

// Verify checks the tree at root against m: every entry must be there with
// the same type; files must have the same size and SHA-256, links the same
// target. Permission differences are noted but do not fail. ignore lists
// paths relative to root to leave out (the manifest itself, when it lies
// inside the tree). The error is for a tree that cannot be read; a tree that
// differs gives a report whose OK is false.
func Verify(ctx context.Context, root string, m *Manifest, ignore ...string) (*VerifyReport, error) {
	skip := toSet(ignore)
	want := make(map[string]*Entry, len(m.Entries))
	for i := range m.Entries {
		want[m.Entries[i].Path] = &m.Entries[i]
	}
	r := &VerifyReport{}
	seen := make(map[string]bool, len(m.Entries))
	buf := make([]byte, bufSize)
	err := walk(root, func(rel, path string, fi fs.FileInfo) error {
		if skip[rel] {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w, ok := want[rel]
		if !ok {
			r.Extra = append(r.Extra, rel)
			return nil
		}
		seen[rel] = true
		got, err := entryOf(rel, path, fi)
		if err != nil {
			r.Changed = append(r.Changed, rel)
			r.Details = append(r.Details, fmt.Sprintf("%s: %v", rel, err))
			return nil
		}
		changed := func(format string, args ...any) {
			r.Changed = append(r.Changed, rel)
			r.Details = append(r.Details, rel+": "+fmt.Sprintf(format, args...))
		}
		switch {
		case got.Type != w.Type:
			changed("is a %s, the manifest has a %s", got.Type, w.Type)
			return nil
		case got.Type == TypeFile && got.Size != w.Size:
			changed("size %d, the manifest has %d", got.Size, w.Size)
			return nil
		case got.Type == TypeSymlink && got.Target != w.Target:
			changed("links to %q, the manifest has %q", got.Target, w.Target)
			return nil
		case got.Type == TypeFile:
			sum, n, err := hashFile(ctx, path, buf)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				changed("cannot be read: %v", err)
				return nil
			}
			r.Bytes += n
			if sum != w.SHA256 {
				changed("content differs (sha256 %s, the manifest has %s)", short(sum), short(w.SHA256))
				return nil
			}
		}
		if got.Mode != w.Mode && got.Type != TypeSymlink {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: mode %s, the manifest has %s", rel, got.Mode, w.Mode))
		}
		r.Checked++
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && len(seen) == 0 && len(r.Extra) == 0 {
			return nil, fmt.Errorf("verify %s: it does not exist: %w", root, err)
		}
		return nil, fmt.Errorf("verify %s: %w", root, err)
	}
	for _, e := range m.Entries {
		if !seen[e.Path] && !skip[e.Path] {
			r.Missing = append(r.Missing, e.Path)
		}
	}
	return r, nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// humanBytes writes a byte count as people read it.
func humanBytes(n int64) string { return runbook.HumanSize(n) }
