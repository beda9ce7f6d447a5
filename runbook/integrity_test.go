package runbook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// funcOp is an operation whose Run is a function: the runner tests' stand-in
// for an adapter.
type funcOp struct {
	spec OpSpec
	run  func(ctx context.Context, c Call, out Output) (Result, error)
}

func (o funcOp) Spec() OpSpec { return o.spec }

func (o funcOp) Plan(c Call) (Plan, error) {
	return Plan{Host: "localhost", Detail: o.spec.Name + " " + c.Args.Display(o.spec)}, nil
}

func (o funcOp) Run(ctx context.Context, c Call, out Output) (Result, error) {
	return o.run(ctx, c, out)
}

// answering is a frontend that confirms destructive steps and ticks off
// manual ones, as plain mode with --yes does.
type answering struct {
	r *Runner
}

func (a *answering) Update(u Update) {
	ev := u.Event
	if ev == nil {
		return
	}
	switch {
	case ev.Type == EvConfirmRequest:
		a.r.Send(Input{Type: InConfirm, Step: ev.Step, Token: ev.Token})
	case ev.Type == EvOperatorRequest && ev.Ask == AskManual:
		a.r.Send(Input{Type: InAck, Step: ev.Step, Note: "done"})
	}
}

const recordedRunbook = `schema: drillbook/v1
id: recorded
title: A run to record
params:
  - {name: engines, type: list, default: [ME1, ME2]}
  - {name: password, type: secret}
steps:
  - id: stop
    title: Stop {{ .item }}
    foreach: {param: engines}
    action: test.print
    with: {what: "stop {{ .item }} with {{ .password }}"}
  - id: wipe
    title: Replace the store of ME1
    destructive: true
    confirm: ME1
    action: test.wipe
    with: {target: ME1}
    verify:
      action: test.print
      with: {what: check the store}
  - id: tell
    manual: Tell the team the store was replaced.
`

