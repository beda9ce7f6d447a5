package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestJumpHost reaches a host through a jump host declared in targets.yaml:
// the jump's own key, known_hosts and user come from its entry, and its
// sshd forwards the connection.
func TestJumpHost(t *testing.T) {
	bastion, target := sshdtest.Start(t), sshdtest.Start(t)
	b := bastion.Host("bastion", "")
	b.Agent = ""
	far := target.Host("far", testAgent(t))
	far.Jump = []string{"bastion"}
	tg := &runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"bastion": b, "far": far}}
	s := NewSet(tg, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	defer s.Close()
	h, err := s.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "via bastion") {
		t.Fatalf("host %s does not say it goes through the bastion", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &lines{}
	if _, err := h.Run(ctx, Command{Argv: []string{"echo", "through the bastion"}, Out: out}); err != nil {
		t.Fatalf("run through the jump host: %v", err)
	}
	if !strings.Contains(strings.Join(out.all(), "\n"), "stdout: through the bastion") {
		t.Fatalf("output %q", out.all())
	}
	// The way goes through the bastion: without it, no new connection.
	bastion.Kill()
	s3 := NewSet(tg, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	defer s3.Close()
	h3, _ := s3.Get("far")
	_, err = h3.Run(ctx, Command{Argv: []string{"true"}})
	wantErr(t, "a jump host that is down", err, "host far:")
	bastion.Restart()

	// A jump host whose key is not known stops the connection there,
	// with the jump's fingerprint.
	b.KnownHosts = filepath.Join(t.TempDir(), "empty_known_hosts")
	os.WriteFile(b.KnownHosts, nil, 0o600)
	s2 := NewSet(tg, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	defer s2.Close()
	h2, _ := s2.Get("far")
	_, err = h2.Run(ctx, Command{Argv: []string{"true"}})
	wantErr(t, "an unknown jump host key", err, "host far: the host key of its jump host bastion is not known", bastion.HostKeyFingerprint, b.KnownHosts, fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1", bastion.Port))
}

// TestUserSSHConfigIsHonouredButCannotWeakenIt: the operator's own ssh
// configuration supplies what targets.yaml leaves out (here the port and
// the key), but its "StrictHostKeyChecking no" does not let an unknown key
// through.
func TestUserSSHConfigIsHonouredButCannotWeakenIt(t *testing.T) {
	srv := sshdtest.Start(t)
	userCfg := filepath.Join(t.TempDir(), "config")
	body := fmt.Sprintf("Host 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n", srv.Port, srv.User, srv.ClientKey, srv.KnownHosts)
	os.WriteFile(userCfg, []byte(body), 0o600)
	cfg := &runbook.HostConfig{Name: "far", Address: "127.0.0.1", Agent: testAgent(t)}
	tg := &runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"far": cfg}}
	s := NewSet(tg, SSHOptions{Version: "test", UserConfig: userCfg, SystemConfig: "none"})
	defer s.Close()
	h, _ := s.Get("far")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.Run(ctx, Command{Argv: []string{"true"}}); err != nil {
		t.Fatalf("with the port, user and key from the operator's ssh config: %v", err)
	}

	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	weak := fmt.Sprintf("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile %s\n  BatchMode no\n", empty)
	os.WriteFile(userCfg, []byte(strings.Replace(body, "  UserKnownHostsFile "+srv.KnownHosts+"\n", "", 1)+weak), 0o600)
	s2 := NewSet(tg, SSHOptions{Version: "test", UserConfig: userCfg, SystemConfig: "none"})
	defer s2.Close()
	h2, _ := s2.Get("far")
	_, err := h2.Run(ctx, Command{Argv: []string{"true"}})
	wantErr(t, "an unknown key with StrictHostKeyChecking no in the operator's config", err, "host far:", "host key is not known", srv.HostKeyFingerprint)
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Fatalf("the key was added: %q", b)
	}
}
