package was

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/drillbook/drillbook/runbook"
)

var (
	nodeArg   = arg("node", runbook.ArgString, true, "the node")
	serverArg = arg("server", runbook.ArgString, true, "the server")
	cellArg   = arg("cell", runbook.ArgString, true, "the cell's name: the operation refuses a cell that is not the target's")
)

// serverState asks wsadmin for a server's state: STARTED, or STOPPED when
// it has no Server MBean. An unknown server is an error.
func (s *opSet) serverState(ctx context.Context, node, server string, out runbook.Output) (string, error) {
	rep, err := s.call(ctx, Request{Script: ScriptServerStatus, Args: []string{node, server}}, out)
	if err != nil {
		return "", err
	}
	return rep.After, nil
}

func (s *opSet) serverOps() {
	waitSecs := func() string { return strconv.Itoa(int(s.cfg.stateWait().Seconds())) }

	// was.server-status
	{
		p, r := s.script(ScriptServerStatus,
			func(a runbook.Args) ([]string, error) { return []string{a.String("node"), a.String("server")}, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				res := runbook.Result{
					Summary: fmt.Sprintf("server %s/%s is %s", a.String("node"), a.String("server"), rep.After),
					Vars:    map[string]string{"state": rep.After},
				}
				if want := a.String("expect"); want != "" && rep.After != want {
					return res, fmt.Errorf("server %s/%s is %s, expected %s", a.String("node"), a.String("server"), rep.After, want)
				}
				return res, nil
			})
		s.add(runbook.OpSpec{
			Name: "was.server-status", Summary: "Report whether an application server runs (through wsadmin)", ReadOnly: true,
			Args: []runbook.ArgSpec{nodeArg, serverArg, arg("expect", runbook.ArgString, false, "fail unless the server is STARTED or STOPPED", "STARTED", "STOPPED")},
		}, p, r)
	}

	// was.start-server: a normal start through the node agent, or a
	// recovery-mode start in the node's own profile. IBM (seed 002): "Restart
	// any servers that were stopped by the failure"; a server that runs is
	// not restarted, and the result says so (if_running: ok) or the step
	// fails (if_running: fail, the default).
	{
		req := func(a runbook.Args) Request {
			if a.Bool("recovery") {
				return Request{Tool: ToolRecoveryServer, Node: a.String("node"), Args: []string{a.String("node"), a.String("server")}}
			}
			return Request{Script: ScriptStartServer, Args: []string{a.String("node"), a.String("server"), waitSecs()}}
		}
		s.add(runbook.OpSpec{
			Name:    "was.start-server",
			Summary: "Start an application server; with recovery, start it in recovery mode in its node's profile and wait until it stops by itself",
			Args: []runbook.ArgSpec{nodeArg, serverArg,
				arg("recovery", runbook.ArgBool, false, "recovery mode: transactions are recovered, then the server stops (Restart after restore is ignored in this mode); the server must be stopped"),
				arg("if_running", runbook.ArgString, false, "when the server already runs: fail (default) or ok (say that nothing was started)", "fail", "ok")},
		}, func(call runbook.Call) (runbook.Plan, error) {
			return s.b.Plan(req(call.Args)), nil
		}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			node, server := a.String("node"), a.String("server")
			if a.Bool("recovery") {
				if _, err := s.b.Profile(node); err != nil {
					return fail(err)
				}
			}
			rep, err := s.call(ctx, req(a), out)
			if err != nil {
				return fail(err, rep.Evidence...)
			}
			vars := map[string]string{"server": server, "node": node, "state": rep.After, "started": "true"}
			if a.Bool("recovery") {
				return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("server %s finished its recovery-mode start and has stopped", server),
					Vars: vars, Evidence: rep.Evidence}, nil
			}
			if rep.Before == "STARTED" {
				vars["started"] = "false"
				res := runbook.Result{ExitCode: -1, Vars: vars, Evidence: rep.Evidence,
					Summary: fmt.Sprintf("server %s/%s was already running: nothing was started (STARTED -> STARTED)", node, server)}
				if a.String("if_running") != "ok" {
					return res, fmt.Errorf("server %s/%s was already running, so this step started nothing: if that is what the procedure needs, the step can be skipped", node, server)
				}
				res.Warnings = []string{fmt.Sprintf("server %s/%s was not restarted: it was running", node, server)}
				return res, nil
			}
			return runbook.Result{ExitCode: -1, Vars: vars, Evidence: rep.Evidence,
				Summary: fmt.Sprintf("server %s/%s: %s -> %s", node, server, rep.Before, rep.After)}, nil
		})
	}

	// was.stop-server: an outage, confirmed with the server's name.
	{
		s.add(runbook.OpSpec{
			Name:        "was.stop-server",
			Summary:     "Stop an application server through its node agent",
			Destructive: true,
			Object:      "server",
			Args:        []runbook.ArgSpec{nodeArg, serverArg},
		}, func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			p := s.b.Plan(Request{Script: ScriptStopServer, Args: []string{a.String("node"), a.String("server"), ""}})
			p.Object = fmt.Sprintf("application server %s on node %s of %s, through the deployment manager at %s", a.String("server"), a.String("node"), ofCell(s.b), s.b.Host())
			return p, nil
		}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			node, server := a.String("node"), a.String("server")
			rep, err := s.call(ctx, Request{Script: ScriptStopServer, Args: []string{node, server, ""}}, out)
			if err != nil {
				return fail(err, rep.Evidence...)
			}
			res := runbook.Result{ExitCode: -1, Evidence: rep.Evidence,
				Vars:    map[string]string{"server": rep.Server, "node": rep.Node, "state": rep.After},
				Summary: fmt.Sprintf("server %s/%s: %s -> %s", rep.Node, rep.Server, rep.Before, rep.After)}
			if rep.Before == "STOPPED" {
				res.Summary = fmt.Sprintf("server %s/%s was already stopped: nothing was stopped", node, server)
			}
			return res, nil
		})
	}
}

