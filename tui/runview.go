package tui

import (
	"fmt"
	"regexp"
	"slices"
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
	real     bool // its action is not simulated (on a simulated target)
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
	calls   map[int]string // calls running, adhoc ones excluded: the host each is on, "" for this machine
	out     pane
	log     pane
	onLog   bool // scrolling keys move the log pane
	notice  string
	warn    bool
	// keyNotice marks a notice that answers a key the operator pressed (why
	// it is not available now); reading on clears it.
	keyNotice bool
	dlg       dialog
	ended     *runbook.Event // run.finished or run.interrupted
	stopped   bool           // Stop was asked for
	full      bool           // full help shown

	// Reading the current step's text: how far it is scrolled, how many of
	// its rows have been on screen from the top with no gap (at the width
	// readW), and whether all of it has, for the request readKey. A manual
	// step is ticked off only once all of its text has been on screen.
	textOff  int
	readTo   int
	readLeft int
	readAll  bool
	readW    int
	readKey  string
	expanded bool // the step's text fills the screen
	wrap     bool // output and log lines wrap instead of being cut

	realSteps []string // steps whose calls were not simulated, on a simulated target
	history   bool     // applying the run's earlier events (resume): no questions

	// answer and stop reach the runner; tests replace them.
	answer func(runbook.Input)
	stop   func(reason string)
}

