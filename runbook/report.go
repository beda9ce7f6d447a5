package runbook

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// ReportSchema names the shape of the JSON report; docs/report.schema.json
// describes it. A change that would make a field mean something else gets
// a new name.
const ReportSchema = "drillbook-report/v1"

// Report is a run rendered for an incident review or a drill record. It is
// built from the journal alone (BuildReport), and written as Markdown,
// JSON, HTML or JUnit XML.
type Report struct {
	Schema    string  `json:"schema"`
	RunID     string  `json:"run_id"`
	Runbook   string  `json:"runbook"`
	Title     string  `json:"title"`
	Digest    string  `json:"runbook_sha256"`
	Purpose   Purpose `json:"purpose"`
	Target    string  `json:"target"`
	Simulated bool    `json:"simulated"`
	Scenario  string  `json:"scenario,omitempty"`
	// SessionStarts counts the session processes the run's calls started
	// (wsadmin JVM starts) and SessionCalls the calls that ran in one;
	// both zero when no call used a session.
	SessionStarts int    `json:"session_starts,omitempty"`
	SessionCalls  int    `json:"session_calls,omitempty"`
	Operator      string `json:"operator"`
	Host          string `json:"host"`
	// Drillbook is the build that made the run.
	Drillbook BuildInfo     `json:"drillbook"`
	Started   time.Time     `json:"started"`
	Ended     time.Time     `json:"ended,omitzero"`
	Total     time.Duration `json:"total_ns"`
	// TimeToRecover is the preflight and main steps' work and operator
	// time: the run's time to the end of its steps, less the time
	// drillbook was stopped. Finally steps are not in it.
	TimeToRecover time.Duration `json:"time_to_recover_ns"`
	// WorkTime, OperatorTime and StoppedTime add up every step's time by kind.
	WorkTime     time.Duration `json:"work_ns"`
	OperatorTime time.Duration `json:"operator_ns"`
	StoppedTime  time.Duration `json:"stopped_ns"`
	Status       RunStatus     `json:"status"`
	Reason       string        `json:"reason,omitempty"`
	// Description is the runbook's description: why it is written the way
	// it is.
	Description string `json:"description,omitempty"`
	// RealSteps are the steps that ran a call acting on real systems; on a
	// simulated target, the ones that were not simulated (a shell command).
	RealSteps []string       `json:"real_steps,omitempty"`
	Params    map[string]any `json:"params"`
	// Sources are the documents the steps cite, in the order first cited.
	Sources []SourceDoc  `json:"sources"`
	Steps   []ReportStep `json:"steps"`
	// Notes are the operator's notes on the run as a whole.
	Notes []ReportNote `json:"notes"`
	// Deviations are every departure from the runbook's straight path, with
	// reasons and outcomes: the operator's retries, skips, jumps, ad-hoc
	// commands and aborts, the runbook's own retries and on_failure jumps,
	// and actions interrupted by drillbook stopping.
	Deviations []ReportDeviation `json:"deviations"`
	// Interruptions are the times the run stopped and was resumed.
	Interruptions []ReportNote `json:"interruptions"`
	Warnings      []ReportNote `json:"warnings"`
	// StepsEnded is how the run's steps ended when its finally steps began
	// (nil when none ran): the finally steps' states are in Steps.
	StepsEnded *ReportNote `json:"steps_ended,omitempty"`
	// Journal says how far the journal could be checked (JournalData.Check).
	Journal string `json:"journal"`
}

// ReportStep is one step instance in a report.
type ReportStep struct {
	// Section is preflight or finally for those steps, empty otherwise.
	Section Section `json:"section,omitempty"`
	Key     string  `json:"key"`
	StepID  string  `json:"step_id"`
	Title   string  `json:"title"`
	// Source cites the document and section the step comes from, the
	// document by its title.
	Source   string    `json:"source,omitempty"`
	State    StepState `json:"state"`
	Attempts int       `json:"attempts"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	// Duration is the step's own time: Work plus Operator.
	Duration time.Duration `json:"duration_ns"`
	// Work is drillbook's time on the step (calls, polls, log watches,
	// retry delays); Expected is compared with it.
	Work time.Duration `json:"work_ns"`
	// Operator is the time the step waited for the operator.
	Operator time.Duration `json:"operator_ns"`
	// Stopped is the time drillbook was not running while the step was
	// current.
	Stopped  time.Duration `json:"stopped_ns"`
	Expected time.Duration `json:"expected_ns,omitempty"`
	// Over says the work time ran past Expected.
	Over        bool `json:"over,omitempty"`
	Destructive bool `json:"destructive,omitempty"`
	// Cautions are the step's notes from the runbook, filled in from the
	// parameters, as shown to the operator (the operator's own notes are
	// in Notes).
	Cautions string `json:"cautions,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// TimedOut says the step's last failure was a timeout.
	TimedOut bool `json:"timed_out,omitempty"`
	// Spans are the step's stretches of time, for a timeline.
	Spans []Span `json:"spans"`
	// AttemptLog says how each attempt ended.
	AttemptLog []ReportAttempt `json:"attempt_log"`
	Calls      []ReportCall    `json:"calls"`
	// LogMatches are the log lines that proved success or failure, and
	// warnings seen on the way.
	LogMatches    []ReportLog  `json:"log_matches"`
	Confirmations []ReportNote `json:"confirmations"`
	Acks          []ReportNote `json:"acks"`
	// Notes are the operator's notes on the step.
	Notes []ReportNote `json:"notes"`
}

