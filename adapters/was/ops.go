package was

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// op is one operation: its spec and what Plan and Run do.
type op struct {
	spec runbook.OpSpec
	plan func(call runbook.Call) (runbook.Plan, error)
	run  func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error)
}

// Spec returns the operation's declaration.
func (o *op) Spec() runbook.OpSpec { return o.spec }

// Plan resolves what Run would do.
func (o *op) Plan(call runbook.Call) (runbook.Plan, error) {
	if o.plan == nil {
		return runbook.Plan{}, fmt.Errorf("%s is not configured for this target", o.spec.Name)
	}
	return o.plan(call)
}

// Run carries the call out.
func (o *op) Run(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	if o.run == nil {
		return runbook.Result{ExitCode: -1}, fmt.Errorf("%s is not configured for this target", o.spec.Name)
	}
	if out == nil {
		out = runbook.OutputFunc(func(runbook.Stream, string) {})
	}
	ctx, note := withSessionNote(ctx)
	res, err := o.run(ctx, call, out)
	res.Session = note.describe()
	res.SessionStarts = note.starts
	return res, err
}

// Operations returns the WebSphere operations for a target, backed by the
// real wsadmin and profile tools. Spec works on a zero Config.
func Operations(cfg Config) []runbook.Operation {
	return operations(NewRealBackend(cfg), cfg)
}

// OperationsWith returns the operations backed by another Backend (the
// simulated cell, a test double); cfg supplies the data-store commands,
// the backup root and the Initial state attribute.
func OperationsWith(b Backend, cfg Config) []runbook.Operation {
	return operations(b, cfg)
}

func arg(name string, kind runbook.ArgKind, required bool, doc string, enum ...string) runbook.ArgSpec {
	return runbook.ArgSpec{Name: name, Kind: kind, Required: required, Doc: doc, Enum: enum}
}

// listArg returns a list argument with each element also split on commas,
// so that a runbook may pass "{{ join .servers "," }}" as one element.
func listArg(a runbook.Args, name string) []string {
	var out []string
	for _, v := range a.List(name) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	if s := a.String(name); s != "" {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// fail is a failed call's result.
func fail(err error, evidence ...string) (runbook.Result, error) {
	return runbook.Result{ExitCode: -1, Evidence: evidence}, err
}

// ofCell names the cell for plans: "cell C" or "the target's cell".
func ofCell(b Backend) string {
	if c := b.Cell(); c != "" {
		return "cell " + c
	}
	return "the target's cell"
}

type opSet struct {
	b   Backend
	cfg Config
	ops []runbook.Operation
}

func (s *opSet) add(spec runbook.OpSpec, plan func(runbook.Call) (runbook.Plan, error), run func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)) {
	s.ops = append(s.ops, &op{spec: spec, plan: plan, run: run})
}

// script runs a wsadmin script and turns its reply into a result.
func (s *opSet) script(name string, args func(runbook.Args) ([]string, error), result func(context.Context, runbook.Args, Reply) (runbook.Result, error)) (func(runbook.Call) (runbook.Plan, error), func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)) {
	plan := func(call runbook.Call) (runbook.Plan, error) {
		a, err := args(call.Args)
		if err != nil {
			return runbook.Plan{}, err
		}
		return s.b.Plan(Request{Script: name, Args: a}), nil
	}
	run := func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		a, err := args(call.Args)
		if err != nil {
			return fail(err)
		}
		reply, err := s.b.Do(ctx, Request{Script: name, Args: a}, out)
		if err != nil {
			return fail(err, reply.Evidence...)
		}
		res, err := result(ctx, call.Args, reply)
		res.ExitCode = 0
		if len(res.Evidence) == 0 {
			res.Evidence = reply.Evidence
		}
		return res, err
	}
	return plan, run
}

// call runs one request and returns its reply.
func (s *opSet) call(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	return s.b.Do(ctx, req, out)
}

func operations(b Backend, cfg Config) []runbook.Operation {
	s := &opSet{b: b, cfg: cfg}
	s.engineOps()
	s.serverOps()
	s.adminOps()
	s.checkOps()
	s.haCheckOps()
	s.ops = append(s.ops, configOps(b, cfg)...)
	s.ops = append(s.ops, storeOps(b, cfg)...)
	s.ops = append(s.ops, setOps(b, cfg)...)
	return s.ops
}

var engineArg = arg("engine", runbook.ArgString, true, "messaging engine name (clu1.000-Bus1, node01.server1-Bus1)")

