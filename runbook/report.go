package runbook

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is a run rendered for an incident review or a drill record.
type Report struct {
	RunID     string        `json:"run_id"`
	Runbook   string        `json:"runbook"`
	Title     string        `json:"title"`
	Digest    string        `json:"runbook_sha256"`
	Target    string        `json:"target"`
	Simulated bool          `json:"simulated"`
	Scenario  string        `json:"scenario,omitempty"`
	Operator  string        `json:"operator"`
	Host      string        `json:"host"`
	Started   time.Time     `json:"started"`
	Ended     time.Time     `json:"ended,omitzero"`
	Total     time.Duration `json:"total_ns"`
	Status    RunStatus     `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	// Description is the runbook's description: why it is written the way
	// it is.
	Description string `json:"description,omitempty"`
	// RealSteps are the steps that ran a call acting on real systems; on a
	// simulated target, the ones that were not simulated (a shell command).
	RealSteps []string       `json:"real_steps,omitempty"`
	Params    map[string]any `json:"params"`
	Steps     []ReportStep   `json:"steps"`
	// Deviations are every departure from the runbook, with reasons.
	Deviations []ReportDeviation `json:"deviations"`
	// Interruptions are the times the run stopped and was resumed.
	Interruptions []ReportNote `json:"interruptions,omitempty"`
	Warnings      []ReportNote `json:"warnings,omitempty"`
	// StepsEnded is how the run's steps ended when its finally steps began
	// (nil when none ran): the finally steps' states are in Steps.
	StepsEnded *ReportNote `json:"steps_ended,omitempty"`
}

// ReportStep is one step instance in a report.
type ReportStep struct {
	// Section is preflight or finally for those steps, empty otherwise.
	Section     Section       `json:"section,omitempty"`
	Key         string        `json:"key"`
	Title       string        `json:"title"`
	Source      string        `json:"source,omitempty"`
	State       StepState     `json:"state"`
	Attempts    int           `json:"attempts"`
	Started     time.Time     `json:"started,omitzero"`
	Ended       time.Time     `json:"ended,omitzero"`
	Duration    time.Duration `json:"duration_ns"`
	Expected    time.Duration `json:"expected_ns,omitempty"`
	Destructive bool          `json:"destructive,omitempty"`
	// Notes are the step's notes as shown to the operator.
	Notes  string       `json:"notes,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Calls  []ReportCall `json:"calls,omitempty"`
	// LogMatches are the log lines that proved success or failure, and
	// warnings seen on the way.
	LogMatches    []ReportLog  `json:"log_matches,omitempty"`
	Confirmations []ReportNote `json:"confirmations,omitempty"`
	Acks          []ReportNote `json:"acks,omitempty"`
}

// ReportCall is one call a step made.
type ReportCall struct {
	Phase    Phase     `json:"phase"`
	Op       string    `json:"op"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Error    string    `json:"error,omitempty"`
	TimedOut bool      `json:"timed_out,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
	// Simulated says the call acted on a simulated estate only.
	Simulated bool `json:"simulated,omitempty"`
}

// ReportLog is a log line a watch matched.
type ReportLog struct {
	Kind MatchKind `json:"kind"`
	File string    `json:"file"`
	Text string    `json:"text"`
}

// ReportDeviation is a departure from the runbook.
type ReportDeviation struct {
	Time      time.Time `json:"time"`
	Step      string    `json:"step"`
	Deviation Deviation `json:"deviation"`
	Target    string    `json:"target,omitempty"`
	Reason    string    `json:"reason"`
}

// ReportNote is a timed remark.
type ReportNote struct {
	Time time.Time `json:"time"`
	Step string    `json:"step,omitempty"`
	Text string    `json:"text"`
}

