package runbook

import "time"

// StepState is where one step instance stands.
type StepState string

// The states of a step instance.
const (
	StatePending           StepState = "pending"
	StateRunning           StepState = "running"
	StateWaiting           StepState = "waiting"
	StateNeedsConfirmation StepState = "needs-confirmation"
	StateNeedsOperator     StepState = "needs-operator"
	StateSucceeded         StepState = "succeeded"
	StateFailed            StepState = "failed"
	StateSkipped           StepState = "skipped"
)

// Done reports whether the state is final for the instance.
func (s StepState) Done() bool {
	return s == StateSucceeded || s == StateFailed || s == StateSkipped
}

// RunStatus is where a whole run stands.
type RunStatus string

// The statuses of a run. Running covers waiting on an adapter, a timer or
// the operator; the final ones end the run.
const (
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"
	RunFailed      RunStatus = "failed"
	RunAborted     RunStatus = "aborted"
	RunTimedOut    RunStatus = "timed-out"
	RunInterrupted RunStatus = "interrupted"
)

// Final reports whether the run has ended.
func (s RunStatus) Final() bool {
	return s == RunSucceeded || s == RunFailed || s == RunAborted || s == RunTimedOut
}

// InputType names an input to the engine.
type InputType string

// The inputs the engine accepts.
const (
	// InStart begins the run.
	InStart InputType = "start"
	// InCallDone reports a finished adapter call (ID, Result, Error, TimedOut).
	InCallDone InputType = "call-done"
	// InWatchArmed reports that a log watch recorded its start (ID, Positions).
	InWatchArmed InputType = "watch-armed"
	// InWatchDone reports how a log watch ended (ID, Outcome, Error).
	InWatchDone InputType = "watch-done"
	// InTimer reports that a timer the engine set has fired (ID).
	InTimer InputType = "timer"
	// InConfirm is the operator typing a destructive step's token (Step, Token).
	InConfirm InputType = "confirm"
	// InAck is the operator ticking off a manual step, or saying "go ahead"
	// to a retry that asks first (Step, Note).
	InAck InputType = "ack"
	// InDeviate is a deviation from the runbook (Deviation, Target, Reason, Argv).
	InDeviate InputType = "deviate"
	// InResume marks that the run was reopened after drillbook stopped; steps in
	// flight are reconciled.
	InResume InputType = "resume"
	// InReconcile is the operator saying what happened to a step that was in
	// flight when drillbook stopped (Step, Outcome: succeeded, failed, rerun).
	InReconcile InputType = "reconcile"
	// InNote is an operator's note (Note) on a step (Step: an instance key
	// or a step id) or, with no Step, on the run. It changes nothing in the
	// run; it lands in the journal (secrets masked) and the report.
	InNote InputType = "note"
)

// Deviation is a departure from the runbook the operator asks for. Each needs
// a reason, which lands in the report.
type Deviation string

// The deviations an operator may ask for.
const (
	DevRetry Deviation = "retry"
	DevSkip  Deviation = "skip"
	DevJump  Deviation = "jump"
	DevAdhoc Deviation = "adhoc"
	DevAbort Deviation = "abort"
)

