package was

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/runbook"
)

// ManifestName is the file, in a backup set's directory, that records
// every part of the set: what was copied, its size and SHA-256, and when.
const ManifestName = "drillbook-backup.json"

// Manifest is one backup set: the configuration, data stores and file
// stores that belong together. A set is made by one backup run in a new
// directory and sealed only when every part is there and verified.
type Manifest struct {
	// SetID identifies the set; every part records the set it was taken
	// for, so a part copied in from another set shows.
	SetID string `json:"set_id"`
	// Cell is the cell the set was taken from; empty when unknown.
	Cell string `json:"cell,omitempty"`
	// StartedAt is when the backup run made the set.
	StartedAt time.Time `json:"started_at,omitzero"`
	// Parts are the pieces, in the order they were taken.
	Parts []Part `json:"parts"`
	// SealedAt is when was.seal-backup checked the set, zero before: an
	// unsealed set is incomplete (the backup did not finish).
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
	// SetID is the set the part was taken for.
	SetID string `json:"set_id,omitempty"`
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

// ErrNoManifest is wrapped by ReadManifest's error for a directory that
// holds no backup set.
var ErrNoManifest = errors.New("no drillbook backup manifest")

// ReadManifest reads a set's manifest.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := readSmallFile(filepath.Join(dir, ManifestName), 64<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%w in %s: it is not a backup set drillbook made", ErrNoManifest, dir)
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

// setName is a set's directory name: the UTC time the backup started,
// sortable (20261123T092319Z).
func setName(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// newSet makes a new set directory under root and its unsealed manifest.
// The directory must not exist: a set is never written over (two backups
// started in the same second get -2, -3...).
func newSet(root, cell string, now time.Time) (string, Manifest, error) {
	if err := writableDir(root); err != nil {
		return "", Manifest{}, fmt.Errorf("backup root: %w: create it (was.backup_root in targets.yaml) or fix its permissions", err)
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	m := Manifest{SetID: hex.EncodeToString(id), Cell: cell, StartedAt: now.UTC().Truncate(time.Millisecond)}
	base := setName(now)
	for i := 1; i < 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		dir := filepath.Join(root, name)
		err := makeNewDir(dir)
		if err != nil {
			if _, serr := statPath(dir); serr == nil {
				continue // taken: try the next name
			}
			return "", m, err
		}
		return dir, m, writeManifest(dir, m)
	}
	return "", m, fmt.Errorf("could not make a new backup set under %s: 99 sets started at %s", root, base)
}

// addPart records a part of the set in dir, replacing an earlier part of
// the same kind and name (a retried copy in the same run). The set must
// have been made by newSet, and adding a part unseals it.
func addPart(dir string, p Part) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if m.SetID == "" {
		return fmt.Errorf("%s was not made as a backup set by this drillbook (no set id): start a new backup set", dir)
	}
	if !m.SealedAt.IsZero() {
		return fmt.Errorf("the backup set %s is sealed: a sealed set is never added to; start a new backup", dir)
	}
	p.SetID = m.SetID
	kept := m.Parts[:0]
	for _, old := range m.Parts {
		if old.Kind != p.Kind || old.Name != p.Name {
			kept = append(kept, old)
		}
	}
	m.Parts = append(kept, p)
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

// problem says what makes the set unfit for a restore without an
// override: not sealed (incomplete), or mixed (a part taken for another
// set). Empty when there is nothing.
func (m Manifest) problem() string {
	if m.SetID == "" {
		return "not a drillbook backup set (no set id)"
	}
	for _, p := range m.Parts {
		if p.SetID != m.SetID {
			return fmt.Sprintf("mixed: its %s part %s was taken for another backup set", p.Kind, p.Name)
		}
	}
	if m.SealedAt.IsZero() {
		return "not sealed: the backup did not finish, so the set is incomplete"
	}
	return ""
}

// checkSet reads a set and refuses it when it is unsealed or mixed,
// unless accept gives the operator's reason, which comes back as a
// warning for the report.
func checkSet(dir, accept string) (Manifest, []string, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return m, nil, err
	}
	prob := m.problem()
	if prob == "" {
		return m, nil, nil
	}
	if strings.TrimSpace(accept) == "" {
		return m, nil, fmt.Errorf("the backup set %s is %s: restore from a sealed set (drillbook backups lists them), or give the reason to use this one in accept_unsealed", dir, prob)
	}
	return m, []string{fmt.Sprintf("restoring from backup set %s although it is %s; the operator's reason: %s", dir, prob, accept)}, nil
}

// sumFile returns a regular file's size and SHA-256.
func sumFile(ctx context.Context, path string) (int64, string, error) {
	if err := isFile(path); err != nil {
		return 0, "", err
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
	if err := isFile(src); err != nil {
		return 0, "", err
	}
	m, err := file.Copy(ctx, src, dst, file.CopyOptions{Replace: true})
	if err != nil {
		return 0, "", err
	}
	return m.Entries[0].Size, m.Entries[0].SHA256, nil
}

// Backups lists the backup sets under the target's backup root, newest
// first: each with its parts, whether it is sealed, and what is wrong with
// it. A directory without a manifest is listed with that problem, so
// nothing under the root goes unseen.
func Backups(ctx context.Context, cfg Config) ([]runbook.BackupSet, error) {
	if cfg.BackupRoot == "" {
		return nil, errors.New("the target has no WebSphere backup root: set was.backup_root in targets.yaml")
	}
	names, err := dirNames(cfg.BackupRoot)
	if err != nil {
		return nil, fmt.Errorf("list backup sets: %w", err)
	}
	var out []runbook.BackupSet
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		dir := filepath.Join(cfg.BackupRoot, name)
		if isDir(dir) != nil {
			continue
		}
		out = append(out, describeSet(dir))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Taken.Equal(out[j].Taken) {
			return out[i].Taken.After(out[j].Taken)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// describeSet reads one set for a listing.
func describeSet(dir string) runbook.BackupSet {
	set := runbook.BackupSet{Product: "was", Name: filepath.Base(dir), Path: dir}
	m, err := ReadManifest(dir)
	if err != nil {
		set.Problem = err.Error()
		return set
	}
	set.Taken = m.StartedAt
	set.Sealed = m.problem() == ""
	set.Problem = m.problem()
	var first, last time.Time
	for _, p := range m.Parts {
		var size int64
		for _, f := range p.Files {
			size += f.Size
		}
		name := "configuration " + p.Name
		path := ""
		switch p.Kind {
		case "datastore":
			name = "data store " + p.Name
		case "filestore":
			name = "file store " + p.Name
		}
		if len(p.Files) > 0 {
			path = p.Files[0].Path
			if len(p.Files) > 1 {
				path = filepath.Dir(path)
			}
		}
		set.Parts = append(set.Parts, runbook.BackupPart{Name: name, Path: path, Taken: p.TakenAt, Size: size})
		if first.IsZero() || p.TakenAt.Before(first) {
			first = p.TakenAt
		}
		if p.TakenAt.After(last) {
			last = p.TakenAt
		}
	}
	if set.Problem == "" && last.Sub(first) > 10*time.Minute {
		set.Problem = fmt.Sprintf("parts taken %s apart", last.Sub(first).Round(time.Second))
	}
	return set
}

// newestSealed returns the newest sealed set under root.
func newestSealed(ctx context.Context, cfg Config) (string, error) {
	sets, err := Backups(ctx, cfg)
	if err != nil {
		return "", err
	}
	for _, s := range sets {
		if s.Sealed {
			return s.Path, nil
		}
	}
	return "", fmt.Errorf("no sealed backup set under %s (%d sets there): take a backup with was-sib-backup, or name a set in backup_set", cfg.BackupRoot, len(sets))
}