// ReportAttempt is one attempt of a step.
type ReportAttempt struct {
	Attempt int       `json:"attempt"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// State is how it ended: succeeded, failed, skipped, or running when
	// the journal ends first.
	State  StepState `json:"state"`
	Reason string    `json:"reason,omitempty"`
}

// ReportCall is one call a step made.
type ReportCall struct {
	Phase   Phase  `json:"phase"`
	Op      string `json:"op"`
	Command string `json:"command"`
	// ActsOn says what a call acts on and where, when its operation says.
	ActsOn string `json:"acts_on,omitempty"`
	// Host is where the call ran, as its plan names it ("mq1
	// (rabbitmq@10.0.0.9:22)"); empty for this machine, when Command
	// ends with "@ localhost" as before.
	Host     string    `json:"host,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Error    string    `json:"error,omitempty"`
	TimedOut bool      `json:"timed_out,omitempty"`
	// Interrupted says drillbook stopped while the call ran; Outcome then
	// says what became of it.
	Interrupted bool `json:"interrupted,omitempty"`
	// Output is the call's output file, relative to the run directory, and
	// OutputLines how many lines the journal recorded there.
	Output      string `json:"output,omitempty"`
	OutputLines int    `json:"output_lines,omitempty"`
	// Cut says why the call's output ends early: drillbook stopped without
	// a record (a crash) while it ran.
	Cut      string   `json:"cut,omitempty"`
	Outcome  string   `json:"outcome,omitempty"`
	Evidence []string `json:"evidence,omitempty"`
	// Simulated says the call acted on a simulated estate only.
	Simulated bool `json:"simulated,omitempty"`
	// Session names the session the call ran in and whether it started
	// or shared it; SessionStarts counts the processes it started. Empty
	// and zero when it used none.
	Session       string `json:"session,omitempty"`
	SessionStarts int    `json:"session_starts,omitempty"`
}

// ReportLog is a log line a watch matched.
type ReportLog struct {
	// Time is when drillbook saw the line.
	Time time.Time `json:"time"`
	Kind MatchKind `json:"kind"`
	File string    `json:"file"`
	Text string    `json:"text"`
}

// ReportDeviation is a departure from the runbook's straight path.
type ReportDeviation struct {
	Time time.Time `json:"time"`
	Step string    `json:"step"`
	// Deviation is retry, skip, jump, adhoc, abort or reconcile (the
	// operator's), retry or goto (the runbook's on_failure), or interrupted
	// (an action that was running when drillbook stopped).
	Deviation Deviation `json:"deviation"`
	// By is who took it: operator, runbook or drillbook.
	By     string `json:"by"`
	Target string `json:"target,omitempty"`
	Reason string `json:"reason"`
	// Outcome is what came of it.
	Outcome string `json:"outcome"`
}

// ReportNote is a timed remark.
type ReportNote struct {
	Time time.Time `json:"time"`
	Step string    `json:"step,omitempty"`
	Text string    `json:"text"`
}

// The deviations a report adds to the operator's own.
const (
	// DevGoto is a runbook's on_failure goto.
	DevGoto Deviation = "goto"
	// DevReconcile is an in-flight step decided after a resume.
	DevReconcile Deviation = "reconcile"
	// DevInterrupted is an action running when drillbook stopped.
	DevInterrupted Deviation = "interrupted"
)

// BuildReport folds a journal into a report.
func BuildReport(jd *JournalData) *Report {
	m := jd.Meta
	rep := &Report{Schema: ReportSchema, RunID: m.RunID, Runbook: m.RunbookID, Title: m.Title, Digest: m.Digest,
		Purpose: m.RunPurpose(), Target: m.Target, Simulated: m.Simulated, Scenario: m.Scenario, Operator: m.Operator,
		Host: m.Host, Started: m.Started.UTC(), Params: m.Params, Status: RunRunning,
		Sources: []SourceDoc{}, Steps: []ReportStep{}, Notes: []ReportNote{}, Deviations: []ReportDeviation{},
		Interruptions: []ReportNote{}, Warnings: []ReportNote{}}
	if rep.Params == nil {
		rep.Params = map[string]any{}
	}
	if m.Build != nil {
		rep.Drillbook = *m.Build
	} else {
		rep.Drillbook = BuildInfo{Version: m.Version}
	}
	rep.Journal = jd.Check()
	b := reportBuilder{rep: rep, idx: map[string]int{}, callAt: map[int]callRef{}}
	evs := jd.Events()
	for i := range evs {
		evs[i].Time = evs[i].Time.UTC()
	}
	for i, ev := range evs {
		b.fold(evs, i, ev)
	}
	b.finish()
	return rep
}

// cutByCrash is ReportCall.Cut of a call that was running when drillbook
// stopped without a record.
var cutByCrash = fmt.Sprintf("drillbook stopped without a record (a crash or a kill) while this call ran: what it printed in the last %s before the stop may be missing", DefaultSyncEvery)

type callRef struct {
	key string
	i   int
}

