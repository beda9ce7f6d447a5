package runbook

import (
	"fmt"
	"strings"
	"time"
)

// PlannedCall is one call a step would make, resolved.
type PlannedCall struct {
	Phase Phase
	Op    string
	Args  string
	Plan  Plan
	// Pending is set when the call depends on a value only known at run
	// time ({{ .out.STEP.NAME }}); Args then shows the template.
	Pending string
}

// PlannedStep is one step instance as `drillbook plan` shows it.
type PlannedStep struct {
	// Section is the part of the runbook the step is in.
	Section     Section
	Key         string
	Title       string
	Kind        StepKind
	Source      Source
	Notes       string
	Manual      string
	Destructive bool
	Confirm     string
	When        string
	// Skipped is set when when: is false with these parameters; Reason says
	// what would have run.
	Skipped bool
	Reason  string
	Calls   []PlannedCall
	Watch   *WatchSpec
	// Poll is the operation a polled wait repeats, every Every.
	Poll     *PlannedCall
	Every    time.Duration
	Timeout  time.Duration
	Expected time.Duration
	// OnFailure says in words what happens when the step fails.
	OnFailure string
	Next      string
}

// Preview resolves every step instance with the run's parameters, without
// running anything. Steps whose when: depends on run-time values are shown
// as decided at run time.
func (e *Engine) Preview(reg *Registry) []PlannedStep {
	var out []PlannedStep
	for _, in := range e.inst {
		st := in.step
		ps := PlannedStep{
			Section: in.section, Key: in.key, Title: e.renderTitle(in), Kind: st.Kind(), Source: st.Source, Notes: st.Notes,
			Manual: st.Manual, Destructive: st.Destructive, When: st.When, Timeout: st.Timeout.Duration,
			Expected: st.Expected.Duration, Next: st.Next, OnFailure: describeOnFailure(st.OnFailure),
		}
		if st.Destructive {
			if tok, err := render(st.Confirm, e.data(in)); err == nil {
				ps.Confirm = tok
			} else {
				ps.Confirm = st.Confirm
			}
		}
		if st.Foreach != nil && !in.hasItem {
			ps.Skipped, ps.Reason = true, fmt.Sprintf("foreach: the list %s is empty", st.Foreach.Param)
		} else if st.When != "" {
			ok, err := e.when(in)
			switch {
			case err != nil:
				ps.Reason = "when: decided at run time (" + strings.TrimSpace(st.When) + ")"
			case !ok:
				ps.Skipped, ps.Reason = true, "when: "+strings.TrimSpace(st.When)+" is false"
			}
		}
		if st.Precheck != nil {
			ps.Calls = append(ps.Calls, e.plannedCall(reg, in, PhasePrecheck, st.Precheck.Action, st.Precheck.With))
		}
		if st.Action != "" {
			ps.Calls = append(ps.Calls, e.plannedCall(reg, in, PhaseAction, st.Action, st.With))
		}
		if st.Wait != nil {
			ps.Timeout = st.Wait.Timeout.Duration
			if st.Wait.Action != "" {
				pc := e.plannedCall(reg, in, PhaseAction, st.Wait.Action, st.Wait.With)
				ps.Poll = &pc
				ps.Every = st.Wait.Every.Duration
				if ps.Every == 0 {
					ps.Every = defaultPollEvery
				}
			} else if spec, err := e.watchSpec(in); err == nil {
				ps.Watch = &spec
			}
		}
		if st.Verify != nil {
			ps.Calls = append(ps.Calls, e.plannedCall(reg, in, PhaseVerify, st.Verify.Action, st.Verify.With))
		}
		out = append(out, ps)
	}
	return out
}

func (e *Engine) plannedCall(reg *Registry, in *instance, phase Phase, op string, with map[string]Value) PlannedCall {
	pc := PlannedCall{Phase: phase, Op: op}
	args, err := e.args(op, with, in)
	if err != nil {
		pc.Pending = "resolved at run time: " + err.Error()
		return pc
	}
	pc.Args = args.Display(e.specs[op])
	if o, ok := reg.Lookup(op); ok {
		p, err := o.Plan(Call{Op: op, Args: args, Step: in.key, Phase: phase, Attempt: 1, Timeout: in.step.Timeout.Duration})
		if err != nil {
			pc.Pending = "cannot resolve: " + err.Error()
		}
		pc.Plan = p
	}
	return pc
}

func describeOnFailure(of *OnFailure) string {
	if of == nil {
		return "stop and ask the operator"
	}
	var parts []string
	if of.Retry != nil {
		s := fmt.Sprintf("retry up to %d times", of.Retry.Count)
		if of.Retry.Delay.Duration > 0 {
			s += fmt.Sprintf(" after %s", of.Retry.Delay.Duration)
		}
		if of.Retry.Ask {
			s += ", each time the operator says so"
		}
		parts = append(parts, s)
	}
	switch {
	case of.Goto != "":
		parts = append(parts, "then go to "+of.Goto)
	case of.Abort:
		parts = append(parts, "then abort the run")
	default:
		parts = append(parts, "then stop and ask the operator")
	}
	return strings.Join(parts, ", ")
}
