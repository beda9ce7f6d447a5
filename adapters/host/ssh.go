package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// The transport is the system OpenSSH client, not golang.org/x/crypto/ssh:
// an operator's ~/.ssh/config (ProxyJump by pattern, ControlMaster,
// agents, Kerberos/GSSAPI, hardware keys through ssh-agent or FIDO) works
// as it does for their own ssh, as it does for Ansible's default
// connection, and drillbook holds no key and parses no key format. What
// drillbook insists on comes first in a generated ssh_config that then
// includes the operator's own and the system's, so it cannot be weakened
// there: host keys are always checked against known_hosts (BatchMode,
// StrictHostKeyChecking yes: an unknown or changed key stops the
// connection), no password or passphrase is ever asked (BatchMode, and ssh
// runs in a session of its own with no terminal to ask on), the connection
// has a timeout and keepalives, and nothing is forwarded. The same file is
// handed by ssh to the ssh it runs for each jump host, so the jump hops get
// the same rules.

// SSHOptions configure how a Set reaches its remote hosts.
type SSHOptions struct {
	// SSH is the ssh client; "" means "ssh" found in PATH.
	SSH string
	// Version is this drillbook's version, named when a host lacks the
	// agent or runs an incompatible one.
	Version string
	// UserConfig and SystemConfig are the ssh_config files included after
	// drillbook's own settings; "" means ~/.ssh/config and
	// /etc/ssh/ssh_config (each only when it exists), "none" includes
	// nothing.
	UserConfig, SystemConfig string
	// KeepAlive is ssh's ServerAliveInterval: a connection that stops
	// answering is given up after three of them; zero means 5s.
	KeepAlive time.Duration
}

// sshTransport opens sessions to one host with the system ssh.
type sshTransport struct {
	cfg    *runbook.HostConfig
	jumps  []*runbook.HostConfig
	target string
	opts   SSHOptions
	// configFile is the generated ssh_config, written by the Set.
	configFile string
}

func (t *sshTransport) agentPath() string {
	if t.cfg.Agent != "" {
		return t.cfg.Agent
	}
	return "drillbook"
}

func (t *sshTransport) sshPath() string {
	if t.opts.SSH != "" {
		return t.opts.SSH
	}
	return "ssh"
}

func (t *sshTransport) keepAlive() time.Duration {
	if t.opts.KeepAlive > 0 {
		return t.opts.KeepAlive
	}
	return 5 * time.Second
}

func jumpAlias(name string) string { return "drillbook-jump-" + name }

// quoteConf quotes a value for ssh_config (paths validated to hold no
// double quote).
func quoteConf(s string) string { return `"` + s + `"` }

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// sshConfig renders the generated ssh_config for a set of hosts: a block
// per jump host, then drillbook's rules for every host, then the included
// files.
func sshConfig(target string, jumps []*runbook.HostConfig, opts SSHOptions, timeout, keepAlive time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# drillbook: ssh settings for the hosts of target %s, written for this run; do not edit.\n", target)
	for _, j := range jumps {
		fmt.Fprintf(&b, "Host %s\n  HostName %s\n", jumpAlias(j.Name), j.Address)
		if j.Port != 0 {
			fmt.Fprintf(&b, "  Port %d\n", j.Port)
		}
		if j.User != "" {
			fmt.Fprintf(&b, "  User %s\n", j.User)
		}
		if j.IdentityFile != "" {
			fmt.Fprintf(&b, "  IdentityFile %s\n  IdentitiesOnly yes\n", quoteConf(expandHome(j.IdentityFile)))
		}
		if j.KnownHosts != "" {
			fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", quoteConf(expandHome(j.KnownHosts)))
		}
		fmt.Fprintf(&b, "  ConnectTimeout %d\n", int(j.Timeout().Seconds()))
	}
	fmt.Fprintf(&b, "Host *\n")
	for _, kv := range safetyOptions(timeout, keepAlive) {
		fmt.Fprintf(&b, "  %s %s\n", kv[0], kv[1])
	}
	user, system := opts.UserConfig, opts.SystemConfig
	if user == "" {
		if home, err := os.UserHomeDir(); err == nil {
			user = filepath.Join(home, ".ssh", "config")
		}
	}
	if system == "" {
		system = "/etc/ssh/ssh_config"
	}
	for _, inc := range []string{user, system} {
		if inc == "" || inc == "none" {
			continue
		}
		if _, err := os.Stat(inc); err == nil {
			fmt.Fprintf(&b, "  Include %s\n", quoteConf(inc))
		}
	}
	return b.String()
}

