package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/drillbook/drillbook/runbook"
)

// Exit codes, documented in docs/exit-codes.md. exitCode is the only place
// that maps errors to them.
const (
	exitOK          = 0 // the run finished, or the command did what it was asked
	exitFailed      = 1 // a step failed or the run was aborted
	exitUsage       = 2 // bad usage or invalid input: nothing was run
	exitNeedConfirm = 3 // a destructive or manual step needs --confirm (or a reconcile needs --outcome)
	exitInterrupted = 4 // interrupted; `drillbook resume RUN` continues
	exitTimedOut    = 5 // a step or wait timed out
)

// usageError is bad input: flags, arguments, files.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitStatus carries an exit code chosen by a command that has already told
// the user why (a run that stopped at a confirmation, a failed step).
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var st exitStatus
	var ue usageError
	var probs runbook.Problems
	var locked *runbook.LockedError
	var state *runbook.StateDirError
	var jw *runbook.JournalWriteError
	switch {
	case errors.As(err, &st):
		return st.code
	case errors.As(err, &ue), errors.As(err, &probs), errors.As(err, &locked), errors.As(err, &state):
		return exitUsage
	case errors.As(err, &jw):
		// The journal could not be written (a full disk): the run stopped
		// at its last record on disk, resumable.
		return exitInterrupted
	case errors.Is(err, runbook.ErrRunFinished):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimedOut
	}
	return exitFailed
}

// outcomeCode maps how a run ended to its exit code.
func outcomeCode(o runbook.Outcome) int {
	switch o.Status {
	case runbook.RunSucceeded:
		return exitOK
	case runbook.RunTimedOut:
		return exitTimedOut
	case runbook.RunFailed, runbook.RunAborted:
		return exitFailed
	}
	if w := o.Waiting; w != nil {
		switch {
		case w.Type == runbook.EvConfirmRequest:
			return exitNeedConfirm
		case w.Ask == runbook.AskManual, w.Ask == runbook.AskRetry, w.Ask == runbook.AskReconcile:
			return exitNeedConfirm
		case w.Ask == runbook.AskDecide && w.TimedOut:
			return exitTimedOut
		case w.Ask == runbook.AskDecide:
			return exitFailed
		}
	}
	return exitInterrupted
}
