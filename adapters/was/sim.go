package was

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/was/simcell"
	"github.com/drillbook/drillbook/runbook"
)

// SimBackend carries requests out on a simulated cell, in process, with
// the same arguments and the same answers as the wsadmin scripts and the
// profile tools, and the same failures: a wsadmin session while the
// deployment manager is down prints WASX7023E and fails as a real one.
type SimBackend struct {
	cell *simcell.Cell
	// plan marks a backend made only to plan: Do refuses.
	plan bool
	// sess models the wsadmin session the real backend keeps.
	sess *simSession
}

// simSession models the real backend's wsadmin session (session.go) on the
// simulated cell: a start costs the cell's JVM start delay
// (simcell.Delays.JVMStart, whose comment cites IBM's figures), a
// session ends before anything that stops the deployment manager, when a
// connection fails or a call hangs, and after the idle time. It lives in
// this process only, as the real one does. Simplified: the calls of one
// session are not otherwise slower or faster than separate ones.
type simSession struct {
	mu     sync.Mutex
	open   bool
	id     int
	starts int
	last   time.Time
	// jvmStart, when not negative, replaces the cell's scaled JVM start
	// delay; noSession starts a wsadmin for every call, as before
	// sessions; idle is the idle time (zero: 5 minutes).
	jvmStart  time.Duration
	noSession bool
	idle      time.Duration
}

// NewSimBackend returns a backend for the cell.
func NewSimBackend(cell *simcell.Cell) *SimBackend {
	return &SimBackend{cell: cell, sess: &simSession{jvmStart: -1}}
}

// sessionCall opens the modelled wsadmin session for a script call when
// none is open, paying the JVM start, and notes it on ctx. It holds the
// session for the call; the caller runs end when the call is over.
func (b *SimBackend) sessionCall(ctx context.Context, req Request, out runbook.Output) (end func(err error), err error) {
	s := b.sess
	s.mu.Lock()
	idle := s.idle
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	started := false
	if !s.open || s.noSession || time.Since(s.last) > idle {
		d := s.jvmStart
		if d < 0 {
			st, err := b.cell.Load()
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			d = time.Duration(float64(st.Options.Delays.JVMStart) * st.Options.DelayScale)
		}
		s.starts++
		s.id, s.open, started = s.starts, true, true
		if s.noSession {
			out.Line(runbook.Info, fmt.Sprintf("starting a wsadmin for %s alone (JVM start %s)", req.Script, d))
		} else {
			out.Line(runbook.Info, fmt.Sprintf("starting wsadmin session %d on the simulated deployment manager (JVM start %s; one JVM for the calls that follow)", s.id, d))
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.open = false
			s.mu.Unlock()
			noteSession(ctx, fmt.Sprintf("wsadmin session %d on the simulated cell", s.id), true)
			return nil, fmt.Errorf("wsadmin %s did not finish in time and was stopped: its JVM had not started: %w", req.Script, ctx.Err())
		}
	}
	name := fmt.Sprintf("wsadmin session %d on the simulated cell", s.id)
	if s.noSession {
		name = "wsadmin of its own"
	}
	noteSession(ctx, name, started)
	return func(err error) {
		var ce *simcell.ConnectError
		if errors.As(err, &ce) || errors.Is(err, simcell.ErrHung) || ctx.Err() != nil || s.noSession || b.stopsManager(req) {
			s.open = false
		}
		s.last = time.Now()
		s.mu.Unlock()
	}, nil
}

// stopsManager says whether a request stops the simulated deployment
// manager (as RealBackend.stopsManager).
func (b *SimBackend) stopsManager(req Request) bool {
	return stopsManager(req, simcell.DmgrServer)
}

// Host names the simulated cell.
func (b *SimBackend) Host() string { return "simulated cell in " + b.cell.Dir() }

// Cell returns the simulated cell's name.
func (b *SimBackend) Cell() string { return simcellName }

// simcellName is the training cell's name (simcell's topology).
const simcellName = "TrainingCell01"

