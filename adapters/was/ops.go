package was

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	return o.run(ctx, call, out)
}

// Operations returns the WebSphere operations for a target, backed by the
// real wsadmin and profile tools. Spec works on a zero Config.
func Operations(cfg Config) []runbook.Operation {
	return operations(NewRealBackend(cfg), cfg)
}

// OperationsWith returns the operations backed by another Backend (the
// simulated cell, a test double); cfg supplies the data-store commands and
// the Initial state attribute.
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

func operations(b Backend, cfg Config) []runbook.Operation {
	waitSecs := func() string { return strconv.Itoa(int(cfg.stateWait().Seconds())) }
	engineArg := arg("engine", runbook.ArgString, true, "messaging engine name (clu1.000-Bus1, node01.server1-Bus1)")
	script := func(name string, args func(runbook.Args) ([]string, error), result func(runbook.Args, Reply) (runbook.Result, error)) (func(runbook.Call) (runbook.Plan, error), func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)) {
		plan := func(call runbook.Call) (runbook.Plan, error) {
			a, err := args(call.Args)
			if err != nil {
				return runbook.Plan{}, err
			}
			return b.Plan(Request{Script: name, Args: a}), nil
		}
		run := func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a, err := args(call.Args)
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			reply, err := b.Do(ctx, Request{Script: name, Args: a}, out)
			if err != nil {
				return runbook.Result{ExitCode: -1, Evidence: reply.Evidence}, err
			}
			res, err := result(call.Args, reply)
			res.ExitCode = 0
			if len(res.Evidence) == 0 {
				res.Evidence = reply.Evidence
			}
			return res, err
		}
		return plan, run
	}
	var ops []runbook.Operation
	add := func(spec runbook.OpSpec, plan func(runbook.Call) (runbook.Plan, error), run func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)) {
		ops = append(ops, &op{spec: spec, plan: plan, run: run})
	}

	// was.engine-state
	{
		p, r := script(ScriptEngineState,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(a runbook.Args, rep Reply) (runbook.Result, error) {
				st := summarizeState(rep.Instances)
				res := runbook.Result{
					Summary: fmt.Sprintf("engine %s is %s (%s)", a.String("engine"), st.state, describeInstances(rep.Instances)),
					Vars:    map[string]string{"state": st.state, "server": st.server, "node": st.node, "instances": strconv.Itoa(len(rep.Instances))},
				}
				if want := listArg(a, "expect"); len(want) > 0 && !slices.Contains(want, st.state) {
					return res, fmt.Errorf("engine %s is %s, expected %s", a.String("engine"), st.state, strings.Join(want, " or "))
				}
				return res, nil
			})
		add(runbook.OpSpec{
			Name:    "was.engine-state",
			Summary: "Report a messaging engine's state in every running server that hosts it",
			Args: []runbook.ArgSpec{engineArg,
				arg("expect", runbook.ArgList, false, "fail unless the engine's state is one of these (Started, Stopped, Joined, NotRunning)")},
		}, p, r)
	}

	// was.find-engine-host
	{
		p, r := script(ScriptEngineState,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(a runbook.Args, rep Reply) (runbook.Result, error) {
				me := a.String("engine")
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
		add(runbook.OpSpec{
			Name:    "was.find-engine-host",
			Summary: "Find the one server where a messaging engine is Started (standbys are Joined)",
			Args: []runbook.ArgSpec{engineArg,
				arg("not_on", runbook.ArgString, false, "fail if the engine runs in this server"),
				arg("expect_server", runbook.ArgString, false, "fail unless the engine runs in this server")},
		}, p, r)
	}

	engineResult := func(verb string) func(runbook.Args, Reply) (runbook.Result, error) {
		return func(a runbook.Args, rep Reply) (runbook.Result, error) {
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
			}, nil
		}
	}

	// was.stop-engine
	{
		p, r := script(ScriptStopEngine,
			func(a runbook.Args) ([]string, error) {
				return []string{a.String("engine"), orDefault(a.String("mode"), "IMMEDIATE"), a.String("server"), waitSecs()}, nil
			}, engineResult("stopped"))
		add(runbook.OpSpec{
			Name:    "was.stop-engine",
			Summary: "Stop a messaging engine (IMMEDIATE, or FORCE to disconnect applications)",
			Args: []runbook.ArgSpec{engineArg,
				arg("mode", runbook.ArgString, false, "IMMEDIATE (default) or FORCE", "IMMEDIATE", "FORCE"),
				arg("server", runbook.ArgString, false, "the server whose instance to stop; default the Started one")},
		}, p, r)
	}

	// was.start-engine
	{
		p, r := script(ScriptStartEngine,
			func(a runbook.Args) ([]string, error) {
				mode := a.String("mode")
				if mode != "DEFAULT" && mode != "FLUSH" {
					return nil, fmt.Errorf("mode %q is not DEFAULT or FLUSH", mode)
				}
				return []string{a.String("engine"), mode, a.String("server"), strings.Join(listArg(a, "prefer"), ","), orDefault(a.String("if_started"), "fail"), waitSecs()}, nil
			}, engineResult("started"))
		add(runbook.OpSpec{
			Name: "was.start-engine",
			Summary: "Start a messaging engine through its MBean; FLUSH is Restart after restore mode, " +
				"for the first start after a restore only",
			Args: []runbook.ArgSpec{engineArg,
				arg("mode", runbook.ArgString, true, "DEFAULT, or FLUSH (Restart after restore)", "DEFAULT", "FLUSH"),
				arg("server", runbook.ArgString, false, "the server whose instance to start"),
				arg("prefer", runbook.ArgList, false, "servers to prefer, in order, when several instances could start"),
				arg("if_started", runbook.ArgString, false, "when the engine is already Started: fail (default), ok, or restart (stop it first)", "fail", "ok", "restart")},
		}, p, r)
	}

	// was.set-initial-state
	{
		p, r := script(ScriptSetInitialState,
			func(a runbook.Args) ([]string, error) {
				st := a.String("state")
				if st != "STARTED" && st != "STOPPED" {
					return nil, fmt.Errorf("state %q is not STARTED or STOPPED", st)
				}
				return []string{a.String("bus"), a.String("engine"), st, cfg.InitialStateAttribute}, nil
			},
			func(a runbook.Args, rep Reply) (runbook.Result, error) {
				return runbook.Result{
					Summary: fmt.Sprintf("engine %s initial state %s -> %s (attribute %s, saved)", a.String("engine"), rep.Previous, rep.After, rep.Attribute),
					Vars:    map[string]string{"attribute": rep.Attribute, "previous": rep.Previous},
				}, nil
			})
		add(runbook.OpSpec{
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
		p, r := script(ScriptSaveSync,
			func(runbook.Args) ([]string, error) { return nil, nil },
			func(a runbook.Args, rep Reply) (runbook.Result, error) {
				res := runbook.Result{
					Summary: fmt.Sprintf("configuration saved; synchronised %d node(s): %s", len(rep.Nodes), orNone(rep.Nodes)),
					Vars:    map[string]string{"nodes": strings.Join(rep.Nodes, ",")},
				}
				if len(rep.Nodes) == 0 {
					res.Warnings = append(res.Warnings, "no running node agent answered: nodes are synchronised when their node agents start, or run syncNode.sh on each node")
				}
				return res, nil
			})
		add(runbook.OpSpec{Name: "was.save-sync", Summary: "Save the master configuration and synchronise every running node"}, p, r)
	}

	serverResult := func(a runbook.Args, rep Reply) (runbook.Result, error) {
		summary := fmt.Sprintf("server %s/%s: %s -> %s", rep.Node, rep.Server, rep.Before, rep.After)
		if rep.Server == "" {
			// No server hosted the engine: the script says why in Before.
			summary = rep.Before + ": " + rep.After
		}
		return runbook.Result{
			Summary: summary,
			Vars:    map[string]string{"server": rep.Server, "node": rep.Node, "state": rep.After},
		}, nil
	}

	// was.start-server
	{
		args := func(a runbook.Args) Request {
			if a.Bool("recovery") {
				return Request{Tool: ToolRecoveryServer, Args: []string{a.String("node"), a.String("server")}}
			}
			return Request{Script: ScriptStartServer, Args: []string{a.String("node"), a.String("server"), waitSecs()}}
		}
		add(runbook.OpSpec{
			Name:    "was.start-server",
			Summary: "Start an application server; with recovery, start it in recovery mode and wait until it stops by itself",
			Args: []runbook.ArgSpec{
				arg("node", runbook.ArgString, true, "the server's node"),
				arg("server", runbook.ArgString, true, "the server"),
				arg("recovery", runbook.ArgBool, false, "recovery mode: transactions are recovered, then the server stops (Restart after restore is ignored in this mode)")},
		}, func(call runbook.Call) (runbook.Plan, error) {
			return b.Plan(args(call.Args)), nil
		}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			rep, err := b.Do(ctx, args(call.Args), out)
			if err != nil {
				return runbook.Result{ExitCode: -1, Evidence: rep.Evidence}, err
			}
			if call.Args.Bool("recovery") {
				return runbook.Result{
					Summary:  fmt.Sprintf("server %s finished its recovery-mode start and has stopped", call.Args.String("server")),
					Vars:     map[string]string{"server": call.Args.String("server"), "node": call.Args.String("node"), "state": "STOPPED"},
					Evidence: rep.Evidence,
				}, nil
			}
			res, err := serverResult(call.Args, rep)
			res.Evidence = rep.Evidence
			return res, err
		})
	}

	// was.stop-server
	{
		p, r := script(ScriptStopServer,
			func(a runbook.Args) ([]string, error) {
				if a.String("server") == "" && a.String("engine") == "" {
					return nil, fmt.Errorf("give server and node, or the engine whose server to stop")
				}
				if a.String("server") != "" && a.String("node") == "" {
					return nil, fmt.Errorf("server %s needs its node", a.String("server"))
				}
				return []string{a.String("node"), a.String("server"), a.String("engine")}, nil
			}, serverResult)
		add(runbook.OpSpec{
			Name:    "was.stop-server",
			Summary: "Stop an application server, or the server hosting a messaging engine",
			Args: []runbook.ArgSpec{
				arg("node", runbook.ArgString, false, "the server's node"),
				arg("server", runbook.ArgString, false, "the server"),
				arg("engine", runbook.ArgString, false, "stop the server that hosts this engine instead")},
		}, p, r)
	}

	ops = append(ops, configOps(b)...)
	ops = append(ops, storeOps(cfg)...)
	return ops
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
