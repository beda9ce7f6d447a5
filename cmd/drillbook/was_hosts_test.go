package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A was: setting naming a host the target does not declare is refused
// before anything runs, at its file and line, with the hosts it has.
func TestWASHostNotDeclaredIsAProblemAtItsLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.yaml")
	body := `targets:
  cell:
    hosts:
      dmgrhost: {address: 127.0.0.1}
    was:
      cell: Cell01
      profile_root: /opt/IBM/WebSphere/AppServer/profiles/Dmgr01
      dmgr_host: dmgrhost
      nodes:
        node01:
          profile_root: /opt/IBM/WebSphere/AppServer/profiles/AppSrv01
          host: node1host
`
	if err := os.WriteFile(targets, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	s := streams{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: os.Getenv, Terminal: func() bool { return false }}
	code := Main([]string{"--targets", targets, "--state-dir", filepath.Join(dir, "state"), "plan", "--target", "cell", "was-sib-restore-me"}, s)
	if code == 0 {
		t.Fatalf("plan with an undeclared host exited 0:\n%s", out.String())
	}
	want := targets + `:12:11: target cell: was.nodes.node01.host: target cell has no host "node1host" (its hosts are dmgrhost)`
	if !strings.Contains(errOut.String(), want) {
		t.Fatalf("stderr lacks %q:\n%s", want, errOut.String())
	}
	if strings.Contains(errOut.String(), "dmgr_host") {
		t.Errorf("the declared dmgr_host was reported:\n%s", errOut.String())
	}
}

// was.backup_host must be one of the target's hosts, and the data store
// commands must run on the backup root's host, whose set directory they
// write: each mistake is named at its line with what to set.
func TestWASBackupAndDataStoreHostsAreChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.yaml")
	body := `targets:
  cell:
    hosts:
      dmgrhost: {address: 127.0.0.1}
      dbhost: {address: 127.0.0.2}
    was:
      cell: Cell01
      profile_root: /opt/IBM/WebSphere/AppServer/profiles/Dmgr01
      dmgr_host: dmgrhost
      backup_root: /var/backups/was
      backup_host: backuphost
      data_store:
        backup: [/usr/local/sbin/sib-datastore, backup]
        host: dbhost
`
	if err := os.WriteFile(targets, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	s := streams{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: os.Getenv, Terminal: func() bool { return false }}
	code := Main([]string{"--targets", targets, "--state-dir", filepath.Join(dir, "state"), "plan", "--target", "cell", "was-sib-backup"}, s)
	if code == 0 {
		t.Fatalf("plan with a wrong backup_host and data_store.host exited 0:\n%s", out.String())
	}
	for _, want := range []string{
		targets + `:11:7: target cell: was.backup_host: target cell has no host "backuphost" (its hosts are dbhost, dmgrhost)`,
		targets + `:14:9: target cell: was.data_store.host: dbhost is not the backup root's host (backuphost)`,
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}
