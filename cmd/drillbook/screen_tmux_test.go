package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// tmuxSession is a detached tmux server of its own (its own socket) with one
// 80x24 window running a command.
type tmuxSession struct {
	tb   testing.TB
	sock string
}

// needTmux fails, never skips, when tmux is missing: `make test` installs
// it, and a screen that was never driven in a real terminal is not tested.
func needTmux(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		tb.Fatalf("tmux is not installed: the end-to-end screen test drives the real binary in tmux; install it (apt-get install tmux, or `make deps`)")
	}
}

// buildDrillbook builds the real binary once per test.
func buildDrillbook(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "drillbook")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/drillbook/drillbook/cmd/drillbook").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// shq quotes a word for the shell tmux starts the pane's command with.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func startTmux(tb testing.TB, w, h int, env map[string]string, argv ...string) *tmuxSession {
	tb.Helper()
	needTmux(tb)
	s := &tmuxSession{tb: tb, sock: filepath.Join(tb.TempDir(), "tmux.sock")}
	var words []string
	words = append(words, "env")
	for k, v := range env {
		words = append(words, shq(k+"="+v))
	}
	for _, a := range argv {
		words = append(words, shq(a))
	}
	line := strings.Join(words, " ") + `; echo "EXIT=$?"; sleep 120`
	s.run("new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), line)
	tb.Cleanup(s.kill)
	return s
}

// kill ends the session and whatever still runs in its pane: a drillbook
// that did not exit (the failure a test is reporting) must not outlive it.
func (s *tmuxSession) kill() {
	out, _ := exec.Command("tmux", "-S", s.sock, "list-panes", "-a", "-F", "#{pane_pid}").Output()
	for _, pid := range strings.Fields(string(out)) {
		_ = exec.Command("pkill", "-KILL", "-P", pid).Run()
	}
	_ = exec.Command("tmux", "-S", s.sock, "kill-server").Run()
}

