// Package emulator is an HTTP server that answers the IBM IoT MessageSight
// (Eclipse Amlen) REST admin API the way the real server does, for tests and
// for drillbook's training target. MessageSight cannot run here, so the
// messagesight adapter is tested against this server.
//
// Every behaviour follows Eclipse Amlen's source (github.com/eclipse/amlen,
// commit 92a6c46f): the table in docs/messagesight-emulator.md names, for
// each one, the Amlen file and function it follows, and says where the
// emulator simplifies and why. In short: a restart request answers 200 at
// once and reports State 2 (Stopping), the restart itself is acted on 3 s
// later, the process then exits, its supervisor waits 5 s and starts it
// again; a server started in production goes through States 11, 6, 16, 17
// and 8 before 1 (or 10 for an HA standby); an applied import forces State 9
// with ErrorCode 145 until the process really restarts; an HA node finds its
// partner only while its store starts in production and gives up after
// DiscoveryTimeout; two nodes that both hold data cannot pair (UNRESOLVED
// store) and both go to maintenance. There is no backup or restore endpoint:
// those paths answer 400 CWLNA0137, as the product does.
//
// Timing is real by default (RealTiming); Timing.Scaled shortens it for
// tests and training.
//
// Everything the server knows lives in its directory (state.json, data/,
// store/, userfiles/), so a new process started on the same directory finds
// the server as the previous one left it.
package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/flock"
)

// Server states reported in status (server_admin/include/admin.h, the
// ISM_SERVER_* enum; strings in adminInternal.c ism_admin_getStateStr).
const (
	StateProduction        = 1
	StateStopping          = 2
	StateStoreStarted      = 6
	StateMessagingStarted  = 8
	StateMaintenance       = 9
	StateStandby           = 10
	StateStoreStarting     = 11
	StateEngineStarting    = 16
	StateTransportStarting = 17
)

// Timing is how long the emulated server takes for each part of a restart
// and a start-up. RealTiming gives the values Amlen's source and scripts
// use; Scaled shortens them.
type Timing struct {
	// RestartDelay is the time between a restart request's 200 reply and
	// the restart being acted on (config_jsonutils.c
	// ism_config_json_parseServiceRestartPayload: a timer task 3 s later).
	RestartDelay time.Duration
	// Shutdown is the time from the restart being acted on to the process
	// exiting (main.c: the components are terminated, then sleep(2) after
	// starting resetServerConfig.sh).
	Shutdown time.Duration
	// StartupStop is how long a stop requested during start-up takes
	// (admin.c ism_admin_init_stop: a timer task 10 s later when the server
	// is not yet paused).
	StartupStop time.Duration
	// Supervisor is the time between the process exiting and the next one
	// starting (startServer.sh: sleep 5 in the restart case).
	Supervisor time.Duration
	// Init is the time from process start to the admin endpoint answering
	// (main.c up to ISM_PROTOCOL_STARTED). Not measured anywhere in the
	// source; the emulator assumes it.
	Init time.Duration
	// StoreRecovery is how long State 11 (StoreStarting) lasts before HA
	// discovery: the store's recovery from disk (storeMemory.c
	// ism_storePersist_doRecovery); it grows with the store, to minutes.
	StoreRecovery time.Duration
	// EngineRecovery is how long State 16 (EngineStarting) lasts: the
	// engine's recovery of queues and subscriptions (ism_engine_start).
	EngineRecovery time.Duration
	// Step is how long each short start-up state (6, 17, 8) is shown; the
	// source has no figure: a simplification.
	Step time.Duration
	// Sync is how long a standby takes to synchronise with its primary
	// (storeMemory.c ism_store_memHASyncWaitView); the docs say "typically
	// under 5 s; 15-30 s under load".
	Sync time.Duration
	// Scale multiplies the HighAvailability DiscoveryTimeout of the
	// configuration (seconds, default 600); zero means 1.
	Scale float64
}

// RealTiming returns the timing of a real server with a small store.
func RealTiming() Timing {
	return Timing{RestartDelay: 3 * time.Second, Shutdown: 2 * time.Second, StartupStop: 10 * time.Second,
		Supervisor: 5 * time.Second, Init: 2 * time.Second, StoreRecovery: 3 * time.Second,
		EngineRecovery: 2 * time.Second, Step: 200 * time.Millisecond, Sync: 5 * time.Second, Scale: 1}
}

// Scaled returns the timing multiplied by f (0.1 is ten times faster).
func (t Timing) Scaled(f float64) Timing {
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	if t.Scale == 0 {
		t.Scale = 1
	}
	return Timing{RestartDelay: sc(t.RestartDelay), Shutdown: sc(t.Shutdown), StartupStop: sc(t.StartupStop),
		Supervisor: sc(t.Supervisor), Init: sc(t.Init), StoreRecovery: sc(t.StoreRecovery),
		EngineRecovery: sc(t.EngineRecovery), Step: sc(t.Step), Sync: sc(t.Sync), Scale: t.Scale * f}
}

