package simcell

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Instance is one running server's instance of an engine.
type Instance struct {
	// Node and Server say where the instance runs; State is its state
	// (Started, Joined, Stopped...).
	Node, Server, State string
}

// EngineResult says where an engine call took effect and the state before
// and after.
type EngineResult struct {
	// Node and Server are empty when the call found nothing to act on.
	Node, Server string
	// Before and After are the states around the call.
	Before, After string
}

func (a *actor) engine(name string) (*Engine, error) {
	e, ok := a.s.Engines[name]
	if !ok {
		return nil, fmt.Errorf("no messaging engine %s in cell %s (engines: %s)", name, a.s.Cell, strings.Join(sortedKeys(a.s.Engines), ", "))
	}
	return e, nil
}

func (a *actor) instances(e *Engine) []Instance {
	var out []Instance
	for _, srv := range e.Servers {
		if st, ok := e.Instances[srv]; ok && a.s.Servers[srv].Running {
			out = append(out, Instance{Node: a.s.Servers[srv].Node, Server: srv, State: st})
		}
	}
	return out
}

// pick chooses the instance a call targets, with the rules of the
// generated Jython (db_pick).
func (a *actor) pick(e *Engine, server string, prefer []string) (Instance, error) {
	ins := a.instances(e)
	if len(ins) == 0 {
		return Instance{}, fmt.Errorf("messaging engine %s has no instance in a running server: start a server that hosts it, or check the engine name", e.Name)
	}
	if server != "" {
		for _, in := range ins {
			if in.Server == server {
				return in, nil
			}
		}
		return Instance{}, fmt.Errorf("messaging engine %s has no instance in server %s", e.Name, server)
	}
	for _, in := range ins {
		if in.State == "Started" {
			return in, nil
		}
	}
	if len(ins) == 1 {
		return ins[0], nil
	}
	for _, p := range prefer {
		for _, in := range ins {
			if in.Server == p {
				return in, nil
			}
		}
	}
	return Instance{}, fmt.Errorf("messaging engine %s has instances in several servers and none is Started: name the server to use", e.Name)
}

func (c *Cell) count(s *State, wsadmin bool) {
	if wsadmin {
		s.WsadminCalls++
	} else {
		s.ToolCalls++
	}
}

// Instances returns the engine's instances in running servers.
func (c *Cell) Instances(ctx context.Context, engine string) ([]Instance, error) {
	var out []Instance
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		e, ok := s.Engines[engine]
		if !ok {
			return nil // wsadmin's queryNames finds nothing
		}
		out = a.instances(e)
		return nil
	})
	return out, err
}

// StartEngine starts an engine through its MBean, in DEFAULT or FLUSH mode;
// ifStarted says what to do when it already runs (fail, ok, restart).
func (c *Cell) StartEngine(ctx context.Context, engine, mode, server string, prefer []string, ifStarted string) (EngineResult, error) {
	var r EngineResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		if mode != "DEFAULT" && mode != "FLUSH" {
			return fmt.Errorf("javax.management.MBeanException: unknown start mode %s", mode)
		}
		e, err := a.engine(engine)
		if err != nil {
			return err
		}
		in, err := a.pick(e, server, prefer)
		if err != nil {
			return err
		}
		r = EngineResult{Node: in.Node, Server: in.Server, Before: in.State}
		if in.State == "Started" || in.State == "Starting" {
			switch ifStarted {
			case "ok":
				r.After = in.State
				return nil
			case "restart":
				if err := a.stopEngine(e, in.Server, standbyState(e)); err != nil {
					return err
				}
			default:
				return fmt.Errorf("messaging engine %s is already %s in %s/%s: it was started after the restore without Restart after restore mode; stop it and start it again in FLUSH mode", engine, in.State, in.Node, in.Server)
			}
		}
		if act := a.active(e); act != "" && act != in.Server {
			return fmt.Errorf("messaging engine %s is active in %s: only one instance may run in a cluster", engine, act)
		}
		if err := a.startEngine(e, in.Server, mode, false); err != nil {
			r.After = e.Instances[in.Server]
			return err
		}
		r.After = e.Instances[in.Server]
		return nil
	})
	return r, err
}

// ErrHung is wrapped by the error of a call the wsadmin-hangs scenario
// made hang.
var ErrHung = errors.New("simulated wsadmin hang")

