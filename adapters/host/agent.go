package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/runbook"
)

// Requests and replies of the protocol's calls, by method.
type (
	runReq struct {
		Argv      []string      `json:"argv"`
		Env       []string      `json:"env,omitempty"`
		Dir       string        `json:"dir,omitempty"`
		Stdin     []byte        `json:"stdin,omitempty"`
		HasStdin  bool          `json:"has_stdin,omitempty"`
		Secrets   []string      `json:"secrets,omitempty"`
		WaitDelay time.Duration `json:"wait_delay,omitempty"`
		TailLines int           `json:"tail_lines,omitempty"`
		Capture   int           `json:"capture,omitempty"`
	}
	pathReq struct {
		Path    string      `json:"path"`
		Dir     string      `json:"dir,omitempty"`
		Pattern string      `json:"pattern,omitempty"`
		Limit   int64       `json:"limit,omitempty"`
		Perm    fs.FileMode `json:"perm,omitempty"`
		Data    []byte      `json:"data,omitempty"`
	}
	pathResp struct {
		Path string `json:"path,omitempty"`
		Data []byte `json:"data,omitempty"`
	}
	copyReq struct {
		Src      string `json:"src"`
		Dst      string `json:"dst"`
		Replace  bool   `json:"replace,omitempty"`
		Progress bool   `json:"progress,omitempty"`
	}
	progress struct {
		Files int   `json:"files"`
		Bytes int64 `json:"bytes"`
	}
	manifestReq struct {
		Root     string         `json:"root"`
		Ignore   []string       `json:"ignore,omitempty"`
		Manifest *file.Manifest `json:"manifest,omitempty"`
	}
	opReq struct {
		Op      string               `json:"op"`
		Args    map[string]wireValue `json:"args"`
		Step    string               `json:"step,omitempty"`
		Phase   runbook.Phase        `json:"phase,omitempty"`
		Attempt int                  `json:"attempt,omitempty"`
		Timeout time.Duration        `json:"timeout,omitempty"`
	}
	armReq struct {
		Spec runbook.WatchSpec     `json:"spec"`
		From []runbook.LogPosition `json:"from,omitempty"`
		// MissingError refuses a file that does not exist (the target's
		// missing_logs: error) instead of waiting for it.
		MissingError bool `json:"missing_error,omitempty"`
	}
	armResp struct {
		Watch     uint64                `json:"watch"`
		Positions []runbook.LogPosition `json:"positions"`
	}
	waitReq struct {
		Watch       uint64 `json:"watch"`
		MatchesOnly bool   `json:"matches_only,omitempty"`
	}
)

// AgentOptions configure Serve.
type AgentOptions struct {
	// Version is this drillbook's version, sent in the greeting.
	Version string
	// Local carries out the requests; nil means NewLocal("").
	Local *Local
	// StopDelay bounds how long Serve waits, once the channel is gone,
	// for the calls it ended to finish (their process groups interrupted,
	// then killed); zero means 30s.
	StopDelay time.Duration
}

// agent is the far side of one channel.
type agent struct {
	local *Local
	m     *mux
	ctx   context.Context

	wg      sync.WaitGroup
	mu      sync.Mutex
	closing bool // no new call starts once set
	cancels map[uint64]context.CancelFunc
	watches map[uint64]runbook.Watch
	// strict arms the watches of a target with missing_logs: error; made
	// on first use.
	strict *Local
}

// strictLocal returns the host whose watcher refuses a missing file.
func (a *agent) strictLocal() *Local {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.strict == nil {
		a.strict = NewLocal(a.local.name, logwatch.WithMissingError())
	}
	return a.strict
}

