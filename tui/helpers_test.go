package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/drillbook/drillbook/runbook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) {
	// Golden files are plain text: the colour profile is fixed to ASCII.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// t0 is the fixed start of every simulated run.
var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func testCommon(w, h int, now *time.Time) *common {
	a := newApp(Options{NoColor: true, Now: func() time.Time { return *now }, Width: w, Height: h})
	return a.c
}

func loadTestRunbook(t testing.TB) *runbook.Runbook {
	t.Helper()
	rb, err := runbook.ParseFile("testdata/screen-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if probs := runbook.Validate(rb, testSpecs()); probs != nil {
		t.Fatal(probs)
	}
	return rb
}

func testSpecs() []runbook.OpSpec {
	return []runbook.OpSpec{{Name: "shell.run", Summary: "run a command", Args: []runbook.ArgSpec{
		{Name: "argv", Kind: runbook.ArgList, Required: true},
	}}}
}

// golden compares got with testdata/golden/name.golden, rewriting it with
// -update, and shows the differing lines on failure.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./tui -update to create it", err)
	}
	if string(want) == got {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	var diff []string
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			diff = append(diff, fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, w, g))
		}
	}
	t.Errorf("%s differs (go test ./tui -update rewrites it):\n%s", path, strings.Join(diff, "\n"))
}

// checkSize fails when a view is not exactly w x h cells.
func checkSize(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, lw, w, l)
		}
	}
}

// sim drives a real engine by hand and shows its events in a run view, the
// way the runner would, without processes.
type sim struct {
	t     *testing.T
	eng   *runbook.Engine
	v     *runView
	now   time.Time
	sent  []runbook.Input
	calls []int // call ids started, in order
	watch int
	stops int
	shown []runbook.Update // every update shown, as a journal would keep them
}

// show applies an update to the view and keeps it.
func (s *sim) show(u runbook.Update) {
	s.shown = append(s.shown, u)
	s.v.apply(u)
}

func newSim(t *testing.T, w, h int) *sim {
	rb := loadTestRunbook(t)
	vals, err := runbook.ResolveParams(rb, map[string]string{"workdir": "/srv/drill", "token": "s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := runbook.NewEngine(rb, testSpecs(), vals)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, eng: eng, now: t0}
	c := testCommon(w, h, &s.now)
	s.v = newRunView(c, RunSpec{RunID: "20261123-080000-screen-test-abc123", Title: rb.Title, Target: "training",
		Simulated: true, Steps: eng.Steps(), Started: t0})
	s.v.answer = func(in runbook.Input) { s.sent = append(s.sent, in) }
	s.v.stop = func(string) { s.stops++ }
	return s
}

// feed hands an input to the engine and its events to the view.
func (s *sim) feed(in runbook.Input) {
	in.Time = s.now
	for _, ev := range s.eng.Handle(in) {
		if ev.Op == "shell.run" && ev.Args != nil {
			ev.Plan = &runbook.Plan{Host: "localhost", Argv: ev.Args.List("argv")}
		}
		switch ev.Type {
		case runbook.EvCallStart:
			s.calls = append(s.calls, ev.ID)
		case runbook.EvWatchArm:
			s.watch = ev.ID
		}
		s.show(runbook.Update{Event: &ev, Steps: s.eng.Steps(), Status: s.eng.Status()})
	}
}

// flush hands what the view answered to the engine.
func (s *sim) flush() {
	sent := s.sent
	s.sent = nil
	for _, in := range sent {
		s.feed(in)
	}
}

func (s *sim) lastCall() int { return s.calls[len(s.calls)-1] }

func (s *sim) callDone(summary string) {
	s.feed(runbook.Input{Type: runbook.InCallDone, ID: s.lastCall(), Result: &runbook.Result{Summary: summary}})
}

func (s *sim) key(k string) {
	var msg tea.KeyMsg
	switch k {
	case "enter":
		msg = tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		msg = tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		msg = tea.KeyMsg{Type: tea.KeyTab}
	case "pgup":
		msg = tea.KeyMsg{Type: tea.KeyPgUp}
	case "end":
		msg = tea.KeyMsg{Type: tea.KeyEnd}
	default:
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
	}
	s.v.update(msg)
}

func (s *sim) typeText(text string) {
	for _, r := range text {
		s.v.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

const logPath = "/opt/IBM/WebSphere/AppServer/profiles/AppSrv01/logs/server1/SystemOut.log"

// toLogWait runs the simulated run up to the log wait of step start, with
// output and log lines shown.
func (s *sim) toLogWait() {
	s.feed(runbook.Input{Type: runbook.InStart})
	s.show(runbook.Update{Batch: &runbook.Batch{ID: s.lastCall(), Step: "prepare", Output: []runbook.OutputLine{
		{Stream: runbook.Stdout, Text: "line 1"}, {Stream: runbook.Stdout, Text: "line 2"}, {Stream: runbook.Stderr, Text: "warning: something on stderr"},
	}}})
	s.now = s.now.Add(1500 * time.Millisecond)
	s.callDone("sh exited with status 0 after 1.5s (3 output lines)")
	s.feed(runbook.Input{Type: runbook.InWatchArmed, ID: s.watch, Positions: []runbook.LogPosition{{Path: logPath, Offset: 48213}}})
	s.show(runbook.Update{Batch: &runbook.Batch{ID: s.watch, Step: "start", Log: []runbook.LogLine{
		{File: logPath, Text: "[11/23/26 8:00:02:100 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSID0016I: Messaging engine ME1 is in state Starting."},
		{File: logPath, Kind: runbook.MatchWarn, Text: "[11/23/26 8:00:03:100 UTC] 0000004a SibMessage    W   [Bus1:ME1] CWSIP0784W: Messaging engine ME1 restart after restore: some messages may be lost."},
		{File: logPath, Kind: runbook.MatchSuccess, Text: "[11/23/26 8:00:04:200 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed."},
	}}})
	s.now = s.now.Add(3 * time.Second)
}

// toConfirm goes on to the destructive step's confirmation.
func (s *sim) toConfirm() {
	s.toLogWait()
	s.callDone("sh exited with status 0 after 300ms (0 output lines)")
	line := runbook.LogLine{File: logPath, Kind: runbook.MatchSuccess, Text: "[11/23/26 8:00:04:200 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed."}
	s.feed(runbook.Input{Type: runbook.InWatchDone, ID: s.watch, Outcome: &runbook.WatchOutcome{Kind: runbook.MatchSuccess, Line: &line}})
	s.now = s.now.Add(time.Second)
}
