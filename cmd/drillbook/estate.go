package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/shell"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

// brokerSections are the adapter sections a target may have.
var brokerSections = []string{"was", "messagesight", "rabbitmq"}

// allSpecs returns the specs of every operation drillbook offers, for
// validation without a target.
func allSpecs() []runbook.OpSpec {
	return baseRegistry().Specs()
}

// baseRegistry holds every operation with zero configuration.
func baseRegistry() *runbook.Registry {
	r := runbook.NewRegistry(shell.Operations(shell.Config{})...)
	r.Add(host.FileOps(nil)...)
	r.Add(was.Operations(was.Config{})...)
	r.Add(messagesight.Operations(messagesight.Config{})...)
	r.Add(rabbitmq.Operations(rabbitmq.Config{})...)
	return r
}

// adaptersUsed returns the adapter prefixes a runbook's steps call, in
// every section.
func adaptersUsed(rb *runbook.Runbook) map[string]bool {
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

// estate is a target made ready for a run: its operations, its log watcher,
// the parameter values it supplies, and what to stop afterwards.
type estate struct {
	target   *runbook.Target
	registry *runbook.Registry
	watcher  runbook.Watcher
	// hosts are the target's hosts by name; shell, file and log watches
	// reach them through it (see hosts.go).
	hosts  *host.Set
	params map[string]string
	stops  []func() error
	// warnings are what the target's check warned about (a setting no
	// runbook that can run on it uses), shown before the run.
	warnings []string
	// hide holds the target's secrets (passwords the adapters resolve from
	// targets.yaml), resolved once here so the runner and the journal can
	// mask them like secret parameters.
	hide []string
}

// Close stops what the estate started (simulations, training nodes), the
// last started first.
func (e *estate) Close() error {
	var errs []error
	for i := len(e.stops) - 1; i >= 0; i-- {
		errs = append(errs, e.stops[i]())
	}
	return errors.Join(errs...)
}

// estateMode says what an estate is opened for.
type estateMode int

// The modes an estate is opened in.
const (
	// modeResume opens it for a resumed run, which must find the estate as
	// it left it.
	modeResume estateMode = iota
	// modeFresh opens it for a new run: a new drill of a WebSphere fault
	// gets a new cell.
	modeFresh
	// modePlan opens it for plan: the training target resolves its values
	// without starting a simulation where its product offers
	// PlanTraining, and its operations plan but refuse to run.
	modePlan
)

// openEstate prepares the named target for running rb. The training target
// starts only the simulations the runbook needs; a real target decodes the
// adapter sections of targets.yaml.
//
// fresh marks a new run (not a resume, which must find the estate as it
// left it): a new drill of a WebSphere fault gets a new cell.
func openEstate(ctx context.Context, g *globalOptions, name, scenario string, rb *runbook.Runbook, fresh bool) (*estate, error) {
	mode := modeResume
	if fresh {
		mode = modeFresh
	}
	return openEstateMode(ctx, g, name, scenario, rb, mode)
}

// openEstateMode is openEstate for any mode, plan included.
func openEstateMode(ctx context.Context, g *globalOptions, name, scenario string, rb *runbook.Runbook, mode estateMode) (*estate, error) {
	if name == "" {
		name = runbook.TrainingTarget
	}
	// Log watches reach their host through the estate's hosts; a local
	// host follows a server logging through HPEL with its logViewer.sh.
	e := &estate{registry: baseRegistry(), params: map[string]string{}}
	if name == runbook.TrainingTarget {
		e.target = &runbook.Target{Name: runbook.TrainingTarget, Simulated: true, Description: "built-in simulated estate"}
		e.useHosts(nil)
		if err := e.startTraining(ctx, g, scenario, rb, mode); err != nil {
			e.Close()
			return nil, err
		}
		return e, nil
	}
	t, err := g.loadTarget(name)
	if err != nil {
		return nil, err
	}
	if scenario != "" && !t.Simulated {
		return nil, usagef("--scenario is only for simulated targets; %s is real", t.Name)
	}
	e.target = t
	// missing_logs: error reaches every host's watcher through the hosts.
	e.useHosts(t)
	var cfg adapterConfigs
	if err := cfg.decode(t); err != nil {
		return nil, err
	}
	// Settings the adapter can judge without its product, before anything
	// is printed: a password written in a URL would otherwise be shown by
	// plan and journaled.
	if t.HasSection("rabbitmq") {
		if probs := cfg.rabbitmq.Validate(); len(probs) > 0 {
			for i := range probs {
				probs[i].Pos.File = t.File
				probs[i].Msg = "target " + t.Name + ": " + probs[i].Msg
			}
			return nil, probs
		}
	}
	if probs := hostSettingProblems(t, &cfg); len(probs) > 0 {
		return nil, probs
	}
	cfg.useHosts(e.hosts)
	if e.warnings, err = g.checkTarget(t, rb, &cfg); err != nil {
		return nil, err
	}
	wc, mc, rc := cfg.was, cfg.messagesight, cfg.rabbitmq
	// WebSphere's processes run on the host of their profile: the
	// deployment manager's (was.dmgr_host) or a node's (was.nodes.N.host).
	wc.Hosts = e.hosts
	// A wait on server logs that names no host follows each log on the
	// host of the profile that holds it.
	if t.HasSection("was") {
		e.watcher = host.Watcher{Hosts: e.hosts, Locate: wc.LogHost}
	}
	for _, ref := range secretRefs(&wc, &mc, &rc) {
		// A secret that cannot be read here is reported by the adapter that
		// needs it, when it needs it; the run may not use it at all.
		if v, err := ref.Resolve(ctx); err == nil && v != "" {
			e.hide = append(e.hide, v)
		}
	}
	// The adapter sections of a target declared simulated act on what it
	// declares (an emulator, a throwaway node); shell and file operations
	// stay real everywhere.
	bind := func(ops []runbook.Operation) []runbook.Operation {
		if t.Simulated {
			return simulatedOps(ops)
		}
		return ops
	}
	if t.HasSection("was") && wc.Training {
		if !t.Simulated {
			return nil, usagef("target %s: was.training is only for a target with simulated: true", t.Name)
		}
		if err := e.startRemoteTraining(ctx, g, t, wc, scenario, mode); err != nil {
			return nil, err
		}
	} else if t.HasSection("was") {
		e.registry.Add(bind(was.Operations(wc))...)
	}
	if t.HasSection("messagesight") {
		e.registry.Add(bind(messagesight.Operations(mc))...)
	}
	if t.HasSection("rabbitmq") {
		e.registry.Add(bind(rabbitmq.Operations(rc))...)
	}
	for k, v := range t.ParamStrings() {
		e.params[k] = v
	}
	return e, nil
}

// startRemoteTraining opens the training cell of a simulated target with
// was.training: its profiles on the target's hosts (was.dmgr_host,
// was.nodes.NODE.host), its state under the state directory in
// training/was-TARGET, so a resumed run finds it as it left it. Its server
// logs are watched on the host of their profile.
func (e *estate) startRemoteTraining(ctx context.Context, g *globalOptions, t *runbook.Target, wc was.Config, scenario string, mode estateMode) error {
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	dir := filepath.Join(state, "training", "was-"+t.Name)
	o := was.TrainingOptions{Scenario: scenarioFor(scenario, was.Scenarios()), Hosts: e.hosts, DmgrHost: wc.DmgrHost, NodeHosts: map[string]string{}}
	for n, np := range wc.Nodes {
		o.NodeHosts[n] = np.Host
	}
	// A fault fires once: a new drill of a fault gets a new cell, as on
	// the training target.
	if mode == modeFresh && o.Scenario != "" && o.Scenario != "normal" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("reset the training WebSphere cell of %s: %w", t.Name, err)
		}
	}
	var tr was.Training
	if mode == modePlan {
		tr, err = was.PlanTrainingWith(dir, o)
	} else {
		var p *was.Training
		p, err = was.StartTrainingWith(ctx, dir, o)
		if p != nil {
			tr = *p
		}
	}
	if err != nil {
		return err
	}
	e.add(tr.Ops, tr.Params, tr.Stop)
	e.watcher = host.Watcher{Hosts: e.hosts, Locate: tr.Config.LogHost}
	return nil
}

