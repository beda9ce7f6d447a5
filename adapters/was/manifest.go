package was

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
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
	if err := file.WriteAtomic(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
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

// sumFile returns a regular file's size and SHA-256.
func sumFile(ctx context.Context, path string) (int64, string, error) {
	if fi, err := os.Stat(path); err != nil {
		return 0, "", err
	} else if !fi.Mode().IsRegular() {
		return 0, "", fmt.Errorf("%s is not a regular file", path)
	}
	m, err := file.BuildManifest(ctx, path)
	if err != nil {
		return 0, "", err
	}
	return m.Entries[0].Size, m.Entries[0].SHA256, nil
}

// sumTree lists every regular file under root (relative to base), sorted.
// Directories and symbolic links are not listed.
func sumTree(ctx context.Context, base, root string) ([]FileSum, error) {
	prefix, err := filepath.Rel(base, root)
	if err != nil {
		return nil, err
	}
	m, err := file.BuildManifest(ctx, root)
	if err != nil {
		return nil, err
	}
	var out []FileSum
	for _, e := range m.Entries {
		if e.Type == file.TypeFile {
			out = append(out, FileSum{Path: filepath.Join(prefix, filepath.FromSlash(e.Path)), Size: e.Size, SHA256: e.SHA256})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// verifyPart checks that every file of a part is still as recorded: the
// part's files are a manifest of the backup directory, which may hold
// other parts besides.
func verifyPart(ctx context.Context, dir string, p Part) error {
	if len(p.Files) == 0 {
		return fmt.Errorf("the %s backup of %s records no files", p.Kind, p.Name)
	}
	m := &file.Manifest{Version: file.ManifestVersion, Root: dir}
	for _, f := range p.Files {
		m.Entries = append(m.Entries, file.Entry{Path: filepath.ToSlash(f.Path), Type: file.TypeFile, Size: f.Size, SHA256: f.SHA256})
	}
	r, err := file.Verify(ctx, dir, m)
	if err != nil {
		return fmt.Errorf("the %s backup of %s: %w", p.Kind, p.Name, err)
	}
	if len(r.Changed) > 0 {
		return fmt.Errorf("the %s backup of %s changed since it was taken (%s): do not restore from it", p.Kind, p.Name, strings.Join(r.Details, "; "))
	}
	if len(r.Missing) > 0 {
		return fmt.Errorf("the %s backup of %s is incomplete: %s missing from %s: do not restore from it", p.Kind, p.Name, strings.Join(r.Missing, ", "), dir)
	}
	return nil
}

// copyFile copies the regular file src to dst, replacing dst as a whole
// (it is never half written), and returns the copy's size and SHA-256.
func copyFile(ctx context.Context, dst, src string) (int64, string, error) {
	if fi, err := os.Stat(src); err != nil {
		return 0, "", err
	} else if !fi.Mode().IsRegular() {
		return 0, "", fmt.Errorf("%s is not a regular file", src)
	}
	m, err := file.Copy(ctx, src, dst, file.CopyOptions{Replace: true})
	if err != nil {
		return 0, "", err
	}
	return m.Entries[0].Size, m.Entries[0].SHA256, nil
}
