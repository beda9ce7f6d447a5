package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// plainUI prints a run line by line and answers the engine's questions from
// the command line's --confirm, --outcome, --retry, --skip, --abort and
// --yes. A question it cannot answer stops the run, resumable, with a line
// saying which flag is missing.
type plainUI struct {
	w      *bufio.Writer
	runner *runbook.Runner
	runID  string
	ans    answers
	yes    bool
	// simulated marks a simulated target, where a step that is not
	// simulated is pointed out.
	simulated bool
	ahead     []runbook.PlannedStep // the plan, for the flags later steps need
	secrets   []string
	steps     []runbook.StepView // as they stood after the last event
	stopMsg   string
	hint      string // the flags the rest of the run needs, printed on stopping
	// withFlags gives a printed drillbook command the flags the run was
	// started with, so it works when copied; planCmd is the plan of this
	// run as a command to copy.
	withFlags func(string) string
	planCmd   string
	// fileHosts gives the host each file of a watch is followed on (see
	// estate.watchFileHosts); nil means the spec's own host for every file.
	fileHosts func(runbook.WatchSpec) []string
	// noted is the step instance whose notes were printed with its start
	// line, so its confirmation does not print them again; "" when none
	// (a resumed run asked to confirm a step started by an earlier
	// drillbook prints them with the confirmation).
	noted string
}

// answer returns the value given for a step instance (its key first, then
// its step id).
func answer(m map[string][]string, key string) []string {
	if v, ok := m[key]; ok {
		return v
	}
	return m[stepID(key)]
}

// take returns the first value given for a step instance and uses it up: a
// --retry given once retries once.
func take(m map[string][]string, key string) (string, bool) {
	for _, k := range []string{key, stepID(key)} {
		if v := m[k]; len(v) > 0 {
			m[k] = v[1:]
			return v[0], true
		}
	}
	return "", false
}

func (p *plainUI) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

