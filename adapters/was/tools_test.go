package was

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// fakeProfile makes a profile directory whose bin/ tools record their
// arguments and behave like backupConfig.sh (writes the archive),
// restoreConfig.sh and startServer.sh.
func fakeProfile(t *testing.T) (root, argsLog string) {
	t.Helper()
	root = t.TempDir()
	argsLog = filepath.Join(root, "tool-args.log")
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	scripts := map[string]string{
		"backupConfig.sh":  `echo "backupConfig $*" >> "$TOOL_LOG"; echo "ADMU5001I: Backing up config directory to file $1"; printf 'PK' > "$1"; echo "ADMU5002I: 475 files successfully backed up"`,
		"restoreConfig.sh": `echo "restoreConfig $*" >> "$TOOL_LOG"; test -f "$1" || { echo "ADMU0000E: no such file" >&2; exit 2; }; echo "ADMU5506I: 475 files successfully restored"`,
		"startServer.sh":   `echo "startServer $*" >> "$TOOL_LOG"; echo "ADMU3100I: Reading configuration for server: $1"`,
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TOOL_LOG", argsLog)
	return root, argsLog
}

func TestProfileToolsRunWithTheirRealOptions(t *testing.T) {
	e := newFakeEnv(t, "ok")
	root, argsLog := fakeProfile(t)
	wsadmin, _ := filepath.Abs("testdata/fake-wsadmin")
	cfg := Config{Wsadmin: wsadmin, ProfileRoot: root, ProfileName: "Dmgr01", Host: "dmgr01", Port: 8879,
		User: "wasadmin", Password: runbook.SecretRef{Env: "TEST_WAS_PASSWORD"}, RecoveryPoll: runbook.Duration{Duration: 10 * time.Millisecond},
		NodeProfileRoots: map[string]string{"node02": filepath.Join(root, "node02")}}
	os.MkdirAll(filepath.Join(root, "node02", "bin"), 0o755)
	b, _ := os.ReadFile(filepath.Join(root, "bin", "startServer.sh"))
	os.WriteFile(filepath.Join(root, "node02", "bin", "startServer.sh"), b, 0o755)
	ops := opsByName(Operations(cfg))
	ctx := context.Background()
	set := t.TempDir()
	file := filepath.Join(set, "config.zip")

	res, err := ops["was.backup-config"].Run(ctx, runbook.Call{Args: runbook.Args{"file": file, "nostop": true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evidence) == 0 || !strings.Contains(strings.Join(res.Evidence, "\n"), "ADMU5002I") {
		t.Errorf("evidence %v", res.Evidence)
	}
	if _, err := ops["was.restore-config"].Run(ctx, runbook.Call{Args: runbook.Args{"file": file}}, nil); err != nil {
		t.Fatal(err)
	}
	// The server stops by itself after recovery: the cell says it is down.
	c := e.cell()
	c.Servers["server2"]["running"] = false
	writeCell(t, e, c)
	res, err = ops["was.start-server"].Run(ctx, runbook.Call{Args: runbook.Args{"node": "node02", "server": "server2", "recovery": true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Vars["state"] != "STOPPED" {
		t.Errorf("vars %v", res.Vars)
	}
	got, _ := os.ReadFile(argsLog)
	want := "backupConfig " + file + " -nostop -profileName Dmgr01\nrestoreConfig " + file + " -profileName Dmgr01\nstartServer server2 -recovery -profileName Dmgr01\n"
	if string(got) != want {
		t.Errorf("tool command lines\n got %q\nwant %q", got, want)
	}
	// A changed archive is refused before restoreConfig runs.
	os.WriteFile(file, []byte("PK changed"), 0o644)
	_, err = ops["was.restore-config"].Run(ctx, runbook.Call{Args: runbook.Args{"file": file}}, nil)
	if err == nil || !strings.Contains(err.Error(), "changed since it was taken") {
		t.Errorf("changed archive: %v", err)
	}
	if got2, _ := os.ReadFile(argsLog); len(got2) != len(got) {
		t.Errorf("restoreConfig ran on a changed archive")
	}
}

func writeCell(t *testing.T, e *fakeEnv, c fakeCell) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cellPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
