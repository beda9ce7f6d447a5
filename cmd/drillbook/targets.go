package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
)

func newTargetsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "List the targets of the targets file, or check one (targets check NAME)",
		Long: `targets lists the estates drillbook can run against: the built-in training
target and those of the targets file (--targets, $DRILLBOOK_TARGETS, then
$XDG_CONFIG_HOME/drillbook/targets.yaml). docs/targets.md
(drillbook docs targets) describes every setting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return targetsList(g) },
	}
	check := &cobra.Command{
		Use:   "check NAME",
		Short: "Validate a target and test its connections without changing anything",
		Long: `check reads the target strictly (every problem as file:line:col), checks its
params against the runbooks that can run on it, shows what each node
inherits from its section, resolves every secret (never showing it), and
runs the read-only operations of each configured adapter that need no
argument (status, listings, connection checks), once per node where they
take one. Nothing in the estate changes.

Exit codes: 0 all good, 1 a secret or a check failed, 2 the target is invalid.`,
		Example:           "  drillbook targets check prod-cell\n  drillbook --targets ./targets.yaml targets check ms-pair",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTargetArg(g),
		RunE:              func(cmd *cobra.Command, args []string) error { return targetsCheck(cmd.Context(), g, args[0]) },
	}
	cmd.AddCommand(check)
	return cmd
}

func targetsList(g *globalOptions) error {
	path, named := g.resolveTargetsFile()
	w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tKIND\tSECTIONS\tDECLARED AT\tDESCRIPTION")
	fmt.Fprintf(w, "%s\tsimulated\twas, messagesight, rabbitmq\t(built in)\tbuilt-in simulated estate\n", runbook.TrainingTarget)
	var loadErr error
	if _, err := os.Stat(path); err != nil {
		if named {
			loadErr = usagef("targets file %s: %w", path, errors.Unwrap(err))
		}
	} else if ts, err := runbook.LoadTargets(path, brokerSections); err != nil {
		loadErr = err
	} else {
		for _, n := range ts.Names {
			t, _ := ts.Get(n)
			kind := "real"
			if t.Simulated {
				kind = "simulated"
			}
			secs := strings.Join(t.Sections(), ", ")
			if secs == "" {
				secs = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", n, kind, secs, t.Pos, t.Description)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if loadErr != nil {
		return loadErr
	}
	if _, err := os.Stat(path); err != nil {
		_, err := fmt.Fprintf(g.io.Out, "\nno targets file at %s: write one (drillbook docs targets) or pass --targets FILE\n", path)
		return err
	}
	_, err := fmt.Fprintf(g.io.Out, "\ntargets file: %s; drillbook targets check NAME checks one\n", path)
	return err
}

// useHosts gives the adapters that reach files and processes on a host
// by name (WebSphere's profiles and backup root, MessageSight's store_host
// and backup_host, RabbitMQ's host) the target's hosts.
func (c *adapterConfigs) useHosts(r host.Resolver) {
	c.was.Hosts = r
	c.messagesight.Hosts = r
	c.rabbitmq.Hosts = r
}

// adapterConfigs are a target's adapter sections, decoded.
type adapterConfigs struct {
	was          was.Config
	messagesight messagesight.Config
	rabbitmq     rabbitmq.Config
}

// byName returns the decoded section of the named adapter.
func (c *adapterConfigs) byName(name string) any {
	switch name {
	case "was":
		return &c.was
	case "messagesight":
		return &c.messagesight
	case "rabbitmq":
		return &c.rabbitmq
	}
	return nil
}

// decode decodes every adapter section of t strictly, gathering every
// problem rather than stopping at the first section.
func (c *adapterConfigs) decode(t *runbook.Target) error {
	var probs runbook.Problems
	for _, name := range brokerSections {
		if err := t.Decode(name, c.byName(name)); err != nil {
			var ps runbook.Problems
			if !errors.As(err, &ps) {
				return err
			}
			probs = append(probs, ps...)
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// usedAdapters returns the adapters every section of rb calls, checks
// and waits included.
func usedAdapters(rb *runbook.Runbook) map[string]bool {
	used := map[string]bool{}
	add := func(op string) {
		if a, _, ok := strings.Cut(op, "."); ok {
			used[a] = true
		}
	}
	for _, ss := range rb.AllSteps() {
		st := ss.Step
		add(st.Action)
		if st.Wait != nil {
			add(st.Wait.Action)
		}
		if st.Precheck != nil {
			add(st.Precheck.Action)
		}
		if st.Verify != nil {
			add(st.Verify.Action)
		}
	}
	return used
}

// runbooksFor returns the runbooks that can run on t: those, among the
// shipped ones and the --runbooks directories', whose broker adapters t
// configures, and extra (the runbook about to run, which may be a file).
func (g *globalOptions) runbooksFor(t *runbook.Target, extra *runbook.Runbook) []*runbook.Runbook {
	all := g.knownRunbooks()
	if extra != nil && !slices.ContainsFunc(all, func(rb *runbook.Runbook) bool { return rb.ID == extra.ID }) {
		all = append(all, extra)
	}
	var out []*runbook.Runbook
	for _, rb := range all {
		if extra != nil && rb.ID == extra.ID {
			out = append(out, rb) // the operator chose to run it here
			continue
		}
		ok := true
		for a := range usedAdapters(rb) {
			if slices.Contains(brokerSections, a) && !t.HasSection(a) {
				ok = false
			}
		}
		if ok {
			out = append(out, rb)
		}
	}
	return out
}

// checkTarget applies the checks a target must pass before any run, plan
// or resume on it: its params against the runbooks that can run on it
// (an unknown name or a secret written in the file is an error) and a
// secret written in place in an env: map. It returns the warnings: the
// settings no such runbook can use, each with its position.
func (g *globalOptions) checkTarget(t *runbook.Target, rb *runbook.Runbook, cfg *adapterConfigs) ([]string, error) {
	rbs := g.runbooksFor(t, rb)
	probs := t.CheckParams(rbs)
	probs = append(probs, inlineSecrets(t, cfg)...)
	if cfg != nil && t.HasSection("was") {
		probs = append(probs, wasHostProblems(t, &cfg.was)...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	var warnings []string
	for _, w := range unusedSettings(t, rbs) {
		warnings = append(warnings, w.String())
	}
	if cfg != nil && t.HasSection("messagesight") {
		for _, w := range messagesight.Warnings(cfg.messagesight) {
			warnings = append(warnings, t.File+": "+w)
		}
	}
	return warnings, nil
}

// printWarnings says what the target's check warned about, on standard
// error, before a plan or a run in plain mode (the screen shows them in
// its form).
func (e *estate) printWarnings(g *globalOptions) {
	for _, w := range e.warnings {
		fmt.Fprintf(g.io.Err, "drillbook: warning: %s\n", w)
	}
}

// unusedSettings finds the settings of t that none of rbs can use. Today
// that is the section-level MessageSight server (url and pin_sha256): it
// serves only a MessageSight step that names no node, and every shipped
// runbook names one (messagesight.nodes.NAME). The section's user,
// password and ca_file still serve the nodes that inherit them.
func unusedSettings(t *runbook.Target, rbs []*runbook.Runbook) []runbook.Problem {
	var out []runbook.Problem
	if !t.HasSection("messagesight") {
		return nil
	}
	takesNode := map[string]bool{}
	for _, s := range allSpecs() {
		if _, ok := s.Arg("node"); ok && strings.HasPrefix(s.Name, "messagesight.") {
			takesNode[s.Name] = true
		}
	}
	for _, rb := range rbs {
		for _, ss := range rb.AllSteps() {
			for _, c := range stepCalls(ss.Step) {
				if takesNode[c.op] && strings.TrimSpace(c.with["node"].Scalar) == "" {
					return nil // a step that names no node uses the section's server
				}
			}
		}
	}
	for _, key := range []string{"url", "pin_sha256"} {
		if pos, ok := t.SettingPos("messagesight", key); ok {
			out = append(out, runbook.Problem{Pos: pos, Msg: fmt.Sprintf(
				"messagesight.%s is used by no runbook that can run on target %s: each of their MessageSight steps names a node, which uses messagesight.nodes.NAME.%s; move it there (or keep it for a runbook of your own whose steps name no node)", key, t.Name, key)})
		}
	}
	return out
}

type stepCall struct {
	op   string
	with map[string]runbook.Value
}

// stepCalls are the operations a step calls: its action, polled wait,
// precheck and verify.
func stepCalls(st *runbook.Step) []stepCall {
	var out []stepCall
	if st.Action != "" {
		out = append(out, stepCall{st.Action, st.With})
	}
	if st.Wait != nil && st.Wait.Action != "" {
		out = append(out, stepCall{st.Wait.Action, st.Wait.With})
	}
	if st.Precheck != nil {
		out = append(out, stepCall{st.Precheck.Action, st.Precheck.With})
	}
	if st.Verify != nil {
		out = append(out, stepCall{st.Verify.Action, st.Verify.With})
	}
	return out
}

// probeTimeout bounds one read-only check of targets check.
const probeTimeout = 30 * time.Second

func targetsCheck(ctx context.Context, g *globalOptions, name string) error {
	if name == runbook.TrainingTarget {
		return usagef("targets check: %s is built in and needs no file; check a target of the targets file", name)
	}
	t, err := g.loadTarget(name)
	if err != nil {
		return err
	}
	var cfg adapterConfigs
	if err := cfg.decode(t); err != nil {
		return err
	}
	rbs := g.runbooksFor(t, nil)
	if probs := append(append(t.CheckParams(rbs), inlineSecrets(t, &cfg)...), hostSettingProblems(t, &cfg)...); len(probs) > 0 {
		return probs
	}
	hosts := host.NewSet(t, sshOptions())
	defer hosts.Close()
	cfg.useHosts(hosts)
	out := g.io.Out
	kind := "real: --yes and --scenario are refused"
	if t.Simulated {
		kind = "simulated: --yes and --scenario are allowed"
	}
	fmt.Fprintf(out, "target %s (%s)", t.Name, t.Pos)
	if t.Description != "" {
		fmt.Fprintf(out, ": %s", t.Description)
	}
	fmt.Fprintf(out, "\n  %s\n", kind)
	fmt.Fprintf(out, "  file: every setting and parameter name is known\n")
	var ids []string
	for _, rb := range rbs {
		ids = append(ids, rb.ID)
	}
	fmt.Fprintf(out, "  runbooks that can run on it: %s\n", strings.Join(ids, ", "))
	if len(t.Params) > 0 {
		names := make([]string, 0, len(t.Params))
		for n := range t.Params {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(out, "  params:\n")
		vals := t.ParamStrings()
		for _, n := range names {
			pos, _ := t.ParamPos(n)
			fmt.Fprintf(out, "    %s = %s (%s)\n", n, vals[n], pos)
		}
	}
	for _, w := range unusedSettings(t, rbs) {
		fmt.Fprintf(out, "  warning: %s\n", w)
	}
	failed := 0
	for _, sec := range t.Sections() {
		fmt.Fprintf(out, "  %s:\n", sec)
		c := cfg.byName(sec)
		if in, ok := c.(runbook.Inheritor); ok {
			for _, h := range in.Inherited() {
				fmt.Fprintf(out, "    %s inherits %s = %s from %s\n", h.Entry, h.Setting, h.Value, h.From)
			}
		}
		for _, s := range namedSecrets(sec, c) {
			if v, err := s.ref.Resolve(ctx); err != nil {
				failed++
				fmt.Fprintf(out, "    FAIL  secret %s (%s): %v\n", s.path, s.ref, err)
			} else if v == "" {
				failed++
				fmt.Fprintf(out, "    FAIL  secret %s (%s): it is empty\n", s.path, s.ref)
			} else {
				fmt.Fprintf(out, "    ok    secret %s (%s) resolves\n", s.path, s.ref)
			}
		}
		if w, ok := c.(*was.Config); ok && w.Training {
			// The training cell is made by the run (under the state
			// directory): there is no real cell to probe.
			fmt.Fprintf(out, "    the training cell is simulated and made by the run: nothing to probe; its hosts: are reached when it runs\n")
			continue
		}
		failed += runProbes(ctx, out, t, sec, c)
	}
	if failed > 0 {
		return exitStatus{code: exitFailed, msg: fmt.Sprintf("target %s: %d check(s) failed", t.Name, failed)}
	}
	_, err = fmt.Fprintf(out, "target %s: every check passed; nothing was changed\n", t.Name)
	return err
}

// runProbes runs the read-only operations of the section's adapter that
// need no argument, once per node for those that take one, and prints
// each outcome. It returns how many failed.
func runProbes(ctx context.Context, out io.Writer, t *runbook.Target, sec string, cfg any) int {
	var ops []runbook.Operation
	switch c := cfg.(type) {
	case *was.Config:
		ops = was.Operations(*c)
	case *messagesight.Config:
		ops = messagesight.Operations(*c)
	case *rabbitmq.Config:
		ops = rabbitmq.Operations(*c)
	}
	nodes := t.SettingKeys(sec, "nodes")
	_, hasURL := t.SettingPos(sec, "url")
	failed, ran := 0, 0
	for _, op := range ops {
		spec := op.Spec()
		if !spec.ReadOnly || slices.ContainsFunc(spec.Args, func(a runbook.ArgSpec) bool { return a.Required }) {
			continue
		}
		argSets := []runbook.Args{{}}
		if _, takesNode := spec.Arg("node"); takesNode && len(nodes) > 0 {
			argSets = nil
			if hasURL {
				argSets = append(argSets, runbook.Args{})
			}
			for _, n := range nodes {
				argSets = append(argSets, runbook.Args{"node": n})
			}
		}
		for _, args := range argSets {
			ran++
			call := runbook.Call{Op: spec.Name, Args: args, Step: "targets-check", Phase: runbook.PhasePrecheck, Attempt: 1, Timeout: probeTimeout}
			label := spec.Name
			if n := args.String("node"); n != "" {
				label += " node=" + n
			}
			if p, err := op.Plan(call); err == nil && p.Host != "" {
				label += " @ " + p.Host
			}
			cctx, cancel := context.WithTimeout(ctx, probeTimeout)
			res, err := op.Run(cctx, call, runbook.OutputFunc(func(runbook.Stream, string) {}))
			cancel()
			if err != nil {
				failed++
				fmt.Fprintf(out, "    FAIL  %s: %v\n", label, err)
				continue
			}
			fmt.Fprintf(out, "    ok    %s: %s\n", label, res.Summary)
			for _, w := range res.Warnings {
				fmt.Fprintf(out, "          warning: %s\n", w)
			}
		}
	}
	if ran == 0 {
		fmt.Fprintf(out, "    (no read-only operation of %s runs without arguments: nothing to try)\n", sec)
	}
	return failed
}

// namedSecret is a secret reference in an adapter section with the path
// targets.yaml writes it at.
type namedSecret struct {
	path string
	ref  runbook.SecretRef
}

// namedSecrets finds every secret reference in a decoded section, with
// its path ("messagesight.nodes.ms-b.password"), in a stable order.
func namedSecrets(section string, cfg any) []namedSecret {
	var out []namedSecret
	secretType := reflect.TypeFor[runbook.SecretRef]()
	var visit func(path string, v reflect.Value)
	visit = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				visit(path, v.Elem())
			}
		case reflect.Struct:
			if v.Type() == secretType {
				if ref := v.Interface().(runbook.SecretRef); !ref.IsZero() {
					out = append(out, namedSecret{path, ref})
				}
				return
			}
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if !f.IsExported() || tag == "-" || tag == "" {
					continue
				}
				visit(path+"."+tag, v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				visit(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
			for _, k := range keys {
				visit(path+"."+fmt.Sprint(k), v.MapIndex(k))
			}
		}
	}
	visit(section, reflect.ValueOf(cfg))
	return out
}

// secretNameRE matches the names of environment variables that hold
// secrets.
var secretNameRE = regexp.MustCompile(`(?i)(passw(or)?d|pwd|secret|token|api_?key|private_?key|credential)`)

// inlineSecrets finds variables under an env: map of any section whose
// name says they hold a secret (DB_PASSWORD): a value written there is a
// secret written in place, shown in plans and kept in the file. Where the
// block has secret_env: the message sends it there.
func inlineSecrets(t *runbook.Target, cfg *adapterConfigs) runbook.Problems {
	var probs runbook.Problems
	var visit func(sec string, path []string, v reflect.Value)
	visit = func(sec string, path []string, v reflect.Value) {
		if v.Kind() != reflect.Struct {
			return
		}
		typ := v.Type()
		hasSecretEnv := false
		for i := 0; i < typ.NumField(); i++ {
			if yamlTag(typ.Field(i)) == "secret_env" {
				hasSecretEnv = true
			}
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := yamlTag(f)
			if !f.IsExported() || name == "" {
				continue
			}
			fv := v.Field(i)
			switch {
			case name == "env" && f.Type == reflect.TypeFor[map[string]string]():
				keys := make([]string, 0, fv.Len())
				for _, k := range fv.MapKeys() {
					keys = append(keys, k.String())
				}
				sort.Strings(keys)
				for _, k := range keys {
					if !secretNameRE.MatchString(k) {
						continue
					}
					full := append(append([]string{}, path...), name, k)
					pos, _ := t.SettingPos(sec, full...)
					where := strings.Join(append([]string{sec}, full...), ".")
					fix := "give it to drillbook's own environment instead"
					if hasSecretEnv {
						fix = fmt.Sprintf("move it to %s as {env: NAME}, {file: PATH} or {command: [...]}", strings.Join(append(append([]string{sec}, path...), "secret_env", k), "."))
					}
					probs = append(probs, runbook.Problem{Pos: pos, Msg: fmt.Sprintf("%s looks like a secret written in place (a targets file names where a secret comes from, never the secret): %s", where, fix)})
				}
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[runbook.SecretRef]():
				visit(sec, append(append([]string{}, path...), name), fv)
			}
		}
	}
	for _, sec := range brokerSections {
		if t.HasSection(sec) {
			visit(sec, nil, reflect.ValueOf(cfg.byName(sec)).Elem())
		}
	}
	return probs
}

func yamlTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

// wasHostProblems checks that every host the was: section names
// (was.dmgr_host, was.nodes.NODE.host) is one of the target's hosts:, each
// problem at the setting's line.
func wasHostProblems(t *runbook.Target, c *was.Config) []runbook.Problem {
	var out []runbook.Problem
	check := func(name string, path ...string) {
		if name == "" {
			return
		}
		if _, err := t.Host(name); err != nil {
			pos, _ := t.SettingPos("was", path...)
			if pos.File == "" {
				pos.File = t.File
			}
			out = append(out, runbook.Problem{Pos: pos, Msg: fmt.Sprintf("target %s: was.%s: %v", t.Name, strings.Join(path, "."), err)})
		}
	}
	check(c.DmgrHost, "dmgr_host")
	check(c.BackupHost, "backup_host")
	check(c.DataStore.Host, "data_store", "host")
	// The data store commands write and read {{ .dir }}, a directory inside
	// the backup set, so they run on the backup root's host.
	same := func(a, b string) bool {
		if a == runbook.LocalHost {
			a = ""
		}
		if b == runbook.LocalHost {
			b = ""
		}
		return a == b
	}
	backupHost := c.BackupHost
	if backupHost == "" {
		backupHost = c.DmgrHost
	}
	if c.DataStore.Host != "" && !same(c.DataStore.Host, backupHost) {
		pos, _ := t.SettingPos("was", "data_store", "host")
		if pos.File == "" {
			pos.File = t.File
		}
		out = append(out, runbook.Problem{Pos: pos, Msg: fmt.Sprintf("target %s: was.data_store.host: %s is not the backup root's host (%s): the data store commands write into the backup set's directory ({{ .dir }}), so they run where was.backup_root is; set data_store.host to %s or remove it",
			t.Name, c.DataStore.Host, orLocal(backupHost), orLocal(backupHost))})
	}
	nodes := make([]string, 0, len(c.Nodes))
	for n := range c.Nodes {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		check(c.Nodes[n].Host, "nodes", n, "host")
	}
	return out
}

// orLocal names the host for a message: "" is this machine.
func orLocal(name string) string {
	if name == "" {
		return runbook.LocalHost
	}
	return name
}
