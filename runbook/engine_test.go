package runbook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testSpecs are the operations the engine tests use: a shell-like
// operation and a destructive one.
func testSpecs() []OpSpec {
	return []OpSpec{
		{Name: "shell.run", Args: []ArgSpec{{Name: "argv", Kind: ArgList, Required: true}, {Name: "timeout", Kind: ArgDuration}, {Name: "interactive", Kind: ArgBool}}},
		{Name: "test.check", ReadOnly: true, Args: []ArgSpec{{Name: "what", Kind: ArgString}}},
		{Name: "test.wipe", Destructive: true, Args: []ArgSpec{{Name: "target", Kind: ArgString, Required: true}}},
		{Name: "test.find", Args: []ArgSpec{{Name: "engine", Kind: ArgString, Required: true}}},
	}
}

// TestEngineGolden runs each testdata/engine/*.txtar: the runbook in
// runbook.yaml, the inputs in script, and compares the events the engine
// emits with the golden section. Refresh with go test ./runbook -update.
//
// Script lines:
//
//	start | resume
//	done ID [fail MSG...] [timeout] [var K=V]
//	armed ID | watch ID success|failure|timeout [TEXT...]
//	timer ID
//	confirm STEP TOKEN | ack STEP | reconcile STEP succeeded|failed|rerun
//	deviate KIND STEP-OR-TARGET REASON...   (REASON "-" means none)
//	note STEP|- TEXT...   (- is a note on the run)
//	param K=V   (before start: a parameter value; lists comma-separated)
func TestEngineGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/engine/*.txtar")
	if len(files) < 9 {
		t.Fatalf("found %d engine transcripts, want at least 9", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, sec := loadTranscript(t, file)
			got := runScript(t, sec["runbook.yaml"], string(sec["script"]))
			if *update {
				for i := range ar.Files {
					if ar.Files[i].Name == "events" {
						ar.Files[i].Data = []byte(got)
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := string(sec["events"]); got != want {
				t.Errorf("events differ from %s (run with -update to accept):\n%s", file, lineDiff(want, got))
			}
		})
	}
}

// loadTranscript reads a transcript and its sections by name.
func loadTranscript(t *testing.T, file string) (*txtar.Archive, map[string][]byte) {
	t.Helper()
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sec := map[string][]byte{}
	for _, f := range ar.Files {
		sec[f.Name] = f.Data
	}
	return ar, sec
}

func runScript(t *testing.T, yml []byte, script string) string {
	t.Helper()
	return playScript(t, yml, script).transcript
}

// played is a script run through an engine: its transcript, and what a
// replay needs (the engine's construction and every input, in order).
type played struct {
	transcript string
	rb         *Runbook
	vals       ParamValues
	inputs     []Input
	eng        *Engine
}

func playScript(t *testing.T, yml []byte, script string) played {
	t.Helper()
	rb, err := Parse("runbook.yaml", yml)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if probs := Validate(rb, testSpecs()); probs != nil {
		t.Fatalf("validate: %v", probs)
	}
	given := map[string]string{}
	var eng *Engine
	var p played
	clock := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var out strings.Builder
	seq := 0
	for lineNo, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "param" {
			k, v, _ := strings.Cut(f[1], "=")
			given[k] = v
			continue
		}
		if eng == nil {
			vals, err := ResolveParams(rb, given)
			if err != nil {
				t.Fatalf("params: %v", err)
			}
			eng, _ = NewEngine(rb, testSpecs(), vals)
			p.rb, p.vals, p.eng = rb, vals, eng
		}
		clock = clock.Add(time.Second)
		in := Input{Time: clock}
		switch f[0] {
		case "start":
			in.Type = InStart
		case "resume":
			in.Type = InResume
		case "done":
			in.Type, in.ID = InCallDone, atoi(t, f[1])
			in.Result = &Result{ExitCode: 0, Summary: "ok"}
			for i := 2; i < len(f); i++ {
				switch f[i] {
				case "fail":
					in.Error = strings.Join(f[i+1:], " ")
					in.Result.ExitCode = 1
					i = len(f)
				case "timeout":
					in.TimedOut, in.Error = true, "timed out"
				case "var":
					k, v, _ := strings.Cut(f[i+1], "=")
					in.Result.Vars = map[string]string{k: v}
					i++
				}
			}
		case "armed":
			in.Type, in.ID = InWatchArmed, atoi(t, f[1])
			in.Positions = []LogPosition{{Path: "/logs/SystemOut.log", Inode: 7, Offset: 100}}
		case "watch":
			in.Type, in.ID = InWatchDone, atoi(t, f[1])
			text := strings.Join(f[3:], " ")
			switch f[2] {
			case "success":
				in.Outcome = &WatchOutcome{Kind: MatchSuccess, Line: &LogLine{File: "/logs/SystemOut.log", Text: text, Kind: MatchSuccess}}
			case "failure":
				in.Outcome = &WatchOutcome{Kind: MatchFailure, Line: &LogLine{File: "/logs/SystemOut.log", Text: text, Kind: MatchFailure}}
			case "timeout":
				in.Outcome, in.TimedOut = &WatchOutcome{}, true
			}
		case "timer":
			in.Type, in.ID = InTimer, atoi(t, f[1])
		case "confirm":
			in.Type, in.Step, in.Token = InConfirm, f[1], f[2]
		case "ack":
			in.Type, in.Step = InAck, f[1]
		case "reconcile":
			in.Type, in.Step, in.Reconciled = InReconcile, f[1], StepState(f[2])
		case "deviate":
			in.Type, in.Deviation = InDeviate, Deviation(f[1])
			in.Target = f[2]
			in.Reason = strings.Join(f[3:], " ")
			if in.Reason == "-" {
				in.Reason = ""
			}
			if in.Deviation == DevAdhoc {
				in.Argv = f[3:]
				in.Reason = "check the store"
			}
		case "note":
			in.Type, in.Note = InNote, strings.Join(f[2:], " ")
			if f[1] != "-" {
				in.Step = f[1]
			}
		default:
			t.Fatalf("script line %d: unknown command %q", lineNo+1, f[0])
		}
		fmt.Fprintf(&out, "> %s\n", line)
		p.inputs = append(p.inputs, in)
		for _, ev := range eng.Handle(in) {
			seq++
			fmt.Fprintf(&out, "%s\n", formatEvent(ev))
		}
	}
	out.WriteString(stateOf(eng))
	p.transcript = out.String()
	return p
}

// stateOf renders the run's status and every step's state and attempts.
func stateOf(eng *Engine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "= status %s\n", eng.Status())
	for _, s := range eng.Steps() {
		fmt.Fprintf(&b, "= %s %s attempts=%d\n", s.Key, s.State, s.Attempt)
	}
	return b.String()
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// formatEvent renders the fields of an event that a reader of a transcript
// cares about, in a fixed order.
func formatEvent(ev Event) string {
	var b strings.Builder
	b.WriteString(string(ev.Type))
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	if ev.Step != "" {
		kv("step", ev.Step)
	}
	if ev.State != "" {
		kv("state", ev.State)
	}
	if ev.Attempt != 0 {
		kv("attempt", ev.Attempt)
	}
	if ev.ID != 0 {
		kv("id", ev.ID)
	}
	if ev.Phase != "" {
		kv("phase", ev.Phase)
	}
	if ev.Op != "" {
		kv("op", ev.Op)
	}
	if len(ev.Args) > 0 {
		keys := make([]string, 0, len(ev.Args))
		for k := range ev.Args {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			kv("arg."+k, fmt.Sprintf("%q", fmt.Sprint(ev.Args[k])))
		}
	}
	if ev.Watch != nil {
		kv("watch", fmt.Sprintf("%q", fmt.Sprintf("%v success=%v failure=%v engine=%s timeout=%s", ev.Watch.Files, ev.Watch.Success, ev.Watch.Failure, ev.Watch.Engine, ev.Watch.Timeout)))
	}
	if len(ev.Positions) > 0 {
		kv("from", fmt.Sprintf("%s@%d", ev.Positions[0].Path, ev.Positions[0].Offset))
	}
	if ev.After != 0 {
		kv("after", ev.After)
	}
	if ev.Ask != "" {
		kv("ask", ev.Ask)
	}
	if ev.Token != "" {
		kv("token", ev.Token)
	}
	if ev.Deviation != "" {
		kv("deviation", ev.Deviation)
	}
	if ev.Target != "" {
		kv("target", ev.Target)
	}
	if ev.Status != "" {
		kv("status", ev.Status)
	}
	if ev.Section != "" {
		kv("section", ev.Section)
	}
	if ev.TimedOut {
		kv("timed_out", true)
	}
	if ev.Error != "" {
		kv("error", fmt.Sprintf("%q", ev.Error))
	}
	if ev.Line != nil {
		kv("line", fmt.Sprintf("%q", ev.Line.Text))
	}
	if ev.Reason != "" {
		kv("reason", fmt.Sprintf("%q", ev.Reason))
	}
	if ev.Text != "" && ev.Type == EvNote {
		kv("text", fmt.Sprintf("%q", ev.Text))
	}
	if ev.Title != "" && ev.Type == EvStepStarted {
		kv("title", fmt.Sprintf("%q", ev.Title))
	}
	return b.String()
}

// lineDiff shows the first lines that differ, with context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b bytes.Buffer
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}

// TestReplayRebuildsState checks the property resume relies on: the
// inputs of each transcript, written to JSON as the journal writes them and
// read back, rebuild in a fresh engine the same status, step states and
// attempts, and the next call gets a new id.
func TestReplayRebuildsState(t *testing.T) {
	files, _ := filepath.Glob("testdata/engine/*.txtar")
	for _, file := range files {
		_, sec := loadTranscript(t, file)
		orig := playScript(t, sec["runbook.yaml"], string(sec["script"]))
		if orig.eng == nil {
			t.Fatalf("%s: the script gives no input", file)
		}
		replay, _ := NewEngine(orig.rb, testSpecs(), orig.vals)
		for _, in := range orig.inputs {
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var back Input
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			replay.Handle(back)
		}
		if want, got := stateOf(orig.eng), stateOf(replay); want != got {
			t.Errorf("%s: the replayed journal gives another state:\n%s", file, lineDiff(want, got))
		}
		if orig.eng.nextID != replay.nextID {
			t.Errorf("%s: the replayed engine would give the next call id %d, the original %d", file, replay.nextID+1, orig.eng.nextID+1)
		}
	}
}
