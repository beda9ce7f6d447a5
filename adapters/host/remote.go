package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// ErrConnectionLost is the cause of every call that was in flight, or
// asked for, when the channel to a host's agent closed: what the call did
// there is not known, so a run leaves the step to be reconciled on resume.
// It wraps runbook.ErrOutcomeUnknown, so the runner stops the run there,
// resumable, rather than counting the step as failed.
var ErrConnectionLost = fmt.Errorf("the connection to the host was lost: %w", runbook.ErrOutcomeUnknown)

// session is one live channel to an agent: its stdout (after the
// greeting), its stdin, and how to end it.
type session struct {
	r       *bufio.Reader
	w       io.WriteCloser
	version string
	pid     int
	// end closes the channel and reaps whatever carried it, bounded.
	end func() error
	// why says, once the channel died, what its carrier said last (ssh's
	// error, its exit status); "" when nothing is known.
	why func() string
	// carrier is the process id of what carries the channel (ssh), 0 when
	// none.
	carrier int
}

// dialFunc opens a session; it must return within its own bound.
type dialFunc func(ctx context.Context) (*session, error)

// Remote is a host reached through a channel to `drillbook agent`. It
// connects on first use, keeps the one connection for every later call,
// and connects again on the next call after a connection was lost.
type Remote struct {
	name  string
	where string
	dial  dialFunc
	// armTimeout bounds Arm, which has no context: the connection, if one
	// is needed, and the start position.
	armTimeout time.Duration
	// missingError makes a watch on a file that does not exist fail to
	// arm (the target's missing_logs: error), as it does locally.
	missingError bool

	mu     sync.Mutex
	cur    *client
	closed bool

	in, out atomic.Int64
}

var _ Host = (*Remote)(nil)

// Traffic returns how many bytes the host's connections have carried from
// and to its agent, frames only (ssh's own overhead is not counted).
func (r *Remote) Traffic() (in, out int64) { return r.in.Load(), r.out.Load() }

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

func newRemote(name, where string, armTimeout time.Duration, dial dialFunc) *Remote {
	return &Remote{name: name, where: where, dial: dial, armTimeout: armTimeout}
}

// Name returns the host's name.
func (r *Remote) Name() string { return r.name }

// String says where the host is.
func (r *Remote) String() string { return r.name + " (" + r.where + ")" }

// Agent returns the version and process id of the agent the host runs now,
// connecting if needed.
func (r *Remote) Agent(ctx context.Context) (version string, pid int, err error) {
	c, err := r.conn(ctx)
	if err != nil {
		return "", 0, err
	}
	return c.sess.version, c.sess.pid, nil
}

// Close ends the connection; the agent then ends what it still runs.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	err := r.cur.sess.end()
	r.cur.m.fail(errors.New("closed"))
	r.cur = nil
	return err
}

func (r *Remote) conn(ctx context.Context) (*client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, &RemoteError{Host: r.name, Msg: "the connection is closed", Cause: ErrConnectionLost}
	}
	if r.cur != nil && r.cur.m.err() == nil {
		return r.cur, nil
	}
	if r.cur != nil {
		_ = r.cur.sess.end()
		r.cur = nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := r.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &client{name: r.name, sess: sess}
	c.m = newMux(countingReader{sess.r, &r.in}, countingWriter{sess.w, &r.out}, func(*frame) {})
	c.m.start()
	r.cur = c
	return c, nil
}

// client is the near side of one session.
type client struct {
	name string
	sess *session
	m    *mux
	ids  atomic.Uint64
	// announced is set once a call has said which agent it reached.
	announced atomic.Bool
}

// announce tells out, once per connection, which agent the host runs.
func (c *client) announce(out runbook.Output, where string) {
	if out != nil && c.announced.CompareAndSwap(false, true) {
		out.Line(runbook.Info, fmt.Sprintf("connected to %s (%s): drillbook agent %s, pid %d", c.name, where, c.sess.version, c.sess.pid))
	}
}

func (c *client) lost(err error) error {
	why := ""
	if c.sess.why != nil {
		why = c.sess.why()
	}
	if why == "" && err != nil {
		why = err.Error()
	}
	msg := "the connection was lost"
	if why != "" {
		msg += " (" + why + ")"
	}
	msg += ": what the call did there is not known; check the host, then `drillbook resume` reconciles the step"
	return &RemoteError{Host: c.name, Msg: msg, Cause: ErrConnectionLost}
}

