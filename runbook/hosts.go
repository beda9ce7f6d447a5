package runbook

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LocalHost is the name of the machine drillbook itself runs on. Every
// target has it without declaring it, and a host: argument or setting that
// is empty means it too, so targets written before hosts existed keep
// working.
const LocalHost = "local"

// DefaultConnectTimeout bounds how long drillbook waits for a host's SSH
// connection, including its banner, when connect_timeout is not set.
const DefaultConnectTimeout = 10 * time.Second

// HostConfig is one entry of a target's hosts: section, a machine of the
// estate and how to reach it over SSH. An entry without an address is the
// local machine under another name.
//
// drillbook runs the system OpenSSH client with these settings on top of
// the operator's own ~/.ssh/config, so what is not set here (agents,
// Kerberos, ControlMaster, a ProxyJump by pattern) comes from there.
type HostConfig struct {
	// Name is the key the host has under hosts:, how runbooks and adapter
	// settings refer to it.
	Name string `yaml:"-"`
	// Address is the host name or IP address ssh connects to; empty means
	// the host is the local machine.
	Address string `yaml:"address"`
	// Port is the SSH port; zero means ssh's own choice (22, or the
	// operator's ~/.ssh/config).
	Port int `yaml:"port"`
	// User is the login name; empty means ssh's own choice.
	User string `yaml:"user"`
	// Jump lists, in order, the hosts (names under the same hosts:) the
	// connection goes through, the first one reached directly.
	Jump []string `yaml:"jump"`
	// IdentityFile is the path of the private key to use, never the key
	// itself; empty leaves the choice to ssh (its agent, its defaults).
	IdentityFile string `yaml:"identity_file"`
	// KnownHosts is the known_hosts file the host's key is checked
	// against; empty means ssh's defaults (~/.ssh/known_hosts).
	KnownHosts string `yaml:"known_hosts"`
	// Agent is the path of the drillbook binary on the host, run as
	// `drillbook agent`; empty means "drillbook" found in the login PATH.
	Agent string `yaml:"agent"`
	// ConnectTimeout bounds the connection and the agent's greeting; zero
	// means DefaultConnectTimeout.
	ConnectTimeout Duration `yaml:"connect_timeout"`

	// Pos is where the host is declared.
	Pos Pos `yaml:"-"`
	fields
}

// Remote reports whether the host is reached over SSH.
func (h *HostConfig) Remote() bool { return h != nil && h.Address != "" }

// Timeout returns the connect timeout, DefaultConnectTimeout when unset.
func (h *HostConfig) Timeout() time.Duration {
	if h == nil || h.ConnectTimeout.Duration <= 0 {
		return DefaultConnectTimeout
	}
	return h.ConnectTimeout.Duration
}

// Describe says where the host is, for plans and errors, without
// connecting: "localhost", "ops@10.0.0.5:22 via bastion".
func (h *HostConfig) Describe() string {
	if !h.Remote() {
		return "localhost"
	}
	s := h.Address
	if h.User != "" {
		s = h.User + "@" + s
	}
	if h.Port != 0 {
		s = fmt.Sprintf("%s:%d", s, h.Port)
	}
	if len(h.Jump) > 0 {
		s += " via " + strings.Join(h.Jump, ", ")
	}
	return s
}

// Host returns the named host of the target. "" and LocalHost are the
// local machine even when the target declares no hosts.
func (t *Target) Host(name string) (*HostConfig, error) {
	if name == "" || name == LocalHost {
		if h, ok := t.Hosts[LocalHost]; ok {
			return h, nil
		}
		return &HostConfig{Name: LocalHost}, nil
	}
	if h, ok := t.Hosts[name]; ok {
		return h, nil
	}
	where := "the target declares no hosts"
	if len(t.Hosts) > 0 {
		where = "its hosts are " + strings.Join(t.HostNames(), ", ")
	}
	file := t.File
	if file == "" {
		file = "targets.yaml"
	}
	return nil, fmt.Errorf("target %s has no host %q (%s): add it under hosts: in %s, or use %s for this machine", t.Name, name, where, file, LocalHost)
}

// HostNames returns the declared host names, sorted.
func (t *Target) HostNames() []string {
	names := make([]string, 0, len(t.Hosts))
	for n := range t.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// An address is a DNS name or an IPv4 or IPv6 literal. It must not
	// start with "-": ssh would read it as an option.
	hostAddrRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._:-]*$`)
	hostUserRE = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*$`)
)

