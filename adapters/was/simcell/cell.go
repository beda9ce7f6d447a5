// Package simcell is a simulated WebSphere Network Deployment cell for
// drillbook's training target and tests: a deployment manager, three nodes
// with their node agents, a cluster of three servers and a standalone
// server, a service integration bus with messaging engines on data stores
// and file stores, and an HA policy with preferred servers and fail back.
// Operations change its state with configurable delays and every server
// writes a real SystemOut.log in WebSphere's basic format (or, in the hpel
// scenario, an HPEL-style repository read through a logViewer.sh), with the
// message sequences of reference/was-sib.md, rotated by size under
// WebSphere's rotated names.
//
// Every message the cell writes and every state change it makes follows a
// document, a bundle or a real log; docs/was-simulation.md is the table
// of them, and the code that writes each one says where it comes from.
//
// The cell lives in a directory laid out as a real cell's profiles are:
// profiles/Dmgr01 (the deployment manager) and profiles/AppSrv01..03 (one
// per node), each with logs/SERVER/SystemOut.log and a config/cells tree,
// beside cell.json (its state), datastores/ and filestores/. The state is
// locked for each operation, so a drillbook that is killed and started
// again finds the cell as it left it. Delayed log lines (an engine that
// reaches Started seconds after the start call) are written by the call
// itself, which blocks until its whole sequence is written; when its
// context ends first, the rest is written at once, as a server carries on
// when wsadmin is interrupted. Nothing is pending when a call returns, so no
// schedule has to survive a restart, and an instance a killed drillbook
// left Starting or Stopping is settled by the next call.
package simcell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/flock"
)

// The fault scenarios the cell knows.
const (
	ScenarioNormal              = "normal"
	ScenarioLockHeld            = "lock-held"
	ScenarioFlushFails          = "flush-fails"
	ScenarioSlowStart           = "slow-start"
	ScenarioRotationDuringFlush = "rotation-during-flush"
	ScenarioWsadminHangs        = "wsadmin-hangs"
	ScenarioStartedWithoutFlush = "started-without-flush"
	ScenarioPreferredServerDown = "preferred-server-down"
	// ScenarioDmgrStartFails: the first start of the deployment manager
	// fails its initialisation (WSVR0009E), as after a restore of a
	// configuration it cannot read.
	ScenarioDmgrStartFails = "dmgr-start-fails"
	// ScenarioNodeSyncFails: node02's node agent cannot synchronise with
	// the restored configuration, so the node is synchronised offline with
	// syncNode (IBM: "If the node agent is unable to run because of a
	// problem in the node configuration, you can use the syncNode command").
	ScenarioNodeSyncFails = "nodeagent-sync-fails"
	// ScenarioHPEL: the cluster members log through HPEL (High Performance
	// Extensible Logging) instead of SystemOut.log, as the official tWAS
	// container image configures them.
	ScenarioHPEL = "hpel"
)

// Scenarios returns every scenario name, sorted.
func Scenarios() []string {
	s := []string{ScenarioNormal, ScenarioLockHeld, ScenarioFlushFails, ScenarioSlowStart,
		ScenarioRotationDuringFlush, ScenarioWsadminHangs, ScenarioStartedWithoutFlush, ScenarioPreferredServerDown,
		ScenarioDmgrStartFails, ScenarioNodeSyncFails, ScenarioHPEL}
	sort.Strings(s)
	return s
}

// stateVersion changes when cell.json's meaning changes; a cell of another
// version is rebuilt by StartTraining.
const stateVersion = 2