func newRunView(c *common, spec RunSpec) *runView {
	m := &runView{c: c, spec: spec, steps: spec.Steps, status: runbook.RunRunning,
		info: map[string]*stepInfo{}, calls: map[int]string{},
		out: newPane(outputKeep), log: newPane(logKeep),
		answer: func(runbook.Input) {}, stop: func(string) {}}
	if r := spec.Runner; r != nil {
		m.answer, m.stop = r.Send, r.Stop
	}
	if len(spec.History) > 0 {
		m.replay(spec.History)
		m.steps = spec.Steps
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

func (m *runView) setNotice(s string, warn bool) { m.notice, m.warn, m.keyNotice = s, warn, false }

// apply takes in one update from the runner.
func (m *runView) apply(u runbook.Update) {
	m.applyOne(u)
	m.track()
}

// replay applies the run's earlier updates (a resumed run's history) to
// the panes and the step table, asking nothing: what still stands is asked
// again by the engine once the run resumes.
func (m *runView) replay(us []runbook.Update) {
	m.history = true
	for _, u := range us {
		m.applyOne(u)
	}
	m.history = false
	m.status = runbook.RunRunning
	m.calls = map[int]string{}
	m.track()
}

func (m *runView) applyOne(u runbook.Update) {
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
		si.real = ev.Op != "" && !ev.Simulated
		m.request = nil
		m.out.add(fmt.Sprintf("── %s · %s ──", ev.Step, ev.Title), lineInfo)
		m.setNotice("", false)
	case runbook.EvStepSkipped:
		m.out.add(fmt.Sprintf("step %s skipped: %s", ev.Step, ev.Reason), lineInfo)
	case runbook.EvCallStart:
		si := m.stepInfo(ev.Step)
		si.phase, si.callPlan = ev.Phase, ev.Plan
		if ev.Phase != "adhoc" && !m.history {
			m.calls[ev.ID] = ""
			if ev.Plan != nil && !ev.Plan.OnThisMachine() {
				m.calls[ev.ID] = ev.Plan.Host
			}
		}
		if m.spec.Simulated && !ev.Simulated && !slices.Contains(m.realSteps, ev.Step) {
			m.realSteps = append(m.realSteps, ev.Step)
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
		if !m.history {
			m.setNotice("WARNING: "+ev.Text, true)
		}
		m.out.add("WARNING: "+ev.Text, lineErr)
	case runbook.EvStepFailed:
		m.stepInfo(ev.Step).last = "FAILED: " + ev.Reason
		m.out.add(fmt.Sprintf("step %s FAILED: %s", ev.Step, ev.Reason), lineErr)
	case runbook.EvStepRetrying:
		m.out.add(fmt.Sprintf("step %s: %s", ev.Step, ev.Reason), lineInfo)
	case runbook.EvConfirmRequest:
		if m.history {
			break // asked again after the resume if it still stands
		}
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
		if m.history {
			break
		}
		e := *ev
		m.request = &e
		switch ev.Ask {
		case runbook.AskManual:
			m.stepInfo(ev.Step).text = ev.Text
		case runbook.AskReconcile:
			m.dlg = reconcileDialog(m.c, e)
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
		// An ad-hoc command looks aside: the question the step stands at
		// stays open (the engine asks it again when the command ends).
		if ev.Deviation != runbook.DevAdhoc {
			m.request = nil
		}
		m.out.add(fmt.Sprintf("deviation at %s: %s %s: %s", ev.Step, ev.Deviation, ev.Target, ev.Reason), lineInfo)
		m.setNotice("", false)
	case runbook.EvNote:
		where := "the run"
		if ev.Step != "" {
			where = "step " + ev.Step
		}
		m.out.add(fmt.Sprintf("note on %s: %s", where, ev.Text), lineInfo)
		m.setNotice("note kept on "+where, false)
	case runbook.EvDeviationRefused:
		if !m.history {
			m.setNotice("refused: "+ev.Reason, true)
		}
	case runbook.EvRunFinished, runbook.EvRunInterrupted:
		if m.history {
			m.out.add("── drillbook stopped here: "+ev.Reason+" ──", lineInfo)
			break
		}
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

// callHosts lists the hosts the running calls are on, other than this
// machine, sorted, each once.
func (m *runView) callHosts() []string {
	var hs []string
	for _, h := range m.calls {
		if h != "" && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	return hs
}

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
		{k.Done, or(ended, when(ask == runbook.AskManual, "no manual step is waiting"), m.unread())},
		{k.Reconcile, or(ended, when(ask == runbook.AskReconcile, "nothing to reconcile"))},
		{k.Retry, or(ended, busy, when(canRetry, "only a failed or waiting step can be retried"))},
		{k.Skip, or(ended, busy, when(m.current() != nil, "no current step"))},
		{k.Jump, or(ended, busy, when(m.current() != nil, "no current step"))},
		{k.Adhoc, or(ended, when(m.current() != nil, "no current step"))},
		{k.Abort, or(ended, when(m.current() != nil, "no current step"))},
		{k.Note, or(ended, when(m.current() != nil, "no current step"))},
		{k.RunNote, ended},
	}
}

// clearKeyNotice takes away a notice that answered a key, once the
// operator does what it said.
func (m *runView) clearKeyNotice() {
	if m.keyNotice {
		m.setNotice("", false)
	}
}

// unread says why the current step's text cannot be ticked off yet: part
// of it has not been on screen.
func (m *runView) unread() string {
	if m.readAll {
		return ""
	}
	k := m.c.keys
	return fmt.Sprintf("%s of it not yet on screen (%s scrolls, %s full screen)", lines(m.readLeft), keyOf(k.TextDown), keyOf(k.Expand))
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
				m.setNotice(keyOf(a.b)+" not now: "+a.why, true)
				m.keyNotice = true
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
	m.setNotice("stopping: the run stays resumable with "+m.spec.resumeCommand(), true)
	m.stop("the operator quit the screen")
}

// quitRequest says the app should leave once the runner has returned (or
// at once when it already has).
type quitRequest struct{}

func (m *runView) update(msg tea.Msg) tea.Cmd {
	cmd := m.handle(msg)
	m.track()
	return cmd
}

func (m *runView) handle(msg tea.Msg) tea.Cmd {
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
	case m.full && key.Matches(km, k.Cancel):
		m.full = false
	case m.expanded && key.Matches(km, k.Cancel):
		m.expanded, m.textOff = false, 0
	case key.Matches(km, k.Expand):
		m.expanded, m.textOff = !m.expanded, 0
		m.clearKeyNotice()
	case key.Matches(km, k.TextUp):
		m.textOff = max(0, m.textOff-1)
		m.clearKeyNotice()
	case key.Matches(km, k.TextDown):
		m.textOff++ // track clamps it to the text
		m.clearKeyNotice()
	case key.Matches(km, k.Wrap):
		m.wrap = !m.wrap
	case m.expanded && key.Matches(km, k.ScrollUp):
		m.textOff = max(0, m.textOff-max(1, m.textRoom()-1))
	case m.expanded && key.Matches(km, k.ScrollDown):
		m.textOff += max(1, m.textRoom()-1)
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
	case key.Matches(km, k.Note):
		m.dlg = noteDialog(m.c, m.currentEvent().Step)
	case key.Matches(km, k.RunNote):
		m.dlg = noteDialog(m.c, "")
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
	if m.textOverflows() || m.expanded {
		short = append(short, k.TextDown, k.Expand)
	}
	for _, a := range m.actions() {
		if a.why == "" {
			short = append(short, a.b)
		}
	}
	short = append(short, k.Quit, k.Help, k.Wrap, k.ScrollUp, k.ScrollDown, k.Follow)
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
// status and help. While the operator is asked something, the step's text
// gets the room it needs (the output keeps a few lines), so the question
// and what it is about are read without scrolling where the screen allows.
func (m *runView) layout() (top, out, log int) {
	body := max(0, m.c.height-3)
	top = min(max(6, body*2/5), 14)
	if m.request != nil && m.ended == nil {
		_, rw := m.columns()
		rows, pinned := m.detailText(rw, false)
		top = max(top, min(len(rows)+len(pinned), body-5))
	}
	if top > body {
		top = body
	}
	rest := body - top
	if m.showLog() {
		log = min(max(3, rest*2/5), rest)
	}
	return top, rest - log, log
}

// columns returns the widths of the step list and of the step's detail.
func (m *runView) columns() (lw, rw int) {
	w := m.c.width
	lw = min(36, max(20, w*3/10))
	if w < 60 {
		lw = w / 3
	}
	return lw, max(1, w-lw-3)
}

// detailSize is the width and height the step's text is drawn in now.
func (m *runView) detailSize() (w, h int) {
	if m.expanded {
		return m.c.width, max(0, m.c.height-3)
	}
	top, _, _ := m.layout()
	_, rw := m.columns()
	return rw, top
}

func (m *runView) paneHeight() int {
	_, out, log := m.layout()
	if m.onLog {
		return max(1, log-1)
	}
	return max(1, out-1)
}

// textRoom is how many rows of the step's text show at once now.
func (m *runView) textRoom() int {
	w, h := m.detailSize()
	rows, pinned := m.detailText(w, m.expanded)
	vis, _, _ := m.textWindow(len(rows), h-len(pinned))
	return vis
}

// textOverflows reports whether the step's text is taller than its room.
func (m *runView) textOverflows() bool {
	w, h := m.detailSize()
	rows, pinned := m.detailText(w, m.expanded)
	return len(rows) > h-len(pinned)
}

// textWindow returns how many of n rows of text show in room rows, from
// which row, and whether a row is taken by the "more lines" mark.
func (m *runView) textWindow(n, room int) (vis, off int, mark bool) {
	if room <= 0 {
		return 0, 0, false
	}
	if n <= room {
		return n, 0, false
	}
	if room == 1 {
		return 0, 0, true // only the mark: f reads the text full screen
	}
	vis = room - 1
	off = min(max(0, m.textOff), n-vis)
	return vis, off, true
}

// requestKey names the question the operator is asked now, so reading
// starts again from the top for a new one.
func (m *runView) requestKey() string {
	r := m.request
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s|%s|%s|%d", r.Step, r.Type, r.Ask, r.Attempt)
}

// track keeps the reading of the step's text in step with what the screen
// shows: the scroll offset within the text, and how much of it has been on
// screen. Called after every key, update and resize, with the layout View
// draws.
func (m *runView) track() {
	if key := m.requestKey(); key != m.readKey {
		m.readKey, m.textOff, m.readTo, m.readAll, m.readW = key, 0, 0, false, 0
	}
	w, h := m.detailSize()
	rows, pinned := m.detailText(w, m.expanded)
	if w != m.readW {
		// Laid out again at another width: what was read is counted again
		// from the top, unless all of it was.
		m.readW, m.readTo = w, 0
	}
	vis, off, _ := m.textWindow(len(rows), h-len(pinned))
	m.textOff = off
	if off <= m.readTo {
		m.readTo = max(m.readTo, off+vis)
	}
	if m.readTo >= len(rows) {
		m.readAll = true
	}
	m.readLeft = max(0, len(rows)-m.readTo)
	if m.dlg.kind == dlgConfirm {
		m.dlg.track(m.c, m)
	}
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

// elapsed returns a step's work time (its calls, polls and watches; not
// the time it waited for the operator) and whether that is past its
// expected duration, which is compared with work.
func (m *runView) elapsed(s runbook.StepView) (time.Duration, bool) {
	if s.Started.IsZero() {
		return 0, false
	}
	d := s.SplitAt(m.c.now()).Work
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

// detailText lays out the current step at width w: the rows that scroll
// (what the step is, where it comes from, what will run where, its
// instructions and notes, how its last call ended) and the rows pinned
// under them (the latest notice and what the operator is asked to do),
// which always show. full shows the command whole; otherwise it takes at
// most three rows, the confirmation and the full view showing all of it.
func (m *runView) detailText(w int, full bool) (rows, pinned []string) {
	st := m.c.st
	add := func(dst *[]string, style func(...string) string, s string) {
		for _, l := range strings.Split(wrap(s, w), "\n") {
			*dst = append(*dst, style(l))
		}
	}
	text := func(style func(...string) string, s string) { add(&rows, style, s) }
	if m.ended != nil {
		m.endedLines(text)
		rows = append(rows, "")
	}
	cur := m.current()
	if cur == nil {
		text(st.Dim.Render, "Starting…")
		return rows, nil
	}
	si := m.seen(cur.Key)
	head := stateMark(cur.State) + " " + cur.Key + " · " + cur.Title
	if cur.Attempt > 1 {
		head += fmt.Sprintf(" (attempt %d)", cur.Attempt)
	}
	text(m.stateStyle(cur.State), head)
	// A failure the operator must decide about comes first, with the retry
	// it allows: it is what the question below is about.
	deciding := m.request != nil && m.ended == nil && (m.request.Ask == runbook.AskDecide || m.request.Ask == runbook.AskRetry)
	if deciding {
		why := si.last
		if r := m.request.Reason; r != "" && !strings.Contains(why, r) {
			why = "FAILED: " + r
		}
		if why != "" {
			text(st.Failed.Render, why)
		}
		if m.request.Ask == runbook.AskRetry && m.request.Text != "" {
			text(st.Attention.Render, m.request.Text)
		}
	}
	if cur.Destructive {
		text(st.Destructive.Render, "DESTRUCTIVE: runs only after you type its token")
	}
	if m.spec.Simulated && si.real {
		text(st.Attention.Render, "REAL: acts on a real system, not on the simulation")
	}
	if src := cur.Source.String(); src != "" {
		text(st.Dim.Render, "source: "+src)
	}
	if d, over := m.elapsed(*cur); over {
		text(st.Overrun.Render, fmt.Sprintf("! working past its expected %s (%s so far)", fmtDur(cur.Expected), fmtDur(d)))
	}

	plan, verb := si.plan, "will run: "
	if si.callPlan != nil {
		plan, verb = si.callPlan, "running "+string(si.phase)+": "
	} else if cur.State.Done() {
		verb = "ran: "
	}
	if plan != nil {
		if plan.Host != "" {
			text(st.Text.Render, "on host: "+plan.Host)
		}
		cmd := strings.Split(wrap(verb+planCommand(*plan), w), "\n")
		if len(cmd) > 3 && !full {
			more := fmt.Sprintf("… (%s more: %s shows all)", lines(len(cmd)-2), keyOf(m.c.keys.Expand))
			cmd = append(cmd[:2], cut(more, w))
		}
		for _, l := range cmd {
			rows = append(rows, st.Command.Render(l))
		}
	}
	if si.patterns != nil {
		pat := strings.Join(si.patterns.Success, ", ")
		text(st.Text.Render, fmt.Sprintf("waits up to %s for %s in %s", fmtDur(si.patterns.Timeout), pat, strings.Join(si.patterns.Files, ", ")))
	}
	for _, para := range reflow(si.text) {
		text(st.Text.Render, para)
	}
	for i, para := range reflow(cur.Notes) {
		if i == 0 {
			para = "note: " + para
		}
		text(st.Dim.Render, para)
	}
	if si.last != "" && !deciding {
		style := st.Dim.Render
		if strings.Contains(si.last, "failed") || strings.HasPrefix(si.last, "FAILED") {
			style = st.Failed.Render
		}
		text(style, "last: "+si.last)
		for _, e := range si.evidence {
			text(st.Dim.Render, "  "+e)
		}
	}
	if deciding {
		for _, e := range si.evidence {
			text(st.Dim.Render, "  "+e)
		}
	}
	if m.notice != "" {
		style := st.Text.Render
		if m.warn {
			style = st.Attention.Render
		}
		add(&pinned, style, m.notice)
	}
	if r := m.request; r != nil && m.ended == nil {
		k := m.c.keys
		var ask string
		switch {
		case r.Type == runbook.EvConfirmRequest:
			ask = fmt.Sprintf("→ press %s and type %q to run this destructive step", keyOf(k.Confirm), r.Token)
		case r.Ask == runbook.AskManual && !m.readAll:
			ask = fmt.Sprintf("→ read to the end (%s), do it, then press %s to tick it off", keyOf(k.TextDown), keyOf(k.Done))
		case r.Ask == runbook.AskManual:
			ask = "→ do this yourself, then press " + keyOf(k.Done) + " to tick it off"
		case r.Ask == runbook.AskRetry:
			ask = fmt.Sprintf("→ fix the cause, then %s retries; or %s skip, %s go to, %s ad-hoc command, %s abort", keyOf(k.Retry), keyOf(k.Skip), keyOf(k.Jump), keyOf(k.Adhoc), keyOf(k.Abort))
		case r.Ask == runbook.AskDecide:
			ask = fmt.Sprintf("→ failed: %s retry, %s skip, %s go to a step, %s ad-hoc command, %s abort", keyOf(k.Retry), keyOf(k.Skip), keyOf(k.Jump), keyOf(k.Adhoc), keyOf(k.Abort))
		case r.Ask == runbook.AskReconcile:
			ask = "→ press " + keyOf(k.Reconcile) + " to say what happened to it"
		}
		if ask != "" {
			add(&pinned, st.Attention.Render, ask)
		}
	}
	return rows, pinned
}

// detailView draws the current step in w x h: its text, scrolled, with a
// mark saying how much more there is, and the pinned rows under it.
func (m *runView) detailView(w, h int, full bool) []string {
	rows, pinned := m.detailText(w, full)
	if len(pinned) >= h {
		return clip(pinned[len(pinned)-h:], h)
	}
	room := h - len(pinned)
	vis, off, mark := m.textWindow(len(rows), room)
	out := append([]string(nil), rows[off:off+vis]...)
	if mark {
		k := m.c.keys
		below, above := len(rows)-off-vis, off
		style, s := m.c.st.Dim.Render, ""
		switch {
		case below > 0 && full:
			style = m.c.st.Attention.Render
			s = fmt.Sprintf("▼ %s more: %s scrolls · %s or %s back", lines(below), keyOf(k.TextDown), keyOf(k.Expand), keyOf(k.Cancel))
		case below > 0:
			style = m.c.st.Attention.Render
			s = fmt.Sprintf("▼ %s more: %s scrolls, %s full screen", lines(below), keyOf(k.TextDown), keyOf(k.Expand))
		case full:
			s = fmt.Sprintf("▲ end of the text; %s above (%s) · %s or %s back", lines(above), keyOf(k.TextUp), keyOf(k.Expand), keyOf(k.Cancel))
		default:
			s = fmt.Sprintf("▲ end of the text; %s above (%s)", lines(above), keyOf(k.TextUp))
		}
		out = append(out, style(cut(s, w)))
	}
	for len(out) < room {
		out = append(out, "")
	}
	return append(out, pinned...)
}

func (m *runView) endedLines(add func(func(...string) string, string)) {
	st := m.c.st
	ev := m.ended
	if ev.Type == runbook.EvRunInterrupted {
		add(st.Attention.Render, "Run stopped; it stays resumable with:")
		add(st.Command.Render, m.spec.resumeCommand())
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
	add(st.Command.Render, m.spec.reportCommand())
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

	var body []string
	if m.expanded {
		body = m.detailView(w, max(0, m.c.height-3), true)
		for i := range body {
			body[i] = fit(body[i], w)
		}
	} else {
		body = m.body(top, outH, logH)
	}
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
	lw, rw := m.columns()
	left := m.stepsView(lw, top)
	right := m.detailView(rw, top, false)
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
		view, cutSome := m.out.view(st, w, outH-1, m.wrap)
		if cutSome {
			title += " · " + keyOf(m.c.keys.Wrap) + " wraps long lines"
		}
		rows = append(rows, m.sectionTitle(title, !m.onLog && m.showLog(), w))
		rows = append(rows, strings.Split(view, "\n")...)
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
		view, _ := m.log.view(st, w, logH-1, m.wrap)
		rows = append(rows, m.sectionTitle(title, m.onLog, w))
		rows = append(rows, strings.Split(view, "\n")...)
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
	k := m.c.keys
	// How to close the list heads it, so a short screen never cuts it off.
	rows := []string{st.Section.Render("keys") + st.Dim.Render(fit(" · "+keyOf(k.Help)+" or "+keyOf(k.Cancel)+" closes this list", max(1, w-4)))}
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
	for _, b := range []key.Binding{k.TextDown, k.TextUp, k.Expand, k.Wrap, k.ScrollUp, k.ScrollDown, k.Top, k.Follow, k.SwitchPane, k.Help, k.Quit} {
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
		if n := len(m.realSteps); n > 0 {
			// The simulated target's shell and file steps act on this
			// machine all the same: say how many did.
			b.WriteString(st.Attention.Render(fmt.Sprintf(" · %d real step%s", n, plural(n))))
		}
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
	// The time the steps waited for the operator, told from the work.
	var waited time.Duration
	for _, s := range m.steps {
		waited += s.SplitAt(m.c.now()).Operator
	}
	elapsed := fmtDur(total)
	if waited >= time.Second {
		elapsed += " (you " + fmtDur(waited) + ")"

	}
	status := string(m.status)
	b.WriteString(st.Dim.Render(fmt.Sprintf(" │ %s │ %d/%d steps │ ", elapsed, done, len(m.steps))))
	b.WriteString(st.Status.Render(status))
	// Where the running calls are, when not on this machine: the
	// operator sees which host a step is acting on.
	if hs := m.callHosts(); len(hs) > 0 {
		b.WriteString(st.Status.Render(" on " + strings.Join(hs, ", ")))
	}
	b.WriteString(st.Dim.Render(" │ run " + m.spec.RunID))
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// lines says "1 line" or "N lines".
func lines(n int) string { return fmt.Sprintf("%d line%s", n, plural(n)) }

// listItem matches the start of a line that begins a list item: "1.",
// "2)", "-", "*" or "•".
var listItem = regexp.MustCompile(`^\s*(?:\d+[.)]|[-*•])\s`)

// reflow returns the lines of a text written in YAML with hard line breaks
// (a description, a manual step, notes) for wrapping to the width it is
// shown at: a line that breaks a sentence in the middle is joined to the
// next one, so the text does not break twice. A line that ends a sentence
// or a clause (. : ; ! ?), a blank line, or a line that starts a list item
// keeps its break: each item and each instruction stays on a line of its
// own.
func reflow(s string) []string {
	var out []string
	join := false
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			join = false
			continue
		case join && !listItem.MatchString(l):
			out[len(out)-1] += " " + l
		default:
			out = append(out, l)
		}
		join = !strings.ContainsAny(l[len(l)-1:], ".:;!?")
	}
	return out
}
