package was

import (
	"context"

	"github.com/drillbook/drillbook/runbook"
)

// The wsadmin scripts the adapter runs, by name. Each is one wsadmin
// session (one JVM start on a real host).
const (
	ScriptEngineState     = "engine-state"
	ScriptStartEngine     = "start-engine"
	ScriptStopEngine      = "stop-engine"
	ScriptSetInitialState = "set-initial-state"
	ScriptSaveSync        = "save-sync"
	ScriptStartServer     = "start-server"
	ScriptStopServer      = "stop-server"
	ScriptServerStatus    = "server-status"
	ScriptConnection      = "connection"
)

// The profile tools the adapter runs, by name. Each runs in one profile:
// the deployment manager's (Request.Node empty) or a node's.
const (
	ToolBackupConfig   = "backupConfig"
	ToolRestoreConfig  = "restoreConfig"
	ToolRecoveryServer = "startServer-recovery"
	ToolStartManager   = "startManager"
	ToolStopManager    = "stopManager"
	ToolStartNode      = "startNode"
	ToolStopNode       = "stopNode"
	ToolSyncNode       = "syncNode"
	ToolServerStatus   = "serverStatus"
)

// toolProfile says where a tool runs: "dmgr" for the deployment manager's
// profile, "node" for a node's. backupConfig and restoreConfig run in the
// deployment manager's, which holds the cell's master configuration (IBM
// Redbook "WebSphere Application Server V8.5 Concepts, Planning, and Design
// Guide" §12.8.3: "For a network deployment cell, run the backupConfig
// utility at the deployment manager level because it contains the master
// repository"). serverStatus runs in either.
func toolProfile(tool string) string {
	switch tool {
	case ToolBackupConfig, ToolRestoreConfig, ToolStartManager, ToolStopManager:
		return "dmgr"
	case ToolRecoveryServer, ToolStartNode, ToolStopNode, ToolSyncNode:
		return "node"
	}
	return ""
}

// Request is one call to a Backend: a wsadmin script or a profile tool,
// with its arguments as plain strings (they reach a script as sys.argv,
// never inside its text).
type Request struct {
	// Script is a Script* name for wsadmin, or "" for a tool.
	Script string
	// Tool is a Tool* name, or "" for a script.
	Tool string
	// Node is the node whose profile a tool runs in; "" is the deployment
	// manager's profile. Scripts ignore it: wsadmin talks to the
	// deployment manager.
	Node string
	// Args are the script's or tool's arguments, in the order its
	// documentation in jython.go (or the tool's case in real.go) gives.
	Args []string
}

// Name returns the script or tool name.
func (r Request) Name() string {
	if r.Script != "" {
		return r.Script
	}
	return r.Tool
}

// Profile is a WebSphere profile a tool runs in.
type Profile struct {
	// Name is the profile's name (Dmgr01, AppSrv01).
	Name string
	// Root is the profile directory.
	Root string
	// Node is the node it belongs to; "" for the deployment manager's.
	Node string
	// Host is where the profile is ("localhost").
	Host string
}

// Describe names the profile for plans and results: "profile Dmgr01
// (deployment manager) at /opt/IBM/.../Dmgr01 on localhost".
func (p Profile) Describe() string {
	owner := "deployment manager"
	if p.Node != "" {
		owner = "node " + p.Node
	}
	s := "profile " + p.Name + " (" + owner + ")"
	if p.Root != "" {
		s += " at " + p.Root
	}
	if p.Host != "" {
		s += " on " + p.Host
	}
	return s
}

// Instance is one server's instance of a messaging engine, as its MBean
// reports it.
type Instance struct {
	// Node and Server are the ObjectName's node and process keys.
	Node   string `json:"node,omitempty"`
	Server string `json:"server,omitempty"`
	// State is what the MBean's state() returned (Started, Joined...).
	State string `json:"state"`
}

// Reply is what a script reported through its DRILLBOOK-RESULT marker (or
// what the simulated cell answers in its place). Every field is a string or
// a list, as the script's small JSON encoder writes them.
type Reply struct {
	// OK is "true" on success; anything else is a failure explained by Error.
	OK    string `json:"ok"`
	Error string `json:"error,omitempty"`
	// Instances are the engine's instances in running servers.
	Instances []Instance `json:"instances,omitempty"`
	// Configured is "false" when the cell's configuration has no engine of
	// the name asked for (an engine with no running instance is "true").
	Configured string `json:"configured,omitempty"`
	// Node and Server say where the call took effect.
	Node   string `json:"node,omitempty"`
	Server string `json:"server,omitempty"`
	// Before and After are engine or server states around the call.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Attribute and Previous are the Initial state attribute and its old
	// value.
	Attribute string `json:"attribute,omitempty"`
	Previous  string `json:"previous,omitempty"`
	// Nodes are the nodes a save-sync synchronised, each "node=result".
	Nodes []string `json:"nodes,omitempty"`
	// Cell, Process and Type are what a connection check found: the cell
	// and process wsadmin is connected to and its type.
	Cell    string `json:"cell,omitempty"`
	Process string `json:"process,omitempty"`
	Type    string `json:"type,omitempty"`
	// Facts are what a precheck script read from the configuration, by
	// name (ops_checks.go documents each script's).
	Facts map[string]string `json:"facts,omitempty"`
	// Evidence are lines worth keeping in the report (a tool's last lines,
	// the script's result line); never part of the script's own output.
	Evidence []string `json:"-"`
}

// Backend carries out requests against a cell: RealBackend through
// wsadmin.sh and the profile tools, the simulated cell in process.
type Backend interface {
	// Host says where calls take effect, for plans ("dmgr01:8879 (SOAP)").
	Host() string
	// Cell is the cell's name, "" when the target does not say.
	Cell() string
	// Profile resolves the profile of a node ("" is the deployment
	// manager's); an error when the node has none.
	Profile(node string) (Profile, error)
	// Plan says what Do would run, without running it; no secret appears.
	Plan(req Request) runbook.Plan
	// Do runs the request. A failed script or tool is an error that says
	// what to do; the Reply is then as far as it got.
	Do(ctx context.Context, req Request, out runbook.Output) (Reply, error)
}
