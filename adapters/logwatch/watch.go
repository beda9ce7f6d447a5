package logwatch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/drillbook/drillbook/runbook"
)

// DefaultPollInterval is how often a watch looks at its files when no
// change notification arrives: the backstop for a missed or overflowed
// inotify event and the only clock on file systems without inotify.
const DefaultPollInterval = 200 * time.Millisecond

// DefaultMissingEvery is how often a watch says again that a file it waits
// for does not exist.
const DefaultMissingEvery = 30 * time.Second

// Watcher arms log watches; it implements runbook.Watcher. The zero value
// is not usable: call New.
type Watcher struct {
	poll   time.Duration
	notify bool
	n      *notifier
	// missing is how often a watch repeats that a file does not exist;
	// missingErr refuses to arm a watch on a file that does not exist.
	missing    time.Duration
	missingErr bool
}

var _ runbook.Watcher = (*Watcher)(nil)

// Option configures a Watcher.
type Option func(*Watcher)

// WithPollInterval sets how often files are looked at without a change
// notification (DefaultPollInterval when d is not positive).
func WithPollInterval(d time.Duration) Option {
	return func(w *Watcher) {
		if d > 0 {
			w.poll = d
		}
	}
}

// WithoutNotify makes watches poll only, for file systems where inotify
// does not work (NFS) or is exhausted.
func WithoutNotify() Option {
	return func(w *Watcher) { w.notify = false }
}

// WithMissingEvery sets how often a watch says again that a file it waits
// for does not exist (DefaultMissingEvery when d is not positive).
func WithMissingEvery(d time.Duration) Option {
	return func(w *Watcher) {
		if d > 0 {
			w.missing = d
		}
	}
}

// WithMissingError makes arming a watch on a file that does not exist an
// error, for a target whose logs must be there (missing_logs: error).
func WithMissingError() Option {
	return func(w *Watcher) { w.missingErr = true }
}

// New returns a Watcher.
func New(opts ...Option) *Watcher {
	w := &Watcher{poll: DefaultPollInterval, notify: true, n: &notifier{}, missing: DefaultMissingEvery}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Arm records the start position of every file before it returns, so a
// line written after Arm returns is seen and a line written before it is
// not. With from, each file whose path appears in from resumes there
// instead, and the files rotated since are read first.
func (w *Watcher) Arm(spec runbook.WatchSpec, from []runbook.LogPosition) (runbook.Watch, error) {
	wt, err := w.arm(spec, from)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return wt, nil
}

func (w *Watcher) arm(spec runbook.WatchSpec, from []runbook.LogPosition) (*Watch, error) {
	if len(spec.Files) == 0 {
		return nil, errors.New("log watch has no files: give the server's SystemOut.log under wait.log")
	}
	if spec.Timeout <= 0 {
		return nil, errors.New("log watch has no timeout: set wait.timeout (for example 10m)")
	}
	if len(spec.Success) == 0 && len(spec.Failure) == 0 {
		return nil, errors.New("log watch has no success or failure pattern: give wait.success (for example CWSIP0783)")
	}
	m, err := compileMatcher(spec.Success, spec.Failure, spec.Warn, spec.Engine)
	if err != nil {
		return nil, err
	}
	wt := &Watch{spec: spec, m: m, poll: w.poll, missing: w.missing, buf: make([]byte, 256<<10), wake: make(chan struct{}, 1)}
	seen := map[string]bool{}
	for _, p := range spec.Files {
		if strings.TrimSpace(p) == "" {
			wt.Close()
			return nil, errors.New("log watch has an empty file name: check wait.log")
		}
		p = filepath.Clean(p)
		if seen[p] {
			continue
		}
		seen[p] = true
		var pos *runbook.LogPosition
		for i := range from {
			if filepath.Clean(from[i].Path) == p {
				pos = &from[i]
				break
			}
		}
		f, err := newFollower(p, pos)
		if err != nil {
			wt.Close()
			return nil, err
		}
		wt.fol = append(wt.fol, f)
		if f.absent() {
			if w.missingErr {
				wt.Close()
				return nil, fmt.Errorf("log file %s does not exist: check the log path (the target says missing_logs: error)", p)
			}
			f.notes = append(f.notes, fmt.Sprintf("%s does not exist yet: the watch waits for it to appear (check the path if the server should be writing it already)", p))
		}
	}
	if w.notify {
		// Change notification is an optimisation: without it (no inotify,
		// watches exhausted) the poll interval still finds every line.
		seenDir := map[string]bool{}
		for _, f := range wt.fol {
			if !seenDir[f.dir] {
				seenDir[f.dir] = true
				wt.dirs = append(wt.dirs, f.dir)
			}
		}
		wt.n = w.n
		wt.notes = append(wt.notes, w.n.subscribe(wt.dirs, wt.wake)...)
	}
	return wt, nil
}

// Watch is an armed log watch; it implements runbook.Watch. Wait must not
// be called from two goroutines at once; Close may be called from any.
type Watch struct {
	spec    runbook.WatchSpec
	m       *matcher
	poll    time.Duration
	missing time.Duration // how often a missing file is reported again
	buf     []byte
	fol     []*follower
	n       *notifier
	dirs    []string
	wake    chan struct{}
	notes   []string

	mu       sync.Mutex
	closed   bool
	deadline time.Time

	// Set for the length of one Wait.
	lines       func(runbook.LogLine)
	wantContext bool
	final       *runbook.LogLine
}

var _ runbook.Watch = (*Watch)(nil)

// Positions returns where the watch started in each file.
func (w *Watch) Positions() []runbook.LogPosition {
	out := make([]runbook.LogPosition, len(w.fol))
	for i, f := range w.fol {
		out[i] = f.start
	}
	return out
}

// current returns where the watch stands now in each file. It takes the
// lock: Close may be releasing the followers from another goroutine.
func (w *Watch) current() []runbook.LogPosition {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]runbook.LogPosition, len(w.fol))
	for i, f := range w.fol {
		out[i] = f.position()
	}
	return out
}

