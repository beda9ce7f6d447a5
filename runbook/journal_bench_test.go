package runbook

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkJournalChecksums measures journal events per second with and
// without the chained checksums, each event appended alone (unsynced, so the
// encoding and the checksum are what is measured) and each synced to disk
// as the runner does before an effect.
func BenchmarkJournalChecksums(b *testing.B) {
	ev := Event{Type: EvStepSucceeded, Step: "flush-start[2]", StepID: "flush-start", State: StateSucceeded, Attempt: 1, Title: "Start ME2 in FLUSH mode"}
	at := time.Now()
	for _, sync := range []bool{false, true} {
		for _, checked := range []bool{false, true} {
			name := "unchecked"
			if checked {
				name = "checked"
			}
			if sync {
				name += "/synced"
			}
			b.Run(name, func(b *testing.B) {
				j, err := createJournal(b.TempDir(), []string{"hunter2"}, checked)
				if err != nil {
					b.Fatal(err)
				}
				defer j.Close()
				b.ResetTimer()
				for range b.N {
					e := ev
					if _, err := j.Append(Record{Time: at, Ev: &e}, sync); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkRunnerFlood1M runs a step that prints 1,000,000 lines through a
// real runner and journal, with the running output synced every 250 ms
// (the default) and never between inputs, and reports the step's time.
func BenchmarkRunnerFlood1M(b *testing.B) {
	rb, err := Parse("flood.yaml", []byte("schema: drillbook/v1\nid: flood\ntitle: Flood\nsteps:\n  - id: flood\n    action: test.flood\n"))
	if err != nil {
		b.Fatal(err)
	}
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = "line " + strconv.Itoa(i) + " of a flood of output that a step prints as fast as it can"
	}
	reg := NewRegistry(funcOp{spec: OpSpec{Name: "test.flood"}, run: func(ctx context.Context, c Call, out Output) (Result, error) {
		for i := range 1000000 {
			out.Line(Stdout, lines[i%len(lines)])
		}
		return Result{ExitCode: 0}, nil
	}})
	for _, c := range []struct {
		name string
		sync time.Duration
	}{{"sync-250ms", 0}, {"no-sync-between-inputs", -1}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				sess, err := Start(NewSession{StateDir: b.TempDir(), Runbook: rb, Target: &Target{Name: TrainingTarget}, Params: ParamValues{},
					Specs: reg.Specs(), Operator: "bench", Now: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				r := NewRunner(RunnerConfig{Engine: sess.Engine, Registry: reg, Journal: sess.Journal, Frontend: discard{}, SyncEvery: c.sync})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				start := time.Now()
				out, err := r.Run(ctx, sess.First...)
				took := time.Since(start)
				total += took
				cancel()
				if err != nil || out.Status != RunSucceeded {
					b.Fatalf("%s: %v", out.Status, err)
				}
				sess.Close()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "run-ms")
		})
	}
}