type reportBuilder struct {
	rep    *Report
	idx    map[string]int
	callAt map[int]callRef
	clock  Clock
	last   time.Time
	// running are the calls started and not finished, by id.
	running map[int]bool
	// failReason is each step's last failure, for a retry's reason.
	failReason map[string]string
	// notes are the notes on steps, in journal order.
	notes []ReportNote
}

func (b *reportBuilder) step(key string) *ReportStep {
	if i, ok := b.idx[key]; ok {
		return &b.rep.Steps[i]
	}
	b.idx[key] = len(b.rep.Steps)
	b.rep.Steps = append(b.rep.Steps, ReportStep{Key: key, StepID: stepIDOf(key), State: StatePending,
		Spans: []Span{}, AttemptLog: []ReportAttempt{}, Calls: []ReportCall{}, LogMatches: []ReportLog{},
		Confirmations: []ReportNote{}, Acks: []ReportNote{}, Notes: []ReportNote{}})
	return &b.rep.Steps[len(b.rep.Steps)-1]
}

// stepIDOf strips an instance suffix: "per-item[2]" is step "per-item".
func stepIDOf(key string) string {
	id, _, _ := strings.Cut(key, "[")
	return id
}

func (s *ReportStep) endAttempt(t time.Time, state StepState, reason string) {
	if n := len(s.AttemptLog); n > 0 && s.AttemptLog[n-1].State == StateRunning {
		a := &s.AttemptLog[n-1]
		a.Ended, a.State, a.Reason = t, state, reason
	}
}

