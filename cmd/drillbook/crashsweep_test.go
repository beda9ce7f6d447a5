package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/rabbitmq/privnode"
	"github.com/drillbook/drillbook/runbook"
)

// The crash sweep kills a real drillbook with SIGKILL at a journal point of
// a shipped runbook on the training target, resumes it until it ends, and
// compares the run with one that was never interrupted: the same status,
// every step ending the same way, and as many destructive calls (none run
// twice). `make crash` (DRILLBOOK_CRASH_SWEEP=all) kills every runbook at
// every journal point; `go test` kills each at a few.
//
// A journal point k is the moment drillbook is about to write record k: it
// dies there, and what it had not synced is lost, as in a real crash. Every
// third point the dying process also leaves half of record k at the end of
// the journal, as a crash in the middle of a write does. Before it dies it
// lets the calls it started finish (crashCalls): the work drillbook starts
// outlives it (wsadmin and rabbitmqctl run in their own process groups, a
// server carries out a request it received), so what the estate did is
// known. When a resume asks what happened to a call, the sweep answers as an
// operator who checked would, from that knowledge, and counts the question:
// it is asked only when the journal holds no evidence.

// Environment of the dying process: the record to die before, where to note
// what its calls did, and whether to leave a torn record.
const (
	envCrashAt   = "DRILLBOOK_CRASH_AT"
	envCrashNote = "DRILLBOOK_CRASH_NOTE"
	envCrashTorn = "DRILLBOOK_CRASH_TORN"
)

// crashCalls is how long a dying process waits for its calls to finish.
const crashCalls = 2 * time.Minute

// crashNote is what a dying process knew: how each call it had started and
// not yet journaled ended.
type crashNote struct {
	Seq   int                  `json:"seq"`
	Calls map[string]crashCall `json:"calls"`
}

