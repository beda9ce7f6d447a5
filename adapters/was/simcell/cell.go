// Package simcell is a simulated WebSphere cell for drillbook's training
// target and tests: a deployment manager, nodes, servers and a cluster, a
// service integration bus with messaging engines on data stores and file
// stores, and an HA policy with preferred servers and fail back. Operations
// change its state with configurable delays and every server writes a real
// SystemOut.log in WebSphere's basic format, with the message sequences of
// reference/was-sib.md, rotated by size under WebSphere's rotated names.
//
// The cell's state lives in a directory (cell.json, the stores, the logs),
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
)

// Scenarios returns every scenario name, sorted.
func Scenarios() []string {
	s := []string{ScenarioNormal, ScenarioLockHeld, ScenarioFlushFails, ScenarioSlowStart,
		ScenarioRotationDuringFlush, ScenarioWsadminHangs, ScenarioStartedWithoutFlush, ScenarioPreferredServerDown}
	sort.Strings(s)
	return s
}

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
}

// DefaultDelays are the training delays: an engine reaches Started about
// 3 s after its start call, a slow start takes 45 s more.
func DefaultDelays() Delays {
	return Delays{
		ServerStart: 4 * time.Second, ServerStop: 2 * time.Second,
		EngineStart: 3 * time.Second, EngineStop: time.Second,
		FlushStream: 500 * time.Millisecond, SlowStart: 45 * time.Second,
		Hang: 10 * time.Minute, Tool: time.Second,
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
}

// Server is an application server of the cell.
type Server struct {
	// Name and Node identify the server.
	Name string `json:"name"`
	Node string `json:"node"`
	// Cluster is empty for a server that is no cluster member.
	Cluster string `json:"cluster,omitempty"`
	// Running is false for a stopped server.
	Running bool `json:"running"`
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
	// Options are those the cell was created with.
	Options Options `json:"options"`
	// Cell, DmgrNode and Nodes name the cell's topology.
	Cell     string   `json:"cell"`
	DmgrNode string   `json:"dmgr_node"`
	Nodes    []string `json:"nodes"`
	// Servers and Engines are keyed by name.
	Servers map[string]*Server `json:"servers"`
	Engines map[string]*Engine `json:"engines"`
	// Master is each engine's Initial state in the master configuration;
	// Synced is what the nodes have.
	Master map[string]string `json:"master"`
	Synced map[string]string `json:"synced"`
	// Fired counts the scenario faults already injected.
	Fired map[string]int `json:"fired"`
	// WsadminCalls counts the requests a real cell would have needed a
	// wsadmin session for.
	WsadminCalls int `json:"wsadmin_calls"`
	// ToolCalls counts profile tool runs (backupConfig, restoreConfig,
	// startServer -recovery).
	ToolCalls int `json:"tool_calls"`
}

// Cell is a simulated cell rooted at a directory.
type Cell struct {
	dir string
}

// Dir returns the cell's directory.
func (c *Cell) Dir() string { return c.dir }

// LogDir returns the directory of a server's logs.
func (c *Cell) LogDir(server string) string { return filepath.Join(c.dir, "logs", server) }

// LogPath returns a server's SystemOut.log.
func (c *Cell) LogPath(server string) string {
	return filepath.Join(c.LogDir(server), "SystemOut.log")
}

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
// cell TrainingCell01 with nodes node01-node03, cluster clu1 (server1-3)
// whose engine clu1.000-Bus1 uses a data store with preferred servers
// server1, server2, server3 and fail back, and server appsrv1 on node01
// whose engine node01.appsrv1-Bus1 uses a file store. Every server runs
// and both engines are Started, except that preferred-server-down has
// stopped server1, so the clustered engine runs in server2.
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
	for _, sub := range []string{"logs", "datastores", "filestores"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &State{
		Options: opts, Cell: "TrainingCell01", DmgrNode: "dmgrNode01",
		Nodes: []string{"node01", "node02", "node03"},
		Servers: map[string]*Server{
			"server1": {Name: "server1", Node: "node01", Cluster: "clu1"},
			"server2": {Name: "server2", Node: "node02", Cluster: "clu1"},
			"server3": {Name: "server3", Node: "node03", Cluster: "clu1"},
			"appsrv1": {Name: "appsrv1", Node: "node01"},
		},
		Engines: map[string]*Engine{
			"clu1.000-Bus1": {Name: "clu1.000-Bus1", Bus: "Bus1", UUID: newUUID(), Cluster: "clu1",
				Servers: []string{"server1", "server2", "server3"}, Store: "data",
				Preferred: []string{"server1", "server2", "server3"}, Failback: true, Instances: map[string]string{}},
			"node01.appsrv1-Bus1": {Name: "node01.appsrv1-Bus1", Bus: "Bus1", UUID: newUUID(),
				Servers: []string{"appsrv1"}, Store: "file", Instances: map[string]string{}},
		},
		Master: map[string]string{"clu1.000-Bus1": "STARTED", "node01.appsrv1-Bus1": "STARTED"},
		Synced: map[string]string{"clu1.000-Bus1": "STARTED", "node01.appsrv1-Bus1": "STARTED"},
		Fired:  map[string]int{},
	}
	c := &Cell{dir: dir}
	if err := c.save(s); err != nil {
		return nil, err
	}
	for _, e := range s.Engines {
		if err := c.writeStore(e, 1); err != nil {
			return nil, err
		}
		e.LastGen = 1
	}
	// Bring the cell up without delays: the training starts from a running
	// cell, and the logs show its start.
	err := c.update(ctx, func(s *State, a *actor) error {
		a.scale, a.calm = 0, true
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

func newUUID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

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

// readStore returns the store's image, or an error naming the CWSIS
// message a real engine would log.
func (c *Cell) readStore(e *Engine) (storeImage, string, error) {
	var img storeImage
	if e.Store == "data" {
		b, err := os.ReadFile(c.DataStorePath(e.Name))
		if err != nil {
			return img, "CWSIS1519E", err
		}
		if err := json.Unmarshal(b, &img); err != nil {
			return img, "CWSIS1519E", err
		}
		return img, "", nil
	}
	logDir, storeDir := c.FileStoreDirs(e.Name)
	b, err := os.ReadFile(filepath.Join(logDir, "Log"))
	if err != nil {
		return img, "CWSIS1580E", err
	}
	if err := json.Unmarshal(b, &img); err != nil {
		return img, "CWSIS1580E", err
	}
	for _, n := range []string{"PermanentStore", "TemporaryStore"} {
		b, err := os.ReadFile(filepath.Join(storeDir, n))
		if err != nil {
			return img, "CWSIS1590E", err
		}
		var gen int64
		if _, err := fmt.Sscanf(string(b), n+" generation %d", &gen); err != nil || gen != img.Generation {
			return img, "CWSIS1590E", fmt.Errorf("%s is from generation %d, the log from %d: the file store is not one consistent set", n, gen, img.Generation)
		}
	}
	return img, "", nil
}
