package emulator

import (
	"encoding/json"
	"time"
)

// HA roles as status reports them (adminHA.c ism_admin_get_harole_string;
// a view not yet decided is all zeros, role 0 = UNSYNC, ha.h).
const (
	roleUnsync  = "UNSYNC"
	rolePrimary = "PRIMARY"
	roleStandby = "STANDBY"
	roleError   = "UNSYNC_ERROR"
)

// HA reason codes (server_store/include/ha.h ismHA_ViewReason_t).
const (
	reasonDiscoveryTimeout = 2
	reasonSplitBrain       = 3
	reasonSyncError        = 4
	reasonUnresolved       = 5
)

// Error codes a start-up failure leaves in status (ismrc.h; main.c sets
// adminMode and ism_admin_setLastRCAndError keeps the code).
const (
	codeRestartNeeded = 145 // ISMRC_RestartNeeded, after an applied import
	codeStoreHAError  = 509 // ISMRC_StoreHAError, storeMemory.c when the HA start fails
)

// milestone is a state a starting process reaches at a time.
type milestone struct {
	at    time.Time
	state int
}

// request is a restart or stop the server accepted; its timer acts on it at
// `at` if the process still lives then.
type request struct {
	At          time.Time `json:"at"`
	Kind        string    `json:"kind"`        // restart, clean, reset, stop
	Maintenance int       `json:"maintenance"` // -1 keep, 0 stop, 1 start
}

// process is one run of the imaserver process.
type process struct {
	boot  time.Time // serverStartTime: UpTimeSeconds counts from here
	upAt  time.Time // the admin endpoint answers from here
	maint bool      // started in (or fell into) maintenance mode
	// errCode and errMsg are adminModeRC: why a start-up failed; a restart
	// request resets them (ism_config_json_resetAdminModeRC).
	errCode int
	errMsg  string
	// initErr is adminInitError: 145 after an applied import; it forces
	// State 9 in status until the process ends.
	initErr  int
	stopping bool      // serverState = STOPPING: a restart was requested
	exitAt   time.Time // when the process exits; zero while not stopping
	timers   []request // requests waiting for their timer

	steps     []milestone
	storeDone time.Time // end of store recovery (zero: not in production start-up or done)
	// HA view.
	discovering   bool
	discoverUntil time.Time
	role, oldRole string
	reason        int
	reasonParam   string
	active        int
	synced        int
	syncFrom      time.Time
	syncUntil     time.Time // a sync in progress ends then (standby and primary side)
	// settled marks a start-up that reached its final state.
	settled bool
}

// runState is what survives drillbook's death of a process that had
// finished starting, so that reopening the estate finds it running as it
// was.
type runState struct {
	Boot        time.Time `json:"boot"`
	Settled     bool      `json:"settled"`
	Maintenance bool      `json:"maintenance"`
	State       int       `json:"state"`
	ErrorCode   int       `json:"errorCode,omitempty"`
	ErrorMsg    string    `json:"errorMessage,omitempty"`
	InitError   int       `json:"initError,omitempty"`
	Role        string    `json:"role,omitempty"`
	OldRole     string    `json:"oldRole,omitempty"`
	Reason      int       `json:"reason,omitempty"`
	ReasonParam string    `json:"reasonParam,omitempty"`
	Active      int       `json:"active,omitempty"`
	Synced      int       `json:"synced,omitempty"`
}

func resumeProcess(r *runState) *process {
	return &process{boot: r.Boot, upAt: r.Boot, maint: r.Maintenance, errCode: r.ErrorCode, errMsg: r.ErrorMsg,
		initErr: r.InitError, role: r.Role, oldRole: r.OldRole, reason: r.Reason, reasonParam: r.ReasonParam,
		active: r.Active, synced: r.Synced, settled: true, steps: []milestone{{r.Boot, r.State}}}
}

// stateAt is the state the start-up timeline gives at now.
func (p *process) stateAt(now time.Time) int {
	st := StateStoreStarting
	if p.maint {
		return StateMaintenance
	}
	for _, m := range p.steps {
		if !m.at.After(now) {
			st = m.state
		}
	}
	return st
}

// reportedStateLocked returns the State, ErrorCode and ErrorMessage status
// reports now (admin.c ism_admin_getServerStatus: a pending adminInitError
// forces State 9; otherwise serverState).
func (s *Server) reportedStateLocked(now time.Time) (int, int, string) {
	p := s.p
	switch {
	case p == nil:
		return 0, 0, ""
	case p.initErr != 0:
		return StateMaintenance, p.initErr, errorText(p.initErr)
	case p.stopping:
		return StateStopping, p.errCode, p.errMsg
	}
	return p.stateAt(now), p.errCode, p.errMsg
}

