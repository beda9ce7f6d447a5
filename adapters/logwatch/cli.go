package logwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	from, err := cliFrom(o.From, o.Logs)
	if err != nil {
		return bad("%v", err)
	}
	spec := runbook.WatchSpec{Files: o.Logs, Success: o.Success, Failure: o.Failure, Warn: o.Warn, Engine: o.Engine, Timeout: o.Timeout}
	w, err := New(WithPollInterval(o.PollInterval)).arm(spec, from)
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
	out, err := w.wait(ctx, show, false)
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
	fmt.Fprintf(stderr, "drillbook watch: no success or failure line within %s in %s\n", o.Timeout, strings.Join(o.Logs, ", "))
	return ExitTimeout
}

// cliFrom turns --from into resume positions: nil for the end, offset 0 or
// the given offset in each file's current inode otherwise.
func cliFrom(from string, logs []string) ([]runbook.LogPosition, error) {
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
		if fi, err := os.Stat(p); err == nil {
			pos.Inode = inodeOf(fi)
		} else if off > 0 {
			return nil, fmt.Errorf("--from %d: %s does not exist yet", off, p)
		}
		out = append(out, pos)
	}
	return out, nil
}
