package logwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// A WebSphere server can log through HPEL (High Performance Extensible
// Logging) instead of SystemOut.log: its records then go to a binary
// repository, by default PROFILE/logs/SERVER/logdata, and are read with
// the profile's bin/logViewer.sh (IBM "LogViewer command-line tool"). The
// official tWAS container image switches servers to it and deletes
// SystemOut.log (WASdev/ci.docker.websphere-traditional,
// scripts/start_server.sh), so a watch on that SystemOut.log would wait to
// its timeout for lines that never come.
//
// HPELWatcher finds such servers when a watch is armed and follows them
// with `logViewer.sh -monitor`, whose basic-format output is what this
// package parses. The guarantees, where HPEL allows them:
//   - no stale record: the watch's start is the time it was armed, given as
//     -startDate, so logViewer prints only records written from then on
//     (IBM's LogViewer.execute: a monitor starts at -startDate, or at the
//     time it starts when none is given, which would miss what is written
//     while its JVM starts);
//   - no lost record: logViewer reads the repository itself, through its
//     rotations, from that time on;
//   - resume: a position holds the time the watch stands at (the last
//     record's), so a resumed watch starts there; records of the same
//     millisecond may then be seen twice, as HPEL gives no finer position.
// The -startDate is written in logViewer's English pattern (M/d/yy H:m:s:S
// z, CWTRA0003I in LogViewerMessages.nlsprops) in GMT, and logViewer runs
// with LC_ALL=C so that its JVM reads that pattern whatever the host's
// locale (the pattern is localised).
//
// A server found logging through HPEL without a logViewer.sh where its
// profile should have one fails the watch at once, saying so and what to
// do, instead of waiting to the timeout.

// HPELWatcher arms watches with the Watcher it wraps, following the
// servers that log through HPEL with logViewer.sh.
type HPELWatcher struct {
	inner runbook.Watcher
	// interval is logViewer's -monitor interval in seconds.
	interval int
	now      func() time.Time
}

var _ runbook.Watcher = (*HPELWatcher)(nil)

// WithHPEL wraps a Watcher so that its watches follow servers logging
// through HPEL too.
func WithHPEL(inner runbook.Watcher) *HPELWatcher {
	return &HPELWatcher{inner: inner, interval: 1, now: time.Now}
}

// HPELServer is what DetectHPEL found of a server that logs through HPEL.
type HPELServer struct {
	// Log is the SystemOut.log path a watch was given.
	Log string
	// Repository is the HPEL log repository (logdata).
	Repository string
	// Viewer is the profile's logViewer.sh.
	Viewer string
	// Reason says how the server was found out.
	Reason string
}

// DetectHPEL reports whether the server whose SystemOut.log is path logs
// through HPEL: its server.xml enables HighPerformanceExtensibleLogging
// (the service configHPEL.py of the tWAS image enables), or a logdata
// repository sits beside a SystemOut.log that is missing or older than
// the repository's newest file. The layout read is WebSphere's default:
// PROFILE/logs/SERVER/SystemOut.log, PROFILE/logs/SERVER/logdata and
// PROFILE/bin/logViewer.sh.
func DetectHPEL(path string) (HPELServer, bool) {
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	server := filepath.Base(dir)
	profile := filepath.Dir(filepath.Dir(dir))
	h := HPELServer{Log: path, Repository: filepath.Join(dir, "logdata"), Viewer: filepath.Join(profile, "bin", "logViewer.sh")}
	if filepath.Base(path) != "SystemOut.log" {
		return h, false
	}
	if xml := serverXML(profile, server); xml != "" && hpelEnabled(xml) {
		h.Reason = "its server.xml (" + xml + ") enables HighPerformanceExtensibleLogging"
		return h, true
	}
	repo, err := os.Stat(h.Repository)
	if err != nil || !repo.IsDir() {
		return h, false
	}
	newest := newestIn(h.Repository)
	if fi, err := os.Stat(path); err != nil {
		h.Reason = "it has an HPEL repository (" + h.Repository + ") and no SystemOut.log"
		return h, true
	} else if !newest.IsZero() && newest.After(fi.ModTime()) {
		h.Reason = fmt.Sprintf("its HPEL repository (%s) was written at %s, after its SystemOut.log (%s)", h.Repository, newest.Format(time.RFC3339), fi.ModTime().Format(time.RFC3339))
		return h, true
	}
	return h, false
}

