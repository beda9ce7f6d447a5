package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host/sshdtest"
)

// remoteEstate starts a private sshd and writes a targets.yaml whose target
// lab has the host node01 behind it, with this test binary as its agent,
// and a work directory with an empty SystemOut.log.
func remoteEstate(t *testing.T) (srv *sshdtest.Server, targets, work string) {
	t.Helper()
	srv = sshdtest.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work = t.TempDir()
	targets = filepath.Join(work, "targets.yaml")
	body := fmt.Sprintf(`targets:
  lab:
    description: a host behind a real sshd
    hosts:
      node01:
        address: 127.0.0.1
        port: %d
        user: %s
        identity_file: %s
        known_hosts: %s
        agent: %s
`, srv.Port, srv.User, srv.ClientKey, srv.KnownHosts, self)
	if err := os.WriteFile(targets, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "logs", "SystemOut.log"), []byte(flushLine("ME1", "stale: before the run")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(work, "store", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"store/a.dat": strings.Repeat("a", 1<<20), "store/sub/b.dat": "b\n"} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return srv, targets, work
}

func flushLine(me, note string) string {
	return "[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:" + me + "] CWSIP0783I: Messaging engine: " + me + " started, flush of all delivery streams completed. " + note + "\n"
}

// remoteRunbook runs every kind of remote call: a command on node01 that
// waits while the test acts, then a FLUSH start there whose CWSIP0783 line
// is the last before a rename rotation, then a copy from node01 to this
// machine with a manifest, verified on node01.
const remoteRunbook = `schema: drillbook/v1
id: remote
title: Remote steps
params:
  - {name: dir, type: path, required: true}
steps:
  - id: restore
    title: Restore the store on node01
    destructive: true
    confirm: node01
    action: shell.run
    with: {host: node01, argv: [sh, -c, 'echo $$ > "$1/pid"; echo run >> "$1/runs"; touch "$1/restored"; test -e "$1/go" || sleep 600', sh, "{{ .dir }}"]}
    verify:
      action: file.exists
      with: {host: node01, path: "{{ .dir }}/restored"}
  - id: flush
    title: Start ME1 and wait for CWSIP0783 in node01's SystemOut.log
    action: shell.run
    with:
      host: node01
      argv: [sh, -c, 'printf "%s\n" "$2" >> "$1/logs/SystemOut.log"; mv "$1/logs/SystemOut.log" "$1/logs/SystemOut_26.11.23_07.56.25.log"; : > "$1/logs/SystemOut.log"', sh, "{{ .dir }}", "[11/23/26 7:56:25:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed. fresh"]
    wait: {host: node01, log: "{{ .dir }}/logs/SystemOut.log", success: [CWSIP0783], engine: ME1, timeout: 2m}
  - id: fetch
    title: Copy node01's store here
    action: file.copy
    with: {src_host: node01, src: "{{ .dir }}/store", dst: "{{ .dir }}/fetched", manifest: "{{ .dir }}/fetched.manifest"}
  - id: check
    title: Verify node01's store against the copy's manifest, on node01
    action: file.verify
    with: {host: node01, dir: "{{ .dir }}/store", manifest: "{{ .dir }}/fetched.manifest"}
`

func TestRemotePlanShowsTheHostOfEveryCallAndWatch(t *testing.T) {
	srv, targets, work := remoteEstate(t)
	rb := filepath.Join(work, "remote.yaml")
	os.WriteFile(rb, []byte(remoteRunbook), 0o644)
	out, code := runDrillbook(t, t.TempDir(), "plan", rb, "--targets", targets, "--target", "lab", "--param", "dir="+work)
	if code != 0 {
		t.Fatalf("plan exited %d:\n%s", code, out)
	}
	at := fmt.Sprintf("@ node01 (%s@127.0.0.1:%d)", srv.User, srv.Port)
	for _, want := range []string{
		"   action: sh -c 'echo $$ > \"$1/pid\"",
		"   verify: check that " + work + "/restored exists  " + at,
		"   watch " + work + "/logs/SystemOut.log  " + at,
		"   action: copy " + work + "/store to " + work + "/fetched (must not exist); manifest " + work + "/fetched.manifest; the source is on node01 (",
		"streamed through drillbook to localhost, staged next to the destination",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, at); n != 5 {
		t.Errorf("plan names node01 %d times, want 5 (three calls, a verify and a watch):\n%s", n, out)
	}
	// The plan connects to nothing.
	if strings.Contains(srv.Log(), "Accepted publickey") {
		t.Errorf("plan logged in to node01:\n%s", srv.Log())
	}
}

// TestKilledSSHDMidStepThenResume kills node01's sshd while a destructive
// step runs there: the run stops, resumable, naming the host; drillbook on
// node01 ends the step's processes; with sshd back, resume reconciles the
// step by its verify (on node01) instead of running it again, proves
// CWSIP0783 from node01's SystemOut.log across a rename rotation, and
// copies and verifies node01's store.
func TestKilledSSHDMidStepThenResume(t *testing.T) {
	srv, targets, work := remoteEstate(t)
	state := t.TempDir()
	rb := filepath.Join(work, "remote.yaml")
	os.WriteFile(rb, []byte(remoteRunbook), 0o644)
	t.Cleanup(func() { killGroupFromPIDFile(filepath.Join(work, "pid")) })

	cmd := drillbookCmd(t, state, "run", rb, "--targets", targets, "--target", "lab", "--plain", "--param", "dir="+work, "--confirm", "restore=node01")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(work, "restored"))
	b, _ := os.ReadFile(filepath.Join(work, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	srv.Kill()
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != exitInterrupted {
		t.Fatalf("run after sshd was killed: exit %d (%v), want %d:\n%s", code, err, exitInterrupted, out.String())
	}
	for _, want := range []string{"host node01: the connection was lost", "drillbook resume"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// drillbook's agent on node01 saw the channel close and ended the step.
	if pid <= 1 {
		t.Fatalf("pid file %q", b)
	}
	waitFor(t, "the step's shell on node01 to end", func() bool { return syscall.Kill(pid, 0) != nil || isZombie(pid) })

	text, code := runDrillbook(t, state, "runs")
	if code != 0 || !strings.Contains(text, "resumable  restore") {
		t.Fatalf("runs after the drop (exit %d):\n%s", code, text)
	}
	srv.Restart()
	os.WriteFile(filepath.Join(work, "go"), nil, 0o644)
	t.Logf("run output:\n%s", out.String())
	text, code = runDrillbook(t, state, "resume", "last", "--plain", "--targets", targets)
	if code != 0 {
		t.Fatalf("resume exited %d:\n%s", code, text)
	}
	for _, want := range []string{
		"step restore: reconciled as succeeded: verify passed after resume",
		"CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed. fresh",
		"log watch on host node01",
		"step flush: succeeded",
		"step fetch: succeeded",
		"step check: succeeded",
		"run: succeeded",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("resume output lacks %q:\n%s", want, text)
		}
	}
	t.Logf("resume output:\n%s", text)
	if strings.Contains(text, "stale: before the run") {
		t.Errorf("the watch matched a line written before it was armed:\n%s", text)
	}
	if runs, _ := os.ReadFile(filepath.Join(work, "runs")); strings.Count(string(runs), "run") != 1 {
		t.Fatalf("the destructive step ran %d times on node01; it must not run again after the drop", strings.Count(string(runs), "run"))
	}
	if b, err := os.ReadFile(filepath.Join(work, "fetched", "sub", "b.dat")); err != nil || string(b) != "b\n" {
		t.Fatalf("the copy from node01: %q %v", b, err)
	}
	rep, _ := runDrillbook(t, state, "report", "last")
	// Each call on node01 is reported on it (issue 14 item 7).
	if !strings.Contains(rep, "` on node01 (") {
		t.Errorf("the report does not name node01 as the host of its calls:\n%s", rep)
	}
}

func TestWatchOnARemoteHost(t *testing.T) {
	_, targets, work := remoteEstate(t)
	log := filepath.Join(work, "logs", "SystemOut.log")
	st, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(flushLine("ME2", "another engine"))
	f.WriteString(flushLine("ME1", "the one"))
	f.Close()
	args := []string{"watch", "--targets", targets, "--target", "lab", "--host", "node01", "--log", log, "--success", "CWSIP0783", "--engine", "ME1", "--timeout", "1m"}
	out, code := runDrillbook(t, t.TempDir(), append(args, "--from", strconv.FormatInt(st.Size(), 10))...)
	if code != 0 || !strings.Contains(out, "SUCCESS "+log+": [11/23/26") || !strings.Contains(out, "the one") || strings.Contains(out, "another engine") || strings.Contains(out, "stale") {
		t.Fatalf("watch --host (exit %d):\n%s", code, out)
	}
	out, code = runDrillbook(t, t.TempDir(), "watch", "--host", "node01", "--log", log, "--success", "CWSIP0783")
	if code != exitUsage || !strings.Contains(out, "--host node01: the training target has only this machine; give --target NAME") {
		t.Fatalf("watch --host without --target (exit %d):\n%s", code, out)
	}
	out, code = runDrillbook(t, t.TempDir(), "watch", "--targets", targets, "--target", "lab", "--host", "node02", "--log", log, "--success", "CWSIP0783")
	if code != exitUsage || !strings.Contains(out, `target lab has no host "node02" (its hosts are node01)`) {
		t.Fatalf("watch on an unknown host (exit %d):\n%s", code, out)
	}
	out, code = runDrillbook(t, t.TempDir(), append(args[:len(args)-2], "--timeout", "1s")...)
	if code != 5 || !strings.Contains(out, "on host node01") {
		t.Fatalf("watch --host that times out (exit %d):\n%s", code, out)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) == 0 || f[0] == "Z"
}

// waitFor polls cond until it holds, up to a generous limit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
