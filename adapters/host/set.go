package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/runbook"
)

// Resolver gives an adapter the Host its settings name. Every adapter
// setting that means "where" (a shell step's host:, a WebSphere server's
// host, a RabbitMQ node's host) is a name under the target's hosts:, and
// the adapter calls Get with it; "" and runbook.LocalHost are this machine.
// Get does not connect: a remote host connects on its first call, so Plan
// may call Get and show Host.String().
type Resolver interface {
	Get(name string) (Host, error)
}

// Set is the hosts of one target by name. It implements Resolver. Each
// remote host keeps one connection for every call of the run.
type Set struct {
	target *runbook.Target
	opts   SSHOptions

	mu     sync.Mutex
	hosts  map[string]Host
	dir    string
	closed bool
}

var _ Resolver = (*Set)(nil)

// NewSet returns the hosts of t; a nil t (the training target, a command
// with no target) has only the local machine.
func NewSet(t *runbook.Target, opts SSHOptions) *Set {
	return &Set{target: t, opts: opts, hosts: map[string]Host{}}
}

// Get returns the named host, creating it on first use without connecting.
// An unknown name is an error that lists the target's hosts.
func (s *Set) Get(name string) (Host, error) {
	if name == "" {
		name = runbook.LocalHost
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("host %s: the run's hosts are closed", name)
	}
	if h, ok := s.hosts[name]; ok {
		return h, nil
	}
	var cfg *runbook.HostConfig
	if s.target != nil {
		c, err := s.target.Host(name)
		if err != nil {
			return nil, err
		}
		cfg = c
	} else if name != runbook.LocalHost {
		return nil, fmt.Errorf("no host %q: this target has only the local machine (%s); hosts are declared under a target's hosts: in targets.yaml", name, runbook.LocalHost)
	}
	// missing_logs: error holds on every host of the target.
	strict := s.target != nil && s.target.MissingLogError
	var h Host
	if !cfg.Remote() {
		var opts []logwatch.Option
		if strict {
			opts = append(opts, logwatch.WithMissingError())
		}
		h = NewLocal(name, opts...)
	} else {
		t, err := s.transport(cfg)
		if err != nil {
			return nil, err
		}
		r := newRemote(name, cfg.Describe(), 2*cfg.Timeout()+30*time.Second, t.dial)
		r.missingError = strict
		h = r
	}
	s.hosts[name] = h
	return h, nil
}

// transport prepares the ssh transport of a remote host: its jump hosts'
// settings go into the generated ssh_config.
func (s *Set) transport(cfg *runbook.HostConfig) (*sshTransport, error) {
	var jumps []*runbook.HostConfig
	for _, j := range cfg.Jump {
		jc, err := s.target.Host(j)
		if err != nil {
			return nil, fmt.Errorf("host %s: jump host: %w", cfg.Name, err)
		}
		jumps = append(jumps, jc)
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "drillbook-ssh-")
		if err != nil {
			return nil, fmt.Errorf("host %s: a directory for its ssh settings: %w", cfg.Name, err)
		}
		s.dir = d
	}
	t := &sshTransport{cfg: cfg, jumps: jumps, target: s.target.Name, opts: s.opts}
	t.configFile = filepath.Join(s.dir, cfg.Name+".ssh_config")
	text := sshConfig(s.target.Name, jumps, s.opts, cfg.Timeout(), t.keepAlive())
	if err := os.WriteFile(t.configFile, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("host %s: write its ssh settings: %w", cfg.Name, err)
	}
	return t, nil
}

// Describe says where the named host is, without connecting, for plans.
func (s *Set) Describe(name string) string {
	h, err := s.Get(name)
	if err != nil {
		return name + " (unknown host)"
	}
	return h.String()
}

// Close closes every host (a remote agent then ends what it still runs)
// and removes the generated ssh settings.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for _, h := range s.hosts {
		errs = append(errs, h.Close())
	}
	s.hosts = map[string]Host{}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}

// Watcher arms each log watch on the host its spec names (WatchSpec.Host),
// so the runner, which is given one runbook.Watcher, follows logs on every
// host of the estate. A spec that names no host has each file followed on
// the host Locate puts it on; when its files sit on several hosts, one
// watch is armed on each and their records merged into one watch.
type Watcher struct {
	// Hosts resolves the spec's host name.
	Hosts Resolver
	// Locate, when set, gives the host of a file of a spec that names no
	// host (a WebSphere server's log is on its profile's host); nil
	// follows such files on this machine.
	Locate Locator
}

var _ runbook.Watcher = Watcher{}

// Arm arms the watch on spec.Host, or for a spec without one on the host
// of each file ("" is this machine); every start position is taken before
// Arm returns.
func (w Watcher) Arm(spec runbook.WatchSpec, from []runbook.LogPosition) (runbook.Watch, error) {
	if w.Hosts == nil {
		return nil, errors.New("log watch: no hosts to watch on")
	}
	return armEach(w.Hosts, spec, from, groupByHost(spec, from, w.Locate))
}

// HostsOf says which host each of spec's files is followed on, in the
// order the spec names them ("" is this machine), for plans.
func (w Watcher) HostsOf(spec runbook.WatchSpec) []string {
	out := make([]string, len(spec.Files))
	for _, g := range groupByHost(spec, nil, w.Locate) {
		for _, at := range g.index {
			out[at] = g.host
		}
	}
	return out
}
