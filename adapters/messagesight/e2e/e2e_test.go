// Package e2e runs the shipped MessageSight runbooks to the end with the
// drillbook binary in plain mode on the training target, in every scenario,
// and checks what an operator would see: exit codes, the stop message, the
// emulated store's contents and that no password leaks anywhere.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
)

// binary is the drillbook executable built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drillbook-ms-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "drillbook")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binary, "github.com/drillbook/drillbook/cmd/drillbook")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building drillbook:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	// The emulated servers run twenty times faster than real ones.
	os.Setenv("DRILLBOOK_MS_DELAY_SCALE", "0.05")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The passwords the training target uses; none may appear in any output,
// journal, report or request log.
var passwords = []string{"training-backup-pw", "training-admin-pw", "not-the-export-password"}

type run struct {
	code   int
	output string
}

func drillbook(t *testing.T, state string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--state-dir", state}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("drillbook %s: no end within 3 minutes:\n%s", strings.Join(args, " "), out.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("drillbook: %v", err)
		}
		code = ee.ExitCode()
	}
	return run{code: code, output: out.String()}
}

func runbookRun(t *testing.T, state, id, scenario string, params ...string) run {
	args := []string{"run", id, "--plain", "--target", "training", "--yes", "--scenario", scenario}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	return drillbook(t, state, args...)
}

func messages(t *testing.T, state, server string) emulator.StoreSummary {
	t.Helper()
	s, err := emulator.ReadStore(filepath.Join(state, "training", "messagesight", server, "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func requestLog(t *testing.T, state, server string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "training", "messagesight", server, "requests.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noPasswords looks for the training passwords in the outputs, every
// journal and report of the state directory, and the request logs.
func noPasswords(t *testing.T, state string, runs ...run) {
	t.Helper()
	var all strings.Builder
	for _, r := range runs {
		all.WriteString(r.output)
	}
	list := drillbook(t, state, "runs")
	for _, line := range strings.Split(list.output, "\n")[1:] {
		id, _, _ := strings.Cut(line, " ")
		if id == "" {
			continue
		}
		all.WriteString(drillbook(t, state, "report", id).output)
		all.WriteString(drillbook(t, state, "report", id, "--format", "json").output)
	}
	files := 0
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "admin.pw" {
			return nil // admin.pw is the training target's secret store itself
		}
		if strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".log") || strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".json") {
			b, _ := os.ReadFile(p)
			all.Write(b)
			files++
		}
		return nil
	})
	if files < 4 || !strings.Contains(all.String(), `"Password":"***"`) {
		t.Fatalf("only %d files read: nothing to prove the passwords are absent from", files)
	}
	for _, pw := range passwords {
		if strings.Contains(all.String(), pw) {
			t.Errorf("password %q appears in the output, a journal, a report or a request log", pw)
		}
	}
}

func succeeded(t *testing.T, what string, r run) {
	t.Helper()
	if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.output), "run: succeeded") {
		t.Fatalf("%s: exit %d:\n%s", what, r.code, r.output)
	}
}

// stoppedAt checks that a run failed at step, with the texts given, and
// that no destructive step ran after it.
func stoppedAt(t *testing.T, r run, step string, texts ...string) {
	t.Helper()
	if r.code == 0 || !strings.Contains(r.output, "step "+step+": FAILED") {
		t.Fatalf("exit %d, not stopped at %s:\n%s", r.code, step, r.output)
	}
	for _, x := range texts {
		if !strings.Contains(r.output, x) {
			t.Errorf("%q missing:\n%s", x, r.output)
		}
	}
	after := r.output[strings.Index(r.output, "step "+step+": FAILED"):]
	for _, d := range []string{"entermaint", "import", "restore-store", "cleanstore", "cleanstandby", "leavemaint", "standbyprod"} {
		if strings.Contains(after, "step "+d+": succeeded") {
			t.Errorf("%s ran after the failure", d)
		}
	}
}

