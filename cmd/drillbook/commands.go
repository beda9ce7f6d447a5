package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/runbook"
)

type listOptions struct {
	ops bool
}

func newListCmd(g *globalOptions) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the shipped runbooks (and those in --runbooks directories)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return listRun(g, o) },
	}
	cmd.Flags().BoolVar(&o.ops, "ops", false, "list the adapter operations runbooks can call, with their arguments")
	return cmd
}

func listRun(g *globalOptions, o *listOptions) error {
	w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	if o.ops {
		for _, s := range allSpecs() {
			mark := ""
			switch {
			case s.Destructive && s.Object != "":
				mark = " [destructive; acts on: " + s.Object + "]"
			case s.Destructive:
				mark = " [destructive]"
			case s.ReadOnly:
				mark = " [read-only]"
			}
			fmt.Fprintf(w, "%s\t%s%s\n", s.Name, s.Summary, mark)
			for _, a := range s.Args {
				req := ""
				if a.Required {
					req = ", required"
				}
				fmt.Fprintf(w, "  %s\t(%s%s) %s\n", a.Name, a.Kind, req, a.Doc)
			}
		}
		return w.Flush()
	}
	shipped, err := shippedRunbooks()
	if err != nil {
		return fmt.Errorf("a shipped runbook does not parse: %w", err)
	}
	more, derr := g.dirRunbooks()
	fmt.Fprintf(w, "ID\tPRODUCT\tTITLE\tSOURCE\n")
	for _, rb := range append(shipped, more...) {
		product := rb.Product
		if product == "" {
			product = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", rb.ID, product, rb.Title, rb.Source.Doc)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return derr
}

func newValidateCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check runbook files without running anything; every problem as file:line:col",
		Long: `validate reads each runbook file strictly and checks it against the operations
of every adapter, without running anything, and prints every problem as
file:line:col: message.

Your editor can show most of these problems as you type, and complete
every field, operation and argument: runbook.schema.json is a JSON Schema
of the format for the YAML language server (VS Code's YAML extension,
yamlls, IntelliJ). make install puts it in $(PREFIX)/share/drillbook/schema;
drillbook docs schema/runbook.schema.json prints it. Name it on the first
line of a runbook:

  # yaml-language-server: $schema=/usr/local/share/drillbook/schema/runbook.schema.json

The schema checks the file's shape; validate checks the rest too
(templates, step references, destructive marks).`,
		Example: `  drillbook validate my-runbook.yaml
  drillbook validate runbooks/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return validateRun(g, args) },
	}
}

func validateRun(g *globalOptions, files []string) error {
	specs := allSpecs()
	bad := 0
	for _, f := range files {
		rb, err := runbook.ValidateFile(f, specs)
		if err != nil {
			bad++
			var probs runbook.Problems
			if errors.As(err, &probs) {
				for _, p := range probs {
					fmt.Fprintln(g.io.Err, p.String())
				}
				continue
			}
			fmt.Fprintf(g.io.Err, "%s: %v\n", f, err)
			continue
		}
		fmt.Fprintf(g.io.Out, "%s: ok (%s, %d steps)\n", f, rb.ID, len(rb.Steps))
		for _, w := range runbook.PatternWarnings(rb) {
			fmt.Fprintln(g.io.Err, w.String())
		}
	}
	if bad > 0 {
		return exitStatus{code: exitUsage, msg: fmt.Sprintf("%d of %d files have problems", bad, len(files))}
	}
	return nil
}

type paramOptions struct {
	target   string
	params   []string
	scenario string
}

func (p *paramOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.target, "target", runbook.TrainingTarget, "the estate to run against (a name in targets.yaml, or training)")
	cmd.Flags().StringArrayVar(&p.params, "param", nil, "a parameter value, NAME=VALUE (repeatable; lists comma-separated; secrets only from DRILLBOOK_PARAM_NAME)")
	cmd.Flags().StringVar(&p.scenario, "scenario", "", "a fault to inject on a simulated target (see docs/training.md)")
}

// resolveParams merges the target's values, --param and the environment,
// then checks them against the runbook. prompt asks for a missing secret.
func resolveParams(g *globalOptions, rb *runbook.Runbook, target string, fromTarget map[string]string, flags []string, prompt bool) (runbook.ParamValues, error) {
	given := map[string]string{}
	for k, v := range fromTarget {
		if _, ok := rb.Param(k); ok {
			given[k] = v // secrets among them are a simulated target's training values
		}
	}
	var names []string
	for _, p := range rb.Params {
		names = append(names, p.Name)
	}
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
			return nil, usagef("--param %s: secret parameters are never taken from the command line (it lands in shell history): set %s", k, runbook.EnvName(k))
		}
		given[k] = v
	}
	for _, p := range rb.Params {
		if p.Type != runbook.TypeSecret {
			continue
		}
		if v := g.io.Getenv(runbook.EnvName(p.Name)); v != "" {
			given[p.Name] = v
			continue
		}
		if _, ok := given[p.Name]; !ok && p.Required && prompt {
			s, err := readSecret(fmt.Sprintf("%s (%s): ", p.Name, p.Description))
			if err != nil {
				return nil, usagef("read secret parameter %s: %w: set %s instead", p.Name, err, runbook.EnvName(p.Name))
			}
			given[p.Name] = s
		}
	}
	vals, err := runbook.ResolveParams(rb, given)
	if err != nil {
		src := map[string]string{}
		for k := range fromTarget {
			src[k] = "from the params of target " + target
		}
		for _, kv := range flags {
			k, _, _ := strings.Cut(kv, "=")
			src[k] = "given with --param " + k
		}
		for _, p := range rb.Params {
			if p.Type == runbook.TypeSecret && g.io.Getenv(runbook.EnvName(p.Name)) != "" {
				src[p.Name] = "from " + runbook.EnvName(p.Name)
			}
		}
		return nil, paramProblems(err, src)
	}
	return vals, nil
}

// paramProblems rewrites what is wrong with the parameter values for the
// command line: each problem names the parameter and where its value came
// from (the flag, the target, the environment), not the place in the
// runbook file (for a shipped runbook, inside drillbook itself) where the
// parameter is declared.
func paramProblems(err error, src map[string]string) error {
	var probs runbook.Problems
	if !errors.As(err, &probs) {
		return err
	}
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = p.Msg
		name, _, _ := strings.Cut(strings.TrimPrefix(p.Msg, "parameter "), ":")
		name, _, _ = strings.Cut(name, " ")
		if s, ok := src[name]; ok {
			msgs[i] += " (" + s + ")"
		}
	}
	return usageError{errors.New(strings.Join(msgs, "\n"))}
}

func newPlanCmd(g *globalOptions) *cobra.Command {
	o := &paramOptions{}
	cmd := &cobra.Command{
		Use:   "plan RUNBOOK",
		Short: "Print every step with its resolved command, host, log patterns, timeouts and destructive marks",
		Example: `  drillbook plan was-sib-restore-me
  drillbook plan ./my-runbook.yaml --target prod-cell --param engines=ME1,ME2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return planRun(cmd, g, o, args[0]) },
	}
	o.flags(cmd)
	return cmd
}