// Delays are how long the cell's actions take before DelayScale; a zero
// field means no pause for that action.
type Delays struct {
	ServerStart time.Duration `json:"server_start"`
	ServerStop  time.Duration `json:"server_stop"`
	EngineStart time.Duration `json:"engine_start"`
	EngineStop  time.Duration `json:"engine_stop"`
	FlushStream time.Duration `json:"flush_stream"`
	SlowStart   time.Duration `json:"slow_start"`
	Hang        time.Duration `json:"hang"`
	Tool        time.Duration `json:"tool"`
	DmgrStart   time.Duration `json:"dmgr_start"`
	// JVMStart is what one wsadmin start costs before its first command
	// runs: a JVM start and the connection to the deployment manager (IBM
	// "wsadmin tool performance tips": each launch creates a new JVM; an
	// older IBM technote on WAS V4's wscp and admin client start measured
	// 3 to 6 s of JIT start on Windows, 45 to 60 s on AIX). The training
	// cell takes the low end, so that a learner sees it without waiting
	// long.
	JVMStart time.Duration `json:"jvm_start,omitempty"`
}

// DefaultDelays are the training delays: an engine reaches Started about
// 3 s after its start call, a slow start takes 45 s more, the deployment
// manager takes 6 s to open for e-business, a wsadmin start 3 s.
func DefaultDelays() Delays {
	return Delays{
		ServerStart: 4 * time.Second, ServerStop: 2 * time.Second,
		EngineStart: 3 * time.Second, EngineStop: time.Second,
		FlushStream: 500 * time.Millisecond, SlowStart: 45 * time.Second,
		Hang: 10 * time.Minute, Tool: time.Second, DmgrStart: 6 * time.Second,
		JVMStart: 3 * time.Second,
	}
}

// Options configure a new cell.
type Options struct {
	// Scenario is one of Scenarios(); empty means normal.
	Scenario string `json:"scenario"`
	// Delays are the base delays; DelayScale multiplies them (0 = none).
	Delays     Delays  `json:"delays"`
	DelayScale float64 `json:"delay_scale"`
	// RotateBytes is the SystemOut.log roll size; zero means 1 MB.
	RotateBytes int64 `json:"rotate_bytes"`
	// MaxBackups is how many rolled files are kept; zero keeps all.
	MaxBackups int `json:"max_backups"`
	// Streams is how many delivery streams a FLUSH start flushes
	// (CWSIP0781I lines); zero means 2.
	Streams int `json:"streams"`
	// Zone names the time zone of log timestamps; empty means UTC.
	Zone string `json:"zone"`
	// Host is the host name the deployment manager's SOAP connector answers
	// on, for wsadmin's messages; empty means dmgrhost.
	Host string `json:"host,omitempty"`
}

// Server is an application server (or the deployment manager, or a node
// agent) of the cell.
type Server struct {
	// Name and Node identify the server.
	Name string `json:"name"`
	Node string `json:"node"`
	// Cluster is empty for a server that is no cluster member.
	Cluster string `json:"cluster,omitempty"`
	// Running is false for a stopped server.
	Running bool `json:"running"`
	// HPEL says the server logs through HPEL instead of SystemOut.log.
	HPEL bool `json:"hpel,omitempty"`
}

// Engine is a messaging engine and its instances.
type Engine struct {
	// Name, Bus and UUID identify the engine; UUID is the ME_UUID its store
	// must carry.
	Name string `json:"name"`
	Bus  string `json:"bus"`
	UUID string `json:"uuid"`
	// Cluster is set for a cluster bus member; Servers are the servers
	// that have an instance (one for a server bus member).
	Cluster string   `json:"cluster,omitempty"`
	Servers []string `json:"servers"`
	// Store is "data" or "file".
	Store string `json:"store"`
	// Preferred and Failback are the HA policy.
	Preferred []string `json:"preferred,omitempty"`
	Failback  bool     `json:"failback,omitempty"`
	// Instances holds each running server's instance state.
	Instances map[string]string `json:"instances"`
	// LastGen is the store generation this engine last wrote: a store found
	// with an older one was restored from a backup.
	LastGen int64 `json:"last_gen"`
	// Restored says the store was put back and the engine has not started
	// normally since.
	Restored bool `json:"restored"`
	// Unflushed says the engine was started in Normal mode on a restored
	// store and has not had a FLUSH start since: its partners log
	// CWSIP0784W.
	Unflushed bool `json:"unflushed"`
}