func (b *reportBuilder) fold(evs []Event, i int, ev Event) {
	rep := b.rep
	t := ev.Time
	before := b.last
	if t.After(b.last) {
		b.last = t
	}
	b.clock.Observe(ev)
	if b.running == nil {
		b.running, b.failReason = map[int]bool{}, map[string]string{}
	}
	switch ev.Type {
	case EvRunStarted:
		rep.Description = ev.Notes
	case EvStepStarted:
		s := b.step(ev.Step)
		s.Title, s.State, s.Attempts = ev.Title, StateRunning, ev.Attempt
		if ev.Notes != "" {
			s.Cautions = ev.Notes
		}
		if ev.StepID != "" {
			s.StepID = ev.StepID
		}
		if ev.Source != nil {
			s.Source = ev.Source.Cite()
			b.cite(ev.Source.Doc)
		}
		if s.Started.IsZero() {
			s.Started = t
		}
		s.Expected, s.Destructive, s.Section = ev.Expected, ev.Destructive, ev.Section
		s.endAttempt(t, StateFailed, "left for another attempt")
		s.AttemptLog = append(s.AttemptLog, ReportAttempt{Attempt: ev.Attempt, Started: t, State: StateRunning})
	case EvStepSkipped:
		s := b.step(ev.Step)
		if s.Title == "" {
			s.Title = ev.Title
		}
		s.State, s.Reason, s.Ended = StateSkipped, ev.Reason, t
		s.endAttempt(t, StateSkipped, ev.Reason)
	case EvStepSucceeded:
		s := b.step(ev.Step)
		s.State, s.Ended, s.Reason, s.TimedOut = StateSucceeded, t, "", false
		s.endAttempt(t, StateSucceeded, "")
	case EvStepFailed:
		s := b.step(ev.Step)
		s.State, s.Ended, s.Reason, s.TimedOut = StateFailed, t, ev.Reason, ev.TimedOut
		s.endAttempt(t, StateFailed, ev.Reason)
		b.failReason[ev.Step] = ev.Reason
		if next := nextStart(evs, i); next != nil && next.Step != ev.Step && !ask(evs, i, ev.Step) {
			// on_failure: goto sent the run elsewhere without asking.
			rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: ev.Step, Deviation: DevGoto, By: "runbook",
				Target: next.Step, Reason: ev.Reason, Outcome: "continued at " + next.Step})
		}
	case EvStepRetrying:
		rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: ev.Step, Deviation: DevRetry, By: "runbook",
			Reason: b.failReason[ev.Step] + " (" + ev.Reason + ")", Outcome: attemptOutcome(evs, i, ev.Step)})
	case EvCallStart:
		c := ReportCall{Phase: ev.Phase, Op: ev.Op, Started: t, Simulated: ev.Simulated}
		if !ev.Simulated && !slices.Contains(rep.RealSteps, ev.Step) {
			rep.RealSteps = append(rep.RealSteps, ev.Step)
		}
		if ev.Plan != nil {
			c.Command = ev.Plan.Summary()
			c.ActsOn = ev.Plan.Object
			if !ev.Plan.OnThisMachine() {
				// The host is said once, in its own field, not again
				// after the command.
				c.Host = ev.Plan.Host
				bare := *ev.Plan
				bare.Host = ""
				c.Command = bare.Summary()
			}
		}
		if c.Command == "" {
			c.Command = ev.Op
		}
		s := b.step(ev.Step)
		s.Calls = append(s.Calls, c)
		b.callAt[ev.ID] = callRef{ev.Step, len(s.Calls) - 1}
		b.running[ev.ID] = true
	case EvCallOutput:
		if at, ok := b.callAt[ev.ID]; ok {
			c := &b.step(at.key).Calls[at.i]
			c.Output = ev.File
			c.OutputLines += ev.Lines
		}
	case EvCallFinished:
		delete(b.running, ev.ID)
		at, ok := b.callAt[ev.ID]
		if !ok {
			break
		}
		c := &b.step(at.key).Calls[at.i]
		c.Ended, c.Error, c.TimedOut = t, ev.Error, ev.TimedOut
		if ev.Result != nil {
			if ev.Result.ExitCode >= 0 {
				code := ev.Result.ExitCode
				c.ExitCode = &code
			}
			c.Summary = ev.Result.Summary
			c.Session, c.SessionStarts = ev.Result.Session, ev.Result.SessionStarts
			if c.Session != "" {
				b.rep.SessionCalls++
				b.rep.SessionStarts += c.SessionStarts
			}
			for _, e := range ev.Result.Evidence {
				if strings.TrimSpace(e) != "" {
					c.Evidence = append(c.Evidence, e)
				}
			}
		}
	case EvWatchLine:
		s := b.step(ev.Step)
		for _, l := range ev.Log {
			if l.Kind == MatchWarn || l.Kind == MatchNote {
				s.LogMatches = append(s.LogMatches, ReportLog{Time: t, Kind: l.Kind, File: l.File, Text: l.Text})
			}
		}
	case EvWatchFinished:
		s := b.step(ev.Step)
		if ev.Line != nil {
			s.LogMatches = append(s.LogMatches, ReportLog{Time: t, Kind: ev.Line.Kind, File: ev.Line.File, Text: ev.Line.Text})
		}
	case EvConfirmAccepted:
		s := b.step(ev.Step)
		s.Confirmations = append(s.Confirmations, ReportNote{Time: t, Step: ev.Step, Text: "confirmed by typing " + ev.Token})
	case EvConfirmRefused:
		s := b.step(ev.Step)
		s.Confirmations = append(s.Confirmations, ReportNote{Time: t, Step: ev.Step, Text: "refused: " + ev.Reason})
	case EvOperatorAck:
		s := b.step(ev.Step)
		note := "acknowledged (" + string(ev.Ask) + ")"
		if ev.Text != "" {
			note += ": " + ev.Text
		}
		s.Acks = append(s.Acks, ReportNote{Time: t, Step: ev.Step, Text: note})
	case EvNote:
		n := ReportNote{Time: t, Step: ev.Step, Text: ev.Text}
		if ev.Step == "" {
			rep.Notes = append(rep.Notes, n)
			break
		}
		// Placed when the journal has been read: a note may come before
		// its step starts (--note on the command line).
		b.notes = append(b.notes, n)
	case EvDeviation:
		d := ReportDeviation{Time: t, Step: ev.Step, Deviation: ev.Deviation, By: "operator", Target: ev.Target, Reason: ev.Reason}
		d.Outcome = deviationOutcome(evs, i, ev)
		rep.Deviations = append(rep.Deviations, d)
	case EvReconciled:
		by := "operator"
		if ev.Ask != AskReconcile && (strings.Contains(ev.Reason, "after resume") || strings.Contains(ev.Reason, "before drillbook stopped")) {
			// Decided by the journal's evidence (a verify, a log line),
			// not by the operator, who answers a reconcile request.
			by = "drillbook"
		}
		rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: ev.Step, Deviation: DevReconcile, By: by,
			Target: string(ev.State), Reason: ev.Reason, Outcome: reconcileOutcome(evs, i, ev)})
	case EvWarning:
		rep.Warnings = append(rep.Warnings, ReportNote{Time: t, Step: ev.Step, Text: ev.Text})
	case EvRunInterrupted:
		rep.Interruptions = append(rep.Interruptions, ReportNote{Time: t, Text: "stopped: " + ev.Reason})
		rep.Status = RunInterrupted
		for _, id := range sortedIDs(b.running) {
			at, ok := b.callAt[id]
			if !ok {
				continue
			}
			c := &b.step(at.key).Calls[at.i]
			c.Interrupted = true
			c.Outcome = interruptedOutcome(evs, i, at.key, c.Phase)
			rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: at.key, Deviation: DevInterrupted, By: "drillbook",
				Reason:  fmt.Sprintf("drillbook stopped (%s) while the %s `%s` was running", ev.Reason, c.Phase, c.Command),
				Outcome: c.Outcome})
		}
		clear(b.running)
	case EvRunResumed:
		if rep.Status != RunInterrupted {
			// No run.interrupted before it: drillbook ended without a
			// word (killed, or the machine went down) some time after its
			// last record.
			rep.Interruptions = append(rep.Interruptions, ReportNote{Time: before,
				Text: "stopped without a record (drillbook was killed or its machine went down) after its last record at this time"})
			for _, id := range sortedIDs(b.running) {
				if at, ok := b.callAt[id]; ok {
					c := &b.step(at.key).Calls[at.i]
					c.Interrupted = true
					c.Cut = cutByCrash
					c.Outcome = interruptedOutcome(evs, i-1, at.key, c.Phase)
					rep.Deviations = append(rep.Deviations, ReportDeviation{Time: before, Step: at.key, Deviation: DevInterrupted, By: "drillbook",
						Reason: fmt.Sprintf("drillbook ended without a record while the %s `%s` was running", c.Phase, c.Command), Outcome: c.Outcome})
				}
			}
			clear(b.running)
		}
		rep.Interruptions = append(rep.Interruptions, ReportNote{Time: t, Text: "resumed"})
		rep.Status = RunRunning
	case EvRunFinally:
		rep.StepsEnded = &ReportNote{Time: t, Text: string(ev.Status)}
		if ev.Reason != "" {
			rep.StepsEnded.Text += ": " + ev.Reason
		}
	case EvRunFinished:
		rep.Status, rep.Reason, rep.Ended = ev.Status, ev.Reason, t
	}
}

