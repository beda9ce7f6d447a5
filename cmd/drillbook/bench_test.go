package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// benchCommand measures the wall time of a whole drillbook process.
func benchCommand(b *testing.B, args ...string) {
	state := b.TempDir()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(testBinary(), args...)
		cmd.Env = append(cmd.Environ(), "DRILLBOOK_TEST_MAIN=1", "DRILLBOOK_STATE_DIR="+state)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
}

// BenchmarkListCommand is the wall time of `drillbook list`.
func BenchmarkListCommand(b *testing.B) { benchCommand(b, "list") }

// BenchmarkValidateAllRunbooks is the wall time of `drillbook validate` over
// every shipped runbook.
func BenchmarkValidateAllRunbooks(b *testing.B) {
	files, _ := filepath.Glob("../../runbooks/*.yaml")
	if len(files) == 0 {
		b.Fatal("no shipped runbooks found")
	}
	benchCommand(b, append([]string{"validate"}, files...)...)
}
