// Package host is drillbook's one seam for "where": every process an
// adapter starts, every file it reads, writes, copies or hashes, and every
// log it watches reaches its machine through a Host, the local one or one
// reached over SSH, and the adapter never knows which.
//
// A remote host keeps every local guarantee because the far side runs the
// same code: drillbook starts `drillbook agent` there over the system
// OpenSSH client (one connection per host, reused by every step) and sends
// it requests in a small versioned protocol (see ProtocolVersion); the agent
// carries each one out with the local implementation (Local) and streams
// back output lines, log records and results. So an argv reaches exec as a
// list, never through a remote shell; stdin is closed; a timeout or a
// cancel ends the remote process group; secrets travel inside the channel,
// never on a command line; a log is followed by inode and offset where it
// is written; and a 300 MB store is hashed where it lies.
//
// Adapters get a Host by name from a Resolver (a Set: the hosts: of a
// target), given to them by cmd with their Config, and call it where they
// called the local functions; the signatures match:
//
//	h, err := hosts.Get(cfg.Host)                    // "" or "local" is this machine
//	oc, err := h.Run(ctx, host.Command{Argv: argv})  // was proc.Run(ctx, proc.Spec{...})
//	fi, err := h.Stat(ctx, path)                     // was os.Stat
//	b, err := h.ReadFile(ctx, path, 0)               // was os.ReadFile
//	err = h.WriteFile(ctx, path, b, 0o644)           // was file.WriteAtomic
//	m, err := h.Copy(ctx, src, dst, opts)            // was file.Copy
//	m, err := h.Manifest(ctx, root)                  // was file.BuildManifest
//	m, err := host.Transfer(ctx, h1, src, h2, dst, opts) // a copy between two hosts
//
// A log wait names its host in WatchSpec.Host (`wait: {host: ...}`); the
// runner's Watcher (Watcher) arms it there.
package host

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// Command is one process to run on a host: an argv list, its environment,
// working directory, output and secrets (see proc.Spec; the same type, so
// an adapter moves from proc.Run to Host.Run without rewriting its specs).
// On a remote host Stdin is read (up to MaxStdin bytes) and sent with the
// request, and Interactive is refused: the terminal is on this machine.
type Command = proc.Spec

// Outcome is what happened to a command that was started (see
// proc.Outcome).
type Outcome = proc.Outcome

// ExitError reports a process that exited with a non-zero status or was
// ended by a signal, on any host (see proc.ExitError).
type ExitError = proc.ExitError

// MaxStdin is the most standard input a command may be given on a remote
// host (a wsadmin script, a definitions file).
const MaxStdin = 16 << 20

