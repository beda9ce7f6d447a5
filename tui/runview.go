package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/drillbook/drillbook/runbook"
)

// Ring sizes: what the screen keeps of a call's output and of the watched
// logs. The journal keeps every line.
const (
	outputKeep = 2000
	logKeep    = 500
)

// stepInfo is what the run view learned about one step instance from the
// engine's events.
type stepInfo struct {
	plan     *runbook.Plan // the action as it will run
	callPlan *runbook.Plan // the call running now
	phase    runbook.Phase // its phase; "" when no call runs
	text     string        // manual instructions
	last     string        // how the last call or watch ended
	evidence []string
	watching []runbook.LogPosition
	patterns *runbook.WatchSpec
}

// runView shows one run: steps, the current step, output, the log pane,
// the status line and help; it answers the engine through the runner.
type runView struct {
	c       *common
	spec    RunSpec
	steps   []runbook.StepView
	status  runbook.RunStatus
	info    map[string]*stepInfo
	request *runbook.Event // the confirmation or operator request pending
	calls   map[int]bool   // calls running, adhoc ones excluded
	out     pane
	log     pane
	onLog   bool // scrolling keys move the log pane
	notice  string
	warn    bool
	dlg     dialog
	ended   *runbook.Event // run.finished or run.interrupted
	stopped bool           // Stop was asked for
	full    bool           // full help shown

	// answer and stop reach the runner; tests replace them.
	answer func(runbook.Input)
	stop   func(reason string)
}

func newRunView(c *common, spec RunSpec) *runView {
	m := &runView{c: c, spec: spec, steps: spec.Steps, status: runbook.RunRunning,
		info: map[string]*stepInfo{}, calls: map[int]bool{},
		out: newPane(outputKeep), log: newPane(logKeep),
		answer: func(runbook.Input) {}, stop: func(string) {}}
	if r := spec.Runner; r != nil {
		m.answer, m.stop = r.Send, r.Stop
	}
	return m
}

// stepInfo returns what is known of a step, making its entry; views use
// seen, which changes nothing.
func (m *runView) stepInfo(key string) *stepInfo {
	si, ok := m.info[key]
	if !ok {
		si = &stepInfo{}
		m.info[key] = si
	}
	return si
}

// seen returns what is known of a step, empty when nothing is yet.
func (m *runView) seen(key string) stepInfo {
	if si, ok := m.info[key]; ok {
		return *si
	}
	return stepInfo{}
}

func (m *runView) title(key string) string {
	for _, s := range m.steps {
		if s.Key == key {
			return s.Title
		}
	}
	return key
}

func (m *runView) current() *runbook.StepView {
	for i := range m.steps {
		if m.steps[i].Current {
			return &m.steps[i]
		}
	}
	for i := len(m.steps) - 1; i >= 0; i-- {
		if m.steps[i].State != runbook.StatePending {
			return &m.steps[i]
		}
	}
	return nil
}

func (m *runView) setNotice(s string, warn bool) { m.notice, m.warn = s, warn }