func TestNormal(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	b := runbookRun(t, state, "messagesight-backup", "normal")
	succeeded(t, "backup", b)
	sets, _ := filepath.Glob(filepath.Join(state, "training", "messagesight", "backups", "ms1-2*", "SEALED"))
	if len(sets) != 3 {
		t.Fatalf("%d sealed sets of ms1, want the prepared one, the mixed one and the new one", len(sets))
	}
	// Traffic after the backup: the restore brings the store back as it was.
	if err := os.WriteFile(filepath.Join(state, "training", "messagesight", "ms1", "store", "com.ibm.ism", "queues", "LATE.msg"), []byte("late-1\nlate-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runbookRun(t, state, "messagesight-restore", "normal")
	succeeded(t, "restore", r)
	if !strings.Contains(r.output, "step restore-store: succeeded") || !strings.Contains(r.output, "step cleanstore: skipped") {
		t.Fatalf("restore of the store:\n%s", r.output)
	}
	if s := messages(t, state, "ms1"); s.Messages != 5 || s.Subscriptions != 2 || s.Clients != 3 {
		t.Errorf("after restore ms1 holds %+v, want 5 messages, 2 subscriptions, 3 clients", s)
	}
	// A configuration-only backup is restored with a clean store, and the
	// wait after the import counts only the real restart.
	c := runbookRun(t, state, "messagesight-backup", "normal", "include_store=false")
	succeeded(t, "configuration-only backup", c)
	d := runbookRun(t, state, "messagesight-restore", "normal")
	succeeded(t, "restore without store", d)
	if !strings.Contains(d.output, "step cleanstore: succeeded") || !strings.Contains(d.output, "(the restart has not happened yet)") {
		t.Fatalf("restore without store:\n%s", d.output)
	}
	if s := messages(t, state, "ms1"); s != (emulator.StoreSummary{}) {
		t.Errorf("after clean store ms1 holds %+v", s)
	}
	noPasswords(t, state, b, r, c, d)
}

// TestOtherServer restores ms1's backup onto ms2 with the objects tied to
// addresses disabled; ms2's store is the one replaced.
func TestOtherServer(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	r := runbookRun(t, state, "messagesight-restore", "normal", "server=ms2", "kind=other-server", "from_server=ms1")
	succeeded(t, "other-server restore", r)
	if !strings.Contains(r.output, "store "+filepath.Join(state, "training", "messagesight", "ms2", "store")+" of server ms2") {
		t.Errorf("the restore did not name ms2's store:\n%s", r.output)
	}
	if log := requestLog(t, state, "ms1"); strings.Contains(log, "/service/restart") {
		t.Errorf("ms1 was restarted by a restore of ms2:\n%s", log)
	}
}

func TestHAPair(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	b := runbookRun(t, state, "messagesight-backup", "normal", "ha=true", "server=ms-a")
	succeeded(t, "HA backup", b)
	if strings.Contains(requestLog(t, state, "ms-a"), "/service/restart") {
		t.Error("the backup restarted the primary")
	}
	r := runbookRun(t, state, "messagesight-restore", "normal", "ha=true", "server=ms-a")
	succeeded(t, "HA restore", r)
	order := []string{"step cleanstandby: succeeded", "step leavemaint: succeeded", "step standbyprod: succeeded", "step wait-production: succeeded", "STANDBY with 2 of 2 nodes in sync"}
	pos := 0
	for _, o := range order {
		i := strings.Index(r.output[pos:], o)
		if i < 0 {
			t.Fatalf("%q missing or out of order:\n%s", o, r.output)
		}
		pos += i
	}
	if s := messages(t, state, "ms-a"); s.Messages != 5 {
		t.Errorf("restored primary holds %d messages, want 5", s.Messages)
	}
	noPasswords(t, state, b, r)
}

// docScenario is one row of the MessageSight scenarios table in
// docs/training.md.
type docScenario struct {
	name, runbook string
	// step is the step the run stops at, "" when it succeeds.
	step string
	// shows is the line the run prints on the way.
	shows string
}

// backquoted returns the texts between backquotes in s.
func backquoted(s string) []string {
	parts := strings.Split(s, "`")
	var out []string
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// docScenarios reads the MessageSight scenarios table of docs/training.md.
func docScenarios(t *testing.T) []docScenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "training.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## MessageSight scenarios\n")
	if !ok {
		t.Fatal("docs/training.md has no MessageSight scenarios section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var out []docScenario
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue
		}
		sc := docScenario{name: backquoted(cells[0])[0], runbook: backquoted(cells[1])[0]}
		ends := strings.TrimSpace(cells[3])
		switch {
		case strings.HasPrefix(ends, "succeeded"):
		case strings.HasPrefix(ends, "stops at `"):
			sc.step = backquoted(ends)[0]
		default:
			t.Fatalf("docs/training.md: scenario %s: %q says neither succeeded nor stops at `STEP`", sc.name, ends)
		}
		shows := backquoted(cells[4])
		if len(shows) != 1 {
			t.Fatalf("docs/training.md: scenario %s: the last column holds %d quoted lines, want one", sc.name, len(shows))
		}
		sc.shows = shows[0]
		out = append(out, sc)
	}
	return out
}

// nextAction is what the stop message of a failing scenario tells the
// operator to do, beyond the line the documentation quotes.
var nextAction = map[string][]string{
	"wrong-password":      {"the backup password is wrong: give the password the configuration was exported with"},
	"mismatched-store":    {"backup set does not match its manifest"},
	"stuck-stopping":      {"restart it from its platform"},
	"maintenance-error":   {"restore a store backup"},
	"split-pair":          {"decide which node keeps its data"},
	"standby-not-cleaned": {"UNRESOLVED_STORE", "clean the standby's store"},
}

// TestTrainingDocScenarios runs every MessageSight scenario as
// docs/training.md describes it and checks that the run ends as the
// documentation says, prints the line it quotes, and for a stop, says what
// to do next and runs nothing destructive after it; a stop in preflight
// changed nothing at all.
func TestTrainingDocScenarios(t *testing.T) {
	rows := docScenarios(t)
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r.name] = true
	}
	for _, s := range messagesight.Scenarios() {
		if !documented[s] {
			t.Errorf("scenario %s is not in the MessageSight scenarios table of docs/training.md", s)
		}
	}
	for _, c := range rows {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			state := t.TempDir()
			r := runbookRun(t, state, c.runbook, c.name)
			if c.step == "" {
				succeeded(t, c.name, r)
				if !strings.Contains(r.output, c.shows) {
					t.Errorf("%q not shown:\n%s", c.shows, r.output)
				}
				return
			}
			stoppedAt(t, r, c.step, append([]string{c.shows}, nextAction[c.name]...)...)
			if c.step == "preview" || strings.Contains(r.output, "preflight step "+c.step+":") {
				for _, n := range []string{"ms1", "ms-a", "ms-b"} {
					if log := requestLog(t, state, n); strings.Contains(log, "/service/restart") || strings.Contains(log, `"ApplyConfig":true`) {
						t.Errorf("%s was restarted or changed:\n%s", n, log)
					}
				}
				if s := messages(t, state, "ms1"); s.Messages != 5 {
					t.Errorf("ms1 holds %d messages, want 5", s.Messages)
				}
			}
			noPasswords(t, state, r)
		})
	}
}

