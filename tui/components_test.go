package tui

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func testHome(t *testing.T) Home {
	rb := loadTestRunbook(t)
	demo, err := runbook.Parse("demo.yaml", []byte(`schema: drillbook/v1
id: demo-other
title: Another runbook to pick from
product: rabbitmq
source: {doc: 004_5fcabc3eaaf69c51.txt}
steps:
  - id: only
    title: Only step
    manual: Nothing to do.
`))
	if err != nil {
		t.Fatal(err)
	}
	return Home{Target: "training", Simulated: true, Runbooks: []*runbook.Runbook{demo, rb}}
}

func TestTUIPickerGolden(t *testing.T) {
	for _, sz := range sizes {
		now := t0
		c := testCommon(sz.w, sz.h, &now)
		p := newPicker(c, testHome(t))
		v := p.view()
		golden(t, fmt.Sprintf("picker-%dx%d", sz.w, sz.h), v)
		for _, want := range []string{"target training (SIMULATED)", "screen-test · generic · tui/testdata/screen-test.yaml", "demo-other · rabbitmq · 004_5fcabc3eaaf69c51.txt"} {
			if !strings.Contains(v, want) {
				t.Errorf("%dx%d picker lacks %q:\n%s", sz.w, sz.h, want, v)
			}
		}
	}
}

func TestTUIPickerFilterAndChoose(t *testing.T) {
	now := t0
	c := testCommon(80, 24, &now)
	p := newPicker(c, testHome(t))
	for _, k := range []tea.KeyMsg{runes("/"), runes("s"), runes("c"), runes("r"), runes("e"), runes("e"), runes("n"), {Type: tea.KeyEnter}} {
		if rb := p.chosen(k); rb != nil && k.Type != tea.KeyEnter {
			t.Fatalf("%q chose %s while filtering", k, rb.ID)
		}
		var cmd tea.Cmd
		p, cmd = p.update(k)
		for _, msg := range quickMsgs(cmd) {
			p, _ = p.update(msg)
		}
	}
	if n := len(p.list.VisibleItems()); n != 1 {
		t.Fatalf("filter \"screen\" shows %d runbooks, want 1", n)
	}
	rb := p.chosen(tea.KeyMsg{Type: tea.KeyEnter})
	if rb == nil || rb.ID != "screen-test" {
		t.Fatalf("enter chose %v, want screen-test", rb)
	}
}

func TestTUIFormGolden(t *testing.T) {
	for _, sz := range sizes {
		now := t0
		c := testCommon(sz.w, sz.h, &now)
		f := newForm(c, loadTestRunbook(t), map[string]string{"workdir": "/srv/drill", "token": "s3cret-pw"})
		v := f.view()
		golden(t, fmt.Sprintf("form-%dx%d", sz.w, sz.h), v)
		if strings.Contains(v, "s3cret-pw") {
			t.Errorf("the form shows the secret:\n%s", v)
		}
		if len(strings.Split(v, "\n")) != sz.h-1 {
			t.Errorf("the form is %d lines, want %d (and the help line)", len(strings.Split(v, "\n")), sz.h-1)
		}
	}
}

func TestTUIFormRefusesInvalidValue(t *testing.T) {
	now := t0
	c := testCommon(80, 24, &now)
	f := newForm(c, loadTestRunbook(t), map[string]string{"workdir": "/srv/drill"})
	var cmd tea.Cmd
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyTab}) // engine
	if f.fields[f.focus].p.Name != "engine" {
		t.Fatalf("tab moved to %s, want engine", f.fields[f.focus].p.Name)
	}
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyCtrlU})
	for _, r := range "me 1" {
		f, _ = f.update(runes(string(r)))
	}
	v := f.view()
	if !strings.Contains(v, `"me 1" does not match the pattern [A-Z][A-Z0-9]*`) {
		t.Errorf("the invalid value is not explained inline:\n%s", v)
	}
	f, cmd = f.update(tea.KeyMsg{Type: tea.KeyCtrlS})
	if cmd != nil {
		if _, ok := cmd().(submitMsg); ok {
			t.Fatal("ctrl+s started the run with an invalid value")
		}
	}
	if !strings.Contains(f.view(), "1 value(s) need fixing") {
		t.Errorf("the refusal is not said:\n%s", f.view())
	}
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyCtrlU})
	for _, r := range "ME2" {
		f, _ = f.update(runes(string(r)))
	}
	// The secret is typed masked.
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyTab})
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyTab})
	if f.fields[f.focus].p.Name != "token" {
		t.Fatalf("focus on %s, want token", f.fields[f.focus].p.Name)
	}
	for _, r := range "hunter2" {
		f, _ = f.update(runes(string(r)))
	}
	if strings.Contains(f.view(), "hunter2") || !strings.Contains(f.view(), "•••••••") {
		t.Errorf("the secret is echoed or not masked:\n%s", f.view())
	}
	_, cmd = f.update(tea.KeyMsg{Type: tea.KeyCtrlS})
	if cmd == nil {
		t.Fatal("ctrl+s with valid values did nothing")
	}
	msg, ok := cmd().(submitMsg)
	if !ok {
		t.Fatalf("ctrl+s gave %T, want submitMsg", cmd())
	}
	if msg.values["engine"] != "ME2" || msg.values["workdir"] != "/srv/drill" || msg.values["token"] != "hunter2" || msg.values["lines"] != "3" {
		t.Errorf("submitted %v", msg.values)
	}
}

