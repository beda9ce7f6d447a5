package messagesight

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/drillbook/drillbook/runbook"
)

// BenchmarkStatus measures one messagesight.status call (secret resolved
// from a file, Basic auth, a new connection) against the emulator.
func BenchmarkStatus(b *testing.B) {
	r := newRig(b)
	o := r.ops["messagesight.status"]
	call := runbook.Call{Op: "messagesight.status", Args: runbook.Args{}}
	out := runbook.OutputFunc(func(runbook.Stream, string) {})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Run(context.Background(), call, out); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStore writes a store of 200 files of 64 KiB (12.5 MiB) in ten
// queues.
func benchStore(b *testing.B) string {
	dir := b.TempDir()
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i)
	}
	for i := 0; i < 200; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("q%02d", i%10))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("m%03d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkDigestTree measures hashing a store of 200 files of 64 KiB
// (12.5 MiB), as sealing a backup set and checking it against its manifest
// do.
func BenchmarkDigestTree(b *testing.B) {
	dir := benchStore(b)
	b.SetBytes(200 * 64 << 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DigestTree(context.Background(), dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPreflightStoreCheck measures the preflight check of the same
// store (messagesight.check-store): it lists and sizes the files without
// reading them, so it stays cheap for a store of gigabytes.
func BenchmarkPreflightStoreCheck(b *testing.B) {
	dir := benchStore(b)
	o := checkStoreOp()
	cfg := Config{Nodes: map[string]Server{"ms1": {URL: "https://127.0.0.1:1", StoreDir: dir}}}
	call := runbook.Call{Op: "messagesight.check-store", Args: runbook.Args{"node": "ms1"}}
	out := runbook.OutputFunc(func(runbook.Stream, string) {})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.run(context.Background(), cfg, call, out); err != nil {
			b.Fatal(err)
		}
	}
}