// errorText is the message status gives for an ErrorCode
// (server_utils/xml/ism_utils_tms.xml).
func errorText(code int) string {
	switch code {
	case codeRestartNeeded:
		return msgRestartNeeds
	case codeStoreHAError:
		return "Store High-Availability error."
	case 501:
		return "Store data is unrecoverable."
	}
	return ""
}

// bootLocked starts a new process at t (the supervisor's start).
func (s *Server) bootLocked(t time.Time) {
	tm := s.opts.Timing
	p := &process{boot: t, upAt: t.Add(tm.Init), maint: s.st.AdminMode == 1}
	if p.maint {
		p.steps = []milestone{{p.upAt, StateMaintenance}}
		p.settled = true
	} else {
		// main.c: ISM_SERVER_STARTING_STORE while ism_store_start recovers
		// the store (and, with HA, discovers the partner).
		p.steps = []milestone{{p.upAt, StateStoreStarting}}
		p.storeDone = p.upAt.Add(tm.StoreRecovery)
	}
	if s.st.FailNextStart != 0 && !p.maint {
		// A start that fails (reference §8.1: a corrupted or unrecoverable
		// store): main.c sets adminMode and the server answers in
		// maintenance with the error. Used by training scenarios.
		p.storeDone = time.Time{}
		p.maint = true
		p.errCode = s.st.FailNextStart
		p.errMsg = errorText(p.errCode)
		p.steps = []milestone{{p.upAt, StateMaintenance}}
		p.settled = true
		s.st.FailNextStart = 0
	}
	s.p = p
	s.nextBoot = time.Time{}
	s.st.NextBoot = time.Time{}
	s.saveRunLocked()
}

// engineLocked appends the rest of a production start-up from t: States 6,
// 16, 17, 8 and 1 (main.c after ism_store_start).
func (s *Server) engineLocked(t time.Time) {
	tm := s.opts.Timing
	p := s.p
	p.steps = append(p.steps,
		milestone{t, StateStoreStarted},
		milestone{t.Add(tm.Step), StateEngineStarting},
		milestone{t.Add(tm.Step + tm.EngineRecovery), StateTransportStarting},
		milestone{t.Add(2*tm.Step + tm.EngineRecovery), StateMessagingStarted},
		milestone{t.Add(3*tm.Step + tm.EngineRecovery), StateProduction})
}

// failLocked ends a start-up in maintenance mode with an error (main.c: a
// failed ism_store_start sets adminMode; status shows State 9 and the
// error).
func (s *Server) failLocked(code int) {
	p := s.p
	p.maint = true
	p.errCode, p.errMsg = code, errorText(code)
	p.discovering = false
	p.syncUntil = time.Time{}
	p.settled = true
	s.saveRunLocked()
}

// saveRunLocked records the process for a reopened estate.
func (s *Server) saveRunLocked() {
	p := s.p
	if p == nil {
		s.st.Run = nil
	} else {
		st := StateStoreStarting
		if len(p.steps) > 0 {
			st = p.steps[len(p.steps)-1].state
		}
		if p.maint {
			st = StateMaintenance
		}
		s.st.Run = &runState{Boot: p.boot, Settled: p.settled && !p.stopping, Maintenance: p.maint, State: st,
			ErrorCode: p.errCode, ErrorMsg: p.errMsg, InitError: p.initErr, Role: p.role, OldRole: p.oldRole,
			Reason: p.reason, ReasonParam: p.reasonParam, Active: p.active, Synced: p.synced}
	}
	if err := s.st.save(s.opts.Dir); err != nil {
		s.logLine("save: " + err.Error())
	}
}

// requestLocked accepts a restart (or stop) request: the state is Stopping
// at once and the request is acted on by a timer RestartDelay later
// (config_jsonutils.c). A stop acts at once (admin.c ism_admin_init_stop
// signals the paused main thread).
func (s *Server) requestLocked(now time.Time, kind string, maintenance int) {
	p := s.p
	if p == nil {
		return
	}
	r := request{At: now.Add(s.opts.Timing.RestartDelay), Kind: kind, Maintenance: maintenance}
	if kind == "stop" {
		r.At = now
	}
	p.stopping = true
	p.errCode, p.errMsg = 0, ""
	if s.st.HangNextStop {
		// Training fault: the request is never acted on.
		s.st.HangNextStop = false
		s.saveRunLocked()
		return
	}
	p.timers = append(p.timers, r)
	s.st.Pending = append(s.st.Pending, r)
	s.saveRunLocked()
	s.poke()
}

