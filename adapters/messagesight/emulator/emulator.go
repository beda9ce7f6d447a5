// Package emulator is an HTTP server that answers the IBM IoT MessageSight
// (Eclipse Amlen) REST admin API the way the real server does, for tests and
// for drillbook's training target. MessageSight cannot run here, so the
// messagesight adapter is tested against this server.
//
// It follows ../shared/reference/messagesight.md: the same paths, methods,
// status codes and response bodies (byte for byte where the reference quotes
// them), server states 1, 2, 9 and 10, a restart that answers 200 at once,
// then refuses connections for a while and comes back on the same port,
// maintenance mode that persists across restarts, CleanStore wiping the
// store and keeping the configuration, import with ApplyConfig leaving the
// server in maintenance until it restarts, optional Basic authentication and
// an HA pair of two servers. There is no backup or restore endpoint: those
// paths answer 400 CWLNA0137, as the product does.
//
// Everything the server knows lives in its directory (state.json, data/,
// store/, userfiles/), so a new process started on the same directory finds
// the server as the previous one left it.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/flock"
)

// Server states reported in status (reference §4.3).
const (
	StateProduction  = 1
	StateStopping    = 2
	StateMaintenance = 9
	StateStandby     = 10
)

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
	// StopDelay is the time between a restart's 200 reply and the port
	// refusing connections; zero means 200ms.
	StopDelay time.Duration
	// DownWindow is how long connections are refused while the server
	// restarts; zero means 300ms.
	DownWindow time.Duration
	// SyncTime is how long a standby takes to synchronise with its primary;
	// zero means 1s.
	SyncTime time.Duration
	// CleanStoreToMaintenance makes a server whose store was cleaned come
	// back in maintenance mode, as one IBM page describes (reference §7.3);
	// false keeps the mode it had, as the FVT suite expects.
	CleanStoreToMaintenance bool
	// RequestLog, when set, receives one line per request (never a
	// password); every line is also appended to Dir/requests.log.
	RequestLog io.Writer
}

// Server is one running emulated MessageSight server.
type Server struct {
	opts Options
	mu   *sync.Mutex // shared with the peer of an HA pair
	peer *Server

	st       persisted
	port     int
	up       bool
	state    int
	started  time.Time
	role     string // HA role when HA is enabled: PRIMARY, STANDBY, UNSYNC
	oldRole  string
	syncFrom time.Time // when the standby started to synchronise

	srv    *http.Server
	ln     net.Listener
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
	err = s.comeUpLocked()
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// StartPair starts two servers configured as an HA pair in group. The first
// one comes up as primary, the second as its standby (after SyncTime in
// state UNSYNC), unless their directories record other roles.
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
	mu.Lock()
	for _, s := range []*Server{sa, sb} {
		if !s.st.haConfigured() {
			s.st.setHA(group, s == sa)
		}
	}
	err = sa.comeUpLocked()
	if err == nil {
		err = sb.comeUpLocked()
	}
	mu.Unlock()
	if err != nil {
		sa.Close()
		sb.Close()
		return nil, nil, err
	}
	return sa, sb, nil
}

func newServer(ctx context.Context, opts Options, mu *sync.Mutex) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("emulator: Options.Dir is required")
	}
	if opts.StopDelay == 0 {
		opts.StopDelay = 200 * time.Millisecond
	}
	if opts.DownWindow == 0 {
		opts.DownWindow = 300 * time.Millisecond
	}
	if opts.SyncTime == 0 {
		opts.SyncTime = time.Second
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
	s := &Server{opts: opts, mu: mu, st: st, log: lf, lock: lock}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.ensureStore(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.finishInterruptedRestart(); err != nil {
		s.Close()
		return nil, err
	}
	// The server stops with its context, like a process killed by its parent.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		s.mu.Lock()
		s.goDownLocked()
		s.mu.Unlock()
	}()
	return s, nil
}

// URL returns the admin endpoint's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://127.0.0.1:" + strconv.Itoa(s.port)
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

// State returns the state status would report now (0 while down).
func (s *Server) State() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return 0
	}
	s.advanceLocked(time.Now())
	return s.state
}

// Close stops the server and waits for its goroutines. It is safe to call
// twice.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
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