// Host is one machine of an estate. Every method is safe for concurrent
// use; each takes a context that bounds it. Errors from a remote host are
// *RemoteError values naming it, with the cause errors.Is and errors.As
// see locally (fs.ErrNotExist, context.DeadlineExceeded, *ExitError).
type Host interface {
	// Name is the host's name in targets.yaml (runbook.LocalHost for the
	// machine drillbook runs on).
	Name() string
	// String says where the host is, for plans and the screen, without
	// connecting: "localhost", "dmgr (wasadmin@10.0.0.5:22)".
	String() string

	// Run starts the command on the host and waits for it: its process
	// group is ended (SIGINT, then SIGKILL after WaitDelay) when ctx ends,
	// and every output line is passed to cmd.Out as it is written.
	Run(ctx context.Context, cmd Command) (Outcome, error)

	// Stat describes path, following links. Its Sys() is a *Sys.
	Stat(ctx context.Context, path string) (fs.FileInfo, error)
	// ReadDir lists a directory, sorted by name, without following links.
	ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error)
	// ReadFile returns a file's content; a file over limit bytes is an
	// error (limit <= 0 means DefaultReadLimit).
	ReadFile(ctx context.Context, path string, limit int64) ([]byte, error)
	// WriteFile replaces path with data atomically (file.WriteAtomic): a
	// reader sees the old content or all of the new. The directory must
	// exist.
	WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(ctx context.Context, path string, perm fs.FileMode) error
	// Mkdir creates one directory, which must not exist yet: an existing
	// path is an error errors.Is sees as fs.ErrExist (os.Mkdir). Its parent
	// must exist.
	Mkdir(ctx context.Context, path string, perm fs.FileMode) error
	// Writable reports whether the host's user may create files in the
	// directory dir (access(2) with W_OK, so nothing is written to find
	// out); an error errors.Is sees as fs.ErrPermission says it may not.
	Writable(ctx context.Context, dir string) error
	// MkdirTemp creates a new directory in dir (os.MkdirTemp).
	MkdirTemp(ctx context.Context, dir, pattern string) (string, error)
	// RemoveAll removes path and everything under it.
	RemoveAll(ctx context.Context, path string) error
	// FreeSpace says how much room the file system holding path has.
	FreeSpace(ctx context.Context, path string) (Space, error)

	// Copy copies a file or tree within the host (file.Copy: staged next
	// to dst, synced, placed atomically) and returns its manifest, hashed
	// while copying. Progress, when set, is called on this machine.
	Copy(ctx context.Context, src, dst string, opts file.CopyOptions) (*file.Manifest, error)
	// Manifest hashes a file or tree where it lies (file.BuildManifest).
	Manifest(ctx context.Context, root string, ignore ...string) (*file.Manifest, error)
	// Verify checks a tree against a manifest where it lies (file.Verify).
	Verify(ctx context.Context, root string, m *file.Manifest, ignore ...string) (*file.VerifyReport, error)
	// ReadManifest reads and checks a manifest file (file.ReadManifest).
	ReadManifest(ctx context.Context, path string) (*file.Manifest, error)
	// WriteManifest writes a manifest file atomically (file.WriteManifest).
	WriteManifest(ctx context.Context, path string, m *file.Manifest) error
	// SendTree writes the file or tree at root to w as a tar stream and
	// returns its manifest, hashed while reading.
	SendTree(ctx context.Context, root string, w io.Writer) (*file.Manifest, error)
	// ReceiveTree unpacks a tar stream written by SendTree at dst, which
	// must not exist (its parent must), and returns the manifest of what it
	// wrote, hashed while writing. On error dst is removed.
	ReceiveTree(ctx context.Context, dst string, r io.Reader) (*file.Manifest, error)

	// Op runs one of the host-side operations (Ops: the file adapter's
	// file.exists, file.copy, file.replace, file.verify, file.manifest)
	// on the host, where its files are, streaming its lines to out.
	Op(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error)

	// Arm arms a log watch on files of this host (see runbook.Watcher):
	// the start position is taken on the host before Arm returns.
	runbook.Watcher

	// Close ends the connection (a remote host's agent then ends whatever
	// it still runs) and releases the host's watches.
	Close() error
}

// DefaultReadLimit is ReadFile's limit when none is given.
const DefaultReadLimit = 16 << 20

// Sys is what a FileInfo's Sys() returns on every host.
type Sys struct {
	// Inode is the file's inode number.
	Inode uint64 `json:"ino"`
	// UID and GID own the file.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// Link is a symbolic link's target, "" for anything else.
	Link string `json:"link,omitempty"`
}

// Space is the room on a file system.
type Space struct {
	// Path is the path that was asked about.
	Path string `json:"path"`
	// Avail is what an unprivileged user may still write, in bytes.
	Avail uint64 `json:"avail"`
	// Total is the file system's size in bytes.
	Total uint64 `json:"total"`
}

// fileInfo is the fs.FileInfo of every host, local or remote, so an
// adapter sees the same values either way.
type fileInfo struct {
	N  string      `json:"name"`
	Sz int64       `json:"size"`
	Md fs.FileMode `json:"mode"`
	MT time.Time   `json:"mtime"`
	St *Sys        `json:"sys"`
}

func (f *fileInfo) Name() string       { return f.N }
func (f *fileInfo) Size() int64        { return f.Sz }
func (f *fileInfo) Mode() fs.FileMode  { return f.Md }
func (f *fileInfo) ModTime() time.Time { return f.MT }
func (f *fileInfo) IsDir() bool        { return f.Md.IsDir() }
func (f *fileInfo) Sys() any           { return f.St }