func planRun(cmd *cobra.Command, g *globalOptions, o *paramOptions, ref string) error {
	rb, err := g.loadRunbook(ref)
	if err != nil {
		return err
	}
	est, err := openEstateMode(cmd.Context(), g, o.target, o.scenario, rb, modePlan)
	if err != nil {
		return err
	}
	defer est.Close()
	est.printWarnings(g)
	vals, err := resolveParams(g, rb, est.target.Name, est.params, o.params, false)
	if err != nil {
		return err
	}
	eng, err := runbook.NewEngine(rb, est.registry.Specs(), vals)
	if err != nil {
		return err
	}
	secrets := rb.Secrets(vals)
	out := g.io.Out
	kind := ""
	if est.target.Simulated {
		kind = " (SIMULATED)"
	}
	fmt.Fprintf(out, "%s: %s\ntarget: %s%s\n", rb.ID, rb.Title, est.target.Name, kind)
	if rb.Source.Doc != "" {
		fmt.Fprintf(out, "source: %s\n", rb.Source)
	}
	if d := strings.TrimSpace(rb.Description); d != "" {
		fmt.Fprintf(out, "about: %s\n", indent(d, "       "))
	}
	// On a simulated target, say which calls are real all the same: a
	// shell or file step acts on this machine, not on the simulation.
	real := func(op string) bool { return est.target.Simulated && !est.registry.Simulated(op) }
	var checks map[string]runbook.PreflightResult
	if len(rb.Preflight) > 0 && !est.target.Simulated {
		checks = map[string]runbook.PreflightResult{}
		for _, r := range eng.CheckPreflight(cmd.Context(), est.registry) {
			checks[r.Key] = r
		}
	}
	section := runbook.SectionMain
	for i, ps := range eng.Preview(est.registry) {
		if ps.Section != section {
			section = ps.Section
			fmt.Fprintf(out, "\n%s\n", sectionHeading(section, est.target.Simulated))
		}
		fmt.Fprintf(out, "\n%d. %s [%s] %s\n", i+1, ps.Key, ps.Kind, ps.Title)
		if ps.Source.Doc != "" {
			fmt.Fprintf(out, "   source: %s\n", ps.Source)
		}
		if ps.Skipped {
			fmt.Fprintf(out, "   SKIPPED: %s; it would have run:\n", ps.Reason)
		} else if ps.Reason != "" {
			fmt.Fprintf(out, "   %s\n", ps.Reason)
		}
		if ps.Notes != "" {
			fmt.Fprintf(out, "   note: %s\n", runbook.Redact(indent(ps.Notes, "         "), secrets))
		}
		switch {
		case ps.Destructive && ps.ConfirmLater:
			fmt.Fprintf(out, "   DESTRUCTIVE: runs only after typing its token %s, known at run time (plain mode: --confirm %s=TOKEN)\n", ps.Confirm, stepID(ps.Key))
		case ps.Destructive:
			fmt.Fprintf(out, "   DESTRUCTIVE: runs only after typing %q (plain mode: --confirm %s=%s)\n", ps.Confirm, stepID(ps.Key), ps.Confirm)
		}
		if ps.Manual != "" {
			fmt.Fprintf(out, "   manual: %s\n", runbook.Redact(indent(ps.Manual, "           "), secrets))
			fmt.Fprintf(out, "   (plain mode: --confirm %s=done once it is done)\n", stepID(ps.Key))
		}
		for _, c := range ps.Calls {
			printPlannedCall(out, c, secrets, real(c.Op))
		}
		if r, ok := checks[ps.Key]; ok {
			switch {
			case r.Skipped:
			case r.Err != nil:
				fmt.Fprintf(out, "   CHECK FAILS NOW: %s\n", runbook.Redact(r.Err.Error(), secrets))
			default:
				fmt.Fprintf(out, "   check passes now: %s\n", runbook.Redact(r.Summary, secrets))
			}
			for _, w := range r.Warnings {
				fmt.Fprintf(out, "   warning: %s\n", runbook.Redact(w, secrets))
			}
		}
		if ps.Poll != nil {
			fmt.Fprintf(out, "   poll every %s until it succeeds:\n", ps.Every)
			printPlannedCall(out, *ps.Poll, secrets, real(ps.Poll.Op))
		}
		if w := ps.Watch; w != nil {
			fmt.Fprintf(out, "   watch %s\n", est.describeWatch(*w))
			fmt.Fprintf(out, "     success: %s", strings.Join(w.Success, " | "))
			if len(w.Failure) > 0 {
				fmt.Fprintf(out, "  failure: %s", strings.Join(w.Failure, " | "))
			}
			if len(w.Warn) > 0 {
				fmt.Fprintf(out, "  warn: %s", strings.Join(w.Warn, " | "))
			}
			if w.Engine != "" {
				fmt.Fprintf(out, "  engine: %s", w.Engine)
			}
			fmt.Fprintln(out)
		}
		var limits []string
		if ps.Timeout > 0 {
			limits = append(limits, "timeout "+ps.Timeout.String())
		}
		if ps.Expected > 0 {
			limits = append(limits, "expected "+ps.Expected.String())
		}
		limits = append(limits, "on failure: "+ps.OnFailure)
		if ps.Next != "" {
			limits = append(limits, "then go to "+ps.Next)
		}
		fmt.Fprintf(out, "   %s\n", strings.Join(limits, "; "))
	}
	return nil
}