// Options configures one emulated server.
type Options struct {
	// Dir holds the server's state; it is created when missing. Required.
	Dir string
	// Addr is the address to listen on; empty means 127.0.0.1 with the port
	// the server used last time in Dir, or any free port.
	Addr string
	// Name is the ServerName reported in status; empty means "host:port".
	Name string
	// User and Password enable Basic authentication when User is set.
	User     string
	Password string
	// TLS, when set, makes the admin endpoint https (a security profile with
	// TLSEnabled, reference §2.2).
	TLS *tls.Config
	// Timing is how long restarts and start-ups take; the zero value means
	// RealTiming.
	Timing Timing
	// RequestLog, when set, receives one line per request (never a
	// password); every line is also appended to Dir/requests.log.
	RequestLog io.Writer
}

// Server is one running emulated MessageSight server and the supervisor
// that starts its process again after a restart.
type Server struct {
	opts Options
	mu   *sync.Mutex // shared with the peer of an HA pair
	peer *Server

	st   persisted
	port int
	ln   net.Listener
	srv  *http.Server
	p    *process // the current process, nil while none runs
	// nextBoot is when the supervisor starts the next process, zero when
	// none is due.
	nextBoot time.Time
	// partitioned cuts the HA replication link (a split pair).
	partitioned bool

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	logMu  sync.Mutex
	log    *os.File
	lock   *os.File // holds an exclusive flock on Dir/lock while open
}

// Start opens (or creates) the server in opts.Dir and starts serving. The
// server runs until Close or until ctx is done.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := newServer(ctx, opts, &sync.Mutex{})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	err = s.openLocked(time.Now())
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.run()
	return s, nil
}

// StartPair starts two servers configured as an HA pair in group (EnableHA,
// StartupMode AutoDetect; the first one PreferredPrimary), unless their
// directories already hold an HA configuration. Both start at once, so they
// discover each other and pair: the one whose store holds data (or the
// preferred one) becomes primary, the other synchronises as its standby.
func StartPair(ctx context.Context, group string, a, b Options) (*Server, *Server, error) {
	mu := &sync.Mutex{}
	sa, err := newServer(ctx, a, mu)
	if err != nil {
		return nil, nil, err
	}
	sb, err := newServer(ctx, b, mu)
	if err != nil {
		sa.Close()
		return nil, nil, err
	}
	sa.peer, sb.peer = sb, sa
	now := time.Now()
	mu.Lock()
	for _, s := range []*Server{sa, sb} {
		if !s.st.haConfigured() {
			s.st.setHA(group, s == sa)
			err = errors.Join(err, s.st.save(s.opts.Dir))
		}
	}
	if err == nil {
		err = sa.openLocked(now)
	}
	if err == nil {
		err = sb.openLocked(now)
	}
	mu.Unlock()
	if err != nil {
		sa.Close()
		sb.Close()
		return nil, nil, err
	}
	sa.run()
	sb.run()
	return sa, sb, nil
}

