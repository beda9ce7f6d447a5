package runbook

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser and the validator, and a
// valid runbook to the engine through starts, resumes and finished calls: any
// input gives a runbook or problems, never a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../runbooks/*.yaml")
	more, _ := filepath.Glob("testdata/engine/*.txtar")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("schema: drillbook/v1\nsteps: [{id: a, wait: {log: [x], success: ['('], timeout: 1s}}]"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("parse returned %T, not Problems", err)
			}
			// validate goes on after a value of the wrong type: the
			// runbook as far as it decoded is validated too.
			if part, _ := parseRunbook("fuzz.yaml", data); part != nil {
				_ = Validate(part, testSpecs())
			}
			return
		}
		probs := Validate(rb, testSpecs())
		if probs != nil {
			return
		}
		vals, err := ResolveParams(rb, map[string]string{})
		if err != nil {
			return
		}
		e, _ := NewEngine(rb, testSpecs(), vals)
		e.Handle(Input{Type: InStart})
		_ = e.Preview(NewRegistry())
		// Stop and resume with each call in flight, then let it succeed.
		for i := 0; i < 8 && !e.Status().Final(); i++ {
			e.Handle(Input{Type: InResume})
			e.Handle(Input{Type: InCallDone, ID: e.nextID, Result: &Result{Summary: "ok"}})
		}
	})
}

// FuzzReadJournal feeds arbitrary bytes as a journal: it is read or
// refused with an error, never a panic.
func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"seq":1,"meta":{"run_id":"r"}}` + "\n" + `{"seq":2,"in":{"type":"start"}}` + "\n"))
	f.Add([]byte(`{"seq":1,"meta":{"run_id":"r"}}` + "\n" + `{"seq":2,"ev":{"type":"step.sta`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), JournalFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		jd, err := ReadJournal(path)
		if err != nil {
			return
		}
		_ = BuildReport(jd)
	})
}
