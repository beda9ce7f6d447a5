package simcell

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
)

// The deployment manager, the node agents and the profile tools that start
// and stop them. Sources, in docs/was-simulation.md:
//   - restoreConfig "By default, all servers on the node stop before the
//     configuration restores" (IBM rxml_restoreconfig, SSAW57 8.5.5 and
//     9.0.5): run in the deployment manager's profile, the server on its
//     node is the deployment manager itself;
//   - startManager/stopManager run in the deployment manager's profile
//     (IBM rxml_startmanager: "run this command from the profile_root/bin
//     directory");
//   - syncNode needs the node agent stopped (IBM rxml_syncnode: "If the node
//     agent is running and you want to run the syncNode command, you must
//     first stop the node agent") and the deployment manager running (it
//     connects to it);
//   - wsadmin connects to the deployment manager's SOAP connector and
//     cannot while it is down (WASX7023E, real lines in
//     WASdev/ci.docker.websphere-traditional issue #93).
// The tools' ADMU lines follow the stopNode, syncNode and startNode output
// published in blog.csdn.net/michelecindy/article/details/83676848 and the
// expected output in a public ND training note, "Cluster Start, Stop and
// Startup Order" (startManager and startNode: ADMU0116I, ADMU0128I,
// ADMU3000I; serverStatus: ADMU0508I); ADMU0509I is from memory
// (UNCONFIRMED).

// ConnectError is a wsadmin session that could not connect to the
// deployment manager. Lines are what wsadmin prints then.
type ConnectError struct {
	// Host and Port are the connector wsadmin tried.
	Host string
	Port int
	// Log is wsadmin's trace file named in WASX7213I.
	Log string
}

// ErrNotConnected is wrapped by every ConnectError.
var ErrNotConnected = errors.New("wsadmin cannot connect to the deployment manager")

// Error says that wsadmin could not connect.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("wsadmin could not connect to the deployment manager at %s:%d (it is not running)", e.Host, e.Port)
}

// Unwrap makes errors.Is(err, ErrNotConnected) true.
func (e *ConnectError) Unwrap() error { return ErrNotConnected }

// Lines are wsadmin's output when its SOAP connection fails: WASX7023E
// with the connector exception (shape of real lines; the ADMC0016E cause
// text is from memory, UNCONFIRMED), then WASX7213I (id and wording from
// memory, UNCONFIRMED).
func (e *ConnectError) Lines() []string {
	return []string{
		fmt.Sprintf(`WASX7023E: Error creating "SOAP" connection to host "%s"; exception information: com.ibm.websphere.management.exception.ConnectorNotAvailableException: com.ibm.websphere.management.exception.ConnectorNotAvailableException: ADMC0016E: The system cannot create a SOAP connector to connect to host %s at port %d.`, e.Host, e.Host, e.Port),
		fmt.Sprintf("WASX7213I: This scripting client is not connected to a server process; please refer to the log file %s for additional information.", e.Log),
	}
}

// dmgrPort is the deployment manager's SOAP port, 8879 by default
// (reference §3.1, IBM syncNode example).
const dmgrPort = 8879

func (c *Cell) host(s *State) string {
	if s.Options.Host != "" {
		return s.Options.Host
	}
	return "dmgrhost"
}

// connect is what a wsadmin session does first: it connects to the
// deployment manager. It counts the session and fails with a ConnectError
// while the deployment manager is down.
func (c *Cell) connect(s *State) error {
	c.count(s, true)
	if !s.Dmgr.Running {
		s.Refused++
		return &ConnectError{Host: c.host(s), Port: dmgrPort, Log: filepath.Join(c.ProfileDir(""), "logs", "wsadmin.traceout")}
	}
	return nil
}

// ConnectInfo is what a connected wsadmin session learns of its process.
type ConnectInfo struct {
	// Cell, Node and Process name the process wsadmin is connected to;
	// Type is its process type (DeploymentManager).
	Cell, Node, Process, Type string
}