// sectionHeading introduces the steps of a runbook section in `plan`.
func sectionHeading(s runbook.Section, simulated bool) string {
	switch s {
	case runbook.SectionPreflight:
		if simulated {
			return "preflight: checks that change nothing, run before the first step (plan does not start the simulated estate, so they run with the run)"
		}
		return "preflight: checks that change nothing, run before the first step; plan has run them now"
	case runbook.SectionFinally:
		return "finally: run when the run ends (succeeded, failed or aborted after preflight), not when it is interrupted"
	}
	return "steps:"
}

// printPlannedCall prints one call of a planned step: the command or
// request as it will run, or as far as it is known before the run, and the
// values known only at run time. real marks a call that is not simulated on
// a simulated target.
func printPlannedCall(out io.Writer, c runbook.PlannedCall, secrets []string, real bool) {
	line := c.Plan.Summary()
	if c.Pending != "" || strings.TrimSpace(line) == "" {
		line = strings.TrimSpace(c.Op + " " + c.Args)
	}
	phase := string(c.Phase)
	if real {
		phase += " (REAL, not simulated)"
	}
	fmt.Fprintf(out, "   %s: %s\n", phase, runbook.Redact(line, secrets))
	for _, v := range c.RunTime {
		fmt.Fprintf(out, "     known at run time: %s\n", v)
	}
	if c.Pending != "" {
		fmt.Fprintf(out, "     (%s)\n", c.Pending)
	}
	if c.Plan.Object != "" {
		fmt.Fprintf(out, "     acts on: %s\n", runbook.Redact(c.Plan.Object, secrets))
	}
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+prefix)
}

func newRunsCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "runs",
		Short: "List journaled runs, newest first, with their status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			state, err := g.resolveStateDir()
			if err != nil {
				return err
			}
			runs, err := runbook.ListRuns(state)
			if err != nil {
				return err
			}
			if len(runs) == 0 {
				fmt.Fprintf(g.io.Out, "no runs in %s yet: start one with %s\n", runbook.RunsDir(state), g.withFlags("`drillbook run RUNBOOK`"))
				return nil
			}
			w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tPURPOSE\tTARGET\tSTATUS\tAT STEP\tSTARTED (UTC)\tOPERATOR\tJOURNAL")
			for _, r := range runs {
				if r.Problem != "" {
					// The journal fails its check, or cannot be read: the
					// problem names the line and what to do.
					status := "unreadable"
					if r.Damaged {
						status = "damaged"
					}
					fmt.Fprintf(w, "%s\t-\t-\t%s\t-\t-\t-\t%s\n", r.Meta.RunID, status, oneLine(r.Problem))
					continue
				}
				status := string(r.Status)
				switch r.Status {
				case runbook.RunInterrupted:
					status = "resumable"
				case runbook.RunRunning:
					status = "running"
				}
				step := r.Step
				if r.Status.Final() || step == "" {
					step = "-"
				}
				target := r.Meta.Target
				if r.Meta.Simulated {
					target += " (sim)"
				}
				journal := "checked"
				if r.Unchecked {
					journal = "unchecked (written before checksums)"
				}
				if r.Torn {
					journal += ", torn last record"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Meta.RunID, r.Meta.RunPurpose(), oneLine(target), status, oneLine(step), r.Meta.Started.Format("2006-01-02 15:04"), oneLine(r.Meta.Operator), journal)
			}
			return w.Flush()
		},
	}
}

// oneLine keeps a value from a journal on one line of a table.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", " ").Replace(s)
}

type reportOptions struct {
	format string
	output string
}

func newReportCmd(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RUN|last",
		Short: "Render a run's journal as an incident or drill record (Markdown, JSON, HTML or JUnit XML)",
		Long: `report renders a run's journal: who ran what, where and why, every step
with its work time and the time it waited for the operator, the commands
(secrets masked), exit codes, the log lines that proved success, notes,
confirmations, and every deviation with its reason and outcome.

Formats: md (the default), json (docs/report.schema.json), html (one
self-contained file with a timeline, for the ticket; prints well), junit
(each step a test case, for a CI's test view).`,
		Example: `  drillbook report 20261123-081500-was-sib-restore-me-3fa2c1
  drillbook report last --format html -o drill.html
  drillbook report 3fa2c1 --format json -o drill.json
  drillbook report last --format junit -o drill-junit.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			write, ok := reportFormats()[o.format]
			if !ok {
				return usagef("--format %q: use md, json, html or junit", o.format)
			}
			jd, err := readRun(g, args[0])
			if err != nil {
				return err
			}
			rep := runbook.BuildReport(jd)
			return writeOut(g, "report", o.output, func(w io.Writer) error { return write(rep, w) })
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "md", "md, json, html or junit")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to a file instead of standard output")
	return cmd
}

func newWatchCmd(g *globalOptions) *cobra.Command {
	o := logwatch.CLIOptions{}
	var target, hostName string
	cmd := &cobra.Command{
		Use:   "watch --log FILE --success PATTERN",
		Short: "Follow log files until a success or failure pattern appears (exit 0, 1; 5 on timeout)",
		Long: `watch follows one or more log files from their current end (or --from start
or a byte offset), through rotations and truncation, and prints each matching
record. A pattern that is a message id such as CWSIP0783 matches that
message with any severity letter; anything else is a regular expression.`,
		Example: logwatch.CLIExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			closeHosts, err := watchOnHost(g, &o, target, hostName)
			if err != nil {
				return err
			}
			defer closeHosts()
			code := logwatch.RunCLI(cmd.Context(), o, g.io.Out, g.io.Err)
			if code != 0 {
				return exitStatus{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Logs, "log", nil, "a log file to follow (repeatable)")
	f.StringArrayVar(&o.Success, "success", nil, "a success pattern (repeatable)")
	f.StringArrayVar(&o.Failure, "failure", nil, "a failure pattern (repeatable)")
	f.StringArrayVar(&o.Warn, "warn", nil, "a warning pattern: printed, the watch goes on (repeatable)")
	f.StringVar(&o.Engine, "engine", "", "only records of this messaging engine")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long (exit 5)")
	f.StringVar(&o.From, "from", "end", "where to start: end, start, or a byte offset")
	f.StringVar(&hostName, "host", "", "the host the logs are on, a name under hosts: of --target (default: this machine)")
	f.StringVar(&target, "target", "", "the target whose hosts: --host names")
	return cmd
}
