package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/tui"
)

// screenOptions are the screen's options for this process.
func screenOptions(ctx context.Context, g *globalOptions) tui.Options {
	return tui.Options{Context: ctx, NoColor: g.io.Getenv("NO_COLOR") != ""}
}

// driveScreen runs a session (started or resumed) in the terminal UI and
// maps how it ended to an exit code. The caller closes the session.
func driveScreen(ctx context.Context, g *globalOptions, sess *runbook.Session, est *estate) error {
	fe := tui.NewFrontend()
	term := &tui.Terminal{}
	spec := screenRun(sess, est, fe, term)
	spec.Close = nil // drive closes the session
	spec.Resume, spec.Report = g.command("resume", sess.RunID), g.command("report", sess.RunID)
	return runScreen(ctx, g, tui.NewRun(screenOptions(ctx, g), fe, spec), term)
}

// terminalOp gives the real terminal to an interactive call: the screen
// lets go of it for the length of the call and takes it back after. The
// adapter runs the process (its own process handling and journaling stay
// in one place); its output is not captured.
type terminalOp struct {
	runbook.Operation
	term *tui.Terminal
}

// Run implements runbook.Operation.
func (o terminalOp) Run(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	if !call.Args.Bool("interactive") {
		return o.Operation.Run(ctx, call, out)
	}
	var res runbook.Result
	var err error
	if lerr := o.term.Lend(func() { res, err = o.Operation.Run(ctx, call, out) }); lerr != nil {
		return runbook.Result{ExitCode: -1}, lerr
	}
	return res, err
}

// screenRun wires a session to a runner whose frontend is the screen.
// Interactive shell.run calls get the terminal term lends.
func screenRun(sess *runbook.Session, est *estate, fe *tui.Frontend, term *tui.Terminal) tui.RunSpec {
	if op, ok := est.registry.Lookup("shell.run"); ok && term != nil {
		est.registry.Add(terminalOp{Operation: op, term: term})
	}
	r := runbook.NewRunner(runbook.RunnerConfig{Engine: sess.Engine, Registry: est.registry, Watcher: est.watcher,
		Journal: sess.Journal, Frontend: fe, Secrets: sess.Secrets})
	return tui.RunSpec{RunID: sess.RunID, Title: sess.Runbook.Title, Target: est.target.Name, Simulated: est.target.Simulated,
		Runner: r, First: sess.First, Steps: sess.Engine.Steps(), Started: sess.Meta.Started, Close: sess.Close}
}

// runScreen runs the program, then says how the run ended on the normal
// screen and returns the exit status.
func runScreen(ctx context.Context, g *globalOptions, app *tui.App, term *tui.Terminal) error {
	perr := tui.Run(ctx, app, term)
	out, ran, rerr := app.Outcome(15 * time.Second)
	id := app.RunID()
	cerr := app.Close()
	if cerr != nil && id != "" {
		cerr = fmt.Errorf("closing run %s: %w", id, cerr)
	}
	// finish keeps the run's exit code and still says why closing failed.
	finish := func(code int) error {
		switch {
		case cerr == nil && code == exitOK:
			return nil
		case cerr == nil:
			return exitStatus{code: code}
		case code == exitOK:
			return cerr
		}
		return exitStatus{code: code, msg: cerr.Error()}
	}
	if perr != nil {
		return errors.Join(perr, cerr)
	}
	if !ran {
		if id != "" {
			fmt.Fprintf(g.io.Out, "interrupted: %s continues where the run stood\n", g.withFlags("`drillbook resume "+id+"`"))
			return finish(exitInterrupted)
		}
		return cerr
	}
	if rerr != nil {
		return errors.Join(fmt.Errorf("run %s: %w", id, rerr), cerr)
	}
	code := outcomeCode(out)
	if out.Status == runbook.RunInterrupted {
		code = exitInterrupted
		fmt.Fprintf(g.io.Out, "run %s: interrupted: %s continues where the run stood\n", id, g.withFlags("`drillbook resume "+id+"`"))
	} else {
		fmt.Fprintf(g.io.Out, "run %s: %s; %s prints the record\n", id, out.Status, g.withFlags("`drillbook report "+id+"`"))
	}
	return finish(code)
}

// runHome opens the runbook picker on the training target, then the
// parameter form, then the run view, starting the session the way
// `drillbook run` does.
func runHome(ctx context.Context, g *globalOptions) error {
	if !g.io.Terminal() {
		return listRun(g, &listOptions{})
	}
	term := &tui.Terminal{}
	return runScreen(ctx, g, tui.NewHome(screenOptions(ctx, g), homeScreen(g, term)), term)
}

// homeScreen is what the picker offers: every valid shipped runbook and
// those in --runbooks directories, on the training target.
func homeScreen(g *globalOptions, term *tui.Terminal) tui.Home {
	shipped, serr := shippedRunbooks()
	more, derr := g.dirRunbooks()
	specs := allSpecs()
	var offered []*runbook.Runbook
	problems := []error{serr, derr}
	for _, rb := range append(shipped, more...) {
		if probs := runbook.Validate(rb, specs); probs != nil {
			problems = append(problems, fmt.Errorf("%s: %w", rb.ID, probs))
			continue
		}
		offered = append(offered, rb)
	}
	return tui.Home{Target: runbook.TrainingTarget, Simulated: true, Runbooks: offered, Problems: errors.Join(problems...),
		Prepare: func(ctx context.Context, rb *runbook.Runbook) (*tui.Prepared, error) {
			return prepareHome(ctx, g, rb, term)
		}}
}

// prepareHome opens the training estate for rb and returns how to start a
// run on it with the form's values.
func prepareHome(ctx context.Context, g *globalOptions, rb *runbook.Runbook, term *tui.Terminal) (*tui.Prepared, error) {
	est, err := openEstate(ctx, g, runbook.TrainingTarget, "", rb, true)
	if err != nil {
		return nil, err
	}
	values := maps.Clone(est.params)
	for _, p := range rb.Params {
		if p.Type == runbook.TypeSecret {
			if v := g.io.Getenv(runbook.EnvName(p.Name)); v != "" {
				values[p.Name] = v
			}
		}
	}
	start := func(given map[string]string, fe *tui.Frontend) (tui.RunSpec, error) {
		vals, err := runbook.ResolveParams(rb, given)
		if err != nil {
			return tui.RunSpec{}, err
		}
		state, err := g.resolveStateDir()
		if err != nil {
			return tui.RunSpec{}, err
		}
		op, host := operator(g.io.Getenv)
		sess, err := runbook.Start(runbook.NewSession{StateDir: state, Runbook: rb, Target: est.target,
			Params: vals, Specs: est.registry.Specs(), Operator: op, Host: host, Version: version, Now: now()})
		if err != nil {
			return tui.RunSpec{}, err
		}
		spec := screenRun(sess, est, fe, term)
		spec.Resume, spec.Report = g.command("resume", sess.RunID), g.command("report", sess.RunID)
		return spec, nil
	}
	return &tui.Prepared{Values: values, Start: start, Close: est.Close}, nil
}