// apply takes in one update from the runner.
func (m *runView) apply(u runbook.Update) {
	if u.Status != "" {
		m.status = u.Status
	}
	if b := u.Batch; b != nil {
		m.out.addOutput(b.Output)
		m.log.addLog(b.Log)
		return
	}
	if u.Steps != nil {
		m.steps = u.Steps
	}
	ev := u.Event
	if ev == nil {
		return
	}
	switch ev.Type {
	case runbook.EvStepStarted:
		si := m.stepInfo(ev.Step)
		si.plan, si.callPlan, si.phase, si.last, si.evidence = ev.Plan, nil, "", "", nil
		si.text = ev.Text
		m.request = nil
		m.out.add(fmt.Sprintf("── %s · %s ──", ev.Step, ev.Title), lineInfo)
		m.setNotice("", false)
	case runbook.EvStepSkipped:
		m.out.add(fmt.Sprintf("step %s skipped: %s", ev.Step, ev.Reason), lineInfo)
	case runbook.EvCallStart:
		si := m.stepInfo(ev.Step)
		si.phase, si.callPlan = ev.Phase, ev.Plan
		if ev.Phase != "adhoc" {
			m.calls[ev.ID] = true
		}
		line := ev.Op
		if ev.Plan != nil {
			line = ev.Plan.Summary()
		}
		m.out.add(fmt.Sprintf("$ %s: %s", ev.Phase, line), lineInfo)
	case runbook.EvCallFinished:
		delete(m.calls, ev.ID)
		si := m.stepInfo(ev.Step)
		si.phase, si.callPlan = "", nil
		switch {
		case ev.Error != "":
			si.last = fmt.Sprintf("%s failed: %s", ev.Phase, ev.Error)
		case ev.Result != nil && ev.Result.Summary != "":
			si.last = fmt.Sprintf("%s ok: %s", ev.Phase, ev.Result.Summary)
		default:
			si.last = fmt.Sprintf("%s ok", ev.Phase)
		}
		if ev.Result != nil {
			si.evidence = ev.Result.Evidence
		}
		m.out.add(si.last, lineInfo)
	case runbook.EvCallCancel:
		delete(m.calls, ev.ID)
	case runbook.EvWatchArm:
		m.stepInfo(ev.Step).patterns = ev.Watch
	case runbook.EvWatchArmed:
		si := m.stepInfo(ev.Step)
		si.watching = ev.Positions
		if ev.Error != "" {
			si.last = "log watch failed to start: " + ev.Error
		}
		for _, p := range ev.Positions {
			m.log.add(fmt.Sprintf("watching %s from byte %d", p.Path, p.Offset), lineInfo)
		}
	case runbook.EvWatchFinished:
		si := m.stepInfo(ev.Step)
		switch {
		case ev.Line != nil:
			si.last = fmt.Sprintf("log %s: %s", ev.Line.Kind, firstLine(ev.Line.Text))
		case ev.TimedOut:
			si.last = "log: no match before the timeout"
		case ev.Error != "":
			si.last = "log watch failed: " + ev.Error
		}
		m.log.add(si.last, lineInfo)
	case runbook.EvWarning:
		m.setNotice("WARNING: "+ev.Text, true)
		m.out.add("WARNING: "+ev.Text, lineErr)
	case runbook.EvStepFailed:
		m.stepInfo(ev.Step).last = "FAILED: " + ev.Reason
		m.out.add(fmt.Sprintf("step %s FAILED: %s", ev.Step, ev.Reason), lineErr)
	case runbook.EvStepRetrying:
		m.out.add(fmt.Sprintf("step %s: %s", ev.Step, ev.Reason), lineInfo)
	case runbook.EvConfirmRequest:
		e := *ev
		m.request = &e
		m.stepInfo(ev.Step).plan = ev.Plan
		m.dlg = confirmDialog(m.c, e)
	case runbook.EvConfirmRefused:
		if m.dlg.kind == dlgConfirm && m.dlg.msg == "" {
			m.dlg.msg = "the engine refused the token: nothing was run"
		}
		m.setNotice("confirmation refused: nothing was run", true)
	case runbook.EvConfirmAccepted:
		m.request = nil
		if m.dlg.kind == dlgConfirm {
			m.dlg = dialog{}
		}
		m.out.add(fmt.Sprintf("confirmed %s with %q", ev.Step, ev.Token), lineInfo)
	case runbook.EvOperatorRequest:
		e := *ev
		m.request = &e
		switch ev.Ask {
		case runbook.AskManual:
			m.stepInfo(ev.Step).text = ev.Text
		case runbook.AskReconcile:
			m.dlg = reconcileDialog(m.c, e)
		case runbook.AskDecide:
			m.setNotice("step "+ev.Step+" failed: "+ev.Reason, true)
		case runbook.AskRetry:
			m.setNotice(ev.Text, true)
		}
	case runbook.EvOperatorAck:
		m.request = nil
	case runbook.EvReconciled:
		m.request = nil
		m.out.add(fmt.Sprintf("step %s reconciled as %s: %s", ev.Step, ev.State, ev.Reason), lineInfo)
	case runbook.EvRunResumed:
		m.out.add("── resumed: drillbook was stopped; steps in flight are reconciled ──", lineInfo)
	case runbook.EvRunFinally:
		text := "── steps ended: " + string(ev.Status)
		if ev.Reason != "" {
			text += ": " + ev.Reason
		}
		m.out.add(text+"; the finally steps run now ──", lineInfo)
	case runbook.EvDeviation:
		m.request = nil
		m.out.add(fmt.Sprintf("deviation at %s: %s %s: %s", ev.Step, ev.Deviation, ev.Target, ev.Reason), lineInfo)
		m.setNotice("", false)
	case runbook.EvDeviationRefused:
		m.setNotice("refused: "+ev.Reason, true)
	case runbook.EvRunFinished, runbook.EvRunInterrupted:
		e := *ev
		m.ended = &e
		m.request = nil
		m.dlg = dialog{}
		if ev.Type == runbook.EvRunInterrupted {
			m.status = runbook.RunInterrupted
		} else {
			m.status = ev.Status
		}
	}
}

