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

// ErrNoEngine is wrapped by the error for an engine the cell's
// configuration does not have.
var ErrNoEngine = errors.New("no such messaging engine")

// Instances returns the engine's instances in running servers; an engine
// the configuration does not have is ErrNoEngine.
func (c *Cell) Instances(ctx context.Context, engine string) ([]Instance, error) {
	var out []Instance
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		e, ok := s.Engines[engine]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoEngine, engine)
		}
		out = a.instances(e)
		return nil
	})
	return out, err
}

// StartEngine starts an engine through its MBean, in DEFAULT or FLUSH mode;
// ifStarted says what to do when it already runs: ok reports it as it is,
// anything else fails (an engine started after a restore without FLUSH
// must be stopped, a confirmed step, before it is started again).
func (c *Cell) StartEngine(ctx context.Context, engine, mode, server string, prefer []string, ifStarted string) (EngineResult, error) {
	var r EngineResult
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
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
		if err := c.connect(s); err != nil {
			return err
		}
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
		if err := c.connect(s); err != nil {
			return err
		}
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

// SaveSync saves the master configuration and synchronises every node
// whose node agent runs, through its NodeSync MBean (IBM txml_sync:
// AdminControl.invoke(sync, 'sync')). A node whose synchronisation fails
// answers false, as the MBean does; its name is in failed.
func (c *Cell) SaveSync(ctx context.Context) (nodes, failed []string, err error) {
	err = c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		for _, n := range s.Nodes {
			if !s.NodeAgents[n] {
				continue // no NodeSync MBean without its node agent
			}
			if s.Fired["sync-broken:"+n] > 0 {
				if err := a.autoSync(n); err != nil {
					return err
				}
				nodes = append(nodes, n+"=false")
				failed = append(failed, n)
				continue
			}
			a.syncNodeConfig(n)
			nodes = append(nodes, n+"=true")
		}
		return nil
	})
	return nodes, failed, err
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

// StartServer starts a server through its node agent
// (AdminControl.startServer) and waits until it is open for e-business.
// Before is STARTED when it already ran: nothing was started then.
func (c *Cell) StartServer(ctx context.Context, node, server string) (EngineResult, error) {
	var r EngineResult
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		srv, err := a.server(node, server)
		if err != nil {
			return err
		}
		r = EngineResult{Node: srv.Node, Server: server, Before: "STOPPED", After: "STARTED"}
		if srv.Running {
			r.Before = "STARTED"
			return nil
		}
		if !s.NodeAgents[srv.Node] {
			r.After = "STOPPED"
			return fmt.Errorf("no node agent runs on node %s, so server %s cannot be started through it: start the node agent (startNode) first", srv.Node, server)
		}
		return a.startServer(server)
	})
	return r, err
}

// ServerState reports a server's state through wsadmin (STARTED, or
// STOPPED when it has no Server MBean).
func (c *Cell) ServerState(ctx context.Context, node, server string) (string, error) {
	var st string
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		srv, err := a.server(node, server)
		if err != nil {
			return err
		}
		st = "STOPPED"
		if srv.Running {
			st = "STARTED"
		}
		return nil
	})
	return st, err
}