// State is everything the cell keeps in cell.json.
type State struct {
	// Version is stateVersion when the cell was made.
	Version int `json:"version"`
	// Options are those the cell was created with.
	Options Options `json:"options"`
	// Cell and DmgrNode name the cell and the deployment manager's node;
	// Nodes are the managed nodes.
	Cell     string   `json:"cell"`
	DmgrNode string   `json:"dmgr_node"`
	Nodes    []string `json:"nodes"`
	// Profiles maps each node (the deployment manager's too) to the name
	// of its profile directory under profiles/.
	Profiles map[string]string `json:"profiles"`
	// Dmgr is the deployment manager; NodeAgents are keyed by node.
	Dmgr       Server          `json:"dmgr"`
	NodeAgents map[string]bool `json:"node_agents"`
	// Servers and Engines are keyed by name.
	Servers map[string]*Server `json:"servers"`
	Engines map[string]*Engine `json:"engines"`
	// Master is each engine's Initial state in the deployment manager's
	// master configuration; NodeConfig is each node's copy as last
	// synchronised (what a server on that node starts with).
	Master     map[string]string            `json:"master"`
	NodeConfig map[string]map[string]string `json:"node_config"`
	// Fired counts the scenario faults already injected.
	Fired map[string]int `json:"fired"`
	// WsadminCalls counts the requests a real cell would have needed a
	// wsadmin session for.
	WsadminCalls int `json:"wsadmin_calls"`
	// ToolCalls counts profile tool runs (backupConfig, restoreConfig,
	// startServer -recovery, startManager...).
	ToolCalls int `json:"tool_calls"`
	// Refused counts wsadmin sessions that could not connect because the
	// deployment manager was down.
	Refused int `json:"refused"`
}

// DmgrServer is the deployment manager's server name, as in a profile made
// from IBM's Dmgr template.
const DmgrServer = "dmgr"

// Cell is a simulated cell rooted at a directory.
type Cell struct {
	dir string
}

// Dir returns the cell's directory.
func (c *Cell) Dir() string { return c.dir }

// The cell's fixed topology: node names and their profiles, as a
// "Cell (deployment manager and a managed node)" profile set names them.
var topology = struct {
	cell, dmgrNode, dmgrProfile string
	nodes, profiles             []string
}{
	cell: "TrainingCell01", dmgrNode: "dmgrNode01", dmgrProfile: "Dmgr01",
	nodes: []string{"node01", "node02", "node03"}, profiles: []string{"AppSrv01", "AppSrv02", "AppSrv03"},
}

// ProfileDir returns a node's profile directory (the deployment manager's
// for its node or ""). The layout does not change with the state, so it
// needs no lock.
func (c *Cell) ProfileDir(node string) string {
	if node == "" || node == topology.dmgrNode {
		return filepath.Join(c.dir, "profiles", topology.dmgrProfile)
	}
	for i, n := range topology.nodes {
		if n == node {
			return filepath.Join(c.dir, "profiles", topology.profiles[i])
		}
	}
	return filepath.Join(c.dir, "profiles", "no-profile-for-"+node)
}

// ProfileName returns a node's profile name ("" or the deployment
// manager's node give Dmgr01).
func (c *Cell) ProfileName(node string) string { return filepath.Base(c.ProfileDir(node)) }

// serverNode is the node a server of the fixed topology belongs to.
func serverNode(server string) string {
	switch server {
	case DmgrServer:
		return topology.dmgrNode
	case "server1", "appsrv1":
		return "node01"
	case "server2":
		return "node02"
	case "server3":
		return "node03"
	}
	return ""
}

