package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
		Runner: r, First: sess.First, Steps: sess.Engine.Steps(), Started: sess.Meta.Started, Close: sess.Close,
		History: runHistory(sess)}
}

// historyLines bounds the earlier output a resumed screen reads back: the
// last lines of it (the screen keeps fewer; the journal keeps all).
const historyLines = 5000

// runHistory reads back what a resumed run showed before it stopped: its
// journaled events and its output files, in order, with the output cut to
// its last historyLines lines. A new run has none. What cannot be read is
// said in the history itself rather than stopping the resume.
func runHistory(sess *runbook.Session) []runbook.Update {
	if len(sess.First) == 0 || sess.First[0].Type != runbook.InResume {
		return nil
	}
	jd, err := runbook.ReadJournal(filepath.Join(sess.Dir, runbook.JournalFile))
	if err != nil {
		return []runbook.Update{{Event: &runbook.Event{Type: runbook.EvWarning, Text: "the run's earlier output cannot be shown: " + err.Error()}}}
	}
	evs := jd.Events()
	total := 0
	for _, ev := range evs {
		if ev.Type == runbook.EvCallOutput {
			total += ev.Lines
		}
	}
	skip := max(0, total-historyLines)
	rd := runbook.NewOutputReader(sess.Dir)
	defer rd.Close()
	var out []runbook.Update
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case runbook.EvCallOutput:
			n := ev.Lines
			if skip > 0 {
				k := min(skip, n)
				skip -= k
				n -= k
				if err := rd.Skip(ev.File, k); err != nil {
					out = append(out, runbook.Update{Event: &runbook.Event{Type: runbook.EvWarning, Step: ev.Step, Text: err.Error()}})
					continue
				}
			}
			if n == 0 {
				continue
			}
			lines, err := rd.Next(ev.File, n)
			if err != nil {
				out = append(out, runbook.Update{Event: &runbook.Event{Type: runbook.EvWarning, Step: ev.Step, Text: err.Error()}})
			}
			if len(lines) > 0 {
				out = append(out, runbook.Update{Batch: &runbook.Batch{ID: ev.ID, Step: ev.Step, Output: lines}})
			}
		case runbook.EvWatchLine:
			out = append(out, runbook.Update{Batch: &runbook.Batch{ID: ev.ID, Step: ev.Step, Log: ev.Log}})
		default:
			out = append(out, runbook.Update{Event: ev})
		}
	}
	return out
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
			fmt.Fprintf(g.io.Out, "interrupted: `drillbook resume %s` continues where the run stood\n", id)
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
		fmt.Fprintf(g.io.Out, "run %s: interrupted: `drillbook resume %s` continues where the run stood\n", id, id)
	} else {
		fmt.Fprintf(g.io.Out, "run %s: %s; `drillbook report %s` prints the record\n", id, out.Status, id)
	}
	return finish(code)
}

// homeOptions say where the picker starts: the target, and for `drillbook
// run RUNBOOK` in a terminal the runbook whose form opens at once, with the
// --param values, the scenario and the lock already taken for it.
type homeOptions struct {
	target   string
	scenario string
	given    map[string]string
	open     *runbook.Runbook
	lock     *runbook.Lock
	// purpose is --purpose (the form offers it first) and notes are
	// --note and --run-note, for the run of open.
	purpose runbook.Purpose
	notes   []runbook.Input
}

// runHome opens the runbook picker on a target (training unless --target
// says otherwise), or the form of ho.open, then the run view, starting the
// session the way `drillbook run` does. Without a terminal it lists the
// runbooks.
func runHome(ctx context.Context, g *globalOptions, ho homeOptions) error {
	if !g.io.Terminal() {
		return listRun(g, &listOptions{})
	}
	term := &tui.Terminal{}
	h, err := homeScreen(g, term, ho)
	if err != nil {
		return err
	}
	return runScreen(ctx, g, tui.NewHome(screenOptions(ctx, g), h), term)
}

