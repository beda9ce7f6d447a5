package runbook

import "time"

// TimeKind says who a stretch of a step's time belongs to.
type TimeKind string

// The kinds of time a step's clock tells apart.
const (
	// TimeWork is time drillbook spent on the step: calls, polls, log
	// watches, and the runbook's own retry delays.
	TimeWork TimeKind = "work"
	// TimeOperator is time the step waited for the operator: a
	// confirmation, a tick-off, a go-ahead for a retry, a decision after a
	// failure, or an account of what happened while drillbook was stopped.
	TimeOperator TimeKind = "operator"
	// TimeStopped is time drillbook was not running (the run was
	// interrupted and later resumed) while the step was current.
	TimeStopped TimeKind = "stopped"
)

// Span is one stretch of a step instance's time.
type Span struct {
	Kind  TimeKind  `json:"kind"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Split is a step instance's time, told apart by whose it was.
type Split struct {
	// Work is drillbook's time on the step; expected: is compared with it.
	Work time.Duration
	// Operator is the time the step waited for the operator.
	Operator time.Duration
	// Stopped is the time drillbook was not running while the step was
	// current.
	Stopped time.Duration
}

// Total is the step's own time: work and operator time, without the time
// drillbook was stopped.
func (s Split) Total() time.Duration { return s.Work + s.Operator }

// Clock folds a run's events into each step instance's time: at any moment
// exactly one instance is current, and its time is work time unless it
// waits for the operator (from a confirm.request or operator.request until
// the answer) or drillbook is stopped (from run.interrupted until
// run.resumed). The engine keeps one for the screen's timers; the report
// folds the journal's events through another, so both tell time the same
// way. The zero value is ready to use.
type Clock struct {
	cur      string // the current instance, "" between steps
	since    time.Time
	operator bool // the current instance waits for the operator
	stopped  bool // drillbook is stopped (run.interrupted seen)
	last     time.Time
	spans    map[string][]Span
}

// Observe folds one event into the clock. Events must come in journal
// order.
func (c *Clock) Observe(ev Event) {
	t := ev.Time
	if t.Before(c.last) {
		t = c.last // a clock stepped back: never count negative time
	}
	defer func() { c.last = t }()
	switch ev.Type {
	case EvRunInterrupted:
		c.cut(t)
		c.stopped = true
		c.operator = false
	case EvRunResumed:
		if !c.stopped {
			// The engine sees no run.interrupted: drillbook stopped some
			// time after the last thing it saw. Count from there, so the
			// time it was down is not counted as the step's.
			c.cut(c.last)
			c.stopped, c.operator = true, false
		}
		c.cut(t)
		c.stopped = false
	case EvStepStarted:
		if ev.Step != c.cur {
			c.cut(t)
			c.cur = ev.Step
		} else {
			c.cut(t)
		}
		c.operator = false
	case EvStepSucceeded, EvStepSkipped:
		if ev.Step == c.cur {
			c.cut(t)
			c.cur = ""
			c.operator = false
		}
	case EvConfirmRequest, EvOperatorRequest:
		if ev.Step == c.cur && !c.operator {
			c.cut(t)
			c.operator = true
		}
	case EvConfirmAccepted, EvOperatorAck, EvReconciled:
		if ev.Step == c.cur && c.operator {
			c.cut(t)
			c.operator = false
		}
	case EvDeviation:
		// An ad-hoc command is the operator looking into a problem while
		// the step waits: the wait goes on. Every other deviation answers.
		if ev.Step == c.cur && c.operator && ev.Deviation != DevAdhoc {
			c.cut(t)
			c.operator = false
		}
	case EvRunFinally, EvRunFinished:
		c.cut(t)
		c.cur = ""
		c.operator = false
	}
}

// cut ends the current stretch at t and starts the next one there.
func (c *Clock) cut(t time.Time) {
	if c.cur != "" && t.After(c.since) {
		kind := TimeWork
		switch {
		case c.stopped:
			kind = TimeStopped
		case c.operator:
			kind = TimeOperator
		}
		if c.spans == nil {
			c.spans = map[string][]Span{}
		}
		sp := c.spans[c.cur]
		if n := len(sp); n > 0 && sp[n-1].Kind == kind && sp[n-1].End.Equal(c.since) {
			sp[n-1].End = t // one stretch, not many touching ones
		} else {
			sp = append(sp, Span{Kind: kind, Start: c.since, End: t})
		}
		c.spans[c.cur] = sp
	}
	if t.After(c.since) || c.since.IsZero() {
		c.since = t
	}
}

// Spans returns the stretches of a step instance's time that have ended, in
// order.
func (c *Clock) Spans(key string) []Span {
	return c.spans[key]
}

// Current returns the instance whose time runs now, what kind of time it
// is and since when; key is "" between steps.
func (c *Clock) Current() (key string, kind TimeKind, since time.Time) {
	kind = TimeWork
	switch {
	case c.stopped:
		kind = TimeStopped
	case c.operator:
		kind = TimeOperator
	}
	return c.cur, kind, c.since
}

// Split returns a step instance's time up to now: the ended stretches and,
// for the current instance, the one running since the last event.
func (c *Clock) Split(key string, now time.Time) Split {
	s := SplitOf(c.spans[key])
	if key != "" && key == c.cur && now.After(c.since) {
		_, kind, since := c.Current()
		s.addKind(kind, now.Sub(since))
	}
	return s
}

func (s *Split) addKind(kind TimeKind, d time.Duration) {
	switch kind {
	case TimeOperator:
		s.Operator += d
	case TimeStopped:
		s.Stopped += d
	default:
		s.Work += d
	}
}

// SplitOf adds up stretches of time by kind.
func SplitOf(spans []Span) Split {
	var s Split
	for _, sp := range spans {
		s.addKind(sp.Kind, sp.End.Sub(sp.Start))
	}
	return s
}