func TestTUIFormListParameter(t *testing.T) {
	rb, err := runbook.Parse("l.yaml", []byte(`schema: drillbook/v1
id: list-param
title: List parameter
params:
  - {name: engines, type: list, default: [ME1], pattern: "ME[0-9]+", description: engines to restore}
steps:
  - {id: s, title: S, manual: do it}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	f := newForm(testCommon(80, 24, &now), rb, nil)
	if got := f.fields[0].in.Value(); got != "ME1" {
		t.Fatalf("list default shown as %q", got)
	}
	for _, r := range ",ME2,XX" {
		f, _ = f.update(runes(string(r)))
	}
	if !strings.Contains(f.view(), `"XX" does not match`) {
		t.Errorf("a bad list item is not explained:\n%s", f.view())
	}
	for range 3 {
		f, _ = f.update(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	f, cmd := f.update(tea.KeyMsg{Type: tea.KeyEnter})
	if cmd == nil {
		t.Fatalf("enter on the last field did not submit:\n%s", f.view())
	}
	if msg, ok := cmd().(submitMsg); !ok || msg.values["engines"] != "ME1,ME2" {
		t.Errorf("submitted %#v", cmd())
	}
}

func TestTUIPaneKeepsTail(t *testing.T) {
	p := newPane(100)
	var batch []runbook.OutputLine
	for i := 1; i <= 250_000; i++ {
		batch = append(batch, runbook.OutputLine{Stream: runbook.Stdout, Text: fmt.Sprintf("line %d", i)})
		if len(batch) == 30_000 {
			p.addOutput(batch)
			batch = batch[:0]
		}
	}
	p.addOutput(batch)
	if p.total != 250_000 || p.n != 100 {
		t.Fatalf("total %d kept %d, want 250000 and 100", p.total, p.n)
	}
	now := t0
	st := testCommon(80, 24, &now).st
	v, _ := p.view(st, 40, 3, false)
	if want := "  line 249998\n  line 249999\n  line 250000"; v != want {
		t.Errorf("tail view = %q, want %q", v, want)
	}
	p.scroll(10, 3)
	if v, _ := p.view(st, 40, 1, false); v != "  line 249990" || p.following() {
		t.Errorf("scrolled view = %q (following %v)", v, p.following())
	}
	p.add("new", lineOut)
	if v, _ := p.view(st, 40, 1, false); v != "  line 249990" {
		t.Errorf("a new line moved the scrolled view: %q", v)
	}
	p.follow()
	if v, _ := p.view(st, 40, 1, false); v != "  new" {
		t.Errorf("follow shows %q", v)
	}
}

func TestTUICleanControlSequences(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                    "plain",
		"\x1b[31mred\x1b[0m":       "red",
		"a\tb":                     "a    b",
		"clear\x1b[2J\x1b[Hscreen": "clearscreen",
		"bell\a":                   "bell?",
		"bad \xff utf8":            "bad ? utf8",
		"csi \u009b2J c1":          "csi ?2J c1",
		"é ü are text":             "é ü are text",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTUISplitArgs(t *testing.T) {
	for in, want := range map[string]string{
		`ls -l`:                  "ls|-l",
		`echo "a b" 'c d' e\ f`:  "echo|a b|c d|e f",
		`rm -rf "$HOME"; reboot`: "rm|-rf|$HOME;|reboot",
		`  spaced   out `:        "spaced|out",
	} {
		got, err := splitArgs(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitArgs(`echo "open`); err == nil {
		t.Error("an open quote was accepted")
	}
}

func TestTUIFrontendNeverBlocksAfterClose(t *testing.T) {
	f := NewFrontend()
	done := make(chan struct{})
	go func() {
		for range 1000 {
			f.Update(runbook.Update{Status: runbook.RunRunning})
		}
		close(done)
	}()
	// Close only once the queue is full, so the runner is blocked on it.
	deadline := time.Now().Add(5 * time.Second)
	for len(f.ch) < cap(f.ch) {
		if time.Now().After(deadline) {
			t.Fatalf("the queue holds %d updates, never %d", len(f.ch), cap(f.ch))
		}
		runtime.Gosched()
	}
	f.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Update blocked after Close")
	}
}

// BenchmarkTUIFlood measures what one 33 ms batch of a flooding command
// costs the screen: taking in 30,000 lines and drawing the view.
func BenchmarkTUIFlood(b *testing.B) {
	now := t0
	c := testCommon(120, 40, &now)
	v := newRunView(c, RunSpec{RunID: "bench", Title: "flood", Target: "training", Simulated: true, Started: t0})
	batch := make([]runbook.OutputLine, 30_000)
	for i := range batch {
		batch[i] = runbook.OutputLine{Stream: runbook.Stdout, Text: fmt.Sprintf("%d some output of a busy command", i)}
	}
	b.ResetTimer()
	for range b.N {
		v.apply(runbook.Update{Batch: &runbook.Batch{ID: 1, Step: "flood", Output: batch}})
		_ = v.view()
	}
}