// parseHosts decodes a target's hosts: section strictly and checks every
// entry; problems carry file:line:col.
func parseHosts(path, target string, n *yaml.Node) (map[string]*HostConfig, Problems) {
	var probs Problems
	if n.Kind != yaml.MappingNode {
		probs.add(Pos{File: path, Line: n.Line, Col: n.Column}, "hosts: is a map of host names to their settings (address, port, user, jump, identity_file, known_hosts, agent, connect_timeout)")
		return nil, probs
	}
	hosts := map[string]*HostConfig{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := Pos{File: path, Line: k.Line, Col: k.Column}
		if !hostNameRE.MatchString(k.Value) {
			probs.add(kp, "host name %q: use letters, digits, dots, dashes and underscores", k.Value)
			continue
		}
		if _, dup := hosts[k.Value]; dup {
			probs.add(kp, "host %q is declared twice in target %s: keep one", k.Value, target)
			continue
		}
		h := &HostConfig{}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// "name:" alone: the local machine under that name.
		} else if v.Kind != yaml.MappingNode {
			probs.add(kp, "host %s must be a map of settings (address, port, user, ...)", k.Value)
			continue
		} else {
			if err := v.Decode(h); err != nil {
				probs = append(probs, yamlProblems(path, err, v)...)
				continue
			}
			walk(path, v, reflect.ValueOf(h).Elem(), "host "+k.Value, &probs)
		}
		h.Name = k.Value
		h.Pos = kp
		h.ConnectTimeout.Pos.File = path
		hosts[k.Value] = h
	}
	for _, name := range sortedKeys(hosts) {
		probs = append(probs, checkHost(hosts, hosts[name])...)
	}
	return hosts, probs
}

func checkHost(hosts map[string]*HostConfig, h *HostConfig) Problems {
	var probs Problems
	at := func(key string) Pos { return h.FieldPos(key, h.Pos) }
	if !h.Remote() {
		for key, set := range map[string]bool{"port": h.Port != 0, "user": h.User != "", "jump": len(h.Jump) > 0, "identity_file": h.IdentityFile != "", "known_hosts": h.KnownHosts != "", "agent": h.Agent != "", "connect_timeout": h.ConnectTimeout.Duration != 0} {
			if set {
				probs.add(at(key), "host %s has %s but no address: give address: (the name or IP ssh connects to), or remove the SSH settings to mean this machine", h.Name, key)
			}
		}
		return probs
	}
	if h.Name == LocalHost {
		probs.add(h.Pos, "the host name %q means the machine drillbook runs on: give this host another name", LocalHost)
	}
	if !hostAddrRE.MatchString(h.Address) {
		probs.add(at("address"), "host %s: address %q is not a host name or IP address (letters, digits, dots, dashes, colons; not starting with a dash)", h.Name, h.Address)
	}
	if h.Port < 0 || h.Port > 65535 {
		probs.add(at("port"), "host %s: port %d is not between 1 and 65535", h.Name, h.Port)
	}
	if h.User != "" && !hostUserRE.MatchString(h.User) {
		probs.add(at("user"), "host %s: user %q is not a login name (letters, digits, dots, dashes, underscores; not starting with a dash)", h.Name, h.User)
	}
	for key, p := range map[string]string{"identity_file": h.IdentityFile, "known_hosts": h.KnownHosts} {
		if p == "" {
			continue
		}
		switch {
		case strings.Contains(p, "-----BEGIN") || strings.Contains(p, "PRIVATE KEY"):
			probs.add(at(key), "host %s: %s holds a key, not a path: a key is never written in targets.yaml; give the path of the file that holds it", h.Name, key)
		case strings.ContainsAny(p, "\"\n\r\x00%"):
			probs.add(at(key), "host %s: %s %q has a quote, a newline or a %% (which ssh would expand): rename the file", h.Name, key, p)
		case !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "~/"):
			probs.add(at(key), "host %s: %s %q must be an absolute path or start with ~/", h.Name, key, p)
		}
	}
	if h.Agent != "" && (strings.ContainsAny(h.Agent, "\n\r\x00") || strings.HasPrefix(h.Agent, "-")) {
		probs.add(at("agent"), "host %s: agent %q is not a path: give the path of drillbook on the host, for example /usr/local/bin/drillbook", h.Name, h.Agent)
	}
	if d := h.ConnectTimeout.Duration; d < 0 || d > 0 && d < time.Second || d > 5*time.Minute {
		probs.add(at("connect_timeout"), "host %s: connect_timeout %s: give a duration between 1s and 5m", h.Name, d)
	}
	seen := map[string]bool{h.Name: true}
	for _, j := range h.Jump {
		jh, ok := hosts[j]
		switch {
		case !ok:
			probs.add(at("jump"), "host %s: jump host %q is not declared under hosts: (declared: %s)", h.Name, j, strings.Join(sortedKeys(hosts), ", "))
		case seen[j]:
			probs.add(at("jump"), "host %s: jump host %q appears twice in the chain (or is the host itself)", h.Name, j)
		case !jh.Remote():
			probs.add(at("jump"), "host %s: jump host %q has no address: a jump host is reached over SSH", h.Name, j)
		case len(jh.Jump) > 0:
			probs.add(at("jump"), "host %s: jump host %q has a jump chain of its own: list the whole chain, in order, in %s's jump:", h.Name, j, h.Name)
		case jh.Address == h.Address && jh.Port == h.Port:
			probs.add(at("jump"), "host %s: jump host %q has the same address and port as the host", h.Name, j)
		}
		seen[j] = true
	}
	return probs
}
