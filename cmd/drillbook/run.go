package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/runbook"
)

// runOptions are the flags of `run` and `resume`.
type runOptions struct {
	paramOptions
	plain    bool
	confirms []string
	outcomes []string
	retries  []string
	skips    []string
	aborts   []string
	yes      bool
	// notes are --note STEP=TEXT, runNotes --run-note TEXT.
	notes    []string
	runNotes []string
	// purpose is --purpose; "" takes the target's default.
	purpose string
}

func (o *runOptions) answerFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.plain, "plain", false, "print line by line instead of opening the screen (the default when stdout is not a terminal)")
	f.StringArrayVar(&o.confirms, "confirm", nil, "STEP=TOKEN: confirm a destructive step by its token, or STEP=done for a manual step, STEP=retry to allow a retry that asks (repeatable)")
	f.StringArrayVar(&o.outcomes, "outcome", nil, "STEP=succeeded|failed|rerun: what happened to a step that was running when drillbook stopped (resume)")
	f.StringArrayVar(&o.retries, "retry", nil, "STEP=REASON: retry a step that failed or waits for the operator, saying why (repeatable; each is used once)")
	f.StringArrayVar(&o.skips, "skip", nil, "STEP=REASON: skip a step that failed or waits for the operator, saying why (repeatable)")
	f.StringArrayVar(&o.aborts, "abort", nil, "STEP=REASON: abort the run at a step that failed or waits for the operator, saying why")
	f.BoolVar(&o.yes, "yes", false, "on a simulated target: confirm every destructive step that acts on the simulation (a real step, such as a shell command, still needs --confirm) and acknowledge every manual step")
	noteFlags(cmd, o)
}

// answers are what plain mode was told on the command line: confirmations,
// reconciliations and decisions, by step.
type answers struct {
	confirms, outcomes     map[string][]string
	retries, skips, aborts map[string][]string
}

// parseAnswers reads the answer flags and checks each against the
// runbook: the step exists, and the value is one that step can take. An
// answer that could never apply is an error, never silently ignored.
func (o *runOptions) parseAnswers(rb *runbook.Runbook) (answers, error) {
	var a answers
	var err error
	for _, f := range []struct {
		name string
		kvs  []string
		dst  *map[string][]string
	}{{"confirm", o.confirms, &a.confirms}, {"outcome", o.outcomes, &a.outcomes}, {"retry", o.retries, &a.retries}, {"skip", o.skips, &a.skips}, {"abort", o.aborts, &a.aborts}} {
		if *f.dst, err = parseStepValues(f.name, f.kvs); err != nil {
			return a, err
		}
		for key, vals := range *f.dst {
			st, ok := rb.StepByID(stepID(key))
			if !ok {
				return a, usagef("--%s %s: runbook %s has no step %s; its steps are %s", f.name, key, rb.ID, stepID(key), strings.Join(stepIDs(rb), ", "))
			}
			for _, v := range vals {
				if err := checkAnswer(f.name, key, st, v); err != nil {
					return a, err
				}
			}
		}
	}
	return a, nil
}

// checkAnswer says what is wrong with one answer flag for a step.
func checkAnswer(flag, key string, st *runbook.Step, v string) error {
	retryAsks := st.OnFailure != nil && st.OnFailure.Retry != nil && st.OnFailure.Retry.Ask
	switch flag {
	case "outcome":
		if v != "succeeded" && v != "failed" && v != "rerun" {
			return usagef("--outcome %s=%s: say succeeded, failed or rerun", key, v)
		}
	case "retry", "skip", "abort":
		if strings.TrimSpace(v) == "" {
			return usagef("--%s %s=: give the reason after the =, it goes into the report (--%s %s=\"the lock was released\")", flag, key, flag, key)
		}
	case "confirm":
		switch {
		case v == "retry" && retryAsks:
		case v == "retry":
			return usagef("--confirm %s=retry: step %s does not ask before it retries; to retry it after a failure give --retry %s=REASON", key, st.ID, key)
		case st.Kind() == runbook.KindManual && v != "done":
			return usagef("--confirm %s=%s: step %s is manual: acknowledge it with --confirm %s=done once it is done", key, v, st.ID, key)
		case st.Kind() == runbook.KindManual, st.Destructive:
			// done for a manual step; a destructive step's token is
			// checked by the engine when the step is reached, and a wrong
			// one is refused and journaled there
		default:
			return usagef("--confirm %s=%s: step %s is neither destructive nor manual and does not ask before a retry: there is nothing to confirm (to decide about a failed step: --retry, --skip or --abort %s=REASON)", key, v, st.ID, key)
		}
	}
	return nil
}

