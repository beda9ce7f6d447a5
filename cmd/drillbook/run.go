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
	yes      bool
}

func (o *runOptions) answerFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.plain, "plain", false, "print line by line instead of opening the screen (the default when stdout is not a terminal)")
	f.StringArrayVar(&o.confirms, "confirm", nil, "STEP=TOKEN: confirm a destructive step by its token, or STEP=done for a manual step, STEP=retry to allow a retry (repeatable)")
	f.StringArrayVar(&o.outcomes, "outcome", nil, "STEP=succeeded|failed|rerun: what happened to a step that was running when drillbook stopped (resume)")
	f.BoolVar(&o.yes, "yes", false, "confirm every destructive step and acknowledge every manual step (simulated targets only)")
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run RUNBOOK",
		Short: "Run a runbook (a shipped id or a file) against a target",
		Example: `  drillbook run was-sib-restore-me                      # on the training target, in the screen
  drillbook run demo.yaml --plain --param workdir=/tmp/x --confirm wipe=demo --confirm tell=done
  drillbook run was-sib-restore-me --target prod-cell --param engines=ME1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runRun(cmd.Context(), g, o, args[0]) },
	}
	o.flags(cmd)
	o.answerFlags(cmd)
	return cmd
}

// parseAnswers splits repeatable STEP=VALUE flags.
func parseAnswers(flag string, kvs []string) (map[string][]string, error) {
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
	confirms, err := parseAnswers("confirm", o.confirms)
	if err != nil {
		return err
	}
	if len(o.outcomes) > 0 {
		return usagef("--outcome is for `drillbook resume`: a new run has nothing to reconcile")
	}
	for step := range confirms {
		if _, ok := rb.StepByID(stepID(step)); !ok {
			return usagef("--confirm %s: runbook %s has no step %s", step, rb.ID, stepID(step))
		}
	}
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	op, host := operator(g.io.Getenv)
	target := o.target
	if target == "" {
		target = runbook.TrainingTarget
	}
	// Take the lock before starting anything: a second run against a busy
	// target must be refused before it touches the estate.
	lock, err := runbook.AcquireLock(state, rb.ID, target, runbook.LockInfo{User: op, Host: host, PID: os.Getpid(), Since: now()})
	if err != nil {
		return err
	}
	defer lock.Release() // a no-op once the session has released it
	est, err := openEstate(ctx, g, target, o.scenario, rb, true)
	if err != nil {
		return err
	}
	defer est.Close()
	if o.yes && !est.target.Simulated {
		return usagef("--yes is refused for %s: it is a real target; confirm each destructive step with --confirm STEP=TOKEN", est.target.Name)
	}
	interactive := !o.plain && g.io.Terminal()
	vals, err := resolveParams(g, rb, est.params, o.params, interactive)
	if err != nil {
		return err
	}
	sess, err := runbook.Start(runbook.NewSession{StateDir: state, Runbook: rb, Target: est.target, Scenario: o.scenario,
		Params: vals, Specs: est.registry.Specs(), Operator: op, Host: host, Version: version, Now: now(), Lock: lock, ExtraHide: est.hide})
	if err != nil {
		return err
	}
	return drive(ctx, g, o, sess, est, confirms, nil, interactive)
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
func drive(ctx context.Context, g *globalOptions, o *runOptions, sess *runbook.Session, est *estate, confirms, outcomes map[string][]string, interactive bool) error {
	defer sess.Close()
	if interactive {
		return driveScreen(ctx, g, sess, est)
	}
	ui := &plainUI{w: bufio.NewWriterSize(g.io.Out, 64<<10), confirms: confirms, outcomes: outcomes, yes: o.yes, runID: sess.RunID,
		hint: func(msg string) string { return g.withFlags(msg, o.resumeFlags()...) }}
	fmt.Fprintf(g.io.Out, "run: %s\n", sess.RunID)
	r := runbook.NewRunner(runbook.RunnerConfig{Engine: sess.Engine, Registry: est.registry, Watcher: est.watcher,
		Journal: sess.Journal, Frontend: ui, Secrets: sess.Secrets})
	ui.runner = r
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
		Example: `  drillbook resume 20261123-081500-demo-shell-3fa2c1
  drillbook resume 3fa2c1 --plain --outcome wipe=succeeded --confirm tell=done`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return resumeRun(cmd.Context(), g, o, args[0]) },
	}
	o.answerFlags(cmd)
	return cmd
}

func resumeRun(ctx context.Context, g *globalOptions, o *runOptions, id string) error {
	confirms, err := parseAnswers("confirm", o.confirms)
	if err != nil {
		return err
	}
	outcomes, err := parseAnswers("outcome", o.outcomes)
	if err != nil {
		return err
	}
	for step, vs := range outcomes {
		for _, v := range vs {
			if v != "succeeded" && v != "failed" && v != "rerun" {
				return usagef("--outcome %s=%s: say succeeded, failed or rerun", step, v)
			}
		}
	}
	state, err := g.resolveStateDir()
	if err != nil {
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
	if o.yes && !est.target.Simulated {
		return usagef("--yes is refused for %s: it is a real target", est.target.Name)
	}
	interactive := !o.plain && g.io.Terminal()
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
	return drive(ctx, g, o, sess, est, confirms, outcomes, interactive)
}
