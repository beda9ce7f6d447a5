package was

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// ManifestName is the file, in a backup directory, that records every part
// of one backup set: what was copied, its size and SHA-256, and when.
const ManifestName = "drillbook-backup.json"

// Manifest is one backup set: the configuration, data stores and file
// stores that belong together.
type Manifest struct {
	// Parts are the pieces, in the order they were taken.
	Parts []Part `json:"parts"`
	// SealedAt is when was.seal-backup checked the set, zero before.
	SealedAt time.Time `json:"sealed_at,omitzero"`
	// Skew is the time between the first and the last part, as sealed.
	Skew string `json:"skew,omitempty"`
}

// Part is one piece of a backup set.
type Part struct {
	// Kind is config, datastore or filestore.
	Kind string `json:"kind"`
	// Name is the engine (stores) or the archive name (config).
	Name string `json:"name"`
	// TakenAt is when the copy finished.
	TakenAt time.Time `json:"taken_at"`
	// Files are relative to the backup directory.
	Files []FileSum `json:"files"`
}

// FileSum is one file's size and digest.
type FileSum struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ReadManifest reads dir's manifest; a missing one is an empty manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read backup manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup manifest %s is damaged: %w", filepath.Join(dir, ManifestName), err)
	}
	return m, nil
}

// writeManifest replaces dir's manifest atomically.
func writeManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write backup manifest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestName)); err != nil {
		return fmt.Errorf("write backup manifest: %w", err)
	}
	return nil
}

// addPart records a part, replacing an earlier part of the same kind and
// name (a retried backup).
func addPart(dir string, p Part) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	kept := m.Parts[:0]
	for _, old := range m.Parts {
		if old.Kind != p.Kind || old.Name != p.Name {
			kept = append(kept, old)
		}
	}
	m.Parts = append(kept, p)
	m.SealedAt, m.Skew = time.Time{}, ""
	return writeManifest(dir, m)
}

// findPart returns the recorded part.
func (m Manifest) findPart(kind, name string) (Part, bool) {
	for _, p := range m.Parts {
		if p.Kind == kind && p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// sumFile returns a file's size and SHA-256.
func sumFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// sumTree lists every regular file under root (relative to base), sorted.
func sumTree(base, root string) ([]FileSum, error) {
	var out []FileSum
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		n, sum, err := sumFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		out = append(out, FileSum{Path: rel, Size: n, SHA256: sum})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// verifyPart checks that every file of a part is still as recorded.
func verifyPart(dir string, p Part) error {
	if len(p.Files) == 0 {
		return fmt.Errorf("the %s backup of %s records no files", p.Kind, p.Name)
	}
	for _, f := range p.Files {
		n, sum, err := sumFile(filepath.Join(dir, f.Path))
		if err != nil {
			return fmt.Errorf("backup file %s: %w", f.Path, err)
		}
		if n != f.Size || sum != f.SHA256 {
			return fmt.Errorf("backup file %s changed since it was taken (size %d, recorded %d; digest differs: %t): do not restore from it", f.Path, n, f.Size, sum != f.SHA256)
		}
	}
	return nil
}

// copyFile copies src to dst through a temporary file renamed into place,
// so dst is never half written, and returns the copy's size and SHA-256.
func copyFile(dst, src string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, "", err
	}
	tmp := dst + ".drillbook-tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
