package main

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// plainUI prints a run line by line and answers the engine's questions from
// the command line's --confirm, --outcome and --yes. A question it cannot
// answer stops the run, resumable, with a line saying which flag is missing.
type plainUI struct {
	w        *bufio.Writer
	runner   *runbook.Runner
	runID    string
	confirms map[string][]string
	outcomes map[string][]string
	yes      bool
	started  map[string]time.Time
	stopMsg  string
}

// answer returns the value given for a step instance (its key first, then
// its step id).
func answer(m map[string][]string, key string) []string {
	if v, ok := m[key]; ok {
		return v
	}
	return m[stepID(key)]
}

func (p *plainUI) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

// Update implements runbook.Frontend. Output is buffered and flushed once
// per update, so a flood of lines costs a few writes, not one per line.
func (p *plainUI) Update(u runbook.Update) {
	defer p.w.Flush()
	if b := u.Batch; b != nil {
		for _, l := range b.Output {
			mark := "    | "
			switch l.Stream {
			case runbook.Stderr:
				mark = "    ! "
			case runbook.Info:
				if strings.HasPrefix(l.Text, "$ ") {
					continue // the command was printed before it ran
				}
				mark = "    · "
			}
			p.w.WriteString(mark)
			p.w.WriteString(l.Text)
			p.w.WriteByte('\n')
		}
		for _, l := range b.Log {
			// Success and failure lines end the watch and are printed then.
			if l.Kind == runbook.MatchWarn {
				p.printf("    log warning: %s\n", firstLine(l.Text))
			}
		}
		return
	}
	ev := u.Event
	if ev == nil {
		return
	}
	if p.started == nil {
		p.started = map[string]time.Time{}
	}
	switch ev.Type {
	case runbook.EvStepStarted:
		p.started[ev.Step] = ev.Time
		attempt := ""
		if ev.Attempt > 1 {
			attempt = fmt.Sprintf(" (attempt %d)", ev.Attempt)
		}
		destructive := ""
		if ev.Destructive {
			destructive = " [destructive]"
		}
		section := ""
		if ev.Section != "" {
			section = string(ev.Section) + " "
		}
		p.printf("%sstep %s: %s%s%s\n", section, ev.Step, ev.Title, destructive, attempt)
		if ev.Source != nil && ev.Source.Doc != "" {
			p.printf("  source: %s\n", ev.Source)
		}
	case runbook.EvStepSkipped:
		p.printf("step %s: skipped: %s\n", ev.Step, ev.Reason)
	case runbook.EvCallStart:
		line := ev.Op
		if ev.Plan != nil {
			line = ev.Plan.Summary()
		}
		p.printf("  %s: %s\n", ev.Phase, line)
	case runbook.EvCallFinished:
		switch {
		case ev.Error != "":
			p.printf("  %s failed: %s\n", ev.Phase, ev.Error)
		case ev.Result != nil && ev.Result.Summary != "":
			p.printf("  %s ok: %s\n", ev.Phase, ev.Result.Summary)
		}
		if ev.Result != nil {
			for _, e := range ev.Result.Evidence {
				p.printf("  evidence: %s\n", firstLine(e))
			}
		}
	case runbook.EvWatchArm:
		if w := ev.Watch; w != nil && w.Host != "" && w.Host != runbook.LocalHost {
			p.printf("  log watch on host %s\n", w.Host)
		}
	case runbook.EvWatchArmed:
		if ev.Error != "" {
			p.printf("  log watch failed to start: %s\n", ev.Error)
			break
		}
		for _, pos := range ev.Positions {
			p.printf("  watching %s from byte %d\n", pos.Path, pos.Offset)
		}
	case runbook.EvWatchFinished:
		switch {
		case ev.Line != nil:
			p.printf("  log %s in %s: %s\n", ev.Line.Kind, ev.Line.File, firstLine(ev.Line.Text))
		case ev.TimedOut:
			p.printf("  log: no match before the timeout\n")
		case ev.Error != "":
			p.printf("  log watch failed: %s\n", ev.Error)
		}
	case runbook.EvWarning:
		p.printf("  WARNING: %s\n", ev.Text)
	case runbook.EvStepSucceeded:
		p.printf("step %s: succeeded in %s\n", ev.Step, since(p.started[ev.Step], ev.Time))
	case runbook.EvStepFailed:
		p.printf("step %s: FAILED: %s\n", ev.Step, ev.Reason)
	case runbook.EvStepRetrying:
		p.printf("step %s: %s\n", ev.Step, ev.Reason)
	case runbook.EvConfirmRequest:
		p.confirm(ev)
	case runbook.EvConfirmAccepted:
		p.printf("  confirmed: %s\n", ev.Token)
	case runbook.EvConfirmRefused:
		p.stop(fmt.Sprintf("step %s: the --confirm token does not match: nothing was run", ev.Step))
	case runbook.EvOperatorRequest:
		p.operator(ev)
	case runbook.EvOperatorAck:
		p.printf("  acknowledged\n")
	case runbook.EvDeviation:
		p.printf("deviation at %s: %s %s: %s\n", ev.Step, ev.Deviation, ev.Target, ev.Reason)
	case runbook.EvReconciled:
		p.printf("step %s: reconciled as %s: %s\n", ev.Step, ev.State, ev.Reason)
	case runbook.EvRunResumed:
		p.printf("resumed\n")
	case runbook.EvRunFinally:
		p.printf("steps ended: %s", ev.Status)
		if ev.Reason != "" {
			p.printf(": %s", ev.Reason)
		}
		p.printf("; the finally steps run now\n")
	case runbook.EvRunFinished:
		p.printf("run: %s", ev.Status)
		if ev.Reason != "" {
			p.printf(": %s", ev.Reason)
		}
		p.printf("\n")
	}
}