// Profile returns a node's profile in the simulated cell.
func (b *SimBackend) Profile(node string) (Profile, error) {
	switch node {
	case "", "node01", "node02", "node03":
	default:
		return Profile{}, fmt.Errorf("node %s has no profile in the simulated cell (nodes: node01, node02, node03)", node)
	}
	return Profile{Name: b.cell.ProfileName(node), Root: b.cell.ProfileDir(node), Node: node, Host: "simulated"}, nil
}

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
	detail := fmt.Sprintf("%s %s (simulated)", what, runbook.QuoteArgv(args))
	if req.Tool != "" {
		if p, err := b.Profile(req.Node); err == nil {
			detail += " in " + p.Describe()
		}
	}
	return runbook.Plan{Host: b.Host(), Detail: strings.Replace(detail, " ''", "", -1)}
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
	if b.plan {
		return Reply{}, errors.New("this training cell was opened to plan only: run the runbook to start it")
	}
	if req.Script == "" && b.stopsManager(req) {
		b.sess.mu.Lock()
		b.sess.open = false
		b.sess.mu.Unlock()
	}
	var end func(error)
	if req.Script != "" {
		var err error
		if end, err = b.sessionCall(ctx, req, out); err != nil {
			return Reply{}, err
		}
	}
	rep, err := b.do(ctx, req, out)
	if end != nil {
		end(err)
	}
	var ce *simcell.ConnectError
	if errors.As(err, &ce) {
		// What wsadmin prints when it cannot connect, and what the real
		// backend makes of it.
		for _, l := range ce.Lines() {
			out.Line(runbook.Stdout, l)
		}
		return Reply{}, fmt.Errorf("wsadmin %s failed: %s%s", req.Script, ce.Lines()[0], wasxHint(ce.Lines()[0], fmt.Sprintf("%s:%d", ce.Host, ce.Port)))
	}
	if err == nil && req.Script != "" {
		if js, jerr := json.Marshal(rep); jerr == nil {
			rep.Evidence = append(rep.Evidence, ResultMarker+string(js))
		}
	}
	return rep, err
}

// connected prints wsadmin's banner once the session has connected: a
// request that reaches the cell did.
func (b *SimBackend) banner(out runbook.Output) {
	out.Line(runbook.Stdout, b.cell.Banner())
}