// serverXML finds the server's server.xml in the profile's configuration:
// config/cells/CELL/nodes/NODE/servers/SERVER/server.xml, NODE being the
// profile's own (WAS_NODE in bin/setupCmdLine.sh) when the profile names
// it. "" when there is none.
func serverXML(profile, server string) string {
	node := ""
	if b, err := readLimited(filepath.Join(profile, "bin", "setupCmdLine.sh"), 1<<20); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
			if v, ok := strings.CutPrefix(line, "WAS_NODE="); ok {
				node = strings.Trim(v, `"'`)
			}
		}
	}
	pattern := filepath.Join(profile, "config", "cells", "*", "nodes", "*", "servers", server, "server.xml")
	if node != "" {
		pattern = filepath.Join(profile, "config", "cells", "*", "nodes", node, "servers", server, "server.xml")
	}
	matches, _ := filepath.Glob(pattern)
	if len(matches) != 1 {
		return ""
	}
	return matches[0]
}

// hpelEnabled reports whether a server.xml has the
// HighPerformanceExtensibleLogging service with enable="true".
func hpelEnabled(path string) bool {
	b, err := readLimited(path, 16<<20)
	if err != nil {
		return false
	}
	for _, el := range bytes.Split(b, []byte("<")) {
		if bytes.Contains(el, []byte("HighPerformanceExtensibleLogging")) && bytes.Contains(el, []byte(`enable="true"`)) {
			return true
		}
	}
	return false
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, max)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, err
	}
	return b[:n], nil
}

// newestIn returns the newest modification time of the files in dir and
// its subdirectories (HPEL keeps one per server instance).
func newestIn(dir string) time.Time {
	var newest time.Time
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	return newest
}

// Arm arms a watch: files of servers that log through HPEL are followed
// with logViewer.sh, the others by the wrapped Watcher.
func (w *HPELWatcher) Arm(spec runbook.WatchSpec, from []runbook.LogPosition) (runbook.Watch, error) {
	var plain []string
	var servers []HPELServer
	for _, f := range spec.Files {
		if h, ok := DetectHPEL(f); ok {
			servers = append(servers, h)
		} else {
			plain = append(plain, f)
		}
	}
	if len(servers) == 0 {
		return w.inner.Arm(spec, from)
	}
	for _, h := range servers {
		if fi, err := os.Stat(h.Viewer); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return nil, fmt.Errorf("the server of %s logs through HPEL (%s), so nothing is written to that SystemOut.log, and there is no logViewer.sh at %s to follow its repository: run the profile's logViewer.sh -monitor -repositoryDir %s yourself, or switch the server to basic logging (Troubleshooting > Logs and trace > Change log and trace mode)", h.Log, h.Reason, h.Viewer, h.Repository)
		}
	}
	if spec.Timeout <= 0 {
		return nil, errors.New("log watch has no timeout: set wait.timeout (for example 10m)")
	}
	m, err := compileMatcher(spec.Success, spec.Failure, spec.Warn, spec.Engine)
	if err != nil {
		return nil, err
	}
	hw := &hpelWatch{spec: spec, m: m, interval: w.interval}
	armed := w.now().UTC().Truncate(time.Millisecond)
	for _, h := range servers {
		start := armed
		for _, p := range from {
			if filepath.Clean(p.Path) == h.Log && p.Inode == 0 && p.Offset > 0 {
				start = time.UnixMilli(p.Offset).UTC()
			}
		}
		hw.followers = append(hw.followers, &hpelFollower{server: h, start: start, pos: start})
	}
	if len(plain) > 0 {
		sub := spec
		sub.Files = plain
		inner, err := w.inner.Arm(sub, from)
		if err != nil {
			return nil, err
		}
		hw.inner = inner
	}
	return hw, nil
}