// applyRequestLocked does what a request's timer does while the process
// lives: a maintenance change is written to the configuration at once
// (admin.c ism_admin_maintenance), a clean store or reset is flagged for
// the way down (main.c).
func (s *Server) applyRequestLocked(r request) {
	switch r.Kind {
	case "clean":
		s.st.CleanOnExit = true
	case "reset":
		s.st.ResetOnExit = true
	case "restart":
		if r.Maintenance >= 0 {
			s.st.AdminMode = r.Maintenance
		}
	}
	if err := s.st.save(s.opts.Dir); err != nil {
		s.logLine("save: " + err.Error())
	}
}

// exitEffectsLocked does what the process does on its way out: clean the
// store (main.c: Store.ColdStart with HA disabled) or reset the
// configuration (resetServerConfig.sh 1, which also removes the store).
func (s *Server) exitEffectsLocked() error {
	var err error
	if s.st.ResetOnExit {
		err = s.resetConfigLocked()
	} else if s.st.CleanOnExit && s.st.SkipNextClean {
		s.st.SkipNextClean = false // training fault: the store stays
	} else if s.st.CleanOnExit {
		err = s.cleanStore()
	}
	s.st.ResetOnExit, s.st.CleanOnExit = false, false
	return err
}

// advanceLocked carries out every event due by now, earliest first.
func (s *Server) advanceLocked(now time.Time) {
	for i := 0; i < 1000; i++ {
		at, do := s.dueLocked()
		if do == nil || at.After(now) {
			return
		}
		do(at)
	}
}

// nextEventLocked returns when the next event is due (zero when none).
func (s *Server) nextEventLocked() time.Time {
	at, do := s.dueLocked()
	if do == nil {
		return time.Time{}
	}
	return at
}

// dueLocked returns the earliest scheduled event and what it does.
func (s *Server) dueLocked() (time.Time, func(time.Time)) {
	var best time.Time
	var act func(time.Time)
	consider := func(at time.Time, f func(time.Time)) {
		if at.IsZero() {
			return
		}
		if act == nil || at.Before(best) {
			best, act = at, f
		}
	}
	consider(s.nextBoot, s.bootLocked)
	p := s.p
	if p == nil {
		return best, act
	}
	if s.ln == nil && p.exitAt.IsZero() {
		consider(p.upAt, func(time.Time) {
			if err := s.listenLocked(); err != nil {
				s.logLine("start: " + err.Error())
				// The port is taken: try again shortly rather than never.
				p.upAt = p.upAt.Add(500 * time.Millisecond)
			}
		})
	}
	for i, r := range p.timers {
		consider(r.At, func(at time.Time) { s.timerLocked(i, at) })
	}
	consider(p.exitAt, s.exitLocked)
	if !p.storeDone.IsZero() && p.exitAt.IsZero() {
		consider(p.storeDone, s.storeStartedLocked)
	}
	if p.discovering && p.exitAt.IsZero() {
		consider(p.discoverUntil, s.discoveryTimeoutLocked)
	}
	if !p.syncUntil.IsZero() && p.exitAt.IsZero() {
		consider(p.syncUntil, s.syncDoneLocked)
	}
	if !p.settled && p.exitAt.IsZero() && p.storeDone.IsZero() && !p.discovering && p.syncUntil.IsZero() && len(p.steps) > 0 {
		consider(p.steps[len(p.steps)-1].at, func(time.Time) {
			p.settled = true
			s.saveRunLocked()
		})
	}
	return best, act
}

// timerLocked fires the i-th request timer at `at`.
func (s *Server) timerLocked(i int, at time.Time) {
	p := s.p
	r := p.timers[i]
	p.timers = append(p.timers[:i:i], p.timers[i+1:]...)
	s.applyRequestLocked(r)
	if !p.exitAt.IsZero() {
		return // already on its way down: the request joined it
	}
	switch {
	case r.Kind == "stop":
		p.exitAt = at.Add(s.opts.Timing.Shutdown)
	case !p.settled:
		p.exitAt = at.Add(s.opts.Timing.StartupStop)
	default:
		p.exitAt = at.Add(s.opts.Timing.Shutdown)
	}
}