// roundTrip makes one call: it sends the request, passes every streamed
// frame to on, and returns the reply's body and error. upload, when set,
// runs beside it to send the call's data frames. When ctx ends the agent is
// told to cancel the call and has grace to answer.
func (c *client) roundTrip(ctx context.Context, method string, req any, grace time.Duration, on func(*frame) error, upload func(context.Context, *stream) error) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the %s request: %w", method, err)
	}
	id := c.ids.Add(1)
	s := c.m.open(id)
	defer c.m.close(id)
	f := &frame{T: tCall, ID: id, M: method, B: body}
	if dl, ok := ctx.Deadline(); ok {
		f.TimeoutMS = max(1, time.Until(dl).Milliseconds())
	}
	if err := c.m.send(f); err != nil {
		return nil, c.lost(err)
	}
	cancel := func() { _ = c.m.send(&frame{T: tCancel, ID: id}) }
	// The upload's error is kept for the reply; the upload may still be
	// blocked reading its source when the reply comes, and its caller ends
	// that source.
	upErr := make(chan error, 1)
	upCtx, stopUp := context.WithCancel(ctx)
	defer stopUp()
	if upload != nil {
		go func() {
			if err := upload(upCtx, s); err != nil && upCtx.Err() == nil {
				upErr <- err
				cancel()
			}
		}()
	}
	var onErr error
	stop := ctx.Done()
	var graceTimer *time.Timer
	for {
		fr, err := s.next(stop)
		if errors.Is(err, errStreamDone) {
			if graceTimer == nil {
				cancel()
				ch := make(chan struct{})
				graceTimer = time.AfterFunc(grace, func() { close(ch) })
				defer graceTimer.Stop()
				stop = ch
				continue
			}
			stopUp()
			return nil, &RemoteError{Host: c.name, Msg: fmt.Sprintf("%s did not end within %s of being cancelled: it may still run there", method, grace), Cause: ctx.Err()}
		}
		if err != nil {
			stopUp()
			return nil, c.lost(err)
		}
		if fr.T == tRes {
			stopUp()
			rerr := decodeError(ctx, c.name, fr.E)
			if onErr != nil {
				rerr = onErr
			}
			select {
			case err := <-upErr:
				rerr = err
			default:
			}
			return fr.B, rerr
		}
		if on != nil && onErr == nil {
			if err := on(fr); err != nil {
				onErr = err
				cancel()
			}
		}
	}
}

// do makes a call without streams.
func (r *Remote) do(ctx context.Context, method string, req, resp any) error {
	c, err := r.conn(ctx)
	if err != nil {
		return err
	}
	body, err := c.roundTrip(ctx, method, req, 10*time.Second, nil, nil)
	if err != nil {
		return err
	}
	if resp != nil && len(body) > 0 {
		if err := json.Unmarshal(body, resp); err != nil {
			return &RemoteError{Host: r.name, Msg: fmt.Sprintf("protocol error: the %s reply: %v", method, err)}
		}
	}
	return nil
}

// Run runs the command on the host through its agent.
func (r *Remote) Run(ctx context.Context, cmd Command) (Outcome, error) {
	oc := Outcome{ExitCode: -1}
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return oc, errors.New("no command to run: argv is empty")
	}
	prog := cmd.Argv[0]
	if cmd.Interactive {
		return oc, fmt.Errorf("%s cannot be interactive on host %s: the terminal is on this machine; run it without interactive, or make the step manual and log in to %s yourself", prog, r.name, r.name)
	}
	out := cmd.Out
	if out == nil {
		out = runbook.OutputFunc(func(runbook.Stream, string) {})
	}
	req := runReq{Argv: cmd.Argv, Env: cmd.Env, Dir: cmd.Dir, Secrets: cmd.Secrets, WaitDelay: cmd.WaitDelay, TailLines: cmd.TailLines, Capture: cmd.Capture}
	if cmd.Stdin != nil {
		b, err := io.ReadAll(io.LimitReader(cmd.Stdin, MaxStdin+1))
		if err != nil {
			return oc, fmt.Errorf("read the input for %s: %w", prog, err)
		}
		if len(b) > MaxStdin {
			return oc, fmt.Errorf("the input for %s on host %s is over %d bytes: copy it there as a file instead", prog, r.name, MaxStdin)
		}
		req.Stdin, req.HasStdin = b, true
	}
	if err := ctx.Err(); err != nil {
		return oc, fmt.Errorf("%s not started: %w", prog, err)
	}
	c, err := r.conn(ctx)
	if err != nil {
		out.Line(runbook.Info, "could not start "+prog+": "+err.Error())
		return oc, err
	}
	c.announce(out, r.where)
	wd := cmd.WaitDelay
	if wd <= 0 {
		wd = proc.DefaultWaitDelay
	}
	body, err := c.roundTrip(ctx, "run", req, 2*wd+5*time.Second, func(f *frame) error {
		if f.T == tOut {
			out.Line(runbook.Stream(f.S), f.X)
		}
		return nil
	}, nil)
	if len(body) > 0 {
		_ = json.Unmarshal(body, &oc)
	}
	if err != nil && errors.Is(err, ErrConnectionLost) {
		out.Line(runbook.Info, err.Error())
	}
	return oc, err
}

