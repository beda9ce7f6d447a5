package was

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/drillbook/drillbook/adapters/was/simcell"
	"github.com/drillbook/drillbook/runbook"
)

// SimBackend carries requests out on a simulated cell, in process, with
// the same arguments and the same answers as the wsadmin scripts.
type SimBackend struct {
	cell *simcell.Cell
}

// NewSimBackend returns a backend for the cell.
func NewSimBackend(cell *simcell.Cell) *SimBackend { return &SimBackend{cell: cell} }

// Host names the simulated cell.
func (b *SimBackend) Host() string { return "simulated cell in " + b.cell.Dir() }

// Plan describes the request as the real backend would run it.
func (b *SimBackend) Plan(req Request) runbook.Plan {
	what, args := "wsadmin script "+req.Script, req.Args
	switch req.Tool {
	case "":
	case ToolBackupConfig, ToolRestoreConfig:
		what, args = req.Tool, configToolArgs(req.Args)
	default:
		what = req.Tool
	}
	return runbook.Plan{Host: b.Host(), Detail: fmt.Sprintf("%s %s (simulated)", what, runbook.QuoteArgv(args))}
}

func argAt(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// Do runs the request on the cell. A script's reply is also given as
// evidence in the form the real script prints it.
func (b *SimBackend) Do(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	rep, err := b.do(ctx, req, out)
	if err == nil && req.Script != "" {
		if js, jerr := json.Marshal(rep); jerr == nil {
			rep.Evidence = append(rep.Evidence, ResultMarker+string(js))
		}
	}
	return rep, err
}

func (b *SimBackend) do(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	a := req.Args
	if req.Script != "" {
		out.Line(runbook.Stdout, `WASX7209I: Connected to process "dmgr" on node dmgrNode01 using SOAP connector;  The type of process is: DeploymentManager`)
	}
	tool := func(s string) { out.Line(runbook.Stdout, s) }
	engineReply := func(r simcell.EngineResult) Reply {
		return Reply{OK: "true", Node: r.Node, Server: r.Server, Before: r.Before, After: r.After}
	}
	switch req.Name() {
	case ScriptEngineState:
		ins, err := b.cell.Instances(ctx, argAt(a, 0))
		rep := Reply{OK: "true"}
		for _, in := range ins {
			rep.Instances = append(rep.Instances, Instance{Node: in.Node, Server: in.Server, State: in.State})
		}
		return rep, err
	case ScriptStartEngine:
		var prefer []string
		for _, p := range strings.Split(argAt(a, 3), ",") {
			if p != "" {
				prefer = append(prefer, p)
			}
		}
		out.Line(runbook.Stdout, fmt.Sprintf("drillbook: starting %s in %s mode", argAt(a, 0), argAt(a, 1)))
		r, err := b.cell.StartEngine(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2), prefer, argAt(a, 4))
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptStopEngine:
		r, err := b.cell.StopEngine(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if errors.Is(err, simcell.ErrHung) {
			return Reply{}, fmt.Errorf("wsadmin %s did not finish in time and was stopped: %w", req.Script, err)
		}
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptSetInitialState:
		attr, prev, err := b.cell.SetInitialState(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if err != nil {
			return Reply{}, fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return Reply{OK: "true", Attribute: attr, Previous: prev, After: argAt(a, 2)}, nil
	case ScriptSaveSync:
		nodes, err := b.cell.SaveSync(ctx)
		return Reply{OK: "true", Nodes: nodes}, err
	case ScriptStartServer:
		r, err := b.cell.StartServer(ctx, argAt(a, 0), argAt(a, 1))
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptStopServer:
		r, err := b.cell.StopServer(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		if r.Before == "STARTED" {
			// wsadmin prints this only when it stopped a running server.
			out.Line(runbook.Stdout, fmt.Sprintf(`WASX7264I: Stop completed for server "%s" on node "%s"`, r.Server, r.Node))
		}
		return engineReply(r), nil
	case ToolBackupConfig:
		err := b.cell.BackupConfig(ctx, argAt(a, 0), argAt(a, 1) == "true", tool)
		return Reply{OK: "true"}, err
	case ToolRestoreConfig:
		err := b.cell.RestoreConfig(ctx, argAt(a, 0), argAt(a, 1) == "true", tool)
		return Reply{OK: "true"}, err
	case ToolRecoveryServer:
		tool("ADMU3100I: Reading configuration for server: " + argAt(a, 1))
		if err := b.cell.RecoveryStart(ctx, argAt(a, 0), argAt(a, 1)); err != nil {
			return Reply{}, fmt.Errorf("startServer -recovery: %w", err)
		}
		return Reply{OK: "true", Before: "RECOVERY", After: "STOPPED"}, nil
	}
	return Reply{}, fmt.Errorf("the simulated cell does not know %q", req.Name())
}