// safetyOptions are the settings drillbook never lets a configuration
// weaken.
func safetyOptions(timeout, keepAlive time.Duration) [][2]string {
	return [][2]string{
		{"BatchMode", "yes"},
		{"StrictHostKeyChecking", "yes"},
		{"PasswordAuthentication", "no"},
		{"KbdInteractiveAuthentication", "no"},
		{"ConnectTimeout", strconv.Itoa(max(1, int(timeout.Seconds())))},
		{"ServerAliveInterval", strconv.Itoa(max(1, int(keepAlive.Seconds())))},
		{"ServerAliveCountMax", "3"},
		{"ForwardAgent", "no"},
		{"ForwardX11", "no"},
		{"ClearAllForwardings", "yes"},
		{"RequestTTY", "no"},
	}
}

// argv builds the ssh command line that starts the agent on the host.
// Only drillbook's settings and the agent's path are in it: every request
// goes over the channel.
func (t *sshTransport) argv(remote []string, verbose bool) []string {
	a := []string{t.sshPath(), "-F", t.configFile}
	if verbose {
		a = append(a, "-v")
	}
	for _, kv := range safetyOptions(t.cfg.Timeout(), t.keepAlive()) {
		a = append(a, "-o", kv[0]+"="+kv[1])
	}
	if t.cfg.Port != 0 {
		a = append(a, "-p", strconv.Itoa(t.cfg.Port))
	}
	if t.cfg.User != "" {
		a = append(a, "-l", t.cfg.User)
	}
	if t.cfg.IdentityFile != "" {
		a = append(a, "-i", expandHome(t.cfg.IdentityFile), "-o", "IdentitiesOnly=yes")
	}
	if t.cfg.KnownHosts != "" {
		a = append(a, "-o", "UserKnownHostsFile="+quoteConf(expandHome(t.cfg.KnownHosts)))
	}
	if len(t.cfg.Jump) > 0 {
		aliases := make([]string, len(t.cfg.Jump))
		for i, j := range t.cfg.Jump {
			aliases[i] = jumpAlias(j)
		}
		a = append(a, "-J", strings.Join(aliases, ","))
	}
	a = append(a, t.cfg.Address)
	// ssh hands its command to the login shell on the host: each word is
	// quoted for it, and the words are fixed (the agent's path from
	// targets.yaml and "agent"), never a value from a runbook.
	return append(a, runbook.QuoteArgv(remote))
}

// sshProc is one running ssh client.
type sshProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	stderr []string
}

func (p *sshProc) addErr(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return
	}
	p.stderr = append(p.stderr, line)
	if len(p.stderr) > 40 {
		p.stderr = p.stderr[len(p.stderr)-40:]
	}
}

func (p *sshProc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// status waits up to d for ssh to exit and returns its exit code, -1 when
// it is still running.
func (p *sshProc) status(d time.Duration) int {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-t.C:
		return -1
	}
}

func (p *sshProc) kill() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// start runs ssh with argv in a session of its own: no terminal, so
// neither ssh nor a jump host's ssh can ask anything.
func (t *sshTransport) start(argv []string) (*sshProc, io.WriteCloser, io.ReadCloser, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	env := []string{"SSH_ASKPASS_REQUIRE=never"}
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k == "SSH_ASKPASS" || k == "DISPLAY" || k == "SSH_ASKPASS_REQUIRE" {
			continue
		}
		env = append(env, e)
	}
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("the OpenSSH client %s is not installed: install it (apt-get install openssh-client): %w", argv[0], err)
		}
		return nil, nil, nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &sshProc{cmd: cmd, exited: make(chan struct{})}
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			p.addErr(sc.Text())
		}
	}()
	go func() {
		// Wait closes the pipes once ssh is gone: read stderr to its end
		// first so that ssh's last words are kept.
		<-errDone
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, stdin, stdout, nil
}

