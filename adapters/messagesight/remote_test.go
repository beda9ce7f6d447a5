package messagesight

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestMain lets the test binary serve as the agent on the far side of the
// test sshd, as `drillbook agent` does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
		err := host.Serve(ctx, os.Stdin, os.Stdout, host.AgentOptions{Version: "test"})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "drillbook agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readBytes is how many bytes this process has read through read(2) and
// its kin (/proc/self/io rchar): what came over the ssh client's pipes.
func readBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// TestStoreOnRemoteHosts backs up a server's store that lies on one host
// (store_host, reached through a real sshd) into a backup set on another
// (backup_host, a second connection): the store is hashed where it lies
// (this process reads far less than the store while it is hashed), copied
// between the hosts with host.Transfer, sealed and verified on the backup
// host, and restored onto the store host; plans name both hosts. With the
// sshd killed, the next step's error names the store host.
func TestStoreOnRemoteHosts(t *testing.T) {
	srv := sshdtest.Start(t)
	agent, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tg := &runbook.Target{Name: "t", Hosts: map[string]*runbook.HostConfig{
		"msstore": srv.Host("msstore", agent), "backup01": srv.Host("backup01", agent)}}
	hosts := host.NewSet(tg, host.SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { hosts.Close() })

	r := newRig(t)
	// A store of 8 MiB beside the emulator's own files.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19)
	if err := os.WriteFile(filepath.Join(r.srv.StoreDir(), "big.dat"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := r.cfg
	cfg.Hosts, cfg.BackupHost = hosts, "backup01"
	n := cfg.Nodes["ms1"]
	n.StoreHost = "msstore"
	cfg.Nodes = map[string]Server{"ms1": n}
	r = newRigFor(t, r.srv, cfg)
	ctx := context.Background()

	far, _ := hosts.Get("msstore")
	if _, err := far.Stat(ctx, "/"); err != nil { // connect first
		t.Fatal(err)
	}
	before := readBytes(t)
	d, err := digestOn(ctx, far, r.srv.StoreDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := readBytes(t) - before; got > int64(len(big))/8 {
		t.Errorf("hashing an %d-byte store on msstore read %d bytes here: the files crossed the connection", d.Bytes, got)
	}
	local, _ := DigestTree(ctx, r.srv.StoreDir())
	if d != local {
		t.Fatalf("digest on msstore %+v, here %+v", d, local)
	}

	p, err := r.ops["messagesight.backup-store"].Plan(runbook.Call{Args: runbook.Args{"node": "ms1", "dest": "/x"}})
	if err != nil || !strings.HasPrefix(p.Host, "msstore (") || !strings.Contains(p.Detail, "on backup01 (") {
		t.Errorf("backup-store plan: host %q, detail %q, %v", p.Host, p.Detail, err)
	}
	set := r.must("messagesight.new-backup-set", runbook.Args{"store_name": "ms1-store"})
	rs := r.must("messagesight.restart", runbook.Args{"maintenance": "start"})
	r.must("messagesight.wait-state", runbook.Args{"state": "maintenance", "restarted_from": rs.Vars["previous_start"], "every": 20 * time.Millisecond})
	bk, lines, err := r.run("messagesight.backup-store", runbook.Args{"dest": set.Vars["store"]})
	if err != nil {
		t.Fatal(err)
	}
	if bk.Vars["sha256"] != d.SHA256 || !strings.Contains(strings.Join(lines, "\n"), "streaming "+r.srv.StoreDir()+" from msstore") {
		t.Errorf("backup: %v\n%s", bk.Vars, strings.Join(lines, "\n"))
	}
	exp := r.must("messagesight.export-config", runbook.Args{"file": "c.bak", "password": plantedBackupPW})
	r.must("messagesight.download", runbook.Args{"file": exp.Vars["file"], "dest": set.Vars["config_dir"]})
	r.must("messagesight.seal-backup-set", runbook.Args{"set": set.Vars["path"], "server": "ms1"})
	found := r.must("messagesight.find-backup-set", runbook.Args{"server": "ms1"})
	if found.Vars["path"] != set.Vars["path"] || found.Vars["store_sha256"] != d.SHA256 {
		t.Fatalf("find-backup-set: %v", found.Vars)
	}
	// The store changes, then the backup is restored onto msstore.
	if err := os.Remove(filepath.Join(r.srv.StoreDir(), "big.dat")); err != nil {
		t.Fatal(err)
	}
	r.must("messagesight.restore-store", runbook.Args{"src": found.Vars["store"], "sha256": found.Vars["store_sha256"]})
	if after, _ := DigestTree(ctx, r.srv.StoreDir()); after != local {
		t.Errorf("restored store %+v, want %+v", after, local)
	}

	// The same sshd killed: the next step's error names the host.
	srv.Kill()
	if _, _, err := r.run("messagesight.check-store", runbook.Args{}); err == nil || !strings.Contains(err.Error(), "msstore") {
		t.Fatalf("check-store with the sshd killed: %v", err)
	}
}
