package runbook

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReportRenders checks the property the report commands rely on: any
// journal ReadJournal accepts renders in every format without an error or
// a panic, as valid JSON, well-formed XML and a whole HTML page. The seeds
// are the journals of real runs in testdata/reports and small hand-made
// ones with odd times and texts.
func FuzzReportRenders(f *testing.F) {
	files, _ := filepath.Glob("testdata/reports/*.jsonl")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"seq":1,"meta":{"run_id":"r","started":"2026-01-01T00:00:00Z"}}` + "\n" +
		`{"seq":2,"ev":{"time":"2025-01-01T00:00:00Z","type":"step.started","step":"a","attempt":1}}` + "\n" +
		`{"seq":3,"ev":{"time":"2027-01-01T00:00:00Z","type":"operator.request","step":"a","ask":"decide"}}` + "\n" +
		`{"seq":4,"ev":{"time":"2026-06-01T00:00:00Z","type":"deviation","step":"a","deviation":"jump","target":"b","reason":"\u0000<x>&\"]]>"}}` + "\n" +
		`{"seq":5,"ev":{"time":"2026-06-01T00:00:00Z","type":"note","step":"zz","text":"\u001b[31m</script>"}}` + "\n"))
	f.Add([]byte(`{"seq":1,"meta":{"run_id":"r","params":{"l":[1,"a",null],"n":1e300}}}` + "\n" +
		`{"seq":2,"ev":{"type":"call.finished","id":9}}` + "\n" +
		`{"seq":3,"ev":{"type":"run.interrupted"}}` + "\n" + `{"seq":4,"ev":{"type":"run.resumed"}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), JournalFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		jd, err := ReadJournal(path)
		if err != nil {
			return
		}
		rep := BuildReport(jd)
		for suffix, write := range reportFormats() {
			var b bytes.Buffer
			if err := write(rep, &b); err != nil {
				t.Fatalf("%s: %v", suffix, err)
			}
			out := b.Bytes()
			switch suffix {
			case ".json":
				if !json.Valid(out) {
					t.Fatalf("the JSON report is not JSON")
				}
			case ".junit.xml":
				d := xml.NewDecoder(bytes.NewReader(out))
				for {
					_, err := d.Token()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("the JUnit report is not well-formed XML: %v", err)
					}
				}
			case ".html":
				if !bytes.HasSuffix(out, []byte("</html>\n")) || bytes.Count(out, []byte("<script")) > 0 {
					t.Fatalf("the HTML report is not one whole page without a script")
				}
			case ".md":
				if !strings.HasPrefix(string(out), "# ") {
					t.Fatalf("the Markdown report has no title")
				}
			}
		}
		c := Compare(rep, rep)
		if c.Slower != nil || c.Faster != nil {
			t.Fatalf("a run compared with itself has a step that changed: %+v %+v", c.Slower, c.Faster)
		}
		_ = BuildHistory([]*Report{rep, rep}, "", "", "")
	})
}