func (b *reportBuilder) cite(doc string) {
	if doc == "" {
		return
	}
	for _, s := range b.rep.Sources {
		if s.File == doc {
			return
		}
	}
	d, ok := LookupSourceDoc(doc)
	if !ok {
		d = SourceDoc{File: doc, Title: doc}
	}
	b.rep.Sources = append(b.rep.Sources, d)
}

func (b *reportBuilder) finish() {
	rep := b.rep
	for _, n := range b.notes {
		// A note names an instance, or a step as a whole: then it goes to
		// the step's first instance that ran.
		i, ok := b.idx[n.Step]
		for j := 0; !ok && j < len(rep.Steps); j++ {
			if rep.Steps[j].StepID == n.Step {
				i, ok = j, true
			}
		}
		if !ok {
			n.Text = "on step " + n.Step + ", which did not run: " + n.Text
			rep.Notes = append(rep.Notes, n)
			continue
		}
		rep.Steps[i].Notes = append(rep.Steps[i].Notes, n)
	}
	slices.SortStableFunc(rep.Notes, func(a, b ReportNote) int { return a.Time.Compare(b.Time) })
	end := rep.Ended
	if end.IsZero() {
		end = b.last
	}
	if end.Before(rep.Started) {
		end = rep.Started
	}
	rep.Total = end.Sub(rep.Started)
	for i := range rep.Steps {
		s := &rep.Steps[i]
		if rep.Status.Final() && !s.State.Done() && s.State != StatePending {
			// The run ended while the step stood here (an abort at its
			// confirmation): the engine counts it failed, and so does the
			// record.
			s.State, s.Ended = StateFailed, rep.Ended
			s.Reason = "the run ended " + string(rep.Status) + " while the step was under way"
			if rep.Reason != "" {
				s.Reason += ": " + rep.Reason
			}
			s.endAttempt(rep.Ended, StateFailed, s.Reason)
		}
		spans := b.clock.Spans(s.Key)
		if key, kind, since := b.clock.Current(); key == s.Key && end.After(since) {
			// The journal ends while the step's time runs (a live run,
			// a crash): count it up to the last record.
			spans = append(slices.Clone(spans), Span{Kind: kind, Start: since, End: end})
		}
		s.Spans = append(s.Spans, spans...)
		sp := SplitOf(s.Spans)
		s.Work, s.Operator, s.Stopped = sp.Work, sp.Operator, sp.Stopped
		s.Duration = sp.Total()
		s.Over = s.Expected > 0 && s.Work > s.Expected
		rep.WorkTime += s.Work
		rep.OperatorTime += s.Operator
		rep.StoppedTime += s.Stopped
		if s.Section != SectionFinally {
			rep.TimeToRecover += s.Duration
		}
	}
}

func sortedIDs(m map[int]bool) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// nextStart returns the next step.started after evs[i], nil if none.
func nextStart(evs []Event, i int) *Event {
	for j := i + 1; j < len(evs); j++ {
		switch evs[j].Type {
		case EvStepStarted:
			return &evs[j]
		case EvRunFinally, EvRunFinished, EvRunInterrupted:
			return nil
		}
	}
	return nil
}

// ask reports whether the failure at evs[i] led to a retry or a question
// to the operator before anything else started.
func ask(evs []Event, i int, step string) bool {
	for j := i + 1; j < len(evs); j++ {
		e := evs[j]
		switch {
		case e.Type == EvStepRetrying && e.Step == step, e.Type == EvOperatorRequest && e.Step == step:
			return true
		case e.Type == EvStepStarted, e.Type == EvStepSkipped, e.Type == EvRunFinally, e.Type == EvRunFinished:
			return false
		}
	}
	return false
}

// attemptOutcome says how the next attempt of step after evs[i] ended.
func attemptOutcome(evs []Event, i int, step string) string {
	attempt := 0
	for j := i + 1; j < len(evs); j++ {
		e := evs[j]
		if e.Step != step && e.Type != EvRunFinished && e.Type != EvRunFinally {
			if e.Type == EvStepStarted && attempt > 0 {
				return fmt.Sprintf("attempt %d left for step %s", attempt, e.Step)
			}
			continue
		}
		switch e.Type {
		case EvStepStarted:
			if attempt > 0 {
				return fmt.Sprintf("attempt %d ended without a result; attempt %d started", attempt, e.Attempt)
			}
			attempt = e.Attempt
		case EvStepSucceeded:
			if attempt > 0 {
				return fmt.Sprintf("attempt %d succeeded", attempt)
			}
		case EvStepFailed:
			if attempt > 0 {
				return fmt.Sprintf("attempt %d failed: %s", attempt, e.Reason)
			}
		case EvStepSkipped:
			return "the step was skipped: " + e.Reason
		case EvDeviation:
			if attempt == 0 {
				return fmt.Sprintf("no further attempt: the operator chose %s (%s)", e.Deviation, e.Reason)
			}
		case EvRunFinally, EvRunFinished:
			if attempt > 0 {
				return fmt.Sprintf("attempt %d did not end: the run ended %s", attempt, e.Status)
			}
			return "no further attempt: the run ended " + string(e.Status)
		}
	}
	if attempt > 0 {
		return fmt.Sprintf("attempt %d had not ended when the journal ends", attempt)
	}
	return "not known: the journal ends before the next attempt"
}

