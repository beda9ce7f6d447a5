// Package sshdtest starts a private OpenSSH server for drillbook's tests:
// Debian's sshd (openssh-server) on a loopback port, with its own host key,
// authorized_keys, client key, known_hosts and sshd_config in a temporary
// directory, run as the current user; never the system service. It fails
// the test, with the command that installs it, when sshd is missing.
package sshdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// SSHD is where Debian's openssh-server installs the daemon; sshd must be
// started by its absolute path (it re-executes itself).
const SSHD = "/usr/sbin/sshd"

// Server is a running private sshd.
type Server struct {
	// Addr is the loopback address it listens on; Port its port.
	Addr string
	Port int
	// Dir holds its files.
	Dir string
	// ClientKey is the private key authorized to log in; KnownHosts holds
	// the server's host key under [Addr]:Port.
	ClientKey  string
	KnownHosts string
	// HostKeyFingerprint is the SHA256 fingerprint of its host key, as ssh
	// prints it ("SHA256:...").
	HostKeyFingerprint string
	// User is the user it lets in: the current one.
	User string

	t      testing.TB
	config string
	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *logBuf
}

type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > 200 {
		l.lines = l.lines[len(l.lines)-200:]
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Need fails the test when sshd or the OpenSSH client is missing, saying
// how to install them (make test installs them when it can).
func Need(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(SSHD); err != nil {
		missing = append(missing, "openssh-server")
	}
	for _, p := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, "openssh-client")
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("this test needs a real sshd and ssh client: install them with: apt-get install -y %s (make test does when it runs as root)", strings.Join(missing, " "))
	}
}

// Start starts a private sshd and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	Need(t)
	if os.Geteuid() == 0 {
		// sshd running as root needs its privilege separation directory,
		// which the Debian service creates at boot (it is empty).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd needs /run/sshd: %v", err)
		}
	}
	dir := t.TempDir()
	s := &Server{Addr: "127.0.0.1", Dir: dir, t: t, log: &logBuf{}}
	u := os.Getenv("USER")
	if out, err := exec.Command("id", "-un").Output(); err == nil {
		u = strings.TrimSpace(string(out))
	}
	s.User = u
	keygen := func(path string) {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drillbook-test", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	keygen(hostKey)
	s.ClientKey = filepath.Join(dir, "client_key")
	keygen(s.ClientKey)
	pub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", hostKey+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	if f := strings.Fields(string(out)); len(f) > 1 {
		s.HostKeyFingerprint = f[1]
	}
	s.Port = freePort(t)
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[%s]:%d %s", s.Addr, s.Port, strings.Join(strings.Fields(string(hostPub))[:2], " "))
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.config = filepath.Join(dir, "sshd_config")
	cfg := fmt.Sprintf(`# private sshd for a drillbook test
Port %d
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PrintMotd no
PrintLastLog no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
`, s.Port, s.Addr, hostKey, filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs sshd in the foreground (-D), logging to stderr (-e), in a
// process group of its own, and waits until it accepts connections.
func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(SSHD, "-D", "-e", "-f", s.config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.add(sc.Text())
		}
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("sshd exited at start: %s", s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd does not accept connections on port %d after 30s: %s", s.Port, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills sshd and every sshd process serving its connections, as a
// crash or `kill -9` of the daemon would: the connections drop. sshd puts
// each connection in a session of its own, so they are found as the
// daemon's descendants named sshd; the commands they ran (not sshd) are
// left to notice their channel closed.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pids := append(sshdDescendants(cmd.Process.Pid), cmd.Process.Pid)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for i := 0; i < 500; i++ {
		left := 0
		for _, p := range pids {
			if err := syscall.Kill(p, 0); err == nil && !zombie(p) {
				left++
			}
		}
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procStat returns a process's command name and parent from /proc.
func procStat(pid int) (comm string, ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, "", false
	}
	i, j := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if i < 0 || j < i {
		return "", 0, "", false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 2 {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return string(b[i+1 : j]), ppid, f[0], true
}

func zombie(pid int) bool {
	_, _, st, ok := procStat(pid)
	return !ok || st == "Z" || st == "X"
}

// sshdDescendants lists the sshd processes descended from pid.
func sshdDescendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		c, pp, _, ok := procStat(pid)
		if ok {
			parent[pid], comm[pid] = pp, c
		}
	}
	var out []int
	for pid := range parent {
		if comm[pid] != "sshd" {
			continue
		}
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// Restart starts sshd again on the same port with the same keys.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Log returns what sshd logged lately.
func (s *Server) Log() string { return s.log.String() }

// Host returns a hosts: entry for this server, logging in with ClientKey
// and checking its key against KnownHosts; agent is the drillbook binary
// to run there.
func (s *Server) Host(name, agent string) *runbook.HostConfig {
	return &runbook.HostConfig{Name: name, Address: s.Addr, Port: s.Port, User: s.User, IdentityFile: s.ClientKey, KnownHosts: s.KnownHosts, Agent: agent}
}
