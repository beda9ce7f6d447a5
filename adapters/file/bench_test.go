package file

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCopy300MB copies a 300 MB tree (three 90 MB files and 300 files
// of 100 KB, like a file store with its logs) with hashing and fsync, and
// reports MB/s.
func BenchmarkCopy300MB(b *testing.B) {
	base := b.TempDir()
	src := filepath.Join(base, "src")
	big := make([]byte, 90<<20)
	rand.Read(big)
	var total int64
	for i := range 3 {
		p := filepath.Join(src, "store", fmt.Sprintf("big%d.dat", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, big, 0o640); err != nil {
			b.Fatal(err)
		}
		total += int64(len(big))
	}
	for i := range 300 {
		p := filepath.Join(src, "log", fmt.Sprintf("%03d", i/30), fmt.Sprintf("f%03d.log", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, big[i*100<<10:(i+1)*100<<10], 0o640); err != nil {
			b.Fatal(err)
		}
		total += 100 << 10
	}
	b.SetBytes(total)
	n := 0
	for b.Loop() {
		dst := filepath.Join(base, fmt.Sprintf("dst%d", n))
		n++
		m, err := Copy(context.Background(), src, dst, CopyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if m.Bytes != total {
			b.Fatalf("copied %d bytes, want %d", m.Bytes, total)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
}
