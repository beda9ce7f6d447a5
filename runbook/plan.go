package runbook

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// PlannedCall is one call a step would make, resolved.
type PlannedCall struct {
	Phase Phase
	Op    string
	// Args are the arguments as far as they are known before the run: a
	// value an earlier step returns stands as a placeholder, <NAME from
	// STEP>.
	Args string
	Plan Plan
	// RunTime names the values the call uses that are known only at run
	// time ("server, returned by step find-host").
	RunTime []string
	// Pending says why the command cannot be shown resolved; Args then
	// shows what is known.
	Pending string
}

// PlannedStep is one step instance as `drillbook plan` shows it.
type PlannedStep struct {
	// Section is the part of the runbook the step is in.
	Section Section
	Key     string
	Title   string
	Kind    StepKind
	Source  Source
	// Notes and Manual are filled in from the parameters.
	Notes       string
	Manual      string
	Destructive bool
	// Confirm is the token a destructive step asks for; ConfirmLater says it
	// depends on a value known only at run time (Confirm then holds a
	// placeholder).
	Confirm      string
	ConfirmLater bool
	When         string
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
			Section: in.section, Key: in.key, Title: e.previewTitle(in), Kind: st.Kind(), Source: st.Source,
			Notes: e.previewText(in, st.Notes), Manual: e.previewText(in, st.Manual),
			Destructive: st.Destructive, When: st.When, Timeout: st.Timeout.Duration,
			Expected: st.Expected.Duration, Next: st.Next, OnFailure: describeOnFailure(st.OnFailure),
		}
		if st.Destructive {
			ps.ConfirmLater = len(outFieldRefs(st.Confirm)) > 0
			if tok, err := render(st.Confirm, e.previewData(in)); err == nil {
				ps.Confirm = tok
			} else {
				ps.Confirm, ps.ConfirmLater = st.Confirm, true
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
			} else if spec, err := e.previewWatch(in); err == nil {
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
	spec, ok := e.specs[op]
	if !ok {
		pc.Pending = "no adapter offers " + op
		return pc
	}
	args, err := resolveArgs(spec, with, e.previewData(in))
	if err != nil {
		pc.Pending = "cannot resolve: " + err.Error()
		return pc
	}
	pc.Args = args.Display(spec)
	pc.RunTime = runTimeValues(with)
	o, ok := reg.Lookup(op)
	if !ok {
		return pc
	}
	p, err := o.Plan(Call{Op: op, Args: args, Step: in.key, Phase: phase, Attempt: 1, Timeout: in.step.Timeout.Duration})
	switch {
	case err != nil && len(pc.RunTime) > 0:
		pc.Pending = "the command is resolved when the values above are known"
	case err != nil:
		pc.Pending = "cannot resolve: " + err.Error()
	default:
		pc.Plan = p
	}
	return pc
}

// previewData is what templates see in a plan: the parameters, and for
// each value an earlier step will return ({{ .out.STEP.NAME }}) a
// placeholder, <NAME from STEP>, so a plan shows everything else resolved
// instead of a template error.
func (e *Engine) previewData(in *instance) map[string]any {
	d := e.data(in)
	out, _ := d["out"].(map[string]any)
	for _, ref := range e.outRefs() {
		vars, _ := out[ref[0]].(map[string]string)
		if _, known := vars[ref[1]]; known {
			continue
		}
		vars = maps.Clone(vars)
		if vars == nil {
			vars = map[string]string{}
		}
		vars[ref[1]] = placeholder(ref[0], ref[1])
		out[ref[0]] = vars
	}
	return d
}

// previewText fills in a text for the plan, secrets masked.
func (e *Engine) previewText(in *instance, text string) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	d := e.previewData(in)
	for k, v := range e.shownData(in) {
		if k != "out" {
			d[k] = v
		}
	}
	t, err := render(text, d)
	if err != nil {
		return text
	}
	return t
}

// previewTitle is the title as far as it is known before the run.
func (e *Engine) previewTitle(in *instance) string {
	if t := strings.TrimSpace(e.previewText(in, in.step.Title)); t != "" && !strings.Contains(t, "{{") {
		return t
	}
	return e.renderTitle(in)
}

func (e *Engine) previewWatch(in *instance) (WatchSpec, error) {
	w := in.step.Wait
	d := e.previewData(in)
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

func placeholder(step, name string) string { return "<" + name + " from " + step + ">" }

// outRefs returns every {{ .out.STEP.NAME }} the runbook's templates use,
// as [STEP, NAME] pairs.
func (e *Engine) outRefs() [][2]string {
	var refs [][2]string
	seen := map[[2]string]bool{}
	add := func(text string) {
		for _, r := range outFieldRefs(text) {
			if !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
	}
	for _, ss := range e.rb.AllSteps() {
		forEachTemplate(ss.Step, add)
	}
	return refs
}

// runTimeValues names the values of an earlier step a call's arguments use.
func runTimeValues(with map[string]Value) []string {
	var out []string
	for _, k := range sortedKeys(with) {
		for _, s := range append(with[k].Strings(), mapValues(with[k].Map)...) {
			for _, r := range outFieldRefs(s) {
				line := r[1] + ", returned by step " + r[0]
				if !slices.Contains(out, line) {
					out = append(out, line)
				}
			}
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// forEachTemplate calls f with every template text of a step.
func forEachTemplate(st *Step, f func(string)) {
	texts := []string{st.Title, st.Notes, st.Manual, st.Confirm, st.When}
	calls := []map[string]Value{st.With}
	if st.Precheck != nil {
		calls = append(calls, st.Precheck.With)
	}
	if st.Verify != nil {
		calls = append(calls, st.Verify.With)
	}
	if w := st.Wait; w != nil {
		calls = append(calls, w.With)
		texts = append(texts, w.Log.Strings()...)
		texts = append(texts, w.Engine)
		texts = append(texts, w.Success...)
		texts = append(texts, w.Failure...)
		texts = append(texts, w.Warn...)
	}
	for _, t := range texts {
		f(t)
	}
	for _, with := range calls {
		for _, v := range with {
			for _, s := range append(v.Strings(), mapValues(v.Map)...) {
				f(s)
			}
		}
	}
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