// TestKilledDuringARestartResumes kills drillbook (and with it the
// emulated servers) while ms1 restarts out of maintenance, then resumes:
// the server is found as a real one would be, the step in flight is
// reconciled by its verify, and the run ends.
func TestKilledDuringARestartResumes(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	var out syncBuffer
	cmd := exec.Command(binary, "--state-dir", state, "run", "messagesight-restore", "--plain", "--target", "training", "--yes", "--scenario", "slow-restart")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "step leavemaint: succeeded") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("leave-maintenance never finished:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if strings.Contains(out.String(), "run: succeeded") {
		t.Fatal("the run ended before it could be killed")
	}
	// The wait was in flight: its verify decides when the server is already
	// back in production; while it still recovers, the wait (read-only) is
	// run again, as the stop message says.
	r := drillbook(t, state, "resume", "last", "--plain", "--yes")
	if r.code != 0 {
		if !strings.Contains(r.output, "--outcome wait-production=succeeded|failed|rerun") {
			t.Fatalf("resume exit %d without the way on:\n%s", r.code, r.output)
		}
		t.Logf("first resume:\n%s", r.output)
		r = drillbook(t, state, "resume", "last", "--plain", "--yes", "--outcome", "wait-production=rerun")
	}
	if r.code != 0 || !strings.HasSuffix(strings.TrimSpace(r.output), "run: succeeded") {
		t.Fatalf("resume exit %d:\n%s", r.code, r.output)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