// LogDir returns the directory of a server's logs (dmgr for the deployment
// manager, nodeagent@NODE for a node agent): PROFILE/logs/SERVER,
// WebSphere's default ${SERVER_LOG_ROOT}.
func (c *Cell) LogDir(server string) string {
	if name, node, ok := strings.Cut(server, "@"); ok {
		return filepath.Join(c.ProfileDir(node), "logs", name)
	}
	return filepath.Join(c.ProfileDir(serverNode(server)), "logs", server)
}

// LogPath returns a server's SystemOut.log.
func (c *Cell) LogPath(server string) string {
	return filepath.Join(c.LogDir(server), "SystemOut.log")
}

// HPELDir returns the HPEL log repository of a server: logdata beside
// where SystemOut.log would be, HPEL's default location.
func (c *Cell) HPELDir(server string) string { return filepath.Join(c.LogDir(server), "logdata") }

// DataStorePath returns the file standing for an engine's data store.
func (c *Cell) DataStorePath(engine string) string {
	return filepath.Join(c.dir, "datastores", engine+".db")
}

// FileStoreDirs returns an engine's file store log and store directories.
func (c *Cell) FileStoreDirs(engine string) (logDir, storeDir string) {
	base := filepath.Join(c.dir, "filestores", engine)
	return filepath.Join(base, "log"), filepath.Join(base, "store")
}

// Open opens an existing cell.
func Open(dir string) (*Cell, error) {
	if _, err := os.Stat(filepath.Join(dir, "cell.json")); err != nil {
		return nil, fmt.Errorf("no simulated cell in %s: %w", dir, err)
	}
	return &Cell{dir: dir}, nil
}