// hpelFollower is one HPEL server of a watch.
type hpelFollower struct {
	server HPELServer
	// start is the time the watch follows the server from; pos the time of
	// the last record read (start before any).
	start, pos time.Time
}

// position is an HPEL follower's place as a LogPosition: the SystemOut.log
// path it was asked for, inode 0 (no file), and the time in milliseconds
// since 1970 as the offset.
func (f *hpelFollower) position() runbook.LogPosition {
	return runbook.LogPosition{Path: f.server.Log, Offset: f.pos.UnixMilli()}
}

// hpelWatch follows HPEL servers with logViewer and any other files with
// the wrapped watcher's watch.
type hpelWatch struct {
	spec      runbook.WatchSpec
	m         *matcher
	interval  int
	followers []*hpelFollower
	inner     runbook.Watch

	mu       sync.Mutex
	closed   bool
	deadline time.Time
	cancel   context.CancelFunc
}

// Positions returns where the watch started in each file.
func (w *hpelWatch) Positions() []runbook.LogPosition {
	var out []runbook.LogPosition
	if w.inner != nil {
		out = append(out, w.inner.Positions()...)
	}
	for _, f := range w.followers {
		out = append(out, runbook.LogPosition{Path: f.server.Log, Offset: f.start.UnixMilli()})
	}
	return out
}

// hpelEvent is what the goroutines of a Wait send to it.
type hpelEvent struct {
	line    *runbook.LogLine
	outcome *runbook.WatchOutcome
	err     error
	f       *hpelFollower
}

// Wait follows every server until a success or failure record, the
// timeout, or ctx; lines are passed to lines from the calling goroutine.
func (w *hpelWatch) Wait(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return runbook.WatchOutcome{}, ErrClosed
	}
	if w.deadline.IsZero() {
		w.deadline = time.Now().Add(w.spec.Timeout)
	}
	wctx, cancel := context.WithDeadline(ctx, w.deadline)
	w.cancel = cancel
	w.mu.Unlock()
	defer cancel()
	emit := func(ll runbook.LogLine) {
		if lines != nil {
			lines(ll)
		}
	}
	events := make(chan hpelEvent, 64)
	var wg sync.WaitGroup
	for _, f := range w.followers {
		emit(runbook.LogLine{File: f.server.Log, Text: fmt.Sprintf("drillbook: this server logs through HPEL (%s); following %s with %s -monitor from %s", f.server.Reason, f.server.Repository, f.server.Viewer, f.pos.Format(time.RFC3339Nano))})
		wg.Add(1)
		go func(f *hpelFollower) {
			defer wg.Done()
			w.follow(wctx, f, events)
		}(f)
	}
	if w.inner != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oc, err := w.inner.Wait(wctx, func(ll runbook.LogLine) {
				select {
				case events <- hpelEvent{line: &ll}:
				case <-wctx.Done():
				}
			})
			select {
			case events <- hpelEvent{outcome: &oc, err: err}:
			case <-wctx.Done():
			}
		}()
	}
	defer func() {
		// Stop the followers and wait for them, reading what they still
		// send; the channel is never closed, so a late send cannot panic.
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for {
			select {
			case <-events:
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case ev := <-events:
			switch {
			case ev.line != nil:
				emit(*ev.line)
				if ev.f == nil {
					continue
				}
				if k := ev.line.Kind; k == runbook.MatchSuccess || k == runbook.MatchFailure {
					return runbook.WatchOutcome{Kind: k, Line: ev.line, Positions: w.current()}, nil
				}
			case ev.outcome != nil:
				if ev.err != nil || ev.outcome.Kind != runbook.MatchNone {
					oc := *ev.outcome
					oc.Positions = append(oc.Positions, w.current()...)
					return oc, ev.err
				}
			case ev.err != nil:
				return runbook.WatchOutcome{Positions: w.current()}, ev.err
			}
		case <-wctx.Done():
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return runbook.WatchOutcome{Positions: w.current()}, fmt.Errorf("log watch stopped: %w", ctx.Err())
			}
			w.mu.Lock()
			closed := w.closed
			w.mu.Unlock()
			if closed {
				return runbook.WatchOutcome{Positions: w.current()}, ErrClosed
			}
			return runbook.WatchOutcome{Positions: w.current()}, nil
		}
	}
}