// Stat describes path on the host.
func (r *Remote) Stat(ctx context.Context, path string) (fs.FileInfo, error) {
	var fi fileInfo
	if err := r.do(ctx, "stat", pathReq{Path: path}, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// ReadDir lists a directory on the host.
func (r *Remote) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	var list []*fileInfo
	if err := r.do(ctx, "readdir", pathReq{Path: dir}, &list); err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, len(list))
	for i, f := range list {
		out[i] = f
	}
	return out, nil
}

// ReadFile reads a small file on the host.
func (r *Remote) ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	if limit > maxHeader/2 {
		limit = maxHeader / 2
	}
	var resp pathResp
	if err := r.do(ctx, "readfile", pathReq{Path: path, Limit: limit}, &resp); err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// WriteFile replaces a small file on the host atomically.
func (r *Remote) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	if len(data) > maxHeader/2 {
		return fmt.Errorf("write %s on host %s: %d bytes is too much for one write: copy the file as a tree", path, r.name, len(data))
	}
	return r.do(ctx, "writefile", pathReq{Path: path, Data: data, Perm: perm}, nil)
}

// MkdirAll creates a directory and its parents on the host.
func (r *Remote) MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	return r.do(ctx, "mkdirall", pathReq{Path: path, Perm: perm}, nil)
}

// Mkdir creates one new directory on the host; an existing one is an
// error (fs.ErrExist).
func (r *Remote) Mkdir(ctx context.Context, path string, perm fs.FileMode) error {
	return r.do(ctx, "mkdir", pathReq{Path: path, Perm: perm}, nil)
}

// Writable checks on the host that its user may create files in dir.
func (r *Remote) Writable(ctx context.Context, dir string) error {
	return r.do(ctx, "writable", pathReq{Path: dir}, nil)
}

// MkdirTemp creates a new directory on the host.
func (r *Remote) MkdirTemp(ctx context.Context, dir, pattern string) (string, error) {
	var resp pathResp
	err := r.do(ctx, "mkdirtemp", pathReq{Dir: dir, Pattern: pattern}, &resp)
	return resp.Path, err
}

// RemoveAll removes a path and everything under it on the host.
func (r *Remote) RemoveAll(ctx context.Context, path string) error {
	return r.do(ctx, "removeall", pathReq{Path: path}, nil)
}

// FreeSpace reads the free space where path is on the host.
func (r *Remote) FreeSpace(ctx context.Context, path string) (Space, error) {
	var sp Space
	err := r.do(ctx, "freespace", pathReq{Path: path}, &sp)
	return sp, err
}