// comeUpLocked starts listening on the server's port and sets the state the
// persisted configuration calls for.
func (s *Server) comeUpLocked() error {
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
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	if s.st.Port != s.port {
		s.st.Port = s.port
		if err := s.st.save(s.opts.Dir); err != nil {
			ln.Close()
			return err
		}
	}
	s.up = true
	s.started = time.Now()
	s.setRunStateLocked()
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	return nil
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

// setRunStateLocked decides the state a server that just started is in:
// maintenance when its configured mode says so or an applied import waits
// for a restart, else production, or standby when HA is enabled and the peer
// is already primary.
func (s *Server) setRunStateLocked() {
	s.oldRole = s.role
	switch {
	case s.st.AdminMode == 1 || s.st.PendingRestart:
		s.state = StateMaintenance
		s.role = ""
	case !s.haEnabled():
		s.state = StateProduction
		s.role = ""
	case s.peer != nil && s.peer.up && s.peer.state == StateProduction && s.peer.role == "PRIMARY":
		s.state = StateStandby
		s.role = "UNSYNC"
		s.syncFrom = time.Now()
	default:
		s.state = StateProduction
		s.role = "PRIMARY"
	}
	if s.oldRole == "" {
		s.oldRole = s.role
	}
}

// advanceLocked moves time-driven state on: a standby finishes its sync.
func (s *Server) advanceLocked(now time.Time) {
	if s.role == "UNSYNC" && now.Sub(s.syncFrom) >= s.opts.SyncTime {
		s.oldRole = "UNSYNC"
		s.role = "STANDBY"
	}
}

func (s *Server) haEnabled() bool { return s.peer != nil && s.st.haEnabled() }

// goDownLocked closes the listener and every connection: from now on the
// port refuses connections. A primary going down hands over to a
// synchronised standby.
func (s *Server) goDownLocked() {
	if !s.up {
		return
	}
	s.up = false
	if s.srv != nil {
		_ = s.srv.Close()
	}
	if s.role == "PRIMARY" && s.peer != nil && s.peer.up {
		s.peer.advanceLocked(time.Now())
		if s.peer.role == "STANDBY" {
			s.peer.oldRole, s.peer.role = "STANDBY", "PRIMARY"
			s.peer.state = StateProduction
		}
	}
	s.role = ""
}

// restartKind says what a restart does on the way down.
type restartKind string

const (
	restartPlain       restartKind = "plain"
	restartCleanStore  restartKind = "clean"
	restartResetConfig restartKind = "reset"
)

// restartEffects does what a restart does while the server is down: clean
// the store or reset the configuration.
func (s *Server) restartEffects(kind restartKind) error {
	switch kind {
	case restartCleanStore:
		return s.cleanStore()
	case restartResetConfig:
		return s.resetConfig()
	}
	return nil
}

// restartedLocked records a finished restart in the persisted state.
func (s *Server) restartedLocked(kind restartKind) error {
	s.st.PendingRestart = false
	s.st.Restarting = ""
	if kind == restartCleanStore && s.opts.CleanStoreToMaintenance {
		s.st.AdminMode = 1
	}
	return s.st.save(s.opts.Dir)
}

// finishInterruptedRestart completes a restart the previous process
// accepted but did not live to finish.
func (s *Server) finishInterruptedRestart() error {
	kind := restartKind(s.st.Restarting)
	if kind == "" {
		return nil
	}
	if err := s.restartEffects(kind); err != nil {
		return fmt.Errorf("emulator: finish the interrupted restart: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restartedLocked(kind)
}

// scheduleRestartLocked answers a restart request: the state is Stopping at
// once; the port goes away after StopDelay and comes back after DownWindow.
func (s *Server) scheduleRestartLocked(kind restartKind) {
	if s.state == StateStopping {
		return // a restart is already under way
	}
	if s.ctx.Err() != nil {
		// Closing: a request that was in flight when the listener closed
		// must not start a goroutine Close no longer waits for. While ctx
		// is live the goroutine that takes the server down on cancel is
		// still counted in wg, so the Add below never races Close's Wait.
		return
	}
	s.state = StateStopping
	s.st.Restarting = string(kind)
	if err := s.st.save(s.opts.Dir); err != nil {
		s.logLine("restart: " + err.Error())
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !sleepCtx(s.ctx, s.opts.StopDelay) {
			return
		}
		s.mu.Lock()
		s.goDownLocked()
		s.mu.Unlock()
		if err := s.restartEffects(kind); err != nil {
			s.logLine("restart: " + err.Error())
		}
		if !sleepCtx(s.ctx, s.opts.DownWindow) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.restartedLocked(kind); err != nil {
			s.logLine("restart: " + err.Error())
		}
		if err := s.comeUpLocked(); err != nil {
			s.logLine("restart: " + err.Error())
		}
	}()
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
