package simcell

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// actor carries out one request on the loaded state: it writes the log
// records, waits the scaled delays and changes the state step by step.
type actor struct {
	ctx   context.Context
	c     *Cell
	s     *State
	scale float64
	loc   *time.Location
	// calm suppresses fault injection (while the cell is being built).
	calm bool
}

func newActor(ctx context.Context, c *Cell, s *State) *actor {
	loc := time.UTC
	if s.Options.Zone != "" {
		if l, err := time.LoadLocation(s.Options.Zone); err == nil {
			loc = l
		}
	}
	return &actor{ctx: ctx, c: c, s: s, scale: s.Options.DelayScale, loc: loc}
}

// wait sleeps a scaled delay. When the caller's context ends, the cell
// goes on without it, as a server does when wsadmin is interrupted: the
// rest of the sequence is written at once (wait has nothing to fail), so
// the call returns promptly and leaves a consistent cell behind.
func (a *actor) wait(d time.Duration) {
	d = time.Duration(float64(d) * a.scale)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.ctx.Done():
		a.scale = 0
	case <-t.C:
	}
}

// settle finishes what a killed drillbook left half done: an instance
// caught Starting reaches Started and one caught Stopping reaches its
// standby state, as the server would have carried on alone.
func (a *actor) settle() error {
	for _, e := range a.sortedEngines() {
		for _, srv := range e.Servers {
			st, ok := e.Instances[srv]
			if !ok || !a.s.Servers[srv].Running {
				continue
			}
			switch st {
			case "Starting":
				if err := a.state(srv, e, "Started"); err != nil {
					return err
				}
			case "Stopping":
				if err := a.state(srv, e, standbyState(e)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (a *actor) writer(server string) LogWriter {
	return LogWriter{
		Dir: a.c.LogDir(server), MaxBytes: a.s.Options.RotateBytes, MaxBackups: a.s.Options.MaxBackups,
		Now: func() time.Time { return time.Now().In(a.loc) },
	}
}

// hpel reports whether a server logs through HPEL.
func (a *actor) hpel(server string) bool {
	srv, ok := a.s.Servers[server]
	return ok && srv.HPEL
}

// Thread ids of the simulated loggers; fixed per logger so the logs look
// like one JVM's.
const (
	threadServer = 0x00000001
	threadSIB    = 0x0000002a
	threadHA     = 0x0000001e
	threadAdmin  = 0x00000053
)

// log writes records to a server's log: its SystemOut.log, or its HPEL
// repository when it logs through HPEL.
func (a *actor) log(server string, recs ...Record) error {
	if a.hpel(server) {
		return HPELWriter{Dir: a.c.HPELDir(server), Now: func() time.Time { return time.Now().In(a.loc) }}.Write(recs...)
	}
	return a.writer(server).Write(recs...)
}

func (a *actor) sib(server string, e *Engine, typ, id, format string, args ...any) error {
	bus, me := "", ""
	if e != nil {
		bus, me = e.Bus, e.Name
	}
	return a.log(server, Record{Logger: "SibMessage", Type: typ, Thread: threadSIB, SIB: true, Bus: bus, Engine: me, ID: id, Text: fmt.Sprintf(format, args...)})
}

// state records an instance's new state in the log and saves the cell at
// once, so that a drillbook killed in the middle of a sequence leaves a
// cell whose state matches its SystemOut.log. CWSID0016I "Messaging engine
// {0} is in state {1}." follows the real lines of reference §1.2 (MbqIIB/
// notes); the state words are JsConstants' ME_STATE_*_STR. That Stopping
// and Stopped are logged with it is DERIVED (reference §1.2 says very
// likely; IBM is silent).
func (a *actor) state(server string, e *Engine, st string) error {
	e.Instances[server] = st
	if err := a.sib(server, e, "I", "CWSID0016I", "Messaging engine %s is in state %s.", e.Name, st); err != nil {
		return err
	}
	return a.c.save(a.s)
}

// standbyState is the state of an instance that is not active: Joined in
// a cluster (a standby of the HA group), Stopped for a server bus member.
func standbyState(e *Engine) string {
	if e.Cluster != "" {
		return "Joined"
	}
	return "Stopped"
}

// active returns the server whose instance is Started or Starting.
func (a *actor) active(e *Engine) string {
	for _, srv := range e.Servers {
		if st := e.Instances[srv]; (st == "Started" || st == "Starting") && a.s.Servers[srv].Running {
			return srv
		}
	}
	return ""
}

// rank is a server's place in the engine's preferred list; servers not in
// it come after every preferred one.
func rank(e *Engine, server string) int {
	if i := slices.Index(e.Preferred, server); i >= 0 {
		return i
	}
	return len(e.Preferred) + slices.Index(e.Servers, server)
}

// best returns the running server the HA manager would activate the
// engine in, or "".
func (a *actor) best(e *Engine, except string) string {
	var out string
	for _, srv := range e.Servers {
		if srv == except || !a.s.Servers[srv].Running {
			continue
		}
		if out == "" || rank(e, srv) < rank(e, out) {
			out = srv
		}
	}
	return out
}

func (a *actor) fire(fault string) bool {
	if a.calm || a.s.Fired[fault] > 0 {
		return false
	}
	a.s.Fired[fault]++
	return true
}

func (a *actor) scenario(name string) bool { return a.s.Options.Scenario == name }

func (a *actor) streams() int {
	if a.s.Options.Streams > 0 {
		return a.s.Options.Streams
	}
	return 2
}

// startEngine runs the start sequence of the engine's instance in server
// (reference §1.1, §1.3, §8): Starting, store lock, the flush sequence when
// mode is FLUSH and the server is not in recovery, reconciliation, Started.
func (a *actor) startEngine(e *Engine, server, mode string, recovery bool) error {
	d := a.s.Options.Delays
	if err := a.state(server, e, "Starting"); err != nil {
		return err
	}
	inc := newUUID()
	fail := func(id, format string, args ...any) error {
		if err := a.sib(server, e, "E", id, format, args...); err != nil {
			return err
		}
		if err := a.state(server, e, standbyState(e)); err != nil {
			return err
		}
		return fmt.Errorf("%s: "+format, append([]any{id}, args...)...)
	}
	a.wait(d.EngineStart / 3)
	if e.Store == "data" {
		if err := a.sib(server, e, "I", "CWSIS1538I", "The messaging engine, ME_UUID=%s, INC_UUID=%s, is attempting to obtain an exclusive lock on the data store.", e.UUID, inc); err != nil {
			return err
		}
		if a.scenario(ScenarioLockHeld) && a.fire("lock") {
			a.wait(d.EngineStart / 3)
			return fail("CWSIS1519E", "Messaging engine %s cannot obtain the lock on its data store, which ensures it has exclusive access to the data.", e.Name)
		}
	} else {
		if err := a.sib(server, e, "I", "CWSIS1569I", "Messaging engine %s is using a file store.", e.Name); err != nil {
			return err
		}
	}
	img, fault := a.c.readStore(e)
	if fault != nil {
		if err := a.sib(server, e, "E", fault.id, "%s", fault.text); err != nil {
			return err
		}
		if err := a.state(server, e, standbyState(e)); err != nil {
			return err
		}
		return fmt.Errorf("%s: %s (%s)", fault.id, fault.text, fault.why)
	}
	if img.UUID != e.UUID {
		if e.Store == "data" {
			return fail("CWSIS1535E", "The messaging engine's unique id does not match that found in the data store. ME_UUID=%s, ME_UUID(DB)=%s", e.UUID, img.UUID)
		}
		return fail("CWSIS1561E", "The messaging engine's unique id does not match that found in the file store. ME_UUID=%s, ME_UUID(FS)=%s", e.UUID, img.UUID)
	}
	if img.Generation < e.LastGen {
		e.Restored = true
	}
	// The previous owner is the last incarnation (reference §1.3: typical
	// on a restart). The texts are CWSISMessages.nlsprops' DBLOCK_ONE_OWNER
	// (no final period) and DBLOCK_ACQUIRED, and for a file store
	// FILE_STORE_LOCK_ATTEMPTING, FILE_STORE_LOCK_ONE_OWNER and
	// FILE_STORE_LOCK_ACQUIRED. Their order after the lock attempt follows
	// the real data store start of reference §1.3; for a file store IBM
	// published no sequence, so the simulation uses the same order.
	if e.Store == "data" {
		if err := a.sib(server, e, "I", "CWSIS1545I", "A single previous owner was found in the messaging engine's data store, ME_UUID=%s, INC_UUID=%s", e.UUID, newUUID()); err != nil {
			return err
		}
		if err := a.sib(server, e, "I", "CWSIS1537I", "The messaging engine, ME_UUID=%s, INC_UUID=%s, has acquired an exclusive lock on the data store.", e.UUID, inc); err != nil {
			return err
		}
	} else {
		if err := a.sib(server, e, "I", "CWSIS1564I", "The messaging engine, ME_UUID=%s, INC_UUID=%s, is attempting to obtain an exclusive lock on the file store.", e.UUID, inc); err != nil {
			return err
		}
		if err := a.sib(server, e, "I", "CWSIS1566I", "A single previous owner was found in the messaging engine's file store, ME_UUID=%s, INC_UUID=%s", e.UUID, newUUID()); err != nil {
			return err
		}
		if err := a.sib(server, e, "I", "CWSIS1563I", "The messaging engine, ME_UUID=%s, INC_UUID=%s, has acquired an exclusive lock on the file store.", e.UUID, inc); err != nil {
			return err
		}
	}
	if mode == "FLUSH" && !recovery {
		if err := a.sib(server, e, "I", "CWSIP0780I", "Messaging engine: %s started, flush of all delivery streams requested.", e.Name); err != nil {
			return err
		}
		if a.scenario(ScenarioRotationDuringFlush) && a.fire("rotate") {
			if err := a.writer(server).Rotate(); err != nil {
				return err
			}
		}
		for i := 0; i < a.streams(); i++ {
			a.wait(d.FlushStream)
			stream := newUUID()[:12] + "0000"
			dest := fmt.Sprintf("Queue%d", i+1)
			if err := a.sib(server, e, "I", "CWSIP0781I", "Messaging engine: %s started, flush initiated for stream: %s and destination: %s.", e.Name, stream, dest); err != nil {
				return err
			}
			if i == 0 && a.scenario(ScenarioFlushFails) && a.fire("flush") {
				rec := Record{Logger: "SibMessage", Type: "E", Thread: threadSIB, SIB: true, Bus: e.Bus, Engine: e.Name, ID: "CWSIP0782E",
					Text: fmt.Sprintf("Messaging engine: %s started, flush of stream: %s and destination: %s failed with the exception: com.ibm.ws.sib.processor.exceptions.SIMPResourceException: simulated fault.", e.Name, stream, dest),
					More: []string{"\tat com.ibm.ws.sib.processor.impl.DestinationManager.reconstitute(DestinationManager.java:4711)", "\tat com.ibm.ws.sib.processor.impl.MessageProcessor.start(MessageProcessor.java:1234)"}}
				if err := a.log(server, rec); err != nil {
					return err
				}
				if err := a.state(server, e, "Stopping"); err != nil {
					return err
				}
				if err := a.state(server, e, standbyState(e)); err != nil {
					return err
				}
				return fmt.Errorf("CWSIP0782E: the flush of stream %s of %s failed and the engine stopped", stream, e.Name)
			}
		}
		if err := a.sib(server, e, "I", "CWSIP0783I", "Messaging engine: %s started, flush of all delivery streams completed.", e.Name); err != nil {
			return err
		}
	}
	if err := a.sib(server, e, "I", "CWSIP0212I", "messaging engine %s on bus %s is starting to reconcile the WCCM destination and link configuration.", e.Name, e.Bus); err != nil {
		return err
	}
	wait := d.EngineStart / 3
	if mode == "FLUSH" && a.scenario(ScenarioSlowStart) && a.fire("slow") {
		wait += d.SlowStart
	}
	a.wait(wait)
	if err := a.state(server, e, "Started"); err != nil {
		return err
	}
	gen := e.LastGen + 1
	if err := a.c.writeStore(e, gen); err != nil {
		return err
	}
	e.LastGen = gen
	if recovery {
		return nil
	}
	if e.Restored && mode == "DEFAULT" {
		e.Unflushed = true
	}
	if mode == "FLUSH" {
		e.Unflushed = false
	}
	// A partner still holds stream state that a restored store started in
	// Normal mode has forgotten (reference §1.1): the receiving engine logs
	// CWSIP0784W, whichever of the two comes up last.
	for _, p := range a.sortedEngines() {
		if p.Bus != e.Bus || p.Name == e.Name {
			continue
		}
		srv := a.active(p)
		if srv == "" || p.Instances[srv] != "Started" {
			continue
		}
		if e.Unflushed {
			if err := a.warn784(srv, p, e); err != nil {
				return err
			}
		}
		if p.Unflushed {
			if err := a.warn784(server, e, p); err != nil {
				return err
			}
		}
	}
	e.Restored = false
	return nil
}

func (a *actor) sortedEngines() []*Engine {
	var out []*Engine
	for _, name := range sortedKeys(a.s.Engines) {
		out = append(out, a.s.Engines[name])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stopEngine stops the instance in server: Stopping, then Stopped (or
// Joined, a standby again, in a running cluster member).
func (a *actor) stopEngine(e *Engine, server string, to string) error {
	if err := a.state(server, e, "Stopping"); err != nil {
		return err
	}
	a.wait(a.s.Options.Delays.EngineStop)
	return a.state(server, e, to)
}

// startServer starts a server: its engine instances join, the HA manager
// activates what the policy says, and the server opens for e-business.
func (a *actor) startServer(name string) error {
	srv := a.s.Servers[name]
	if srv.Running {
		return nil
	}
	a.wait(a.s.Options.Delays.ServerStart / 2)
	srv.Running = true
	if err := a.sib(name, nil, "I", "CWSID0021I", "Configuration reload is enabled for bus %s.", "Bus1"); err != nil {
		return err
	}
	for _, e := range a.sortedEngines() {
		if !slices.Contains(e.Servers, name) {
			continue
		}
		if err := a.state(name, e, "Joined"); err != nil {
			return err
		}
		if a.stale(e) && a.scenario(ScenarioStartedWithoutFlush) && a.active(e) == "" && a.fire("default-start") {
			// Someone starts the restored engine from the console, in
			// Normal mode, as the server comes up. IBM publishes no message
			// for a console start, so only the engine's own sequence shows.
			if err := a.startEngine(e, name, "DEFAULT", false); err != nil && a.ctx.Err() != nil {
				return err
			}
			continue
		}
		if a.initialState(name, e) != "STARTED" {
			// Initial state Stopped: the engine is not started with the
			// server (IBM SIBMessagingEngine_DetailForm: "When the
			// associated application server is started, the messaging
			// engine is stopped"). The "disabled by administrative action"
			// message IBM logs then has no published id (reference §1.2),
			// so the simulation logs only the state.
			if e.Cluster == "" {
				if err := a.state(name, e, "Stopped"); err != nil {
					return err
				}
			}
			continue
		}
		act := a.active(e)
		switch {
		case act == "" && a.best(e, "") == name:
			// As for fail over, a failed activation shows in the log and
			// does not fail the server start.
			if err := a.startEngine(e, name, "DEFAULT", false); err != nil && a.ctx.Err() != nil {
				return err
			}
		case act != "" && act != name && e.Failback && rank(e, name) < rank(e, act):
			// Fail back: the more preferred server is back.
			if err := a.coreGroupView(act); err != nil {
				return err
			}
			if err := a.stopEngine(e, act, "Joined"); err != nil {
				return err
			}
			if err := a.startEngine(e, name, "DEFAULT", false); err != nil && a.ctx.Err() != nil {
				return err
			}
		}
	}
	a.wait(a.s.Options.Delays.ServerStart / 2)
	return a.log(name, Record{Logger: "WsServerImpl", Type: "A", Thread: threadServer, ID: "WSVR0001I", Text: fmt.Sprintf("Server %s open for e-business", name)})
}

// stopServer stops a server, then lets the HA manager activate its active
// engines elsewhere.
func (a *actor) stopServer(name string) error {
	srv := a.s.Servers[name]
	if !srv.Running {
		return nil
	}
	if err := a.log(name, Record{Logger: "AdminHelper", Type: "A", Thread: threadAdmin, ID: "ADMN1020I", Text: fmt.Sprintf("An attempt is made to stop the %s server. (User ID = trainee)", name)}); err != nil {
		return err
	}
	var moved []*Engine
	for _, e := range a.sortedEngines() {
		st, ok := e.Instances[name]
		if !ok {
			continue
		}
		if st == "Started" || st == "Starting" {
			if err := a.stopEngine(e, name, "Stopped"); err != nil {
				return err
			}
			if e.Cluster != "" {
				moved = append(moved, e)
			}
		}
		delete(e.Instances, name)
	}
	a.wait(a.s.Options.Delays.ServerStop)
	if err := a.log(name, Record{Logger: "ServerCollabo", Type: "A", Thread: threadServer, ID: "WSVR0024I", Text: fmt.Sprintf("Server %s stopped", name)}); err != nil {
		return err
	}
	srv.Running = false
	for _, e := range moved {
		next := a.best(e, name)
		if next == "" || a.initialState(next, e) != "STARTED" {
			continue
		}
		if err := a.coreGroupView(next); err != nil {
			return err
		}
		// A failed activation is the HA manager's business, not the stop's:
		// it shows in the new host's log.
		if err := a.startEngine(e, next, "DEFAULT", false); err != nil && a.ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// coreGroupView logs the view change a member sees when another joins or
// leaves the core group. HMGR0218I's meaning is CONFIRMED (reference §1.7:
// logged by all members when the view changes); its exact text is
// UNCONFIRMED, so the simulation writes the remembered wording and
// drillbook never matches it.
func (a *actor) coreGroupView(server string) error {
	return a.log(server, Record{Logger: "CoordinatorIm", Type: "I", Thread: threadHA, ID: "HMGR0218I", Text: "A new core group view has been installed. The core group is DefaultCoreGroup."})
}

// recoveryStart starts a stopped server in recovery mode: its engines start
// with the recovery bit (no flush, reference §6.2), then the server stops
// by itself.
func (a *actor) recoveryStart(name string) error {
	srv := a.s.Servers[name]
	if srv.Running {
		return fmt.Errorf("server %s is running: stop it before a recovery-mode start", name)
	}
	a.wait(a.s.Options.Delays.ServerStart / 2)
	srv.Running = true
	var started []*Engine
	for _, e := range a.sortedEngines() {
		if !slices.Contains(e.Servers, name) {
			continue
		}
		if err := a.state(name, e, "Joined"); err != nil {
			return err
		}
		if a.active(e) == "" {
			if err := a.startEngine(e, name, "DEFAULT", true); err != nil {
				return err
			}
			started = append(started, e)
		}
	}
	for _, e := range started {
		if err := a.stopEngine(e, name, "Stopped"); err != nil {
			return err
		}
	}
	for _, e := range a.s.Engines {
		delete(e.Instances, name)
	}
	a.wait(a.s.Options.Delays.ServerStop)
	if err := a.log(name, Record{Logger: "ServerCollabo", Type: "A", Thread: threadServer, ID: "WSVR0024I", Text: fmt.Sprintf("Server %s stopped", name)}); err != nil {
		return err
	}
	srv.Running = false
	return nil
}

// initialState is the engine's Initial state as the node of server has it:
// a server starts with its node's copy of the configuration, not the
// deployment manager's master copy (reference §8: "Config changes are
// invisible to a node until sync").
func (a *actor) initialState(server string, e *Engine) string {
	srv, ok := a.s.Servers[server]
	if !ok {
		return ""
	}
	return a.s.NodeConfig[srv.Node][e.Name]
}

// stale reports whether the engine's store was put back from a backup and
// the engine has not started normally since.
func (a *actor) stale(e *Engine) bool {
	if e.Restored {
		return true
	}
	img, fault := a.c.readStore(e)
	return fault == nil && img.Generation < e.LastGen
}

// warn784 logs, in the receiver's server, the warning about a request from
// an engine whose store went back in time. IBM's bundle text reuses {1}
// twice: "A remote message request (with id {2}) on a destination (with id
// {1}) from messaging engine {3} to {1} is no longer valid. Cleanup may be
// required." The inserts are those RemoteMessageReceiver passes (OpenLiberty
// com.ibm.ws.messaging.common, the UNEXPECTED_MESSAGE_RECEIVED_CWSIP0784
// call): {0} the gathering target uuid, {1} the sending engine's name (its
// uuid when the name is unknown), {2} the tick of the request and {3} the
// receiving engine's own name. So the line names the receiver after "from
// messaging engine" and the sender twice, as the real product prints it.
func (a *actor) warn784(server string, receiver, from *Engine) error {
	tick := 1000 + int64(len(from.UUID))*int64(from.LastGen)*37
	return a.sib(server, receiver, "W", "CWSIP0784W", "A remote message request (with id %d) on a destination (with id %s) from messaging engine %s to %s is no longer valid. Cleanup may be required.", tick, from.Name, receiver.Name, from.Name)
}