// recordJournal runs a runbook with a foreach, a destructive step, a verify
// and a manual step through the real session, runner and journal, and
// returns the run directory and the journal's bytes.
func recordJournal(t testing.TB) (string, []byte) {
	t.Helper()
	state := t.TempDir()
	rb, err := Parse("recorded.yaml", []byte(recordedRunbook))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(
		funcOp{spec: OpSpec{Name: "test.print", Args: []ArgSpec{{Name: "what", Kind: ArgString}}},
			run: func(ctx context.Context, c Call, out Output) (Result, error) {
				for i := range 3 {
					out.Line(Stdout, c.Args.String("what")+" line "+string(rune('1'+i)))
				}
				return Result{ExitCode: 0, Summary: "printed " + c.Args.String("what"), Vars: map[string]string{"n": "3"}}, nil
			}},
		funcOp{spec: OpSpec{Name: "test.wipe", Destructive: true, Args: []ArgSpec{{Name: "target", Kind: ArgString, Required: true}}},
			run: func(ctx context.Context, c Call, out Output) (Result, error) {
				out.Line(Info, "wiped "+c.Args.String("target"))
				return Result{ExitCode: -1, Summary: "wiped", Evidence: []string{"store of ME1: 0 files"}}, nil
			}},
	)
	if probs := Validate(rb, reg.Specs()); probs != nil {
		t.Fatal(probs)
	}
	vals, err := ResolveParams(rb, map[string]string{"password": "s3cr3t-pw"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	sess, err := Start(NewSession{StateDir: state, Runbook: rb, Target: &Target{Name: TrainingTarget, Simulated: true},
		Params: vals, Specs: reg.Specs(), Operator: "tester", Host: "jump1", Version: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	fe := &answering{}
	r := NewRunner(RunnerConfig{Engine: sess.Engine, Registry: reg, Journal: sess.Journal, Frontend: fe, Secrets: sess.Secrets})
	fe.r = r
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.Run(ctx, sess.First...)
	if err != nil || out.Status != RunSucceeded {
		t.Fatalf("the recorded run ended %s: %v", out.Status, err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(sess.Dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("s3cr3t-pw")) {
		t.Fatal("the secret reached the journal")
	}
	return sess.Dir, b
}

// TestJournalEveryBitFlipIsRefused flips every bit of every record of a
// real run's journal, one at a time, and reads it: each damaged journal is
// refused with an error naming the line of the flip, except a flip in the
// last line, which may also be read as that line torn (cut off, never
// trusted). No flip ever yields a record that differs from the original.
func TestJournalEveryBitFlipIsRefused(t *testing.T) {
	_, orig := recordJournal(t)
	want, err := readJournal(bytes.NewReader(orig), int64(len(orig)), "journal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want.Unchecked || want.Torn || len(want.Records) < 30 {
		t.Fatalf("the recorded journal: unchecked=%v torn=%v records=%d; want a checked one of 30 records or more", want.Unchecked, want.Torn, len(want.Records))
	}
	lastLine := bytes.LastIndexByte(orig[:len(orig)-1], '\n') + 1
	lineOf := func(pos int) int { return bytes.Count(orig[:pos], []byte{'\n'}) + 1 }
	var refused, cut int
	b := make([]byte, len(orig))
	for pos := range orig {
		for bit := range 8 {
			copy(b, orig)
			b[pos] ^= 1 << bit
			jd, err := readJournal(bytes.NewReader(b), int64(len(b)), "journal.jsonl")
			if err != nil {
				var je *JournalError
				if errors.As(err, &je) && je.Line == lineOf(pos) {
					refused++
					continue
				}
				t.Fatalf("flip at byte %d bit %d (line %d): refused, but the error names another line: %v", pos, bit, lineOf(pos), err)
			}
			if pos < lastLine || !jd.Torn || len(jd.Records) != len(want.Records)-1 {
				t.Fatalf("flip at byte %d bit %d (line %d) was accepted: torn=%v, %d records", pos, bit, lineOf(pos), jd.Torn, len(jd.Records))
			}
			for i := range jd.Records {
				if !sameRecord(jd.Records[i], want.Records[i]) {
					t.Fatalf("flip at byte %d bit %d: record %d reads differently", pos, bit, i+1)
				}
			}
			cut++
		}
	}
	t.Logf("%d bytes, %d records, %d flips: %d refused naming their line, %d read as a torn last record (cut off)", len(orig), len(want.Records), 8*len(orig), refused, cut)
	if refused+cut != 8*len(orig) {
		t.Fatalf("%d + %d outcomes for %d flips", refused, cut, 8*len(orig))
	}
}

func sameRecord(a, b Record) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestJournalDamageThatStaysJSONIsRefused edits a real journal in ways that
// leave every line valid JSON, as the hostile tests did: a duplicated
// record, two records swapped, a record removed, the confirmation's token
// changed with its checksum, a record with its checksum removed. Each is
// refused and the error names the line.
func TestJournalDamageThatStaysJSONIsRefused(t *testing.T) {
	_, orig := recordJournal(t)
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	confirm := -1
	for i, l := range lines {
		if strings.Contains(l, `"type":"confirm.accepted"`) {
			confirm = i
		}
	}
	if confirm < 0 {
		t.Fatal("the recorded journal has no confirmation")
	}
	join := func(ls []string) []byte { return []byte(strings.Join(ls, "")) }
	dup := append(append(append([]string{}, lines[:5]...), lines[4]), lines[5:]...)
	swapped := append([]string{}, lines...)
	swapped[5], swapped[6] = swapped[6], swapped[5]
	removed := append(append([]string{}, lines[:5]...), lines[6:]...)
	token := append([]string{}, lines...)
	token[confirm] = strings.Replace(token[confirm], `"token":"ME1"`, `"token":"ME2"`, 1)
	stripped := append([]string{}, lines...)
	l := stripped[7]
	stripped[7] = l[:len(l)-1-sumSuffixLen] + "}\n"
	for _, c := range []struct {
		name string
		data []byte
		line string
	}{
		{"a duplicated record", join(dup), "journal.jsonl:6: "},
		{"two records swapped", join(swapped), "journal.jsonl:6: "},
		{"a record removed", join(removed), "journal.jsonl:6: "},
		{"the confirmation's token changed", join(token), "journal.jsonl:" + strconv.Itoa(confirm+1) + ": the record fails its checksum"},
		{"a checksum removed", join(stripped), "journal.jsonl:8: a record without its checksum"},
	} {
		_, err := readJournal(bytes.NewReader(c.data), int64(len(c.data)), "journal.jsonl")
		if err == nil || !strings.HasPrefix(err.Error(), c.line) {
			t.Errorf("%s: got %v, want an error starting %q", c.name, err, c.line)
		}
	}
}

// TestJournalWithoutChecksumsIsReadUnchecked reads a journal written before
// records had checksums: it is read, says so, and a resumed run goes on
// writing it unchecked, so it stays readable.
func TestJournalWithoutChecksumsIsReadUnchecked(t *testing.T) {
	dir := t.TempDir()
	old := `{"seq":1,"time":"2026-11-23T08:00:00Z","meta":{"run_id":"r1","runbook_id":"demo","started":"2026-11-23T08:00:00Z"}}` + "\n" +
		`{"seq":2,"time":"2026-11-23T08:00:00Z","in":{"type":"start","time":"2026-11-23T08:00:00Z"}}` + "\n"
	path := filepath.Join(dir, JournalFile)
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	jd, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if !jd.Unchecked || !strings.Contains(jd.Check(), "unchecked") {
		t.Fatalf("unchecked=%v check=%q", jd.Unchecked, jd.Check())
	}
	j, err := AppendJournal(dir, jd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Record{Ev: &Event{Type: EvRunResumed}}, true); err != nil {
		t.Fatal(err)
	}
	j.Close()
	jd, err = ReadJournal(path)
	if err != nil || !jd.Unchecked || len(jd.Records) != 3 {
		t.Fatalf("after a resume: %v, unchecked=%v", err, jd != nil && jd.Unchecked)
	}
}

// FuzzJournalBitFlips damages a real run's journal at two places with any
// byte pattern: it is refused, or read as the original with its last record
// torn; never read as other records.
func FuzzJournalBitFlips(f *testing.F) {
	_, orig := recordJournal(f)
	want, err := readJournal(bytes.NewReader(orig), int64(len(orig)), "journal.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(10), byte(1), uint32(0), byte(0))
	f.Add(uint32(len(orig)-2), byte(0x20), uint32(len(orig)/2), byte(0x80))
	f.Fuzz(func(t *testing.T, p1 uint32, m1 byte, p2 uint32, m2 byte) {
		b := bytes.Clone(orig)
		b[int(p1)%len(b)] ^= m1
		b[int(p2)%len(b)] ^= m2
		if bytes.Equal(b, orig) {
			return
		}
		jd, err := readJournal(bytes.NewReader(b), int64(len(b)), "journal.jsonl")
		if err != nil {
			return
		}
		if !jd.Torn || len(jd.Records) >= len(want.Records) {
			t.Fatalf("damage at %d (%#x) and %d (%#x) was accepted: torn=%v, %d records", p1, m1, p2, m2, jd.Torn, len(jd.Records))
		}
		for i := range jd.Records {
			if !sameRecord(jd.Records[i], want.Records[i]) {
				t.Fatalf("damage at %d and %d: record %d reads differently", p1, p2, i+1)
			}
		}
	})
}
