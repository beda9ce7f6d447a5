package messagesight

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// TreeDigest summarises a directory tree: how many files, how many bytes,
// and a SHA-256 over every relative path, size and content hash, so two
// copies of a store compare equal exactly when their files do.
type TreeDigest struct {
	// Files counts the regular files of the tree.
	Files int `json:"files"`
	// Bytes is their total size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the hex digest over every path, size and content hash; ""
	// when the tree could not be read (a copy on another machine).
	SHA256 string `json:"sha256"`
}

// DigestTree hashes the tree under dir (through file.BuildManifest).
// Symbolic links and special files are refused: a store holds regular
// files only.
func DigestTree(ctx context.Context, dir string) (TreeDigest, error) {
	return digestOn(ctx, host.NewLocal(""), dir)
}

// digestOn hashes the tree under dir where it lies, on h: only the
// manifest crosses the connection, never the files.
func digestOn(ctx context.Context, h host.Host, dir string) (TreeDigest, error) {
	m, err := h.Manifest(ctx, dir)
	if err != nil {
		return TreeDigest{}, err
	}
	return digestOf(m, dir)
}

// digestOf reduces the manifest of the tree at root to its digest: a
// SHA-256 over every directory's path and every file's path, size and
// content hash, one sorted line each. Manifests written by earlier
// versions hold this digest, so its form must not change.
func digestOf(m *file.Manifest, root string) (TreeDigest, error) {
	d := TreeDigest{Files: m.Files, Bytes: m.Bytes}
	lines := make([]string, 0, len(m.Entries))
	for _, e := range m.Entries {
		switch e.Type {
		case file.TypeDir:
			if e.Path != "." {
				lines = append(lines, e.Path+"/")
			}
		case file.TypeFile:
			lines = append(lines, e.Path+"\x00"+strconv.FormatInt(e.Size, 10)+"\x00"+e.SHA256)
		default:
			return TreeDigest{}, fmt.Errorf("%s is not a regular file or directory: a store holds regular files only", filepath.Join(root, filepath.FromSlash(e.Path)))
		}
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l+"\n")
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// fileDigest returns the name, size and SHA-256 of one regular file.
func fileDigest(ctx context.Context, h host.Host, path string) (FileDigest, error) {
	if fi, err := h.Stat(ctx, path); err != nil {
		return FileDigest{}, err
	} else if !fi.Mode().IsRegular() {
		return FileDigest{}, fmt.Errorf("%s is not a regular file", path)
	}
	m, err := h.Manifest(ctx, path)
	if err != nil {
		return FileDigest{}, err
	}
	e := m.Entries[0]
	return FileDigest{Name: filepath.Base(path), Size: e.Size, SHA256: e.SHA256}, nil
}

// namedFiles is how many copied files copyTree names before it only counts
// them, so a store of thousands of files does not flood the screen.
const namedFiles = 20

// copyTree copies the store under src to dst on this machine (copyTreeOn).
func copyTree(ctx context.Context, src, dst string, out runbook.Output) (TreeDigest, error) {
	l := host.NewLocal("")
	return copyTreeOn(ctx, l, src, l, dst, false, out)
}

// copyTreeOn copies the store under src on sh to dst on dh with
// host.Transfer: within one host file.Copy runs there (modes and times
// kept, every file synced, dst never left half written); between two the
// tree is streamed and checked against the SHA-256 the source computed.
// dst must not exist yet unless replace is set, when it is swapped for the
// copy once the copy is complete. It names the first files copied, and
// returns the digest of the tree as it was read while copying.
func copyTreeOn(ctx context.Context, sh host.Host, src string, dh host.Host, dst string, replace bool, out runbook.Output) (TreeDigest, error) {
	if !replace && exists(ctx, dh, dst) {
		return TreeDigest{}, fmt.Errorf("copy %s to %s: %s already exists: choose a new directory, a copy never merges into an old one", src, dst, dst)
	}
	if sh.Name() != dh.Name() {
		out.Line(runbook.Info, fmt.Sprintf("streaming %s from %s to %s on %s", src, sh, dst, dh))
	}
	m, err := host.Transfer(ctx, sh, src, dh, dst, file.CopyOptions{Replace: replace, Progress: func(files int, bytes int64) {
		if files%500 == 0 {
			out.Line(runbook.Info, fmt.Sprintf("copied %d files (%d bytes)", files, bytes))
		}
	}})
	if err != nil {
		return TreeDigest{}, err
	}
	named := 0
	for _, e := range m.Entries {
		if e.Type == file.TypeFile && named < namedFiles {
			out.Line(runbook.Info, "copied "+e.Path)
			named++
		}
	}
	if m.Files > named {
		out.Line(runbook.Info, fmt.Sprintf("and %d more files", m.Files-named))
	}
	d, err := digestOf(m, src)
	if err != nil {
		// Not a store (it holds a link): the copy, new, goes again.
		if !replace {
			dh.RemoveAll(ctx, dst)
		}
		return TreeDigest{}, err
	}
	return d, nil
}

// expandArgv replaces {src} and {dst} inside each element: the result is an
// argv, never a shell string.
func expandArgv(argv []string, src, dst string) []string {
	r := strings.NewReplacer("{src}", src, "{dst}", dst)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}