// toolRun runs a profile tool and returns its reply.
func (s *opSet) toolRun(ctx context.Context, tool, node string, args []string, out runbook.Output) (Reply, error) {
	return s.call(ctx, Request{Tool: tool, Node: node, Args: args}, out)
}

// status asks serverStatus in a profile whether a process runs.
func (s *opSet) status(ctx context.Context, node, server string, out runbook.Output) (string, Reply, error) {
	if rb, ok := s.b.(*RealBackend); ok {
		return rb.serverStatus(ctx, node, server, out)
	}
	rep, err := s.toolRun(ctx, ToolServerStatus, node, []string{server}, out)
	return rep.After, rep, err
}

func (s *opSet) adminOps() {
	dmgr := s.cfg.dmgrServer()
	cellCheck := func(cell string) error {
		if cell == "" {
			return fmt.Errorf("no cell given: the cell's name is what an operation on the whole cell is confirmed with")
		}
		if c := s.b.Cell(); c == "" {
			return fmt.Errorf("the target does not name its cell, so drillbook cannot check that %s is the one it acts on: set was.cell in targets.yaml", cell)
		} else if c != cell {
			return fmt.Errorf("this target's cell is %s, not %s: nothing was done; check the target (--target) and the cell", c, cell)
		}
		return nil
	}
	profileCell := func(ctx context.Context, node string) error {
		p, err := s.b.Profile(node)
		if err != nil {
			return err
		}
		h, err := s.cfg.hostOf(node)
		if err != nil {
			return err
		}
		kind, cell, pnode, err := profileKind(ctx, h, p.Root, dmgr)
		if err != nil {
			return err
		}
		if cell != s.b.Cell() {
			return fmt.Errorf("%s belongs to cell %s, not %s: nothing was done; check was.profile_root and was.cell", p.Describe(), cell, s.b.Cell())
		}
		want := "node"
		if node == "" {
			want = "dmgr"
		}
		if kind != want {
			return fmt.Errorf("%s (node %s) is not a %s profile: check its profile_root", p.Describe(), pnode, map[string]string{"dmgr": "deployment manager", "node": "managed node"}[want])
		}
		if node != "" && pnode != node {
			return fmt.Errorf("%s belongs to node %s, not %s: check was.nodes.%s.profile_root", p.Describe(), pnode, node, node)
		}
		return nil
	}

	// was.manager-status
	s.add(runbook.OpSpec{
		Name: "was.manager-status", Summary: "Report whether the deployment manager runs (serverStatus in its profile)", ReadOnly: true,
		Args: []runbook.ArgSpec{arg("expect", runbook.ArgString, false, "fail unless it is STARTED or STOPPED", "STARTED", "STOPPED")},
	}, func(call runbook.Call) (runbook.Plan, error) {
		return s.b.Plan(Request{Tool: ToolServerStatus, Args: []string{dmgr}}), nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		st, rep, err := s.status(ctx, "", dmgr, out)
		if err != nil {
			return fail(err, rep.Evidence...)
		}
		res := runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("the deployment manager (%s) is %s", dmgr, st), Vars: map[string]string{"state": st}, Evidence: rep.Evidence}
		if want := call.Args.String("expect"); want != "" && st != want {
			return res, fmt.Errorf("the deployment manager is %s, expected %s", st, want)
		}
		return res, nil
	})

	// was.stop-manager: the cell's administration goes down; confirmed
	// with the cell's name, refused for another cell.
	s.add(runbook.OpSpec{
		Name:        "was.stop-manager",
		Summary:     "Stop the deployment manager with stopManager in its profile (wsadmin cannot connect until it is started again)",
		Destructive: true,
		Object:      "cell",
		Args:        []runbook.ArgSpec{cellArg},
	}, func(call runbook.Call) (runbook.Plan, error) {
		p := s.b.Plan(Request{Tool: ToolStopManager})
		prof, _ := s.b.Profile("")
		p.Object = fmt.Sprintf("the deployment manager (server %s) of cell %s, %s", dmgr, call.Args.String("cell"), prof.Describe())
		return p, nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		cell := call.Args.String("cell")
		if err := cellCheck(cell); err != nil {
			return fail(err)
		}
		if err := profileCell(ctx, ""); err != nil {
			return fail(err)
		}
		st, _, err := s.status(ctx, "", dmgr, out)
		if err != nil {
			return fail(fmt.Errorf("before stopping the deployment manager: %w", err))
		}
		if st == "STOPPED" {
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("the deployment manager of cell %s was already stopped: nothing was stopped", cell),
				Vars: map[string]string{"state": "STOPPED", "stopped": "false"}}, nil
		}
		rep, err := s.toolRun(ctx, ToolStopManager, "", nil, out)
		if err != nil {
			return fail(err, rep.Evidence...)
		}
		return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("the deployment manager of cell %s stopped", cell),
			Vars: map[string]string{"state": "STOPPED", "stopped": "true"}, Evidence: rep.Evidence}, nil
	})

	// was.start-manager
	s.add(runbook.OpSpec{
		Name:    "was.start-manager",
		Summary: "Start the deployment manager with startManager in its profile; wait for its WSVR0001I before wsadmin is used again",
		Args:    []runbook.ArgSpec{arg("if_running", runbook.ArgString, false, "when it already runs: fail (default) or ok", "fail", "ok")},
	}, func(call runbook.Call) (runbook.Plan, error) {
		return s.b.Plan(Request{Tool: ToolStartManager}), nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		st, _, err := s.status(ctx, "", dmgr, out)
		if err != nil {
			return fail(fmt.Errorf("before starting the deployment manager: %w", err))
		}
		if st == "STARTED" {
			res := runbook.Result{ExitCode: -1, Summary: "the deployment manager was already running: nothing was started", Vars: map[string]string{"state": "STARTED", "started": "false"}}
			if call.Args.String("if_running") != "ok" {
				return res, fmt.Errorf("the deployment manager was already running, so this step started nothing")
			}
			return res, nil
		}
		rep, err := s.toolRun(ctx, ToolStartManager, "", nil, out)
		if err != nil {
			return fail(err, rep.Evidence...)
		}
		return runbook.Result{ExitCode: -1, Summary: "the deployment manager was started", Vars: map[string]string{"state": "STARTED", "started": "true"}, Evidence: rep.Evidence}, nil
	})

	// was.node-status, was.stop-node, was.start-node, was.sync-node: the
	// node agent, in the node's own profile.
	s.add(runbook.OpSpec{
		Name: "was.node-status", Summary: "Report whether a node's node agent runs (serverStatus nodeagent in the node's profile)", ReadOnly: true,
		Args: []runbook.ArgSpec{nodeArg, arg("expect", runbook.ArgString, false, "fail unless it is STARTED or STOPPED", "STARTED", "STOPPED")},
	}, func(call runbook.Call) (runbook.Plan, error) {
		return s.b.Plan(Request{Tool: ToolServerStatus, Node: call.Args.String("node"), Args: []string{"nodeagent"}}), nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		node := call.Args.String("node")
		if _, err := s.b.Profile(node); err != nil {
			return fail(err)
		}
		st, rep, err := s.status(ctx, node, "nodeagent", out)
		if err != nil {
			return fail(err, rep.Evidence...)
		}
		res := runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("the node agent of %s is %s", node, st), Vars: map[string]string{"state": st}, Evidence: rep.Evidence}
		if want := call.Args.String("expect"); want != "" && st != want {
			return res, fmt.Errorf("the node agent of %s is %s, expected %s", node, st, want)
		}
		return res, nil
	})
	nodeTool := func(name, tool, summary, done string, want string) {
		s.add(runbook.OpSpec{Name: name, Summary: summary, Args: []runbook.ArgSpec{nodeArg}},
			func(call runbook.Call) (runbook.Plan, error) {
				return s.b.Plan(Request{Tool: tool, Node: call.Args.String("node")}), nil
			}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
				node := call.Args.String("node")
				if err := profileCell(ctx, node); err != nil {
					return fail(err)
				}
				st, _, err := s.status(ctx, node, "nodeagent", out)
				if err != nil {
					return fail(fmt.Errorf("node agent of %s: %w", node, err))
				}
				if want != "" && st != want {
					if tool == ToolSyncNode {
						return fail(fmt.Errorf("the node agent of %s is %s: syncNode needs it stopped (IBM: \"If the node agent is running and you want to run the syncNode command, you must first stop the node agent\"); run was.stop-node first", node, st))
					}
					return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("the node agent of %s was already %s: nothing was done", node, st), Vars: map[string]string{"state": st}}, nil
				}
				rep, err := s.toolRun(ctx, tool, node, nil, out)
				if err != nil {
					return fail(err, rep.Evidence...)
				}
				return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf(done, node), Evidence: rep.Evidence}, nil
			})
	}
	nodeTool("was.stop-node", ToolStopNode, "Stop a node's node agent with stopNode in the node's profile (its servers keep running)", "the node agent of %s stopped", "STARTED")
	nodeTool("was.start-node", ToolStartNode, "Start a node's node agent with startNode in the node's profile", "the node agent of %s started", "STOPPED")
	nodeTool("was.sync-node", ToolSyncNode, "Synchronise a node with the cell offline, with syncNode in the node's profile (its node agent stopped, the deployment manager running)", "node %s synchronised with the deployment manager", "STOPPED")
}