// Create builds the training cell in dir, replacing any cell there:
// cell TrainingCell01 with its deployment manager (node dmgrNode01,
// profile Dmgr01) and nodes node01-node03 (profiles AppSrv01-03, each with
// its node agent), cluster clu1 (server1-3) whose engine clu1.000-Bus1
// uses a data store with preferred servers server1, server2, server3 and
// fail back, and server appsrv1 on node01 whose engine node01.appsrv1-Bus1
// uses a file store. Everything runs and both engines are Started, except
// that preferred-server-down has stopped server1, so the clustered engine
// runs in server2. In the hpel scenario the cluster members log through
// HPEL.
func Create(ctx context.Context, dir string, opts Options) (*Cell, error) {
	if opts.Scenario == "" {
		opts.Scenario = ScenarioNormal
	}
	if !slices.Contains(Scenarios(), opts.Scenario) {
		return nil, fmt.Errorf("unknown scenario %q: choose one of %s", opts.Scenario, strings.Join(Scenarios(), ", "))
	}
	if opts.Zone != "" {
		if _, err := time.LoadLocation(opts.Zone); err != nil {
			return nil, fmt.Errorf("simulated cell time zone: %w", err)
		}
	}
	for _, sub := range []string{"logs", "profiles", "datastores", "filestores"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	hpel := opts.Scenario == ScenarioHPEL
	s := &State{
		Version: stateVersion, Options: opts, Cell: topology.cell, DmgrNode: topology.dmgrNode,
		Nodes:    slices.Clone(topology.nodes),
		Profiles: map[string]string{topology.dmgrNode: topology.dmgrProfile},
		Dmgr:     Server{Name: DmgrServer, Node: topology.dmgrNode},
		Servers: map[string]*Server{
			"server1": {Name: "server1", Node: "node01", Cluster: "clu1", HPEL: hpel},
			"server2": {Name: "server2", Node: "node02", Cluster: "clu1", HPEL: hpel},
			"server3": {Name: "server3", Node: "node03", Cluster: "clu1", HPEL: hpel},
			"appsrv1": {Name: "appsrv1", Node: "node01"},
		},
		Engines: map[string]*Engine{
			"clu1.000-Bus1": {Name: "clu1.000-Bus1", Bus: "Bus1", UUID: newUUID(), Cluster: "clu1",
				Servers: []string{"server1", "server2", "server3"}, Store: "data",
				Preferred: []string{"server1", "server2", "server3"}, Failback: true, Instances: map[string]string{}},
			"node01.appsrv1-Bus1": {Name: "node01.appsrv1-Bus1", Bus: "Bus1", UUID: newUUID(),
				Servers: []string{"appsrv1"}, Store: "file", Instances: map[string]string{}},
		},
		Master:     map[string]string{"clu1.000-Bus1": "STARTED", "node01.appsrv1-Bus1": "STARTED"},
		NodeAgents: map[string]bool{},
		NodeConfig: map[string]map[string]string{},
		Fired:      map[string]int{},
	}
	for i, n := range topology.nodes {
		s.Profiles[n] = topology.profiles[i]
		s.NodeConfig[n] = map[string]string{"clu1.000-Bus1": "STARTED", "node01.appsrv1-Bus1": "STARTED"}
	}
	c := &Cell{dir: dir}
	if err := c.writeProfiles(s); err != nil {
		return nil, err
	}
	if err := c.save(s); err != nil {
		return nil, err
	}
	for _, e := range s.Engines {
		if err := c.writeStore(e, 1); err != nil {
			return nil, err
		}
		e.LastGen = 1
	}
	// Bring the cell up without delays, in IBM's start order (deployment
	// manager, node agents, servers): the training starts from a running
	// cell, and the logs show its start.
	err := c.update(ctx, func(s *State, a *actor) error {
		a.scale, a.calm = 0, true
		if err := a.startDmgr(); err != nil {
			return err
		}
		for _, n := range s.Nodes {
			if err := a.startNodeAgent(n); err != nil {
				return err
			}
		}
		for _, name := range []string{"server1", "server2", "server3", "appsrv1"} {
			if err := a.startServer(name); err != nil {
				return err
			}
		}
		if opts.Scenario == ScenarioPreferredServerDown {
			// The most preferred server went down before the drill: the
			// engine has failed over to server2.
			return a.stopServer("server1")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// writeProfiles lays out each profile as a real one is, as far as
// drillbook looks at it: bin/ for the tools, logs/, and the configuration
// tree config/cells/CELL/nodes/NODE/servers/SERVER/server.xml, whose
// servers/dmgr or servers/nodeagent tells a deployment manager profile
// from a managed node's. A server that logs through HPEL has the
// HighPerformanceExtensibleLogging service enabled in its server.xml, as
// configHPEL.py of the official tWAS image sets it (WASdev/
// ci.docker.websphere-traditional, docker-build/*/scripts/configHPEL.py);
// the rest of a real server.xml is left out.
func (c *Cell) writeProfiles(s *State) error {
	servers := map[string][]string{topology.dmgrNode: {DmgrServer}}
	for _, n := range s.Nodes {
		servers[n] = []string{"nodeagent"}
	}
	for _, name := range sortedKeys(s.Servers) {
		srv := s.Servers[name]
		servers[srv.Node] = append(servers[srv.Node], name)
	}
	for node, names := range servers {
		prof := c.ProfileDir(node)
		for _, sub := range []string{"bin", "logs", "properties"} {
			if err := os.MkdirAll(filepath.Join(prof, sub), 0o755); err != nil {
				return err
			}
		}
		if err := writeTools(prof, s.Cell, node, node == s.DmgrNode); err != nil {
			return err
		}
		for _, name := range names {
			dir := filepath.Join(prof, "config", "cells", s.Cell, "nodes", node, "servers", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			hpel := false
			if srv, ok := s.Servers[name]; ok {
				hpel = srv.HPEL
			}
			if err := os.WriteFile(filepath.Join(dir, "server.xml"), []byte(serverXML(name, hpel)), 0o644); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(s.Servers) {
		if s.Servers[name].HPEL {
			if err := c.writeLogViewer(s.Servers[name].Node); err != nil {
				return err
			}
		}
	}
	return nil
}

// toolStub stands for a profile tool in the simulated profile's bin: the
// simulated cell carries tools out in process, so the file is there to be
// found (a profile has it) and refuses to run.
const toolStub = "#!/bin/sh\necho \"simulated WebSphere profile: drillbook runs this tool in process\" >&2\nexit 1\n"

// writeTools puts the profile's tools in its bin, as a profile has them,
// and setupCmdLine.sh naming the profile's cell and node (WAS_CELL,
// WAS_NODE), which every tool of a real profile sources.
func writeTools(prof, cell, node string, dmgr bool) error {
	tools := []string{"backupConfig", "restoreConfig", "serverStatus", "wsadmin"}
	if dmgr {
		tools = append(tools, "startManager", "stopManager")
	} else {
		tools = append(tools, "startNode", "stopNode", "syncNode", "startServer", "stopServer")
	}
	for _, t := range tools {
		if err := os.WriteFile(filepath.Join(prof, "bin", t+".sh"), []byte(toolStub), 0o755); err != nil {
			return err
		}
	}
	setup := fmt.Sprintf("#!/bin/sh\n# simulated by drillbook\nWAS_CELL=%s\nWAS_NODE=%s\nexport WAS_CELL WAS_NODE\n", cell, node)
	return os.WriteFile(filepath.Join(prof, "bin", "setupCmdLine.sh"), []byte(setup), 0o755)
}

// serverXML is the part of a server.xml drillbook reads: its logging
// services. The element and attribute names are those configHPEL.py
// changes through AdminConfig (HighPerformanceExtensibleLogging enable,
// RASLoggingService enable); the xmi:type prefixes are DERIVED.
func serverXML(name string, hpel bool) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!-- simulated by drillbook: only the logging services of a real server.xml -->
<process:Server xmlns:process="http://www.ibm.com/websphere/appserver/schemas/5.0/process.xmi" name=%q>
  <services xmi:type="loggingservice.ras:RASLoggingService" enable="%t"/>
  <services xmi:type="loggingservice.hpel:HighPerformanceExtensibleLogging" enable="%t"/>
</process:Server>
`, name, !hpel, hpel)
}

func newUUID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// ErrOldCell is wrapped by Load's error for a cell made by an earlier
// drillbook, whose state this one does not read.
var ErrOldCell = errors.New("simulated cell made by an earlier drillbook")

// Load reads the cell's state (for tests and reports).
func (c *Cell) Load() (*State, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "cell.json"))
	if err != nil {
		return nil, fmt.Errorf("read simulated cell: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("simulated cell state %s is damaged: %w (delete the directory to start a new cell)", filepath.Join(c.dir, "cell.json"), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w in %s (version %d, want %d): delete the directory to start a new cell", ErrOldCell, c.dir, s.Version, stateVersion)
	}
	if s.Fired == nil {
		s.Fired = map[string]int{}
	}
	return &s, nil
}

func (c *Cell) save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return file.WriteAtomic(filepath.Join(c.dir, "cell.json"), b, 0o644)
}

// update runs fn on the loaded state under the cell's lock and saves the
// state afterwards, also when fn fails half way (a real cell keeps what
// already happened).
func (c *Cell) update(ctx context.Context, fn func(*State, *actor) error) error {
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := c.Load()
	if err != nil {
		return err
	}
	a := newActor(ctx, c, s)
	ferr := a.settle()
	if ferr == nil {
		ferr = fn(s, a)
	}
	if err := c.save(s); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}

// lock takes an exclusive flock on cell.lock, waiting for another drillbook
// process as long as ctx allows.
func (c *Cell) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.dir, "cell.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := flock.TryLock(f, true)
		if err == nil {
			return func() { flock.Unlock(f); f.Close() }, nil
		}
		if !errors.Is(err, flock.ErrHeld) {
			f.Close()
			return nil, fmt.Errorf("lock the simulated cell: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("the simulated cell is busy with another call: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// storeImage is what a simulated store file holds.
type storeImage struct {
	UUID       string `json:"me_uuid"`
	Generation int64  `json:"generation"`
}

func (c *Cell) writeStore(e *Engine, gen int64) error {
	img, _ := json.Marshal(storeImage{UUID: e.UUID, Generation: gen})
	if e.Store == "data" {
		p := c.DataStorePath(e.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, append(img, '\n'), 0o644)
	}
	logDir, storeDir := c.FileStoreDirs(e.Name)
	for _, d := range []string{logDir, storeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(logDir, "Log"), append(img, '\n'), 0o644); err != nil {
		return err
	}
	// The store files carry the generation too, so that a partial restore
	// (Log from one backup, stores from another) is detected at start.
	for _, n := range []string{"PermanentStore", "TemporaryStore"} {
		body := fmt.Sprintf("%s generation %d\n%s", n, gen, strings.Repeat("\x00", 4096))
		if err := os.WriteFile(filepath.Join(storeDir, n), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// storeFault is the message a real engine logs when it cannot open its
// message store, with IBM's text (CWSISMessages.nlsprops).
type storeFault struct {
	id, text string
	// why is what the simulation found, for the error the call returns.
	why string
}

// readStore returns the store's image, or the message a real engine would
// log for the fault found:
//   - a data store that cannot be read: CWSIS1519E, the lock on the data
//     store cannot be obtained (IBM: the database is unreachable or the lock
//     is held). SIMPLIFIED: a real engine retries for up to 15 minutes
//     (jdbcInitialDatasourceWaitTimeout) before giving up;
//   - a file store without its log file: CWSIS1580E with the log's path;
//   - a file store whose three files are not one set: CWSIS1590E, "The file
//     store has stopped unexpectedly." IBM is silent on what a real file
//     store logs for store files from another backup; the simulation stops
//     the engine with this message.
func (c *Cell) readStore(e *Engine) (storeImage, *storeFault) {
	var img storeImage
	if e.Store == "data" {
		b, err := os.ReadFile(c.DataStorePath(e.Name))
		if err == nil {
			err = json.Unmarshal(b, &img)
		}
		if err != nil {
			return img, &storeFault{id: "CWSIS1519E", text: fmt.Sprintf("Messaging engine %s cannot obtain the lock on its data store, which ensures it has exclusive access to the data.", e.Name), why: err.Error()}
		}
		return img, nil
	}
	logDir, storeDir := c.FileStoreDirs(e.Name)
	b, err := os.ReadFile(filepath.Join(logDir, "Log"))
	if err == nil {
		err = json.Unmarshal(b, &img)
	}
	if err != nil {
		return img, &storeFault{id: "CWSIS1580E", text: fmt.Sprintf("The file store's log file cannot be found in the provided location: %s.", filepath.Join(logDir, "Log")), why: err.Error()}
	}
	for _, n := range []string{"PermanentStore", "TemporaryStore"} {
		b, err := os.ReadFile(filepath.Join(storeDir, n))
		var gen int64
		if err == nil {
			if _, serr := fmt.Sscanf(string(b), n+" generation %d", &gen); serr != nil || gen != img.Generation {
				err = fmt.Errorf("%s is from generation %d, the log from %d: the file store is not one consistent set", n, gen, img.Generation)
			}
		}
		if err != nil {
			return img, &storeFault{id: "CWSIS1590E", text: "The file store has stopped unexpectedly.", why: err.Error()}
		}
	}
	return img, nil
}

// At returns a handle on the cell directory dir without reading it: its
// paths (profiles, logs, stores) are fixed by the topology, so a plan can
// name them before the cell exists.
func At(dir string) *Cell { return &Cell{dir: dir} }