// exitLocked ends the process: the port closes, the way-down effects run,
// an HA partner sees the node leave, and the supervisor schedules the next
// process. Requests whose timer had not fired yet die with the process
// (their 200 reply promised what the server never did).
func (s *Server) exitLocked(at time.Time) {
	p := s.p
	s.closeListenerLocked()
	for _, r := range p.timers {
		s.logLine("restart request of " + r.At.Add(-s.opts.Timing.RestartDelay).UTC().Format(time.RFC3339Nano) + " lost: the process ended before its timer")
	}
	if err := s.exitEffectsLocked(); err != nil {
		s.logLine("exit: " + err.Error())
	}
	wasRole := p.role
	s.p = nil
	s.st.Pending = nil
	s.nextBoot = at.Add(s.opts.Timing.Supervisor)
	s.st.NextBoot = s.nextBoot
	s.saveRunLocked()
	if peer := s.peer; peer != nil && peer.p != nil {
		peer.peerLeftLocked(at, wasRole)
	}
}

// storeStartedLocked is the end of store recovery: without HA the engine
// starts; with HA the node looks for its partner (storeHighAvailability.c
// discovery, within ism_store_start).
func (s *Server) storeStartedLocked(at time.Time) {
	p := s.p
	p.storeDone = time.Time{}
	h, _ := s.st.ha()
	if !h.EnableHA {
		s.engineLocked(at)
		return
	}
	if h.StartupMode == "StandAlone" {
		p.role, p.oldRole, p.active, p.synced = rolePrimary, roleUnsync, 1, 1
		s.engineLocked(at)
		return
	}
	p.discovering = true
	p.role, p.oldRole = roleUnsync, roleUnsync
	timeout := h.DiscoveryTimeout
	if timeout <= 0 {
		timeout = 600
	}
	p.discoverUntil = at.Add(time.Duration(float64(timeout) * float64(time.Second) * s.opts.Timing.Scale))
	s.tryPairLocked(at)
}

// discoveryTimeoutLocked ends a discovery that found no partner: in
// AutoDetect mode the node's role is ERROR with DISCOVERY_TIMEOUT
// (storeHighAvailability.c cip_raise_view_), the store start fails and the
// server comes up in maintenance.
func (s *Server) discoveryTimeoutLocked(at time.Time) {
	p := s.p
	p.oldRole, p.role = p.role, roleError
	p.reason = reasonDiscoveryTimeout
	p.active, p.synced = 1, 0
	s.failLocked(codeStoreHAError)
}

// tryPairLocked pairs a discovering node with its partner when the partner
// can be found: a running primary takes it as standby; a partner
// discovering too decides the roles with it (haChoosePrimary).
func (s *Server) tryPairLocked(at time.Time) {
	p := s.p
	peer := s.peer
	if p == nil || !p.discovering || peer == nil || peer.p == nil || s.partitioned {
		return
	}
	q := peer.p
	if !q.exitAt.IsZero() {
		return
	}
	tm := s.opts.Timing
	switch {
	case q.role == rolePrimary && !q.maint:
		// haChoosePrimary: "Local already primary && Remote new": the new
		// node becomes standby, whatever its store holds, and is
		// synchronised from the primary.
		p.discovering = false
		p.role, p.active, p.synced = roleUnsync, 2, 1
		p.syncFrom, p.syncUntil = at, at.Add(tm.Sync)
		q.active, q.synced = 2, 1
		q.syncFrom, q.syncUntil = at, at.Add(tm.Sync)
	case q.discovering:
		p.discovering, q.discovering = false, false
		mine, theirs := s.hasData(), peer.hasData()
		if mine && theirs && !sameStore(s.StoreDir(), peer.StoreDir()) {
			// "New check for two non-empty Stores on startup": the
			// emulator has no session ids to prefer one by, so this ends
			// as the documentation says (ad00406_: both nodes go into
			// maintenance mode): UNRESOLVED.
			for _, n := range []*Server{s, peer} {
				n.p.oldRole, n.p.role, n.p.reason = n.p.role, roleError, reasonUnresolved
				n.p.active, n.p.synced = 2, 0
				n.failLocked(codeStoreHAError)
			}
			return
		}
		prim, stby := s, peer
		switch {
		case mine != theirs:
			if theirs {
				prim, stby = peer, s
			}
		default:
			hs, _ := s.st.ha()
			hp, _ := peer.st.ha()
			if hp.PreferredPrimary && !hs.PreferredPrimary || hs.PreferredPrimary == hp.PreferredPrimary && peer.nameOrDir() < s.nameOrDir() {
				prim, stby = peer, s
			}
		}
		until := at.Add(tm.Sync)
		prim.p.role, prim.p.active, prim.p.synced = rolePrimary, 2, 1
		stby.p.role, stby.p.active, stby.p.synced = roleUnsync, 2, 1
		for _, n := range []*Server{prim, stby} {
			n.p.syncFrom, n.p.syncUntil = at, until
			n.saveRunLocked()
			n.poke()
		}
	}
}