// callRunning reports whether a step's call is in flight.
func (m *runView) callRunning() bool { return len(m.calls) > 0 }

// actions returns every run-view action with why it is unavailable now.
func (m *runView) actions() []action {
	k := m.c.keys
	ended := ""
	if m.ended != nil {
		ended = "the run has ended"
	}
	ask := runbook.Ask("")
	confirm := false
	if m.request != nil {
		ask = m.request.Ask
		confirm = m.request.Type == runbook.EvConfirmRequest
	}
	or := func(reasons ...string) string {
		for _, r := range reasons {
			if r != "" {
				return r
			}
		}
		return ""
	}
	busy := ""
	if m.callRunning() {
		busy = "a call is running: wait for it, or abort"
	}
	when := func(ok bool, why string) string {
		if ok {
			return ""
		}
		return why
	}
	canRetry := ask == runbook.AskRetry || ask == runbook.AskDecide || confirm || m.waitingStep()
	return []action{
		{k.Confirm, or(ended, when(confirm, "no destructive step is waiting for its token"))},
		{k.Done, or(ended, when(ask == runbook.AskManual, "no manual step is waiting"))},
		{k.Reconcile, or(ended, when(ask == runbook.AskReconcile, "nothing to reconcile"))},
		{k.Retry, or(ended, busy, when(canRetry, "only a failed or waiting step can be retried"))},
		{k.Skip, or(ended, busy, when(m.current() != nil, "no current step"))},
		{k.Jump, or(ended, busy, when(m.current() != nil, "no current step"))},
		{k.Adhoc, or(ended, when(m.current() != nil, "no current step"))},
		{k.Abort, or(ended, when(m.current() != nil, "no current step"))},
	}
}

// waitingStep reports whether the current step waits on a log or a poll.
func (m *runView) waitingStep() bool {
	cur := m.current()
	return cur != nil && cur.State == runbook.StateWaiting
}

// refused reports whether km names an action unavailable now, and if so
// says why in the notice.
func (m *runView) refused(km tea.KeyMsg) bool {
	for _, a := range m.actions() {
		if key.Matches(km, a.b) {
			if a.why != "" {
				m.setNotice(a.b.Help().Desc+": "+a.why, true)
			}
			return a.why != ""
		}
	}
	return false
}

func (m *runView) send(in runbook.Input) { m.answer(in) }

// stopRun asks the runner to stop; the run stays resumable.
func (m *runView) stopRun() {
	if m.stopped {
		return
	}
	m.stopped = true
	m.setNotice("stopping: the run stays resumable with drillbook resume "+m.spec.RunID, true)
	m.stop("the operator quit the screen")
}

// quitRequest says the app should leave once the runner has returned (or
// at once when it already has).
type quitRequest struct{}