// homeScreen is what the picker offers: every valid shipped runbook and
// those in --runbooks directories, on the targets of targets.yaml and
// training, starting on ho.target (an unknown one is an error).
func homeScreen(g *globalOptions, term *tui.Terminal, ho homeOptions) (tui.Home, error) {
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
	if ho.open != nil && !slices.ContainsFunc(offered, func(rb *runbook.Runbook) bool { return rb.ID == ho.open.ID }) {
		offered = append([]*runbook.Runbook{ho.open}, offered...)
	}
	target := ho.target
	if target == "" {
		target = runbook.TrainingTarget
	}
	targets := []tui.TargetChoice{{Name: runbook.TrainingTarget, Simulated: true, Description: "built-in simulated estate"}}
	if target != runbook.TrainingTarget {
		if _, err := g.loadTarget(target); err != nil {
			return tui.Home{}, err
		}
	}
	if path, named := g.resolveTargetsFile(); fileExists(path) {
		ts, err := runbook.LoadTargets(path, brokerSections)
		if err != nil {
			problems = append(problems, err)
			ts = &runbook.Targets{}
		}
		for _, name := range ts.Names {
			t, _ := ts.Get(name)
			targets = append(targets, tui.TargetChoice{Name: name, Simulated: t.Simulated, Description: t.Description})
		}
	} else if named {
		problems = append(problems, fmt.Errorf("targets file %s does not exist: only the training target is offered", path))
	}
	simulated := false
	for _, t := range targets {
		if t.Name == target {
			simulated = t.Simulated
		}
	}
	h := tui.Home{Target: target, Simulated: simulated, Targets: targets, Runbooks: offered, Problems: errors.Join(problems...), Open: ho.open}
	h.Prepare = func(ctx context.Context, target string, rb *runbook.Runbook) (*tui.Prepared, error) {
		return prepareHome(ctx, g, target, rb, term, ho)
	}
	return h, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// prepareHome opens a target's estate for rb and returns how to start a
// run on it with the form's values. The form is filled with the target's
// values, the secrets in the environment and, for the runbook `drillbook
// run` named, its --param values.
func prepareHome(ctx context.Context, g *globalOptions, target string, rb *runbook.Runbook, term *tui.Terminal, ho homeOptions) (*tui.Prepared, error) {
	named := ho.open != nil && rb.ID == ho.open.ID && target == ho.target
	scenario := ""
	if named {
		scenario = ho.scenario
	}
	est, err := openEstate(ctx, g, target, scenario, rb, true)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for k, v := range est.params {
		if _, ok := rb.Param(k); ok {
			values[k] = v
		}
	}
	for _, p := range rb.Params {
		if p.Type == runbook.TypeSecret {
			if v := g.io.Getenv(runbook.EnvName(p.Name)); v != "" {
				values[p.Name] = v
			}
		}
	}
	if named {
		maps.Copy(values, ho.given)
	}
	start := func(given map[string]string, purpose runbook.Purpose, fe *tui.Frontend) (tui.RunSpec, error) {
		vals, err := runbook.ResolveParams(rb, given)
		if err != nil {
			return tui.RunSpec{}, paramProblems(err, nil)
		}
		state, err := g.resolveStateDir()
		if err != nil {
			return tui.RunSpec{}, err
		}
		op, host := operator(g.io.Getenv)
		ns := runbook.NewSession{StateDir: state, Runbook: rb, Target: est.target, Scenario: scenario,
			Params: vals, Specs: est.registry.Specs(), Operator: op, Host: host, Version: version, Now: now(), ExtraHide: est.hide,
			Build: ptr(buildInfo()), Purpose: purpose}
		if named {
			ns.Lock = ho.lock
		}
		sess, err := runbook.Start(ns)
		if err != nil {
			return tui.RunSpec{}, err
		}
		if named {
			sess.First = append(sess.First, ho.notes...)
		}
		return screenRun(sess, est, fe, term), nil
	}
	purpose := runbook.DefaultPurpose(est.target)
	if named && ho.purpose != "" {
		purpose = ho.purpose
	}
	return &tui.Prepared{Values: values, Purpose: purpose, Start: start, Close: est.Close}, nil
}