// quickMsgs runs a command and the commands of a batch, keeping the
// messages that come at once (filter results) and dropping timers (cursor
// blinks).
func quickMsgs(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(100 * time.Millisecond):
		return nil
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, quickMsgs(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func TestTUIAppResize(t *testing.T) {
	now := t0
	for _, a := range []*App{
		NewHome(Options{NoColor: true, Now: func() time.Time { return now }}, testHome(t)),
		NewRun(Options{NoColor: true, Now: func() time.Time { return now }}, NewFrontend(), RunSpec{RunID: "r", Title: "t", Target: "prod", Started: t0}),
	} {
		for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}, {81, 30}, {200, 50}} {
			a.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			checkSize(t, a.View(), sz.w, sz.h)
		}
	}
	real := NewRun(Options{NoColor: true, Now: func() time.Time { return now }}, NewFrontend(), RunSpec{RunID: "r", Title: "t", Target: "prod-cell", Started: t0})
	if v := real.View(); strings.Contains(v, "SIMULATED") || !strings.Contains(v, " target prod-cell ") {
		t.Errorf("a real target is not shown as such:\n%s", v)
	}
}

// TestTUIQuitWhilePreparingReleasesTarget quits (ctrl+c) while the target
// is being prepared, and while the session is being started: the program
// stops at once, so the command's result never reaches Update, yet Close
// still releases the target (a simulated estate's servers) and the session.
func TestTUIQuitWhilePreparingReleasesTarget(t *testing.T) {
	now := t0
	opts := Options{NoColor: true, Now: func() time.Time { return now }}
	var released []string
	prepared := func() *Prepared {
		return &Prepared{Close: func() error { released = append(released, "target"); return nil }}
	}

	t.Run("preparing", func(t *testing.T) {
		released = nil
		h := testHome(t)
		// The target comes up just as the operator quits.
		h.Prepare = func(ctx context.Context, _ string, rb *runbook.Runbook) (*Prepared, error) {
			<-ctx.Done()
			return prepared(), nil
		}
		a := NewHome(opts, h)
		_, cmd := a.Update(tea.KeyMsg{Type: tea.KeyEnter})
		if cmd == nil {
			t.Fatal("enter on the picker prepared nothing")
		}
		go cmd() // the program's goroutine; its message is never read
		if _, q := a.Update(tea.KeyMsg{Type: tea.KeyCtrlC}); q == nil || q() != tea.Quit() {
			t.Fatal("ctrl+c while preparing did not quit")
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(released, ",") != "target" {
			t.Errorf("released %q, want the target once", released)
		}
	})

	t.Run("starting", func(t *testing.T) {
		released = nil
		h := testHome(t)
		begin := make(chan struct{})
		h.Prepare = func(context.Context, string, *runbook.Runbook) (*Prepared, error) {
			p := prepared()
			p.Start = func(map[string]string, runbook.Purpose, *Frontend) (RunSpec, error) {
				<-begin
				return RunSpec{Close: func() error { released = append(released, "session"); return nil }}, nil
			}
			return p, nil
		}
		a := NewHome(opts, h)
		_, cmd := a.Update(tea.KeyMsg{Type: tea.KeyEnter})
		a.Update(cmd())
		_, cmd = a.Update(submitMsg{})
		if cmd == nil {
			t.Fatal("submitting the form started nothing")
		}
		go cmd()
		a.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
		close(begin)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(released, ",") != "session,target" {
			t.Errorf("released %q, want the session, then the target", released)
		}
	})
}

// TestTUIFormPurpose checks the run's purpose in the form: it starts at
// the target's default, ctrl+p cycles incident, drill, routine, the form
// says which is chosen, and the run starts with it.
func TestTUIFormPurpose(t *testing.T) {
	now := t0
	f := newForm(testCommon(80, 24, &now), loadTestRunbook(t), map[string]string{"workdir": "/srv/drill"})
	if f.purpose != runbook.PurposeDrill || !strings.Contains(f.view(), "purpose: drill (ctrl+p: incident, drill or routine") {
		t.Fatalf("the form does not offer drill first:\n%s", f.view())
	}
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyCtrlP})
	if !strings.Contains(f.view(), "purpose: routine") {
		t.Errorf("ctrl+p did not move on to routine:\n%s", f.view())
	}
	f, _ = f.update(tea.KeyMsg{Type: tea.KeyCtrlP})
	_, cmd := f.update(tea.KeyMsg{Type: tea.KeyCtrlS})
	if msg, ok := cmd().(submitMsg); !ok || msg.purpose != runbook.PurposeIncident {
		t.Errorf("the run starts with %+v, want purpose incident", cmd())
	}
}