func (m *runView) update(msg tea.Msg) tea.Cmd {
	if m.dlg.kind != dlgNone {
		var res dialogResult
		var cmd tea.Cmd
		ids := make([]string, 0, len(m.steps))
		for _, s := range m.steps {
			if len(ids) == 0 || ids[len(ids)-1] != s.StepID {
				ids = append(ids, s.StepID)
			}
		}
		m.dlg, res, cmd = m.dlg.update(m.c, msg, ids)
		if res.send != nil {
			m.send(*res.send)
		}
		if res.close {
			m.dlg = dialog{}
		}
		if res.quit {
			m.stopRun()
			return func() tea.Msg { return quitRequest{} }
		}
		return cmd
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	k := m.c.keys
	h := m.paneHeight()
	p := &m.out
	if m.onLog {
		p = &m.log
	}
	switch {
	case key.Matches(km, k.Quit):
		if m.ended == nil && m.callRunning() {
			m.dlg = dialog{kind: dlgQuit}
			return nil
		}
		m.stopRun()
		return func() tea.Msg { return quitRequest{} }
	case key.Matches(km, k.Help):
		m.full = !m.full
	case key.Matches(km, k.ScrollUp):
		p.scroll(max(1, h-1), h)
	case key.Matches(km, k.ScrollDown):
		p.scroll(-max(1, h-1), h)
	case key.Matches(km, k.Top):
		p.top(h)
	case key.Matches(km, k.Follow):
		p.follow()
	case key.Matches(km, k.SwitchPane):
		m.onLog = !m.onLog && m.showLog()
	case m.refused(km):
	case key.Matches(km, k.Confirm):
		m.dlg = confirmDialog(m.c, *m.request)
	case key.Matches(km, k.Done):
		m.send(runbook.Input{Type: runbook.InAck, Step: m.request.Step, Note: "done, ticked off in the screen"})
	case key.Matches(km, k.Reconcile):
		m.dlg = reconcileDialog(m.c, *m.request)
	case key.Matches(km, k.Retry):
		if m.request != nil && m.request.Ask == runbook.AskRetry {
			m.send(runbook.Input{Type: runbook.InAck, Step: m.request.Step})
			return nil
		}
		m.dlg = deviateDialog(m.c, runbook.DevRetry, m.currentEvent())
	case key.Matches(km, k.Skip):
		m.dlg = deviateDialog(m.c, runbook.DevSkip, m.currentEvent())
	case key.Matches(km, k.Jump):
		m.dlg = deviateDialog(m.c, runbook.DevJump, m.currentEvent())
	case key.Matches(km, k.Adhoc):
		m.dlg = deviateDialog(m.c, runbook.DevAdhoc, m.currentEvent())
	case key.Matches(km, k.Abort):
		m.dlg = deviateDialog(m.c, runbook.DevAbort, m.currentEvent())
	}
	return nil
}

func (m *runView) currentEvent() runbook.Event {
	if cur := m.current(); cur != nil {
		return runbook.Event{Step: cur.Key, StepID: cur.StepID}
	}
	return runbook.Event{}
}

// help returns the bindings usable now; the full help lists the others
// with the reason each is unavailable.
func (m *runView) help() helpKeys {
	k := m.c.keys
	if m.dlg.kind != dlgNone {
		if m.dlg.kind == dlgQuit {
			return helpKeys{short: []key.Binding{k.Yes, k.No}}
		}
		return helpKeys{short: []key.Binding{k.Submit, k.Cancel}}
	}
	var short []key.Binding
	for _, a := range m.actions() {
		if a.why == "" {
			short = append(short, a.b)
		}
	}
	short = append(short, k.Quit, k.Help, k.ScrollUp, k.ScrollDown, k.Follow)
	if m.showLog() {
		short = append(short, k.SwitchPane)
	}
	return helpKeys{short: short}
}

// showLog reports whether the log pane has anything to show.
func (m *runView) showLog() bool {
	if m.log.total > 0 {
		return true
	}
	for _, si := range m.info {
		if si.patterns != nil || len(si.watching) > 0 {
			return true
		}
	}
	return false
}

// layout splits the height: header, steps and detail, output, log,
// status and help.
func (m *runView) layout() (top, out, log int) {
	body := max(0, m.c.height-3)
	top = min(max(6, body*2/5), 14)
	if top > body {
		top = body
	}
	rest := body - top
	if m.showLog() {
		log = min(max(3, rest*2/5), rest)
	}
	return top, rest - log, log
}

func (m *runView) paneHeight() int {
	_, out, log := m.layout()
	if m.onLog {
		return max(1, log-1)
	}
	return max(1, out-1)
}

func stateMark(st runbook.StepState) string {
	switch st {
	case runbook.StateRunning:
		return "▶"
	case runbook.StateWaiting:
		return "…"
	case runbook.StateNeedsConfirmation, runbook.StateNeedsOperator:
		return "?"
	case runbook.StateSucceeded:
		return "✓"
	case runbook.StateFailed:
		return "✗"
	case runbook.StateSkipped:
		return "-"
	}
	return "·"
}

func (m *runView) stateStyle(st runbook.StepState) func(...string) string {
	s := m.c.st
	switch st {
	case runbook.StateRunning, runbook.StateWaiting:
		return s.Running.Render
	case runbook.StateNeedsConfirmation, runbook.StateNeedsOperator:
		return s.Attention.Render
	case runbook.StateSucceeded:
		return s.Succeeded.Render
	case runbook.StateFailed:
		return s.Failed.Render
	case runbook.StateSkipped:
		return s.Skipped.Render
	}
	return s.Pending.Render
}

// elapsed returns how long a step has taken and whether that is past its
// expected duration.
func (m *runView) elapsed(s runbook.StepView) (time.Duration, bool) {
	if s.Started.IsZero() {
		return 0, false
	}
	end := s.Ended
	if end.IsZero() || end.Before(s.Started) {
		if s.State.Done() {
			return 0, false
		}
		end = m.c.now()
	}
	d := end.Sub(s.Started)
	return d, s.Expected > 0 && d > s.Expected
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// stepsView draws the step list, keeping the current step in sight.
func (m *runView) stepsView(w, h int) []string {
	cur := 0
	for i, s := range m.steps {
		if s.Current {
			cur = i
		}
	}
	start := 0
	if len(m.steps) > h {
		start = min(max(0, cur-h/2), len(m.steps)-h)
	}
	var rows []string
	for i := start; i < len(m.steps) && len(rows) < h; i++ {
		s := m.steps[i]
		d, over := m.elapsed(s)
		timer := ""
		if !s.Started.IsZero() {
			timer = fmtDur(d)
			if over {
				timer += "!"
			}
		}
		style := m.stateStyle(s.State)
		title := s.Title
		if s.Destructive {
			title = "⚠ " + title
		}
		left := cut(stateMark(s.State)+" "+title, max(1, w-len(timer)-1))
		pad := max(1, w-ansi.StringWidth(left)-ansi.StringWidth(timer))
		row := style(left) + strings.Repeat(" ", pad)
		if over {
			row += m.c.st.Overrun.Render(timer)
		} else {
			row += m.c.st.Dim.Render(timer)
		}
		rows = append(rows, row)
	}
	return rows
}

// planCommand is the command or request a plan shows.
func planCommand(p runbook.Plan) string {
	switch {
	case len(p.Argv) > 0:
		return runbook.QuoteArgv(p.Argv)
	case p.Request != "":
		return p.Request
	}
	return p.Detail
}

// wrap breaks s into lines of at most w cells.
func wrap(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Wrap(s, w, " /")
}

// detailView draws the current step: what it is, where it comes from, what
// will run where, its instructions, and what the operator is asked.
func (m *runView) detailView(w, h int) []string {
	st := m.c.st
	var rows []string
	add := func(style func(...string) string, s string) {
		for _, l := range strings.Split(wrap(s, w), "\n") {
			rows = append(rows, style(l))
		}
	}
	if m.ended != nil {
		m.endedLines(add)
		rows = append(rows, "")
	}
	cur := m.current()
	if cur == nil {
		add(st.Dim.Render, "Starting…")
		return clip(rows, h)
	}
	si := m.seen(cur.Key)
	head := stateMark(cur.State) + " " + cur.Key + " · " + cur.Title
	if cur.Attempt > 1 {
		head += fmt.Sprintf(" (attempt %d)", cur.Attempt)
	}
	add(m.stateStyle(cur.State), head)
	if cur.Destructive {
		add(st.Destructive.Render, "DESTRUCTIVE: runs only after you type its token")
	}
	if src := cur.Source.String(); src != "" {
		add(st.Dim.Render, "source: "+src)
	}
	if d, over := m.elapsed(*cur); over {
		add(st.Overrun.Render, fmt.Sprintf("! running past its expected %s (%s so far)", fmtDur(cur.Expected), fmtDur(d)))
	}
	plan, verb := si.plan, "will run: "
	if si.callPlan != nil {
		plan, verb = si.callPlan, "running "+string(si.phase)+": "
	} else if cur.State.Done() {
		verb = "ran: "
	}
	if plan != nil {
		if plan.Host != "" {
			add(st.Text.Render, "on host: "+plan.Host)
		}
		// At most three lines of command, so what follows stays in sight;
		// the confirmation dialog and the journal show all of it.
		cmd := strings.Split(wrap(verb+planCommand(*plan), w), "\n")
		if len(cmd) > 3 {
			cmd = append(cmd[:2], cut(cmd[2], w-1)+"…")
		}
		for _, l := range cmd {
			rows = append(rows, st.Command.Render(l))
		}
	}
	if si.patterns != nil {
		pat := strings.Join(si.patterns.Success, ", ")
		add(st.Text.Render, fmt.Sprintf("waits up to %s for %s in %s", fmtDur(si.patterns.Timeout), pat, strings.Join(si.patterns.Files, ", ")))
	}
	if text := strings.TrimSpace(si.text); text != "" {
		add(st.Text.Render, text)
	}
	if cur.Notes != "" {
		add(st.Dim.Render, "note: "+strings.TrimSpace(cur.Notes))
	}
	if si.last != "" {
		style := st.Dim.Render
		if strings.Contains(si.last, "failed") || strings.HasPrefix(si.last, "FAILED") {
			style = st.Failed.Render
		}
		add(style, "last: "+si.last)
		for _, e := range si.evidence {
			add(st.Dim.Render, "  "+firstLine(e))
		}
	}
	if m.notice != "" {
		style := st.Text.Render
		if m.warn {
			style = st.Attention.Render
		}
		add(style, m.notice)
	}
	if r := m.request; r != nil && m.ended == nil {
		k := m.c.keys
		switch {
		case r.Type == runbook.EvConfirmRequest:
			add(st.Attention.Render, fmt.Sprintf("→ press %s and type %q to run this destructive step", keyOf(k.Confirm), r.Token))
		case r.Ask == runbook.AskManual:
			add(st.Attention.Render, "→ do this yourself, then press "+keyOf(k.Done)+" to tick it off")
		case r.Ask == runbook.AskRetry:
			add(st.Attention.Render, fmt.Sprintf("→ fix the cause, then %s retries; or %s skip, %s go to, %s abort", keyOf(k.Retry), keyOf(k.Skip), keyOf(k.Jump), keyOf(k.Abort)))
		case r.Ask == runbook.AskDecide:
			add(st.Attention.Render, fmt.Sprintf("→ failed: %s retry, %s skip, %s go to a step, %s ad-hoc command, %s abort", keyOf(k.Retry), keyOf(k.Skip), keyOf(k.Jump), keyOf(k.Adhoc), keyOf(k.Abort)))
		case r.Ask == runbook.AskReconcile:
			add(st.Attention.Render, "→ press "+keyOf(k.Reconcile)+" to say what happened to it")
		}
	}
	return clip(rows, h)
}

func (m *runView) endedLines(add func(func(...string) string, string)) {
	st := m.c.st
	ev := m.ended
	if ev.Type == runbook.EvRunInterrupted {
		add(st.Attention.Render, "Run stopped; it stays resumable with:")
		add(st.Command.Render, "drillbook resume "+m.spec.RunID)
		return
	}
	style := st.Succeeded.Render
	if ev.Status != runbook.RunSucceeded {
		style = st.Failed.Render
	}
	line := "Run " + string(ev.Status)
	if ev.Reason != "" {
		line += ": " + ev.Reason
	}
	add(style, line+" in "+fmtDur(ev.Time.Sub(m.spec.Started))+" · "+keyOf(m.c.keys.Quit)+" leaves")
	add(st.Text.Render, "The record:")
	add(st.Command.Render, "drillbook report "+m.spec.RunID)
}

// clip makes exactly h rows, the last one marking what was cut.
func clip(rows []string, h int) []string {
	if len(rows) > h && h > 0 {
		rows = append(rows[:h-1:h-1], "…")
	}
	for len(rows) < h {
		rows = append(rows, "")
	}
	return rows
}

// fit pads or cuts a row to exactly w cells.
func fit(s string, w int) string {
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-sw)
}

func (m *runView) sectionTitle(title string, focused bool, w int) string {
	mark := "── "
	if focused {
		mark = "━━ "
	}
	t := mark + title + " "
	return m.c.st.Section.Render(fit(t+strings.Repeat("─", max(0, w-ansi.StringWidth(t))), w))
}

func (m *runView) view() string {
	st, w := m.c.st, m.c.width
	if w <= 0 || m.c.height <= 0 {
		return ""
	}
	top, outH, logH := m.layout()
	var rows []string
	header := st.Title.Render("drillbook") + st.Dim.Render(" · ") + st.Text.Render(m.spec.Title)
	rows = append(rows, fit(header, w))

	body := m.body(top, outH, logH)
	if m.dlg.kind != dlgNone {
		body = m.overlay(body, m.dlg.view(m.c, m))
	} else if m.full {
		body = m.fullHelp(len(body))
	}
	rows = append(rows, body...)
	rows = append(rows, fit(m.statusLine(), w))
	rows = append(rows, fit(helpLine(m.c, m.help()), w))
	return strings.Join(rows[:min(len(rows), m.c.height)], "\n")
}

// body draws everything between the header and the status line.
func (m *runView) body(top, outH, logH int) []string {
	st, w := m.c.st, m.c.width
	lw := min(36, max(20, w*3/10))
	if w < 60 {
		lw = w / 3
	}
	rw := max(1, w-lw-3)
	left := m.stepsView(lw, top)
	right := m.detailView(rw, top)
	var rows []string
	for i := 0; i < top; i++ {
		l := ""
		if i < len(left) {
			l = left[i]
		}
		rows = append(rows, fit(fit(l, lw)+st.Dim.Render(" │ ")+right[i], w))
	}
	if outH > 0 {
		title := fmt.Sprintf("output · %s lines", count(m.out.total))
		if m.out.total > outputKeep {
			title += fmt.Sprintf(" (last %s shown here, all in the journal)", count(outputKeep))
		}
		if !m.out.following() {
			title += " · scrolled: end follows"
		}
		rows = append(rows, m.sectionTitle(title, !m.onLog && m.showLog(), w))
		rows = append(rows, strings.Split(m.out.view(st, w, outH-1), "\n")...)
	}
	if logH > 0 {
		var files []string
		if cur := m.current(); cur != nil {
			for _, p := range m.seen(cur.Key).watching {
				files = append(files, p.Path)
			}
		}
		title := "log"
		if len(files) > 0 {
			title += " · " + strings.Join(files, ", ")
		}
		if !m.log.following() {
			title += " · scrolled"
		}
		rows = append(rows, m.sectionTitle(title, m.onLog, w))
		rows = append(rows, strings.Split(m.log.view(st, w, logH-1), "\n")...)
	}
	return rows
}

// overlay puts a dialog box in the middle of the body rows.
func (m *runView) overlay(body []string, box string) []string {
	if len(body) == 0 {
		return body // a terminal too short for any body row
	}
	lines := strings.Split(box, "\n")
	w := m.c.width
	if len(lines) > len(body) {
		lines = append(lines[:max(0, len(body)-1)], "…")
	}
	top := max(0, (len(body)-len(lines))/2)
	for i, l := range lines {
		bw := ansi.StringWidth(l)
		pad := max(0, (w-bw)/2)
		body[top+i] = fit(strings.Repeat(" ", pad)+l, w)
	}
	return body
}

// fullHelp lists every action, saying why the unavailable ones are.
func (m *runView) fullHelp(h int) []string {
	st, w := m.c.st, m.c.width
	rows := []string{st.Section.Render("keys")}
	line := func(b key.Binding, why string) {
		s := st.Key.Render(fmt.Sprintf("%-12s", b.Help().Key)) + st.Text.Render(b.Help().Desc)
		if why != "" {
			s += st.Dim.Render(" (not now: " + why + ")")
		}
		rows = append(rows, fit(s, w))
	}
	for _, a := range m.actions() {
		line(a.b, a.why)
	}
	k := m.c.keys
	for _, b := range []key.Binding{k.ScrollUp, k.ScrollDown, k.Top, k.Follow, k.SwitchPane, k.Help, k.Quit} {
		line(b, "")
	}
	return clip(rows, h)
}

func (m *runView) statusLine() string {
	st := m.c.st
	var b strings.Builder
	if m.spec.Simulated {
		b.WriteString(st.Badge.Render(" SIMULATED ") + " ")
		b.WriteString(st.Text.Render("target " + m.spec.Target))
	} else {
		b.WriteString(st.RealBadge.Render(" target " + m.spec.Target + " "))
	}
	total := time.Duration(0)
	if !m.spec.Started.IsZero() {
		end := m.c.now()
		if m.ended != nil {
			end = m.ended.Time
		}
		total = end.Sub(m.spec.Started)
	}
	done := 0
	for _, s := range m.steps {
		if s.State.Done() {
			done++
		}
	}
	status := string(m.status)
	b.WriteString(st.Dim.Render(fmt.Sprintf(" │ %s │ %d/%d steps │ ", fmtDur(total), done, len(m.steps))))
	b.WriteString(st.Status.Render(status))
	b.WriteString(st.Dim.Render(" │ run " + m.spec.RunID))
	return b.String()
}