// deviationOutcome says what came of the operator's deviation evs[i].
func deviationOutcome(evs []Event, i int, ev Event) string {
	switch ev.Deviation {
	case DevRetry:
		return attemptOutcome(evs, i, ev.Step)
	case DevSkip:
		return "skipped; the run went on"
	case DevJump:
		for j := i + 1; j < len(evs); j++ {
			e := evs[j]
			if e.Step == ev.Target || stepIDOf(e.Step) == ev.Target {
				switch e.Type {
				case EvStepSucceeded:
					return "continued at " + ev.Target + ", which succeeded"
				case EvStepFailed:
					return "continued at " + ev.Target + ", which failed: " + e.Reason
				case EvStepSkipped:
					return "continued at " + ev.Target + ", which was skipped"
				}
			}
			if e.Type == EvRunFinished {
				break
			}
		}
		return "continued at " + ev.Target
	case DevAbort:
		for j := i + 1; j < len(evs); j++ {
			if evs[j].Type == EvRunFinished {
				return "the run ended " + string(evs[j].Status)
			}
		}
		return "the run was aborting when the journal ends"
	case DevAdhoc:
		// The ad-hoc call is the next call.start of phase adhoc.
		id := 0
		for j := i + 1; j < len(evs); j++ {
			e := evs[j]
			if id == 0 && e.Type == EvCallStart && e.Phase == "adhoc" {
				id = e.ID
				continue
			}
			if id != 0 && e.Type == EvCallFinished && e.ID == id {
				return callOutcome(e)
			}
		}
		if id != 0 {
			return "the command had not ended when the journal ends"
		}
		return "the command did not start"
	}
	return ""
}

func callOutcome(e Event) string {
	var parts []string
	if e.Result != nil && e.Result.ExitCode >= 0 {
		parts = append(parts, fmt.Sprintf("exit %d", e.Result.ExitCode))
	}
	switch {
	case e.Error != "":
		parts = append(parts, "failed: "+e.Error)
	case e.Result != nil && e.Result.Summary != "":
		parts = append(parts, e.Result.Summary)
	default:
		parts = append(parts, "ok")
	}
	return strings.Join(parts, ", ")
}

// reconcileOutcome says how the step went on after the operator (or its
// verify) said what happened to it.
func reconcileOutcome(evs []Event, i int, ev Event) string {
	switch ev.State {
	case "rerun":
		return "run again: " + attemptOutcome(evs, i, ev.Step)
	case StateSucceeded:
		for j := i + 1; j < len(evs); j++ {
			e := evs[j]
			if e.Step != ev.Step {
				continue
			}
			switch e.Type {
			case EvStepSucceeded:
				return "taken as done; the step succeeded"
			case EvStepFailed:
				return "taken as done; the step then failed: " + e.Reason
			}
		}
		return "taken as done"
	case StateFailed:
		return "taken as failed"
	}
	return string(ev.State)
}

// interruptedOutcome says what became of a call of step that was running
// when drillbook stopped at evs[i].
func interruptedOutcome(evs []Event, i int, step string, phase Phase) string {
	resumed := false
	for j := i + 1; j < len(evs); j++ {
		e := evs[j]
		switch {
		case e.Type == EvRunResumed:
			resumed = true
		case e.Type == EvReconciled && e.Step == step:
			out := "reconciled after resume as " + string(e.State)
			if e.Reason != "" {
				out += " (" + e.Reason + ")"
			}
			return out
		case e.Type == EvCallFinished && e.Step == step && e.Phase == phase && resumed:
			return "run again after resume: " + callOutcome(e)
		case (e.Type == EvStepSucceeded || e.Type == EvStepFailed || e.Type == EvStepSkipped) && e.Step == step:
			return "the step " + strings.TrimPrefix(string(e.Type), "step.") + " after resume"
		case e.Type == EvRunFinished:
			return "the run ended " + string(e.Status) + " before it was decided"
		}
	}
	if !resumed {
		return "not known: the run has not been resumed"
	}
	return "not decided yet"
}

// WriteJSON writes the report as indented JSON (docs/report.schema.json).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// FormatDuration renders a duration for a person: "-" for none,
// milliseconds under a second, tenths under a minute, seconds above.
func FormatDuration(d time.Duration) string { return fmtDur(d) }

// fmtDur0 is fmtDur with "0s" for no time, where a figure reads better.
func fmtDur0(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return fmtDur(d)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// FormatValue renders a parameter value as a person writes it: a list as
// "a, b", a whole number without a decimal point.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = FormatValue(it)
		}
		return strings.Join(parts, ", ")
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// mdCode renders s as inline code, with a fence longer than any run of
// backquotes inside it.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// Heading is the report's title line: the purpose, then the runbook's
// title.
func (r *Report) Heading() string {
	title := r.Title
	if title == "" {
		title = r.Runbook
	}
	return r.Purpose.Title() + ": " + title
}