// Input is one thing that happened outside the engine. Inputs are journaled
// as they are handled, so replaying them rebuilds the engine's state.
type Input struct {
	Type InputType `json:"type"`
	// Time is when it happened, by the runner's clock.
	Time time.Time `json:"time"`
	// ID names the call, watch or timer the input is about.
	ID int `json:"id,omitempty"`
	// Step is the step instance key the input is about.
	Step string `json:"step,omitempty"`
	// Token is what the operator typed to confirm a destructive step.
	Token string `json:"token,omitempty"`
	// Note is an operator's remark on a manual step (InAck), or the text
	// of a note (InNote).
	Note string `json:"note,omitempty"`
	// Result is a finished call's result.
	Result *Result `json:"result,omitempty"`
	// Error is why a call or a watch failed; empty when it succeeded.
	Error string `json:"error,omitempty"`
	// TimedOut says a call or watch ended on its timeout.
	TimedOut bool `json:"timed_out,omitempty"`
	// Positions are where an armed watch starts.
	Positions []LogPosition `json:"positions,omitempty"`
	// Outcome is how a watch ended.
	Outcome *WatchOutcome `json:"outcome,omitempty"`
	// Deviation, Target, Reason and Argv describe a deviation.
	Deviation Deviation `json:"deviation,omitempty"`
	Target    string    `json:"target,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Argv      []string  `json:"argv,omitempty"`
	// Reconciled is the operator's account of an in-flight step.
	Reconciled StepState `json:"reconciled,omitempty"`
}

// EventType names an event the engine emits. Some events are effects: the
// runner must carry them out (they are marked below).
type EventType string

// The events of a run.
const (
	EvRunStarted  EventType = "run.started"
	EvRunFinished EventType = "run.finished"
	// EvRunFinally says the run's steps have ended (Status, Reason) and its
	// finally steps run now; run.finished follows them.
	EvRunFinally EventType = "run.finally"
	EvRunResumed EventType = "run.resumed"

	EvStepStarted   EventType = "step.started"
	EvStepSkipped   EventType = "step.skipped"
	EvStepSucceeded EventType = "step.succeeded"
	EvStepFailed    EventType = "step.failed"
	EvStepRetrying  EventType = "step.retrying"

	// EvCallStart is an effect: run Call (ID, Step, Phase, Op, Args).
	EvCallStart EventType = "call.start"
	// EvCallCancel is an effect: cancel the running call ID.
	EvCallCancel   EventType = "call.cancel"
	EvCallFinished EventType = "call.finished"
	// EvCallOutput is written by the runner, one per output line.
	EvCallOutput EventType = "call.output"

	// EvWatchArm is an effect: arm a log watch (ID, Watch) and report
	// InWatchArmed, then InWatchDone when it ends. With Positions set the
	// watch resumes from there.
	EvWatchArm EventType = "watch.arm"
	// EvWatchCancel is an effect: stop the watch ID.
	EvWatchCancel   EventType = "watch.cancel"
	EvWatchArmed    EventType = "watch.armed"
	EvWatchFinished EventType = "watch.finished"
	// EvWatchLine is written by the runner for each record a watch sees.
	EvWatchLine EventType = "watch.line"

	// EvTimerSet is an effect: report InTimer with ID after After.
	EvTimerSet EventType = "timer.set"
	// EvTimerCancel is an effect: forget timer ID.
	EvTimerCancel EventType = "timer.cancel"

	// EvConfirmRequest asks the operator to type Token before Call runs.
	EvConfirmRequest  EventType = "confirm.request"
	EvConfirmAccepted EventType = "confirm.accepted"
	EvConfirmRefused  EventType = "confirm.refused"

	// EvOperatorRequest asks the operator to act: tick off a manual step,
	// allow a retry, decide after a failure, or reconcile after a resume.
	EvOperatorRequest EventType = "operator.request"
	EvOperatorAck     EventType = "operator.ack"

	EvDeviation        EventType = "deviation"
	EvDeviationRefused EventType = "deviation.refused"
	EvReconciled       EventType = "step.reconciled"
	EvWarning          EventType = "warning"
	// EvNote is an operator's note (Text) on a step (Step), or on the run
	// when Step is empty.
	EvNote EventType = "note"
)

// Ask says what an operator request is for.
type Ask string

// The kinds of operator request.
const (
	AskManual    Ask = "manual"    // tick off a manual step (Ack)
	AskRetry     Ask = "retry"     // allow the next attempt (Ack) or deviate
	AskDecide    Ask = "decide"    // the step failed: retry, skip, jump or abort (Deviate)
	AskReconcile Ask = "reconcile" // say what happened to an in-flight step (Reconcile)
)

// Event is one thing the engine decided or observed. Events are journaled,
// shown, and rendered into the report; effect events are carried out by the
// runner.
type Event struct {
	// Seq is the journal record's number (the record carries it on disk).
	Seq  int       `json:"-"`
	Time time.Time `json:"time"`
	Type EventType `json:"type"`

	// Step is the instance key ("per-item[2]"), StepID the step's id.
	Step   string `json:"step,omitempty"`
	StepID string `json:"step_id,omitempty"`
	// Title is the step's rendered title.
	Title string `json:"title,omitempty"`
	// Kind is the step's kind on step.started.
	Kind StepKind `json:"kind,omitempty"`
	// State is the step's state after the event.
	State StepState `json:"state,omitempty"`
	// Attempt counts from 1.
	Attempt int `json:"attempt,omitempty"`

	// ID names a call, watch or timer.
	ID int `json:"id,omitempty"`
	// Phase, Op, Args and Timeout describe a call.
	Phase   Phase         `json:"phase,omitempty"`
	Op      string        `json:"op,omitempty"`
	Args    Args          `json:"args,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	// Plan is the resolved command or request, added by the runner.
	Plan *Plan `json:"plan,omitempty"`
	// Result, Error and TimedOut describe a finished call or watch.
	Result   *Result `json:"result,omitempty"`
	Error    string  `json:"error,omitempty"`
	TimedOut bool    `json:"timed_out,omitempty"`

	// Watch describes a watch to arm; Positions where it starts or stands.
	Watch     *WatchSpec    `json:"watch,omitempty"`
	Positions []LogPosition `json:"positions,omitempty"`
	// Line is a log record a watch saw, or the record that ended it.
	Line *LogLine `json:"line,omitempty"`

	// After is a timer's delay.
	After time.Duration `json:"after,omitempty"`
	// Ask says what an operator request is for.
	Ask Ask `json:"ask,omitempty"`
	// Token is the confirmation a destructive step needs.
	Token string `json:"token,omitempty"`
	// Text is a manual step's instructions, an output line, or a message.
	Text string `json:"text,omitempty"`
	// Notes are a step's notes, filled in from the parameters, on
	// step.started and on the requests that ask the operator about the
	// step; on run.started, the runbook's description.
	Notes string `json:"notes,omitempty"`
	// Simulated marks a call, or a confirmation, of an operation that acts
	// only on a simulated estate; false means it touches real systems.
	Simulated bool `json:"simulated,omitempty"`
	// Stream is an output line's stream.
	Stream Stream `json:"stream,omitempty"`
	// Reason explains a skip, failure, deviation or refusal.
	Reason string `json:"reason,omitempty"`
	// Deviation and Target describe a deviation.
	Deviation Deviation `json:"deviation,omitempty"`
	Target    string    `json:"target,omitempty"`
	// Status is the run's status on run.finished.
	Status RunStatus `json:"status,omitempty"`
	// Source is the step's source on step.started.
	Source *Source `json:"source,omitempty"`
	// Expected is the step's expected duration on step.started.
	Expected time.Duration `json:"expected,omitempty"`
	// Destructive marks a destructive step on step.started.
	Destructive bool `json:"destructive,omitempty"`
	// Section is the section of a preflight or finally step on
	// step.started; empty for a step under steps:.
	Section Section `json:"section,omitempty"`
	// Output holds a batch of a call's output lines in memory; the journal
	// writes them to File instead and records how many in Lines.
	Output []OutputLine `json:"output,omitempty"`
	// File is the output file, relative to the run directory, that a
	// call.output batch went to; Lines is how many lines it added.
	File  string `json:"file,omitempty"`
	Lines int    `json:"lines,omitempty"`
	// Log holds a batch of records a watch saw (watch.line).
	Log []LogLine `json:"log,omitempty"`
}
