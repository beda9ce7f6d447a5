package was

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkWsadminSessions runs the restore of two engines on four
// servers, the backup and the HA drill on the training cell through the
// built binary, with wsadmin sessions and with one wsadmin per call
// (DRILLBOOK_WAS_SESSION=off), and reports for each the wsadmin starts,
// the calls, and the run's wall time. The cell's other delays are zero and
// its JVM start is modelled at 200 ms, a hundredth of the 20 s of a real
// host: starts-per-run × 20 s is the JVM time such a host would spend
// (reported as jvm-s-at-20s), the rest of the wall time does not scale.
func BenchmarkWsadminSessions(b *testing.B) {
	bin := drillbookBinary(b)
	const jvm = 200 * time.Millisecond
	runs := []struct{ name, runbook string }{
		{"restore", "was-sib-restore-me"},
		{"backup", "was-sib-backup"},
		{"ha-drill", "was-sib-ha-failover-drill"},
	}
	for _, r := range runs {
		for _, mode := range []string{"on", "off"} {
			name := r.name + "/session"
			if mode == "off" {
				name = r.name + "/per-call"
			}
			b.Run(name, func(b *testing.B) {
				var starts, calls int
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					state := b.TempDir()
					cmd := exec.Command(bin, "run", r.runbook, "--plain", "--target", "training", "--yes")
					cmd.Env = append(os.Environ(), "DRILLBOOK_STATE_DIR="+state, DelayScaleEnv+"=0", "NO_COLOR=1",
						JVMStartEnv+"="+jvm.String(), SessionEnv+"="+mode)
					// Build the cell (and its first backup) outside the
					// measured run.
					prep := exec.Command(bin, "plan", r.runbook, "--target", "training")
					prep.Env = cmd.Env
					prep.CombinedOutput()
					b.StartTimer()
					out, err := cmd.CombinedOutput()
					b.StopTimer()
					if err != nil {
						b.Fatalf("%v\n%s", err, out)
					}
					starts = strings.Count(string(out), "starting wsadmin session ") + strings.Count(string(out), "starting a wsadmin for ")
					raw, err := os.ReadFile(filepath.Join(state, "training", "was", "cell", "cell.json"))
					if err != nil {
						b.Fatal(err)
					}
					var st struct {
						Calls int `json:"wsadmin_calls"`
					}
					if err := json.Unmarshal(raw, &st); err != nil {
						b.Fatal(err)
					}
					calls = st.Calls
				}
				b.ReportMetric(float64(starts), "wsadmin-starts/run")
				b.ReportMetric(float64(calls), "wsadmin-calls/cell")
				b.ReportMetric(float64(starts)*20, "jvm-s-at-20s/run")
			})
		}
	}
}
