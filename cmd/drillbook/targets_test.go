package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
)

// lockedBuffer is a bytes.Buffer safe for the emulator's request log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTargetsCheckReachesNodesWithoutChangingThem checks a MessageSight
// pair against the emulator: the node written with only its url reaches
// its server with the user and password it inherits from the section
// (the emulator requires Basic authentication), the node whose server is
// down fails with its name, exit 1, and the server saw only reads.
func TestTargetsCheckReachesNodesWithoutChangingThem(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reqs := &lockedBuffer{}
	srv, err := emulator.Start(ctx, emulator.Options{Dir: t.TempDir(), User: "sysadmin", Password: "s3cret-pw", RequestLog: reqs})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	before := srv.State()
	// A port nothing listens on: taken, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.yaml")
	os.WriteFile(targets, []byte(fmt.Sprintf(`targets:
  pair:
    params: {server: ms-a, standby: ms-b}
    messagesight:
      user: sysadmin
      password: {env: DRILLBOOK_TEST_MS_PW}
      backup_root: %s
      nodes:
        ms-a: {url: %q, store_dir: %s}
        ms-b: {url: "http://%s", store_dir: %s}
`, filepath.Join(dir, "backups"), srv.URL(), dir, dead, dir)), 0o600)
	t.Setenv("DRILLBOOK_TEST_MS_PW", "s3cret-pw")

	var out, errOut bytes.Buffer
	s := streams{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: os.Getenv, Terminal: func() bool { return false }}
	code := Main([]string{"--targets", targets, "--state-dir", filepath.Join(dir, "state"), "targets", "check", "pair"}, s)
	if code != exitFailed {
		t.Errorf("exit %d, want %d (one node is down)\n%s%s", code, exitFailed, out.String(), errOut.String())
	}
	for _, want := range []string{
		"messagesight.nodes.ms-a inherits user = sysadmin from messagesight.user",
		"messagesight.nodes.ms-a inherits password = env DRILLBOOK_TEST_MS_PW from messagesight.password",
		"ok    secret messagesight.password (env DRILLBOOK_TEST_MS_PW) resolves",
		"ok    messagesight.status node=ms-a @ ms-a: ",
		"FAIL  messagesight.status node=ms-b @ ms-b: ",
		"FAIL  messagesight.ha-status node=ms-a @ ms-a: messagesight ms-a: HA is not enabled on this server",
		"ok    messagesight.check-backup-root node=ms-a @ localhost: ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("targets check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errOut.String(), "s3cret-pw") {
		t.Errorf("the password was printed:\n%s%s", out.String(), errOut.String())
	}
	// ms-b is down: its status and HA status fail; ms-a answers, but it is
	// a single server, so its HA status says so and fails too.
	if !strings.Contains(errOut.String(), "target pair: 3 check(s) failed") {
		t.Errorf("stderr: %s", errOut.String())
	}
	log := reqs.String()
	if !strings.Contains(log, "GET /ima/v1/service/status") {
		t.Errorf("the emulator saw no status request:\n%s", log)
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if line != "" && !strings.Contains(line, "GET ") {
			t.Errorf("targets check sent a request that is not a read: %s", line)
		}
	}
	if after := srv.State(); after != before {
		t.Errorf("server state %d -> %d: targets check changed the server", before, after)
	}
}