// Connect opens a wsadmin session and reports where it is connected.
func (c *Cell) Connect(ctx context.Context) (ConnectInfo, error) {
	var info ConnectInfo
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		info = ConnectInfo{Cell: s.Cell, Node: s.DmgrNode, Process: DmgrServer, Type: "DeploymentManager"}
		return nil
	})
	return info, err
}

// Banner is wsadmin's first line when it connects (reference §1.8).
func (c *Cell) Banner() string {
	return `WASX7209I: Connected to process "dmgr" on node dmgrNode01 using SOAP connector;  The type of process is: DeploymentManager`
}

// Tool output helpers ---------------------------------------------------

// toolLog names a tool's log file as the tool prints it in ADMU0116I.
func (c *Cell) toolLog(node, server, tool string) string {
	if server == "" {
		return filepath.Join(c.ProfileDir(node), "logs", tool+".log")
	}
	return filepath.Join(c.ProfileDir(node), "logs", server, tool+".log")
}

// checkProfile refuses a tool run in a profile of the wrong kind: the
// deployment manager's tools in its profile, a node's in the node's.
func (c *Cell) checkProfile(s *State, profile, wantNode, tool string) error {
	want := c.ProfileName(wantNode)
	if profile == "" || profile == want {
		return nil
	}
	return fmt.Errorf("%s run in profile %s, but it belongs in %s (the profile of node %s): nothing was done", tool, profile, want, wantNode)
}

// ToolResult is a profile tool's outcome: its output lines and, for a
// failure, its exit status.
type ToolResult struct {
	// Lines are what the tool printed.
	Lines []string
	// Exit is the tool's exit status; non-zero with an error.
	Exit int
}

// StartManager runs startManager in the deployment manager's profile. The
// deployment manager logs WSVR0001I when it is open for e-business; in the
// dmgr-start-fails scenario the first start logs WSVR0009E instead and the
// tool reports ADMU3011E (wording from memory, UNCONFIRMED).
func (c *Cell) StartManager(ctx context.Context, profile string) (ToolResult, error) {
	var r ToolResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if err := c.checkProfile(s, profile, s.DmgrNode, "startManager"); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(s.DmgrNode, DmgrServer, "startServer"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(s.DmgrNode)+" profile",
			"ADMU3100I: Reading configuration for server: "+DmgrServer)
		if s.Dmgr.Running {
			r.Exit = 255
			r.Lines = append(r.Lines, "ADMU3027E: An instance of the server may already be running: "+DmgrServer)
			return fmt.Errorf("the deployment manager is already running: nothing was started")
		}
		r.Lines = append(r.Lines, "ADMU3200I: Server launched. Waiting for initialization status.")
		if a.scenario(ScenarioDmgrStartFails) && a.fire("dmgr-start") {
			if err := a.failDmgrStart(); err != nil {
				return err
			}
			r.Exit = 255
			r.Lines = append(r.Lines, "ADMU3011E: Server launched but failed initialization. startServer.log, SystemOut.log(or job log in zOS) and other log files under "+c.LogDir(DmgrServer)+" should contain failure information.")
			return fmt.Errorf("the deployment manager failed to initialise (WSVR0009E in its SystemOut.log)")
		}
		if err := a.startDmgr(); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU3000I: Server "+DmgrServer+" open for e-business; process id is "+strconv.Itoa(4000+s.ToolCalls))
		return nil
	})
	if err != nil && r.Exit == 0 {
		r.Exit = 1
	}
	return r, err
}

