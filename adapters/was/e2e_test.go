package was

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests run the shipped WebSphere runbooks with the real
// drillbook binary in plain mode on the training target, with the cell's
// delays at zero.

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// TestMain removes the drillbook binary the end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

func drillbookBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "drillbook-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "drillbook")
		args := []string{"build", "-o", buildBin}
		// DRILLBOOK_TEST_OVERLAY lets a developer build with a go -overlay
		// file while the command line is being changed.
		if ov := os.Getenv("DRILLBOOK_TEST_OVERLAY"); ov != "" {
			args = append(args, "-overlay", ov)
		}
		cmd := exec.Command("go", append(args, "github.com/drillbook/drillbook/cmd/drillbook")...)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build drillbook: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

type e2eRun struct {
	out   string
	code  int
	state string
	runID string
}

func runDrillbook(t *testing.T, state string, args ...string) e2eRun {
	t.Helper()
	bin := drillbookBinary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DRILLBOOK_STATE_DIR="+state, DelayScaleEnv+"=0", "NO_COLOR=1")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("drillbook %v did not finish within 60s:\n%s", args, out)
	}
	r := e2eRun{out: string(out), state: state}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^run: (\S+)$`).FindStringSubmatch(r.out); m != nil {
		r.runID = m[1]
	}
	return r
}

func TestEndToEndRunbooksInEveryScenario(t *testing.T) {
	type check func(t *testing.T, r e2eRun)
	contains := func(subs ...string) check {
		return func(t *testing.T, r e2eRun) {
			for _, s := range subs {
				if !strings.Contains(r.out, s) {
					t.Errorf("output lacks %q", s)
				}
			}
		}
	}
	type tcase struct {
		runbook, scenario string
		extra             []string
		code              int
		checks            []check
	}
	// Every restore stops the deployment manager on purpose, restores the
	// configuration in its profile, starts it again and waits for its own
	// WSVR0001I before wsadmin is used again (IBM rxml_restoreconfig,
	// rxml_startmanager).
	dmgrCycle := contains("the deployment manager of cell TrainingCell01 stopped",
		"configuration of cell TrainingCell01 restored from ",
		"WSVR0001I: Server dmgr open for e-business", "step start-manager: succeeded")
	cases := []tcase{
		{"was-sib-restore-me", "normal", nil, 0, []check{dmgrCycle, contains("WARNING: server node01/server1 was not restarted: it was running"), sessionsInReport}},
		{"was-sib-restore-me", "default", nil, 0, []check{dmgrCycle}},
		{"was-sib-restore-me", "normal", []string{"--param", "recovery=true"}, 0, []check{dmgrCycle, contains("server server1 finished its recovery-mode start and has stopped", "server node01/server1: STOPPED -> STARTED")}},
		{"was-sib-restore-me", "lock-held", nil, 0, []check{dmgrCycle, contains("CWSIS1519E", "step flush-start[1]: retry 1 of 3")}},
		{"was-sib-restore-me", "flush-fails", nil, 0, []check{dmgrCycle, contains("CWSIP0782E", "step flush-start[1]: retry 1 of 3")}},
		{"was-sib-restore-me", "slow-start", nil, 0, []check{dmgrCycle}},
		{"was-sib-restore-me", "rotation-during-flush", nil, 0, []check{dmgrCycle, rotatedDuringFlush}},
		// The engine that does not answer gets its server stopped; the
		// other engine still gets its own stop.
		{"was-sib-restore-me", "wsadmin-hangs", nil, 0, []check{dmgrCycle, contains("wsadmin stop-engine did not finish in time",
			"engine clu1.000-Bus1 did not answer; its server node01/server1 was stopped: STARTED -> STOPPED",
			"engine node01.appsrv1-Bus1 stopped in node01/appsrv1: Started -> Stopped", "server node01/server1: STOPPED -> STARTED")}},
		{"was-sib-restore-me", "started-without-flush", nil, 0, []check{dmgrCycle, contains("engine clu1.000-Bus1 is Started, expected Stopped or Joined", "step stop-unflushed[1]")}},
		{"was-sib-restore-me", "preferred-server-down", nil, 0, []check{dmgrCycle}},
		{"was-sib-restore-me", "dmgr-start-fails", nil, 0, []check{dmgrCycle, contains("WSVR0009E: Error occurred during startup",
			"step start-manager: FAILED: startManager (exit status 255): the deployment manager failed to initialise", "step start-manager: retry 1 of 2")}},
		{"was-sib-restore-me", "nodeagent-sync-fails", nil, 0, []check{dmgrCycle, contains("synchronisation failed for node(s) node02",
			"ADMU0402I: The configuration for node node02 has been synchronized with Deployment Manager", "step sync-nodes[2]: succeeded", "step start-nodes[2]: succeeded")}},
		{"was-sib-restore-me", "hpel", nil, 0, []check{dmgrCycle, contains("/profiles/AppSrv01/logs/server1/logdata: [")}},
		{"was-sib-backup", "normal", nil, 0, []check{backupSetComplete}},
		{"was-sib-backup", "lock-held", nil, 0, []check{backupSetComplete}},
		{"was-sib-backup", "preferred-server-down", nil, 0, []check{backupSetComplete}},
		{"was-sib-ha-failover-drill", "normal", nil, 0, []check{contains("engine clu1.000-Bus1 runs in node01/server1", "engine clu1.000-Bus1 runs in node02/server2")}},
		{"was-sib-ha-failover-drill", "preferred-server-down", nil, 0, []check{contains("engine clu1.000-Bus1 runs in node02/server2", "engine clu1.000-Bus1 runs in node03/server3")}},
		// The drill has no branch for a lock that is never released on the
		// next server: it stops and names the log line. The run stays
		// resumable, so its finally step (start server1 again) waits for
		// the operator to resume or abort it.
		{"was-sib-ha-failover-drill", "lock-held", nil, 1, []check{contains("step failover failed: failure line in the log", "CWSIS1519E")}},
		{"was-sib-ha-failover-drill", "hpel", nil, 0, []check{contains("/profiles/AppSrv02/logs/server2/logdata: [")}},
	}
	for _, sc := range []string{"flush-fails", "slow-start", "rotation-during-flush", "wsadmin-hangs", "started-without-flush", "dmgr-start-fails", "nodeagent-sync-fails", "hpel"} {
		cases = append(cases, tcase{"was-sib-backup", sc, nil, 0, []check{backupSetComplete}})
		if sc != "hpel" {
			cases = append(cases, tcase{"was-sib-ha-failover-drill", sc, nil, 0, nil})
		}
	}
	probe := runDrillbook(t, t.TempDir(), "plan", "was-sib-ha-failover-drill", "--target", "training")
	if strings.Contains(probe.out, "not wired in yet") {
		t.Fatalf("cmd/drillbook does not use was.StartTraining yet: wire startWASTraining to was.StartTraining and wasScenarios to was.Scenarios\n%s", probe.out)
	}
	for _, tc := range cases {
		name := tc.runbook + "/" + tc.scenario + strings.Join(tc.extra, "")
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			args := append([]string{"run", tc.runbook, "--plain", "--target", "training", "--yes", "--scenario", tc.scenario}, tc.extra...)
			r := runDrillbook(t, state, args...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d:\n%s", r.code, tc.code, r.out)
			}
			if tc.code == 0 && !strings.Contains(r.out, "run: succeeded") {
				t.Errorf("run did not succeed:\n%s", r.out)
			}
			for _, c := range tc.checks {
				c(t, r)
			}
			if tc.runbook == "was-sib-restore-me" {
				flushProvedInReport(t, r)
			}
			if t.Failed() {
				t.Logf("output:\n%s", r.out)
			}
		})
	}
}

// sessionsInReport checks that the restore's report names the wsadmin
// session of its calls and counts two wsadmin starts, one per
// deployment-manager lifetime (the configuration restore stops it).
func sessionsInReport(t *testing.T, r e2eRun) {
	t.Helper()
	rep := runDrillbook(t, r.state, "report", r.runID)
	if !regexp.MustCompile(`\| Session starts \| 2 starts for \d\d calls \|`).MatchString(rep.out) {
		t.Errorf("the report does not count 2 wsadmin starts:\n%s", rep.out)
	}
	for _, want := range []string{"  - session: wsadmin session 1 on the simulated cell (started by this step)",
		"  - session: wsadmin session 1 on the simulated cell (shared)",
		"  - session: wsadmin session 2 on the simulated cell (started by this step)"} {
		if !strings.Contains(rep.out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// flushProvedInReport checks that the report quotes the CWSIP0783 line of
// each engine, as written in its server's SystemOut.log.
func flushProvedInReport(t *testing.T, r e2eRun) {
	t.Helper()
	if r.code != 0 {
		return
	}
	if r.runID == "" {
		t.Fatal("no run id in the output")
	}
	rep := runDrillbook(t, r.state, "report", r.runID)
	if rep.code != 0 {
		t.Fatalf("report: exit %d\n%s", rep.code, rep.out)
	}
	for _, me := range []string{"clu1.000-Bus1", "node01.appsrv1-Bus1"} {
		re := regexp.MustCompile(`\[\d+/\d+/\d+ [0-9:]+ UTC\] 0000002a SibMessage    I   \[Bus1:` + regexp.QuoteMeta(me) + `\] CWSIP0783I: Messaging engine: ` + regexp.QuoteMeta(me) + ` started, flush of all delivery streams completed\.`)
		line := re.FindString(rep.out)
		if line == "" {
			t.Errorf("the report does not quote the CWSIP0783I line of %s:\n%s", me, rep.out)
			continue
		}
		// A server's lines are in its SystemOut.log, or in its HPEL
		// repository's records when it logs through HPEL.
		logs, _ := filepath.Glob(filepath.Join(r.state, "training", "was", "cell", "profiles", "*", "logs", "*", "SystemOut*.log"))
		recs, _ := filepath.Glob(filepath.Join(r.state, "training", "was", "cell", "profiles", "*", "logs", "*", "logdata", "*.rec"))
		logs = append(logs, recs...)
		found := false
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			found = found || strings.Contains(string(b), line)
		}
		if !found {
			t.Errorf("the reported line %q is in no SystemOut.log", line)
		}
	}
}

func rotatedDuringFlush(t *testing.T, r e2eRun) {
	dir := filepath.Join(r.state, "training", "was", "cell", "profiles", "AppSrv01", "logs", "server1")
	rot, _ := filepath.Glob(filepath.Join(dir, "SystemOut_*.log"))
	if len(rot) != 1 {
		t.Fatalf("%d rotated files in %s, want 1", len(rot), dir)
	}
	old, _ := os.ReadFile(rot[0])
	cur, _ := os.ReadFile(filepath.Join(dir, "SystemOut.log"))
	if !strings.Contains(string(old), "CWSIP0780I") || !strings.Contains(string(cur), "CWSIP0783I") {
		t.Errorf("the flush did not straddle the rotation (0780 in rotated: %t, 0783 in new: %t)", strings.Contains(string(old), "CWSIP0780I"), strings.Contains(string(cur), "CWSIP0783I"))
	}
}

// backupSetComplete checks that the backup wrote a new sealed set beside
// the one the training target started with, holding every part, and left
// that first set as it was.
func backupSetComplete(t *testing.T, r e2eRun) {
	root := filepath.Join(r.state, "training", "was", "backups")
	sets, _ := filepath.Glob(filepath.Join(root, "2*"))
	if len(sets) != 2 {
		t.Fatalf("%d backup sets under %s, want the first one and the new one: %v", len(sets), root, sets)
	}
	first, err := ReadManifest(context.Background(), here(), sets[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range first.Parts {
		if err := verifyPart(context.Background(), here(), sets[0], p); err != nil {
			t.Errorf("the first backup set changed: %v", err)
		}
	}
	m, err := ReadManifest(context.Background(), here(), sets[1])
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, p := range m.Parts {
		kinds[p.Kind] += len(p.Files)
	}
	if kinds["config"] != 1 || kinds["datastore"] != 1 || kinds["filestore"] != 3 || m.SealedAt.IsZero() {
		b, _ := json.Marshal(m)
		t.Errorf("backup set %s", b)
	}
	if !first.StartedAt.Before(m.StartedAt) {
		t.Errorf("the new set started %s, not after the first (%s)", m.StartedAt, first.StartedAt)
	}
}

// BenchmarkRestoreMETraining measures the wall time of a whole
// was-sib-restore-me run (a drillbook process, delays at zero) and reports
// how many wsadmin sessions the run would have started on a real cell.
func BenchmarkRestoreMETraining(b *testing.B) {
	bin := drillbookBinary(b)
	calls := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		state := b.TempDir()
		cmd := exec.Command(bin, "run", "was-sib-restore-me", "--plain", "--target", "training", "--yes")
		cmd.Env = append(os.Environ(), "DRILLBOOK_STATE_DIR="+state, DelayScaleEnv+"=0")
		b.StartTimer()
		out, err := cmd.CombinedOutput()
		b.StopTimer()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		raw, err := os.ReadFile(filepath.Join(state, "training", "was", "cell", "cell.json"))
		if err != nil {
			b.Fatal(err)
		}
		var s struct {
			Calls int `json:"wsadmin_calls"`
		}
		json.Unmarshal(raw, &s)
		calls = s.Calls
		b.StartTimer()
	}
	b.ReportMetric(float64(calls), "wsadmin-sessions/run")
}

// An unknown scenario for a WebSphere runbook is refused, listing the
// simulated cell's scenarios and no other product's.
func TestUnknownScenarioListsTheCellsScenarios(t *testing.T) {
	r := runDrillbook(t, t.TempDir(), "run", "was-sib-backup", "--plain", "--target", "training", "--yes", "--scenario", "no-such")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", r.code, r.out)
	}
	want := "scenarios are " + strings.Join(Scenarios(), ", ")
	if !strings.Contains(r.out, want) {
		t.Errorf("output lacks %q:\n%s", want, r.out)
	}
}
