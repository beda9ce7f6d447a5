package runbook

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxVisits bounds how often one step instance may be entered, so that a
// goto loop in a runbook ends instead of running forever.
const maxVisits = 100

// watchDrain is how long a failed action's armed watch may still report
// the log line that explains the failure.
const watchDrain = 3 * time.Second

// defaultPollEvery is the interval of a polled wait that names none.
const defaultPollEvery = 2 * time.Second

// Engine is the runbook state machine. It takes inputs (Handle) and returns
// events, some of which are effects for the runner to carry out: run a call,
// arm a log watch, set a timer, ask the operator. It starts no goroutine,
// reads no clock (every input carries its time) and does no I/O, so the same
// inputs always give the same events: replaying a journal's inputs rebuilds
// the state of a run exactly.
type Engine struct {
	rb     *Runbook
	specs  map[string]OpSpec
	params ParamValues

	inst   []*instance
	first  map[string]int // step id -> index of its first instance
	cur    int            // index of the current instance; len(inst) at the end
	status RunStatus
	// finStart is the index of the first finally instance, len(inst) when
	// the runbook has none.
	finStart int
	// mainEntered is set once a step under steps: has been entered: from
	// then on the run may have changed the estate, so finally steps run
	// when it ends.
	mainEntered bool
	// finalizing is set while finally steps run; pending and pendingWhy are
	// the status and reason the run ended its steps with.
	finalizing bool
	pending    RunStatus
	pendingWhy string
	out        map[string]map[string]string // step id -> vars from its result
	nextID     int
	adhoc      map[int]bool // ad-hoc calls in flight
	// started is set once the run has started (InStart, or InResume of a
	// run that stopped before its start was handled).
	started bool

	now time.Time
	evs []Event
	// clock tells each instance's work time from its operator time.
	clock Clock
}

// instance is one step, or one iteration of a foreach step.
type instance struct {
	key     string
	step    *Step
	section Section
	index   int // position in the foreach list, 0 otherwise
	item    string
	hasItem bool

	state   StepState
	title   string
	manual  string // the manual text, rendered when the step is entered
	notes   string // the notes, rendered when the step is entered
	attempt int
	visits  int
	started time.Time
	ended   time.Time

	// Progress of the current attempt.
	precheckDone   bool
	lastPrecheck   string
	confirmed      bool
	acked          bool
	watchID        int
	watchArmed     bool
	watchDone      bool
	watchFailed    string
	watchTimeout   bool
	watchPos       []LogPosition
	actionDone     bool
	actionFailed   string // why the action failed, while the watch drains
	actionTimedOut bool
	pollDone       bool
	verifyDone     bool

	callID      int
	callPhase   Phase
	callAt      time.Time // when the call in flight was asked for
	lastPoll    string    // the last answer of a polled wait
	watchLine   string    // the line that ended the watch
	timerID     int
	timerWhy    string // "retry", "poll"
	timerAfter  time.Duration
	deadlineID  int
	deadline    time.Time
	deadlineHit bool
	askFor      Ask
	askReason   string // why the operator is asked (the failure), kept to ask again
	askText     string // what the request says, kept to ask again
	askTimedOut bool
	reconciling bool // a verify or pre-check runs to decide an action in flight at resume
	// byWatch is set when a resume left the action's fate to its log
	// watch, re-armed at the position the journal holds.
	byWatch  bool
	evidence *Evidence // what the journal held at resume, for the question
	// reconcileWhy is the evidence that failed, kept while a pre-check
	// runs before the question.
	reconcileWhy string
	varsKept     bool // the attempt's results (Vars) were recorded
	failTimeout  bool
}

// NewEngine prepares a run of rb with resolved parameter values. specs are
// the operations' specs, for typing arguments; the runbook must already have
// passed Validate against the same specs.
func NewEngine(rb *Runbook, specs []OpSpec, params ParamValues) (*Engine, error) {
	e := &Engine{
		rb:     rb,
		specs:  make(map[string]OpSpec, len(specs)),
		params: params,
		first:  map[string]int{},
		status: RunRunning,
		out:    map[string]map[string]string{},
		adhoc:  map[int]bool{},
	}
	for _, s := range specs {
		e.specs[s.Name] = s
	}
	e.finStart = -1
	for _, ss := range rb.AllSteps() {
		st := ss.Step
		if ss.Section == SectionFinally && e.finStart < 0 {
			e.finStart = len(e.inst)
		}
		e.first[st.ID] = len(e.inst)
		if st.Foreach == nil {
			e.inst = append(e.inst, &instance{key: st.ID, step: st, section: ss.Section, state: StatePending})
			continue
		}
		items, _ := params[st.Foreach.Param].([]string)
		if len(items) == 0 {
			// An empty list still gets one instance, skipped when reached,
			// so the report says the step was considered.
			e.inst = append(e.inst, &instance{key: st.ID, step: st, section: ss.Section, state: StatePending})
			continue
		}
		for j, it := range items {
			e.inst = append(e.inst, &instance{
				key: st.ID + "[" + strconv.Itoa(j+1) + "]", step: st, section: ss.Section, index: j,
				item: it, hasItem: true, state: StatePending,
			})
		}
	}
	if e.finStart < 0 {
		e.finStart = len(e.inst)
	}
	return e, nil
}

// Status returns the run's status.
func (e *Engine) Status() RunStatus { return e.status }

// StepView is a read-only view of one step instance, for screens and
// reports.
type StepView struct {
	Key         string
	StepID      string
	Title       string
	Kind        StepKind
	State       StepState
	Attempt     int
	Started     time.Time
	Ended       time.Time
	Expected    time.Duration
	Destructive bool
	Source      Source
	Notes       string
	Manual      string
	Current     bool
	// Section is the part of the runbook the step is in.
	Section Section
	// Time is the instance's time up to the engine's last input, work and
	// operator time told apart.
	Time Split
	// Clock is the kind of time running now for the instance whose time
	// runs ("" for every other), since ClockSince; SplitAt adds it.
	Clock      TimeKind
	ClockSince time.Time
}

// SplitAt returns the instance's time up to now, adding the stretch
// running since the engine's last input to its kind.
func (v StepView) SplitAt(now time.Time) Split {
	s := v.Time
	if v.Clock != "" && now.After(v.ClockSince) {
		s.addKind(v.Clock, now.Sub(v.ClockSince))
	}
	return s
}

