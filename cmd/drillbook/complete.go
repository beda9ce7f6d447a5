package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
)

// Dynamic shell completion. Every argument and flag value with a closed set
// completes from what drillbook knows at that moment: the runbooks (shipped
// and --runbooks), the journaled runs with their status, the targets of the
// targets file, the scenarios of the runbook's product, its parameters and
// the steps that ask for a --confirm. cobra runs these functions through its
// hidden __complete command, which the bash, zsh and fish scripts of
// `drillbook completion` call; flags given before the word being completed
// (--state-dir, --targets, --runbooks, --target) are parsed first, so the
// answers come from the same files the command would use.

const noFiles = cobra.ShellCompDirectiveNoFileComp

// completeRunbookArg completes a runbook id (with its title), or a runbook
// file when the word looks like a path.
func completeRunbookArg(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		if strings.ContainsAny(toComplete, "/.~") {
			return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		}
		var out []cobra.Completion
		for _, rb := range g.knownRunbooks() {
			if strings.HasPrefix(rb.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(rb.ID, rb.Title))
			}
		}
		return out, noFiles
	}
}

// knownRunbooks returns the shipped runbooks and those of the --runbooks
// directories that parse; completion says nothing about the others.
func (g *globalOptions) knownRunbooks() []*runbook.Runbook {
	shipped, _ := shippedRunbooks()
	more, _ := g.dirRunbooks()
	all := append(shipped, more...)
	sortRunbooks(all)
	return all
}

// completeRunArg completes a run id with its status; resumable says
// whether only runs that have not ended are offered (resume).
func completeRunArg(g *globalOptions, resumable bool) cobra.CompletionFunc {
	return completeRunArgs(g, resumable, 1)
}

// completeRunArgs completes up to n run ids (compare takes two).
func completeRunArgs(g *globalOptions, resumable bool, n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, noFiles
		}
		state, err := g.resolveStateDir()
		if err != nil {
			return nil, noFiles
		}
		runs, err := runbook.ListRuns(state)
		if err != nil {
			return nil, noFiles
		}
		var out []cobra.Completion
		for _, r := range runs {
			if r.Problem != "" || resumable && r.Status.Final() {
				continue
			}
			if !strings.HasPrefix(r.Meta.RunID, toComplete) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(r.Meta.RunID, runDescription(r)))
		}
		if len(out) > 0 && strings.HasPrefix("last", toComplete) {
			out = append(out, cobra.CompletionWithDesc("last", "the newest run"))
		}
		return out, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// runDescription is how a run is described beside its id: its status, the
// step it stands at and its target.
func runDescription(r runbook.RunSummary) string {
	status := string(r.Status)
	switch r.Status {
	case runbook.RunInterrupted:
		status = "resumable"
		if r.Step != "" {
			status += " at " + r.Step
		}
	case runbook.RunRunning:
		status = "running in another drillbook"
	}
	return fmt.Sprintf("%s, on %s, started %s UTC by %s", status, r.Meta.Target, r.Meta.Started.Format("2006-01-02 15:04"), r.Meta.Operator)
}