// StopManager runs stopManager in the deployment manager's profile.
func (c *Cell) StopManager(ctx context.Context, profile string) (ToolResult, error) {
	var r ToolResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if err := c.checkProfile(s, profile, s.DmgrNode, "stopManager"); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(s.DmgrNode, DmgrServer, "stopServer"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(s.DmgrNode)+" profile",
			"ADMU3100I: Reading configuration for server: "+DmgrServer)
		if !s.Dmgr.Running {
			r.Exit = 246
			r.Lines = append(r.Lines, "ADMU0509I: The Deployment Manager \""+DmgrServer+"\" cannot be reached. It appears to be stopped.")
			return fmt.Errorf("the deployment manager was already stopped: nothing was stopped")
		}
		r.Lines = append(r.Lines, "ADMU3201I: Server stop request issued. Waiting for stop status.")
		if err := a.stopDmgr(); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU4000I: Server "+DmgrServer+" stop completed.")
		return nil
	})
	if err != nil && r.Exit == 0 {
		r.Exit = 1
	}
	return r, err
}

// ServerStatus runs serverStatus for the deployment manager (node empty),
// a node agent (server nodeagent) or a server, in the node's profile,
// without wsadmin: it reports whether the process answers.
func (c *Cell) ServerStatus(ctx context.Context, node, server string) (running bool, r ToolResult, err error) {
	err = c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		kind := "Application Server"
		switch {
		case node == "" || node == s.DmgrNode:
			node, server, kind = s.DmgrNode, DmgrServer, "Deployment Manager"
			running = s.Dmgr.Running
		case server == "nodeagent":
			kind = "Node Agent"
			if _, ok := s.NodeAgents[node]; !ok {
				return fmt.Errorf("no node %s in cell %s (nodes: %v)", node, s.Cell, s.Nodes)
			}
			running = s.NodeAgents[node]
		default:
			srv, err := a.server(node, server)
			if err != nil {
				return err
			}
			running = srv.Running
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(node, server, "serverStatus"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(node)+" profile")
		if running {
			r.Lines = append(r.Lines, fmt.Sprintf("ADMU0508I: The %s %q is STARTED", kind, server))
		} else {
			r.Lines = append(r.Lines, fmt.Sprintf("ADMU0509I: The %s %q cannot be reached. It appears to be stopped.", kind, server))
		}
		return nil
	})
	return running, r, err
}

// StartNode runs startNode in a node's profile.
func (c *Cell) StartNode(ctx context.Context, node, profile string) (ToolResult, error) {
	var r ToolResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if _, ok := s.NodeAgents[node]; !ok {
			return fmt.Errorf("no node %s in cell %s", node, s.Cell)
		}
		if err := c.checkProfile(s, profile, node, "startNode"); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(node, "nodeagent", "startServer"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(node)+" profile",
			"ADMU3100I: Reading configuration for server: nodeagent")
		if s.NodeAgents[node] {
			r.Exit = 255
			r.Lines = append(r.Lines, "ADMU3027E: An instance of the server may already be running: nodeagent")
			return fmt.Errorf("the node agent of %s is already running: nothing was started", node)
		}
		r.Lines = append(r.Lines, "ADMU3200I: Server launched. Waiting for initialization status.")
		if err := a.startNodeAgent(node); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU3000I: Server nodeagent open for e-business; process id is "+strconv.Itoa(5000+s.ToolCalls))
		return nil
	})
	if err != nil && r.Exit == 0 {
		r.Exit = 1
	}
	return r, err
}

// StopNode runs stopNode in a node's profile; the node's servers keep
// running (stopNode stops only the node agent unless -stopservers).
func (c *Cell) StopNode(ctx context.Context, node, profile string) (ToolResult, error) {
	var r ToolResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if _, ok := s.NodeAgents[node]; !ok {
			return fmt.Errorf("no node %s in cell %s", node, s.Cell)
		}
		if err := c.checkProfile(s, profile, node, "stopNode"); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(node, "nodeagent", "stopServer"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(node)+" profile",
			"ADMU3100I: Reading configuration for server: nodeagent")
		if !s.NodeAgents[node] {
			r.Exit = 246
			r.Lines = append(r.Lines, `ADMU0509I: The Node Agent "nodeagent" cannot be reached. It appears to be stopped.`)
			return fmt.Errorf("the node agent of %s was already stopped: nothing was stopped", node)
		}
		r.Lines = append(r.Lines, "ADMU3201I: Server stop request issued. Waiting for stop status.")
		if err := a.stopNodeAgent(node); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU4000I: Server nodeagent stop completed.")
		return nil
	})
	if err != nil && r.Exit == 0 {
		r.Exit = 1
	}
	return r, err
}