func (s *tmuxSession) run(args ...string) string {
	s.tb.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.tb.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture() string { return s.run("capture-pane", "-p", "-t", "e2e") }

func (s *tmuxSession) keys(keys ...string) {
	s.run(append([]string{"send-keys", "-t", "e2e"}, keys...)...)
}

func (s *tmuxSession) text(text string) { s.run("send-keys", "-t", "e2e", "-l", text) }

// wait polls the pane until it shows every one of want.
func (s *tmuxSession) wait(timeout time.Duration, want ...string) string {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen := s.capture()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(screen, w)
		}
		if ok {
			return screen
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("the screen did not show %q within %s; it shows:\n%s", want, timeout, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poll captures the pane back to back, without sleeping (to time how fast
// the screen answers), until cond holds, and fails after timeout.
func (s *tmuxSession) poll(timeout time.Duration, what string, cond func(screen string) bool) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen := s.capture()
		if cond(screen) {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("%s: not within %s; the screen shows:\n%s", what, timeout, screen)
		}
	}
}

// waitGone polls the pane until it no longer shows what.
func (s *tmuxSession) waitGone(timeout time.Duration, what string) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Contains(s.capture(), what) {
		if time.Now().After(deadline) {
			s.tb.Fatalf("the screen still shows %q after %s:\n%s", what, timeout, s.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScreenTmuxEndToEnd runs the built binary in a real terminal: no
// arguments opens the picker on the training target, the runbook is picked
// and run to its end with the keys an operator would press.
func TestScreenTmuxEndToEnd(t *testing.T) {
	needTmux(t)
	bin := buildDrillbook(t)
	state := t.TempDir()
	dir, err := filepath.Abs("../../tui/testdata")
	if err != nil {
		t.Fatal(err)
	}
	s := startTmux(t, 80, 24, map[string]string{"DRILLBOOK_STATE_DIR": state, "DRILLBOOK_OPERATOR": "tester", "TERM": "xterm-256color"},
		bin, "--runbooks", dir)
	s.wait(20*time.Second, "Runbooks · target training (SIMULATED)", "was-sib-backup")
	s.text("/")
	s.wait(5*time.Second, "Filter:")
	s.text("screen-test")
	s.keys("Enter")
	s.waitGone(10*time.Second, "was-sib-backup")
	s.keys("Enter")
	s.wait(20*time.Second, "Parameters · Screen test", "workdir")
	s.keys("C-s")
	s.wait(20*time.Second, "DESTRUCTIVE STEP: wipe", "rm -f ", `Type "ME1"`)
	s.text("ME1")
	s.keys("Enter")
	s.wait(10*time.Second, "press d to tick it off")
	s.keys("d")
	screen := s.wait(10*time.Second, "Run succeeded")
	for _, want := range []string{"✓ Create the log", "✓ Start ME1", "✓ ⚠ Remove the", "✓ Tell the team", "4/4 steps", "SIMULATED", "target training"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the finished screen lacks %q:\n%s", want, screen)
		}
	}
	for i, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line %d is %d characters wide on an 80-column terminal", i+1, n)
		}
	}
	s.keys("q")
	after := s.wait(10*time.Second, "EXIT=0")
	if !strings.Contains(after, "succeeded; `drillbook report") {
		t.Errorf("after leaving, the terminal does not say how the run ended:\n%s", after)
	}
	runs, err := runbook.ListRuns(state)
	if err != nil || len(runs) != 1 || runs[0].Status != runbook.RunSucceeded {
		t.Errorf("runs: %+v, %v; want one succeeded run", runs, err)
	}
}

// BenchmarkScreenFlood runs a step that prints 1,000,000 lines in the
// screen, in tmux, and reports: the step's time over the same command's
// time with output to /dev/null (goal at most 1.2), the longest delay
// between a key press and the screen answering during the flood (goal
// under 100 ms, measured through tmux, so an upper bound) and the peak RSS
// of drillbook (goal under 150 MB).
func BenchmarkScreenFlood(b *testing.B) {
	needTmux(b)
	bin := buildDrillbook(b)
	dir, err := filepath.Abs("testdata/flood")
	if err != nil {
		b.Fatal(err)
	}
	base := devNullTime(b, "seq", "1000000")
	b.ResetTimer()
	for range b.N {
		state := b.TempDir()
		s := startTmux(b, 80, 24, map[string]string{"DRILLBOOK_STATE_DIR": state, "TERM": "xterm-256color"},
			bin, "--runbooks", dir, "run", "flood")
		s.wait(20*time.Second, "Parameters · A step that prints a million lines")
		s.keys("C-s")
		var lat []time.Duration
		deadline := time.Now().Add(5 * time.Minute)
		for {
			screen := s.capture()
			if strings.Contains(screen, "press d to tick it off") {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the flood did not end within 5m; the screen shows:\n%s", screen)
			}
			if !strings.Contains(screen, "Print 1000000 lines") {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			// "?" toggles the full key list, which says why keys are
			// unavailable; time how long until the screen shows it.
			start := time.Now()
			s.keys("?")
			s.poll(10*time.Second, "the key list during the flood", func(sc string) bool {
				return strings.Contains(sc, "(not now:") || strings.Contains(sc, "press d to tick it off")
			})
			lat = append(lat, time.Since(start))
			s.keys("?")
		}
		// The same key with the screen idle: what tmux itself adds.
		var idle time.Duration
		shown := func(sc string) bool { return strings.Contains(sc, "(not now:") }
		for range 5 {
			start := time.Now()
			s.keys("?")
			s.poll(10*time.Second, "the key list on an idle screen", shown)
			idle = max(idle, time.Since(start))
			s.keys("?")
			s.poll(10*time.Second, "the key list closing", func(sc string) bool { return !shown(sc) })
		}
		pid := strings.TrimSpace(s.run("list-panes", "-t", "e2e", "-F", "#{pane_pid}"))
		rss := peakRSS(b, pid, filepath.Base(bin))
		step := stepTime(b, state, "flood")
		s.keys("q")
		s.wait(20*time.Second, "EXIT=")
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		worst := time.Duration(0)
		if len(lat) > 0 {
			worst = lat[len(lat)-1]
		}
		b.ReportMetric(float64(step)/float64(base), "x-devnull")
		b.ReportMetric(float64(step.Milliseconds()), "step-ms")
		b.ReportMetric(float64(base.Milliseconds()), "devnull-ms")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-key-ms")
		b.ReportMetric(float64(len(lat)), "key-samples")
		b.ReportMetric(float64(idle.Microseconds())/1000, "idle-max-key-ms")
		b.ReportMetric(float64(rss)/1024, "peak-rss-MB")
	}
}

// devNullTime is the best of three runs of argv with output to /dev/null.
func devNullTime(b *testing.B, argv ...string) time.Duration {
	best := time.Duration(1 << 62)
	for range 3 {
		cmd := exec.Command(argv[0], argv[1:]...)
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout = null
		start := time.Now()
		err = cmd.Run()
		d := time.Since(start)
		null.Close()
		if err != nil {
			b.Fatal(err)
		}
		best = min(best, d)
	}
	return best
}

// peakRSS returns the VmHWM (kB) of the drillbook process under the pane's
// shell.
func peakRSS(b *testing.B, shellPID, name string) int {
	out, err := exec.Command("pgrep", "-P", shellPID).Output()
	if err != nil {
		b.Fatalf("pgrep -P %s: %v", shellPID, err)
	}
	for _, pid := range strings.Fields(string(out)) {
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		if strings.TrimSpace(string(comm)) != name && !strings.HasPrefix(name, strings.TrimSpace(string(comm))) {
			// env execs drillbook, so the child is drillbook itself
			continue
		}
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				var kb int
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%d", &kb)
				return kb
			}
		}
	}
	b.Fatalf("no %s process under pane %s", name, shellPID)
	return 0
}

// stepTime is how long a step's action ran, from the journal.
func stepTime(b *testing.B, state, step string) time.Duration {
	var start, end time.Time
	for _, ev := range readJournal(b, state) {
		if ev.Step == step && ev.Type == runbook.EvCallStart && start.IsZero() {
			start = ev.Time
		}
		if ev.Step == step && ev.Type == runbook.EvCallFinished {
			end = ev.Time
		}
	}
	if start.IsZero() || end.IsZero() {
		b.Fatalf("the journal has no finished call for step %s", step)
	}
	return end.Sub(start)
}

// TestScreenTmuxInteractiveStep gives the terminal to an interactive
// command and takes it back: the command reads what the operator types and
// the screen comes back for the next step.
func TestScreenTmuxInteractiveStep(t *testing.T) {
	needTmux(t)
	bin := buildDrillbook(t)
	state := t.TempDir()
	s := startTmux(t, 80, 24, map[string]string{"DRILLBOOK_STATE_DIR": state, "TERM": "xterm-256color"},
		bin, "run", "testdata/interactive/interactive.yaml")
	s.wait(20*time.Second, "Parameters · A step that asks the operator", "workdir")
	s.keys("C-s")
	s.wait(20*time.Second, "type the answer:")
	s.text("forty-two")
	s.keys("Enter")
	s.wait(10*time.Second, "press d to tick it off", "Check the answer")
	got, err := os.ReadFile(filepath.Join(state, "training", "workdir", "answer"))
	if err != nil || string(got) != "forty-two\n" {
		t.Fatalf("the interactive command wrote %q, %v; want forty-two", got, err)
	}
	s.keys("d")
	s.wait(10*time.Second, "Run succeeded")
	s.keys("q")
	s.wait(10*time.Second, "EXIT=0")
}

// TestScreenTmuxSignalLeavesResumableRun sends SIGTERM (a closing SSH
// session, a kill) to drillbook while the screen shows a running step: the
// terminal is given back, the exit status is 4 and the run is resumable.
func TestScreenTmuxSignalLeavesResumableRun(t *testing.T) {
	needTmux(t)
	bin := buildDrillbook(t)
	state := t.TempDir()
	s := startTmux(t, 80, 24, map[string]string{"DRILLBOOK_STATE_DIR": state, "TERM": "xterm-256color"},
		bin, "run", "../../tui/testdata/screen-test.yaml", "--param", "pause=60")
	s.wait(20*time.Second, "Parameters · Screen test")
	s.keys("C-s")
	s.wait(20*time.Second, "running action: sh -c")
	shell := strings.TrimSpace(s.run("list-panes", "-t", "e2e", "-F", "#{pane_pid}"))
	out, err := exec.Command("pgrep", "-P", shell).Output()
	if err != nil {
		t.Fatalf("pgrep -P %s: %v", shell, err)
	}
	for _, pid := range strings.Fields(string(out)) {
		if err := exec.Command("kill", "-TERM", pid).Run(); err != nil {
			t.Fatal(err)
		}
	}
	screen := s.wait(15*time.Second, "EXIT=4")
	if !strings.Contains(screen, "interrupted: `drillbook resume") {
		t.Errorf("after the signal the terminal does not say how to resume:\n%s", screen)
	}
	runs, err := runbook.ListRuns(state)
	if err != nil || len(runs) != 1 || runs[0].Status != runbook.RunInterrupted {
		t.Fatalf("runs %+v, %v; want one interrupted run", runs, err)
	}
}

// consequencesRunbook is the MessageSight restore's long manual step, as
// the shipped runbook writes it, with a note, and a destructive step whose
// command and note do not fit a small dialog.
const consequencesRunbook = `schema: drillbook/v1
id: consequences
title: Accept what restoring a store backup means
description: |
  The restore replaces the store of the server; the message owners are told
  what is lost first, as the MessageSight documentation asks.
params:
  - {name: server, default: ms1, description: the server whose store is replaced}
  - {name: workdir, type: path, required: true, description: where the store is}
steps:
  - id: consequences
    title: Accept what restoring a store backup means
    source: {doc: 001_5997eca29ae96eef.txt, section: "In both types of restore operation ... consider that", ref: "reference/messagesight.md §8.3"}
    notes: The store of {{ .server }} is replaced; its configuration is kept.
    manual: |
      You are restoring a backed-up store of {{ .server }}. Tell the message owners that:
      1. all messages that were buffered in the store after the store was backed up are lost;
      2. retained messages that were sent after the store was backed up are lost;
      3. messages that were in store buffers when the store was backed up, and which were sent later and discarded from the store, are restored and resent when subscribers reconnect; they are not marked as duplicate messages for JMS and MQTT;
      4. retained messages that were replaced after the store was backed up are restored; the messages that replaced them are lost.
      Go on only if that is acceptable.
  - id: replace
    title: Replace the store of {{ .server }}
    notes: Type the server name to confirm. Only the store directory of {{ .server }} is replaced by the backup's; the configuration is kept, and the backup itself is not changed.
    destructive: true
    confirm: "{{ .server }}"
    action: shell.run
    with:
      argv: [sh, -c, 'rm -f -- "$1/store" && printf "%s\n" "the store of $2 was replaced by the backup taken before the incident, every file mode and owner kept" > "$1/store"', sh, "{{ .workdir }}", "{{ .server }}"]
`

// consequencesText is every word of the manual step and its note, as the
// screen must show them.
var consequencesText = []string{
	"You are restoring a backed-up store of ms1. Tell the message owners that:",
	"1. all messages that were buffered in the store after the store was backed up are lost;",
	"2. retained messages that were sent after the store was backed up are lost;",
	"3. messages that were in store buffers when the store was backed up, and which were sent later and discarded from the store, are restored and resent when subscribers reconnect; they are not marked as duplicate messages for JMS and MQTT;",
	"4. retained messages that were replaced after the store was backed up are restored; the messages that replaced them are lost.",
	"Go on only if that is acceptable.",
	"note: The store of ms1 is replaced; its configuration is kept.",
}

// seenWords gathers the words the screens showed, each screen's rows read
// left to right with the column rule and box borders taken out.
func seenWords(screens []string) map[string]bool {
	seen := map[string]bool{}
	for _, sc := range screens {
		for _, l := range strings.Split(sc, "\n") {
			for _, w := range strings.Fields(strings.NewReplacer("│", " ", "╭", " ", "╮", " ", "╰", " ", "╯", " ").Replace(l)) {
				seen[w] = true
			}
		}
	}
	return seen
}

// neverShown returns the words of texts that no screen showed. A word the
// screen broke at a line's end (a long path) is matched by its parts.
func neverShown(texts []string, screens []string) []string {
	seen := seenWords(screens)
	var all strings.Builder
	for w := range seen {
		all.WriteString(w)
		all.WriteByte(' ')
	}
	var missing []string
	for _, t := range texts {
		for _, w := range strings.Fields(t) {
			if !seen[w] && !strings.Contains(all.String(), w) {
				missing = append(missing, w)
			}
		}
	}
	return missing
}

// TestScreenTmuxReadLongManualStep runs the real binary in tmux at 80x24
// and 60x20: the form opens for `drillbook run` on the training target
// with the description; the long manual step is refused when d is pressed
// before its end has been on screen; it is read to its end with j; every
// word of it appears on screen; only then does d tick it off; the
// destructive step's dialog is read down before its token is taken.
func TestScreenTmuxReadLongManualStep(t *testing.T) {
	needTmux(t)
	bin := buildDrillbook(t)
	dir := t.TempDir()
	rbFile := filepath.Join(dir, "consequences.yaml")
	if err := os.WriteFile(rbFile, []byte(consequencesRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sz := range []struct{ w, h int }{{80, 24}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			state, work := t.TempDir(), t.TempDir()
			s := startTmux(t, sz.w, sz.h, map[string]string{"DRILLBOOK_STATE_DIR": state, "DRILLBOOK_OPERATOR": "tester", "TERM": "xterm-256color"},
				bin, "run", rbFile, "--param", "workdir="+work)
			form := s.wait(20*time.Second, "Parameters · Accept what restoring", "workdir")
			if len(neverShown([]string{"The restore replaces the store"}, []string{form})) > 0 {
				t.Errorf("the form does not show the runbook's description:\n%s", form)
			}
			s.keys("C-s")
			first := s.wait(20*time.Second, "consequences · Accept what", "more:")
			s.keys("d")
			refused := s.wait(10*time.Second, "d not now:")
			if strings.Contains(refused, "Run succeeded") || strings.Contains(refused, "DESTRUCTIVE STEP") {
				t.Fatalf("d ticked off the step before it was read:\n%s", refused)
			}
			screens := []string{first, refused}
			for i := 0; i < 40; i++ {
				sc := s.capture()
				screens = append(screens, sc)
				if strings.Contains(sc, "end of the text") {
					break
				}
				s.keys("j")
				// Wait for the screen to take the key: its text moves.
				deadline := time.Now().Add(10 * time.Second)
				for s.capture() == sc && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			last := screens[len(screens)-1]
			if !strings.Contains(last, "end of the text") {
				t.Fatalf("j did not reach the end of the step's text:\n%s", last)
			}
			if miss := neverShown(consequencesText, screens); len(miss) > 0 {
				t.Fatalf("these words of the manual step never appeared on screen: %q", miss)
			}
			for i, l := range strings.Split(strings.TrimRight(last, "\n"), "\n") {
				if n := len([]rune(l)); n > sz.w {
					t.Errorf("line %d is %d characters wide on a %d-column terminal", i+1, n, sz.w)
				}
			}
			s.keys("d")
			dlg := s.wait(20*time.Second, "DESTRUCTIVE STEP: replace", `Type "ms1"`)
			s.text("ms1")
			dialogs := []string{dlg}
			if strings.Contains(dlg, "more: ↓ scrolls") {
				// The dialog does not hold it all: the token is refused
				// until the rest has been on screen.
				s.keys("Enter")
				s.wait(10*time.Second, "read all of it first")
			}
			for i := 0; i < 30 && strings.Contains(dlg, "more: ↓ scrolls"); i++ {
				sc := s.capture()
				dialogs = append(dialogs, sc)
				if strings.Contains(sc, "▲ end;") {
					break
				}
				s.keys("Down")
				deadline := time.Now().Add(10 * time.Second)
				for s.capture() == sc && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			note := "note: Type the server name to confirm. Only the store directory of ms1 is replaced by the backup's; the configuration is kept, and the backup itself is not changed."
			if miss := neverShown([]string{note, "every file mode and owner kept"}, dialogs); len(miss) > 0 {
				t.Fatalf("these words of the confirmation never appeared on screen: %q", miss)
			}
			s.keys("Enter")
			s.wait(20*time.Second, "Run succeeded")
			if got, err := os.ReadFile(filepath.Join(work, "store")); err != nil || !strings.Contains(string(got), "the store of ms1 was replaced") {
				t.Errorf("the destructive step wrote %q, %v", got, err)
			}
			s.keys("q")
			s.wait(10*time.Second, "EXIT=0")
			acks := 0
			for _, ev := range readJournal(t, state) {
				if ev.Type == runbook.EvOperatorAck && ev.Step == "consequences" {
					acks++
				}
			}
			if acks != 1 {
				t.Errorf("the journal has %d acknowledgements of the manual step, want 1", acks)
			}
		})
	}
}

// TestScreenTmuxFormOnRealTarget: `drillbook run RUNBOOK --target REAL` in a
// terminal opens the form (it used to exit 2 naming a position inside the
// runbook file), filled with the target's values, and says what is missing
// next to the parameter; `drillbook --target REAL` opens the picker there,
// and t switches to training.
func TestScreenTmuxFormOnRealTarget(t *testing.T) {
	needTmux(t)
	bin := buildDrillbook(t)
	state, conf := t.TempDir(), t.TempDir()
	targets := filepath.Join(conf, "targets.yaml")
	if err := os.WriteFile(targets, []byte("targets:\n  staging:\n    description: the staging estate\n    params:\n      engine: ME7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DRILLBOOK_STATE_DIR": state, "DRILLBOOK_TARGETS": targets, "TERM": "xterm-256color"}
	s := startTmux(t, 80, 24, env, bin, "run", "../../tui/testdata/screen-test.yaml", "--target", "staging")
	form := s.wait(20*time.Second, "Parameters · Screen test", "on staging (REAL)", "> ME7")
	if strings.Contains(form, "screen-test.yaml:") {
		t.Errorf("the form shows a position in the runbook file:\n%s", form)
	}
	s.keys("C-s")
	s.wait(10*time.Second, "value(s) need fixing", "required")
	s.keys("Escape")
	s.wait(10*time.Second, "Runbooks · target staging (REAL)")
	s.keys("q")
	s.wait(10*time.Second, "EXIT=")

	p := startTmux(t, 80, 24, env, bin, "--target", "staging")
	p.wait(20*time.Second, "Runbooks · target staging (REAL) · t switches (2 of 2)")
	p.text("?")
	p.wait(10*time.Second, "targets (t switches", "staging (real) · the staging estate")
	p.keys("Escape")
	p.waitGone(10*time.Second, "targets (t switches")
	p.text("t")
	p.wait(10*time.Second, "Runbooks · target training (SIMULATED) · t switches (1 of 2)")
	p.text("q")
	p.wait(10*time.Second, "EXIT=0")
}
