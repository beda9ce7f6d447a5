package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/runbook"
)

// buildInfo is this drillbook's build: the version set at link time, else
// the module version, with the revision, its time and the dirty flag Go
// records in the binary.
func buildInfo() runbook.BuildInfo { return runbook.ReadBuildInfo(version) }

func ptr[T any](v T) *T { return &v }

// versionRun prints the build, one fact a line after the first.
func versionRun(w io.Writer) error {
	b := buildInfo()
	fmt.Fprintf(w, "drillbook %s\n", b)
	if b.Revision != "" {
		fmt.Fprintf(w, "revision: %s\n", b.Revision)
	} else {
		fmt.Fprintf(w, "revision: unknown (built without version control information)\n")
	}
	if !b.Time.IsZero() {
		fmt.Fprintf(w, "committed: %s\n", b.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if b.Dirty {
		fmt.Fprintf(w, "dirty: the work tree it was built from had changes not in the revision\n")
	}
	if b.Go != "" {
		fmt.Fprintf(w, "go: %s\n", b.Go)
	}
	return nil
}

// noteFlags adds --note and --run-note to run and resume.
func noteFlags(cmd *cobra.Command, o *runOptions) {
	f := cmd.Flags()
	f.StringArrayVar(&o.notes, "note", nil, "STEP=TEXT: a note on a step, kept in the journal and the report (repeatable; secrets are masked)")
	f.StringArrayVar(&o.runNotes, "run-note", nil, "TEXT: a note on the run as a whole (repeatable)")
}

// parseNotes turns --note and --run-note into note inputs, checking that
// each names a step of the runbook.
func parseNotes(rb *runbook.Runbook, o *runOptions) ([]runbook.Input, error) {
	var ins []runbook.Input
	for _, kv := range o.notes {
		step, text, ok := strings.Cut(kv, "=")
		if !ok || step == "" {
			return nil, usagef("--note %q: write STEP=TEXT (a note on the run: --run-note TEXT)", kv)
		}
		if _, ok := rb.StepByID(stepID(step)); !ok {
			return nil, usagef("--note %s: runbook %s has no step %s", step, rb.ID, stepID(step))
		}
		if strings.TrimSpace(text) == "" {
			return nil, usagef("--note %s: the note is empty", step)
		}
		ins = append(ins, runbook.Input{Type: runbook.InNote, Step: step, Note: text})
	}
	for _, text := range o.runNotes {
		if strings.TrimSpace(text) == "" {
			return nil, usagef("--run-note: the note is empty")
		}
		ins = append(ins, runbook.Input{Type: runbook.InNote, Note: text})
	}
	return ins, nil
}

// parsePurposeFlag checks --purpose; "" leaves the target's default.
func parsePurposeFlag(s string) (runbook.Purpose, error) {
	if s == "" {
		return "", nil
	}
	p, err := runbook.ParsePurpose(s)
	if err != nil {
		return "", usagef("--purpose: %w", err)
	}
	return p, nil
}

// reportFormats are the formats `drillbook report` writes.
func reportFormats() map[string]func(*runbook.Report, io.Writer) error {
	return map[string]func(*runbook.Report, io.Writer) error{
		"md":    (*runbook.Report).WriteMarkdown,
		"json":  (*runbook.Report).WriteJSON,
		"html":  (*runbook.Report).WriteHTML,
		"junit": (*runbook.Report).WriteJUnit,
	}
}

// readRun finds a run and reads its journal.
func readRun(g *globalOptions, id string) (*runbook.JournalData, error) {
	state, err := g.resolveStateDir()
	if err != nil {
		return nil, err
	}
	dir, err := runbook.FindRun(state, id)
	if err != nil {
		return nil, usageError{err}
	}
	jd, err := runbook.ReadJournal(filepath.Join(dir, runbook.JournalFile))
	if err != nil {
		return nil, usageError{err}
	}
	return jd, nil
}

// writeOut writes what (a report) with write to standard output or, with
// path set, to that file; a file that did not reach the disk is an error.
func writeOut(g *globalOptions, what, path string, write func(io.Writer) error) error {
	if path == "" {
		return write(g.io.Out)
	}
	f, err := os.Create(path)
	if err != nil {
		return usagef("%s output: %w", what, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s %s: %w", what, path, err)
	}
	// A report that did not reach the disk must not look written.
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s %s: %w", what, path, err)
	}
	return nil
}

type historyOptions struct {
	target  string
	purpose string
	format  string
}

func newHistoryCmd(g *globalOptions) *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history [RUNBOOK]",
		Short: "List the runs of a runbook on a target with their time to recover and its trend",
		Long: `history lists the journaled runs of a runbook (every runbook without one),
one table per runbook and target, oldest first: date, run, operator,
purpose, time to recover, work and operator time, deviations and outcome.
Under each table a sparkline draws the time to recover of every run (✗ a
run that failed, · one that has not ended), and a line says whether the
succeeded runs get faster, slower or hold steady (a least-squares fit; a
change under 10% of the median over the history is steady).`,
		Example: `  drillbook history was-sib-restore-me
  drillbook history was-sib-restore-me --target staging-cell --purpose drill
  drillbook history --format json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rb := ""
			if len(args) == 1 {
				rb = args[0]
			}
			return historyRun(g, o, rb)
		},
	}
	cmd.Flags().StringVar(&o.target, "target", "", "only runs on this target")
	cmd.Flags().StringVar(&o.purpose, "purpose", "", "only runs made for this purpose: incident, drill or routine")
	cmd.Flags().StringVar(&o.format, "format", "text", "text or json")
	return cmd
}

func historyRun(g *globalOptions, o *historyOptions, rb string) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: use text or json", o.format)
	}
	purpose, err := parsePurposeFlag(o.purpose)
	if err != nil {
		return err
	}
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	reps, problems, err := runbook.ReadReports(state)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(g.io.Err, "drillbook: %s\n", p)
	}
	hs := runbook.BuildHistory(reps, rb, o.target, purpose)
	if o.format == "json" {
		return writeJSON(g.io.Out, hs)
	}
	if len(hs) == 0 {
		what := "no runs"
		if rb != "" {
			what += " of " + rb
		}
		if o.target != "" {
			what += " on " + o.target
		}
		if purpose != "" {
			what += " for " + string(purpose)
		}
		fmt.Fprintf(g.io.Out, "%s in %s\n", what, runbook.RunsDir(state))
		return nil
	}
	for i, h := range hs {
		if i > 0 {
			fmt.Fprintln(g.io.Out)
		}
		target := h.Target
		if h.Simulated {
			target += " (simulated)"
		}
		fmt.Fprintf(g.io.Out, "%s on %s: %s\n", h.Runbook, target, h.Title)
		w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "STARTED (UTC)\tRUN\tOPERATOR\tPURPOSE\tTO RECOVER\tWORK\tOPERATOR TIME\tDEVIATIONS\tOUTCOME")
		for _, r := range h.Runs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Started.Format("2006-01-02 15:04"), shortRun(r.RunID), r.Operator,
				r.Purpose, runbook.FormatDuration(r.TimeToRecover), runbook.FormatDuration(r.Work), runbook.FormatDuration(r.OperatorTime),
				r.Deviations, r.Status)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(g.io.Out, "trend %s  %s\n", h.Trend.Sparkline, h.Trend.Describe())
	}
	return nil
}

// shortRun is a run id's random tail, which `drillbook report` accepts.
func shortRun(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i == 7 {
		return id[i+1:]
	}
	return id
}

type compareOptions struct {
	format string
}

func newCompareCmd(g *globalOptions) *cobra.Command {
	o := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare RUN RUN",
		Short: "Set two runs side by side: per step work time, the change, and what changed",
		Long: `compare sets run B beside run A step by step: each step's work time in
both, the change, attempts, and the step that got slower the most; then
what changed between the runs: parameters, the runbook file, drillbook,
target, scenario, purpose, outcome, and per step the state, retries and
deviations.`,
		Example: `  drillbook compare 3fa2c1 9be04d
  drillbook compare 3fa2c1 last --format json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return compareRun(g, o, args[0], args[1]) },
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "text or json")
	return cmd
}