// StopEngine stops an engine's instance (IMMEDIATE or FORCE). In the
// wsadmin-hangs scenario the first call hangs until ctx ends (or the scaled
// Hang delay passes) and fails.
func (c *Cell) StopEngine(ctx context.Context, engine, mode, server string) (EngineResult, error) {
	var r EngineResult
	hang := false
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		if a.scenario(ScenarioWsadminHangs) && a.fire("hang") {
			hang = true
			return nil
		}
		if mode != "IMMEDIATE" && mode != "FORCE" {
			return fmt.Errorf("javax.management.MBeanException: unknown stop mode %s", mode)
		}
		e, err := a.engine(engine)
		if err != nil {
			return err
		}
		if server == "" {
			act := a.active(e)
			if act == "" {
				r = EngineResult{Before: "not active", After: "not active"}
				return nil
			}
			server = act
		}
		in, err := a.pick(e, server, nil)
		if err != nil {
			return err
		}
		r = EngineResult{Node: in.Node, Server: in.Server, Before: in.State, After: in.State}
		if in.State == "Stopped" || in.State == "Joined" {
			return nil
		}
		if mode == "FORCE" {
			e.Instances[in.Server] = standbyState(e)
			r.After = e.Instances[in.Server]
			return a.sib(in.Server, e, "I", "CWSID0016I", "Messaging engine %s is in state %s.", e.Name, r.After)
		}
		err = a.stopEngine(e, in.Server, standbyState(e))
		r.After = e.Instances[in.Server]
		return err
	})
	if err != nil || !hang {
		return r, err
	}
	s, lerr := c.Load()
	if lerr != nil {
		return r, lerr
	}
	d := time.Duration(float64(s.Options.Delays.Hang) * s.Options.DelayScale)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return r, fmt.Errorf("%w: wsadmin never answered: %w", ErrHung, ctx.Err())
	case <-t.C:
		return r, fmt.Errorf("%w: wsadmin never answered and was stopped after %s: %w", ErrHung, d, context.DeadlineExceeded)
	}
}

// SetInitialState changes an engine's Initial state in the master
// configuration and saves it. It returns the attribute name and the old
// value.
func (c *Cell) SetInitialState(ctx context.Context, bus, engine, state string) (attr, prev string, err error) {
	err = c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		e, err := a.engine(engine)
		if err != nil {
			return err
		}
		if bus != "" && e.Bus != bus {
			return fmt.Errorf("no messaging engine %s in the configuration of bus %s", engine, bus)
		}
		if state != "STARTED" && state != "STOPPED" {
			return fmt.Errorf("initialState must be STARTED or STOPPED, not %s", state)
		}
		attr, prev = "initialState", s.Master[engine]
		s.Master[engine] = state
		return nil
	})
	return attr, prev, err
}

// SaveSync synchronises every node with the master configuration.
func (c *Cell) SaveSync(ctx context.Context) ([]string, error) {
	var nodes []string
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		for k, v := range s.Master {
			s.Synced[k] = v
		}
		for _, n := range s.Nodes {
			nodes = append(nodes, n+"=true")
		}
		return nil
	})
	return nodes, err
}

func (a *actor) server(node, name string) (*Server, error) {
	srv, ok := a.s.Servers[name]
	if !ok {
		return nil, fmt.Errorf("no server %s in cell %s (servers: %s)", name, a.s.Cell, strings.Join(sortedKeys(a.s.Servers), ", "))
	}
	if node != "" && srv.Node != node {
		return nil, fmt.Errorf("server %s is on node %s, not %s", name, srv.Node, node)
	}
	return srv, nil
}

// StartServer starts a server and waits until it is open for e-business.
func (c *Cell) StartServer(ctx context.Context, node, server string) (EngineResult, error) {
	var r EngineResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		srv, err := a.server(node, server)
		if err != nil {
			return err
		}
		r = EngineResult{Node: srv.Node, Server: server, Before: "STOPPED", After: "STARTED"}
		if srv.Running {
			r.Before = "STARTED"
			return nil
		}
		return a.startServer(server)
	})
	return r, err
}

// RecoveryStart starts a stopped server in recovery mode and returns once
// it has stopped by itself.
func (c *Cell) RecoveryStart(ctx context.Context, node, server string) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if _, err := a.server(node, server); err != nil {
			return err
		}
		return a.recoveryStart(server)
	})
}

