package messagesight

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// A backup set is a directory under the backup root, one per backup, never
// written twice:
//
//	ROOT/SERVER-YYYYMMDDTHHMMSSZ/
//	  INCOMPLETE      while the backup is being taken
//	  config/FILE     the exported configuration
//	  NAME/...        the copy of the store (optional), under the name the
//	                  operator gave it (sets written before the name was
//	                  asked for call it store/)
//	  manifest.json   what the set holds: names, sizes, SHA-256, its id
//	  SEALED          the set's id and the manifest's SHA-256, written last
//
// A set is sealed when SEALED matches its manifest and INCOMPLETE is gone.
// The store copy is the one directory of the set beside config/ (a copy in
// progress is hidden, .NAME.drillbook-*); the manifest names it.
const (
	setConfigDir  = "config"
	setManifest   = "manifest.json"
	setSealed     = "SEALED"
	setIncomplete = "INCOMPLETE"
)

// storeNamePattern is what a store backup name may be: one path component
// of letters, digits, dots, dashes and underscores, starting with a letter
// or a digit (so never "." nor ".." nor a hidden name).
var storeNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkStoreName says whether name can name a store backup. The seed (001,
// "Backup and restore") has the operator name the store backup file and
// asks that the name differ from the configuration backup's
// imaBackup.hhmmss-MMDDYYYY: a name starting with imaBackup is refused, as
// are the names the set itself uses.
func checkStoreName(name string) error {
	const remedy = "give another name (messagesight-backup's store_backup_name parameter)"
	switch {
	case name == "":
		return errors.New("the store backup has no name: " + remedy + ", a single file name such as store-backup")
	case len(name) > 200:
		return fmt.Errorf("store backup name %.40q... is %d characters long: %s of at most 200", name, len(name), remedy)
	case !storeNamePattern.MatchString(name):
		return fmt.Errorf("store backup name %q is not a single file name of letters, digits, '.', '-' and '_' starting with a letter or digit: %s", name, remedy)
	case strings.HasPrefix(strings.ToLower(name), "imabackup"):
		return fmt.Errorf("store backup name %q could be taken for the configuration backup imaBackup.hhmmss-MMDDYYYY (the document asks for a different name): %s", name, remedy)
	}
	for _, reserved := range []string{setConfigDir, setManifest, setSealed, setIncomplete} {
		if strings.EqualFold(name, reserved) {
			return fmt.Errorf("store backup name %q is the name of the set's own %s: %s", name, reserved, remedy)
		}
	}
	return nil
}

// findStoreCopy returns the path of a set's store copy: the directory its
// manifest names when it names one, else the one directory of the set
// beside config/ ("" when there is none). Sets written before the operator
// named the store backup hold it as store/ and are found the same way.
func findStoreCopy(ctx context.Context, h host.Host, set string, m Manifest) (string, error) {
	if m.Store != nil && m.Store.Name != "" {
		// An older manifest names store; a name with a separator or ".."
		// would reach outside the set.
		if m.Store.Name != filepath.Base(m.Store.Name) || m.Store.Name == ".." || m.Store.Name == "." {
			return "", fmt.Errorf("%w: the manifest of set %s names the store copy %q, which is not a name inside the set", ErrMismatch, set, m.Store.Name)
		}
		return filepath.Join(set, m.Store.Name), nil
	}
	entries, err := h.ReadDir(ctx, set)
	if err != nil {
		return "", fmt.Errorf("backup set %s: %w", set, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != setConfigDir && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	switch len(dirs) {
	case 0:
		return "", nil
	case 1:
		return filepath.Join(set, dirs[0]), nil
	}
	return "", fmt.Errorf("backup set %s holds %d directories beside %s (%s), and only one is its store copy: move the others out of the set", set, len(dirs), setConfigDir, strings.Join(dirs, ", "))
}

// ManifestFormat identifies a backup set manifest.
const ManifestFormat = "drillbook-messagesight-backup-set/v2"

// FileDigest identifies one file of a backup.
type FileDigest struct {
	// Name is the file's base name.
	Name string `json:"name"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of its content.
	SHA256 string `json:"sha256"`
}

// StoreDigest identifies a store backup directory.
type StoreDigest struct {
	// Name is the store backup directory's base name.
	Name string `json:"name"`
	TreeDigest
}

// Manifest says what a sealed backup set holds.
type Manifest struct {
	// Format is ManifestFormat.
	Format string `json:"format"`
	// Set is the set directory's name: a manifest copied into another set
	// does not name it.
	Set string `json:"set"`
	// ID is a random identity given to the set when it was sealed.
	ID string `json:"id"`
	// Server is the server the backup was taken from.
	Server string `json:"server"`
	// Created is when the set was sealed (UTC).
	Created time.Time `json:"created"`
	// Config is the exported configuration file.
	Config FileDigest `json:"config"`
	// Store is the store copy; nil for a configuration-only backup.
	Store *StoreDigest `json:"store"`
}

// ErrMismatch marks a backup set whose files are not the ones its manifest
// names, or that is not sealed.
var ErrMismatch = errors.New("backup set does not match its manifest")

// checkBackupRoot says whether root can receive new backup sets: a
// directory, or a path that does not exist yet; never a file nor a backup
// set itself.
func checkBackupRoot(ctx context.Context, h host.Host, root string) (exists bool, err error) {
	if root == "" {
		return false, errors.New("no backup root: set messagesight.backup_root in targets.yaml or give --param backup_dir=DIR")
	}
	fi, err := h.Stat(ctx, root)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return true, fmt.Errorf("backup root %s is a file, not a directory: give a directory (backup sets are created under it)", root)
	}
	for _, marker := range []string{setManifest, setSealed, setIncomplete} {
		if _, err := h.Stat(ctx, filepath.Join(root, marker)); err == nil {
			return true, fmt.Errorf("backup root %s is itself a backup set (it holds %s): give the directory above it; a backup never writes into an earlier one", root, marker)
		}
	}
	return true, nil
}

// newBackupSet creates a new, empty set for server under root (created when
// missing), marked INCOMPLETE, whose store copy will be named storeName.
//
// On a host a directory is created with MkdirAll after checking that it is
// not there (the host seam has no exclusive mkdir): two backups of the same
// server started in the same second on two drillbooks could share a set,
// which the set's INCOMPLETE marker and its seal then report.
func newBackupSet(ctx context.Context, h host.Host, root, server, storeName string, now time.Time) (string, error) {
	if err := checkStoreName(storeName); err != nil {
		return "", err
	}
	if _, err := checkBackupRoot(ctx, h, root); err != nil {
		return "", err
	}
	if err := h.MkdirAll(ctx, root, 0o755); err != nil {
		return "", fmt.Errorf("create backup root %s: %w", root, err)
	}
	base := server + "-" + now.UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		dir := filepath.Join(root, name)
		if exists(ctx, h, dir) {
			continue
		}
		if err := h.MkdirAll(ctx, filepath.Join(dir, setConfigDir), 0o755); err != nil {
			return "", fmt.Errorf("create backup set %s: %w", dir, err)
		}
		if err := h.WriteFile(ctx, filepath.Join(dir, setIncomplete), []byte("being written since "+now.UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("backup root %s: 100 sets of %s in the same second: wait a second", root, server)
}

// setConfigFile returns the one configuration backup of a set.
func setConfigFile(ctx context.Context, h host.Host, set string) (string, error) {
	entries, err := h.ReadDir(ctx, filepath.Join(set, setConfigDir))
	if err != nil {
		return "", fmt.Errorf("backup set %s: %w", set, err)
	}
	var files []string
	for _, e := range entries {
		if e.Mode().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 {
		return "", fmt.Errorf("backup set %s holds %d configuration backups in %s, not one", set, len(files), setConfigDir)
	}
	return filepath.Join(set, setConfigDir, files[0]), nil
}

// sealBackupSet writes the manifest of a complete set, then SEALED, then
// removes INCOMPLETE.
func sealBackupSet(ctx context.Context, h host.Host, set, server string, now time.Time) (Manifest, error) {
	cfgFile, err := setConfigFile(ctx, h, set)
	if err != nil {
		return Manifest{}, err
	}
	cd, err := fileDigest(ctx, h, cfgFile)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup set: configuration backup: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: ManifestFormat, Set: filepath.Base(filepath.Clean(set)), ID: hex.EncodeToString(id), Server: server,
		Created: now.UTC().Truncate(time.Second), Config: cd}
	storeDir, err := findStoreCopy(ctx, h, set, Manifest{})
	if err != nil {
		return Manifest{}, err
	}
	if storeDir != "" {
		d, err := digestOn(ctx, h, storeDir)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup set: store backup: %w", err)
		}
		m.Store = &StoreDigest{Name: filepath.Base(storeDir), TreeDigest: d}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	b = append(b, '\n')
	if err := h.WriteFile(ctx, filepath.Join(set, setManifest), b, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("backup set: %w", err)
	}
	sum := sha256.Sum256(b)
	if err := h.WriteFile(ctx, filepath.Join(set, setSealed), []byte(m.ID+" "+hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		return Manifest{}, fmt.Errorf("backup set: %w", err)
	}
	if err := h.RemoveAll(ctx, filepath.Join(set, setIncomplete)); err != nil {
		return Manifest{}, fmt.Errorf("backup set: %w", err)
	}
	return m, nil
}

// setState reads a set: its manifest and whether it is sealed (and if not,
// why).
func setState(ctx context.Context, h host.Host, set string) (Manifest, string) {
	b, err := h.ReadFile(ctx, filepath.Join(set, setManifest), 0)
	if err != nil {
		if _, e := h.Stat(ctx, filepath.Join(set, setIncomplete)); e == nil {
			return Manifest{}, "incomplete: the backup that wrote it did not finish"
		}
		return Manifest{}, "not sealed: it has no manifest"
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Format != ManifestFormat {
		return m, fmt.Sprintf("its manifest is damaged or not a %s manifest", ManifestFormat)
	}
	seal, err := h.ReadFile(ctx, filepath.Join(set, setSealed), 0)
	if err != nil {
		return m, "not sealed: the backup that wrote it did not finish"
	}
	sum := sha256.Sum256(b)
	if strings.TrimSpace(string(seal)) != m.ID+" "+hex.EncodeToString(sum[:]) {
		return m, "its seal does not match its manifest: the manifest was changed after sealing"
	}
	if _, err := h.Stat(ctx, filepath.Join(set, setIncomplete)); err == nil {
		return m, "incomplete: the backup that wrote it did not finish"
	}
	if m.Set != filepath.Base(filepath.Clean(set)) {
		return m, fmt.Sprintf("its manifest belongs to set %s, not to this one", m.Set)
	}
	return m, ""
}

// verifySet checks that a sealed set's files are the ones its manifest
// names (the configuration backup and the store copy of this very set).
func verifySet(ctx context.Context, h host.Host, set string, m Manifest) error {
	cfgFile, err := setConfigFile(ctx, h, set)
	if err != nil {
		return err
	}
	cd, err := fileDigest(ctx, h, cfgFile)
	if err != nil {
		return fmt.Errorf("configuration backup: %w", err)
	}
	if cd != m.Config {
		return fmt.Errorf("%w: configuration backup %s (%d bytes, sha256 %s) is not %s (%d bytes, sha256 %s) named by the manifest of set %s",
			ErrMismatch, cd.Name, cd.Size, short(cd.SHA256), m.Config.Name, m.Config.Size, short(m.Config.SHA256), m.Set)
	}
	storeDir, err := findStoreCopy(ctx, h, set, m)
	if err != nil {
		return err
	}
	var statErr error
	if storeDir != "" {
		_, statErr = h.Stat(ctx, storeDir)
	}
	switch {
	case m.Store == nil && storeDir != "":
		return fmt.Errorf("%w: set %s holds a store copy (%s) its manifest does not name: it was added after the set was sealed", ErrMismatch, m.Set, filepath.Base(storeDir))
	case m.Store == nil:
		return nil
	case statErr != nil:
		return fmt.Errorf("%w: the store copy of set %s is missing: %v", ErrMismatch, m.Set, statErr)
	}
	d, err := digestOn(ctx, h, storeDir)
	if err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	if d != m.Store.TreeDigest {
		return fmt.Errorf("%w: the store copy in set %s (%d files, %d bytes, sha256 %s) is not the one sealed with its configuration backup (%d files, %d bytes, sha256 %s): a store may only be restored with its own configuration backup",
			ErrMismatch, m.Set, d.Files, d.Bytes, short(d.SHA256), m.Store.Files, m.Store.Bytes, short(m.Store.SHA256))
	}
	return nil
}

// SetInfo describes one backup set under a backup root.
type SetInfo struct {
	// Path is the set directory.
	Path string
	// Manifest is what its manifest says (zero when it has none).
	Manifest Manifest
	// Problem is why the set is not sealed, "" when it is.
	Problem string
	// Time is when it was sealed, or else when its directory was last
	// changed.
	Time time.Time
}

// listSets returns the sets under root, newest first.
func listSets(ctx context.Context, h host.Host, root string) ([]SetInfo, error) {
	entries, err := h.ReadDir(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("backup root %s: %w", root, err)
	}
	var out []SetInfo
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(root, e.Name())
		m, problem := setState(ctx, h, dir)
		info := SetInfo{Path: dir, Manifest: m, Problem: problem, Time: m.Created}
		if info.Time.IsZero() {
			info.Time = e.ModTime().UTC()
		}
		out = append(out, info)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Path > out[j].Path
	})
	return out, nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// setTaken is when the backup that wrote a set started, from the set's
// name (SERVER-YYYYMMDDTHHMMSSZ, with a -N suffix when several started in
// the same second); zero when the name has no such time.
func setTaken(name string) time.Time {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] != '-' {
			continue
		}
		rest := name[i+1:]
		if len(rest) < len("20060102T150405Z") {
			continue
		}
		if t, err := time.Parse("20060102T150405Z", rest[:len("20060102T150405Z")]); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Backups lists the backup sets under the target's messagesight.backup_root,
// newest first, as `drillbook backups TARGET` shows them: each set's name,
// path, when its backup started, whether it is sealed (and if not, why),
// and its parts (the configuration backup and the store copy) with their
// sizes. It reads files only; a directory under the root that is not a
// complete set is listed with its problem, so nothing there goes unseen.
func Backups(ctx context.Context, cfg Config) ([]runbook.BackupSet, error) {
	if cfg.BackupRoot == "" {
		return nil, errors.New("messagesight: the target has no backup root: set messagesight.backup_root in targets.yaml")
	}
	h, err := cfg.backupHost()
	if err != nil {
		return nil, err
	}
	sets, err := listSets(ctx, h, cfg.BackupRoot)
	if err != nil {
		return nil, fmt.Errorf("messagesight: %w: check messagesight.backup_root (and backup_host) in targets.yaml", err)
	}
	out := make([]runbook.BackupSet, 0, len(sets))
	for _, s := range sets {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		name := filepath.Base(s.Path)
		bs := runbook.BackupSet{Product: "messagesight", Name: name, Path: s.Path, Taken: setTaken(name),
			Sealed: s.Problem == "", Problem: s.Problem}
		if bs.Taken.IsZero() {
			bs.Taken = s.Time
		}
		if cf, err := setConfigFile(ctx, h, s.Path); err == nil {
			p := runbook.BackupPart{Name: "configuration", Path: filepath.Join(setConfigDir, filepath.Base(cf)), Size: -1}
			if fi, err := h.Stat(ctx, cf); err == nil {
				p.Size, p.Taken = fi.Size(), fi.ModTime().UTC()
			}
			bs.Parts = append(bs.Parts, p)
		}
		storeDir, err := findStoreCopy(ctx, h, s.Path, s.Manifest)
		if err != nil && bs.Problem == "" {
			bs.Problem, bs.Sealed = err.Error(), false
		}
		if fi, err := h.Stat(ctx, storeDir); storeDir != "" && err == nil && fi.IsDir() {
			p := runbook.BackupPart{Name: "store", Path: filepath.Base(storeDir), Taken: fi.ModTime().UTC(), Size: -1}
			if s.Manifest.Store != nil {
				p.Name = fmt.Sprintf("store (%d files)", s.Manifest.Store.Files)
				p.Size = s.Manifest.Store.Bytes
			} else if n, _, err := treeSizeOn(ctx, h, storeDir); err == nil {
				p.Size = n
			}
			bs.Parts = append(bs.Parts, p)
		}
		out = append(out, bs)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Taken.After(out[j].Taken) })
	return out, nil
}