// Steps returns a view of every step instance in order.
func (e *Engine) Steps() []StepView {
	views := make([]StepView, len(e.inst))
	curKey, curKind, curSince := e.clock.Current()
	for i, in := range e.inst {
		title, manual, notes := in.title, in.manual, in.notes
		if title == "" {
			title = e.renderTitle(in)
		}
		if in.visits == 0 {
			// Not entered yet: rendered now from the parameters (and the
			// results known so far), for a screen that shows what is ahead.
			manual, notes = e.renderText(in, in.step.Manual), e.renderText(in, in.step.Notes)
		}
		views[i] = StepView{
			Key: in.key, StepID: in.step.ID, Title: title, Kind: in.step.Kind(), State: in.state,
			Attempt: in.attempt, Started: in.started, Ended: in.ended, Expected: in.step.Expected.Duration,
			Destructive: in.step.Destructive, Source: in.step.Source, Notes: notes,
			Manual: manual, Current: i == e.cur && !e.status.Final(), Section: in.section,
			Time: e.clock.Split(in.key, e.now),
		}
		if in.key == curKey && curKey != "" {
			views[i].Clock, views[i].ClockSince = curKind, maxTime(curSince, e.now)
		}
	}
	return views
}

// Handle applies one input and returns the events it caused, in order.
// Inputs that no longer apply (the result of a call already given up on) are
// ignored and cause no event.
func (e *Engine) Handle(in Input) []Event {
	e.now = in.Time
	e.evs = nil
	if e.status.Final() && in.Type != InStart {
		if in.Type == InCallDone && e.adhoc[in.ID] {
			e.adhocDone(in)
		}
		return e.evs
	}
	switch in.Type {
	case InStart:
		if e.started {
			return nil
		}
		e.started = true
		e.emit(Event{Type: EvRunStarted, Text: e.rb.Title, Notes: strings.TrimSpace(e.rb.Description)})
		e.enter(0)
	case InCallDone:
		e.callDone(in)
	case InWatchArmed:
		e.watchArmed(in)
	case InWatchDone:
		e.watchEnded(in)
	case InTimer:
		e.timer(in)
	case InConfirm:
		e.confirm(in)
	case InAck:
		e.ack(in)
	case InDeviate:
		e.deviate(in)
	case InResume:
		e.resume(in.Evidence)
	case InReconcile:
		e.reconcile(in)
	case InNote:
		e.note(in)
	}
	return e.evs
}

func (e *Engine) emit(ev Event) {
	ev.Time = e.now
	e.clock.Observe(ev)
	e.evs = append(e.evs, ev)
}

// Interrupted tells the engine that drillbook stopped at t (the journal's
// run.interrupted, which the runner writes without an input). Resume calls
// it while replaying, so the step's clock counts the time drillbook was
// down as stopped, not as work or operator time. The run's state does not
// change.
func (e *Engine) Interrupted(t time.Time) {
	e.clock.Observe(Event{Type: EvRunInterrupted, Time: t})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// note records an operator's note on a step instance (its key, or a step
// id naming its only instance or the step as a whole) or, with no step, on
// the run. A note is never refused for the state a step is in: a remark on
// a step done long ago belongs in the record too.
func (e *Engine) note(inp Input) {
	text := strings.TrimSpace(inp.Note)
	if text == "" {
		return
	}
	ev := Event{Type: EvNote, Text: text}
	if inp.Step != "" {
		key, id, ok := e.noteStep(inp.Step)
		if !ok {
			e.emit(Event{Type: EvWarning, Step: inp.Step,
				Text: fmt.Sprintf("note for step %s not kept: the runbook has no such step (the note was: %s)", inp.Step, text)})
			return
		}
		ev.Step, ev.StepID = key, id
	}
	e.emit(ev)
}

// noteStep resolves what a note names: an instance key, or a step id (its
// instance key when it has one instance).
func (e *Engine) noteStep(name string) (key, id string, ok bool) {
	for _, in := range e.inst {
		if in.key == name {
			return in.key, in.step.ID, true
		}
	}
	i, ok := e.first[name]
	if !ok {
		return "", "", false
	}
	in := e.inst[i]
	if !in.hasItem || i+1 >= len(e.inst) || e.inst[i+1].step != in.step {
		return in.key, in.step.ID, true
	}
	return name, name, true
}

func (e *Engine) current() *instance {
	if e.cur < 0 || e.cur >= len(e.inst) {
		return nil
	}
	return e.inst[e.cur]
}

func (e *Engine) id() int {
	e.nextID++
	return e.nextID
}

// data is what templates of the instance see.
func (e *Engine) data(in *instance) map[string]any {
	d := make(map[string]any, len(e.params)+2)
	maps.Copy(d, map[string]any(e.params))
	if in != nil && in.step.Foreach != nil {
		d[foreachVar(in.step.Foreach)] = in.item
	}
	out := make(map[string]any, len(e.out))
	for k, v := range e.out {
		out[k] = v
	}
	d["out"] = out
	d[stateFuncsKey] = stateFuncs{runStatus: e.runStatus, ran: e.ran, stepState: e.stepState}
	return d
}

// runStatus is the template function runStatus: the status the run's steps
// ended with while finally steps run, the run's status otherwise.
func (e *Engine) runStatus() string {
	if e.finalizing {
		return string(e.pending)
	}
	return string(e.status)
}

// ran is the template function ran: whether any instance of the step has
// started.
func (e *Engine) ran(step string) bool {
	return e.stepState(step) != string(StatePending)
}

// stepState is the template function stepState: the state of the step's
// last started instance, "pending" when none has started. A step skipped
// because its when: was false never started.
func (e *Engine) stepState(step string) string {
	state := StatePending
	for _, in := range e.inst {
		if in.step.ID == step && in.attempt > 0 {
			state = in.state
		}
	}
	return string(state)
}

func foreachVar(f *Foreach) string {
	if f.As != "" {
		return f.As
	}
	return "item"
}

// shownData is what templates of texts for the operator see: the
// instance's data with every secret parameter as SecretMarker. A title, a
// manual step's text and notes are shown on screen and in plain output,
// which the journal's redaction does not reach.
func (e *Engine) shownData(in *instance) map[string]any {
	d := e.data(in)
	for _, p := range e.rb.Params {
		if s, _ := d[p.Name].(string); p.Type == TypeSecret && s != "" {
			d[p.Name] = SecretMarker
		}
	}
	return d
}

// renderText fills a manual step's text or a step's notes from the
// parameters. A template that cannot be filled yet (a value an earlier step
// did not return) is shown as written, saying so, rather than hidden.
func (e *Engine) renderText(in *instance, text string) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	t, err := render(text, e.shownData(in))
	if err != nil {
		return text + "\n(drillbook could not fill in this text: " + err.Error() + ")"
	}
	return t
}

// renderTitle renders a step's title for display, secrets masked.
func (e *Engine) renderTitle(in *instance) string {
	d := e.shownData(in)
	t, err := render(in.step.Title, d)
	if err != nil || t == "" {
		if in.step.Title != "" && err == nil {
			return in.step.Title
		}
		return in.step.ID
	}
	return t
}

func (e *Engine) base(in *instance, typ EventType) Event {
	return Event{Type: typ, Step: in.key, StepID: in.step.ID, Attempt: in.attempt, State: in.state}
}