// SyncNode runs syncNode in a node's profile: with the node agent stopped
// and the deployment manager running, the node's configuration is
// replaced by the cell's.
func (c *Cell) SyncNode(ctx context.Context, node, profile string) (ToolResult, error) {
	var r ToolResult
	err := c.update(ctx, func(s *State, a *actor) error {
		c.count(s, false)
		if _, ok := s.NodeAgents[node]; !ok {
			return fmt.Errorf("no node %s in cell %s", node, s.Cell)
		}
		if err := c.checkProfile(s, profile, node, "syncNode"); err != nil {
			return err
		}
		r.Lines = append(r.Lines, "ADMU0116I: Tool information is being logged in file "+c.toolLog(node, "", "syncNode"),
			"ADMU0128I: Starting tool with the "+c.ProfileName(node)+" profile")
		if s.NodeAgents[node] {
			r.Exit = 1
			return fmt.Errorf("the node agent of %s is running: IBM's syncNode needs it stopped first (stopNode)", node)
		}
		if !s.Dmgr.Running {
			r.Exit = 1
			r.Lines = append(r.Lines, (&ConnectError{Host: c.host(s), Port: dmgrPort}).Lines()[0])
			return fmt.Errorf("syncNode could not reach the deployment manager at %s:%d: start it first", c.host(s), dmgrPort)
		}
		r.Lines = append(r.Lines, fmt.Sprintf("ADMU0401I: Begin syncNode operation for node %s with Deployment Manager %s: %d", node, c.host(s), dmgrPort),
			"ADMU0016I: Synchronizing configuration between node and cell.")
		a.wait(s.Options.Delays.Tool)
		a.syncNodeConfig(node)
		delete(s.Fired, "sync-broken:"+node)
		r.Lines = append(r.Lines, fmt.Sprintf("ADMU0402I: The configuration for node %s has been synchronized with Deployment Manager %s: %d", node, c.host(s), dmgrPort))
		return nil
	})
	if err != nil && r.Exit == 0 {
		r.Exit = 1
	}
	return r, err
}

// Actor steps -------------------------------------------------------------

// startDmgr starts the deployment manager: it opens for e-business, then
// the running node agents synchronise with its master configuration.
// SIMPLIFIED: a node agent synchronises on its synchronisation interval
// (one minute by default, IBM "Node agent synchronization" in the WAS 6.1
// system management Redbook); the simulation does it at once.
func (a *actor) startDmgr() error {
	a.wait(a.s.Options.Delays.DmgrStart)
	a.s.Dmgr.Running = true
	if err := a.log(DmgrServer, Record{Logger: "WsServerImpl", Type: "A", Thread: threadServer, ID: "WSVR0001I", Text: "Server " + DmgrServer + " open for e-business"}); err != nil {
		return err
	}
	for _, n := range a.s.Nodes {
		if a.s.NodeAgents[n] {
			if err := a.autoSync(n); err != nil {
				return err
			}
		}
	}
	// started-without-flush: as soon as the administrative console is
	// back, someone starts a restored engine from it in Normal mode, in the
	// first running server that hosts it (the same event startServer models
	// for a server that comes up; it happens once per run). IBM publishes
	// no message for a console start, so only the engine's own sequence
	// shows.
	for _, e := range a.sortedEngines() {
		if !a.stale(e) || !a.scenario(ScenarioStartedWithoutFlush) || a.active(e) != "" {
			continue
		}
		for _, srv := range e.Servers {
			if s := a.s.Servers[srv]; s != nil && s.Running && a.fire("default-start") {
				if err := a.startEngine(e, srv, "DEFAULT", false); err != nil && a.ctx.Err() != nil {
					return err
				}
				break
			}
		}
	}
	return a.c.save(a.s)
}

