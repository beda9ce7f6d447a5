package messagesight

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// TreeDigest summarises a directory tree: how many files, how many bytes,
// and a SHA-256 over every relative path, size and content hash, so two
// copies of a store compare equal exactly when their files do.
type TreeDigest struct {
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// DigestTree hashes the tree under dir. Symbolic links and special files are
// refused: a store holds regular files only.
func DigestTree(ctx context.Context, dir string) (TreeDigest, error) {
	var entries []string
	var d TreeDigest
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case e.IsDir():
			if rel != "." {
				entries = append(entries, rel+"/")
			}
		case e.Type().IsRegular():
			sum, n, err := hashFile(path)
			if err != nil {
				return err
			}
			d.Files++
			d.Bytes += n
			entries = append(entries, rel+"\x00"+strconv.FormatInt(n, 10)+"\x00"+sum)
		default:
			return fmt.Errorf("%s is not a regular file or directory", path)
		}
		return nil
	})
	if err != nil {
		return TreeDigest{}, err
	}
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		io.WriteString(h, e+"\n")
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyTree copies the regular files and directories under src into dst,
// which must not exist yet, and syncs each file.
func copyTree(ctx context.Context, src, dst string, out runbook.Output) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s already exists: choose a new directory, a copy never merges into an old one", dst)
	}
	n := 0
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case e.Type().IsRegular():
			if err := copyFile(path, target); err != nil {
				return err
			}
			// Name the first files, then report progress, so a store of
			// thousands of files does not flood the screen.
			if n++; n <= 20 {
				out.Line(runbook.Info, "copied "+filepath.ToSlash(rel))
			} else if n%500 == 0 {
				out.Line(runbook.Info, fmt.Sprintf("copied %d files", n))
			}
			return nil
		}
		return fmt.Errorf("%s is not a regular file or directory: a store holds regular files only", path)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	if err := o.Sync(); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

// writeFileAtomic writes data to path through a temporary file and rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ManifestFormat identifies a manifest file.
const ManifestFormat = "drillbook-messagesight-backup/v1"

// FileDigest identifies one file of a backup.
type FileDigest struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// StoreDigest identifies a store backup directory.
type StoreDigest struct {
	Name string `json:"name"`
	TreeDigest
}

// Manifest binds a configuration backup to the store backup taken with it:
// the seed says one may not be restored with another's partner.
type Manifest struct {
	Format string `json:"format"`
	// Server is the server the backup was taken from.
	Server string `json:"server"`
	// Created is when the manifest was written (UTC).
	Created time.Time `json:"created"`
	// Config is the exported configuration file.
	Config FileDigest `json:"config"`
	// Store is the store copy; nil for a configuration-only backup.
	Store *StoreDigest `json:"store"`
}

// WriteManifest hashes the configuration backup and the store backup (dir
// may be "") and writes the manifest to path.
func WriteManifest(ctx context.Context, path, server, config, storeDir string, now time.Time) (Manifest, error) {
	sum, n, err := hashFile(config)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: configuration backup: %w", err)
	}
	m := Manifest{Format: ManifestFormat, Server: server, Created: now.UTC().Truncate(time.Second),
		Config: FileDigest{Name: filepath.Base(config), Size: n, SHA256: sum}}
	if storeDir != "" {
		d, err := DigestTree(ctx, storeDir)
		if err != nil {
			return Manifest{}, fmt.Errorf("manifest: store backup: %w", err)
		}
		m.Store = &StoreDigest{Name: filepath.Base(filepath.Clean(storeDir)), TreeDigest: d}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// ReadManifest reads and checks a manifest file.
func ReadManifest(path string) (Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s is damaged: %w", path, err)
	}
	if m.Format != ManifestFormat {
		return Manifest{}, fmt.Errorf("manifest %s has format %q, not %s: it was not written by drillbook's messagesight-backup", path, m.Format, ManifestFormat)
	}
	return m, nil
}

// ErrMismatch marks a backup whose files are not the ones its manifest
// names.
var ErrMismatch = errors.New("backup does not match its manifest")

// VerifyManifest checks that config (and storeDir, when not "") are exactly
// the files the manifest was written for.
func VerifyManifest(ctx context.Context, m Manifest, config, storeDir string) error {
	sum, n, err := hashFile(config)
	if err != nil {
		return fmt.Errorf("configuration backup: %w", err)
	}
	if sum != m.Config.SHA256 || n != m.Config.Size {
		return fmt.Errorf("%w: configuration backup %s (%d bytes, sha256 %s) is not %s (%d bytes, sha256 %s) named by the manifest: use the configuration backup taken with this store backup",
			ErrMismatch, filepath.Base(config), n, short(sum), m.Config.Name, m.Config.Size, short(m.Config.SHA256))
	}
	if storeDir == "" {
		return nil
	}
	if m.Store == nil {
		return fmt.Errorf("%w: the manifest is for a configuration-only backup, so store backup %s is not its partner: restore without a store (clean it) or pick the matching backup set", ErrMismatch, storeDir)
	}
	d, err := DigestTree(ctx, storeDir)
	if err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	if d != m.Store.TreeDigest {
		return fmt.Errorf("%w: store backup %s (%d files, %d bytes, sha256 %s) is not store backup %s (%d files, %d bytes, sha256 %s) taken with configuration backup %s: a store may only be restored with its own configuration backup",
			ErrMismatch, storeDir, d.Files, d.Bytes, short(d.SHA256), m.Store.Name, m.Store.Files, m.Store.Bytes, short(m.Store.SHA256), m.Config.Name)
	}
	return nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// runCommand runs the target's store copy command: its own process group,
// stdin closed, SIGINT to the group on cancel, then a kill after a grace
// period. Output lines go to out.
func runCommand(ctx context.Context, argv []string, out runbook.Output) (int, error) {
	if len(argv) == 0 || argv[0] == "" {
		return -1, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdin = nil
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout = lineWriter{out, runbook.Stdout}
	cmd.Stderr = lineWriter{out, runbook.Stderr}
	err := cmd.Run()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if err != nil && cmd.Process != nil {
		// Whatever the group left behind goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return code, err
}

// lineWriter forwards a process's output to Output, a line per call.
type lineWriter struct {
	out    runbook.Output
	stream runbook.Stream
}

// Write forwards each complete line of p.
func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if l != "" {
			w.out.Line(w.stream, l)
		}
	}
	return len(p), nil
}

// expandArgv replaces {src} and {dst} inside each element: the result is an
// argv, never a shell string.
func expandArgv(argv []string, src, dst string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = strings.NewReplacer("{src}", src, "{dst}", dst).Replace(a)
	}
	return out
}