// Where says in a sentence where the run was made.
func (r *Report) Where() string {
	if r.Simulated {
		s := "on the simulated target " + r.Target
		if r.Scenario != "" {
			s += " (scenario " + r.Scenario + ")"
		}
		return s
	}
	return "on target " + r.Target
}

// WriteMarkdown writes the report as Markdown for an incident review or a
// drill record.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", mdEscape(r.Heading()))
	p("%s %s. Runbook `%s` (sha256 %s).\n\n", r.Purpose.Title(), r.Where(), r.Runbook, short(r.Digest))
	if r.Description != "" {
		p("%s\n\n", strings.TrimSpace(r.Description))
	}
	p("| | |\n|---|---|\n")
	p("| Run | `%s` |\n| Purpose | %s |\n| Status | **%s** |\n| Target | %s", r.RunID, r.Purpose, r.Status, mdEscape(r.Target))
	if r.Simulated {
		p(" (simulated")
		if r.Scenario != "" {
			p(", scenario %s", mdEscape(r.Scenario))
		}
		p(")")
	}
	p(" |\n| Operator | %s on %s |\n", mdEscape(r.Operator), mdEscape(r.Host))
	p("| drillbook | %s |\n", mdEscape(r.Drillbook.String()))
	p("| Started | %s UTC |\n", r.Started.Format("2006-01-02 15:04:05"))
	if !r.Ended.IsZero() {
		p("| Ended | %s UTC |\n", r.Ended.Format("2006-01-02 15:04:05"))
	}
	p("| Total time | %s |\n", fmtDur(r.Total))
	if r.Journal != "" {
		p("| Journal | %s |\n", mdEscape(r.Journal))
	}
	if r.Simulated {
		p("| Steps that touched real systems | %s |\n", r.RealStepsText())
	}
	p("| Time to recover | %s (work %s, operator %s) |\n", fmtDur(r.TimeToRecover), fmtDur(r.WorkTime), fmtDur(r.OperatorTime))
	if r.SessionCalls > 0 {
		p("| Session starts | %s for %s |\n", plural(r.SessionStarts, "start"), plural(r.SessionCalls, "call"))
	}
	if r.StoppedTime > 0 {
		p("| drillbook stopped | %s (%s) |\n", fmtDur(r.StoppedTime), plural(countPrefix(r.Interruptions, "stopped"), "interruption"))
	}
	if r.Reason != "" {
		p("| Reason | %s |\n", mdEscape(r.Reason))
	}
	if len(r.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s UTC: %s\n", n.Time.Format("15:04:05"), mdEscape(n.Text))
		}
	}
	if len(r.Params) > 0 {
		p("\n## Parameters\n\n")
		for _, k := range sortedKeys(r.Params) {
			v := FormatValue(r.Params[k])
			if v == "" {
				p("- `%s` (empty)\n", k)
				continue
			}
			p("- `%s` = %s\n", k, mdCode(v))
		}
	}
	if len(r.Sources) > 0 {
		p("\n## Sources\n\n")
		for _, s := range r.Sources {
			if s.Publisher == "" {
				p("- %s\n", mdEscape(s.File))
				continue
			}
			p("- “%s”, %s (`%s`)\n", mdEscape(s.Title), mdEscape(s.Publisher), s.File)
		}
	}
	p("\n## Steps\n\nWork is drillbook's time on a step (calls, polls, log watches, retry delays); operator is the time it waited for the operator. Expected is compared with work.\n\n")
	p("| # | Step | State | Attempts | Work | Operator | Expected |\n|---|---|---|---|---|---|---|\n")
	for i, s := range r.Steps {
		over := ""
		if s.Over {
			over = " (over)"
		}
		section := ""
		if s.Section != "" {
			section = string(s.Section) + ": "
		}
		p("| %d | %s | %s | %d | %s%s | %s | %s |\n", i+1, mdEscape(section+s.Title)+" "+mdCode(s.Key), s.State, s.Attempts, fmtDur(s.Work), over, fmtDur(s.Operator), fmtDur(s.Expected))
	}
	if r.StepsEnded != nil {
		var ran []string
		for _, s := range r.Steps {
			if s.Section == SectionFinally {
				ran = append(ran, fmt.Sprintf("`%s` %s", s.Key, s.State))
			}
		}
		list := strings.Join(ran, ", ")
		if list == "" {
			list = "none"
		}
		p("\nThe steps ended %s at %s UTC; then the finally steps ran: %s.\n", mdEscape(r.StepsEnded.Text), r.StepsEnded.Time.Format("15:04:05"), list)
	}
	for i, s := range r.Steps {
		p("\n### %d. %s\n\n", i+1, mdEscape(s.Title))
		if s.Source != "" {
			p("Source: %s\n\n", mdEscape(s.Source))
		}
		if s.Cautions != "" {
			p("Runbook note: %s\n\n", mdEscape(strings.TrimSpace(s.Cautions)))
		}
		p("State: **%s**", s.State)
		if !s.Started.IsZero() {
			p(", %s to %s UTC; work %s, operator %s", s.Started.Format("15:04:05.000"), orDash(s.Ended), fmtDur0(s.Work), fmtDur0(s.Operator))
			if s.Stopped > 0 {
				p(", drillbook stopped %s", fmtDur(s.Stopped))
			}
		}
		p("\n")
		if s.Reason != "" {
			p("\n%s\n", mdEscape(s.Reason))
		}
		if len(s.AttemptLog) > 1 {
			p("\n")
			for _, a := range s.AttemptLog {
				p("- attempt %d at %s UTC: %s", a.Attempt, a.Started.Format("15:04:05"), a.State)
				if a.Reason != "" && a.State != StateSucceeded {
					p(": %s", mdEscape(a.Reason))
				}
				p("\n")
			}
		}
		var remarks []ReportNote
		remarks = append(remarks, s.Confirmations...)
		remarks = append(remarks, s.Acks...)
		for _, n := range s.Notes {
			remarks = append(remarks, ReportNote{Time: n.Time, Text: "note: " + n.Text})
		}
		slices.SortStableFunc(remarks, func(a, b ReportNote) int { return a.Time.Compare(b.Time) })
		if len(remarks) > 0 {
			p("\n")
		}
		for _, c := range remarks {
			p("- %s UTC: %s\n", c.Time.Format("15:04:05"), mdEscape(c.Text))
		}
		if len(s.Calls) > 0 {
			p("\n")
		}
		for _, c := range s.Calls {
			p("- %s `%s`", c.Phase, c.Op)
			if c.Host != "" {
				p(" on %s", mdEscape(c.Host))
			}
			p(": %s", mdCode(c.Command))
			if r.Simulated && !c.Simulated {
				p(" (real)")
			}
			if c.ExitCode != nil {
				p(", exit %d", *c.ExitCode)
			}
			if !c.Ended.IsZero() {
				p(", %s", fmtDur(c.Ended.Sub(c.Started)))
			}
			switch {
			case c.Interrupted:
				p(", **interrupted**: %s", mdEscape(c.Outcome))
			case c.Error != "":
				p(", **failed**: %s", mdEscape(c.Error))
			case c.Summary != "":
				p(": %s", mdEscape(c.Summary))
			}
			p("\n")
			if c.ActsOn != "" {
				p("  - acts on: %s\n", mdEscape(c.ActsOn))
			}
			if c.Session != "" {
				p("  - session: %s\n", mdEscape(c.Session))
			}
			for _, e := range c.Evidence {
				p("  - evidence: %s\n", mdCode(e))
			}
			if c.Cut != "" {
				kept := "no line was kept"
				if c.OutputLines > 0 {
					kept = fmt.Sprintf("%d lines were kept in `%s`", c.OutputLines, c.Output)
				}
				p("  - **output cut**: %s; %s\n", c.Cut, kept)
			}
		}
		for _, l := range s.LogMatches {
			p("\n> %s at %s UTC in %s:\n> %s\n", l.Kind, l.Time.Format("15:04:05.000"), mdEscape(l.File), mdCode(l.Text))
		}
	}
	p("\n## Deviations\n\n")
	if len(r.Deviations) == 0 {
		p("None.\n")
	}
	for _, d := range r.Deviations {
		p("- %s UTC, step `%s`: %s", d.Time.Format("15:04:05"), d.Step, d.Describe())
		p(". Reason: %s. Outcome: %s.\n", mdEscape(strings.TrimSuffix(d.Reason, ".")), mdEscape(strings.TrimSuffix(d.Outcome, ".")))
	}
	if len(r.Interruptions) > 0 {
		p("\n## Interruptions\n\n")
		for _, n := range r.Interruptions {
			p("- %s UTC: %s\n", n.Time.Format("15:04:05"), mdEscape(n.Text))
		}
	}
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, n := range r.Warnings {
			p("- %s UTC, step `%s`: %s\n", n.Time.Format("15:04:05"), n.Step, mdEscape(n.Text))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RealStepsText says which steps touched real systems on a simulated
// target: "none", or the steps in backquotes and why they count.
func (r *Report) RealStepsText() string {
	if len(r.RealSteps) == 0 {
		return "none"
	}
	return "`" + strings.Join(r.RealSteps, "`, `") + "` (not simulated: they acted on this machine or a real system)"
}

// Describe says in words what the deviation was and who took it.
func (d ReportDeviation) Describe() string {
	switch d.Deviation {
	case DevRetry:
		if d.By == "runbook" {
			return "failed and retried (on_failure)"
		}
		return "retried by the operator"
	case DevGoto:
		return "failed; on_failure went to " + d.Target
	case DevSkip:
		return "skipped by the operator"
	case DevJump:
		return "the operator jumped to " + d.Target
	case DevAdhoc:
		return "an ad-hoc command by the operator"
	case DevAbort:
		return "aborted by the operator"
	case DevReconcile:
		if d.By == "drillbook" {
			return "reconciled after resume as " + d.Target + " by its verify"
		}
		return "reconciled after resume as " + d.Target + " by the operator"
	case DevInterrupted:
		return "action interrupted"
	}
	s := string(d.Deviation)
	if d.Target != "" {
		s += " to " + d.Target
	}
	return s
}

func countPrefix(ns []ReportNote, prefix string) int {
	n := 0
	for _, x := range ns {
		if strings.HasPrefix(x.Text, prefix) {
			n++
		}
	}
	return n
}

func orDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("15:04:05.000")
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