// failDmgrStart is a start that fails its initialisation: WSVR0009E "Error
// occurred during startup" (id and text from IBM's startServer page, where
// it is quoted) and the process ends.
func (a *actor) failDmgrStart() error {
	a.wait(a.s.Options.Delays.DmgrStart / 2)
	rec := Record{Logger: "WsServerImpl", Type: "F", Thread: threadServer, ID: "WSVR0009E",
		Text: "Error occurred during startup",
		More: []string{"com.ibm.ws.exception.RuntimeError: simulated: the restored configuration could not be read", "\tat com.ibm.ws.runtime.WsServerImpl.bootServerContainer(WsServerImpl.java:200)"}}
	return a.log(DmgrServer, rec)
}

// stopDmgr stops the deployment manager: ADMN1020I, then WSVR0024I in its
// own log, as any server logs its stop.
func (a *actor) stopDmgr() error {
	if !a.s.Dmgr.Running {
		return nil
	}
	if err := a.log(DmgrServer, Record{Logger: "AdminHelper", Type: "A", Thread: threadAdmin, ID: "ADMN1020I", Text: "An attempt is made to stop the " + DmgrServer + " server. (User ID = trainee)"}); err != nil {
		return err
	}
	a.wait(a.s.Options.Delays.ServerStop)
	if err := a.log(DmgrServer, Record{Logger: "ServerCollabo", Type: "A", Thread: threadServer, ID: "WSVR0024I", Text: "Server " + DmgrServer + " stopped"}); err != nil {
		return err
	}
	a.s.Dmgr.Running = false
	return a.c.save(a.s)
}

// startNodeAgent starts a node's agent; it synchronises at once when the
// deployment manager runs (SIMPLIFIED as in startDmgr).
func (a *actor) startNodeAgent(node string) error {
	a.wait(a.s.Options.Delays.ServerStart / 2)
	a.s.NodeAgents[node] = true
	if err := a.log("nodeagent@"+node, Record{Logger: "WsServerImpl", Type: "A", Thread: threadServer, ID: "WSVR0001I", Text: "Server nodeagent open for e-business"}); err != nil {
		return err
	}
	if a.s.Dmgr.Running {
		return a.autoSync(node)
	}
	return nil
}

func (a *actor) stopNodeAgent(node string) error {
	if err := a.log("nodeagent@"+node, Record{Logger: "AdminHelper", Type: "A", Thread: threadAdmin, ID: "ADMN1020I", Text: "An attempt is made to stop the nodeagent server. (User ID = trainee)"}); err != nil {
		return err
	}
	a.wait(a.s.Options.Delays.ServerStop / 2)
	if err := a.log("nodeagent@"+node, Record{Logger: "ServerCollabo", Type: "A", Thread: threadServer, ID: "WSVR0024I", Text: "Server nodeagent stopped"}); err != nil {
		return err
	}
	a.s.NodeAgents[node] = false
	return a.c.save(a.s)
}

// autoSync is a node agent's synchronisation with the master
// configuration. In the nodeagent-sync-fails scenario a node whose
// configuration was broken by a restore cannot synchronise until syncNode
// repairs it; its node agent logs ADMS0005E (id and wording from memory,
// UNCONFIRMED).
func (a *actor) autoSync(node string) error {
	if a.s.Fired["sync-broken:"+node] > 0 {
		return a.log("nodeagent@"+node, Record{Logger: "NodeSyncTask", Type: "E", Thread: threadAdmin, ID: "ADMS0005E",
			Text: "The system is unable to generate synchronization request: simulated: the node's configuration repository does not match the cell's"})
	}
	a.syncNodeConfig(node)
	return nil
}

// syncNodeConfig copies the master configuration's Initial states to a
// node.
func (a *actor) syncNodeConfig(node string) {
	cfg := map[string]string{}
	for k, v := range a.s.Master {
		cfg[k] = v
	}
	a.s.NodeConfig[node] = cfg
}