// enter makes instance i current and starts it, skipping instances whose
// when: is false, until one waits for something or the run ends.
func (e *Engine) enter(i int) {
	for {
		switch {
		case e.finalizing && i >= len(e.inst):
			e.cur = len(e.inst)
			e.finish(e.pending, e.pendingWhy)
			return
		case !e.finalizing && i >= e.finStart:
			// The steps ran to their end: the run succeeded, once its
			// finally steps have run.
			e.cur = min(i, len(e.inst))
			e.end(RunSucceeded, "")
			return
		}
		e.cur = i
		in := e.inst[i]
		if in.section == SectionMain {
			e.mainEntered = true
		}
		in.visits++
		if in.visits > maxVisits {
			in.state = StateFailed
			e.emit(Event{Type: EvStepFailed, Step: in.key, StepID: in.step.ID, State: in.state,
				Reason: fmt.Sprintf("entered %d times: the runbook loops (check its goto and next)", maxVisits)})
			e.end(RunAborted, "loop")
			return
		}
		in.title = e.renderTitle(in)
		in.manual, in.notes = e.renderText(in, in.step.Manual), e.renderText(in, in.step.Notes)
		if in.step.Foreach != nil && !in.hasItem {
			e.skip(in, fmt.Sprintf("foreach: the list %s is empty", in.step.Foreach.Param))
			i++
			continue
		}
		if in.step.When != "" {
			ok, err := e.when(in)
			if err != nil {
				in.attempt = 1
				in.started = e.now
				in.state = StateRunning
				e.emit(e.startEvent(in))
				e.fail(in, "when: "+err.Error(), false)
				return
			}
			if !ok {
				e.skip(in, "when: "+strings.TrimSpace(in.step.When)+" is false; "+e.wouldRun(in))
				i++
				continue
			}
		}
		// Entering a step again (goto, next) asks for a new confirmation.
		e.start(in, true)
		return
	}
}

func (e *Engine) when(in *instance) (bool, error) {
	s, err := render(in.step.When, e.data(in))
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(s) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("rendered %q, not true or false", strings.TrimSpace(s))
}