func newServer(ctx context.Context, opts Options, mu *sync.Mutex) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("emulator: Options.Dir is required")
	}
	if opts.Timing == (Timing{}) {
		opts.Timing = RealTiming()
	}
	if opts.Timing.Scale == 0 {
		opts.Timing.Scale = 1
	}
	for _, sub := range []string{"data", "store", "userfiles"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
	}
	// One process at a time may play a server: a second one on the same
	// directory would overwrite the first one's state.
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if err := flock.TryLock(lock, true); err != nil {
		lock.Close()
		return nil, fmt.Errorf("emulator: %s is in use by another process (another drillbook run on this training estate?): wait for it to end", opts.Dir)
	}
	st, err := loadState(opts.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(opts.Dir, "requests.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("emulator: %w", err)
	}
	s := &Server{opts: opts, mu: mu, st: st, log: lf, lock: lock, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.ensureStore(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openLocked brings the server up when it is opened: a restart that a
// previous process accepted but did not live to finish is finished (a real
// server finishes its restart whatever its clients do; the emulator lives
// in drillbook's process), a process that was running goes on with its
// start time, and otherwise a new process starts.
func (s *Server) openLocked(now time.Time) error {
	if len(s.st.Pending) > 0 {
		// The restart was accepted: it went on while drillbook was away. The
		// new process starts when it would have (the request's timer, the
		// shutdown and the supervisor's pause later), or now if that time
		// has passed; the port is the old one.
		tm := s.opts.Timing
		for _, r := range s.st.Pending {
			s.applyRequestLocked(r)
		}
		boot := s.st.Pending[0].At.Add(tm.Shutdown + tm.Supervisor)
		s.st.Pending = nil
		if err := s.exitEffectsLocked(); err != nil {
			return err
		}
		s.st.Run = nil
		s.st.NextBoot = boot
		if err := s.st.save(s.opts.Dir); err != nil {
			return err
		}
	}
	if !s.st.NextBoot.IsZero() && s.st.Run == nil {
		// Between two processes: the next one starts when it is due.
		s.port = s.st.Port
		if s.st.NextBoot.After(now) {
			s.nextBoot = s.st.NextBoot
			return nil
		}
		if err := s.listenLocked(); err != nil {
			return err
		}
		s.bootLocked(now.Add(-s.opts.Timing.Init))
		return nil
	}
	if err := s.listenLocked(); err != nil {
		return err
	}
	if r := s.st.Run; r != nil && r.Settled {
		// The process ran all along while drillbook was away.
		s.p = resumeProcess(r)
		return nil
	}
	// Otherwise a start-up, interrupted by drillbook's death or never begun,
	// begins now, with the admin endpoint answering at once.
	s.bootLocked(now.Add(-s.opts.Timing.Init))
	return nil
}

// run starts the goroutines that serve requests and move time on.
func (s *Server) run() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop()
	}()
}

// loop carries out scheduled events (the port opening and closing, the
// supervisor starting a process, start-up milestones, HA decisions) at
// their times, until the server is closed.
func (s *Server) loop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		s.advanceLocked(time.Now())
		next := s.nextEventLocked()
		s.mu.Unlock()
		d := time.Hour
		if !next.IsZero() {
			d = max(time.Until(next), time.Millisecond)
		}
		t.Reset(d)
		select {
		case <-s.ctx.Done():
			s.mu.Lock()
			s.closeListenerLocked()
			s.mu.Unlock()
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// poke makes the loop look at its schedule again.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// listenLocked starts serving on the server's port: from now on
// connections are accepted.
func (s *Server) listenLocked() error {
	if s.ln != nil {
		return nil
	}
	if s.ctx.Err() != nil {
		return errors.New("emulator: server is closed")
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:" + strconv.Itoa(s.st.Port)
	}
	if s.port != 0 {
		addr = "127.0.0.1:" + strconv.Itoa(s.port)
	}
	ln, err := listenRetry(s.ctx, addr)
	if err != nil && s.port == 0 && s.opts.Addr == "" && s.st.Port != 0 {
		// The port of an earlier run is taken: take any other.
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	if s.st.Port != s.port {
		s.st.Port = s.port
		if err := s.st.save(s.opts.Dir); err != nil {
			ln.Close()
			return err
		}
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.ln = ln
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: discardLog()}
	s.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	return nil
}

// closeListenerLocked closes the listener and every connection: from now
// on the port refuses connections.
func (s *Server) closeListenerLocked() {
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
	s.ln = nil
}

func listenRetry(ctx context.Context, addr string) (net.Listener, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns the admin endpoint's base URL, "http://127.0.0.1:PORT" (https
// when Options.TLS is set).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	scheme := "http"
	if s.opts.TLS != nil {
		scheme = "https"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(s.port)
}

// Port returns the port the server listens on, across restarts.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Name returns the ServerName reported in status.
func (s *Server) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nameLocked()
}

// Dir returns the server's state directory.
func (s *Server) Dir() string { return s.opts.Dir }

// StoreDir returns the directory holding the emulated persistent store, the
// one a store backup copies (reference §8.2: <DATA>/store).
func (s *Server) StoreDir() string { return filepath.Join(s.opts.Dir, "store") }

// DataDir returns the emulated <DATA>/data directory.
func (s *Server) DataDir() string { return filepath.Join(s.opts.Dir, "data") }

// State returns the state status would report now (0 while no process
// answers).
func (s *Server) State() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceLocked(now)
	if s.ln == nil || s.p == nil {
		return 0
	}
	st, _, _ := s.reportedStateLocked(now)
	return st
}

// Partition cuts the HA replication link of a synchronised pair, as a
// network failure between the two nodes does: the primary goes on alone
// and the standby, no longer hearing it, takes over, so both are primary
// (a split pair). The cut persists across reopening.
func (s *Server) Partition() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == nil {
		return
	}
	now := time.Now()
	s.advanceLocked(now)
	s.peer.advanceLocked(now)
	s.partitioned, s.peer.partitioned = true, true
	s.st.Partitioned, s.peer.st.Partitioned = true, true
	for _, n := range []*Server{s, s.peer} {
		n.partitionLocked(now)
		_ = n.st.save(n.opts.Dir)
		n.poke()
	}
}

// Close stops the server and waits for its goroutines. It is safe to call
// twice.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	s.closeListenerLocked()
	s.mu.Unlock()
	s.logMu.Lock()
	defer s.logMu.Unlock()
	var err error
	if s.log != nil {
		err = s.log.Close()
		s.log = nil
	}
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
		s.lock = nil
	}
	return err
}

func (s *Server) nameLocked() string {
	if s.opts.Name != "" {
		return s.opts.Name
	}
	return "127.0.0.1:" + strconv.Itoa(s.port)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Server) logLine(line string) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	line = time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + s.nameOrDir() + " " + line + "\n"
	if s.log != nil {
		_, _ = s.log.WriteString(line)
	}
	if s.opts.RequestLog != nil {
		_, _ = io.WriteString(s.opts.RequestLog, line)
	}
}

func (s *Server) nameOrDir() string {
	if s.opts.Name != "" {
		return s.opts.Name
	}
	return filepath.Base(s.opts.Dir)
}

// discardLog keeps net/http's own complaints (a TLS handshake a test aborts)
// out of the test output.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