func (w *hpelWatch) current() []runbook.LogPosition {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []runbook.LogPosition
	for _, f := range w.followers {
		out = append(out, f.position())
	}
	return out
}

// follow runs logViewer -monitor for one server until ctx ends, sending
// every record it prints. A logViewer that ends by itself is an error.
func (w *hpelWatch) follow(ctx context.Context, f *hpelFollower, events chan<- hpelEvent) {
	w.mu.Lock()
	start := f.pos
	w.mu.Unlock()
	argv := []string{f.server.Viewer, "-repositoryDir", f.server.Repository, "-format", "basic",
		"-monitor", fmt.Sprint(w.interval), "-startDate", hpelDate(start)}
	rec := &recordSink{w: w, f: f, ctx: ctx, events: events}
	oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Env: []string{"LC_ALL=C"}, Out: rec, TailLines: 5})
	rec.stop()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		err = fmt.Errorf("%s ended by itself", f.server.Viewer)
	}
	tail := strings.Join(append(oc.StdoutTail, oc.StderrTail...), " | ")
	select {
	case events <- hpelEvent{err: fmt.Errorf("following the HPEL repository %s with %s failed: %w (last output: %s): check that the profile's logViewer.sh runs, or switch the server to basic logging", f.server.Repository, f.server.Viewer, err, tail)}:
	case <-ctx.Done():
	}
}

// hpelDate formats a time as logViewer's -startDate in its English
// pattern M/d/yy H:m:s:S z, in GMT.
func hpelDate(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%d/%d/%02d %d:%d:%d:%03d GMT", int(t.Month()), t.Day(), t.Year()%100, t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6)
}

// recordSink groups logViewer's output lines into records (a header line
// and its continuation lines) and sends each to the Wait.
type recordSink struct {
	w      *hpelWatch
	f      *hpelFollower
	ctx    context.Context
	events chan<- hpelEvent

	mu      sync.Mutex
	pending []string
	timer   *time.Timer
}

// Line takes one line of logViewer's standard output.
func (s *recordSink) Line(stream runbook.Stream, text string) {
	if stream != runbook.Stdout {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if isHeaderStart([]byte(text)) && len(s.pending) > 0 {
		s.flushLocked()
	}
	s.pending = append(s.pending, strings.TrimRight(text, "\r"))
	// logViewer prints a record's lines together; a record is complete at
	// the next header, or when nothing follows it for a moment.
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(150*time.Millisecond, s.flush)
}

// stop sends what is pending and stops the timer.
func (s *recordSink) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.flushLocked()
}

func (s *recordSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *recordSink) flushLocked() {
	if len(s.pending) == 0 {
		return
	}
	raw := strings.Join(s.pending, "\n")
	s.pending = nil
	rec := ParseRecord(raw)
	if !rec.WebSphere {
		// logViewer's own lines (CWTRA0020I, a server instance's header)
		// are shown, never matched.
		s.send(runbook.LogLine{File: s.f.server.Log, Text: "logViewer: " + lineText(raw, false)})
		return
	}
	kind, pat, vars := s.w.m.match(&rec)
	s.w.mu.Lock()
	if !rec.Time.IsZero() && rec.Time.After(s.f.pos) {
		s.f.pos = rec.Time.UTC()
	}
	pos := s.f.position()
	s.w.mu.Unlock()
	s.send(runbook.LogLine{File: s.f.server.Repository, Text: lineText(rec.Raw, false), Kind: kind, Pattern: pat, Vars: vars, Position: pos})
}

func (s *recordSink) send(ll runbook.LogLine) {
	select {
	case s.events <- hpelEvent{line: &ll, f: s.f}:
	case <-s.ctx.Done():
	}
}

// Close stops the logViewer processes and the wrapped watch; safe to call
// twice.
func (w *hpelWatch) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	if w.inner != nil {
		return w.inner.Close()
	}
	return nil
}