// watchHosts prints the host of each of a watch's files that is not this
// machine, whether the runbook named it (wait: host:) or the estate
// located the file there (a WebSphere server's log on its node's host),
// so the operator sees where the proof will come from.
func (p *plainUI) watchHosts(w runbook.WatchSpec) {
	hosts := make([]string, len(w.Files))
	if p.fileHosts != nil {
		hosts = p.fileHosts(w)
	} else {
		for i := range hosts {
			hosts[i] = w.Host
		}
	}
	// One line per host, its files in the spec's order: a node's second
	// server's log joins the node's line.
	var groups []hostFiles
	for _, g := range filesByHost(w.Files, hosts) {
		at := slices.IndexFunc(groups, func(h hostFiles) bool { return h.host == g.host })
		if at < 0 {
			groups = append(groups, hostFiles{host: g.host})
			at = len(groups) - 1
		}
		groups[at].files = append(groups[at].files, g.files...)
	}
	if len(groups) == 0 {
		groups = []hostFiles{{host: w.Host}}
	}
	for _, g := range groups {
		if g.host == "" || g.host == runbook.LocalHost {
			continue
		}
		if len(g.files) == 0 {
			p.printf("  log watch on host %s\n", g.host)
			continue
		}
		p.printf("  log watch on host %s: %s\n", g.host, strings.Join(g.files, ", "))
	}
}

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
			switch l.Kind {
			case runbook.MatchWarn:
				p.printf("    log warning: %s\n", firstLine(l.Text))
			case runbook.MatchNote:
				p.printf("    log: %s\n", l.Text)
			}
		}
		return
	}
	ev := u.Event
	if ev == nil {
		return
	}
	if u.Steps != nil {
		p.steps = u.Steps
	}
	switch ev.Type {
	case runbook.EvRunStarted:
		if ev.Notes != "" {
			p.printf("about: %s\n", indent(ev.Notes, "       "))
		}
	case runbook.EvStepStarted:
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
		p.noted = ""
		if ev.Notes != "" {
			p.printf("  note: %s\n", indent(ev.Notes, "        "))
			p.noted = ev.Step
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
		if w := ev.Watch; w != nil {
			p.watchHosts(*w)
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
		// The step's own start, from the engine: after a resume it started
		// in an earlier drillbook.
		p.printf("step %s: succeeded in %s\n", ev.Step, splitOf(u.Steps, ev.Step, p.startOf(ev.Step), ev.Time))
	case runbook.EvNote:
		if ev.Step == "" {
			p.printf("note on the run: %s\n", ev.Text)
		} else {
			p.printf("note on step %s: %s\n", ev.Step, ev.Text)
		}
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
	case runbook.EvDeviationRefused:
		p.stop(fmt.Sprintf("step %s: %s refused: %s", ev.Step, ev.Deviation, ev.Reason))
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

func (p *plainUI) startOf(key string) time.Time {
	for _, s := range p.steps {
		if s.Key == key {
			return s.Started
		}
	}
	return time.Time{}
}

// decided answers a request with --abort, --skip or --retry when one was
// given for the step, in that order, and reports whether it did. retryAck
// makes a retry an acknowledgement (a retry that asks first keeps its
// confirmation) rather than a deviation.
func (p *plainUI) decided(ev *runbook.Event, retryAck bool) bool {
	send := func(dev runbook.Deviation, reason string) {
		p.printf("  %s, as given with --%s: %s\n", dev, dev, reason)
		p.runner.Send(runbook.Input{Type: runbook.InDeviate, Deviation: dev, Step: ev.Step, Reason: reason})
	}
	if why, ok := take(p.ans.aborts, ev.Step); ok {
		send(runbook.DevAbort, why)
		return true
	}
	if why, ok := take(p.ans.skips, ev.Step); ok {
		send(runbook.DevSkip, why)
		return true
	}
	if why, ok := take(p.ans.retries, ev.Step); ok {
		if retryAck {
			p.printf("  retry, as given with --retry: %s\n", why)
			p.runner.Send(runbook.Input{Type: runbook.InAck, Step: ev.Step, Note: why})
			return true
		}
		send(runbook.DevRetry, why)
		return true
	}
	return false
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
	if ev.Notes != "" && p.noted != ev.Step {
		p.printf("  note: %s\n", indent(ev.Notes, "        "))
	}
	if p.simulated && !ev.Simulated {
		p.printf("  this step acts on real systems, not on the simulation\n")
	}
	if p.decided(ev, false) {
		return
	}
	given := answer(p.ans.confirms, ev.Step)
	if len(given) == 0 && p.yes && ev.Simulated {
		p.printf("  confirming with %q (--yes on a simulated target)\n", ev.Token)
		p.runner.Send(runbook.Input{Type: runbook.InConfirm, Step: ev.Step, Token: ev.Token})
		return
	}
	if len(given) == 0 {
		why := "is destructive and needs confirmation"
		if p.yes {
			why = "is destructive and real (--yes confirms only steps that act on the simulation)"
		}
		p.stop(fmt.Sprintf("step %s %s: run `drillbook resume %s --confirm %s=%s` after checking the command above", ev.Step, why, p.runID, stepID(ev.Step), ev.Token))
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
		if p.decided(ev, false) {
			return
		}
		if p.yes || has(answer(p.ans.confirms, ev.Step), "done") {
			p.runner.Send(runbook.Input{Type: runbook.InAck, Step: ev.Step})
			return
		}
		p.stop(fmt.Sprintf("step %s is manual: do it, then acknowledge it with `drillbook resume %s --confirm %s=done`", ev.Step, p.runID, stepID(ev.Step)))
	case runbook.AskRetry:
		p.printf("  %s\n", ev.Text)
		if p.decided(ev, true) {
			return
		}
		if p.yes || has(answer(p.ans.confirms, ev.Step), "retry") {
			p.runner.Send(runbook.Input{Type: runbook.InAck, Step: ev.Step})
			return
		}
		p.stop(fmt.Sprintf("step %s failed and retries only when told: fix the cause, then `drillbook resume %s --retry %s=REASON` (or --skip or --abort %s=REASON)", ev.Step, p.runID, stepID(ev.Step), stepID(ev.Step)))
	case runbook.AskReconcile:
		p.printf("  %s\n", ev.Reason)
		if o, ok := take(p.ans.outcomes, ev.Step); ok {
			p.runner.Send(runbook.Input{Type: runbook.InReconcile, Step: ev.Step, Reconciled: runbook.StepState(o), Reason: "given with --outcome"})
			return
		}
		p.stop(fmt.Sprintf("step %s was running when drillbook stopped: check what happened, then say it with `drillbook resume %s --outcome %s=succeeded` (or =failed, or =rerun to run it again)", ev.Step, p.runID, stepID(ev.Step)))
	case runbook.AskDecide:
		if p.decided(ev, false) {
			return
		}
		p.stop(fmt.Sprintf("step %s failed: %s; decide with `drillbook resume %s --retry %s=REASON` (or --skip or --abort %s=REASON)", ev.Step, ev.Reason, p.runID, stepID(ev.Step), stepID(ev.Step)))
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
	p.hint = p.later()
	p.runner.Stop(msg)
}

// later lists the answers the steps after the current one will ask for,
// so one resume can carry all of them instead of stopping at each.
func (p *plainUI) later() string {
	done := map[string]bool{}
	cur := ""
	for _, s := range p.steps {
		if s.State != runbook.StatePending {
			done[s.Key] = true
		}
		if s.Current {
			cur = s.Key
		}
	}
	var flags []string
	for _, ps := range p.ahead {
		if done[ps.Key] || ps.Key == cur || ps.Skipped {
			continue
		}
		switch {
		case ps.Destructive && ps.ConfirmLater:
			flags = append(flags, fmt.Sprintf("--confirm %s=TOKEN (its token is known when the step is reached)", stepID(ps.Key)))
		case ps.Destructive:
			flags = append(flags, fmt.Sprintf("--confirm %s=%s", stepID(ps.Key), ps.Confirm))
		case ps.Kind == runbook.KindManual:
			flags = append(flags, fmt.Sprintf("--confirm %s=done", stepID(ps.Key)))
		}
	}
	flags = slices.Compact(flags)
	if len(flags) == 0 {
		return ""
	}
	return runbook.Redact(strings.Join(flags, " "), p.secrets)
}

// closing prints the last line of a run that did not finish.
func (p *plainUI) closing(o runbook.Outcome, code int) {
	if o.Status.Final() {
		return
	}
	if p.stopMsg != "" {
		p.printf("stopped: %s\n", p.withFlags(p.stopMsg))
		if p.hint != "" {
			p.printf("later steps ask too: %s (`%s` shows each command)\n", p.hint, p.planCmd)
		}
	}
	if code == exitInterrupted {
		// A run stopped by the runner itself says why (a host lost, the
		// journal unwritable); one stopped by a signal or quit needs not.
		if o.Reason != "" && p.stopMsg == "" && !strings.HasPrefix(o.Reason, "interrupted: ") {
			p.printf("stopped: %s\n", runbook.Redact(o.Reason, p.secrets))
		}
		p.printf("interrupted: %s continues where the run stood\n", p.withFlags(fmt.Sprintf("`drillbook resume %s`", p.runID)))
	}
}

// splitOf says how long a step took, and how much of it was work and how
// much waiting for the operator ("1.2s (work 540ms, operator 700ms)");
// expected: is compared with work.
func splitOf(steps []runbook.StepView, key string, start, end time.Time) string {
	for _, s := range steps {
		if s.Key != key {
			continue
		}
		sp := s.SplitAt(end)
		if sp.Total() <= 0 {
			break
		}
		out := fmt.Sprintf("%s (work %s, operator %s", runbook.FormatDuration(sp.Total()), zeroDur(sp.Work), zeroDur(sp.Operator))
		if s.Expected > 0 && sp.Work > s.Expected {
			out += fmt.Sprintf("; over the expected %s", runbook.FormatDuration(s.Expected))
		}
		return out + ")"
	}
	return since(start, end)
}

func zeroDur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return runbook.FormatDuration(d)
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