func stepIDs(rb *runbook.Runbook) []string {
	ids := make([]string, len(rb.Steps))
	for i, st := range rb.Steps {
		ids[i] = st.ID
	}
	return ids
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run RUNBOOK",
		Short: "Run a runbook (a shipped id or a file) against a target",
		Long: `run walks through a runbook, a shipped id (drillbook list) or a file, on a
target: the built-in simulated training estate, or an estate of the targets
file (--target NAME; drillbook targets lists them, drillbook docs targets
describes the file). Every step is journaled under the state directory
before it has any effect, so an interrupted run resumes where it stood
(drillbook resume) and the journal becomes the report (drillbook report).

Parameters come from the target's params:, then --param NAME=VALUE; a
secret parameter only from DRILLBOOK_PARAM_NAME or a prompt, never a flag.

In a terminal the run opens in the screen: the form with the parameters,
then each step with its command, output and log. With --plain, or when
standard output is not a terminal, it prints line by line, and every
question is answered on the command line: a destructive step needs
--confirm STEP=TOKEN (its token is the server or engine it acts on; plan
lists them), a manual step --confirm STEP=done, a failed step --retry,
--skip or --abort STEP=REASON. A question with no answer stops the run,
resumable, and prints the resume command to copy, with the flags this run
was given. --yes and --scenario are for simulated targets only.

Exit codes: 0 succeeded, 1 a step failed or the run was aborted, 2 bad
input (nothing ran), 3 an answer is needed, 4 interrupted, 5 timed out
(drillbook docs exit-codes).`,
		Example: `  drillbook run was-sib-restore-me                      # on the training target, in the screen
  drillbook run demo.yaml --plain --param workdir=/tmp/x --confirm wipe=demo --confirm tell=done
  drillbook run was-sib-restore-me --target prod-cell --param engines=ME1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runRun(cmd.Context(), g, o, args[0]) },
	}
	o.flags(cmd)
	o.answerFlags(cmd)
	cmd.Flags().StringVar(&o.purpose, "purpose", "", "why the run is made: incident, drill or routine (default: the target's purpose:, else drill on a simulated target, incident on a real one)")
	return cmd
}

// parseStepValues splits repeatable STEP=VALUE flags.
func parseStepValues(flag string, kvs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: write STEP=VALUE", flag, kv)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions, ref string) error {
	rb, err := g.loadRunbook(ref)
	if err != nil {
		return err
	}
	if len(o.outcomes) > 0 {
		return usagef("--outcome is for `drillbook resume`: a new run has nothing to reconcile")
	}
	ans, err := o.parseAnswers(rb)
	if err != nil {
		return err
	}
	notes, err := parseNotes(rb, o)
	if err != nil {
		return err
	}
	purpose, err := parsePurposeFlag(o.purpose)
	if err != nil {
		return err
	}
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	// A state directory that cannot take the run's journal (read-only,
	// missing and not creatable, a full file system) is refused before the
	// lock, the estate or anything else is touched.
	if err := runbook.CheckStateDir(state); err != nil {
		return err
	}
	op, host := operator(g.io.Getenv)
	target := o.target
	if target == "" {
		target = runbook.TrainingTarget
	}
	interactive := !o.plain && g.io.Terminal()
	if interactive {
		if err := o.screenAnswers(); err != nil {
			return err
		}
	}
	// Take the lock before starting anything: a second run against a busy
	// target must be refused before it touches the estate.
	lock, err := runbook.AcquireLock(state, rb.ID, target, runbook.LockInfo{User: op, Host: host, PID: os.Getpid(), Since: now()})
	if err != nil {
		return err
	}
	defer lock.Release() // a no-op once the session has released it
	if interactive {
		// The form, on any target: the target's values and --param fill
		// it, and it says next to each parameter what is wrong with it.
		given, err := paramFlags(rb, o.params)
		if err != nil {
			return err
		}
		return runHome(ctx, g, homeOptions{target: target, scenario: o.scenario, given: given, open: rb, lock: lock, purpose: purpose, notes: notes})
	}
	est, err := openEstate(ctx, g, target, o.scenario, rb, true)
	if err != nil {
		return err
	}
	defer est.Close()
	est.printWarnings(g)
	if o.yes && !est.target.Simulated {
		return usagef("--yes is refused for %s: it is a real target; confirm each destructive step with --confirm STEP=TOKEN", est.target.Name)
	}
	vals, err := resolveParams(g, rb, est.target.Name, est.params, o.params, false)
	if err != nil {
		return err
	}
	sess, err := runbook.Start(runbook.NewSession{StateDir: state, Runbook: rb, Target: est.target, Scenario: o.scenario,
		Params: vals, Specs: est.registry.Specs(), Operator: op, Host: host, Version: version, Now: now(), Lock: lock, ExtraHide: est.hide,
		Build: ptr(buildInfo()), Purpose: purpose})
	if err != nil {
		return err
	}
	sess.First = append(sess.First, notes...)
	return drive(ctx, g, o, sess, est, ans, interactive)
}

// screenAnswers refuses the plain-mode answers in the screen, where the
// operator answers each question on the screen: a flag that would be
// ignored is an error.
func (o *runOptions) screenAnswers() error {
	for _, f := range []struct {
		name string
		set  bool
	}{{"yes", o.yes}, {"confirm", len(o.confirms) > 0}, {"outcome", len(o.outcomes) > 0}, {"retry", len(o.retries) > 0}, {"skip", len(o.skips) > 0}, {"abort", len(o.aborts) > 0}} {
		if f.set {
			return usagef("--%s answers questions in plain mode: add --plain, or answer each question on the screen", f.name)
		}
	}
	return nil
}

// paramFlags reads --param NAME=VALUE flags for the form: each must name a
// parameter of the runbook, and a secret is never taken from one.
func paramFlags(rb *runbook.Runbook, flags []string) (map[string]string, error) {
	names := make([]string, 0, len(rb.Params))
	for _, p := range rb.Params {
		names = append(names, p.Name)
	}
	given := map[string]string{}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--param %q: write NAME=VALUE", kv)
		}
		p, ok := rb.Param(k)
		if !ok {
			return nil, usagef("--param %s: runbook %s has no parameter %s; its parameters are %s", k, rb.ID, k, strings.Join(names, ", "))
		}
		if p.Type == runbook.TypeSecret {
			return nil, usagef("--param %s: secret parameters are never taken from the command line (it lands in shell history): set %s or type it in the form", k, runbook.EnvName(k))
		}
		given[k] = v
	}
	return given, nil
}

// resumeFlags are the flags of this run that its resume needs to go on
// the same way: --plain and --yes, when given.
func (o *runOptions) resumeFlags() []string {
	var out []string
	if o.plain {
		out = append(out, "--plain")
	}
	if o.yes {
		out = append(out, "--yes")
	}
	return out
}

// stepID strips an instance suffix: "per-item[2]" names step "per-item".
func stepID(key string) string {
	id, _, _ := strings.Cut(key, "[")
	return id
}

// drive runs a session in plain mode or in the screen and maps how it ended
// to an exit code.
func drive(ctx context.Context, g *globalOptions, o *runOptions, sess *runbook.Session, est *estate, ans answers, interactive bool) error {
	defer sess.Close()
	if interactive {
		return driveScreen(ctx, g, sess, est)
	}
	ui := &plainUI{w: bufio.NewWriterSize(g.io.Out, 64<<10), ans: ans, yes: o.yes, runID: sess.RunID, simulated: est.target.Simulated,
		ahead: sess.Engine.Preview(est.registry), secrets: sess.Secrets,
		withFlags: func(msg string) string { return g.withFlags(msg, o.resumeFlags()...) }, planCmd: g.planCommand(sess), fileHosts: est.watchFileHosts}
	fmt.Fprintf(g.io.Out, "run: %s\n", sess.RunID)
	fmt.Fprintf(g.io.Out, "purpose: %s\n", sess.Meta.RunPurpose())
	r := runbook.NewRunner(runbook.RunnerConfig{Engine: sess.Engine, Registry: est.registry, Watcher: est.watcher,
		Journal: sess.Journal, Frontend: ui, Secrets: sess.Secrets})
	ui.runner = r
	if g.io.onRun != nil {
		g.io.onRun(sess, r)
	}
	out, err := r.Run(ctx, sess.First...)
	if err != nil {
		return fmt.Errorf("run %s: %w", sess.RunID, err)
	}
	code := outcomeCode(out)
	ui.closing(out, code)
	ui.w.Flush()
	if code != exitOK {
		return exitStatus{code: code}
	}
	return nil
}

func newResumeCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "resume RUN|last",
		Short: "Reopen an interrupted run where it stood; a step that was in flight is reconciled, not re-run",
		Long: `resume reopens a run that stopped before it ended (a question with no answer,
a quit, a signal, a crash) on the same target with the same parameters, from
its own copy of the runbook. A step that was running when drillbook stopped
is reconciled: its verify decides what happened, or the operator says it
(--outcome STEP=succeeded, failed or rerun); a destructive step is never run
again without a new confirmation. Secret parameters are asked again
(DRILLBOOK_PARAM_NAME or a prompt): they were never written down.

RUN is a run id, an unambiguous part of one, or last (drillbook runs lists
them). The answer flags work as for drillbook run.`,
		Example: `  drillbook resume 20261123-081500-demo-shell-3fa2c1
  drillbook resume 3fa2c1 --plain --outcome wipe=succeeded --confirm tell=done`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return resumeRun(cmd.Context(), g, o, args[0]) },
	}
	o.answerFlags(cmd)
	return cmd
}

func resumeRun(ctx context.Context, g *globalOptions, o *runOptions, id string) error {
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	if err := runbook.CheckStateDir(state); err != nil {
		return err
	}
	dir, err := runbook.FindRun(state, id)
	if err != nil {
		return usageError{err}
	}
	jd, err := runbook.ReadJournal(filepath.Join(dir, runbook.JournalFile))
	if err != nil {
		return usageError{err}
	}
	rb, err := runbook.ParseFile(filepath.Join(dir, runbook.RunbookCopy))
	if err != nil {
		return err
	}
	ans, err := o.parseAnswers(rb)
	if err != nil {
		return err
	}
	notes, err := parseNotes(rb, o)
	if err != nil {
		return err
	}
	op, host := operator(g.io.Getenv)
	lock, err := runbook.AcquireLock(state, jd.Meta.RunbookID, jd.Meta.Target, runbook.LockInfo{User: op, Host: host, PID: os.Getpid(), Since: now(), RunID: jd.Meta.RunID})
	if err != nil {
		return err
	}
	defer lock.Release() // a no-op once the session has released it
	est, err := openEstate(ctx, g, jd.Meta.Target, jd.Meta.Scenario, rb, false)
	if err != nil {
		return err
	}
	defer est.Close()
	est.printWarnings(g)
	if o.yes && !est.target.Simulated {
		return usagef("--yes is refused for %s: it is a real target", est.target.Name)
	}
	interactive := !o.plain && g.io.Terminal()
	if interactive {
		if err := o.screenAnswers(); err != nil {
			return err
		}
	}
	sess, err := runbook.Resume(runbook.ResumeSession{StateDir: state, RunID: jd.Meta.RunID, Specs: est.registry.Specs(),
		Operator: op, Host: host, Now: now(),
		Secret: func(name string) (string, error) {
			if v := g.io.Getenv(runbook.EnvName(name)); v != "" {
				return v, nil
			}
			if v, ok := est.params[name]; ok && est.target.Simulated {
				return v, nil
			}
			if interactive {
				return readSecret(name + " (asked again: secrets are never journaled): ")
			}
			return "", usagef("secret parameter %s is needed to resume: set %s", name, runbook.EnvName(name))
		}, Lock: lock, ExtraHide: est.hide})
	if err != nil {
		return err
	}
	sess.First = append(sess.First, notes...)
	return drive(ctx, g, o, sess, est, ans, interactive)
}