// engineInstances asks wsadmin for an engine's instances and refuses an
// engine the cell's configuration does not have: a mistyped engine must
// not read as "not running".
func (s *opSet) engineInstances(ctx context.Context, engine string, out runbook.Output) ([]Instance, Reply, error) {
	rep, err := s.call(ctx, Request{Script: ScriptEngineState, Args: []string{engine}}, out)
	if err != nil {
		return nil, rep, err
	}
	if rep.Configured == "false" {
		return nil, rep, fmt.Errorf("no messaging engine %s in the configuration of %s: check the engine name (its instances are named CLUSTER.NNN-BUS or NODE.SERVER-BUS)", engine, ofCell(s.b))
	}
	return rep.Instances, rep, nil
}

// requireStopped refuses to act on an engine that is Started or Starting
// in any server: its store must not be replaced under it.
func (s *opSet) requireStopped(ctx context.Context, engine string, out runbook.Output) error {
	ins, _, err := s.engineInstances(ctx, engine, out)
	if err != nil {
		return fmt.Errorf("check that %s is stopped: %w", engine, err)
	}
	for _, in := range ins {
		if in.State == "Started" || in.State == "Starting" {
			return fmt.Errorf("messaging engine %s is %s in %s/%s: stop it before its store is replaced, so nothing was restored", engine, in.State, in.Node, in.Server)
		}
	}
	return nil
}