func (p *plainUI) confirm(ev *runbook.Event) {
	cmd := ev.Op
	if ev.Plan != nil {
		cmd = ev.Plan.Summary()
	}
	p.printf("  destructive: %s\n", cmd)
	if ev.Plan != nil && ev.Plan.Object != "" {
		p.printf("  acts on: %s\n", ev.Plan.Object)
	}
	if p.yes {
		p.printf("  confirming with %q (--yes on a simulated target)\n", ev.Token)
		p.runner.Send(runbook.Input{Type: runbook.InConfirm, Step: ev.Step, Token: ev.Token})
		return
	}
	given := answer(p.confirms, ev.Step)
	if len(given) == 0 {
		p.stop(fmt.Sprintf("step %s is destructive and needs confirmation: run `drillbook resume %s --confirm %s=%s` after checking the command above", ev.Step, p.runID, stepID(ev.Step), ev.Token))
		return
	}
	tok := given[0]
	for _, g := range given {
		if g == ev.Token {
			tok = g
		}
	}
	p.runner.Send(runbook.Input{Type: runbook.InConfirm, Step: ev.Step, Token: tok})
}

func (p *plainUI) operator(ev *runbook.Event) {
	switch ev.Ask {
	case runbook.AskManual:
		p.printf("  manual: %s\n", indent(ev.Text, "          "))
		if p.yes || has(answer(p.confirms, ev.Step), "done") {
			p.runner.Send(runbook.Input{Type: runbook.InAck, Step: ev.Step})
			return
		}
		p.stop(fmt.Sprintf("step %s is manual: do it, then acknowledge with --confirm %s=done", ev.Step, stepID(ev.Step)))
	case runbook.AskRetry:
		p.printf("  %s\n", ev.Text)
		if p.yes || has(answer(p.confirms, ev.Step), "retry") {
			p.runner.Send(runbook.Input{Type: runbook.InAck, Step: ev.Step})
			return
		}
		p.stop(fmt.Sprintf("step %s failed and retries only when told: fix the cause, then `drillbook resume %s --confirm %s=retry`", ev.Step, p.runID, stepID(ev.Step)))
	case runbook.AskReconcile:
		p.printf("  %s\n", ev.Reason)
		if o := answer(p.outcomes, ev.Step); len(o) > 0 {
			p.runner.Send(runbook.Input{Type: runbook.InReconcile, Step: ev.Step, Reconciled: runbook.StepState(o[0]), Reason: "given with --outcome"})
			return
		}
		p.stop(fmt.Sprintf("step %s was running when drillbook stopped: check what happened, then resume with --outcome %s=succeeded|failed|rerun", ev.Step, stepID(ev.Step)))
	case runbook.AskDecide:
		p.stop(fmt.Sprintf("step %s failed: %s; `drillbook resume %s` to retry, skip or abort with a reason", ev.Step, ev.Reason, p.runID))
	}
}

func has(vs []string, want string) bool {
	for _, v := range vs {
		if v == want {
			return true
		}
	}
	return false
}

func (p *plainUI) stop(msg string) {
	p.stopMsg = msg
	p.runner.Stop(msg)
}

// closing prints the last line of a run that did not finish.
func (p *plainUI) closing(o runbook.Outcome, code int) {
	if o.Status.Final() {
		return
	}
	if p.stopMsg != "" {
		p.printf("stopped: %s\n", p.stopMsg)
	}
	if code == exitInterrupted {
		p.printf("interrupted: `drillbook resume %s` continues where the run stood\n", p.runID)
	}
}

func since(a, b time.Time) string {
	if a.IsZero() {
		return "-"
	}
	d := b.Sub(a)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