type crashCall struct {
	Error    string `json:"error,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
}

// crashHook returns the hook that kills this process at the journal point
// named by the environment, or nil when none is named.
func crashHook() func(*runbook.Session, *runbook.Runner) {
	at, err := strconv.Atoi(os.Getenv(envCrashAt))
	if err != nil || at < 2 {
		return nil
	}
	notePath, torn := os.Getenv(envCrashNote), os.Getenv(envCrashTorn) == "1"
	return func(sess *runbook.Session, r *runbook.Runner) {
		sess.Journal.SetBeforeWrite(func(seq int, line []byte) {
			if seq != at {
				return
			}
			note := crashNote{Seq: seq, Calls: map[string]crashCall{}}
			for id, in := range r.WaitCalls(crashCalls) {
				note.Calls[strconv.Itoa(id)] = crashCall{Error: in.Error, TimedOut: in.TimedOut}
			}
			if b, err := json.Marshal(note); err == nil && notePath != "" {
				_ = os.WriteFile(notePath, b, 0o600)
			}
			if torn {
				if f, err := os.OpenFile(sess.Journal.Path(), os.O_WRONLY|os.O_APPEND, 0); err == nil {
					_, _ = f.Write(line[:len(line)/2])
					f.Close()
				}
			}
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal ends the process
		})
	}
}

// sweepRunbook is a shipped runbook the sweep kills.
type sweepRunbook struct {
	id     string
	rabbit bool // needs the real RabbitMQ node: one point in go test
	inTest bool // a RabbitMQ runbook go test sweeps (at one point)
	// answers are the flags its real steps need: --yes answers only the
	// steps that act on the simulation.
	answers []string
}

func sweepRunbooks() []sweepRunbook {
	return []sweepRunbook{
		{id: "demo-shell", answers: []string{"--confirm", "wipe=demo", "--confirm", "tell=done"}},
		{id: "was-sib-backup"},
		{id: "was-sib-restore-me"},
		{id: "was-sib-ha-failover-drill"},
		{id: "messagesight-backup"},
		{id: "messagesight-restore"},
		{id: "rabbitmq-backup", rabbit: true},
		{id: "rabbitmq-restore", rabbit: true, inTest: true},
	}
}

// runOutcome is how a run ended, as a user comparing two drills sees it.
type runOutcome struct {
	status      runbook.RunStatus
	steps       []string // "key state" for every step
	destructive int      // destructive steps' action calls started
	destCalls   []string // the step of each of them, in order
	records     int
	reconciled  int // steps decided at a resume from the journal's evidence
}

func (o runOutcome) String() string {
	return fmt.Sprintf("%s, %d destructive calls, steps: %s", o.status, o.destructive, strings.Join(o.steps, ", "))
}

// outcomeOf reads the one run under state.
func outcomeOf(t *testing.T, state string) (runOutcome, *runbook.JournalData) {
	t.Helper()
	journals, _ := filepath.Glob(filepath.Join(state, "runs", "*", runbook.JournalFile))
	if len(journals) != 1 {
		t.Fatalf("want one run in %s, found %v", state, journals)
	}
	jd, err := runbook.ReadJournal(journals[0])
	if err != nil {
		t.Fatalf("the journal cannot be read: %v", err)
	}
	rep := runbook.BuildReport(jd)
	o := runOutcome{status: rep.Status, records: len(jd.Records)}
	for _, s := range rep.Steps {
		o.steps = append(o.steps, s.Key+" "+string(s.State))
	}
	destructive := map[string]bool{}
	for _, ev := range jd.Events() {
		switch ev.Type {
		case runbook.EvStepStarted:
			destructive[ev.Step] = ev.Destructive
		case runbook.EvCallStart:
			if ev.Phase == runbook.PhaseAction && destructive[ev.Step] {
				o.destructive++
				o.destCalls = append(o.destCalls, ev.Step)
			}
		case runbook.EvReconciled:
			if strings.HasPrefix(ev.Reason, "the log showed") || strings.HasPrefix(ev.Reason, "verify") {
				o.reconciled++
			}
		}
	}
	return o, jd
}

// sweepEnv is the environment of every drillbook the sweep runs.
func sweepEnv(t *testing.T, state string) []string {
	return append(os.Environ(), "DRILLBOOK_TEST_MAIN=1", "DRILLBOOK_STATE_DIR="+state, "DRILLBOOK_OPERATOR=tester",
		"XDG_CONFIG_HOME="+t.TempDir(), "DRILLBOOK_WAS_DELAY_SCALE=0")
}

// drillbookIn runs drillbook in state with a deadline and returns its
// output, its exit code, and whether SIGKILL ended it.
func drillbookIn(t *testing.T, state string, extraEnv []string, args ...string) (string, int, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testBinary(), args...)
	cmd.Env = append(sweepEnv(t, state), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("drillbook %v did not end within 10 minutes:\n%s", args, out.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0, false
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return out.String(), -1, ws.Signal() == syscall.SIGKILL
		}
		return out.String(), ee.ExitCode(), false
	}
	t.Fatalf("run drillbook: %v", err)
	return "", 0, false
}

// freshState returns an empty state directory, or a copy of tpl.
func freshState(t *testing.T, tpl string) string {
	t.Helper()
	state := t.TempDir()
	if tpl == "" {
		return state
	}
	if out, err := exec.Command("cp", "-a", tpl+"/.", state).CombinedOutput(); err != nil {
		t.Fatalf("copy the training estate: %v\n%s", err, out)
	}
	return state
}

// rabbitTemplate builds the RabbitMQ training estate (node, seed, first
// backup) once in tpl, for both RabbitMQ runbooks, and stops the node, so
// each point starts from a copy of it instead of seeding a node again.
func rabbitTemplate(t *testing.T, tpl, id string) {
	t.Helper()
	if _, err := privnode.BinDirFor(""); err != nil {
		t.Fatalf("the RabbitMQ runbooks need a real node: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tpl, "training", "rabbitmq", "seeded")); err == nil {
		return
	}
	if out, code, _ := drillbookIn(t, tpl, nil, "plan", id); code != 0 {
		t.Fatalf("build the training estate (drillbook plan %s): exit %d\n%s", id, code, out)
	}
}

// stopLeftNode stops the training node under state if a failed point left
// it running, so the next point can start its own on the same ports.
func stopLeftNode(state string) {
	dir := filepath.Join(state, "training", "rabbitmq", "node")
	pids, _ := filepath.Glob(filepath.Join(dir, "mnesia", "*.pid"))
	for _, p := range pids {
		b, _ := os.ReadFile(p)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if n, err := privnode.Start(ctx, privnode.Options{Dir: dir, Name: "training", Management: true}); err == nil {
			_ = n.Stop(ctx)
		}
		cancel()
	}
}

// sweepCounts sum up a runbook's sweep for the report.
type sweepCounts struct {
	points, killed, torn, finishedFirst, resumes, questions, reconciled int
	killedResumes                                                       int
}

// reconcileAsk is plain mode's line when a resume needs --outcome.
var reconcileAsk = regexp.MustCompile(`step (\S+) was running when drillbook stopped: .*--outcome \S+=succeeded\|failed\|rerun`)

// crashAndResume kills a run of rb at journal point k, then resumes it
// until it ends, answering questions from what the dying process noted,
// and returns the finished run's outcome.
//
// With again, the first resume is killed too, a few records into its work,
// before it is resumed in turn.
func crashAndResume(t *testing.T, rb sweepRunbook, tpl string, k int, torn, again bool, c *sweepCounts) runOutcome {
	t.Helper()
	state := freshState(t, tpl)
	if rb.rabbit {
		defer stopLeftNode(state)
	}
	note := filepath.Join(t.TempDir(), "note.json")
	notes := []string{note}
	env := []string{envCrashAt + "=" + strconv.Itoa(k), envCrashNote + "=" + note}
	if torn {
		env = append(env, envCrashTorn+"=1")
	}
	out, code, killed := drillbookIn(t, state, env, append([]string{"run", rb.id, "--plain", "--yes"}, rb.answers...)...)
	c.points++
	switch {
	case killed:
		c.killed++
		if torn {
			c.torn++
		}
	case code == 0:
		c.finishedFirst++ // the run had fewer records than k
		o, _ := outcomeOf(t, state)
		return o
	default:
		t.Fatalf("point %d: the run to be killed exited %d instead:\n%s", k, code, out)
	}
	var log strings.Builder
	for i := range 8 {
		// Like an operator who checked what each call did, the sweep gives
		// its answers up front; plain mode uses one only when the resume
		// asks, and says so ("given with --outcome"), which is counted.
		args := append([]string{"resume", "last", "--plain", "--yes"}, rb.answers...)
		for key, answer := range answersFromNotes(t, state, notes) {
			args = append(args, "--outcome", key+"="+answer)
		}
		var env []string
		if again && i == 0 {
			_, jd := outcomeOf(t, state)
			note := filepath.Join(t.TempDir(), "note.json")
			notes = append(notes, note)
			env = []string{envCrashAt + "=" + strconv.Itoa(jd.LastSeq()+4), envCrashNote + "=" + note}
		}
		out, code, killed := drillbookIn(t, state, env, args...)
		c.resumes++
		c.questions += strings.Count(out, ": given with --outcome")
		fmt.Fprintf(&log, "$ drillbook %s (exit %d, killed %v)\n%s\n", strings.Join(args, " "), code, killed, out)
		if killed {
			c.killedResumes++
			continue
		}
		switch code {
		case exitOK:
			o, _ := outcomeOf(t, state)
			return o
		case exitNeedConfirm:
			if reconcileAsk.MatchString(out) {
				t.Fatalf("point %d: resume asks about a step whose call the dying process did not see end:\n%s", k, log.String())
			}
			t.Fatalf("point %d: resume stopped for something --yes does not answer:\n%s", k, log.String())
		default:
			o, _ := outcomeOf(t, state)
			t.Fatalf("point %d: resume exited %d, the run stands %s:\n%s", k, code, o, log.String())
		}
	}
	t.Fatalf("point %d: the run did not end after 8 resumes:\n%s", k, log.String())
	return runOutcome{}
}

// answersFromNotes says, for each step whose action the journal shows in
// flight, what an operator who checked would answer: how the call a dying
// process let finish ended (the last process that knew it).
func answersFromNotes(t *testing.T, state string, notePaths []string) map[string]string {
	t.Helper()
	calls := map[string]crashCall{}
	for _, p := range notePaths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var n crashNote
		if err := json.Unmarshal(b, &n); err != nil {
			t.Fatalf("crash note: %v", err)
		}
		maps.Copy(calls, n.Calls)
	}
	_, jd := outcomeOf(t, state)
	inFlight := map[string]int{} // step key -> its last action call without a result
	finished := map[int]bool{}
	for _, ev := range jd.Events() {
		switch {
		case ev.Type == runbook.EvCallStart && ev.Phase == runbook.PhaseAction:
			inFlight[ev.Step] = ev.ID
		case ev.Type == runbook.EvCallFinished:
			finished[ev.ID] = true
		}
	}
	answers := map[string]string{}
	for key, id := range inFlight {
		call, ok := calls[strconv.Itoa(id)]
		switch {
		case finished[id] || !ok:
		case call.Error != "":
			answers[key] = "failed"
		default:
			answers[key] = "succeeded"
		}
	}
	return answers
}

// samplePoints are the journal points a sweep kills at: all of them, or,
// for go test, a few: before the run's start, before the result of its first
// destructive call is written (the call done, its result lost), and the
// middle of the run; a RabbitMQ runbook only at the destructive point.
func samplePoints(jd *runbook.JournalData, all bool, rb sweepRunbook) []int {
	records := len(jd.Records)
	if all {
		var ks []int
		for k := 2; k <= records; k++ {
			ks = append(ks, k)
		}
		return ks
	}
	destructive := map[string]bool{}
	calls := map[int]bool{}
	done := 0
	for _, r := range jd.Records {
		switch {
		case r.Ev != nil && r.Ev.Type == runbook.EvStepStarted:
			destructive[r.Ev.Step] = r.Ev.Destructive
		case r.Ev != nil && r.Ev.Type == runbook.EvCallStart && r.Ev.Phase == runbook.PhaseAction && destructive[r.Ev.Step]:
			calls[r.Ev.ID] = true
		case r.In != nil && r.In.Type == runbook.InCallDone && calls[r.In.ID] && done == 0:
			done = r.Seq
		}
	}
	if rb.rabbit {
		return []int{max(done, 2)}
	}
	ks := []int{2}
	if done > 0 {
		ks = append(ks, done)
	}
	ks = append(ks, 2+(records-2)/2) // the middle; make crash takes every point
	slices.Sort(ks)
	return slices.Compact(ks)
}

// TestCrashSweep kills every shipped runbook on the training target at
// journal points (every point with DRILLBOOK_CRASH_SWEEP=all, a sample
// otherwise), resumes each until it ends, and checks that it ends as the
// run that was never killed does, with no destructive call run twice.
func TestCrashSweep(t *testing.T) {
	all := os.Getenv("DRILLBOOK_CRASH_SWEEP") == "all"
	only := os.Getenv("DRILLBOOK_CRASH_RUNBOOK")
	var (
		mu    sync.Mutex // guards total against the parallel runbooks
		total sweepCounts
	)
	rabbitTpl := t.TempDir()
	// In go test the runbooks are swept side by side (their runs mostly
	// wait on simulated delays); make crash sweeps them one after another.
	t.Run("runbooks", func(t *testing.T) {
		for _, rb := range sweepRunbooks() {
			if only != "" && only != rb.id {
				continue
			}
			t.Run(rb.id, func(t *testing.T) {
				if rb.rabbit && !all && !rb.inTest {
					t.Skip("swept by make crash only: each of its points takes a real RabbitMQ node a minute")
				}
				if !all {
					t.Parallel()
				}
				tpl := ""
				if rb.rabbit && all {
					// Many points: each starts from a copy of one estate.
					tpl = rabbitTpl
					rabbitTemplate(t, tpl, rb.id)
				}
				state := freshState(t, tpl)
				out, code, _ := drillbookIn(t, state, nil, append([]string{"run", rb.id, "--plain", "--yes"}, rb.answers...)...)
				if code != exitOK {
					t.Fatalf("the uninterrupted run exited %d:\n%s", code, out)
				}
				want, jd := outcomeOf(t, state)
				var c sweepCounts
				for i, k := range samplePoints(jd, all, rb) {
					// Some kills tear the record being written, some kill the
					// resume too: in go test's three points, the middle and the
					// first destructive result.
					torn, again := i%3 == 2, i%5 == 3
					if !all {
						torn, again = i == 2, i == 1
					}
					got := crashAndResume(t, rb, tpl, k, torn, again, &c)
					c.reconciled += got.reconciled
					if got.status != want.status || !slices.Equal(got.steps, want.steps) {
						t.Fatalf("killed at journal point %d, the run ended %s\nthe uninterrupted run ended %s", k, got, want)
					}
					if got.destructive != want.destructive {
						t.Fatalf("killed at journal point %d, the run made %d destructive calls (%s), the uninterrupted run %d (%s)", k, got.destructive, strings.Join(got.destCalls, ", "), want.destructive, strings.Join(want.destCalls, ", "))
					}
				}
				t.Logf("%s: %d journal records, %d destructive calls; %d points: %d killed (%d leaving a torn record), %d ended before the point; %d resumes (%d of them killed too), %d steps decided from the journal's evidence, %d questions to the operator",
					rb.id, want.records, want.destructive, c.points, c.killed, c.torn, c.finishedFirst, c.resumes, c.killedResumes, c.reconciled, c.questions)
				mu.Lock()
				defer mu.Unlock()
				total.points += c.points
				total.killed += c.killed
				total.torn += c.torn
				total.resumes += c.resumes
				total.questions += c.questions
				total.reconciled += c.reconciled
				total.killedResumes += c.killedResumes
			})
		}
	})
	t.Logf("crash sweep: %d points, %d kills (%d torn), %d resumes (%d killed too), %d decided from evidence, %d questions", total.points, total.killed, total.torn, total.resumes, total.killedResumes, total.reconciled, total.questions)
}
