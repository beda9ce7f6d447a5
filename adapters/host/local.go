package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/runbook"
)

// Ops returns the operations a host can run where its files are (Host.Op):
// the file adapter's own, unchanged, so a remote file.manifest is the very
// code a local one is.
func Ops() []runbook.Operation {
	return file.Operations(file.Config{})
}

// Local is the machine drillbook runs on. The agent serves a remote host's
// requests with it, so it is the one implementation of every guarantee.
type Local struct {
	name    string
	watcher *logwatch.Watcher
	// arm is the watcher Arm uses: watcher, with a server that logs
	// through HPEL followed by its logViewer.sh (logwatch.WithHPEL).
	arm runbook.Watcher
	ops *runbook.Registry
}

var _ Host = (*Local)(nil)

// NewLocal returns the local machine under name ("" means
// runbook.LocalHost). Close releases its log watcher.
func NewLocal(name string, opts ...logwatch.Option) *Local {
	if name == "" {
		name = runbook.LocalHost
	}
	w := logwatch.New(opts...)
	return &Local{name: name, watcher: w, arm: logwatch.WithHPEL(w), ops: runbook.NewRegistry(Ops()...)}
}

// Name returns the host's name.
func (l *Local) Name() string { return l.name }

// String says the host is this machine: "localhost", or "NAME
// (localhost)" for a host of targets.yaml that has no address.
func (l *Local) String() string {
	if l.name == runbook.LocalHost {
		return "localhost"
	}
	return l.name + " (localhost)"
}

// Run runs the command with proc.Run.
func (l *Local) Run(ctx context.Context, cmd Command) (Outcome, error) {
	return proc.Run(ctx, cmd)
}

func infoOf(fi fs.FileInfo, link string) *fileInfo {
	out := &fileInfo{N: fi.Name(), Sz: fi.Size(), Md: fi.Mode(), MT: fi.ModTime(), St: &Sys{Link: link}}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.St.Inode, out.St.UID, out.St.GID = st.Ino, st.Uid, st.Gid
	}
	return out
}

// Stat describes path, following links.
func (l *Local) Stat(ctx context.Context, path string) (fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return infoOf(fi, ""), nil
}

// ReadDir lists dir without following links.
func (l *Local) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(filepath.Join(dir, e.Name()))
		}
		out = append(out, infoOf(fi, link))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// ReadFile reads path, refusing one over limit bytes.
func (l *Local) ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes: it is not the small file expected here", path, limit)
	}
	return b, nil
}

// WriteFile replaces path atomically with file.WriteAtomic.
func (l *Local) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := file.WriteAtomic(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// MkdirAll creates path and its parents.
func (l *Local) MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return os.MkdirAll(path, perm)
}

// Mkdir creates path, which must not exist (os.Mkdir).
func (l *Local) Mkdir(ctx context.Context, path string, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return os.Mkdir(path, perm)
}

// Writable checks with access(2) that this user may create files in dir.
func (l *Local) Writable(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return &fs.PathError{Op: "access", Path: dir, Err: err}
	}
	return nil
}

// MkdirTemp creates a new directory in dir.
func (l *Local) MkdirTemp(ctx context.Context, dir, pattern string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, pattern)
}

// RemoveAll removes path and everything under it.
func (l *Local) RemoveAll(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if path == "" || filepath.Clean(path) == "/" {
		return fmt.Errorf("refusing to remove %q", path)
	}
	return os.RemoveAll(path)
}

// FreeSpace reads the file system's free and total space.
func (l *Local) FreeSpace(ctx context.Context, path string) (Space, error) {
	if err := ctx.Err(); err != nil {
		return Space{}, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	return Space{Path: path, Avail: st.Bavail * uint64(st.Bsize), Total: st.Blocks * uint64(st.Bsize)}, nil
}

// Copy copies with file.Copy.
func (l *Local) Copy(ctx context.Context, src, dst string, opts file.CopyOptions) (*file.Manifest, error) {
	return file.Copy(ctx, src, dst, opts)
}

// Manifest hashes root with file.BuildManifest.
func (l *Local) Manifest(ctx context.Context, root string, ignore ...string) (*file.Manifest, error) {
	return file.BuildManifest(ctx, root, ignore...)
}

// Verify checks root with file.Verify.
func (l *Local) Verify(ctx context.Context, root string, m *file.Manifest, ignore ...string) (*file.VerifyReport, error) {
	return file.Verify(ctx, root, m, ignore...)
}

// ReadManifest reads a manifest with file.ReadManifest.
func (l *Local) ReadManifest(ctx context.Context, path string) (*file.Manifest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return file.ReadManifest(path)
}

// WriteManifest writes a manifest with file.WriteManifest.
func (l *Local) WriteManifest(ctx context.Context, path string, m *file.Manifest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return file.WriteManifest(path, m)
}

// SendTree writes root to w as a tar stream.
func (l *Local) SendTree(ctx context.Context, root string, w io.Writer) (*file.Manifest, error) {
	return sendTree(ctx, root, w)
}

// ReceiveTree unpacks a tar stream at dst.
func (l *Local) ReceiveTree(ctx context.Context, dst string, r io.Reader) (*file.Manifest, error) {
	return receiveTree(ctx, dst, r)
}

// Op runs one of Ops here.
func (l *Local) Op(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	op, ok := l.ops.Lookup(call.Op)
	if !ok {
		var names []string
		for _, s := range l.ops.Specs() {
			names = append(names, s.Name)
		}
		return runbook.Result{ExitCode: -1}, fmt.Errorf("operation %s cannot run on a host: the host-side operations are %v", call.Op, names)
	}
	return op.Run(ctx, call, out)
}

// Arm arms a log watch with the logwatch package.
func (l *Local) Arm(spec runbook.WatchSpec, from []runbook.LogPosition) (runbook.Watch, error) {
	return l.arm.Arm(spec, from)
}

// Close releases the log watcher's change notification.
func (l *Local) Close() error {
	return l.watcher.Close()
}