// syncDoneLocked ends a synchronisation: the standby holds a copy of the
// primary's store and configuration and becomes STANDBY (State 10); a
// primary that was starting goes on to the engine.
func (s *Server) syncDoneLocked(at time.Time) {
	p := s.p
	p.syncUntil = time.Time{}
	peer := s.peer
	if peer == nil || peer.p == nil || !peer.p.exitAt.IsZero() {
		// The partner went away during the sync.
		if p.role == rolePrimary {
			p.active, p.synced = 1, 1
			if !p.settled && p.stateAt(at) == StateStoreStarting {
				s.engineLocked(at)
			}
			return
		}
		p.oldRole, p.role, p.reason = p.role, roleError, reasonSyncError
		s.failLocked(codeStoreHAError)
		return
	}
	p.active, p.synced = 2, 2
	switch p.role {
	case rolePrimary:
		if p.stateAt(at) == StateStoreStarting {
			s.engineLocked(at)
		}
	case roleUnsync:
		if err := replicate(peer, s); err != nil {
			s.logLine("sync: " + err.Error())
		}
		p.oldRole, p.role = roleUnsync, roleStandby
		// main.c: the standby pauses after ism_store_start (State 10).
		p.steps = append(p.steps, milestone{at, StateStoreStarted}, milestone{at.Add(s.opts.Timing.Step), StateStandby})
	}
	s.saveRunLocked()
}

// peerLeftLocked is what a node sees when its partner's process ends: a
// synchronised standby takes over as primary (adminHA.c
// ISM_HA_ACTION_STANDBY_TO_PRIMARY: the paused start-up goes on); a
// standby still synchronising cannot (storeMemoryHA.c: "not synchronized
// yet") and fails; a primary goes on alone.
func (s *Server) peerLeftLocked(at time.Time, peerRole string) {
	p := s.p
	if p.maint || p.discovering {
		return
	}
	switch p.role {
	case roleStandby:
		if peerRole != rolePrimary {
			return
		}
		p.oldRole, p.role, p.active, p.synced = roleStandby, rolePrimary, 1, 1
		tm := s.opts.Timing
		p.steps = append(p.steps,
			milestone{at, StateEngineStarting},
			milestone{at.Add(tm.EngineRecovery), StateTransportStarting},
			milestone{at.Add(tm.EngineRecovery + tm.Step), StateMessagingStarted},
			milestone{at.Add(tm.EngineRecovery + 2*tm.Step), StateProduction})
		p.settled = false
	case roleUnsync:
		p.oldRole, p.role, p.reason = roleUnsync, roleError, reasonSyncError
		s.failLocked(codeStoreHAError)
		return
	case rolePrimary:
		p.oldRole = rolePrimary
		p.active, p.synced = 1, 1
		if !p.syncUntil.IsZero() && !p.settled && p.stateAt(at) == StateStoreStarting {
			p.syncUntil = time.Time{}
			s.engineLocked(at)
		}
		p.syncUntil = time.Time{}
	}
	s.saveRunLocked()
	s.poke()
}

// partitionLocked is the view after the replication link broke: a primary
// goes on alone, a standby takes over (both are then primary).
func (s *Server) partitionLocked(at time.Time) {
	p := s.p
	if p == nil {
		return
	}
	switch p.role {
	case rolePrimary:
		p.oldRole, p.active, p.synced = rolePrimary, 1, 1
		s.saveRunLocked()
	case roleStandby:
		s.peerLeftLocked(at, rolePrimary)
	}
}

// replicate copies the primary's store and configuration to the standby, as
// the HA synchronisation does (the standby's own HighAvailability object
// and server-specific items stay).
func replicate(from, to *Server) error {
	if err := copyStore(from.StoreDir(), to.StoreDir()); err != nil {
		return err
	}
	keep := map[string]json.RawMessage{}
	for _, k := range []string{"HighAvailability"} {
		if v, ok := to.st.Config[k]; ok {
			keep[k] = v
		}
	}
	cfg := map[string]json.RawMessage{}
	for k, v := range from.st.Config {
		cfg[k] = v
	}
	for k, v := range keep {
		cfg[k] = v
	}
	to.st.Config = cfg
	return to.st.save(to.opts.Dir)
}