// completeTargets completes a target name with its description.
func completeTargets(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		out := []cobra.Completion{cobra.CompletionWithDesc(runbook.TrainingTarget, "built-in simulated estate")}
		path, _ := g.resolveTargetsFile()
		if ts, err := runbook.LoadTargets(path, brokerSections); err == nil {
			for _, n := range ts.Names {
				t, _ := ts.Get(n)
				desc := t.Description
				if t.Simulated {
					desc = strings.TrimSpace("simulated " + desc)
				}
				out = append(out, cobra.CompletionWithDesc(n, desc))
			}
		}
		return filterPrefix(out, toComplete), noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeHosts completes a host name from the hosts: of the command's
// --target, with its address, and "local" for this machine.
func completeHosts(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		out := []cobra.Completion{cobra.CompletionWithDesc(runbook.LocalHost, "this machine")}
		f := cmd.Flags().Lookup("target")
		if f == nil || f.Value.String() == "" {
			return filterPrefix(out, toComplete), noFiles
		}
		path, _ := g.resolveTargetsFile()
		if ts, err := runbook.LoadTargets(path, brokerSections); err == nil {
			if t, ok := ts.Get(f.Value.String()); ok {
				for _, n := range t.HostNames() {
					if n == runbook.LocalHost {
						continue
					}
					out = append(out, cobra.CompletionWithDesc(n, t.Hosts[n].Address))
				}
			}
		}
		return filterPrefix(out, toComplete), noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeTargetArg completes the first argument with a target name from
// the targets file (targets check).
func completeTargetArg(g *globalOptions) cobra.CompletionFunc {
	targets := completeTargets(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		out, dir := targets(cmd, args, toComplete)
		if len(out) > 0 && strings.HasPrefix(out[0], runbook.TrainingTarget+"\t") {
			out = out[1:] // training has no file to check
		}
		return out, dir
	}
}

// scenarioLists are the fault scenarios each simulated product knows.
func scenarioLists() map[string][]string {
	return map[string][]string{"was": was.Scenarios(), "messagesight": messagesight.Scenarios(), "rabbitmq": rabbitmq.Scenarios()}
}

// completeScenario completes the scenarios of the products the runbook
// (the command's argument) uses; with no runbook yet, every scenario.
func completeScenario(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var used map[string]bool
		if len(args) > 0 {
			if rb := g.completionRunbook(args[0]); rb != nil {
				used = adaptersUsed(rb)
			}
		}
		var out []cobra.Completion
		for adapter, list := range scenarioLists() {
			if used != nil && !used[adapter] {
				continue
			}
			out = append(out, list...)
		}
		sort.Strings(out)
		return filterPrefix(slices.Compact(out), toComplete), noFiles
	}
}

// completionRunbook finds the runbook a command names, quietly: a
// completion never prints an error.
func (g *globalOptions) completionRunbook(ref string) *runbook.Runbook {
	if st, err := os.Stat(ref); err == nil && !st.IsDir() {
		rb, err := runbook.ParseFile(ref)
		if err != nil {
			return nil
		}
		return rb
	}
	for _, rb := range g.knownRunbooks() {
		if rb.ID == ref {
			return rb
		}
	}
	return nil
}

// completeParam completes --param NAME= with the runbook's parameters
// (secrets are left out: they never come from a flag), then the value of
// a parameter with choices or a bool.
func completeParam(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, noFiles
		}
		rb := g.completionRunbook(args[0])
		if rb == nil {
			return nil, noFiles
		}
		if name, value, ok := strings.Cut(toComplete, "="); ok {
			p, found := rb.Param(name)
			if !found {
				return nil, noFiles
			}
			var vals []string
			switch {
			case len(p.Choices) > 0:
				vals = p.Choices
			case p.Type == runbook.TypeBool:
				vals = []string{"true", "false"}
			case p.Type == runbook.TypePath:
				return nil, cobra.ShellCompDirectiveDefault
			default:
				return nil, noFiles
			}
			var out []cobra.Completion
			for _, v := range vals {
				if strings.HasPrefix(v, value) {
					out = append(out, name+"="+v)
				}
			}
			return out, noFiles
		}
		var out []cobra.Completion
		for _, p := range rb.Params {
			if p.Type == runbook.TypeSecret || !strings.HasPrefix(p.Name, toComplete) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(p.Name+"=", paramDescription(p)))
		}
		return out, noFiles | cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveKeepOrder
	}
}

func paramDescription(p runbook.Param) string {
	typ := string(p.Type)
	if typ == "" {
		typ = string(runbook.TypeString)
	}
	desc := typ
	if p.Required {
		desc += ", required"
	}
	if p.Description != "" {
		desc += ": " + p.Description
	}
	return desc
}