// Copy copies within the host; progress comes back as it happens.
func (r *Remote) Copy(ctx context.Context, src, dst string, opts file.CopyOptions) (*file.Manifest, error) {
	c, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	body, err := c.roundTrip(ctx, "copy", copyReq{Src: src, Dst: dst, Replace: opts.Replace, Progress: opts.Progress != nil}, 30*time.Second, func(f *frame) error {
		var p progress
		if f.T == tProg && json.Unmarshal(f.B, &p) == nil && opts.Progress != nil {
			opts.Progress(p.Files, p.Bytes)
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return manifestOf(r.name, body)
}

func manifestOf(hostName string, body json.RawMessage) (*file.Manifest, error) {
	var m file.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &RemoteError{Host: hostName, Msg: fmt.Sprintf("protocol error: a manifest: %v", err)}
	}
	return &m, nil
}

// Manifest hashes a tree where it lies on the host.
func (r *Remote) Manifest(ctx context.Context, root string, ignore ...string) (*file.Manifest, error) {
	var m file.Manifest
	if err := r.do(ctx, "manifest", manifestReq{Root: root, Ignore: ignore}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Verify checks a tree against a manifest where it lies on the host.
func (r *Remote) Verify(ctx context.Context, root string, m *file.Manifest, ignore ...string) (*file.VerifyReport, error) {
	var rep file.VerifyReport
	if err := r.do(ctx, "verify", manifestReq{Root: root, Manifest: m, Ignore: ignore}, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// ReadManifest reads a manifest file on the host.
func (r *Remote) ReadManifest(ctx context.Context, path string) (*file.Manifest, error) {
	var m file.Manifest
	if err := r.do(ctx, "readmanifest", pathReq{Path: path}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// WriteManifest writes a manifest file on the host.
func (r *Remote) WriteManifest(ctx context.Context, path string, m *file.Manifest) error {
	return r.do(ctx, "writemanifest", manifestReq{Root: path, Manifest: m}, nil)
}

// SendTree streams a tree from the host to w.
func (r *Remote) SendTree(ctx context.Context, root string, w io.Writer) (*file.Manifest, error) {
	c, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	body, err := c.roundTrip(ctx, "sendtree", manifestReq{Root: root}, 30*time.Second, func(f *frame) error {
		if f.T == tData {
			if _, err := w.Write(f.payload); err != nil {
				return fmt.Errorf("pass on %s from host %s: %w", root, r.name, err)
			}
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return manifestOf(r.name, body)
}

// ReceiveTree streams a tree from rd onto the host at dst.
func (r *Remote) ReceiveTree(ctx context.Context, dst string, rd io.Reader) (*file.Manifest, error) {
	c, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	body, err := c.roundTrip(ctx, "recvtree", manifestReq{Root: dst}, 30*time.Second, nil, func(ctx context.Context, s *stream) error {
		w := streamWriter{ctx: ctx, s: s}
		buf := make([]byte, dataChunk)
		if _, err := io.CopyBuffer(w, ctxReader{ctx, rd}, buf); err != nil {
			return fmt.Errorf("send the tree to %s on host %s: %w", dst, r.name, err)
		}
		return s.sendStreamed(ctx, &frame{T: tEOF, ID: s.id})
	})
	if err != nil {
		return nil, err
	}
	return manifestOf(r.name, body)
}

// Op runs a host-side operation on the host.
func (r *Remote) Op(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	args, err := encodeArgs(call.Args)
	if err != nil {
		return res, err
	}
	if out == nil {
		out = runbook.OutputFunc(func(runbook.Stream, string) {})
	}
	c, err := r.conn(ctx)
	if err != nil {
		return res, err
	}
	c.announce(out, r.where)
	body, err := c.roundTrip(ctx, "op", opReq{Op: call.Op, Args: args, Step: call.Step, Phase: call.Phase, Attempt: call.Attempt, Timeout: call.Timeout}, 30*time.Second, func(f *frame) error {
		if f.T == tOut {
			out.Line(runbook.Stream(f.S), f.X)
		}
		return nil
	}, nil)
	if len(body) > 0 {
		_ = json.Unmarshal(body, &res)
	}
	return res, err
}

// Arm arms a log watch on the host: the agent takes the start position
// there before Arm returns.
func (r *Remote) Arm(spec runbook.WatchSpec, from []runbook.LogPosition) (runbook.Watch, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.armTimeout)
	defer cancel()
	c, err := r.conn(ctx)
	if err != nil {
		return nil, err
	}
	body, err := c.roundTrip(ctx, "watch.arm", armReq{Spec: spec, From: from, MissingError: r.missingError}, 10*time.Second, nil, nil)
	if err != nil {
		return nil, err
	}
	var resp armResp
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, &RemoteError{Host: r.name, Msg: fmt.Sprintf("protocol error: the watch.arm reply: %v", err)}
	}
	return &remoteWatch{host: r.name, c: c, id: resp.Watch, positions: resp.Positions}, nil
}

// remoteWatch is a watch armed by a host's agent.
type remoteWatch struct {
	host      string
	c         *client
	id        uint64
	positions []runbook.LogPosition

	mu     sync.Mutex
	closed bool
}

// Positions returns where the watch started in each file.
func (w *remoteWatch) Positions() []runbook.LogPosition {
	return append([]runbook.LogPosition(nil), w.positions...)
}

// Wait follows the files on the host; records arrive as they are read.
func (w *remoteWatch) Wait(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	return w.wait(ctx, lines, false)
}

// WaitMatches is Wait without the context lines: only records that match
// a pattern cross the connection (`drillbook watch`).
func (w *remoteWatch) WaitMatches(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	return w.wait(ctx, lines, true)
}

func (w *remoteWatch) wait(ctx context.Context, lines func(runbook.LogLine), matchesOnly bool) (runbook.WatchOutcome, error) {
	var oc runbook.WatchOutcome
	body, err := w.c.roundTrip(ctx, "watch.wait", waitReq{Watch: w.id, MatchesOnly: matchesOnly}, 10*time.Second, func(f *frame) error {
		if f.T != tLog || lines == nil {
			return nil
		}
		var ll runbook.LogLine
		if err := json.Unmarshal(f.B, &ll); err != nil {
			return &RemoteError{Host: w.host, Msg: fmt.Sprintf("protocol error: a log record: %v", err)}
		}
		lines(ll)
		return nil
	}, nil)
	if len(body) > 0 {
		_ = json.Unmarshal(body, &oc)
	}
	return oc, err
}

// Close ends the watch on the host; a Wait in progress returns.
func (w *remoteWatch) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	if w.c.m.err() != nil {
		return nil // the agent closed it with the connection
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.c.roundTrip(ctx, "watch.close", waitReq{Watch: w.id}, 5*time.Second, nil, nil)
	if errors.Is(err, ErrConnectionLost) {
		return nil
	}
	return err
}