// wouldRun says what a skipped step would have done, so nothing is skipped
// silently.
func (e *Engine) wouldRun(in *instance) string {
	st := in.step
	switch st.Kind() {
	case KindManual:
		return "would have asked: " + firstLine(in.manual)
	case KindAction:
		if args, err := e.args(st.Action, st.With, in); err == nil {
			return "would have run " + st.Action + " " + args.Display(e.specs[st.Action])
		}
		return "would have run " + st.Action
	case KindWait:
		if st.Wait.Action != "" {
			return "would have polled " + st.Wait.Action
		}
		return "would have watched " + strings.Join(st.Wait.Log.Strings(), ", ")
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func (e *Engine) skip(in *instance, reason string) {
	in.state = StateSkipped
	in.ended = e.now
	ev := e.base(in, EvStepSkipped)
	ev.Title = in.title
	ev.Reason = reason
	e.emit(ev)
}

func (e *Engine) startEvent(in *instance) Event {
	ev := e.base(in, EvStepStarted)
	ev.Title = in.title
	ev.Kind = in.step.Kind()
	if in.section != SectionMain {
		ev.Section = in.section
	}
	src := in.step.Source
	ev.Source = &src
	ev.Expected = in.step.Expected.Duration
	ev.Destructive = in.step.Destructive
	ev.Text = in.manual
	ev.Notes = in.notes
	if in.step.Action != "" {
		ev.Op = in.step.Action
		if args, err := e.args(in.step.Action, in.step.With, in); err == nil {
			ev.Args = args
		}
	}
	return ev
}

// start begins an attempt of the instance. A retry keeps the confirmation
// given for the attempt before unless fresh is set.
func (e *Engine) start(in *instance, fresh bool) {
	e.stopOutstanding(in)
	confirmed := in.confirmed && !fresh
	keep := in.attempt
	*in = instance{key: in.key, step: in.step, section: in.section, index: in.index, item: in.item, hasItem: in.hasItem,
		title: in.title, manual: in.manual, notes: in.notes, visits: in.visits, attempt: keep + 1, confirmed: confirmed}
	in.state = StateRunning
	in.started = e.now
	e.emit(e.startEvent(in))
	e.proceed(in)
}

// proceed does the next thing the current attempt still needs, in the fixed
// order: manual tick-off, precheck, confirmation, arm watch, action, poll,
// await watch, verify; then the step has succeeded.
func (e *Engine) proceed(in *instance) {
	st := in.step
	switch {
	case st.Manual != "" && !in.acked:
		in.state = StateNeedsOperator
		e.askOperator(in, AskManual, "", in.manual, false)
	case st.Precheck != nil && !in.precheckDone:
		e.call(in, PhasePrecheck, st.Precheck.Action, st.Precheck.With, st.Timeout.Duration)
	case st.Destructive && !in.confirmed:
		in.state = StateNeedsConfirmation
		e.askConfirm(in)
	case st.Wait != nil && st.Wait.Action == "" && in.watchID == 0:
		spec, err := e.watchSpec(in)
		if err != nil {
			e.fail(in, "wait: "+err.Error(), false)
			return
		}
		in.watchID = e.id()
		in.state = StateWaiting
		ev := e.base(in, EvWatchArm)
		ev.ID = in.watchID
		ev.Watch = &spec
		e.emit(ev)
	case st.Wait != nil && st.Wait.Action == "" && !in.watchArmed:
		// waiting for the runner to report the watch armed
	case st.Action != "" && !in.actionDone:
		e.call(in, PhaseAction, st.Action, st.With, st.Timeout.Duration)
	case st.Wait != nil && st.Wait.Action != "" && !in.pollDone:
		if in.deadlineID == 0 {
			in.deadlineID = e.id()
			in.deadline = e.now.Add(st.Wait.Timeout.Duration)
			e.setTimer(in, in.deadlineID, st.Wait.Timeout.Duration)
		}
		e.call(in, PhaseAction, st.Wait.Action, st.Wait.With, st.Wait.Timeout.Duration)
		in.state = StateWaiting
	case st.Wait != nil && st.Wait.Action == "" && !in.watchDone:
		in.state = StateWaiting
	case st.Wait != nil && in.watchFailed != "":
		e.fail(in, in.watchFailed, in.watchTimeout)
	case st.Verify != nil && !in.verifyDone:
		e.call(in, PhaseVerify, st.Verify.Action, st.Verify.With, st.Timeout.Duration)
	default:
		e.succeed(in)
	}
}

// askConfirm asks for a destructive step's token, showing what will run
// and the pre-check's last answer.
func (e *Engine) askConfirm(in *instance) {
	st := in.step
	ev := e.base(in, EvConfirmRequest)
	tok, err := render(st.Confirm, e.data(in))
	if err != nil {
		e.fail(in, "confirm: "+err.Error(), false)
		return
	}
	ev.Token = tok
	ev.Text = in.lastPrecheck
	ev.Notes = in.notes
	if st.Action != "" {
		ev.Op = st.Action
		if args, err := e.args(st.Action, st.With, in); err == nil {
			ev.Args = args
		}
	}
	e.emit(ev)
}

// askOperator asks the operator and keeps the question, so that it can be
// asked again the same way (after an ad-hoc command, on resume).
func (e *Engine) askOperator(in *instance, ask Ask, reason, text string, timedOut bool) {
	in.askFor, in.askReason, in.askText, in.askTimedOut = ask, reason, text, timedOut
	q := e.base(in, EvOperatorRequest)
	q.Ask = ask
	q.Reason = reason
	q.Text = text
	q.TimedOut = timedOut
	if ask == AskManual {
		q.Notes = in.notes
	}
	e.emit(q)
}

// reask asks again the question the instance stands at, if any: the
// confirmation of a destructive step, or the operator request with its
// reason. It reports whether there was one.
func (e *Engine) reask(in *instance) bool {
	switch {
	case in.state == StateNeedsConfirmation:
		e.askConfirm(in)
	case in.askFor != "" && (in.state == StateNeedsOperator || in.state == StateFailed):
		e.askOperator(in, in.askFor, in.askReason, in.askText, in.askTimedOut)
	default:
		return false
	}
	return true
}

func (e *Engine) args(op string, with map[string]Value, in *instance) (Args, error) {
	spec, ok := e.specs[op]
	if !ok {
		return nil, fmt.Errorf("no adapter offers %s", op)
	}
	return resolveArgs(spec, with, e.data(in))
}

func (e *Engine) call(in *instance, phase Phase, op string, with map[string]Value, timeout time.Duration) {
	args, err := e.args(op, with, in)
	if err != nil {
		e.fail(in, string(phase)+": "+err.Error(), false)
		return
	}
	if phase == PhaseAction && in.step.Interactive {
		args["interactive"] = true // the validator allows it on shell.run only
	}
	in.callID = e.id()
	in.callPhase = phase
	in.callAt = e.now
	in.state = StateRunning
	ev := e.base(in, EvCallStart)
	ev.ID = in.callID
	ev.Phase = phase
	ev.Op = op
	ev.Args = args
	ev.Timeout = timeout
	e.emit(ev)
}

func (e *Engine) watchSpec(in *instance) (WatchSpec, error) {
	w := in.step.Wait
	d := e.data(in)
	files, err := renderList(w.Log.Strings(), d)
	if err != nil {
		return WatchSpec{}, err
	}
	engine, err := render(w.Engine, d)
	if err != nil {
		return WatchSpec{}, err
	}
	host, err := render(w.Host, d)
	if err != nil {
		return WatchSpec{}, err
	}
	spec := WatchSpec{Host: host, Files: files, Engine: engine, Timeout: w.Timeout.Duration}
	for _, set := range []struct {
		dst *[]string
		src []string
	}{{&spec.Success, w.Success}, {&spec.Failure, w.Failure}, {&spec.Warn, w.Warn}} {
		for _, p := range set.src {
			r, err := render(p, d)
			if err != nil {
				return WatchSpec{}, err
			}
			*set.dst = append(*set.dst, r)
		}
	}
	return spec, nil
}

func (e *Engine) setTimer(in *instance, id int, after time.Duration) {
	ev := e.base(in, EvTimerSet)
	ev.ID = id
	ev.After = after
	e.emit(ev)
}

func (e *Engine) callDone(inp Input) {
	if e.adhoc[inp.ID] {
		e.adhocDone(inp)
		return
	}
	in := e.current()
	if in == nil || inp.ID == 0 || inp.ID != in.callID {
		return
	}
	in.callID = 0
	ev := e.base(in, EvCallFinished)
	ev.ID = inp.ID
	ev.Phase = in.callPhase
	ev.Result = inp.Result
	ev.Error = inp.Error
	ev.TimedOut = inp.TimedOut
	e.emit(ev)
	for _, w := range resultWarnings(inp.Result) {
		wev := e.base(in, EvWarning)
		wev.Text = w
		e.emit(wev)
	}
	failed := inp.Error != ""
	switch in.callPhase {
	case PhasePrecheck:
		if in.reconciling {
			in.reconciling = false
			now := "Its pre-check says now: " + summaryOf(inp.Result)
			if failed {
				now = "Its pre-check fails now: " + inp.Error
			}
			why := now
			if in.reconcileWhy != "" {
				why = in.reconcileWhy + ". " + now
			}
			e.askReconcile(in, e.evidenceText(in, why))
			return
		}
		if failed {
			e.fail(in, "precheck failed: "+inp.Error, inp.TimedOut)
			return
		}
		in.precheckDone = true
		in.lastPrecheck = summaryOf(inp.Result)
	case PhaseAction:
		st := in.step
		if st.Wait != nil && st.Wait.Action != "" && st.Action == "" {
			e.pollDone(in, inp)
			return
		}
		if failed {
			if in.watchArmed && !in.watchDone {
				// The log may already hold the line that explains the failure
				// (CWSIS1519E, CWSIP0782E): give the watch a moment to report
				// it before the step ends.
				in.actionFailed, in.actionTimedOut = inp.Error, inp.TimedOut
				in.timerID = e.id()
				in.timerWhy = "drain"
				in.timerAfter = watchDrain
				e.setTimer(in, in.timerID, watchDrain)
				return
			}
			e.fail(in, inp.Error, inp.TimedOut)
			return
		}
		in.actionDone = true
		e.keepVars(in, inp.Result)
	case PhaseVerify:
		if failed {
			if in.reconciling {
				// The verify is the evidence: the step's outcome is not
				// there, so the step failed, as it would have without the
				// stop; on_failure applies (a rerun of a destructive step
				// asks for a new confirmation).
				in.reconciling = false
				in.evidence = nil
				rev := e.base(in, EvReconciled)
				rev.State = StateFailed
				rev.Reason = "verify failed after resume: " + inp.Error
				e.emit(rev)
				e.fail(in, "verify failed after resume: "+inp.Error, inp.TimedOut)
				return
			}
			e.fail(in, "verify failed: "+inp.Error, inp.TimedOut)
			return
		}
		in.verifyDone = true
		if in.reconciling {
			in.evidence = nil
			in.reconciling = false
			if e.outputsLost(in) && e.recoverOutputs(in, "verify passed after resume") {
				return
			}
			in.actionDone = true
			rev := e.base(in, EvReconciled)
			rev.State = StateSucceeded
			rev.Reason = "verify passed after resume"
			e.emit(rev)
		}
	}
	e.proceed(in)
}

func resultWarnings(r *Result) []string {
	if r == nil {
		return nil
	}
	return r.Warnings
}

func summaryOf(r *Result) string {
	if r == nil {
		return ""
	}
	return r.Summary
}

func (e *Engine) keepVars(in *instance, r *Result) {
	if r == nil || len(r.Vars) == 0 {
		return
	}
	in.varsKept = true
	e.out[in.step.ID] = maps.Clone(r.Vars)
}

func (e *Engine) pollDone(in *instance, inp Input) {
	in.lastPoll = summaryOf(inp.Result)
	if inp.Error != "" {
		in.lastPoll = inp.Error
	}
	if inp.Error == "" {
		in.pollDone = true
		e.keepVars(in, inp.Result)
		e.cancelTimer(in, &in.deadlineID)
		e.proceed(in)
		return
	}
	if in.deadlineHit || !e.now.Before(in.deadline) {
		e.fail(in, fmt.Sprintf("the condition did not hold within %s: %s", in.step.Wait.Timeout.Duration, inp.Error), true)
		return
	}
	every := in.step.Wait.Every.Duration
	if every == 0 {
		every = defaultPollEvery
	}
	in.timerID = e.id()
	in.timerWhy = "poll"
	in.timerAfter = every
	in.state = StateWaiting
	e.setTimer(in, in.timerID, every)
}

func (e *Engine) cancelTimer(in *instance, id *int) {
	if *id == 0 {
		return
	}
	ev := e.base(in, EvTimerCancel)
	ev.ID = *id
	e.emit(ev)
	*id = 0
}

func (e *Engine) watchArmed(inp Input) {
	in := e.current()
	if in == nil || inp.ID != in.watchID || in.watchArmed {
		return
	}
	in.watchArmed = true
	in.watchPos = inp.Positions
	ev := e.base(in, EvWatchArmed)
	ev.ID = inp.ID
	ev.Positions = inp.Positions
	ev.Error = inp.Error
	e.emit(ev)
	if inp.Error != "" {
		in.watchID = -1 // armed and failed: nothing to cancel
		in.watchDone = true
		if in.byWatch {
			// Re-armed at resume to decide the action, and it cannot read
			// the log: no evidence from it.
			in.byWatch = false
			e.reconcileWithout(in, "The log watch could not go on: "+inp.Error)
			return
		}
		e.fail(in, "log watch: "+inp.Error, false)
		return
	}
	if in.callID == 0 && !in.byWatch && !e.awaitingOperator(in) {
		e.proceed(in)
	}
}

// awaitingOperator reports whether the instance waits for the operator, so
// nothing but the operator's answer may move it on.
func (e *Engine) awaitingOperator(in *instance) bool {
	return in.state == StateNeedsOperator || in.state == StateNeedsConfirmation
}

func (e *Engine) watchEnded(inp Input) {
	in := e.current()
	if in == nil || inp.ID != in.watchID || in.watchDone {
		return
	}
	in.watchDone = true
	ev := e.base(in, EvWatchFinished)
	ev.ID = inp.ID
	ev.Error = inp.Error
	ev.TimedOut = inp.TimedOut
	if inp.Outcome != nil {
		ev.Line = inp.Outcome.Line
		ev.Positions = inp.Outcome.Positions
		in.watchPos = inp.Outcome.Positions
		if inp.Outcome.Line != nil {
			in.watchLine = firstLine(inp.Outcome.Line.Text)
		}
	}
	e.emit(ev)
	switch {
	case inp.Error != "":
		in.watchFailed = "log watch: " + inp.Error
	case inp.TimedOut || inp.Outcome == nil || inp.Outcome.Kind == MatchNone:
		in.watchFailed = fmt.Sprintf("no success line in the log within %s", in.step.Wait.Timeout.Duration)
		in.watchTimeout = true
	case inp.Outcome.Kind == MatchFailure:
		in.watchFailed = "failure line in the log: " + firstLine(inp.Outcome.Line.Text)
	default:
		if inp.Outcome.Line != nil && len(inp.Outcome.Line.Vars) > 0 {
			vars := maps.Clone(e.out[in.step.ID])
			if vars == nil {
				vars = map[string]string{}
			}
			maps.Copy(vars, inp.Outcome.Line.Vars)
			e.out[in.step.ID] = vars
			in.varsKept = true
		}
	}
	if in.byWatch {
		in.byWatch = false
		if inp.Error != "" {
			e.reconcileWithout(in, "The log watch could not go on: "+inp.Error)
			return
		}
		e.decideByWatch(in, "after resume, from where it stood when drillbook stopped")
		return
	}
	if in.callID != 0 || e.awaitingOperator(in) {
		return // the action still runs, or the operator decides first
	}
	if in.actionFailed != "" {
		e.cancelTimer(in, &in.timerID)
		reason := in.actionFailed
		if in.watchFailed != "" {
			reason += "; " + in.watchFailed
		}
		e.fail(in, reason, in.actionTimedOut)
		return
	}
	e.proceed(in)
}

func (e *Engine) timer(inp Input) {
	in := e.current()
	if in == nil {
		return
	}
	switch inp.ID {
	case 0:
		return
	case in.deadlineID:
		in.deadlineID = 0
		in.deadlineHit = true
		if in.callID != 0 {
			ev := e.base(in, EvCallCancel)
			ev.ID = in.callID
			ev.Reason = "wait timeout"
			e.emit(ev)
			return
		}
		e.cancelTimer(in, &in.timerID)
		e.fail(in, fmt.Sprintf("the condition did not hold within %s", in.step.Wait.Timeout.Duration), true)
	case in.timerID:
		in.timerID = 0
		switch in.timerWhy {
		case "drain":
			e.fail(in, in.actionFailed, in.actionTimedOut)
		case "retry":
			e.start(in, false)
		case "poll":
			e.call(in, PhaseAction, in.step.Wait.Action, in.step.Wait.With, in.step.Wait.Timeout.Duration)
			in.state = StateWaiting
		}
	}
}

// stopOutstanding cancels the watch, timers and call of an instance.
func (e *Engine) stopOutstanding(in *instance) {
	if in.watchID > 0 && !in.watchDone {
		ev := e.base(in, EvWatchCancel)
		ev.ID = in.watchID
		e.emit(ev)
		in.watchDone = true
	}
	e.cancelTimer(in, &in.timerID)
	e.cancelTimer(in, &in.deadlineID)
	if in.callID != 0 {
		ev := e.base(in, EvCallCancel)
		ev.ID = in.callID
		e.emit(ev)
		in.callID = 0
	}
}

func (e *Engine) succeed(in *instance) {
	in.state = StateSucceeded
	in.ended = e.now
	ev := e.base(in, EvStepSucceeded)
	ev.Title = in.title
	e.emit(ev)
	moreItems := e.cur+1 < len(e.inst) && e.inst[e.cur+1].step == in.step
	if in.step.Next != "" && !moreItems {
		e.enter(e.first[in.step.Next])
		return
	}
	e.enter(e.cur + 1)
}

// fail ends the attempt and applies on_failure: retries first, then goto,
// abort, or a question to the operator.
func (e *Engine) fail(in *instance, reason string, timedOut bool) {
	e.stopOutstanding(in)
	in.state = StateFailed
	in.ended = e.now
	in.failTimeout = timedOut
	ev := e.base(in, EvStepFailed)
	ev.Title = in.title
	ev.Reason = reason
	ev.TimedOut = timedOut
	e.emit(ev)
	of := in.step.OnFailure
	if of != nil && of.Retry != nil && in.attempt <= of.Retry.Count {
		// Attempt n failed; the next one is retry n of Count. Every text
		// counts the same way: "retry 1 of 3" is followed by "2 more after
		// it", never by "3 of 3 left".
		retry := retryText(in.attempt, of.Retry.Count)
		rev := e.base(in, EvStepRetrying)
		rev.Reason = retry
		rev.After = of.Retry.Delay.Duration
		e.emit(rev)
		if of.Retry.Ask {
			in.state = StateNeedsOperator
			e.askOperator(in, AskRetry, reason, fmt.Sprintf("Attempt %d failed. Resolve the cause, then allow %s.", in.attempt, retry), timedOut)
			return
		}
		in.timerID = e.id()
		in.timerWhy = "retry"
		in.timerAfter = of.Retry.Delay.Duration
		e.setTimer(in, in.timerID, of.Retry.Delay.Duration)
		return
	}
	switch {
	case of != nil && of.Goto != "":
		e.enter(e.first[of.Goto])
	case of != nil && of.Abort:
		status := RunFailed
		if timedOut {
			status = RunTimedOut
		}
		e.end(status, reason)
	default:
		text := "The step failed. Retry, skip, jump to another step or abort, with a reason."
		if of != nil && of.Retry != nil {
			text = fmt.Sprintf("The step failed on attempt %d of %d: its retries are used up. Retry, skip, jump to another step or abort, with a reason.", in.attempt, of.Retry.Count+1)
		}
		e.askOperator(in, AskDecide, reason, text, timedOut)
	}
}

// retryText names the retry after attempt n of a step allowed count
// retries, and how many remain after it.
func retryText(n, count int) string {
	left := count - n
	switch left {
	case 0:
		return fmt.Sprintf("retry %d of %d, the last", n, count)
	case 1:
		return fmt.Sprintf("retry %d of %d, 1 more after it", n, count)
	}
	return fmt.Sprintf("retry %d of %d, %d more after it", n, count, left)
}

// end ends the run's steps with a status. When the run got past preflight
// and the runbook has finally steps, they run first (run.finally) and the
// run finishes after them; otherwise it finishes now. Ending while finally
// steps run (an abort, a finally step's own on_failure: abort) finishes the
// run at once.
func (e *Engine) end(status RunStatus, reason string) {
	switch {
	case e.finalizing:
		// The steps' outcome stands; a run whose steps succeeded takes the
		// finally step's failure or abort as its own.
		if e.pending == RunSucceeded {
			e.finish(status, reason)
			return
		}
		e.finish(e.pending, e.pendingWhy)
	case e.mainEntered && e.finStart < len(e.inst):
		e.finalizing = true
		e.pending, e.pendingWhy = status, reason
		e.emit(Event{Type: EvRunFinally, Status: status, Reason: reason})
		e.enter(e.finStart)
	default:
		e.finish(status, reason)
	}
}

func (e *Engine) finish(status RunStatus, reason string) {
	e.status = status
	e.emit(Event{Type: EvRunFinished, Status: status, Reason: reason})
}

func (e *Engine) matchStep(in *instance, step string) bool {
	return step == in.key || step == in.step.ID
}

func (e *Engine) confirm(inp Input) {
	in := e.current()
	if in == nil || in.state != StateNeedsConfirmation || !e.matchStep(in, inp.Step) {
		return
	}
	want, err := render(in.step.Confirm, e.data(in))
	if err != nil {
		return
	}
	if strings.TrimSpace(inp.Token) != want {
		ev := e.base(in, EvConfirmRefused)
		ev.Reason = "the typed text does not match; nothing was run"
		e.emit(ev)
		return
	}
	in.confirmed = true
	in.state = StateRunning
	ev := e.base(in, EvConfirmAccepted)
	ev.Token = want
	e.emit(ev)
	e.proceed(in)
}

func (e *Engine) ack(inp Input) {
	in := e.current()
	if in == nil || in.state != StateNeedsOperator || !e.matchStep(in, inp.Step) {
		return
	}
	ev := e.base(in, EvOperatorAck)
	ev.Ask = in.askFor
	ev.Text = inp.Note
	switch in.askFor {
	case AskManual:
		e.emit(ev)
		in.acked = true
		in.state = StateRunning
		e.proceed(in)
	case AskRetry:
		e.emit(ev)
		e.start(in, false)
	}
}

func (e *Engine) deviate(inp Input) {
	in := e.current()
	refuse := func(why string) {
		ev := Event{Type: EvDeviationRefused, Deviation: inp.Deviation, Target: inp.Target, Reason: why}
		if in != nil {
			ev.Step, ev.StepID = in.key, in.step.ID
		}
		e.emit(ev)
	}
	reason := strings.TrimSpace(inp.Reason)
	if reason == "" {
		refuse("a deviation needs a reason; it goes into the report")
		return
	}
	if in == nil {
		refuse("the run has no current step")
		return
	}
	if in.callID != 0 && inp.Deviation != DevAbort && inp.Deviation != DevAdhoc {
		refuse("a call is running; wait for it to end or cancel it first")
		return
	}
	ev := e.base(in, EvDeviation)
	ev.Deviation = inp.Deviation
	ev.Target = inp.Target
	ev.Reason = reason
	switch inp.Deviation {
	case DevRetry:
		if in.state != StateFailed && in.state != StateNeedsOperator && in.state != StateNeedsConfirmation && in.state != StateWaiting {
			refuse("only a failed or waiting step can be retried")
			return
		}
		e.emit(ev)
		e.stopOutstanding(in)
		e.start(in, true)
	case DevSkip:
		e.emit(ev)
		e.stopOutstanding(in)
		e.skip(in, "skipped by the operator: "+reason)
		e.enter(e.cur + 1)
	case DevJump:
		idx, ok := e.first[inp.Target]
		if !ok {
			refuse(fmt.Sprintf("there is no step %q", inp.Target))
			return
		}
		if toFinally := e.inst[idx].section == SectionFinally; toFinally != e.finalizing {
			if toFinally {
				refuse(fmt.Sprintf("%s is a finally step: finally steps run when the run ends (abort to end it)", inp.Target))
			} else {
				refuse(fmt.Sprintf("the run has ended and its finally steps run: %s is not one of them", inp.Target))
			}
			return
		}
		e.emit(ev)
		e.stopOutstanding(in)
		if !in.state.Done() {
			e.skip(in, "left by the operator for "+inp.Target+": "+reason)
		}
		e.enter(idx)
	case DevAdhoc:
		if len(inp.Argv) == 0 {
			refuse("an ad-hoc command needs a command line")
			return
		}
		if _, ok := e.specs["shell.run"]; !ok {
			refuse("no shell adapter is available for an ad-hoc command")
			return
		}
		e.emit(ev)
		id := e.id()
		e.adhoc[id] = true
		cev := e.base(in, EvCallStart)
		cev.ID = id
		cev.Phase = "adhoc"
		cev.Op = "shell.run"
		cev.Args = Args{"argv": append([]string(nil), inp.Argv...)}
		e.emit(cev)
	case DevAbort:
		e.emit(ev)
		e.stopOutstanding(in)
		if !in.state.Done() {
			in.state = StateFailed
			in.ended = e.now
		}
		e.end(RunAborted, reason)
	default:
		refuse(fmt.Sprintf("unknown deviation %q: use retry, skip, jump, adhoc or abort", inp.Deviation))
	}
}

func (e *Engine) adhocDone(inp Input) {
	delete(e.adhoc, inp.ID)
	ev := Event{Type: EvCallFinished, ID: inp.ID, Phase: "adhoc", Result: inp.Result, Error: inp.Error, TimedOut: inp.TimedOut}
	in := e.current()
	if in != nil {
		ev.Step, ev.StepID = in.key, in.step.ID
	}
	e.emit(ev)
	// An ad-hoc command is a look aside: the question the step stood at
	// (its failure and what to do about it) is asked again, so retry, skip,
	// jump and abort stay offered with the reason.
	if in != nil && !e.status.Final() {
		e.reask(in)
	}
}

// InFlight returns the id of the call the current step waits for, 0 when
// none: on resume the session looks up what the journal holds about it.
func (e *Engine) InFlight() int {
	if in := e.current(); in != nil && !e.status.Final() {
		return in.callID
	}
	return 0
}

// resume reconciles the current step after drillbook stopped and was
// started again. A run that stopped before its start was handled starts.
// Checks and polls in flight run again (they change nothing); an action in
// flight is decided by the evidence the journal holds (its call never
// started; its log watch's success or failure line, before the stop or
// found after it from the watch's journaled position; its verify), and only
// without any is the operator asked, shown what the journal holds; it is
// never silently run again. Requests to the operator are asked again.
func (e *Engine) resume(ev *Evidence) {
	in := e.current()
	e.emit(Event{Type: EvRunResumed})
	for id := range e.adhoc {
		delete(e.adhoc, id)
	}
	if !e.started {
		// drillbook stopped between writing the run's description and
		// handling its start: nothing has run, so the run starts now.
		e.started = true
		e.emit(Event{Type: EvRunStarted, Text: e.rb.Title, Notes: strings.TrimSpace(e.rb.Description)})
		e.enter(0)
		return
	}
	if in == nil {
		return
	}
	// A watch asked for but never reported armed has no position: arm a new
	// one from the end (nothing after the arm has run, so no call is in
	// flight). One that has a position (armed, or armed again by an earlier
	// resume) goes on from there.
	rearm := in.watchID > 0 && !in.watchArmed && in.watchPos == nil
	if rearm {
		in.watchID = 0
	}
	rearmed := false
	if in.watchID > 0 && in.watchPos != nil && !in.watchDone {
		wev := e.base(in, EvWatchArm)
		wev.ID = in.watchID
		spec, err := e.watchSpec(in)
		if err == nil {
			wev.Watch = &spec
			wev.Positions = in.watchPos
			in.watchArmed = false
			rearmed = true
			e.emit(wev)
		}
	}
	if in.timerID != 0 {
		e.setTimer(in, in.timerID, in.timerAfter)
	}
	if in.deadlineID != 0 {
		left := in.deadline.Sub(e.now)
		if left < 0 {
			left = 0
		}
		e.setTimer(in, in.deadlineID, left)
	}
	if in.callID != 0 {
		phase := in.callPhase
		started := ev == nil || ev.Call != in.callID || ev.Started
		in.callID = 0
		switch {
		case !started:
			// Its call.start never reached the journal, and the runner
			// carries out an effect only once its event is on disk: the
			// call never ran, so it runs now (a destructive one was
			// confirmed in the journal before it was asked for).
			e.callAgain(in, phase)
		case phase == PhaseAction && in.step.Action != "" && e.specs[in.step.Action].ReadOnly:
			// A read-only action changes nothing: it runs again, and its
			// answer (and results) are the step's.
			e.callAgain(in, phase)
		case phase == PhaseAction && in.step.Action != "":
			in.evidence = ev
			e.reconcileAction(in, rearmed)
		default:
			// A precheck, verify or poll only reads: it runs again.
			e.callAgain(in, phase)
		}
		return
	}
	if rearm {
		e.proceed(in)
		return
	}
	switch in.state {
	case StateNeedsConfirmation:
		in.confirmed = false
		e.proceed(in)
	case StateNeedsOperator, StateFailed:
		// The question is asked again as it was, with the failure (or the
		// evidence) it is about; a retry that waits out its delay has none
		// (the timer set above goes on).
		e.reask(in)
	}
}

// callAgain asks again for the call of the given phase of the instance.
func (e *Engine) callAgain(in *instance, phase Phase) {
	st := in.step
	switch {
	case phase == PhasePrecheck:
		e.call(in, phase, st.Precheck.Action, st.Precheck.With, st.Timeout.Duration)
	case phase == PhaseVerify:
		e.call(in, phase, st.Verify.Action, st.Verify.With, st.Timeout.Duration)
	case st.Action != "":
		e.call(in, PhaseAction, st.Action, st.With, st.Timeout.Duration)
	default:
		e.call(in, PhaseAction, st.Wait.Action, st.Wait.With, st.Wait.Timeout.Duration)
		in.state = StateWaiting
	}
}

// reconcileAction decides an action that was in flight when drillbook
// stopped, from the first evidence the journal holds: the log watch's end
// (journaled before the stop, or awaited now from where the watch stood),
// then the verify; without either the operator is asked.
func (e *Engine) reconcileAction(in *instance, rearmed bool) {
	st := in.step
	logWait := st.Wait != nil && st.Wait.Action == ""
	switch {
	case logWait && in.watchDone && in.watchID > 0:
		e.decideByWatch(in, "before drillbook stopped")
	case logWait && rearmed:
		// The watch reads on from its journaled position, so a line the
		// engine wrote while drillbook was down is found; its end decides.
		in.byWatch = true
		in.state = StateWaiting
	default:
		e.reconcileWithout(in, "")
	}
}

// decideByWatch decides the action in flight from how its log watch ended:
// the success line means the action did what it is for; a failure line or
// no success line within the watch's timeout fails the step as it would
// have failed without the stop.
func (e *Engine) decideByWatch(in *instance, when string) {
	rev := e.base(in, EvReconciled)
	in.evidence = nil
	if in.watchFailed == "" {
		if e.outputsLost(in) && e.recoverOutputs(in, "the log showed the success line "+when) {
			return
		}
		in.actionDone = true
		in.state = StateRunning
		rev.State = StateSucceeded
		rev.Reason = "the log showed the success line " + when + ": " + in.watchLine
		e.emit(rev)
		e.proceed(in)
		return
	}
	rev.State = StateFailed
	rev.Reason = in.watchFailed + " (" + when + ")"
	e.emit(rev)
	e.fail(in, in.watchFailed, in.watchTimeout)
}

// reconcileWithout decides the action in flight by its verify, or asks the
// operator when the step has none; why says what evidence failed.
func (e *Engine) reconcileWithout(in *instance, why string) {
	if v := in.step.Verify; v != nil {
		in.reconciling = true
		e.call(in, PhaseVerify, v.Action, v.With, in.step.Timeout.Duration)
		return
	}
	if pc := in.step.Precheck; pc != nil && e.specs[pc.Action].ReadOnly {
		// No verify to decide it: the pre-check, which changes nothing,
		// runs again so the operator sees what it says of the state now
		// before deciding.
		in.reconcileWhy = why
		in.reconciling = true
		e.call(in, PhasePrecheck, pc.Action, pc.With, in.step.Timeout.Duration)
		return
	}
	e.askReconcile(in, e.evidenceText(in, why))
}

// outputsLost reports whether later steps use this step's results
// ({{ .out.ID.NAME }}) and the current attempt has none recorded: a step
// decided after a resume without its result cannot give them.
func (e *Engine) outputsLost(in *instance) bool {
	if in.varsKept {
		return false
	}
	id := in.step.ID
	return bytes.Contains(e.rb.Raw, []byte(".out."+id+".")) || bytes.Contains(e.rb.Raw, []byte(`.out "`+id+`"`))
}

// recoverOutputs deals with a step found done after a resume whose
// results, used by later steps, were never recorded. A step that is not
// destructive runs again to give them (recoverOutputs reports true: the
// caller stops there). A destructive one is never run again only for its
// results, which would repeat what it did (a second restart, a second
// restore): later steps see each result they use empty, a warning says so,
// and the caller goes on deciding the step as done.
func (e *Engine) recoverOutputs(in *instance, found string) bool {
	if !in.step.Destructive {
		e.rerunForOutputs(in, found)
		return true
	}
	names := lostOutputNames(e.rb.Raw, in.step.ID)
	vars := make(map[string]string, len(names))
	for _, n := range names {
		vars[n] = ""
	}
	e.out[in.step.ID] = vars
	in.varsKept = true
	w := e.base(in, EvWarning)
	w.Text = found + ", but its results (" + strings.Join(names, ", ") + ") were never recorded; it is destructive, so it is not run again to get them: later steps see them empty"
	e.emit(w)
	return false
}

// lostOutputNames returns the names of the results of step id that the
// runbook's templates use ({{ .out.ID.NAME }}), sorted, each once.
func lostOutputNames(raw []byte, id string) []string {
	re := regexp.MustCompile(`\.out\.` + regexp.QuoteMeta(id) + `\.([A-Za-z_][A-Za-z0-9_]*)`)
	var names []string
	for _, m := range re.FindAllSubmatch(raw, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// rerunForOutputs runs a step again whose action was found done after a
// resume but whose results, used by later steps, were never recorded; a
// destructive step asks for a new confirmation first.
func (e *Engine) rerunForOutputs(in *instance, found string) {
	rev := e.base(in, EvReconciled)
	rev.State = "rerun"
	rev.Reason = found + ", but later steps use its results ({{ .out." + in.step.ID + ".… }}), which were never recorded: it runs again"
	e.emit(rev)
	e.start(in, true)
}

// reconcileQuestion is the question of a reconcile request.
const reconcileQuestion = "Did the step succeed, fail, or should it run again (a destructive step asks for a new confirmation)?"

// evidenceText says why the operator is asked about an action that was in
// flight when drillbook stopped, and what the journal holds about it.
func (e *Engine) evidenceText(in *instance, why string) string {
	var b strings.Builder
	b.WriteString("drillbook stopped while this step's action was running, and nothing in the journal decides how it ended: say whether it succeeded.")
	if why != "" {
		b.WriteString(" " + why + ".")
	}
	st := in.step
	b.WriteString(" The journal holds: ")
	var parts []string
	if args, err := e.args(st.Action, st.With, in); err == nil {
		call := st.Action + " " + args.Display(e.specs[st.Action])
		if !in.callAt.IsZero() {
			call += " asked for at " + in.callAt.UTC().Format("15:04:05") + " UTC"
		}
		parts = append(parts, call)
	}
	if ev := in.evidence; ev != nil {
		switch {
		case ev.Lines == 0:
			parts = append(parts, "no output line")
		default:
			lines := fmt.Sprintf("%d output lines", ev.Lines)
			if ev.Lines == 1 {
				lines = "1 output line"
			}
			parts = append(parts, lines+", the last: "+firstLine(ev.Tail[len(ev.Tail)-1].Text))
		}
	}
	if st.Wait != nil && st.Wait.Action == "" {
		switch {
		case in.watchDone && in.watchFailed != "":
			parts = append(parts, "the log watch: "+in.watchFailed)
		case len(in.watchPos) > 0:
			parts = append(parts, fmt.Sprintf("the log watch stood at byte %d of %s, no success or failure line", in.watchPos[0].Offset, in.watchPos[0].Path))
		}
	}
	if in.lastPoll != "" {
		parts = append(parts, "the last poll answered: "+firstLine(in.lastPoll))
	}
	b.WriteString(strings.Join(parts, "; "))
	switch {
	case e.outputsLost(in) && in.step.Destructive:
		b.WriteString(". Later steps use its results, which were never recorded; it is destructive, so it is not run again to get them: if it succeeded, they will be empty")
	case e.outputsLost(in):
		b.WriteString(". Later steps use its results, which were never recorded: it runs again unless it failed")
	}
	return b.String()
}

func (e *Engine) askReconcile(in *instance, reason string) {
	in.state = StateNeedsOperator
	e.askOperator(in, AskReconcile, reason, reconcileQuestion, false)
}

func (e *Engine) reconcile(inp Input) {
	in := e.current()
	if in == nil || in.askFor != AskReconcile || in.state != StateNeedsOperator || !e.matchStep(in, inp.Step) {
		return
	}
	ev := e.base(in, EvReconciled)
	ev.State = inp.Reconciled
	ev.Reason = inp.Reason
	ev.Ask = AskReconcile // the operator's answer
	switch inp.Reconciled {
	case StateSucceeded:
		if e.outputsLost(in) && e.recoverOutputs(in, "the operator says it succeeded") {
			in.askFor = ""
			return
		}
		e.emit(ev)
		in.askFor = ""
		in.actionDone = true
		in.verifyDone = true
		in.state = StateRunning
		e.proceed(in)
	case StateFailed:
		e.emit(ev)
		in.askFor = ""
		e.fail(in, "the operator says the step failed while drillbook was stopped", false)
	case "rerun":
		e.emit(ev)
		in.askFor = ""
		e.start(in, true)
	}
}