// StopServer stops a server, or with server empty the server where engine
// is active.
func (c *Cell) StopServer(ctx context.Context, node, server, engine string) (EngineResult, error) {
	var r EngineResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, true)
		if server == "" {
			e, err := a.engine(engine)
			if err != nil {
				return err
			}
			act := a.active(e)
			if act == "" {
				r = EngineResult{Before: "engine " + engine + " not active", After: "nothing to stop"}
				return nil
			}
			node, server = a.s.Servers[act].Node, act
		}
		srv, err := a.server(node, server)
		if err != nil {
			return err
		}
		r = EngineResult{Node: srv.Node, Server: server, Before: "STARTED", After: "STOPPED"}
		if !srv.Running {
			r.Before = "STOPPED"
			return nil
		}
		return a.stopServer(server)
	})
	return r, err
}

// configImage is what the simulated configuration archive holds.
type configImage struct {
	Cell   string            `json:"cell"`
	Master map[string]string `json:"initial_states"`
	UUIDs  map[string]string `json:"uuids"`
}

const configEntry = "config/cells/TrainingCell01/buses/Bus1/sib-engines.json"

// BackupConfig writes the configuration archive (a zip, as backupConfig
// does), stopping every server first unless nostop. Tool output goes to out.
func (c *Cell) BackupConfig(ctx context.Context, file string, nostop bool, out func(string)) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		out("ADMU0116I: Tool information is being logged in file " + filepath.Join(c.dir, "logs", "backupConfig.log"))
		if !nostop {
			out("ADMU2010I: Stopping all server processes for node " + s.DmgrNode)
			if err := a.stopAll(); err != nil {
				return err
			}
		}
		a.wait(s.Options.Delays.Tool)
		img := configImage{Cell: s.Cell, Master: s.Master, UUIDs: map[string]string{}}
		for n, e := range s.Engines {
			img.UUIDs[n] = e.UUID
		}
		out("ADMU5001I: Backing up config directory " + filepath.Join(c.dir, "config") + " to file " + file)
		if err := writeZip(file, img); err != nil {
			return fmt.Errorf("backupConfig: %w", err)
		}
		out("ADMU5002I: 1 files successfully backed up")
		return nil
	})
}

func (a *actor) stopAll() error {
	for _, name := range sortedKeys(a.s.Servers) {
		if err := a.stopServer(name); err != nil {
			return err
		}
	}
	return nil
}

func writeZip(file string, img configImage) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create(configEntry)
	if err == nil {
		err = json.NewEncoder(w).Encode(img)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// RestoreConfig puts the archive's configuration back, stopping every
// server first unless nostop. The node agents pick the restored
// configuration up at once (their automatic synchronisation), so an Initial
// state of Started in the archive is what the next server start sees.
func (c *Cell) RestoreConfig(ctx context.Context, file string, nostop bool, out func(string)) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		zr, err := zip.OpenReader(file)
		if err != nil {
			return fmt.Errorf("restoreConfig: %s is not a configuration archive: %w", file, err)
		}
		defer zr.Close()
		var img configImage
		found := false
		for _, f := range zr.File {
			if f.Name != configEntry {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &img); err != nil {
				return fmt.Errorf("restoreConfig: damaged archive: %w", err)
			}
			found = true
		}
		if !found || img.Cell != s.Cell {
			return fmt.Errorf("restoreConfig: %s is not a configuration of cell %s", file, s.Cell)
		}
		if !nostop {
			out("ADMU2010I: Stopping all server processes for node " + s.DmgrNode)
			if err := a.stopAll(); err != nil {
				return err
			}
		}
		a.wait(s.Options.Delays.Tool)
		out("ADMU5502I: The directory " + filepath.Join(c.dir, "config") + " already exists; renaming to " + filepath.Join(c.dir, "config.old"))
		for k, v := range img.Master {
			if slices.Contains(sortedKeys(s.Engines), k) {
				s.Master[k] = v
				s.Synced[k] = v
			}
		}
		out("ADMU5506I: 1 files successfully restored")
		return nil
	})
}

// Advance stands for message traffic since a backup: every engine with a
// Started instance writes its store once more, so a store put back from
// the backup is older than the engine remembers.
func (c *Cell) Advance(ctx context.Context) error {
	return c.update(ctx, func(s *State, a *actor) error {
		for _, e := range a.sortedEngines() {
			if a.active(e) == "" {
				continue
			}
			if err := c.writeStore(e, e.LastGen+1); err != nil {
				return err
			}
			e.LastGen++
		}
		return nil
	})
}
