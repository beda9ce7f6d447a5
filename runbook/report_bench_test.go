package runbook

import (
	"io"
	"testing"
)

// BenchmarkReport measures building the report of a real WebSphere drill
// (33 step instances, a 107 KB journal) and rendering it in each format.
func BenchmarkReport(b *testing.B) {
	jd, err := ReadJournal("testdata/reports/was-flush-fails.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			BuildReport(jd)
		}
	})
	rep := BuildReport(jd)
	for suffix, write := range reportFormats() {
		b.Run("write"+suffix, func(b *testing.B) {
			for b.Loop() {
				if err := write(rep, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