func compareRun(g *globalOptions, o *compareOptions, a, b string) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: use text or json", o.format)
	}
	ja, err := readRun(g, a)
	if err != nil {
		return err
	}
	jb, err := readRun(g, b)
	if err != nil {
		return err
	}
	c := runbook.Compare(runbook.BuildReport(ja), runbook.BuildReport(jb))
	if o.format == "json" {
		return writeJSON(g.io.Out, c)
	}
	out := g.io.Out
	side := func(name string, r runbook.CompareRun) {
		fmt.Fprintf(out, "%s: %s  %s UTC  %s  %s on %s, %s\n", name, r.RunID, r.Started.Format("2006-01-02 15:04"), r.Purpose, r.Operator, r.Target, r.Status)
	}
	side("A", c.A)
	side("B", c.B)
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STEP\tWORK A\tWORK B\tCHANGE\tATTEMPTS A\tATTEMPTS B")
	for _, s := range c.Steps {
		mark := ""
		if c.Slower != nil && s.Key == c.Slower.Key {
			mark = "  ◀ slower most"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s%s\n", s.Key, orDashDur(s.WorkA, s.StateA), orDashDur(s.WorkB, s.StateB),
			runbook.SignedDuration(s.Change), attempts(s.AttemptsA, s.StateA), attempts(s.AttemptsB, s.StateB), mark)
	}
	fmt.Fprintf(w, "time to recover\t%s\t%s\t%s\t\t\n", runbook.FormatDuration(c.A.TimeToRecover), runbook.FormatDuration(c.B.TimeToRecover),
		runbook.SignedDuration(c.B.TimeToRecover-c.A.TimeToRecover))
	fmt.Fprintf(w, "operator time\t%s\t%s\t%s\t\t\n", runbook.FormatDuration(c.A.OperatorTime), runbook.FormatDuration(c.B.OperatorTime),
		runbook.SignedDuration(c.B.OperatorTime-c.A.OperatorTime))
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	if s := c.Slower; s != nil {
		fmt.Fprintf(out, "slower most: %s (%s), work %s → %s (%s)\n", s.Key, s.Title, runbook.FormatDuration(s.WorkA),
			runbook.FormatDuration(s.WorkB), runbook.SignedDuration(s.Change))
	} else {
		fmt.Fprintln(out, "no step got slower")
	}
	if s := c.Faster; s != nil {
		fmt.Fprintf(out, "faster most: %s (%s), work %s → %s (%s)\n", s.Key, s.Title, runbook.FormatDuration(s.WorkA),
			runbook.FormatDuration(s.WorkB), runbook.SignedDuration(s.Change))
	}
	if len(c.Changes) == 0 {
		fmt.Fprintln(out, "what changed: nothing besides the times")
		return nil
	}
	fmt.Fprintln(out, "what changed:")
	for _, ch := range c.Changes {
		fmt.Fprintf(out, "- %s\n", ch)
	}
	return nil
}

func orDashDur(d time.Duration, st runbook.StepState) string {
	switch {
	case st == "":
		return "(not run)"
	case d <= 0:
		return "0s"
	}
	return runbook.FormatDuration(d)
}

func attempts(n int, st runbook.StepState) string {
	if st == "" {
		return "-"
	}
	return fmt.Sprint(n)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
