package was

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// A wsadmin session is one wsadmin process, started with the generated
// request loop (GenerateSessionLoop), that runs every script call the
// adapter makes until the deployment manager stops, the session has been
// idle for was.session_idle, or a call goes wrong. Each wsadmin start costs
// a JVM start and a connection to the deployment manager. IBM's "wsadmin
// tool performance tips" (rxml_performance, WAS 8.5.5 and 9.0.5): "When
// you launch a script using the wsadmin tool, a new process is created
// with a new Java virtual machine", and many invocations "run slower than
// if you use a single wsadmin -f command". That page gives no figure; the
// 3 to 60 s per start the issue quotes matches an older IBM technote on
// WAS V4's wscp and admin client ("Speeding up WSCP and administration
// client initialization": the JIT overhead alone was 3 to 6 s on Windows,
// 45 to 60 s on AIX). The session pays the start once per
// deployment-manager lifetime.
//
// Calls go one at a time. A call that runs past its time, is cancelled,
// or whose JVM dies ends the session (its whole process group); the next
// call starts a fresh one. The session lives in drillbook's process only:
// a resumed run starts a new one, and a wsadmin left by a drillbook that
// died reads the end of its input and ends.

// promptLine matches what wsadmin shows when it asks for credentials on
// its console instead of reading them from the -p file (the login prompt
// "Realm/Cell Name: <default>:", "Username:", "Password:"; wording from
// IBM's wsadmin security documentation, the exact text varies by release,
// so any line ending in one of these words and a colon counts).
var promptLine = regexp.MustCompile(`(?i)(password|user ?name|user ?id|realm/cell name[^:]*)\s*:\s*$`)

// connectionLine matches wsadmin's messages that say it has no connection
// to the deployment manager: WASX7016E (bad connection options),
// WASX7023E (cannot create the connection), WASX7213I (running
// unconnected), WASX7246E (credentials refused), and the connector's own
// exception.
var connectionLine = regexp.MustCompile(`\bWASX(7016E|7023E|7213I|7246E)\b|ConnectorNotAvailableException`)

// ErrSession is wrapped by the error of a call that failed because of its
// wsadmin session (it could not connect, asked for a password, or its JVM
// died), not because of what the call's script found.
var ErrSession = errors.New("wsadmin session error")

// session is the target's wsadmin session. Its zero value has no process.
type session struct {
	// sem holds one token while a call (or the idle timer) uses the
	// session: calls go one at a time.
	sem chan struct{}

	mu     sync.Mutex // guards the fields below against the output pumps
	p      *proc.Process
	dir    string // the loop script and, until connected, the credentials
	host   string
	id     int // number of the running session; 0 when none
	starts int // wsadmin processes started so far
	calls  int // calls in the running session
	seq    int // request ids
	idle   *time.Timer
	cur    *sessionCall // the call reading the output, nil between calls
	early  []string     // output before the loop said it was ready
	ready  chan struct{}
	alarm  chan struct{} // closed when a prompt or connection error comes before ready
}

// sessionCall is one call's view of the session's output.
type sessionCall struct {
	id   string
	scan *scanOutput
	end  chan struct{}
	once sync.Once
}

func newSession() *session { return &session{sem: make(chan struct{}, 1)} }

// Line takes a line of the session's output: protocol lines are read, the
// rest go to the current call (or are kept for the start's error).
func (s *session) Line(stream runbook.Stream, text string) {
	line := strings.TrimRight(text, "\r\n")
	s.mu.Lock()
	cur, ready := s.cur, s.ready
	if stream == runbook.Stdout && line == readyMarker && ready != nil {
		select {
		case <-ready:
		default:
			close(ready)
		}
		s.mu.Unlock()
		return
	}
	if stream == runbook.Stdout && strings.HasPrefix(line, endMarker) {
		s.mu.Unlock()
		if cur != nil && strings.TrimPrefix(line, endMarker) == cur.id {
			cur.once.Do(func() { close(cur.end) })
		}
		return
	}
	if ready != nil {
		select {
		case <-ready:
		default:
			if stream != runbook.Info && len(s.early) < 50 {
				s.early = append(s.early, line)
			}
			if (promptLine.MatchString(line) || connectionLine.MatchString(line)) && s.alarm != nil {
				select {
				case <-s.alarm:
				default:
					close(s.alarm)
				}
			}
		}
	}
	s.mu.Unlock()
	if cur != nil {
		cur.scan.Line(stream, text)
	}
}