// dial starts the agent on the host and reads its greeting.
func (t *sshTransport) dial(ctx context.Context) (*session, error) {
	name := t.cfg.Name
	argv := t.argv([]string{t.agentPath(), "agent"}, false)
	p, stdin, stdout, err := t.start(argv)
	if err != nil {
		return nil, &RemoteError{Host: name, Msg: err.Error(), Cause: err}
	}
	br := bufio.NewReaderSize(stdout, 256<<10)
	type greeting struct {
		protocol int
		version  string
		pid      int
		skipped  []string
		err      error
	}
	got := make(chan greeting, 1)
	go func() {
		var g greeting
		g.protocol, g.version, g.pid, g.skipped, g.err = readGreeting(br)
		got <- g
	}()
	// ssh's ConnectTimeout bounds the TCP connection and the banner; the
	// rest (key exchange, login, starting the agent) gets as long again.
	limit := 2*t.cfg.Timeout() + 5*time.Second
	timer := time.NewTimer(limit)
	defer timer.Stop()
	fail := func(err error) (*session, error) {
		stdin.Close()
		p.kill()
		p.status(5 * time.Second)
		return nil, err
	}
	var g greeting
	select {
	case g = <-got:
	case <-timer.C:
		return fail(&RemoteError{Host: name, Msg: fmt.Sprintf("no answer from drillbook agent at %s within %s (%s): check that the host is up and that %s agent starts there", t.cfg.Describe(), limit, lastWords(p.errText()), t.agentPath())})
	case <-ctx.Done():
		return fail(fmt.Errorf("connect to host %s: %w", name, ctx.Err()))
	}
	if g.err != nil {
		code := p.status(5 * time.Second)
		p.kill()
		stdin.Close()
		return nil, t.classify(ctx, code, p.errText(), g.skipped)
	}
	if g.protocol != ProtocolVersion {
		return fail(&RemoteError{Host: name, Msg: fmt.Sprintf("%s on %s is drillbook %s, whose agent speaks protocol %d; this drillbook (%s) speaks protocol %d: install drillbook %s there (copy this drillbook binary to %s)",
			t.agentPath(), name, g.version, g.protocol, t.version(), ProtocolVersion, t.version(), t.agentPath())})
	}
	end := func() error {
		stdin.Close()
		if p.status(15*time.Second) < 0 {
			p.kill()
			p.status(5 * time.Second)
		}
		return nil
	}
	why := func() string {
		code := p.status(3 * time.Second)
		w := lastWords(p.errText())
		switch {
		case code >= 0 && w != "":
			return fmt.Sprintf("ssh: %s; exit status %d", w, code)
		case code >= 0:
			return fmt.Sprintf("ssh exited with status %d", code)
		case w != "":
			return "ssh: " + w
		}
		return ""
	}
	return &session{r: br, w: stdin, version: g.version, pid: g.pid, end: end, why: why, carrier: p.cmd.Process.Pid}, nil
}

func (t *sshTransport) version() string {
	if t.opts.Version == "" {
		return "dev"
	}
	return t.opts.Version
}

// lastWords returns the last lines ssh printed that are not debug output.
func lastWords(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "debug") || strings.HasPrefix(l, "@@@") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 3 {
		keep = keep[len(keep)-3:]
	}
	return strings.Join(keep, " ")
}

var (
	changedFPRE  = regexp.MustCompile(`(?s)The fingerprint for the (\S+) key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/=]+)`)
	offendingRE  = regexp.MustCompile(`Offending \S+ key in (\S+):(\d+)`)
	unknownKeyRE = regexp.MustCompile(`No (\S+) host key is known for (\S+)`)
	keyHostRE    = regexp.MustCompile(`(?:host key is known for|Host key for) (\S+)`)
	serverKeyRE  = regexp.MustCompile(`Server host key: (\S+) (SHA256:[A-Za-z0-9+/=]+)`)
)