// secretRefs finds every runbook.SecretRef in the adapter configurations,
// however deeply nested (a node's password inside a list of nodes).
func secretRefs(cfgs ...any) []runbook.SecretRef {
	var refs []runbook.SecretRef
	secretType := reflect.TypeFor[runbook.SecretRef]()
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				visit(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == secretType {
				if ref := v.Interface().(runbook.SecretRef); !ref.IsZero() {
					refs = append(refs, ref)
				}
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					visit(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				visit(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				visit(v.MapIndex(k))
			}
		}
	}
	for _, c := range cfgs {
		visit(reflect.ValueOf(c))
	}
	return refs
}

// startTraining starts the simulated parts of the training estate that rb
// uses, with their state under the state directory so a resumed run finds
// them as it left them.
func (e *estate) startTraining(ctx context.Context, g *globalOptions, scenario string, rb *runbook.Runbook, mode estateMode) error {
	state, err := g.resolveStateDir()
	if err != nil {
		return err
	}
	used := adaptersUsed(rb)
	// "default" is the normal run of every part (docs/training.md).
	if scenario == "default" {
		scenario = "normal"
	}
	// An unknown scenario is refused before any simulation starts, naming
	// the scenarios of the parts this runbook uses (all of them when it
	// uses none).
	if scenario != "" {
		known := false
		var all, ofUsed []string
		for adapter, list := range map[string][]string{"was": was.Scenarios(), "messagesight": messagesight.Scenarios(), "rabbitmq": rabbitmq.Scenarios()} {
			all = append(all, list...)
			if used[adapter] {
				known = known || slices.Contains(list, scenario)
				ofUsed = append(ofUsed, list...)
			}
		}
		if !known {
			if len(ofUsed) > 0 {
				all = ofUsed
			}
			sort.Strings(all)
			return usagef("unknown scenario %q for runbook %s: scenarios are %s", scenario, rb.ID, strings.Join(slices.Compact(all), ", "))
		}
	}
	dir := func(name string) string { return filepath.Join(state, "training", name) }
	// The WebSphere cell's faults fire once: a new drill of a fault gets a
	// new cell (its backup set is built with it). Other parts keep their
	// state between runs, so a restore finds the backup a backup run made.
	if mode == modeFresh && used["was"] && scenario != "" && scenario != "normal" && slices.Contains(was.Scenarios(), scenario) {
		if err := os.RemoveAll(dir("was")); err != nil {
			return fmt.Errorf("reset the training WebSphere cell: %w", err)
		}
	}
	// Each part the runbook uses is started, or for plan only described:
	// planning starts no cell, emulator or broker, and its values come from
	// the part's recorded state (a port chosen at the first start).
	type part struct {
		name      string
		scenarios []string
		start     func(ctx context.Context, dir, scenario string) (ops []runbook.Operation, params map[string]string, stop func() error, err error)
		plan      func(dir, scenario string) (ops []runbook.Operation, params map[string]string, err error)
	}
	parts := []part{
		{"was", was.Scenarios(),
			func(ctx context.Context, dir, sc string) ([]runbook.Operation, map[string]string, func() error, error) {
				t, err := was.StartTraining(ctx, dir, sc)
				if err != nil {
					return nil, nil, nil, err
				}
				return t.Ops, t.Params, t.Stop, nil
			},
			func(dir, sc string) ([]runbook.Operation, map[string]string, error) {
				t, err := was.PlanTraining(dir, sc)
				return t.Ops, t.Params, err
			}},
		{"messagesight", messagesight.Scenarios(),
			func(ctx context.Context, dir, sc string) ([]runbook.Operation, map[string]string, func() error, error) {
				t, err := messagesight.StartTraining(ctx, dir, sc)
				if err != nil {
					return nil, nil, nil, err
				}
				return t.Ops, t.Params, t.Stop, nil
			},
			func(dir, sc string) ([]runbook.Operation, map[string]string, error) {
				t, err := messagesight.PlanTraining(dir, sc)
				return t.Ops, t.Params, err
			}},
		{"rabbitmq", rabbitmq.Scenarios(),
			func(ctx context.Context, dir, sc string) ([]runbook.Operation, map[string]string, func() error, error) {
				t, err := rabbitmq.StartTraining(ctx, dir, sc)
				if err != nil {
					return nil, nil, nil, err
				}
				return t.Ops, t.Params, t.Stop, nil
			},
			func(dir, sc string) ([]runbook.Operation, map[string]string, error) {
				t, err := rabbitmq.PlanTraining(dir, sc)
				return t.Ops, t.Params, err
			}},
	}
	for _, p := range parts {
		if !used[p.name] {
			continue
		}
		sc := scenarioFor(scenario, p.scenarios)
		if mode == modePlan {
			ops, params, err := p.plan(dir(p.name), sc)
			if err != nil {
				return err
			}
			e.add(ops, params, nil)
			continue
		}
		ops, params, stop, err := p.start(ctx, dir(p.name), sc)
		if err != nil {
			return err
		}
		e.add(ops, params, stop)
	}
	if e.params["workdir"] == "" {
		wd := filepath.Join(state, "training", "workdir")
		if mode == modePlan {
			e.params["workdir"] = wd // made by the run, not by plan
			return nil
		}
		if err := os.MkdirAll(wd, 0o700); err != nil {
			return fmt.Errorf("training work directory: %w", err)
		}
		e.params["workdir"] = wd
	}
	return nil
}

// scenarioFor passes a scenario to a simulation that knows it, and the
// simulation's default to one that does not.
func scenarioFor(scenario string, known []string) string {
	if slices.Contains(known, scenario) {
		return scenario
	}
	return ""
}

// simulatedOp is an operation bound to a simulated estate: the training
// cell, the MessageSight emulator or the private RabbitMQ node.
type simulatedOp struct{ runbook.Operation }

// Simulated implements runbook.Simulator.
func (simulatedOp) Simulated() bool { return true }

// simulatedOps marks operations bound to a simulated estate as simulated.
func simulatedOps(ops []runbook.Operation) []runbook.Operation {
	out := make([]runbook.Operation, len(ops))
	for i, op := range ops {
		out[i] = simulatedOp{op}
	}
	return out
}

// add registers the operations a part of the training estate binds to its
// simulation: they are simulated. Shell and file operations are not part of
// any simulation and stay real: a runbook's rm on the training target
// removes a real file.
func (e *estate) add(ops []runbook.Operation, params map[string]string, stop func() error) {
	e.registry.Add(simulatedOps(ops)...)
	for k, v := range params {
		e.params[k] = v
	}
	if stop != nil {
		e.stops = append(e.stops, stop)
	}
}

// loadTarget finds a target in the targets file.
func (g *globalOptions) loadTarget(name string) (*runbook.Target, error) {
	path, named := g.resolveTargetsFile()
	if _, err := os.Stat(path); err != nil {
		how := "create it (see docs/targets.md), pass --targets FILE, or use --target training"
		if named {
			return nil, usagef("targets file %s: %w: %s", path, errors.Unwrap(err), how)
		}
		return nil, usagef("target %q: no targets file at %s: %s", name, path, how)
	}
	ts, err := runbook.LoadTargets(path, brokerSections)
	if err != nil {
		return nil, err
	}
	t, ok := ts.Get(name)
	if !ok {
		names := append([]string{runbook.TrainingTarget}, ts.Names...)
		return nil, usagef("no target %q in %s: targets are %s", name, path, strings.Join(names, ", "))
	}
	return t, nil
}

// productRank orders products for listing: the WebSphere procedures
// first, generic runbooks (the demo) last.
func productRank(product string) int {
	switch product {
	case "websphere":
		return 0
	case "messagesight":
		return 1
	case "rabbitmq":
		return 2
	}
	return 3
}

// sortRunbooks orders runbooks by product, then by id, so the picker and
// `list` show the same order.
func sortRunbooks(rbs []*runbook.Runbook) {
	slices.SortStableFunc(rbs, func(a, b *runbook.Runbook) int {
		if ra, rb := productRank(a.Product), productRank(b.Product); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// shippedRunbooks parses every embedded runbook.
func shippedRunbooks() ([]*runbook.Runbook, error) {
	names, err := fs.Glob(runbooks.FS, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*runbook.Runbook
	var errs []error
	for _, n := range names {
		data, err := runbooks.FS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		rb, err := runbook.Parse("runbooks/"+n, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, rb)
	}
	sortRunbooks(out)
	return out, errors.Join(errs...)
}

// dirRunbooks parses the runbooks in the --runbooks directories.
func (g *globalOptions) dirRunbooks() ([]*runbook.Runbook, error) {
	var out []*runbook.Runbook
	var errs []error
	for _, d := range g.runbookDirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			errs = append(errs, usagef("runbook directory: %w", err))
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				continue
			}
			rb, err := runbook.ParseFile(filepath.Join(d, e.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, rb)
		}
	}
	return out, errors.Join(errs...)
}

// loadRunbook finds a runbook by file path, shipped id, or id in a
// --runbooks directory, and validates it.
func (g *globalOptions) loadRunbook(ref string) (*runbook.Runbook, error) {
	var rb *runbook.Runbook
	isPath := strings.ContainsRune(ref, os.PathSeparator) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml")
	if st, err := os.Stat(ref); err == nil && !st.IsDir() {
		isPath = true
	}
	if isPath {
		r, err := runbook.ParseFile(ref)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, usagef("runbook file %s does not exist: give a shipped runbook id (see `drillbook list`) or a path", ref)
			}
			return nil, err
		}
		rb = r
	} else {
		all, serr := shippedRunbooks()
		more, derr := g.dirRunbooks()
		var ids []string
		for _, r := range append(all, more...) {
			if r.ID == ref {
				rb = r
				break
			}
			ids = append(ids, r.ID)
		}
		if rb == nil {
			// A runbook that does not parse may be the one asked for: say why.
			return nil, errors.Join(usagef("no runbook %q: shipped and found runbooks are %s; or give a file path", ref, strings.Join(ids, ", ")), serr, derr)
		}
	}
	if probs := runbook.Validate(rb, allSpecs()); probs != nil {
		return nil, probs
	}
	return rb, nil
}