// startWsadmin starts a wsadmin process for a session, on this machine
// (RealBackend.noSession keeps a deployment manager on another host to one
// process per call). It is the one place a session's process is started,
// so that it can be pointed at another host once adapters/host can start a
// process with its input open.
func startWsadmin(spec proc.Spec) (*proc.Process, error) { return proc.Start(spec) }

// open starts a session when none runs and waits until its loop is ready
// (wsadmin has connected and run it). A connection failure, a password
// prompt or an exit before that is an ErrSession error and leaves no
// session.
func (b *RealBackend) open(ctx context.Context, h host.Host, req Request, cur *sessionCall) (started bool, err error) {
	s := b.sess
	s.mu.Lock()
	alive := s.p != nil
	if alive {
		select {
		case <-s.p.Done():
			alive = false
		default:
		}
	}
	s.mu.Unlock()
	if alive {
		return false, nil
	}
	b.endSession("its wsadmin had ended")
	dir, err := os.MkdirTemp("", "drillbook-wsadmin-")
	if err != nil {
		return false, fmt.Errorf("make a directory for the wsadmin session: %w", err)
	}
	loop := filepath.Join(dir, "session-loop.py")
	if err := os.WriteFile(loop, []byte(GenerateSessionLoop()), 0o600); err != nil {
		os.RemoveAll(dir)
		return false, fmt.Errorf("write the wsadmin session loop: %w", err)
	}
	var secrets []string
	props := ""
	if b.cfg.User != "" && b.cfg.connType() != "NONE" {
		pw, err := b.cfg.Password.Resolve(ctx)
		if err != nil {
			os.RemoveAll(dir)
			return false, fmt.Errorf("was.password: %w", err)
		}
		secrets = SecretForms(pw)
		props = filepath.Join(dir, "credentials.properties")
		if err := writeCredentials(ctx, h, props, b.cfg, pw); err != nil {
			os.RemoveAll(dir)
			return false, err
		}
	}
	env := scrubbedEnv(b.secretEnvNames())
	if d := b.cfg.JVMStart.Duration; d > 0 {
		// Only a stand-in wsadmin reads it (the tests' and the benchmark's
		// modelled JVM start); a real wsadmin.sh ignores it.
		env = append(env, jvmStartEnv+"="+strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	}
	ready, alarm := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.alarm = alarm
	s.ready, s.early, s.cur, s.dir, s.host = ready, nil, cur, dir, b.Host()
	s.starts++
	s.id = s.starts
	s.calls = 0
	s.mu.Unlock()
	cur.scan.Line(runbook.Info, fmt.Sprintf("starting wsadmin session %d on %s (one JVM for the calls that follow, until the deployment manager stops or the session is idle for %s)", s.id, b.Host(), b.cfg.sessionIdle()))
	p, err := startWsadmin(proc.Spec{
		Argv:    b.wsadminArgv(loop, props, nil),
		Env:     env,
		Out:     s,
		Secrets: secrets,
		Prompts: promptLine,
	})
	if err != nil {
		b.endSession("it could not start")
		return false, err
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	select {
	case <-ready:
	case <-alarm:
	case <-p.Done():
	case <-ctx.Done():
	}
	s.mu.Lock()
	early := append([]string(nil), s.early...)
	s.mu.Unlock()
	var bad string
	for _, l := range early {
		if connectionLine.MatchString(l) || promptLine.MatchString(l) {
			bad = l
			break
		}
	}
	if bad == "" {
		select {
		case <-ready:
			// Connected: wsadmin has read the credentials file.
			if props != "" {
				os.Remove(props)
			}
			return true, nil
		default:
		}
	}
	prompt := bad != "" && promptLine.MatchString(bad) && !connectionLine.MatchString(bad)
	if ctx.Err() != nil && bad == "" {
		b.endSession("it did not connect in time")
		return true, fmt.Errorf("%w: wsadmin %s did not finish in time and was stopped: it had not connected to %s, so the script was not run; check that the deployment manager answers (a hung wsadmin often waits for a certificate or password prompt): %w", ErrSession, req.Script, b.Host(), ctx.Err())
	}
	b.endSession("it could not connect")
	oc, exitErr := p.Outcome()
	switch {
	case prompt:
		return true, fmt.Errorf("%w: wsadmin asked for credentials (%q) instead of connecting, so %s was not run: set was.user and was.password in targets.yaml, or the credentials in the profile's soap.client.props", ErrSession, strings.TrimSpace(bad), req.Script)
	case bad != "":
		return true, fmt.Errorf("%w: wsadmin could not connect, so %s was not run: %s%s", ErrSession, req.Script, bad, wasxHint(bad, b.Host()))
	}
	msg := fmt.Sprintf("wsadmin ended before its session was ready, so %s was not run", req.Script)
	if exitErr != nil {
		msg += ": " + exitErr.Error()
	} else {
		msg += fmt.Sprintf(" (exit status %d)", oc.ExitCode)
	}
	if len(early) > 0 {
		msg += "; last output: " + strings.Join(early[max(0, len(early)-5):], " | ")
	}
	return true, fmt.Errorf("%w: %s", ErrSession, msg)
}

// endSession stops the session's process group, if one runs, and forgets
// it; the next call starts a new one. The caller holds the session's token
// or the session has no call running.
func (b *RealBackend) endSession(reason string) {
	s := b.sess
	s.mu.Lock()
	p, dir := s.p, s.dir
	s.p, s.dir, s.ready, s.cur = nil, "", nil, nil
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.mu.Unlock()
	if p != nil {
		p.Stop(reason)
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// EndSession ends the target's wsadmin session, waiting for a call in
// progress to finish first; drillbook calls it before it exits.
func (b *RealBackend) EndSession() {
	b.sess.sem <- struct{}{}
	b.endSession("drillbook is done with it")
	<-b.sess.sem
}

// armIdle ends the session after the idle time unless a call comes first.
func (b *RealBackend) armIdle() {
	s := b.sess
	d := b.cfg.sessionIdle()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return
	}
	if s.idle != nil {
		s.idle.Stop()
	}
	s.idle = time.AfterFunc(d, func() {
		select {
		case s.sem <- struct{}{}:
		default:
			return // a call is running; it arms the timer again
		}
		b.endSession(fmt.Sprintf("idle for %s", d))
		<-s.sem
	})
}

// newBoundary returns a delimiter that occurs in none of the blocks.
func newBoundary(blocks []string) (string, error) {
	for {
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("make a request boundary: %w", err)
		}
		bd := "drillbook-" + hex.EncodeToString(r[:])
		clash := false
		for _, bl := range blocks {
			if strings.Contains(bl, bd) {
				clash = true
			}
		}
		if !clash {
			return bd, nil
		}
	}
}

// encodeRequest frames a script and its arguments for the session loop.
func encodeRequest(id, script string, args []string) (string, error) {
	blocks := append([]string{script}, args...)
	bd, err := newBoundary(blocks)
	if err != nil {
		return "", err
	}
	var w strings.Builder
	w.WriteString(requestMarker + id + " " + bd + "\n")
	for i, bl := range blocks {
		w.WriteString(bl)
		w.WriteString("\n--" + bd)
		if i == len(blocks)-1 {
			w.WriteString("--")
		}
		w.WriteString("\n")
	}
	return w.String(), nil
}

// runInSession runs one script call in the session, starting it first when
// none runs.
func (b *RealBackend) runInSession(ctx context.Context, h host.Host, req Request, text string, out runbook.Output) (Reply, error) {
	s := b.sess
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("wsadmin %s waited for the session's previous call until its time ran out: %w", req.Script, ctx.Err())
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.seq++
	cur := &sessionCall{id: strconv.Itoa(s.seq), scan: &scanOutput{out: out}, end: make(chan struct{})}
	s.mu.Unlock()

	started, err := b.open(ctx, h, req, cur)
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	noteSession(ctx, fmt.Sprintf("wsadmin session %d on %s", id, b.Host()), started)
	if err != nil {
		return Reply{}, err
	}
	defer b.armIdle()
	msg, err := encodeRequest(cur.id, text, req.Args)
	if err != nil {
		return Reply{}, err
	}
	s.mu.Lock()
	s.cur = cur
	s.calls++
	p := s.p
	n := s.calls
	s.mu.Unlock()
	if n > 1 {
		out.Line(runbook.Info, fmt.Sprintf("wsadmin %s in session %d (call %d of its JVM)", req.Script, id, n))
	}
	written := make(chan error, 1)
	go func() { _, err := p.Write([]byte(msg)); written <- err }()
	select {
	case <-cur.end:
	case <-p.Done():
		// Lines still in the pipe were read before Done closed.
	case <-ctx.Done():
	}
	select {
	case <-cur.end:
	default:
		if ctx.Err() != nil {
			b.endSession("its call ran out of time")
			return judgeScript(ctx, req, cur.scan, nil, b.Host())
		}
		_, exitErr := p.Outcome()
		b.endSession("its JVM ended")
		cur.scan.mu.Lock()
		tail := strings.Join(cur.scan.tail, " | ")
		for _, l := range cur.scan.errs {
			if connectionLine.MatchString(l) {
				cur.scan.mu.Unlock()
				return Reply{}, fmt.Errorf("%w: wsadmin lost its connection during %s: %s%s", ErrSession, req.Script, l, wasxHint(l, b.Host()))
			}
		}
		cur.scan.mu.Unlock()
		msg := fmt.Sprintf("the wsadmin session's JVM ended during %s (%v), so what the script did is not known: check the state it acts on before running it again", req.Script, exitErr)
		if tail != "" {
			msg += "; last output: " + tail
		}
		return Reply{}, fmt.Errorf("%w: %s", ErrSession, msg)
	}
	<-written
	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	reply, err := judgeScript(ctx, req, cur.scan, nil, b.Host())
	cur.scan.mu.Lock()
	lost := ""
	for _, l := range cur.scan.errs {
		if lost == "" && connectionLine.MatchString(l) {
			lost = l
		}
	}
	cur.scan.mu.Unlock()
	if lost != "" {
		// The deployment manager went away under the session: the next
		// call reconnects.
		b.endSession("it lost its connection")
		return reply, fmt.Errorf("%w: wsadmin lost its connection during %s: %s%s", ErrSession, req.Script, lost, wasxHint(lost, b.Host()))
	}
	return reply, err
}

// jvmStartEnv passes the modelled JVM start (was.jvm_start) to a stand-in
// wsadmin.
const jvmStartEnv = "DRILLBOOK_WSADMIN_JVM_START"

// sessionNoteKey carries a sessionNote in a call's context.
type sessionNoteKey struct{}

// sessionNote collects which wsadmin sessions an operation's calls used.
type sessionNote struct {
	mu     sync.Mutex
	names  []string
	starts int
	calls  int
}

func withSessionNote(ctx context.Context) (context.Context, *sessionNote) {
	n := &sessionNote{}
	return context.WithValue(ctx, sessionNoteKey{}, n), n
}

// noteSession records that a call ran in the named session, and whether
// it started it.
func noteSession(ctx context.Context, name string, started bool) {
	n, ok := ctx.Value(sessionNoteKey{}).(*sessionNote)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if started {
		n.starts++
	}
	for _, x := range n.names {
		if x == name {
			return
		}
	}
	n.names = append(n.names, name)
}

// describe says which sessions the calls used: "wsadmin session 2 on
// dmgr01:8879 (SOAP) (2 calls, started by this step)"; "" when none.
func (n *sessionNote) describe() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.names) == 0 {
		return ""
	}
	s := strings.Join(n.names, ", ")
	var parts []string
	if n.calls > 1 {
		parts = append(parts, fmt.Sprintf("%d calls", n.calls))
	}
	switch {
	case n.starts == 1:
		parts = append(parts, "started by this step")
	case n.starts > 1:
		parts = append(parts, fmt.Sprintf("%d wsadmin starts in this step", n.starts))
	default:
		parts = append(parts, "shared")
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}