func (b *SimBackend) do(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	a := req.Args
	tool := func(s string) { out.Line(runbook.Stdout, s) }
	toolResult := func(r simcell.ToolResult, err error) (Reply, error) {
		for _, l := range r.Lines {
			tool(l)
		}
		rep := Reply{OK: "true"}
		if len(r.Lines) > 0 {
			rep.Evidence = r.Lines[max(0, len(r.Lines)-3):]
		}
		if err != nil {
			return rep, fmt.Errorf("%s (exit status %d): %w", req.Tool, r.Exit, err)
		}
		return rep, nil
	}
	engineReply := func(r simcell.EngineResult) Reply {
		return Reply{OK: "true", Node: r.Node, Server: r.Server, Before: r.Before, After: r.After}
	}
	profile := func() string {
		p, err := b.Profile(req.Node)
		if err != nil {
			return "?"
		}
		return p.Name
	}
	switch req.Name() {
	case ScriptConnection:
		info, err := b.cell.Connect(ctx)
		if err != nil {
			return Reply{}, err
		}
		b.banner(out)
		return Reply{OK: "true", Cell: info.Cell, Node: info.Node, Process: info.Process, Type: info.Type}, nil
	case ScriptEngineState:
		ins, err := b.cell.Instances(ctx, argAt(a, 0))
		if errors.Is(err, simcell.ErrNoEngine) {
			b.banner(out)
			return Reply{OK: "true", Configured: "false"}, nil
		}
		if err != nil {
			return Reply{}, err
		}
		b.banner(out)
		rep := Reply{OK: "true", Configured: "true"}
		for _, in := range ins {
			rep.Instances = append(rep.Instances, Instance{Node: in.Node, Server: in.Server, State: in.State})
		}
		return rep, nil
	case ScriptStartEngine:
		var prefer []string
		for _, p := range strings.Split(argAt(a, 3), ",") {
			if p != "" {
				prefer = append(prefer, p)
			}
		}
		r, err := b.cell.StartEngine(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2), prefer, argAt(a, 4))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		out.Line(runbook.Stdout, fmt.Sprintf("drillbook: starting %s in %s mode", argAt(a, 0), argAt(a, 1)))
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptStopEngine:
		r, err := b.cell.StopEngine(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		if errors.Is(err, simcell.ErrHung) {
			return Reply{}, fmt.Errorf("wsadmin %s did not finish in time and was stopped: %w", req.Script, err)
		}
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptSetInitialState:
		attr, prev, err := b.cell.SetInitialState(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		if err != nil {
			return Reply{}, fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return Reply{OK: "true", Attribute: attr, Previous: prev, After: argAt(a, 2)}, nil
	case ScriptSaveSync:
		nodes, failed, err := b.cell.SaveSync(ctx)
		if err != nil {
			return Reply{}, err
		}
		b.banner(out)
		if len(failed) > 0 {
			return Reply{Nodes: nodes}, fmt.Errorf("wsadmin %s: %s", req.Script, syncFailure(failed))
		}
		return Reply{OK: "true", Nodes: nodes}, nil
	case ScriptServerStatus:
		st, err := b.cell.ServerState(ctx, argAt(a, 0), argAt(a, 1))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		if err != nil {
			return Reply{}, fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return Reply{OK: "true", Node: argAt(a, 0), Server: argAt(a, 1), After: st}, nil
	case ScriptStartServer:
		r, err := b.cell.StartServer(ctx, argAt(a, 0), argAt(a, 1))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		return engineReply(r), nil
	case ScriptStopServer:
		r, err := b.cell.StopServer(ctx, argAt(a, 0), argAt(a, 1), argAt(a, 2))
		if errors.Is(err, simcell.ErrNotConnected) {
			return Reply{}, err
		}
		b.banner(out)
		if err != nil {
			return engineReply(r), fmt.Errorf("wsadmin %s: %w", req.Script, err)
		}
		if r.Before == "STARTED" {
			// wsadmin prints these only when it stopped a running server
			// (IBM's AdminControl.stopServer example, reference §1.8).
			out.Line(runbook.Stdout, fmt.Sprintf(`WASX7337I: Invoked stop for server "%s" Waiting for stop completion.`, r.Server))
			out.Line(runbook.Stdout, fmt.Sprintf(`WASX7264I: Stop completed for server "%s" on node "%s"`, r.Server, r.Node))
		}
		return engineReply(r), nil
	case ToolBackupConfig:
		return Reply{OK: "true"}, b.cell.BackupConfig(ctx, argAt(a, 0), argAt(a, 1) == "true", profile(), tool)
	case ToolRestoreConfig:
		return Reply{OK: "true"}, b.cell.RestoreConfig(ctx, argAt(a, 0), argAt(a, 1) == "true", profile(), tool)
	case ToolStartManager:
		return toolResult(b.cell.StartManager(ctx, profile()))
	case ToolStopManager:
		return toolResult(b.cell.StopManager(ctx, profile()))
	case ToolStartNode:
		return toolResult(b.cell.StartNode(ctx, req.Node, profile()))
	case ToolStopNode:
		return toolResult(b.cell.StopNode(ctx, req.Node, profile()))
	case ToolSyncNode:
		return toolResult(b.cell.SyncNode(ctx, req.Node, profile()))
	case ToolServerStatus:
		running, r, err := b.cell.ServerStatus(ctx, req.Node, argAt(a, 0))
		rep, err := toolResult(r, err)
		rep.Server, rep.After = argAt(a, 0), "STOPPED"
		if running {
			rep.After = "STARTED"
		}
		return rep, err
	case ToolRecoveryServer:
		tool("ADMU3100I: Reading configuration for server: " + argAt(a, 1))
		if err := b.cell.RecoveryStart(ctx, argAt(a, 0), argAt(a, 1), profile()); err != nil {
			return Reply{}, fmt.Errorf("startServer -recovery: %w", err)
		}
		return Reply{OK: "true", Node: argAt(a, 0), Server: argAt(a, 1), Before: "RECOVERY", After: "STOPPED"}, nil
	}
	if rep, ok, err := b.doCheck(ctx, req, out); ok {
		return rep, err
	}
	return Reply{}, fmt.Errorf("the simulated cell does not know %q", req.Name())
}

// syncFailure is the save-sync script's message for nodes whose
// synchronisation failed.
func syncFailure(failed []string) string {
	return fmt.Sprintf("synchronisation failed for node(s) %s: synchronise them offline with syncNode, their node agents stopped (was.stop-node, was.sync-node, was.start-node)", strings.Join(failed, ", "))
}
