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
	"github.com/drillbook/drillbook/adapters/host"
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

// maxManifest is the largest manifest read: far more than the parts of a
// set list (a data store backup of thousands of files), and under what one
// reply from a remote host may carry.
const maxManifest = 8 << 20

// ReadManifest reads the manifest of the set in dir on h, the backup
// root's host.
func ReadManifest(ctx context.Context, h host.Host, dir string) (Manifest, error) {
	var m Manifest
	b, err := readSmallFile(ctx, h, filepath.Join(dir, ManifestName), maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%w in %s%s: it is not a backup set drillbook made", ErrNoManifest, dir, onHost(h))
	}
	if err != nil {
		return m, fmt.Errorf("read backup manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("backup manifest %s%s is damaged: %w", filepath.Join(dir, ManifestName), onHost(h), err)
	}
	return m, nil
}

// writeManifest replaces dir's manifest on h atomically.
func writeManifest(ctx context.Context, h host.Host, dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := h.WriteFile(ctx, filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
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
func newSet(ctx context.Context, h host.Host, root, cell string, now time.Time) (string, Manifest, error) {
	if err := writableDir(ctx, h, root); err != nil {
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
		err := makeNewDir(ctx, h, dir)
		if err != nil {
			if _, serr := statPath(ctx, h, dir); serr == nil {
				continue // taken: try the next name
			}
			return "", m, err
		}
		return dir, m, writeManifest(ctx, h, dir, m)
	}
	return "", m, fmt.Errorf("could not make a new backup set under %s: 99 sets started at %s", root, base)
}

// addPart records a part of the set in dir, replacing an earlier part of
// the same kind and name (a retried copy in the same run). The set must
// have been made by newSet, and adding a part unseals it.
func addPart(ctx context.Context, h host.Host, dir string, p Part) error {
	m, err := ReadManifest(ctx, h, dir)
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
	return writeManifest(ctx, h, dir, m)
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
func checkSet(ctx context.Context, h host.Host, dir, accept string) (Manifest, []string, error) {
	m, err := ReadManifest(ctx, h, dir)
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

// sumFile returns a regular file's size and SHA-256, hashed on h.
func sumFile(ctx context.Context, h host.Host, path string) (int64, string, error) {
	if err := isFile(ctx, h, path); err != nil {
		return 0, "", err
	}
	m, err := h.Manifest(ctx, path)
	if err != nil {
		return 0, "", err
	}
	return m.Entries[0].Size, m.Entries[0].SHA256, nil
}

// sumTree lists every regular file under root (relative to base), sorted.
// Directories and symbolic links are not listed. The files are hashed on
// h, where they lie.
func sumTree(ctx context.Context, h host.Host, base, root string) ([]FileSum, error) {
	prefix, err := filepath.Rel(base, root)
	if err != nil {
		return nil, err
	}
	m, err := h.Manifest(ctx, root)
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
// other parts besides. The files are hashed on h, where they lie.
func verifyPart(ctx context.Context, h host.Host, dir string, p Part) error {
	if len(p.Files) == 0 {
		return fmt.Errorf("the %s backup of %s records no files", p.Kind, p.Name)
	}
	m := &file.Manifest{Version: file.ManifestVersion, Root: dir}
	for _, f := range p.Files {
		m.Entries = append(m.Entries, file.Entry{Path: filepath.ToSlash(f.Path), Type: file.TypeFile, Size: f.Size, SHA256: f.SHA256})
	}
	r, err := h.Verify(ctx, dir, m)
	if err != nil {
		return fmt.Errorf("the %s backup of %s: %w", p.Kind, p.Name, err)
	}
	if len(r.Changed) > 0 {
		return fmt.Errorf("the %s backup of %s changed since it was taken (%s): do not restore from it", p.Kind, p.Name, strings.Join(r.Details, "; "))
	}
	if len(r.Missing) > 0 {
		return fmt.Errorf("the %s backup of %s is incomplete: %s missing from %s%s: do not restore from it", p.Kind, p.Name, strings.Join(r.Missing, ", "), dir, onHost(h))
	}
	return nil
}

// copyFile copies the regular file src on sh to dst on dh, replacing dst
// as a whole (it is never half written), and returns the copy's size and
// SHA-256. Between two hosts it is streamed through drillbook and checked
// by SHA-256 on arrival (host.Transfer); on one host it is copied there.
func copyFile(ctx context.Context, dh host.Host, dst string, sh host.Host, src string) (int64, string, error) {
	if err := isFile(ctx, sh, src); err != nil {
		return 0, "", err
	}
	m, err := host.Transfer(ctx, sh, src, dh, dst, file.CopyOptions{Replace: true})
	if err != nil {
		return 0, "", err
	}
	if len(m.Entries) != 1 {
		return 0, "", fmt.Errorf("copy %s to %s%s: %d entries arrived, not one file", src, dst, onHost(dh), len(m.Entries))
	}
	return m.Entries[0].Size, m.Entries[0].SHA256, nil
}

// Backups lists the backup sets under the target's backup root, newest
// first: each with its parts, whether it is sealed, and what is wrong with
// it. A directory without a manifest is listed with that problem, so
// nothing under the root goes unseen. The root is read on its host (see
// Config.BackupHost).
func Backups(ctx context.Context, cfg Config) ([]runbook.BackupSet, error) {
	if cfg.BackupRoot == "" {
		return nil, errors.New("the target has no WebSphere backup root: set was.backup_root in targets.yaml")
	}
	h, err := cfg.backupHost()
	if err != nil {
		return nil, fmt.Errorf("the backup root's host: %w", err)
	}
	names, err := dirNames(ctx, h, cfg.BackupRoot)
	if err != nil {
		return nil, fmt.Errorf("list backup sets: %w", err)
	}
	var out []runbook.BackupSet
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		dir := filepath.Join(cfg.BackupRoot, name)
		if isDir(ctx, h, dir) != nil {
			continue
		}
		out = append(out, describeSet(ctx, h, dir))
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
func describeSet(ctx context.Context, h host.Host, dir string) runbook.BackupSet {
	set := runbook.BackupSet{Product: "was", Name: filepath.Base(dir), Path: dir}
	if onHost(h) != "" {
		set.Host = h.Name()
	}
	m, err := ReadManifest(ctx, h, dir)
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
	return "", fmt.Errorf("no sealed backup set under %s%s (%d sets there): take a backup with was-sib-backup, or name a set in backup_set", cfg.BackupRoot, hostSuffix(cfg.backupHostName()), len(sets))
}

// hostSuffix is " on host NAME" for a named host, "" for this machine.
func hostSuffix(name string) string {
	if name == "" || name == runbook.LocalHost {
		return ""
	}
	return " on host " + name
}
