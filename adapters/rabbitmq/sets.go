package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// A backup is a set: a new directory under the target's backup root
// (rabbitmq.backup_dir) named by the UTC time it was begun, holding
// DefinitionsFile, msg_stores with ManifestFile, and CountsFile. It is
// sealed (SealFile, written last and atomically) only once every part is
// there and verified; a backup that fails midway leaves a set without a
// seal, which the restore refuses unless the operator gives a reason. No
// backup ever writes into an existing directory, so none is overwritten.

// DefinitionsFile is the name of a set's exported definitions.
const DefinitionsFile = "definitions.json"

// SealFile is written into a set when it is complete.
const SealFile = "seal.json"

// setTimeFormat names a set by the UTC time it was begun; names sort in
// time order.
const setTimeFormat = "20060102T150405Z"

// Seal is the content of a set's seal.json: what the set held when it was
// sealed. A part changed or removed afterwards makes the set mixed.
type Seal struct {
	// Node is the node the backup was taken from.
	Node string `json:"node"`
	// Sealed is when the set was sealed (UTC).
	Sealed time.Time `json:"sealed"`
	// Parts are the set's files with their sizes and SHA-256 digests;
	// msg_stores is represented by its manifest.
	Parts []SealPart `json:"parts"`
}

// SealPart is one part of a sealed set.
type SealPart struct {
	// Name is the file's name in the set.
	Name string `json:"name"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// SHA256 is its digest, hex.
	SHA256 string `json:"sha256"`
}

// setPart is one part of a set as it is now, for listings.
type setPart struct {
	Name  string
	Time  time.Time
	Size  int64
	Files int
}

// setInfo is one backup set as found under the root.
type setInfo struct {
	Name    string
	Path    string
	Time    time.Time
	Sealed  bool
	Parts   []setPart
	Problem string
}

// setPath resolves a set (or a file of a set) given relative to the backup
// root; an absolute path stays as it is.
func (c Config) setPath(p string) string {
	if p == "" || filepath.IsAbs(p) || c.BackupDir == "" {
		return p
	}
	return filepath.Join(c.BackupDir, p)
}

// sealedParts are the files a complete set holds besides msg_stores.
func sealedParts() []string { return []string{DefinitionsFile, ManifestFile, CountsFile} }

// newSet creates a new, empty set under root named by now, never reusing
// a directory: a second backup within the same second gets "-2".
func newSet(ctx context.Context, h host.Host, root string, now time.Time) (string, error) {
	if root == "" {
		return "", errors.New("rabbitmq.backup_dir is not set: set it in the target's rabbitmq section of targets.yaml to the directory that holds the backup sets")
	}
	info, err := statPath(ctx, h, root)
	if err != nil {
		return "", fmt.Errorf("backup root %s (rabbitmq.backup_dir): %w: create it or fix the setting", root, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("backup root %s (rabbitmq.backup_dir) is not a directory: fix the setting", root)
	}
	base := now.UTC().Format(setTimeFormat)
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		p := filepath.Join(root, name)
		err := mkdirNew(ctx, h, p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create backup set %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("100 backup sets named %s exist under %s: wait a second and start again", base, root)
}

// sealSet writes the seal of a complete set: every part must be there.
func sealSet(ctx context.Context, h host.Host, dir, node string, now time.Time) (Seal, error) {
	if _, err := statPath(ctx, h, filepath.Join(dir, SealFile)); err == nil {
		return Seal{}, fmt.Errorf("%s is sealed already: a sealed set is never written again", dir)
	}
	s := Seal{Node: node, Sealed: now.UTC()}
	for _, name := range sealedParts() {
		p, err := digestPart(ctx, h, dir, name)
		if err != nil {
			return Seal{}, fmt.Errorf("cannot seal %s: %w", dir, err)
		}
		s.Parts = append(s.Parts, p)
	}
	if info, err := statPath(ctx, h, filepath.Join(dir, "msg_stores")); err != nil || !info.IsDir() {
		return Seal{}, fmt.Errorf("cannot seal %s: msg_stores is missing", dir)
	}
	if err := writeJSON(ctx, h, filepath.Join(dir, SealFile), s); err != nil {
		return Seal{}, fmt.Errorf("seal %s: %w", dir, err)
	}
	return s, nil
}

func digestPart(ctx context.Context, h host.Host, dir, name string) (SealPart, error) {
	b, err := readFile(ctx, h, filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return SealPart{}, fmt.Errorf("%s is missing", name)
		}
		return SealPart{}, err
	}
	sum := sha256.Sum256(b)
	return SealPart{Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// checkSeal says what is wrong with a set's seal: "" for a set sealed and
// unchanged since. It reads the small parts only; verify-backup hashes
// msg_stores against the (sealed) manifest.
func checkSeal(ctx context.Context, h host.Host, dir string) (Seal, string) {
	var s Seal
	if err := readJSON(ctx, h, filepath.Join(dir, SealFile), &s); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s, "unsealed: the backup did not finish (no " + SealFile + ")"
		}
		return s, "its seal does not read: " + err.Error()
	}
	for _, want := range s.Parts {
		got, err := digestPart(ctx, h, dir, want.Name)
		switch {
		case err != nil:
			return s, "mixed: " + err.Error() + " since the set was sealed"
		case got.SHA256 != want.SHA256:
			return s, fmt.Sprintf("mixed: %s changed after the set was sealed on %s", want.Name, s.Sealed.Format(time.RFC3339))
		}
	}
	return s, ""
}

// listSets lists the sets under root, newest first.
func listSets(ctx context.Context, h host.Host, root string) ([]setInfo, error) {
	if root == "" {
		return nil, errors.New("rabbitmq.backup_dir is not set: set it to the directory that holds the backup sets")
	}
	entries, err := readDir(ctx, h, root)
	if err != nil {
		return nil, fmt.Errorf("backup root %s (rabbitmq.backup_dir): %w", root, err)
	}
	var sets []setInfo
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sets = append(sets, inspectSet(ctx, h, filepath.Join(root, e.Name())))
	}
	sort.SliceStable(sets, func(i, j int) bool {
		if !sets[i].Time.Equal(sets[j].Time) {
			return sets[i].Time.After(sets[j].Time)
		}
		return sets[i].Name > sets[j].Name
	})
	return sets, nil
}

// inspectSet describes one set: its time (from its name, else its seal,
// else the directory's), its parts and what is wrong with it.
func inspectSet(ctx context.Context, h host.Host, dir string) setInfo {
	si := setInfo{Name: filepath.Base(dir), Path: dir}
	name, _, _ := strings.Cut(si.Name, "-")
	if t, err := time.Parse(setTimeFormat, name); err == nil {
		si.Time = t
	}
	seal, problem := checkSeal(ctx, h, dir)
	si.Sealed = problem == ""
	si.Problem = problem
	if si.Time.IsZero() {
		si.Time = seal.Sealed
	}
	if si.Time.IsZero() {
		if info, err := statPath(ctx, h, dir); err == nil {
			si.Time = info.ModTime().UTC()
		}
	}
	for _, n := range []string{DefinitionsFile, CountsFile} {
		if info, err := statPath(ctx, h, filepath.Join(dir, n)); err == nil {
			si.Parts = append(si.Parts, setPart{Name: n, Time: info.ModTime().UTC(), Size: info.Size(), Files: 1})
		}
	}
	if m, err := h.ReadManifest(ctx, filepath.Join(dir, ManifestFile)); err == nil {
		si.Parts = append(si.Parts, setPart{Name: "msg_stores", Time: m.Taken, Size: m.Bytes, Files: m.Files})
	} else if _, err := statPath(ctx, h, filepath.Join(dir, "msg_stores")); err == nil {
		si.Parts = append(si.Parts, setPart{Name: "msg_stores"})
		if si.Problem == "" {
			si.Problem = "msg_stores has no manifest"
		}
	}
	return si
}

// resolveSet finds the set a restore uses: want is a set's name under the
// root or a set's path; empty means the newest sealed set. An unsealed or
// mixed set is refused unless reason says why it is used anyway.
func resolveSet(ctx context.Context, h host.Host, root, want, reason string) (setInfo, []string, error) {
	var si setInfo
	switch {
	case want == "":
		sets, err := listSets(ctx, h, root)
		if err != nil {
			return si, nil, err
		}
		var skipped []string
		for _, s := range sets {
			if s.Sealed {
				var warn []string
				if len(skipped) > 0 {
					warn = append(warn, fmt.Sprintf("newer sets are not sealed and were passed over: %s", strings.Join(skipped, "; ")))
				}
				return s, warn, nil
			}
			skipped = append(skipped, s.Name+" ("+s.Problem+")")
		}
		if len(sets) == 0 {
			return si, nil, fmt.Errorf("no backup set under %s (rabbitmq.backup_dir): run rabbitmq-backup first, or give restore_from", root)
		}
		return si, nil, fmt.Errorf("no sealed backup set under %s: %s: give restore_from=SET and unsealed_reason to use an unsealed one", root, strings.Join(skipped, "; "))
	case filepath.IsAbs(want):
		si = inspectSet(ctx, h, filepath.Clean(want))
	default:
		if root == "" {
			return si, nil, fmt.Errorf("restore_from %q is a set name but rabbitmq.backup_dir is not set: give the set's full path or set the backup root", want)
		}
		if strings.ContainsRune(want, filepath.Separator) || want == "." || want == ".." {
			return si, nil, fmt.Errorf("restore_from %q is neither a set's name under %s nor an absolute path", want, root)
		}
		si = inspectSet(ctx, h, filepath.Join(root, want))
	}
	info, err := statPath(ctx, h, si.Path)
	if err != nil || !info.IsDir() {
		return si, nil, fmt.Errorf("backup set %s does not exist: `drillbook backups TARGET` lists the sets; fix restore_from", si.Path)
	}
	if si.Sealed {
		return si, nil, nil
	}
	if strings.TrimSpace(reason) == "" {
		return si, nil, fmt.Errorf("backup set %s is %s: restore it only with unsealed_reason saying why", si.Path, si.Problem)
	}
	return si, []string{fmt.Sprintf("using backup set %s although it is %s: %s", si.Name, si.Problem, reason)}, nil
}

// Backups lists the backup sets under the target's backup root
// (rabbitmq.backup_dir), newest first: each set's name, path, time, whether
// it is sealed, its parts (definitions, msg_stores, counts) with their times
// and sizes, and what is wrong with it, if anything. It reads files only.
func Backups(ctx context.Context, cfg Config) ([]runbook.BackupSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := cfg.nodeHost()
	if err != nil {
		return nil, err
	}
	sets, err := listSets(ctx, h, cfg.BackupDir)
	if err != nil {
		return nil, err
	}
	out := make([]runbook.BackupSet, 0, len(sets))
	for _, s := range sets {
		bs := runbook.BackupSet{Product: "rabbitmq", Name: s.Name, Path: s.Path, Taken: s.Time, Sealed: s.Sealed, Problem: s.Problem}
		for _, p := range s.Parts {
			name := map[string]string{DefinitionsFile: "definitions", CountsFile: "message counts", "msg_stores": fmt.Sprintf("messages (msg_stores, %d files)", p.Files)}[p.Name]
			size := p.Size
			if p.Name == "msg_stores" && p.Time.IsZero() {
				size = -1
			}
			bs.Parts = append(bs.Parts, runbook.BackupPart{Name: name, Path: p.Name, Taken: p.Time, Size: size})
		}
		out = append(out, bs)
	}
	return out, nil
}