// BuildReport folds a journal into a report.
func BuildReport(jd *JournalData) *Report {
	m := jd.Meta
	rep := &Report{RunID: m.RunID, Runbook: m.RunbookID, Title: m.Title, Digest: m.Digest, Target: m.Target,
		Simulated: m.Simulated, Scenario: m.Scenario, Operator: m.Operator, Host: m.Host, Started: m.Started.UTC(),
		Params: m.Params, Status: RunRunning, Deviations: []ReportDeviation{}}
	idx := map[string]int{}
	step := func(key string) *ReportStep {
		if i, ok := idx[key]; ok {
			return &rep.Steps[i]
		}
		idx[key] = len(rep.Steps)
		rep.Steps = append(rep.Steps, ReportStep{Key: key, State: StatePending})
		return &rep.Steps[len(rep.Steps)-1]
	}
	type callRef struct {
		key string
		i   int
	}
	callAt := map[int]callRef{}
	var last time.Time
	for _, ev := range jd.Events() {
		t := ev.Time.UTC()
		if t.After(last) {
			last = t
		}
		switch ev.Type {
		case EvRunStarted:
			rep.Description = ev.Notes
		case EvStepStarted:
			s := step(ev.Step)
			s.Title, s.State, s.Attempts = ev.Title, StateRunning, ev.Attempt
			if ev.Notes != "" {
				s.Notes = ev.Notes
			}
			if ev.Source != nil {
				s.Source = ev.Source.String()
			}
			if s.Started.IsZero() {
				s.Started = t
			}
			s.Expected, s.Destructive, s.Section = ev.Expected, ev.Destructive, ev.Section
		case EvStepSkipped:
			s := step(ev.Step)
			if s.Title == "" {
				s.Title = ev.Title
			}
			s.State, s.Reason, s.Ended = StateSkipped, ev.Reason, t
		case EvStepSucceeded:
			s := step(ev.Step)
			s.State, s.Ended, s.Reason = StateSucceeded, t, ""
		case EvStepFailed:
			s := step(ev.Step)
			s.State, s.Ended, s.Reason = StateFailed, t, ev.Reason
		case EvCallStart:
			c := ReportCall{Phase: ev.Phase, Op: ev.Op, Started: t, Simulated: ev.Simulated}
			if !ev.Simulated && !slices.Contains(rep.RealSteps, ev.Step) {
				rep.RealSteps = append(rep.RealSteps, ev.Step)
			}
			if ev.Plan != nil {
				c.Command = ev.Plan.Summary()
			}
			if c.Command == "" {
				c.Command = ev.Op
			}
			s := step(ev.Step)
			s.Calls = append(s.Calls, c)
			callAt[ev.ID] = callRef{ev.Step, len(s.Calls) - 1}
		case EvCallFinished:
			at, ok := callAt[ev.ID]
			if !ok {
				break
			}
			c := &step(at.key).Calls[at.i]
			c.Ended, c.Error, c.TimedOut = t, ev.Error, ev.TimedOut
			if ev.Result != nil {
				if ev.Result.ExitCode >= 0 {
					code := ev.Result.ExitCode
					c.ExitCode = &code
				}
				c.Summary, c.Evidence = ev.Result.Summary, ev.Result.Evidence
			}
		case EvWatchLine:
			s := step(ev.Step)
			for _, l := range ev.Log {
				if l.Kind == MatchWarn || l.Kind == MatchNote {
					s.LogMatches = append(s.LogMatches, ReportLog{Kind: l.Kind, File: l.File, Text: l.Text})
				}
			}
		case EvWatchFinished:
			s := step(ev.Step)
			if ev.Line != nil {
				s.LogMatches = append(s.LogMatches, ReportLog{Kind: ev.Line.Kind, File: ev.Line.File, Text: ev.Line.Text})
			}
		case EvConfirmAccepted:
			s := step(ev.Step)
			s.Confirmations = append(s.Confirmations, ReportNote{Time: t, Step: ev.Step, Text: "confirmed by typing " + ev.Token})
		case EvConfirmRefused:
			s := step(ev.Step)
			s.Confirmations = append(s.Confirmations, ReportNote{Time: t, Step: ev.Step, Text: "refused: " + ev.Reason})
		case EvOperatorAck:
			s := step(ev.Step)
			note := "acknowledged (" + string(ev.Ask) + ")"
			if ev.Text != "" {
				note += ": " + ev.Text
			}
			s.Acks = append(s.Acks, ReportNote{Time: t, Step: ev.Step, Text: note})
		case EvDeviation:
			rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: ev.Step, Deviation: ev.Deviation, Target: ev.Target, Reason: ev.Reason})
		case EvReconciled:
			rep.Deviations = append(rep.Deviations, ReportDeviation{Time: t, Step: ev.Step, Deviation: "reconcile", Target: string(ev.State), Reason: ev.Reason})
		case EvWarning:
			rep.Warnings = append(rep.Warnings, ReportNote{Time: t, Step: ev.Step, Text: ev.Text})
		case EvRunInterrupted:
			rep.Interruptions = append(rep.Interruptions, ReportNote{Time: t, Text: "stopped: " + ev.Reason})
			rep.Status = RunInterrupted
		case EvRunResumed:
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
	for i := range rep.Steps {
		s := &rep.Steps[i]
		if !s.Started.IsZero() && !s.Ended.IsZero() {
			s.Duration = s.Ended.Sub(s.Started)
		}
	}
	end := rep.Ended
	if end.IsZero() {
		end = last
	}
	rep.Total = end.Sub(rep.Started)
	return rep
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// WriteMarkdown writes the report as Markdown for an incident review.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n", r.Title)
	kind := "Incident recovery"
	if r.Simulated {
		kind = "Drill on a simulated target"
	}
	p("%s. Runbook `%s` (sha256 %s).\n\n", kind, r.Runbook, short(r.Digest))
	if r.Description != "" {
		p("%s\n\n", strings.TrimSpace(r.Description))
	}
	p("| | |\n|---|---|\n")
	p("| Run | `%s` |\n| Status | **%s** |\n| Target | %s", r.RunID, r.Status, r.Target)
	if r.Simulated {
		p(" (simulated")
		if r.Scenario != "" {
			p(", scenario %s", r.Scenario)
		}
		p(")")
	}
	p(" |\n| Operator | %s on %s |\n", r.Operator, r.Host)
	p("| Started | %s UTC |\n", r.Started.Format("2006-01-02 15:04:05"))
	if !r.Ended.IsZero() {
		p("| Ended | %s UTC |\n", r.Ended.Format("2006-01-02 15:04:05"))
	}
	p("| Total time | %s |\n", fmtDur(r.Total))
	if r.Simulated {
		real := "none"
		if len(r.RealSteps) > 0 {
			real = "`" + strings.Join(r.RealSteps, "`, `") + "` (not simulated: they acted on this machine or a real system)"
		}
		p("| Steps that touched real systems | %s |\n", real)
	}
	if r.Reason != "" {
		p("| Reason | %s |\n", mdEscape(r.Reason))
	}
	p("\n## Parameters\n\n")
	for _, k := range sortedKeys(r.Params) {
		p("- `%s` = `%v`\n", k, r.Params[k])
	}
	p("\n## Steps\n\n| # | Step | State | Attempts | Duration | Expected |\n|---|---|---|---|---|---|\n")
	for i, s := range r.Steps {
		over := ""
		if s.Expected > 0 && s.Duration > s.Expected {
			over = " (over)"
		}
		section := ""
		if s.Section != "" {
			section = string(s.Section) + ": "
		}
		p("| %d | %s | %s | %d | %s%s | %s |\n", i+1, mdEscape(section+s.Title+" `"+s.Key+"`"), s.State, s.Attempts, fmtDur(s.Duration), over, fmtDur(s.Expected))
	}
	if r.StepsEnded != nil {
		var ran []string
		for _, s := range r.Steps {
			if s.Section == SectionFinally {
				ran = append(ran, fmt.Sprintf("`%s` %s", s.Key, s.State))
			}
		}
		p("\nThe steps ended %s at %s UTC; then the finally steps ran: %s.\n", mdEscape(r.StepsEnded.Text), r.StepsEnded.Time.Format("15:04:05"), strings.Join(ran, ", "))
	}
	for i, s := range r.Steps {
		p("\n### %d. %s\n\n", i+1, s.Title)
		if s.Source != "" {
			p("Source: %s\n\n", s.Source)
		}
		if s.Notes != "" {
			p("Note: %s\n\n", mdEscape(strings.TrimSpace(s.Notes)))
		}
		p("State: **%s**", s.State)
		if !s.Started.IsZero() {
			p(", %s to %s UTC", s.Started.Format("15:04:05.000"), orDash(s.Ended))
		}
		p("\n")
		if s.Reason != "" {
			p("\n%s\n", s.Reason)
		}
		for _, c := range s.Confirmations {
			p("\n- %s UTC: %s", c.Time.Format("15:04:05"), c.Text)
		}
		for _, c := range s.Acks {
			p("\n- %s UTC: %s", c.Time.Format("15:04:05"), c.Text)
		}
		if len(s.Confirmations)+len(s.Acks) > 0 {
			p("\n")
		}
		for _, c := range s.Calls {
			p("\n- %s `%s`: `%s`", c.Phase, c.Op, c.Command)
			if r.Simulated && !c.Simulated {
				p(" (real)")
			}
			if c.ExitCode != nil {
				p(", exit %d", *c.ExitCode)
			}
			if !c.Ended.IsZero() {
				p(", %s", fmtDur(c.Ended.Sub(c.Started)))
			}
			if c.Error != "" {
				p(", **failed**: %s", mdEscape(c.Error))
			} else if c.Summary != "" {
				p(": %s", mdEscape(c.Summary))
			}
			for _, e := range c.Evidence {
				p("\n  - evidence: `%s`", mdEscape(e))
			}
		}
		if len(s.Calls) > 0 {
			p("\n")
		}
		for _, l := range s.LogMatches {
			p("\n> %s in %s:\n> `%s`\n", l.Kind, l.File, mdEscape(l.Text))
		}
	}
	p("\n## Deviations\n\n")
	if len(r.Deviations) == 0 {
		p("None.\n")
	}
	for _, d := range r.Deviations {
		target := ""
		if d.Target != "" {
			target = " to " + d.Target
		}
		p("- %s UTC, step `%s`: %s%s. Reason: %s\n", d.Time.Format("15:04:05"), d.Step, d.Deviation, target, d.Reason)
	}
	if len(r.Interruptions) > 0 {
		p("\n## Interruptions\n\n")
		for _, n := range r.Interruptions {
			p("- %s UTC: %s\n", n.Time.Format("15:04:05"), n.Text)
		}
	}
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, n := range r.Warnings {
			p("- %s UTC, step `%s`: %s\n", n.Time.Format("15:04:05"), n.Step, n.Text)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
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
