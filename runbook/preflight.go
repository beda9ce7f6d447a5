package runbook

import (
	"context"
	"fmt"
	"time"
)

// PreflightResult is what one preflight step's check found when `drillbook
// plan` ran it.
type PreflightResult struct {
	// Key is the step instance ("backup-set", "reachable[2]").
	Key string
	// Title is the step's rendered title.
	Title string
	// Op is the operation that ran.
	Op string
	// Summary is the operation's one-line result when it succeeded.
	Summary string
	// Warnings are the result's warnings.
	Warnings []string
	// Err says why the check failed, or why it could not run; nil when it
	// passed.
	Err error
	// Skipped says the step's when: is false with these parameters.
	Skipped bool
}

// defaultPreflightTimeout bounds a preflight check `plan` runs whose step
// gives no timeout.
const defaultPreflightTimeout = time.Minute

// CheckPreflight runs the runbook's preflight steps as `drillbook plan`
// does: each step's action (or polled condition, once) through reg, with
// the step's timeout or a minute. Preflight steps call only read-only
// operations (Validate makes sure), so this changes nothing; an operation
// that is not read-only is refused here too. It returns one result per
// preflight step instance, in order.
func (e *Engine) CheckPreflight(ctx context.Context, reg *Registry) []PreflightResult {
	var out []PreflightResult
	for _, in := range e.inst {
		if in.section != SectionPreflight {
			continue
		}
		res := PreflightResult{Key: in.key, Title: e.renderTitle(in)}
		st := in.step
		if st.When != "" {
			ok, err := e.when(in)
			if err != nil {
				res.Err = fmt.Errorf("when: %w", err)
				out = append(out, res)
				continue
			}
			if !ok {
				res.Skipped = true
				out = append(out, res)
				continue
			}
		}
		op, with := st.Action, st.With
		if op == "" && st.Wait != nil {
			op, with = st.Wait.Action, st.Wait.With
		}
		res.Op = op
		res.Summary, res.Warnings, res.Err = e.checkOnce(ctx, reg, in, op, with)
		out = append(out, res)
	}
	return out
}

func (e *Engine) checkOnce(ctx context.Context, reg *Registry, in *instance, op string, with map[string]Value) (string, []string, error) {
	o, ok := reg.Lookup(op)
	if !ok {
		return "", nil, fmt.Errorf("no adapter offers %s on this target", op)
	}
	if !o.Spec().ReadOnly {
		return "", nil, fmt.Errorf("%s is not read-only, so plan does not run it", op)
	}
	args, err := e.args(op, with, in)
	if err != nil {
		return "", nil, fmt.Errorf("resolved at run time: %w", err)
	}
	timeout := in.step.Timeout.Duration
	if timeout <= 0 {
		timeout = defaultPreflightTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := o.Run(cctx, Call{Op: op, Args: args, Step: in.key, Phase: PhaseAction, Attempt: 1, Timeout: timeout}, OutputFunc(func(Stream, string) {}))
	return res.Summary, res.Warnings, err
}