// RecoveryStart runs startServer -recovery in a node's profile: a stopped
// server starts in recovery mode and stops by itself once recovery is done
// (IBM trun_svr_recoverymode). A running server is refused.
func (c *Cell) RecoveryStart(ctx context.Context, node, server, profile string) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		srv, err := a.server(node, server)
		if err != nil {
			return err
		}
		if err := c.checkProfile(s, profile, srv.Node, "startServer"); err != nil {
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
		if err := c.connect(s); err != nil {
			return err
		}
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

// configImage is what the simulated configuration archive holds: the
// cell it belongs to and the engines' Initial states and UUIDs. A real
// backupConfig archive is a zip of the profile's config directory; the
// simulation keeps one entry under the same config/cells/CELL/ prefix, so
// the cell can be read from the entry names as from a real archive.
type configImage struct {
	Cell   string            `json:"cell"`
	Node   string            `json:"node,omitempty"`
	Master map[string]string `json:"initial_states"`
	UUIDs  map[string]string `json:"uuids"`
}

func configEntry(cell string) string { return "config/cells/" + cell + "/buses/Bus1/sib-engines.json" }

// profileNode returns the node whose profile is named (the deployment
// manager's for "" or Dmgr01).
func (c *Cell) profileNode(s *State, profile string) (string, error) {
	if profile == "" {
		return s.DmgrNode, nil
	}
	for node, p := range s.Profiles {
		if p == profile {
			return node, nil
		}
	}
	return "", fmt.Errorf("no profile %s in the cell (profiles: %v)", profile, s.Profiles)
}

// stopNodeServers stops every server process of a node as backupConfig
// and restoreConfig do without -nostop (IBM rxml_restoreconfig: "all
// servers on the node stop before the configuration restores"): the
// deployment manager on its node; the servers and the node agent on a
// managed node. UNCONFIRMED: the ADMU2010I, ADMU0510I and ADMU0512I texts
// are not in a document or published log drillbook found; the ids are
// the ones stopServer-style tools print for these events, the wording is
// ours (docs/was-simulation.md).
func (a *actor) stopNodeServers(node string, out func(string)) error {
	out("ADMU2010I: Stopping all server processes for node " + node)
	if node == a.s.DmgrNode {
		if !a.s.Dmgr.Running {
			out("ADMU0512I: Server " + DmgrServer + " cannot be reached. It appears to be stopped.")
			return nil
		}
		out("ADMU0510I: Server " + DmgrServer + " is now STOPPED")
		return a.stopDmgr()
	}
	for _, name := range sortedKeys(a.s.Servers) {
		srv := a.s.Servers[name]
		if srv.Node != node {
			continue
		}
		if !srv.Running {
			out("ADMU0512I: Server " + name + " cannot be reached. It appears to be stopped.")
			continue
		}
		if err := a.stopServer(name); err != nil {
			return err
		}
		out("ADMU0510I: Server " + name + " is now STOPPED")
	}
	if a.s.NodeAgents[node] {
		if err := a.stopNodeAgent(node); err != nil {
			return err
		}
		out("ADMU0510I: Server nodeagent is now STOPPED")
	}
	return nil
}

// BackupConfig runs backupConfig in a profile (the deployment manager's
// when profile is empty), writing the configuration archive (a zip, as
// backupConfig does) and stopping the node's servers first unless nostop
// (IBM rxml_backupconfig: "By default, all servers on the node are stopped
// before the backup"). Tool output goes to out; the ADMU texts are from
// memory (reference §4.1, UNCONFIRMED).
func (c *Cell) BackupConfig(ctx context.Context, file string, nostop bool, profile string, out func(string)) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		node, err := c.profileNode(s, profile)
		if err != nil {
			return err
		}
		out("ADMU0116I: Tool information is being logged in file " + c.toolLog(node, "", "backupConfig"))
		out("ADMU0128I: Starting tool with the " + c.ProfileName(node) + " profile")
		if !nostop {
			if err := a.stopNodeServers(node, out); err != nil {
				return err
			}
		}
		a.wait(s.Options.Delays.Tool)
		img := configImage{Cell: s.Cell, Master: s.Master, UUIDs: map[string]string{}}
		if node != s.DmgrNode {
			img.Node, img.Master = node, s.NodeConfig[node]
		}
		for n, e := range s.Engines {
			img.UUIDs[n] = e.UUID
		}
		out("ADMU5001I: Backing up config directory " + filepath.Join(c.ProfileDir(node), "config") + " to file " + file)
		if err := writeZip(file, img); err != nil {
			return fmt.Errorf("backupConfig: %w", err)
		}
		out("ADMU5002I: 1 files successfully backed up")
		return nil
	})
}

func writeZip(file string, img configImage) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create(configEntry(img.Cell))
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

func readZip(file string) (configImage, error) {
	var img configImage
	zr, err := zip.OpenReader(file)
	if err != nil {
		return img, fmt.Errorf("%s is not a configuration archive: %w", file, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/buses/Bus1/sib-engines.json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return img, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return img, err
		}
		if err := json.Unmarshal(b, &img); err != nil {
			return img, fmt.Errorf("damaged archive %s: %w", file, err)
		}
		return img, nil
	}
	return img, fmt.Errorf("%s holds no configuration of a cell", file)
}

// RestoreConfig runs restoreConfig in a profile (the deployment manager's
// when profile is empty). Without nostop it first stops every server of
// the profile's node "so that a node synchronization does not occur during
// the restoration" (IBM rxml_restoreconfig): in the deployment manager's
// profile that is the deployment manager, which stays stopped until
// startManager. Restored in the deployment manager's profile, the archive
// becomes the master configuration that node agents synchronise with when
// they next reach the deployment manager; in a node's profile it replaces
// only that node's copy, which the next synchronisation overwrites
// (reference §4.2). In the nodeagent-sync-fails scenario the restore
// leaves node02 unable to synchronise until syncNode.
func (c *Cell) RestoreConfig(ctx context.Context, file string, nostop bool, profile string, out func(string)) error {
	return c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		node, err := c.profileNode(s, profile)
		if err != nil {
			return err
		}
		out("ADMU0116I: Tool information is being logged in file " + c.toolLog(node, "", "restoreConfig"))
		out("ADMU0128I: Starting tool with the " + c.ProfileName(node) + " profile")
		img, err := readZip(file)
		if err != nil {
			return fmt.Errorf("restoreConfig: %w", err)
		}
		if img.Cell != s.Cell {
			return fmt.Errorf("restoreConfig: %s holds the configuration of cell %s, not of this cell %s", file, img.Cell, s.Cell)
		}
		if !nostop {
			if err := a.stopNodeServers(node, out); err != nil {
				return err
			}
		}
		a.wait(s.Options.Delays.Tool)
		cfgDir := filepath.Join(c.ProfileDir(node), "config")
		out("ADMU5502I: The directory " + cfgDir + " already exists; renaming to " + cfgDir + ".old")
		restored := map[string]string{}
		for k, v := range img.Master {
			if _, ok := s.Engines[k]; ok {
				restored[k] = v
			}
		}
		if node == s.DmgrNode {
			s.Master = restored
			if a.scenario(ScenarioNodeSyncFails) {
				a.fire("sync-broken:node02")
			}
		} else {
			s.NodeConfig[node] = restored
		}
		out("ADMU5506I: 1 files successfully restored")
		return nil
	})
}

// ArchiveCell returns the cell whose configuration an archive holds.
func ArchiveCell(file string) (string, error) {
	img, err := readZip(file)
	return img.Cell, err
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