var simpleRef = regexp.MustCompile(`^\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// completeConfirm completes --confirm STEP=ANSWER with the steps that ask:
// destructive steps with their token when it is known before the run (a
// literal, or a parameter given with --param, by the target or by its
// default), manual steps with done, and steps that retry only when told
// with retry. run takes the runbook from its argument, resume from the
// run's own copy.
func completeConfirm(g *globalOptions, resume bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, noFiles
		}
		rb := g.completionRunbook(args[0])
		if resume {
			rb = g.runRunbook(args[0])
		}
		if rb == nil {
			return nil, noFiles
		}
		known := g.knownParams(cmd, rb)
		var out []cobra.Completion
		seen := map[string]bool{}
		add := func(c cobra.Completion) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		for _, ss := range rb.AllSteps() {
			st := ss.Step
			switch {
			case st.Destructive:
				toks := confirmTokens(st, known)
				if len(toks) == 0 {
					add(cobra.CompletionWithDesc(st.ID+"=", "destructive: type its token, "+st.Confirm))
				}
				for _, tok := range toks {
					add(cobra.CompletionWithDesc(st.ID+"="+tok, "destructive: "+stepTitle(st)))
				}
			case st.Manual != "":
				add(cobra.CompletionWithDesc(st.ID+"=done", "manual: "+stepTitle(st)))
			}
			if st.OnFailure != nil && st.OnFailure.Retry != nil && st.OnFailure.Retry.Ask {
				add(cobra.CompletionWithDesc(st.ID+"=retry", "allow a retry of "+st.ID))
			}
		}
		out = filterPrefix(out, toComplete)
		dir := noFiles | cobra.ShellCompDirectiveKeepOrder
		for _, c := range out {
			if strings.HasSuffix(strings.SplitN(c, "\t", 2)[0], "=") {
				dir |= cobra.ShellCompDirectiveNoSpace
			}
		}
		return out, dir
	}
}

// confirmTokens returns the tokens a destructive step will ask for when
// they are known before the run: a literal token, a parameter's value, or
// for a foreach step whose token is its item, each item of the list.
func confirmTokens(st *runbook.Step, known map[string]string) []string {
	tok := st.Confirm
	if !strings.Contains(tok, "{{") {
		return []string{tok}
	}
	m := simpleRef.FindStringSubmatch(tok)
	if m == nil {
		return nil
	}
	if st.Foreach != nil {
		as := st.Foreach.As
		if as == "" {
			as = "item"
		}
		if m[1] == as {
			if list := known[st.Foreach.Param]; list != "" {
				return strings.Split(list, ",")
			}
			return nil
		}
	}
	if v := known[m[1]]; v != "" {
		return []string{v}
	}
	return nil
}

func stepTitle(st *runbook.Step) string {
	if st.Title != "" {
		return st.Title
	}
	return st.ID
}

// knownParams are the parameter values known before a run: defaults, then
// the target's params, then --param flags.
func (g *globalOptions) knownParams(cmd *cobra.Command, rb *runbook.Runbook) map[string]string {
	known := map[string]string{}
	for _, p := range rb.Params {
		switch {
		case p.Type == runbook.TypeSecret:
		case p.Default.Kind == runbook.ValueScalar:
			known[p.Name] = p.Default.Scalar
		case p.Default.Kind == runbook.ValueList:
			known[p.Name] = strings.Join(p.Default.List, ",")
		}
	}
	if f := cmd.Flags().Lookup("target"); f != nil && f.Value.String() != runbook.TrainingTarget {
		path, _ := g.resolveTargetsFile()
		if ts, err := runbook.LoadTargets(path, brokerSections); err == nil {
			if t, ok := ts.Get(f.Value.String()); ok {
				for k, v := range t.ParamStrings() {
					known[k] = v
				}
			}
		}
	}
	if f := cmd.Flags().Lookup("param"); f != nil {
		if vals, err := cmd.Flags().GetStringArray("param"); err == nil {
			for _, kv := range vals {
				if k, v, ok := strings.Cut(kv, "="); ok {
					known[k] = v
				}
			}
		}
	}
	return known
}

// runRunbook reads the runbook copy of a journaled run.
func (g *globalOptions) runRunbook(id string) *runbook.Runbook {
	state, err := g.resolveStateDir()
	if err != nil {
		return nil
	}
	dir, err := runbook.FindRun(state, id)
	if err != nil {
		return nil
	}
	rb, err := runbook.ParseFile(filepath.Join(dir, runbook.RunbookCopy))
	if err != nil {
		return nil
	}
	return rb
}

// completeOutcome completes --outcome STEP=succeeded|failed|rerun with the
// run's action steps.
func completeOutcome(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, noFiles
		}
		rb := g.runRunbook(args[0])
		if rb == nil {
			return nil, noFiles
		}
		var out []cobra.Completion
		for _, ss := range rb.AllSteps() {
			if ss.Step.Action == "" {
				continue
			}
			for _, o := range []string{"succeeded", "failed", "rerun"} {
				out = append(out, cobra.CompletionWithDesc(ss.Step.ID+"="+o, stepTitle(ss.Step)))
			}
		}
		return filterPrefix(out, toComplete), noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeDecision completes --retry, --skip, --abort STEP=REASON and
// --note STEP=TEXT with the runbook's steps (a run's own copy for
// resume); the text after = is the operator's to write.
func completeDecision(g *globalOptions, resume bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 || strings.Contains(toComplete, "=") {
			return nil, noFiles
		}
		rb := g.completionRunbook(args[0])
		if resume {
			rb = g.runRunbook(args[0])
		}
		if rb == nil {
			return nil, noFiles
		}
		var out []cobra.Completion
		for _, ss := range rb.AllSteps() {
			if strings.HasPrefix(ss.Step.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(ss.Step.ID+"=", stepTitle(ss.Step)))
			}
		}
		return out, noFiles | cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveKeepOrder
	}
}

// purposeWords are the purposes a run is recorded with.
func purposeWords() []string { return []string{"incident", "drill", "routine"} }

// completeWords completes one of a fixed set of words.
func completeWords(words ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return filterPrefix(words, toComplete), noFiles
	}
}

// filterPrefix keeps the completions whose value starts with prefix.
func filterPrefix(cs []cobra.Completion, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, c := range cs {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// registerCompletions attaches the completion functions to root's
// commands and flags. A flag a command lacks is skipped, so a command can
// be added without touching this function; a test checks that every flag
// with a closed set of values completes.
func registerCompletions(root *cobra.Command, g *globalOptions) {
	_ = root.MarkPersistentFlagDirname("state-dir")
	_ = root.MarkPersistentFlagFilename("targets", "yaml", "yml")
	_ = root.MarkPersistentFlagDirname("runbooks")
	args := map[string]cobra.CompletionFunc{
		"run":     completeRunbookArg(g),
		"plan":    completeRunbookArg(g),
		"history": completeRunbookArg(g),
		"resume":  completeRunArg(g, true),
		"report":  completeRunArg(g, false),
		"compare": completeRunArgs(g, false, 2),
		"validate": func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		"run": {"target": completeTargets(g), "scenario": completeScenario(g), "param": completeParam(g),
			"confirm": completeConfirm(g, false), "outcome": completeWords(), "purpose": completeWords(purposeWords()...),
			"retry": completeDecision(g, false), "skip": completeDecision(g, false), "abort": completeDecision(g, false),
			"note": completeDecision(g, false)},
		"plan": {"target": completeTargets(g), "scenario": completeScenario(g), "param": completeParam(g)},
		"resume": {"confirm": completeConfirm(g, true), "outcome": completeOutcome(g),
			"retry": completeDecision(g, true), "skip": completeDecision(g, true), "abort": completeDecision(g, true),
			"note": completeDecision(g, true)},
		"history": {"target": completeTargets(g), "purpose": completeWords(purposeWords()...), "format": completeWords("text", "json")},
		"compare": {"format": completeWords("text", "json")},
		"report":  {"format": completeWords("md", "json", "html", "junit")},
		"watch":   {"from": completeWords("end", "start"), "target": completeTargets(g), "host": completeHosts(g)},
		"backups": {"format": completeWords("text", "json")},
	}
	if root.Flags().Lookup("target") != nil {
		_ = root.RegisterFlagCompletionFunc("target", completeTargets(g))
	}
	for _, c := range root.Commands() {
		if f, ok := args[c.Name()]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = f
		}
		for name, f := range flags[c.Name()] {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
	}
}