// classify turns a connection that ended before the agent greeted into an
// error that names the host and says what to do.
func (t *sshTransport) classify(ctx context.Context, code int, stderr string, skipped []string) error {
	name, where := t.cfg.Name, t.cfg.Describe()
	e := func(format string, args ...any) error {
		return &RemoteError{Host: name, Msg: fmt.Sprintf(format, args...)}
	}
	// unreachable is an error of a host nothing could be done on.
	unreachable := func(format string, args ...any) error {
		return &RemoteError{Host: name, Msg: fmt.Sprintf(format, args...), Cause: runbook.ErrUnreachable}
	}
	// Which hop's key failed: the host's, or a jump host's.
	hop, whose := t.cfg, "its host key"
	if m := keyHostRE.FindStringSubmatch(stderr); m != nil {
		for _, j := range t.jumps {
			if strings.Trim(knownHostsName(j), "'") == m[1] {
				hop, whose = j, "the host key of its jump host "+j.Name
			}
		}
	}
	kh := "your known_hosts (~/.ssh/known_hosts, or the file known_hosts: names in targets.yaml)"
	if hop.KnownHosts != "" {
		kh = hop.KnownHosts
	}
	switch {
	case strings.Contains(stderr, "REMOTE HOST IDENTIFICATION HAS CHANGED"):
		fp := "(fingerprint not shown by ssh)"
		if m := changedFPRE.FindStringSubmatch(stderr); m != nil {
			fp = m[1] + " " + m[2]
		}
		old := kh
		if m := offendingRE.FindStringSubmatch(stderr); m != nil {
			old = m[1] + " line " + m[2]
		}
		return e("%s has CHANGED: it now presents %s, which is not the key recorded in %s. This can be an attack, or the host was reinstalled: confirm the new fingerprint with the host's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), then remove the old key (ssh-keygen -R %s -f FILE) and add the new one; drillbook never replaces a key itself", whose, fp, old, knownHostsName(hop))
	case strings.Contains(stderr, "Host key verification failed"):
		who := knownHostsName(hop)
		if m := unknownKeyRE.FindStringSubmatch(stderr); m != nil {
			who = m[2]
		}
		fp := t.probeFingerprint(ctx)
		if fp == "" {
			fp = "(ssh did not say: run ssh-keyscan for it)"
		}
		return e("%s is not known: %s presents %s, which is not in %s. Check that fingerprint with the host's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), then add the key there (for example: ssh-keyscan %s >> FILE, after checking what it prints); drillbook never accepts a new key by itself", whose, who, fp, kh, keyscanArgs(hop))
	case strings.Contains(stderr, "Permission denied ("):
		user := t.cfg.User
		if user == "" {
			user = "(ssh's default user)"
		}
		key := "any of ssh's keys (agent, ~/.ssh/id_*)"
		if t.cfg.IdentityFile != "" {
			key = "the key " + t.cfg.IdentityFile
		}
		return e("it refused the login of %s at %s with %s (%s): add the matching public key to ~%s/.ssh/authorized_keys on the host, or set identity_file for it in targets.yaml", user, where, key, lastWords(stderr), strings.TrimPrefix(user, "(ssh's default user)"))
	case strings.Contains(stderr, "Connection refused"):
		return unreachable("nothing accepts SSH connections at %s (%s): check the address and port in targets.yaml (and the jump hosts') and that sshd runs there", where, lastWords(stderr))
	case strings.Contains(stderr, "timed out") || strings.Contains(stderr, "Connection timed out"):
		return unreachable("no SSH answer from %s within %s (%s): check that the host is up and reachable from here, or raise connect_timeout", where, t.cfg.Timeout(), lastWords(stderr))
	case strings.Contains(stderr, "Could not resolve hostname"):
		return e("its address %s does not resolve (%s): check address: in targets.yaml", t.cfg.Address, lastWords(stderr))
	case strings.Contains(stderr, "No route to host") || strings.Contains(stderr, "Network is unreachable"):
		return unreachable("%s cannot be reached from here (%s): check the network path, or add a jump host", where, lastWords(stderr))
	case strings.Contains(stderr, `unknown command "agent"`):
		return e("%s there is a drillbook without the agent (%s): install drillbook %s there (copy this drillbook binary to %s), or set agent: in targets.yaml to where it is", t.agentPath(), lastWords(stderr), t.version(), t.agentPath())
	case code == 127 || code == 126 || strings.Contains(stderr, "not found") || strings.Contains(stderr, "No such file or directory"):
		return e("it has no drillbook agent at %s (%s): install drillbook %s there (copy this drillbook binary to %s and make it executable), or set agent: in targets.yaml to where it is", t.agentPath(), lastWords(stderr), t.version(), t.agentPath())
	}
	msg := fmt.Sprintf("ssh to %s ended before drillbook agent answered", where)
	if code >= 0 {
		msg += fmt.Sprintf(" (exit status %d)", code)
	}
	if w := lastWords(stderr); w != "" {
		msg += ": " + w
	}
	if len(skipped) > 0 {
		msg += "; the host printed: " + strings.Join(skipped, " | ")
	}
	return e("%s: check that `ssh %s %s agent` works from here", msg, where, t.agentPath())
}

// probeFingerprint connects once more with ssh's debug output on to learn
// the fingerprint of the key the host presents, which ssh does not print
// when it refuses an unknown key. It authenticates nothing: the check
// fails again at the same point.
func (t *sshTransport) probeFingerprint(ctx context.Context) string {
	argv := t.argv([]string{"true"}, true)
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout()+5*time.Second)
	defer cancel()
	p, stdin, stdout, err := t.start(argv)
	if err != nil {
		return ""
	}
	stdin.Close()
	go io.Copy(io.Discard, stdout)
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.kill()
		<-p.exited
	}
	ms := serverKeyRE.FindAllStringSubmatch(p.errText(), -1)
	if len(ms) == 0 {
		return ""
	}
	last := ms[len(ms)-1]
	return last[1] + " " + last[2]
}

// knownHostsName is how known_hosts names the host: [addr]:port for a
// port other than 22.
func knownHostsName(h *runbook.HostConfig) string {
	if h.Port != 0 && h.Port != 22 {
		return fmt.Sprintf("'[%s]:%d'", h.Address, h.Port)
	}
	return h.Address
}

func keyscanArgs(h *runbook.HostConfig) string {
	if h.Port != 0 && h.Port != 22 {
		return fmt.Sprintf("-p %d %s", h.Port, h.Address)
	}
	return h.Address
}
