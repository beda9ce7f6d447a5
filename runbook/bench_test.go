package runbook

import (
	"testing"
	"time"
)

// BenchmarkJournalAppendSync measures journal events per second with each
// event synced to disk, as the runner does before every effect.
func BenchmarkJournalAppendSync(b *testing.B) {
	j, err := CreateJournal(b.TempDir(), []string{"hunter2"})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ev := Event{Type: EvStepSucceeded, Step: "flush-start[2]", StepID: "flush-start", State: StateSucceeded, Attempt: 1, Title: "Start ME2 in FLUSH mode"}
	at := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := ev
		if _, err := j.Append(Record{Time: at, Ev: &e}, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParseValidate measures parsing and validating the shipped demo
// runbook.
func BenchmarkParseValidate(b *testing.B) {
	rb, err := ParseFile("../runbooks/demo-shell.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		r, err := Parse("demo.yaml", rb.Raw)
		if err != nil {
			b.Fatal(err)
		}
		if p := Validate(r, testSpecs()); p != nil {
			b.Fatal(p)
		}
	}
}