// Serve is `drillbook agent`: it writes the greeting to w, then carries out
// the calls read from r until r ends (the SSH channel closed) or ctx is
// done. Then it ends every call still running, so every process group it
// started is interrupted and killed, closes every watch, and returns.
func Serve(ctx context.Context, r io.Reader, w io.Writer, opts AgentOptions) error {
	if opts.Local == nil {
		opts.Local = NewLocal("")
		defer opts.Local.Close()
	}
	if opts.StopDelay <= 0 {
		opts.StopDelay = 30 * time.Second
	}
	version := opts.Version
	if version == "" {
		version = "unknown"
	}
	if _, err := fmt.Fprintf(w, "%sprotocol=%d version=%s pid=%d\n", greetingPrefix, ProtocolVersion, version, os.Getpid()); err != nil {
		return fmt.Errorf("agent: write the greeting: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &agent{local: opts.Local, ctx: ctx, cancels: map[uint64]context.CancelFunc{}, watches: map[uint64]runbook.Watch{}}
	a.m = newMux(r, w, a.onFrame)
	a.m.start()
	select {
	case <-a.m.dead:
	case <-ctx.Done():
		a.m.fail(ctx.Err())
	}
	cancel()
	a.mu.Lock()
	a.closing = true
	for _, c := range a.cancels {
		c()
	}
	for id, wt := range a.watches {
		wt.Close()
		delete(a.watches, id)
	}
	if a.strict != nil {
		defer a.strict.Close()
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(opts.StopDelay):
		return fmt.Errorf("agent: calls still running %s after the channel closed", opts.StopDelay)
	}
	if err := a.m.err(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// onFrame runs on the reading goroutine: it starts calls and cancels them.
func (a *agent) onFrame(f *frame) {
	switch f.T {
	case tCall:
		ctx, cancel := context.WithCancel(a.ctx)
		if f.TimeoutMS > 0 {
			ctx, cancel = context.WithTimeout(a.ctx, time.Duration(f.TimeoutMS)*time.Millisecond)
		}
		a.mu.Lock()
		if a.closing {
			a.mu.Unlock()
			cancel()
			return
		}
		a.cancels[f.ID] = cancel
		a.wg.Add(1)
		a.mu.Unlock()
		s := a.m.open(f.ID)
		go func() {
			defer a.wg.Done()
			body, err := a.call(ctx, f, s)
			res := &frame{T: tRes, ID: f.ID, E: encodeError(err)}
			var oe *outcomeError
			if errors.As(err, &oe) {
				res.B = oe.outcome
			}
			if err == nil && body != nil {
				b, merr := json.Marshal(body)
				if merr != nil {
					res.E = encodeError(fmt.Errorf("encode the reply to %s: %w", f.M, merr))
				} else {
					res.B = b
				}
			}
			_ = a.m.send(res)
			a.m.close(f.ID)
			a.mu.Lock()
			delete(a.cancels, f.ID)
			a.mu.Unlock()
			cancel()
		}()
	case tCancel:
		a.mu.Lock()
		c := a.cancels[f.ID]
		a.mu.Unlock()
		if c != nil {
			c()
		}
	}
}

// maxQueuedOutput is how much output a call's lineQueue holds for a client
// that is slower than the process writing it, before the process has to
// wait.
const maxQueuedOutput = 256 << 20

// lineQueue passes a process's output lines to the client as out frames,
// in order, from a goroutine of its own. The process's reader never waits
// for the network: proc.Run stops reading a process's output a while after
// the process exited (a background child may hold it open), so output held
// up by a slow connection would be cut off. Locally the runner takes lines
// as fast as they come; the queue gives the agent the same behaviour.
type lineQueue struct {
	ctx context.Context
	s   *stream

	mu     sync.Mutex
	q      []*frame
	bytes  int64
	closed bool
	wake   chan struct{}
	space  chan struct{}
	done   chan struct{}
}

// newLineQueue starts a queue for the call's stream; ctx ends it (the
// channel closed), not the call's end: a cancelled command's last lines
// ("stopping ...") still reach the client.
func newLineQueue(ctx context.Context, s *stream) *lineQueue {
	l := &lineQueue{ctx: ctx, s: s, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Line queues one line.
func (l *lineQueue) Line(stream runbook.Stream, text string) {
	f := &frame{T: tOut, ID: l.s.id, S: string(stream), X: text}
	l.mu.Lock()
	for l.bytes > maxQueuedOutput && !l.closed {
		l.mu.Unlock()
		select {
		case <-l.space:
		case <-l.ctx.Done():
			return
		case <-l.done:
			return
		}
		l.mu.Lock()
	}
	l.q = append(l.q, f)
	l.bytes += f.size()
	l.mu.Unlock()
	poke(l.wake)
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (l *lineQueue) run() {
	defer close(l.done)
	for {
		l.mu.Lock()
		batch, closed := l.q, l.closed
		l.q, l.bytes = nil, 0
		l.mu.Unlock()
		poke(l.space)
		for _, f := range batch {
			if err := l.s.sendStreamed(l.ctx, f); err != nil {
				return // the channel is gone: nobody reads the rest
			}
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			return
		}
		select {
		case <-l.wake:
		case <-l.ctx.Done():
			return
		}
	}
}

// close sends what is queued and returns once it is sent (or the channel
// is gone), so the reply follows the last line.
func (l *lineQueue) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	poke(l.wake)
	<-l.done
}

// streamWriter sends what is written to it as data frames.
type streamWriter struct {
	ctx context.Context
	s   *stream
}

func (w streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), dataChunk)
		if err := w.s.sendStreamed(w.ctx, &frame{T: tData, ID: w.s.id, payload: append([]byte(nil), p[:k]...)}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// streamReader reads the data frames a call receives, to their eof.
type streamReader struct {
	stop <-chan struct{}
	s    *stream
	buf  []byte
	eof  bool
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		f, err := r.s.next(r.stop)
		if err != nil {
			if errors.Is(err, errStreamDone) {
				return 0, context.Canceled
			}
			return 0, err
		}
		switch f.T {
		case tData:
			r.buf = f.payload
		case tEOF:
			r.eof = true
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func decode[T any](f *frame) (T, error) {
	var v T
	if err := json.Unmarshal(f.B, &v); err != nil {
		return v, fmt.Errorf("protocol error: %s request: %w", f.M, err)
	}
	return v, nil
}

// call carries out one call with the local host and returns its reply.
func (a *agent) call(ctx context.Context, f *frame, s *stream) (any, error) {
	l := a.local
	switch f.M {
	case "run":
		req, err := decode[runReq](f)
		if err != nil {
			return nil, err
		}
		out := newLineQueue(a.ctx, s)
		cmd := Command{Argv: req.Argv, Env: req.Env, Dir: req.Dir, Secrets: req.Secrets, WaitDelay: req.WaitDelay,
			TailLines: req.TailLines, Capture: req.Capture, Out: out}
		if req.HasStdin {
			cmd.Stdin = bytes.NewReader(req.Stdin)
		}
		oc, err := l.Run(ctx, cmd)
		out.close()
		// The outcome goes back even when the command failed.
		if err != nil {
			b, _ := json.Marshal(oc)
			return nil, &outcomeError{err: err, outcome: b}
		}
		return oc, nil
	case "stat", "readdir", "readfile", "writefile", "mkdirall", "mkdir", "writable", "mkdirtemp", "removeall", "freespace", "readmanifest":
		req, err := decode[pathReq](f)
		if err != nil {
			return nil, err
		}
		switch f.M {
		case "stat":
			return l.Stat(ctx, req.Path)
		case "readdir":
			return l.ReadDir(ctx, req.Path)
		case "readfile":
			b, err := l.ReadFile(ctx, req.Path, req.Limit)
			return pathResp{Data: b}, err
		case "writefile":
			return nil, l.WriteFile(ctx, req.Path, req.Data, req.Perm)
		case "mkdirall":
			return nil, l.MkdirAll(ctx, req.Path, req.Perm)
		case "mkdir":
			return nil, l.Mkdir(ctx, req.Path, req.Perm)
		case "writable":
			return nil, l.Writable(ctx, req.Path)
		case "mkdirtemp":
			p, err := l.MkdirTemp(ctx, req.Dir, req.Pattern)
			return pathResp{Path: p}, err
		case "removeall":
			return nil, l.RemoveAll(ctx, req.Path)
		case "freespace":
			return l.FreeSpace(ctx, req.Path)
		default:
			return l.ReadManifest(ctx, req.Path)
		}
	case "copy":
		req, err := decode[copyReq](f)
		if err != nil {
			return nil, err
		}
		opts := file.CopyOptions{Replace: req.Replace}
		if req.Progress {
			opts.Progress = func(files int, bytes int64) {
				b, _ := json.Marshal(progress{files, bytes})
				_ = s.sendStreamed(ctx, &frame{T: tProg, ID: s.id, B: b})
			}
		}
		return l.Copy(ctx, req.Src, req.Dst, opts)
	case "manifest", "verify", "writemanifest", "sendtree", "recvtree":
		req, err := decode[manifestReq](f)
		if err != nil {
			return nil, err
		}
		switch f.M {
		case "manifest":
			return l.Manifest(ctx, req.Root, req.Ignore...)
		case "verify":
			if req.Manifest == nil {
				return nil, errors.New("protocol error: verify without a manifest")
			}
			return l.Verify(ctx, req.Root, req.Manifest, req.Ignore...)
		case "writemanifest":
			if req.Manifest == nil {
				return nil, errors.New("protocol error: writemanifest without a manifest")
			}
			return nil, l.WriteManifest(ctx, req.Root, req.Manifest)
		case "sendtree":
			m, err := l.SendTree(ctx, req.Root, streamWriter{ctx, s})
			if err == nil {
				err = s.sendStreamed(ctx, &frame{T: tEOF, ID: s.id})
			}
			return m, err
		default:
			return l.ReceiveTree(ctx, req.Root, &streamReader{stop: ctx.Done(), s: s})
		}
	case "op":
		req, err := decode[opReq](f)
		if err != nil {
			return nil, err
		}
		args, err := decodeArgs(req.Args)
		if err != nil {
			return nil, err
		}
		call := runbook.Call{Op: req.Op, Args: args, Step: req.Step, Phase: req.Phase, Attempt: req.Attempt, Timeout: req.Timeout}
		out := newLineQueue(a.ctx, s)
		res, err := l.Op(ctx, call, out)
		out.close()
		if err != nil {
			b, _ := json.Marshal(res)
			return nil, &outcomeError{err: err, outcome: b}
		}
		return res, nil
	case "watch.arm":
		req, err := decode[armReq](f)
		if err != nil {
			return nil, err
		}
		armer := l
		if req.MissingError {
			armer = a.strictLocal()
		}
		wt, err := armer.Arm(req.Spec, req.From)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		if a.closing {
			a.mu.Unlock()
			wt.Close()
			return nil, fmt.Errorf("the agent is stopping: %w", logwatch.ErrClosed)
		}
		a.watches[f.ID] = wt
		a.mu.Unlock()
		return armResp{Watch: f.ID, Positions: wt.Positions()}, nil
	case "watch.wait", "watch.close":
		req, err := decode[waitReq](f)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		wt := a.watches[req.Watch]
		if f.M == "watch.close" {
			delete(a.watches, req.Watch)
		}
		a.mu.Unlock()
		if wt == nil {
			if f.M == "watch.close" {
				return nil, nil
			}
			return nil, fmt.Errorf("no armed watch %d on this host: %w", req.Watch, logwatch.ErrClosed)
		}
		if f.M == "watch.close" {
			return nil, wt.Close()
		}
		send := func(ll runbook.LogLine) {
			b, err := json.Marshal(ll)
			if err == nil {
				_ = s.sendStreamed(ctx, &frame{T: tLog, ID: s.id, B: b})
			}
		}
		if mw, ok := wt.(interface {
			WaitMatches(context.Context, func(runbook.LogLine)) (runbook.WatchOutcome, error)
		}); ok && req.MatchesOnly {
			return mw.WaitMatches(ctx, send)
		}
		return wt.Wait(ctx, send)
	}
	return nil, fmt.Errorf("protocol error: unknown method %q (this agent speaks protocol %d)", f.M, ProtocolVersion)
}

// outcomeError carries a failed call's partial reply (a process's outcome,
// an operation's result) with its error.
type outcomeError struct {
	err     error
	outcome json.RawMessage
}

func (e *outcomeError) Error() string { return e.err.Error() }
func (e *outcomeError) Unwrap() error { return e.err }

// readGreeting reads lines from r until the agent's greeting, skipping
// what a login shell may print first (a banner, a motd); it gives up after
// 64 KiB.
func readGreeting(r *bufio.Reader) (protocol int, version string, pid int, skipped []string, err error) {
	read := 0
	for read < 64<<10 {
		line, err := r.ReadString('\n')
		read += len(line)
		if p, v, id, ok := parseGreeting(line); ok {
			return p, v, id, skipped, nil
		}
		if t := line; len(t) > 0 && len(skipped) < 5 {
			skipped = append(skipped, trimLine(t))
		}
		if err != nil {
			return 0, "", 0, skipped, err
		}
	}
	return 0, "", 0, skipped, errors.New("no agent greeting in the first 64 KiB of output")
}

func trimLine(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