func (s *opSet) engineOps() {
	waitSecs := func() string { return strconv.Itoa(int(s.cfg.stateWait().Seconds())) }

	// was.engine-state
	{
		p, r := s.script(ScriptEngineState,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				me := a.String("engine")
				if rep.Configured == "false" {
					return runbook.Result{}, fmt.Errorf("no messaging engine %s in the configuration of %s: check the engine name", me, ofCell(s.b))
				}
				st := summarizeState(rep.Instances)
				res := runbook.Result{
					Summary: fmt.Sprintf("engine %s is %s (%s)", me, st.state, describeInstances(rep.Instances)),
					Vars:    map[string]string{"state": st.state, "server": st.server, "node": st.node, "instances": strconv.Itoa(len(rep.Instances))},
				}
				if want := listArg(a, "expect"); len(want) > 0 && !slices.Contains(want, st.state) {
					return res, fmt.Errorf("engine %s is %s, expected %s", me, st.state, strings.Join(want, " or "))
				}
				return res, nil
			})
		s.add(runbook.OpSpec{
			Name:     "was.engine-state",
			Summary:  "Report a messaging engine's state in every running server that hosts it",
			ReadOnly: true,
			Args: []runbook.ArgSpec{engineArg,
				arg("expect", runbook.ArgList, false, "fail unless the engine's state is one of these (Started, Stopped, Joined, NotRunning)")},
		}, p, r)
	}

	// was.find-engine-host
	{
		p, r := s.script(ScriptEngineState,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				me := a.String("engine")
				if rep.Configured == "false" {
					return runbook.Result{}, fmt.Errorf("no messaging engine %s in the configuration of %s: check the engine name", me, ofCell(s.b))
				}
				var started []Instance
				var standby []string
				for _, in := range rep.Instances {
					if in.State == "Started" {
						started = append(started, in)
					} else {
						standby = append(standby, in.Server+"="+in.State)
					}
				}
				if len(started) == 0 {
					return runbook.Result{}, fmt.Errorf("engine %s is not Started in any server (%s)", me, describeInstances(rep.Instances))
				}
				if len(started) > 1 {
					return runbook.Result{}, fmt.Errorf("engine %s is Started in %d servers at once (%s): only one instance may run in a cluster; stop the extra ones", me, len(started), describeInstances(rep.Instances))
				}
				h := started[0]
				res := runbook.Result{
					Summary: fmt.Sprintf("engine %s runs in %s/%s; standby: %s", me, h.Node, h.Server, orNone(standby)),
					Vars:    map[string]string{"server": h.Server, "node": h.Node, "standby": strings.Join(standby, ",")},
				}
				if n := a.String("not_on"); n != "" && h.Server == n {
					return res, fmt.Errorf("engine %s still runs in %s", me, n)
				}
				if e := a.String("expect_server"); e != "" && h.Server != e {
					return res, fmt.Errorf("engine %s runs in %s, expected %s", me, h.Server, e)
				}
				return res, nil
			})
		s.add(runbook.OpSpec{
			Name:     "was.find-engine-host",
			Summary:  "Find the one server where a messaging engine is Started (standbys are Joined)",
			ReadOnly: true,
			Args: []runbook.ArgSpec{engineArg,
				arg("not_on", runbook.ArgString, false, "fail if the engine runs in this server"),
				arg("expect_server", runbook.ArgString, false, "fail unless the engine runs in this server")},
		}, p, r)
	}

	engineResult := func(verb string, a runbook.Args, rep Reply) runbook.Result {
		summary := fmt.Sprintf("engine %s: %s; nothing to do", a.String("engine"), rep.Before)
		if rep.Server != "" {
			where := rep.Server
			if rep.Node != "" {
				where = rep.Node + "/" + rep.Server
			}
			summary = fmt.Sprintf("engine %s %s in %s: %s -> %s", a.String("engine"), verb, where, rep.Before, rep.After)
		}
		return runbook.Result{
			Summary: summary,
			Vars:    map[string]string{"server": rep.Server, "node": rep.Node, "state": rep.After, "before": rep.Before},
		}
	}

	// was.stop-engine: takes the engine out of service, so it is
	// destructive and confirmed with the engine's name. IBM (seed 002, step
	// 3): "Stop the messaging engine if it is running ... If the messaging
	// engine does not respond, stop the server process that is hosting the
	// messaging engine." With if_unresponsive: stop-server the operation
	// does both for this engine, so one engine that does not answer does
	// not keep the others from their own stop attempt.
	{
		stopArgs := func(a runbook.Args) []string {
			mode := a.String("mode")
			if mode == "" {
				mode = "IMMEDIATE"
			}
			return []string{a.String("engine"), mode, a.String("server"), waitSecs()}
		}
		s.add(runbook.OpSpec{
			Name:        "was.stop-engine",
			Summary:     "Stop a messaging engine (IMMEDIATE, or FORCE to disconnect applications); optionally stop its server if it does not answer",
			Destructive: true,
			Object:      "engine",
			Args: []runbook.ArgSpec{engineArg,
				arg("mode", runbook.ArgString, false, "IMMEDIATE (default) or FORCE", "IMMEDIATE", "FORCE"),
				arg("server", runbook.ArgString, false, "the server whose instance to stop; default the Started one"),
				arg("if_unresponsive", runbook.ArgString, false, "fail (default), or stop-server: stop the server that hosts the engine when the engine does not answer within respond_within", "fail", "stop-server"),
				{Name: "respond_within", Kind: runbook.ArgDuration, Doc: "how long the engine has to answer before if_unresponsive applies (default 2m)"}},
		}, func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			p := s.b.Plan(Request{Script: ScriptStopEngine, Args: stopArgs(a)})
			p.Object = fmt.Sprintf("messaging engine %s of %s, through the deployment manager at %s", a.String("engine"), ofCell(s.b), s.b.Host())
			if a.String("if_unresponsive") == "stop-server" {
				p.Object += fmt.Sprintf("; if it does not answer within %s, the server that hosts it is stopped too", a.Duration("respond_within", 2*time.Minute))
			}
			return p, nil
		}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			me := a.String("engine")
			if _, _, err := s.engineInstances(ctx, me, out); err != nil {
				return fail(err)
			}
			fallback := a.String("if_unresponsive") == "stop-server"
			sctx, cancel := ctx, context.CancelFunc(func() {})
			if fallback {
				sctx, cancel = context.WithTimeout(ctx, a.Duration("respond_within", 2*time.Minute))
			}
			rep, err := s.call(sctx, Request{Script: ScriptStopEngine, Args: stopArgs(a)}, out)
			// The engine did not answer: its stop ran out of time while the
			// step's own time had not.
			unanswered := (sctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil
			cancel()
			if err == nil {
				return engineResult("stopped", a, rep), nil
			}
			if !fallback || !unanswered {
				return fail(err, rep.Evidence...)
			}
			out.Line(runbook.Info, fmt.Sprintf("engine %s did not answer its stop in time; stopping the server that hosts it", me))
			srep, serr := s.call(ctx, Request{Script: ScriptStopServer, Args: []string{"", "", me}}, out)
			if serr != nil {
				return fail(fmt.Errorf("engine %s did not answer (%v), and stopping its server failed too: %w", me, err, serr))
			}
			res := runbook.Result{Vars: map[string]string{"server": srep.Server, "node": srep.Node, "state": "server " + srep.After}}
			if srep.Server == "" {
				res.Summary = fmt.Sprintf("engine %s did not answer and no server hosts it any more (%s)", me, srep.Before)
			} else {
				res.Summary = fmt.Sprintf("engine %s did not answer; its server %s/%s was stopped: %s -> %s", me, srep.Node, srep.Server, srep.Before, srep.After)
			}
			res.Warnings = []string{fmt.Sprintf("engine %s did not answer its stop: %v", me, err)}
			return res, nil
		})
	}

	// was.start-engine
	{
		p, r := s.script(ScriptStartEngine,
			func(a runbook.Args) ([]string, error) {
				mode := a.String("mode")
				if mode != "DEFAULT" && mode != "FLUSH" {
					return nil, fmt.Errorf("mode %q is not DEFAULT or FLUSH", mode)
				}
				ifStarted := orDefault(a.String("if_started"), "fail")
				if ifStarted != "fail" && ifStarted != "ok" {
					return nil, fmt.Errorf("if_started %q is not fail or ok", ifStarted)
				}
				return []string{a.String("engine"), mode, a.String("server"), strings.Join(listArg(a, "prefer"), ","), ifStarted, waitSecs()}, nil
			}, func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				res := engineResult("started", a, rep)
				if rep.Before == rep.After && (rep.After == "Started" || rep.After == "Starting") {
					res.Summary = fmt.Sprintf("engine %s was already %s in %s/%s: nothing was started", a.String("engine"), rep.After, rep.Node, rep.Server)
				}
				return res, nil
			})
		s.add(runbook.OpSpec{
			Name: "was.start-engine",
			Summary: "Start a messaging engine through its MBean; FLUSH is Restart after restore mode, " +
				"for the first start after a restore only",
			Args: []runbook.ArgSpec{engineArg,
				arg("mode", runbook.ArgString, true, "DEFAULT, or FLUSH (Restart after restore)", "DEFAULT", "FLUSH"),
				arg("server", runbook.ArgString, false, "the server whose instance to start"),
				arg("prefer", runbook.ArgList, false, "servers to prefer, in order, when several instances could start"),
				arg("if_started", runbook.ArgString, false, "when the engine is already Started: fail (default) or ok (say so and do nothing)", "fail", "ok")},
		}, p, r)
	}

	// was.set-initial-state
	{
		p, r := s.script(ScriptSetInitialState,
			func(a runbook.Args) ([]string, error) {
				st := a.String("state")
				if st != "STARTED" && st != "STOPPED" {
					return nil, fmt.Errorf("state %q is not STARTED or STOPPED", st)
				}
				return []string{a.String("bus"), a.String("engine"), st, s.cfg.InitialStateAttribute}, nil
			},
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				return runbook.Result{
					Summary: fmt.Sprintf("engine %s initial state %s -> %s (attribute %s, saved)", a.String("engine"), rep.Previous, rep.After, rep.Attribute),
					Vars:    map[string]string{"attribute": rep.Attribute, "previous": rep.Previous},
				}, nil
			})
		s.add(runbook.OpSpec{
			Name: "was.set-initial-state",
			Summary: "Set a messaging engine's configured Initial state and save the master configuration " +
				"(wsadmin discards unsaved changes when its session ends)",
			Args: []runbook.ArgSpec{
				arg("bus", runbook.ArgString, false, "the bus, to tell apart engines of the same name"),
				engineArg,
				arg("state", runbook.ArgString, true, "STARTED or STOPPED", "STARTED", "STOPPED")},
		}, p, r)
	}

	// was.save-sync
	{
		p, r := s.script(ScriptSaveSync,
			func(runbook.Args) ([]string, error) { return nil, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				res := runbook.Result{
					Summary: fmt.Sprintf("configuration saved; synchronised %d node(s): %s", len(rep.Nodes), orNone(rep.Nodes)),
					Vars:    map[string]string{"nodes": strings.Join(rep.Nodes, ",")},
				}
				if len(rep.Nodes) == 0 {
					res.Warnings = append(res.Warnings, "no running node agent answered: nodes are synchronised when their node agents start, or run syncNode on each node")
				}
				return res, nil
			})
		s.add(runbook.OpSpec{Name: "was.save-sync", Summary: "Save the master configuration and synchronise every node whose node agent runs (NodeSync MBean)"}, p, r)
	}
}

type stateSummary struct{ state, server, node string }

// summarizeState reduces an engine's instances to one state: Started when
// any instance is (the others are standbys), NotRunning when no running
// server hosts it, otherwise the instances' common state.
func summarizeState(ins []Instance) stateSummary {
	if len(ins) == 0 {
		return stateSummary{state: "NotRunning"}
	}
	for _, in := range ins {
		if in.State == "Started" {
			return stateSummary{state: "Started", server: in.Server, node: in.Node}
		}
	}
	seen := []string{}
	for _, in := range ins {
		if !slices.Contains(seen, in.State) {
			seen = append(seen, in.State)
		}
	}
	s := stateSummary{state: strings.Join(seen, "/")}
	if len(ins) == 1 {
		s.server, s.node = ins[0].Server, ins[0].Node
	}
	return s
}

func describeInstances(ins []Instance) string {
	if len(ins) == 0 {
		return "no running server hosts it"
	}
	parts := make([]string, len(ins))
	for i, in := range ins {
		parts[i] = in.Server + "=" + in.State
	}
	return strings.Join(parts, ", ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
