package proc

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// BenchmarkStream1MLines runs commands that print 1,000,000 lines as fast as
// they can three ways per iteration: stdout on /dev/null, stdout on a pipe
// that is read and thrown away, and through Run with every line handed to an
// Output. It reports the wall-time ratios of Run to the first two
// ("x-devnull", goal at most 1.2; "x-pipe", what drillbook's line handling
// costs on top of the pipe any capture needs).
func BenchmarkStream1MLines(b *testing.B) {
	cmds := []struct {
		name string
		argv []string
	}{
		{"seq", []string{"seq", "1", "1000000"}},
		{"awk", []string{"awk", `BEGIN { for (i = 0; i < 1000000; i++) print "CWSIP0783I: Messaging engine ME1 started, line", i }`}},
		{"yes", []string{"sh", "-c", "yes 'ADMU0116I: Tool information is being logged in file SystemOut.log' | head -n 1000000"}},
	}
	for _, c := range cmds {
		b.Run(c.name, func(b *testing.B) {
			devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			var n atomic.Int64
			out := runbook.OutputFunc(func(s runbook.Stream, text string) { n.Add(1) })
			var plain, piped, streamed time.Duration
			for b.Loop() {
				t0 := time.Now()
				cmd := exec.Command(c.argv[0], c.argv[1:]...)
				cmd.Stdout = devnull
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				plain += time.Since(t0)

				t0 = time.Now()
				cmd = exec.Command(c.argv[0], c.argv[1:]...)
				r, err := cmd.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
				piped += time.Since(t0)

				n.Store(0)
				t0 = time.Now()
				if _, err := Run(context.Background(), Spec{Argv: c.argv, Out: out}); err != nil {
					b.Fatal(err)
				}
				streamed += time.Since(t0)
				if got := n.Load(); got != 1000002 { // and two info lines
					b.Fatalf("%d lines", got)
				}
			}
			b.ReportMetric(float64(streamed)/float64(plain), "x-devnull")
			b.ReportMetric(float64(streamed)/float64(piped), "x-pipe")
			b.ReportMetric(float64(streamed.Microseconds())/1000/float64(b.N), "ms-run/op")
		})
	}
}
