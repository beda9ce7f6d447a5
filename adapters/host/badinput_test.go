package host

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// dialWith connects to a host with cfg and runs `true` on it; it returns
// the error and how long it took.
func dialWith(t *testing.T, cfg *runbook.HostConfig) (error, time.Duration) {
	t.Helper()
	s := NewSet(&runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{cfg.Name: cfg}}, SSHOptions{Version: "9.9.9", UserConfig: "none", SystemConfig: "none"})
	defer s.Close()
	h, err := s.Get(cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, err = h.Run(ctx, Command{Argv: []string{"true"}})
	return err, time.Since(start)
}

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Logf("%s: %v", what, err)
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: the error does not say %q:\n%v", what, p, err)
		}
	}
}

func TestUnreachableHost(t *testing.T) {
	sshdtest.Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	err, took := dialWith(t, &runbook.HostConfig{Name: "gone", Address: "127.0.0.1", Port: port, Agent: "/usr/bin/drillbook"})
	wantErr(t, "a port nobody listens on", err, "host gone:", "Connection refused", "check the address and port")
	if took > time.Minute {
		t.Fatalf("a refused connection took %s to report", took)
	}
}

func TestHostThatNeverAnswers(t *testing.T) {
	sshdtest.Need(t)
	// A listener that accepts and says nothing: ssh waits for a banner.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := &runbook.HostConfig{Name: "mute", Address: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, ConnectTimeout: runbook.Duration{Duration: 2 * time.Second}}
	err, took := dialWith(t, cfg)
	wantErr(t, "a host that never answers", err, "host mute:")
	if !strings.Contains(err.Error(), "within") {
		t.Fatalf("the error does not say it timed out: %v", err)
	}
	if took > time.Minute {
		t.Fatalf("a mute host held the call for %s with a 2s connect timeout", took)
	}
}

func TestRefusedKey(t *testing.T) {
	srv := sshdtest.Start(t)
	other := filepath.Join(t.TempDir(), "other_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cfg := srv.Host("db", testAgent(t))
	cfg.IdentityFile = other
	err, _ := dialWith(t, cfg)
	wantErr(t, "a key the host does not accept", err, "host db:", "refused the login of "+srv.User, other, "authorized_keys")
}

func TestUnknownHostKeyStopsWithItsFingerprint(t *testing.T) {
	srv := sshdtest.Start(t)
	cfg := srv.Host("new", testAgent(t))
	cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(cfg.KnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err, _ := dialWith(t, cfg)
	wantErr(t, "an unknown host key", err, "host new: its host key is not known", srv.HostKeyFingerprint, "ssh-keyscan", "never accepts a new key")
	if b, _ := os.ReadFile(cfg.KnownHosts); len(b) != 0 {
		t.Fatalf("the unknown key was added to known_hosts: %q", b)
	}
}

func TestChangedHostKeyStopsWithTheNewFingerprint(t *testing.T) {
	srv := sshdtest.Start(t)
	other := sshdtest.Start(t) // another host key, recorded for srv's address
	cfg := srv.Host("moved", testAgent(t))
	b, err := os.ReadFile(other.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
	line := "[127.0.0.1]:" + itoa(srv.Port) + " " + f[1] + " " + f[2] + "\n"
	if err := os.WriteFile(cfg.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	err, _ = dialWith(t, cfg)
	wantErr(t, "a changed host key", err, "host moved: its host key has CHANGED", srv.HostKeyFingerprint, cfg.KnownHosts+" line 1", "ssh-keygen -R")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestHostWithoutTheAgent(t *testing.T) {
	srv := sshdtest.Start(t)
	err, _ := dialWith(t, srv.Host("bare", "/opt/drillbook/bin/drillbook"))
	wantErr(t, "a host without drillbook", err, "host bare:", "no drillbook agent at /opt/drillbook/bin/drillbook", "install drillbook 9.9.9")

	dir := t.TempDir()
	old := filepath.Join(dir, "drillbook-old")
	script := "#!/bin/sh\necho 'Error: unknown command \"agent\" for \"drillbook\"' >&2\nexit 2\n"
	if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	err, _ = dialWith(t, srv.Host("old", old))
	wantErr(t, "a host with a drillbook that has no agent", err, "host old:", "without the agent", "install drillbook 9.9.9")

	newer := filepath.Join(dir, "drillbook-newer")
	script = "#!/bin/sh\necho 'DRILLBOOK-AGENT protocol=99 version=12.0.0 pid=1'\nsleep 1\n"
	if err := os.WriteFile(newer, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	err, _ = dialWith(t, srv.Host("newer", newer))
	wantErr(t, "a host with an incompatible agent", err, "host newer:", "drillbook 12.0.0", "protocol 99", "install drillbook 9.9.9")
}

func TestSSHDKilledMidCall(t *testing.T) {
	h, srv := func() (Host, *sshdtest.Server) { s, srv := remoteSet(t); h, _ := s.Get("far"); return h, srv }()
	pidFile := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	out := &lines{}
	go func() {
		_, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", groupScript, pidFile}, Out: out, WaitDelay: time.Second})
		done <- err
	}()
	pids := readPids(t, pidFile)
	srv.Kill()
	select {
	case err := <-done:
		wantErr(t, "a call whose sshd was killed", err, "host far:", "connection was lost", "drillbook resume")
		if !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("error %v is not ErrConnectionLost", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the call did not notice its connection died within 60s")
	}
	// The agent saw its channel close and ended the command's group.
	waitGone(t, "the remote command after sshd died", pids)

	// With sshd back, the next call connects again.
	srv.Restart()
	if _, err := h.Run(ctx, Command{Argv: []string{"true"}}); err != nil {
		t.Fatalf("call after sshd came back: %v", err)
	}
}