func (s *opSet) checkOps() {
	dmgr := s.cfg.dmgrServer()

	// was.check-connection: wsadmin reaches the deployment manager of the
	// right cell, with the credentials given.
	{
		p, r := s.script(ScriptConnection,
			func(runbook.Args) ([]string, error) { return nil, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				res := runbook.Result{
					Summary: fmt.Sprintf("wsadmin reaches %s %s of cell %s (node %s)", rep.Type, rep.Process, rep.Cell, rep.Node),
					Vars:    map[string]string{"cell": rep.Cell, "process": rep.Process, "type": rep.Type},
				}
				if want := a.String("cell"); want != "" && rep.Cell != want {
					return res, fmt.Errorf("wsadmin is connected to cell %s, not %s: check was.host and was.port, or the --target given", rep.Cell, want)
				}
				if c := s.b.Cell(); c != "" && rep.Cell != c {
					return res, fmt.Errorf("wsadmin is connected to cell %s, but the target says was.cell %s: check was.host and was.port", rep.Cell, c)
				}
				if rep.Type != "" && rep.Type != "DeploymentManager" {
					res.Warnings = append(res.Warnings, fmt.Sprintf("wsadmin is connected to a %s, not the deployment manager: configuration changes need the deployment manager", rep.Type))
				}
				return res, nil
			})
		s.add(runbook.OpSpec{
			Name: "was.check-connection", Summary: "Check that wsadmin reaches the deployment manager of the cell, with the target's credentials", ReadOnly: true,
			Args: []runbook.ArgSpec{arg("cell", runbook.ArgString, false, "fail unless wsadmin is connected to this cell")},
		}, p, r)
	}

	// was.check-profile: says which profile a step's tool runs in, and
	// checks that it is there, belongs to the cell and is of the right kind.
	s.add(runbook.OpSpec{
		Name: "was.check-profile", Summary: "Say which profile a tool runs in and check it: the deployment manager's or the node's own, with the tool in its bin", ReadOnly: true,
		Args: []runbook.ArgSpec{
			arg("node", runbook.ArgString, false, "the node whose profile; empty for the deployment manager's"),
			arg("tools", runbook.ArgList, false, "tools that must be in the profile's bin (restoreConfig, startManager, startServer...)")},
	}, func(call runbook.Call) (runbook.Plan, error) {
		p, err := s.b.Profile(call.Args.String("node"))
		if err != nil {
			return runbook.Plan{Detail: err.Error()}, nil
		}
		return runbook.Plan{Host: p.Host, Detail: "check " + p.Describe() + " for " + strings.Join(listArg(call.Args, "tools"), ", ")}, nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		node := call.Args.String("node")
		p, err := s.b.Profile(node)
		if err != nil {
			return fail(err)
		}
		h, err := s.cfg.hostOf(node)
		if err != nil {
			return fail(err)
		}
		if err := isDir(ctx, h, p.Root); err != nil {
			return fail(fmt.Errorf("%s: %w", p.Describe(), err))
		}
		var missing []string
		for _, t := range listArg(call.Args, "tools") {
			if isFile(ctx, h, filepath.Join(p.Root, "bin", t+".sh")) != nil {
				missing = append(missing, t+".sh")
			}
		}
		if len(missing) > 0 {
			return fail(fmt.Errorf("%s has no %s in its bin: check its profile_root in targets.yaml", p.Describe(), strings.Join(missing, ", ")))
		}
		res := runbook.Result{ExitCode: -1, Summary: "tools run in " + p.Describe(), Vars: map[string]string{"profile": p.Name, "root": p.Root}}
		{
			kind, cell, pnode, err := profileKind(ctx, h, p.Root, dmgr)
			if err != nil {
				return fail(err)
			}
			want, wantName := "node", "a managed node's"
			if node == "" {
				want, wantName = "dmgr", "the deployment manager's"
			}
			switch {
			case kind != want:
				return fail(fmt.Errorf("%s is not %s profile (its node %s has no %s server): check its profile_root", p.Describe(), wantName, pnode, map[string]string{"dmgr": dmgr, "node": "nodeagent"}[want]))
			case s.b.Cell() != "" && cell != s.b.Cell():
				return fail(fmt.Errorf("%s belongs to cell %s, not %s: check was.cell and the profile_root", p.Describe(), cell, s.b.Cell()))
			case node != "" && pnode != node:
				return fail(fmt.Errorf("%s belongs to node %s, not %s", p.Describe(), pnode, node))
			}
			res.Summary += fmt.Sprintf(" (cell %s, node %s)", cell, pnode)
		}
		return res, nil
	})

	// was.check-filestore: the file store's directories exist, are
	// directories, and hold the three files.
	s.add(runbook.OpSpec{
		Name: "was.check-filestore", Summary: "Check that a file store's log and store directories exist and hold Log, PermanentStore and TemporaryStore", ReadOnly: true,
		Args: []runbook.ArgSpec{engineArg,
			arg("log_dir", runbook.ArgString, true, "the file store's log directory"),
			arg("store_dir", runbook.ArgString, true, "the file store's store directory"),
			nodeStoreArg},
	}, func(call runbook.Call) (runbook.Plan, error) {
		a := call.Args
		return runbook.Plan{Host: s.cfg.describe(s.cfg.storeHostName(a.String("node"))), Detail: "check " + a.String("log_dir") + " and " + a.String("store_dir")}, nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		a := call.Args
		h, err := s.cfg.storeHost(a.String("node"))
		if err != nil {
			return fail(err)
		}
		for _, d := range []string{a.String("log_dir"), a.String("store_dir")} {
			if err := isDir(ctx, h, d); err != nil {
				return fail(fmt.Errorf("file store of %s: %w: check filestore_root", a.String("engine"), err))
			}
		}
		for i := range fileStoreFiles() {
			if err := isFile(ctx, h, fileStorePath(a, i)); err != nil {
				return fail(fmt.Errorf("file store of %s: %w", a.String("engine"), err))
			}
		}
		return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("file store of %s: %s and %s hold its three files", a.String("engine"), a.String("log_dir"), a.String("store_dir"))}, nil
	})

	// was.check-datastore-command: the target's data store command can
	// run: it is configured, its program is there, its templates render and
	// its secrets resolve (their values are never shown).
	s.add(runbook.OpSpec{
		Name: "was.check-datastore-command", Summary: "Check that the target's data store backup or restore command can run: program found, secrets set", ReadOnly: true,
		Args: []runbook.ArgSpec{engineArg, arg("kind", runbook.ArgString, true, "backup or restore", "backup", "restore")},
	}, func(call runbook.Call) (runbook.Plan, error) {
		return runbook.Plan{Host: s.cfg.describe(s.cfg.dataStoreHostName()), Detail: "check was.data_store." + call.Args.String("kind")}, nil
	}, func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
		kind := call.Args.String("kind")
		tmpl := s.cfg.DataStore.Backup
		if kind == "restore" {
			tmpl = s.cfg.DataStore.Restore
		}
		argv, err := dsArgv(s.cfg, tmpl, call.Args.String("engine"), "/backup-set", "", kind)
		if err != nil {
			return fail(err)
		}
		h, err := s.cfg.dataStoreHost()
		if err != nil {
			return fail(err)
		}
		if onHost(h) == "" {
			if _, err := exec.LookPath(argv[0]); err != nil {
				return fail(fmt.Errorf("was.data_store.%s runs %s, which is not found: %w", kind, argv[0], err))
			}
		} else if filepath.IsAbs(argv[0]) {
			// On another host the program is looked at there; a bare name
			// is found on that host's PATH when it runs, which a Stat
			// cannot see, so it is left to the run.
			fi, err := statPath(ctx, h, argv[0])
			if err != nil {
				return fail(fmt.Errorf("was.data_store.%s runs %s, which is not found: %w", kind, argv[0], err))
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
				return fail(fmt.Errorf("was.data_store.%s runs %s%s, which is not an executable file", kind, argv[0], onHost(h)))
			}
		}
		var names []string
		for _, k := range sortedKeys(s.cfg.DataStore.SecretEnv) {
			v, err := s.cfg.DataStore.SecretEnv[k].Resolve(ctx)
			if err != nil {
				return fail(fmt.Errorf("was.data_store.secret_env.%s (from %s) is not set: %w", k, s.cfg.DataStore.SecretEnv[k], err))
			}
			if v == "" {
				return fail(fmt.Errorf("was.data_store.secret_env.%s (from %s) is empty: set it before the run", k, s.cfg.DataStore.SecretEnv[k]))
			}
			names = append(names, k)
		}
		found := "is there" + onHost(h)
		if onHost(h) != "" && !filepath.IsAbs(argv[0]) {
			found = "is looked up on the PATH of host " + h.Name() + " when it runs (give an absolute path to have it checked now)"
		}
		return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("data store %s command %s %s; secrets set: %s", kind, argv[0], found, orNone(names))}, nil
	})
}

// fileStorePath is the path of one of the three file store files.
func fileStorePath(a runbook.Args, i int) string {
	f := fileStoreFiles()[i]
	if f.dir == "log" {
		return filepath.Join(a.String("log_dir"), f.name)
	}
	return filepath.Join(a.String("store_dir"), f.name)
}
