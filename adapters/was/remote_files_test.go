package was

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/host/sshdtest"
	"github.com/drillbook/drillbook/runbook"
)

// TestBackupSetOnARemoteHost puts the deployment manager's profile and the
// backup root on host "far", reached through one real sshd on loopback
// with the built drillbook as its agent, and a node's file store on this
// machine: the backup makes, fills and seals a set on far (the manifest's
// files hashed there, not pulled here), `drillbook backups` lists it as on
// far, and a restore reads it back from far; a missing set's error names
// the host.
func TestBackupSetOnARemoteHost(t *testing.T) {
	srv := sshdtest.Start(t)
	e := newFakeEstate(t, "ok")
	agent := drillbookBinary(t)

	// far's files live in their own directory. Its profile's tools and
	// wsadmin are wrappers that give the stand-ins the environment the
	// test set here, which the sshd does not pass to the agent.
	farDir := t.TempDir()
	var exports strings.Builder
	for _, k := range []string{"FAKE_CELL", "FAKE_WSADMIN_LOG", "FAKE_WSADMIN_MODE", "FAKE_WSADMIN_PASSWORD_FILE", "TOOL_LOG", "FAKE_ENV_LOG"} {
		fmt.Fprintf(&exports, "%s='%s'; export %s\n", k, os.Getenv(k), k)
	}
	wrap := func(path, real string) {
		t.Helper()
		body := "#!/bin/sh\n" + exports.String() + "exec '" + real + "' \"$@\"\n"
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	farProfile := filepath.Join(farDir, "profiles", "Dmgr01")
	if err := os.MkdirAll(filepath.Dir(farProfile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.cfg.ProfileRoot, farProfile); err != nil {
		t.Fatal(err)
	}
	realBin := filepath.Join(farProfile, "realbin")
	if err := os.MkdirAll(realBin, 0o755); err != nil {
		t.Fatal(err)
	}
	setup, _ := os.ReadFile(filepath.Join(farProfile, "bin", "setupCmdLine.sh"))
	os.WriteFile(filepath.Join(realBin, "setupCmdLine.sh"), setup, 0o755)
	for _, tool := range []string{"backupConfig", "restoreConfig"} {
		name := filepath.Join(farProfile, "bin", tool+".sh")
		if err := os.Rename(name, filepath.Join(realBin, tool+".sh")); err != nil {
			t.Fatal(err)
		}
		wrap(name, filepath.Join(realBin, tool+".sh"))
	}
	wrap(filepath.Join(farDir, "wsadmin.sh"), e.cfg.Wsadmin)
	backupRoot := filepath.Join(farDir, "backups")
	if err := os.MkdirAll(backupRoot, 0o755); err != nil {
		t.Fatal(err)
	}

	tg := &runbook.Target{Name: "remote-cell", Hosts: map[string]*runbook.HostConfig{"far": srv.Host("far", agent)}}
	hosts := host.NewSet(tg, host.SSHOptions{UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { hosts.Close() })
	cfg := e.cfg
	cfg.DmgrHost, cfg.ProfileRoot, cfg.Wsadmin, cfg.BackupRoot, cfg.Hosts = "far", farProfile, filepath.Join(farDir, "wsadmin.sh"), backupRoot, hosts
	cfg.DataStore = DataStoreConfig{}
	e.cfg, e.ops = cfg, opsByName(Operations(cfg))

	// node02's file store is on this machine (node02 has no host), 4 MB,
	// so a manifest pulled over the connection would show in its traffic.
	logDir, storeDir := writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v1")
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 31)
	}
	os.WriteFile(filepath.Join(storeDir, "PermanentStore"), big, 0o644)

	if plan, err := e.ops["was.new-backup-set"].Plan(runbook.Call{Args: runbook.Args{}}); err != nil || !strings.HasPrefix(plan.Host, "far (") {
		t.Errorf("new-backup-set plans on %q (%v), want far", plan.Host, err)
	}
	set := e.must("was.new-backup-set", runbook.Args{}).Vars["dir"]
	if filepath.Dir(set) != backupRoot {
		t.Fatalf("the set %s is not under far's backup root %s", set, backupRoot)
	}
	e.must("was.backup-config", runbook.Args{"set": set})
	fsArgs := runbook.Args{"engine": "node02.server2-Bus1", "log_dir": logDir, "store_dir": storeDir, "node": "node02", "set": set}
	e.must("was.backup-filestore", fsArgs)

	h, err := hosts.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	far := h.(*host.Remote)
	in0, _ := far.Traffic()
	seal := e.must("was.seal-backup", runbook.Args{"set": set, "require": []string{"config", "filestore"}})
	in1, _ := far.Traffic()
	if got := in1 - in0; got > 1<<20 {
		t.Errorf("sealing the set brought %d bytes from far: its 4 MB file store was pulled to be hashed, not hashed there", got)
	}
	if len(seal.Evidence) != 2 {
		t.Errorf("seal evidence %v, want the config and file store parts", seal.Evidence)
	}

	// The manifest is on far's disk with both parts, sealed, and its
	// sums are those of the files there.
	b, err := os.ReadFile(filepath.Join(set, ManifestName))
	if err != nil {
		t.Fatalf("no manifest on far: %v", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.SealedAt.IsZero() || len(m.Parts) != 2 {
		t.Fatalf("far's manifest: sealed %v, %d parts; want sealed with 2", m.SealedAt, len(m.Parts))
	}
	if p, ok := m.findPart("filestore", "node02.server2-Bus1"); !ok || p.Files[1].Size != 4<<20 {
		t.Errorf("file store part %+v", p)
	}

	// drillbook backups lists the set as on far.
	targets := filepath.Join(t.TempDir(), "targets.yaml")
	body := fmt.Sprintf(`targets:
  remote-cell:
    hosts:
      far: {address: %s, port: %d, user: %s, identity_file: %s, known_hosts: %s, agent: %s}
    was:
      cell: c1
      profile_root: %s
      dmgr_host: far
      backup_root: %s
`, srv.Addr, srv.Port, srv.User, srv.ClientKey, srv.KnownHosts, agent, farProfile, backupRoot)
	os.WriteFile(targets, []byte(body), 0o600)
	r := runDrillbook(t, t.TempDir(), "--targets", targets, "backups", "remote-cell")
	if r.code != 0 || !strings.Contains(r.out, filepath.Base(set)+" on far ") || !strings.Contains(r.out, "sealed") {
		t.Errorf("drillbook backups exited %d without the set on far:\n%s", r.code, r.out)
	}

	// A restore reads the set back from far.
	e.must("was.check-backup-set", runbook.Args{"set": filepath.Base(set), "filestore_engines": []string{"node02.server2-Bus1"}})
	e.must("was.restore-config", runbook.Args{"cell": "c1", "set": set, "nostop": true})
	if e.cell().Restored != 1 {
		t.Errorf("restoreConfig ran %d times on far, want 1", e.cell().Restored)
	}
	writeFileStore(t, e.fileStores, "node02.server2-Bus1", "v2 newer")
	e.must("was.stop-engine", runbook.Args{"engine": "node02.server2-Bus1"})
	e.must("was.restore-filestore", fsArgs)
	if got, _ := os.ReadFile(filepath.Join(storeDir, "PermanentStore")); len(got) != 4<<20 {
		t.Errorf("PermanentStore restored from far has %d bytes, want %d", len(got), 4<<20)
	}

	// A set that is not there: the error names far.
	_, _, err = e.run("was.check-backup-set", runbook.Args{"set": "20990101T000000Z"}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "host far") {
		t.Errorf("a missing set on far: %v, want an error naming host far", err)
	}
}