// ErrClosed is returned by Wait on a watch that was closed.
var ErrClosed = errors.New("log watch is closed")

// Wait follows the files until a success or failure match, the spec's
// timeout (counted from the first Wait), or ctx is done. Every record is
// passed to lines, from the calling goroutine. A timeout, and a ctx whose
// deadline passed, give an outcome of kind MatchNone and a nil error; a
// cancelled ctx gives its error.
func (w *Watch) Wait(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	return w.wait(ctx, lines, lines != nil)
}

func (w *Watch) wait(ctx context.Context, lines func(runbook.LogLine), wantContext bool) (runbook.WatchOutcome, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return runbook.WatchOutcome{}, ErrClosed
	}
	if w.deadline.IsZero() {
		w.deadline = time.Now().Add(w.spec.Timeout)
	}
	deadline := w.deadline
	wake := w.wake
	w.mu.Unlock()

	w.lines, w.wantContext, w.final = lines, wantContext, nil
	defer func() { w.lines = nil }()
	for _, n := range w.notes {
		w.emit(runbook.LogLine{Text: "drillbook: " + n, Kind: runbook.MatchNote})
	}
	for _, f := range w.fol {
		for _, n := range f.notes {
			w.emit(runbook.LogLine{File: f.path, Text: "drillbook: " + n, Kind: runbook.MatchNote})
		}
		f.notes = nil
	}
	w.notes = nil

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	waited := time.Now()
	nextMissing := waited.Add(w.missing)
	for {
		if w.missing > 0 && !time.Now().Before(nextMissing) {
			nextMissing = nextMissing.Add(w.missing)
			for _, f := range w.fol {
				if f.absent() {
					w.emit(runbook.LogLine{File: f.path, Kind: runbook.MatchNote, Text: fmt.Sprintf("drillbook: %s still does not exist after %s (the watch gives up after %s)", f.path, time.Since(waited).Round(time.Second), w.spec.Timeout)})
				}
			}
		}
		more, err := w.round()
		if err != nil {
			return w.outcome(runbook.MatchNone), err
		}
		if w.final != nil {
			return w.outcome(w.final.Kind), nil
		}
		if err := ctx.Err(); err != nil {
			return w.ctxEnd(ctx)
		}
		if !time.Now().Before(deadline) {
			return w.outcome(runbook.MatchNone), nil
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return w.ctxEnd(ctx)
		case <-timer.C:
			// One last look: a line written just before the deadline counts.
		case <-wake:
		case <-ticker.C:
		}
	}
}

func (w *Watch) ctxEnd(ctx context.Context) (runbook.WatchOutcome, error) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return w.outcome(runbook.MatchNone), nil
	}
	return w.outcome(runbook.MatchNone), fmt.Errorf("log watch stopped: %w", ctx.Err())
}

func (w *Watch) outcome(kind runbook.MatchKind) runbook.WatchOutcome {
	return runbook.WatchOutcome{Kind: kind, Line: w.final, Positions: w.current()}
}

// round reads every file once. more reports that some file has more to
// read right away.
func (w *Watch) round() (more bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false, ErrClosed
	}
	for _, f := range w.fol {
		r, err := f.poll(w.buf, w.onRecord)
		if err != nil {
			return false, err
		}
		switch r {
		case roundStopped:
			return false, nil
		case roundMore:
			more = true
		}
	}
	return more, nil
}

// onRecord classifies one record and passes it on; it returns false on a
// success or failure match.
func (w *Watch) onRecord(f *follower, s *source, raw []byte, _, end int64, trunc bool) bool {
	cand := w.m.candidate(raw)
	if !cand && !w.wantContext {
		return true
	}
	pos := runbook.LogPosition{Path: f.path, Inode: s.key.ino, Offset: end}
	if !cand {
		w.emit(runbook.LogLine{File: s.name, Text: lineText(string(raw), trunc), Position: pos})
		return true
	}
	rec := ParseRecord(string(raw))
	rec.Truncated = trunc
	kind, pat, vars := w.m.match(&rec)
	if kind == runbook.MatchNone && !w.wantContext {
		return true
	}
	ll := runbook.LogLine{File: s.name, Text: lineText(rec.Raw, trunc), Kind: kind, Pattern: pat, Vars: vars, Position: pos}
	w.emit(ll)
	if kind == runbook.MatchSuccess || kind == runbook.MatchFailure {
		w.final = &ll
		return false
	}
	return true
}

func (w *Watch) emit(ll runbook.LogLine) {
	if w.lines != nil {
		w.lines(ll)
	}
}

// lineText makes a record fit to show and journal: valid UTF-8, and a
// visible mark when it was cut.
func lineText(s string, trunc bool) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if trunc {
		s += " [truncated by drillbook]"
	}
	return s
}

// Close releases the files and the change notification; it is safe to
// call twice and while Wait runs (Wait then returns ErrClosed).
func (w *Watch) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	for _, f := range w.fol {
		f.close()
	}
	if w.n != nil {
		w.n.unsubscribe(w.dirs, w.wake)
	}
	select {
	case w.wake <- struct{}{}: // a Wait in progress returns ErrClosed now
	default:
	}
	return nil
}

// Close releases the inotify instance the Watcher's watches share. Watches
// still armed go on by polling.
func (w *Watcher) Close() error {
	return w.n.close()
}
