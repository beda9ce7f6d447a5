package logwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// Exit codes of RunCLI.
const (
	ExitSuccess     = 0   // a success pattern matched
	ExitFailure     = 1   // a failure pattern matched
	ExitBadInput    = 2   // the options, a file or a pattern are wrong
	ExitTimeout     = 5   // nothing matched before the timeout
	ExitInterrupted = 130 // ctx was cancelled (Ctrl-C)
)

// DefaultCLITimeout is the timeout of `drillbook watch` when none is given.
const DefaultCLITimeout = 10 * time.Minute

// CLIExample is the example shown by `drillbook watch --help`.
const CLIExample = `  # Wait for ME1's "flush of all delivery streams completed" after a FLUSH start,
  # failing fast on a flush failure and showing stale-request warnings:
  drillbook watch --log /opt/IBM/WebSphere/AppServer/profiles/AppSrv01/logs/server1/SystemOut.log \
    --success CWSIP0783 --failure CWSIP0782 --warn CWSIP0784 --engine ME1 --timeout 10m

  # Both cluster members at once, from the start of the files:
  drillbook watch --log logs/server1/SystemOut.log --log logs/server2/SystemOut.log \
    --success 'CWSID0016I: Messaging engine (?P<me>\S+) is in state Started' --from start`

// CLIOptions are the options of `drillbook watch`.
type CLIOptions struct {
	// Logs are the files to follow, all at once.
	Logs []string
	// Success, Failure and Warn are patterns: a bare message id such as
	// CWSIP0783 (any severity letter) or a Go regular expression.
	Success, Failure, Warn []string
	// Engine, when set, scopes matches to that messaging engine.
	Engine string
	// Timeout ends the watch with exit code 5; zero means DefaultCLITimeout.
	Timeout time.Duration
	// From is where to start in each file: "end" (or ""), the default, for
	// lines written from now on; "start" for the whole file; or a byte
	// offset.
	From string
	// PollInterval overrides DefaultPollInterval; zero keeps it.
	PollInterval time.Duration
	// Host names the host the logs are on, for messages; "" is this
	// machine.
	Host string
	// Watcher arms the watch on that host (a host's own watcher, which
	// follows the files where they are written); nil means a Watcher of
	// this package on this machine.
	Watcher runbook.Watcher
	// Inode returns the inode of a file on that host and whether it
	// exists, for --from OFFSET; nil means os.Stat on this machine.
	Inode func(path string) (ino uint64, exists bool, err error)
}

// WaitMatches is Wait without the context lines: only records that match a
// success, failure or warning pattern are passed to lines. `drillbook
// watch` prints only those, and a remote host then sends only those.
func (w *Watch) WaitMatches(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	return w.wait(ctx, lines, false)
}

// matchWaiter is a watch that can leave the context lines out.
type matchWaiter interface {
	WaitMatches(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error)
}

// RunCLI runs `drillbook watch`: it follows the logs, prints each record
// that matches a pattern to stdout, and returns ExitSuccess, ExitFailure,
// ExitTimeout, ExitBadInput (with a message on stderr naming the problem and
// what to do) or ExitInterrupted.
func RunCLI(ctx context.Context, o CLIOptions, stdout, stderr io.Writer) int {
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "drillbook watch: "+format+"\n", a...)
		return ExitBadInput
	}
	if len(o.Logs) == 0 {
		return bad("no log file given: pass --log PATH (for example .../logs/server1/SystemOut.log)")
	}
	if len(o.Success) == 0 && len(o.Failure) == 0 {
		return bad("no pattern given: pass --success ID (for example CWSIP0783) and/or --failure ID")
	}
	if o.Timeout < 0 {
		return bad("--timeout %s is negative: give a duration such as 10m", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultCLITimeout
	}
	inode := o.Inode
	if inode == nil {
		inode = localInode
	}
	from, err := cliFrom(o.From, o.Logs, inode)
	if err != nil {
		return bad("%v", err)
	}
	spec := runbook.WatchSpec{Host: o.Host, Files: o.Logs, Success: o.Success, Failure: o.Failure, Warn: o.Warn, Engine: o.Engine, Timeout: o.Timeout}
	watcher := o.Watcher
	if watcher == nil {
		local := New(WithPollInterval(o.PollInterval))
		defer local.Close()
		watcher = local
	}
	w, err := watcher.Arm(spec, from)
	if err != nil {
		return bad("%v", err)
	}
	defer w.Close()
	show := func(ll runbook.LogLine) {
		label := "INFO"
		switch ll.Kind {
		case runbook.MatchSuccess:
			label = "SUCCESS"
		case runbook.MatchFailure:
			label = "FAILURE"
		case runbook.MatchWarn:
			label = "WARN"
		}
		fmt.Fprintf(stdout, "%-7s %s: %s\n", label, ll.File, ll.Text)
	}
	var out runbook.WatchOutcome
	if mw, ok := w.(matchWaiter); ok {
		out, err = mw.WaitMatches(ctx, show)
	} else {
		// A watch that sends every record: print what a match-only one
		// would (the matches and drillbook's own notes).
		out, err = w.Wait(ctx, func(ll runbook.LogLine) {
			if ll.Kind != runbook.MatchNone || strings.HasPrefix(ll.Text, "drillbook: ") {
				show(ll)
			}
		})
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "drillbook watch: interrupted\n")
		return ExitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "drillbook watch: %v\n", err)
		return ExitBadInput
	case out.Kind == runbook.MatchSuccess:
		return ExitSuccess
	case out.Kind == runbook.MatchFailure:
		return ExitFailure
	}
	on := ""
	if o.Host != "" {
		on = " on host " + o.Host
	}
	fmt.Fprintf(stderr, "drillbook watch: no success or failure line within %s in %s%s\n", o.Timeout, strings.Join(o.Logs, ", "), on)
	return ExitTimeout
}

func localInode(path string) (uint64, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return inodeOf(fi), true, nil
}

// cliFrom turns --from into resume positions: nil for the end, offset 0 or
// the given offset in each file's current inode otherwise.
func cliFrom(from string, logs []string, inode func(string) (uint64, bool, error)) ([]runbook.LogPosition, error) {
	if from == "" || from == "end" {
		return nil, nil
	}
	var off int64
	if from != "start" {
		n, err := strconv.ParseInt(from, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--from %q is not end, start or a byte offset", from)
		}
		off = n
	}
	out := make([]runbook.LogPosition, 0, len(logs))
	for _, p := range logs {
		pos := runbook.LogPosition{Path: filepath.Clean(p), Offset: off}
		ino, exists, err := inode(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("--from %d: %w", off, err)
		case exists:
			pos.Inode = ino
		case off > 0:
			return nil, fmt.Errorf("--from %d: %s does not exist yet", off, p)
		}
		out = append(out, pos)
	}
	return out, nil
}
