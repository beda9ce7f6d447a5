package runbook

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reportFormats are the renderings the golden tests keep, by file suffix.
func reportFormats() map[string]func(*Report, io.Writer) error {
	return map[string]func(*Report, io.Writer) error{
		".md":        (*Report).WriteMarkdown,
		".json":      (*Report).WriteJSON,
		".junit.xml": (*Report).WriteJUnit,
		".html":      (*Report).WriteHTML,
	}
}

// goldenJournals returns the journals made by real runs
// (testdata/reports/make-journals.sh), by name.
func goldenJournals(t *testing.T) map[string]*JournalData {
	t.Helper()
	files, _ := filepath.Glob("testdata/reports/*.jsonl")
	if len(files) < 4 {
		t.Fatalf("found %d journals in testdata/reports, want the 4 make-journals.sh makes", len(files))
	}
	out := map[string]*JournalData{}
	for _, f := range files {
		jd, err := ReadJournal(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".jsonl")] = jd
	}
	return out
}

// TestReportGolden renders each journal of testdata/reports in every format
// and compares with the golden files beside it. Refresh with
// go test ./runbook -run TestReportGolden -update.
func TestReportGolden(t *testing.T) {
	for name, jd := range goldenJournals(t) {
		rep := BuildReport(jd)
		for suffix, write := range reportFormats() {
			t.Run(name+suffix, func(t *testing.T) {
				var b bytes.Buffer
				if err := write(rep, &b); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join("testdata/reports", name+suffix)
				if *update {
					if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if got := b.String(); got != string(want) {
					t.Errorf("%s differs (run with -update to accept):\n%s", file, lineDiff(string(want), got))
				}
			})
		}
	}
}

// TestReportRecordsWhatHappened checks, on the journals of real runs, what
// a drill lead reads in the report: the purpose in the title, the time
// split, every deviation with its outcome, the interrupted action, notes,
// and no secret.
func TestReportRecordsWhatHappened(t *testing.T) {
	jds := goldenJournals(t)

	t.Run("operator decisions in the screen", func(t *testing.T) {
		rep := BuildReport(jds["records-ops"])
		if rep.Status != RunAborted || rep.Purpose != PurposeDrill || rep.Heading() != "Drill: Records drill with the operator's decisions" {
			t.Errorf("status %s, purpose %s, heading %q", rep.Status, rep.Purpose, rep.Heading())
		}
		var got []string
		for _, d := range rep.Deviations {
			got = append(got, string(d.Deviation)+" by "+d.By+" at "+d.Step+" => "+d.Outcome)
		}
		want := []string{
			"adhoc by operator at copy => exit 0, touch exited with status 0 after",
			"retry by operator at copy => attempt 2 succeeded",
			"skip by operator at warm => skipped; the run went on",
			"abort by operator at last => the run ended aborted",
		}
		if len(got) != len(want) {
			t.Fatalf("deviations:\n%s\nwant %d like:\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("deviation %d: %q, want it to start %q", i+1, got[i], want[i])
			}
		}
		step := stepOf(t, rep, "copy")
		if step.Attempts != 2 || step.Operator < 5*time.Second {
			t.Errorf("copy: %d attempts, operator time %s; want 2 attempts and the seconds the operator took to decide", step.Attempts, step.Operator)
		}
		// The time the screen was closed between quitting and resuming is
		// neither the operator's nor work.
		if step.Stopped <= 0 {
			t.Errorf("copy: stopped %s, want the time drillbook was closed", step.Stopped)
		}
		if last := stepOf(t, rep, "last"); last.State != StateFailed || !strings.Contains(last.Reason, "3 messages missing") {
			t.Errorf("last: %s %q, want it failed with its error", last.State, last.Reason)
		}
		if rep.Reason != "counts differ: restore again from the older backup set ***" {
			t.Errorf("the run's reason %q, want the operator's reason for the abort, its secret masked", rep.Reason)
		}
		if n := stepOf(t, rep, "check").Notes; len(n) != 1 || n[0].Text != "token *** came from the vault" {
			t.Errorf("check notes %+v, want the note with its secret masked", n)
		}
		for suffix, write := range reportFormats() {
			var b bytes.Buffer
			if err := write(rep, &b); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "hunter2") {
				t.Errorf("the %s report shows the secret", suffix)
			}
		}
	})

	t.Run("interrupted action and the runbook's own deviations", func(t *testing.T) {
		rep := BuildReport(jds["records-auto"])
		if rep.Status != RunFailed {
			t.Errorf("status %s, want failed", rep.Status)
		}
		kinds := map[Deviation]ReportDeviation{}
		for _, d := range rep.Deviations {
			kinds[d.Deviation] = d
		}
		if d := kinds[DevInterrupted]; d.Step != "copy" || !strings.HasPrefix(d.Outcome, "reconciled after resume as succeeded") {
			t.Errorf("interrupted: %+v, want copy reconciled as succeeded", d)
		}
		if d := kinds[DevRetry]; d.Step != "flaky" || d.By != "runbook" || d.Outcome != "attempt 2 succeeded" || !strings.Contains(d.Reason, "CWSIP0782E") {
			t.Errorf("retry: %+v, want flaky's failure, retried by the runbook, attempt 2 succeeded", d)
		}
		if d := kinds[DevGoto]; d.Step != "probe" || d.Target != "fallback[1]" {
			t.Errorf("goto: %+v, want probe going to fallback", d)
		}
		copyStep := stepOf(t, rep, "copy")
		if len(copyStep.Calls) != 1 || !copyStep.Calls[0].Interrupted || copyStep.Calls[0].Outcome == "" {
			t.Errorf("copy calls %+v, want the one interrupted call with its outcome", copyStep.Calls)
		}
		if copyStep.Work < time.Second || copyStep.Stopped < time.Second {
			t.Errorf("copy: work %s, stopped %s; want the 2 s it ran before SIGINT as work and the pause as stopped", copyStep.Work, copyStep.Stopped)
		}
		if f := stepOf(t, rep, "flaky"); !f.Over || f.Work < time.Second {
			t.Errorf("flaky: work %s over %v; its retry delay of 1s is work and passes the expected 1s", f.Work, f.Over)
		}
		if s := stepOf(t, rep, "primary-check"); s.State != StateSkipped || !strings.Contains(s.Reason, "would have run") {
			t.Errorf("primary-check: %s %q", s.State, s.Reason)
		}
		if rep.StepsEnded == nil || stepOf(t, rep, "cleanup").Section != SectionFinally {
			t.Errorf("the finally step is not recorded as such")
		}
	})

	t.Run("the WebSphere drill", func(t *testing.T) {
		rep := BuildReport(jds["was-flush-fails"])
		if rep.Status != RunSucceeded || !rep.Simulated || rep.Scenario != "flush-fails" {
			t.Errorf("status %s simulated %v scenario %q", rep.Status, rep.Simulated, rep.Scenario)
		}
		fs := stepOf(t, rep, "flush-start[1]")
		var proved string
		for _, l := range fs.LogMatches {
			if l.Kind == MatchSuccess {
				proved = l.Text
			}
		}
		if !strings.Contains(proved, "CWSIP0783I") || fs.Attempts != 2 {
			t.Errorf("flush-start[1]: %d attempts, success line %q", fs.Attempts, proved)
		}
		var doc SourceDoc
		for _, s := range rep.Sources {
			if s.File == "002_51495a1c0c345fc4.txt" {
				doc = s
			}
		}
		if doc.Title != "Restoring a data store and recovering its messaging engine" {
			t.Errorf("sources %+v: the restore page is not named by its title", rep.Sources)
		}
		var md bytes.Buffer
		if err := rep.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"`engines` = `clu1.000-Bus1, node01.appsrv1-Bus1`", "# Drill: WebSphere SIB"} {
			if !strings.Contains(md.String(), want) {
				t.Errorf("the Markdown report lacks %q", want)
			}
		}
		for _, bad := range []string{"[clu1", "evidence: ``", "## Parameters\n\n## "} {
			if strings.Contains(md.String(), bad) {
				t.Errorf("the Markdown report has %q", bad)
			}
		}
	})
}

func stepOf(t *testing.T, rep *Report, key string) ReportStep {
	t.Helper()
	for _, s := range rep.Steps {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("the report has no step %s", key)
	return ReportStep{}
}

// TestJUnitCounts checks the JUnit XML a CI reads: one test case per step,
// failures and skips counted as such.
func TestJUnitCounts(t *testing.T) {
	rep := BuildReport(goldenJournals(t)["records-auto"])
	var b bytes.Buffer
	if err := rep.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	fails, skips := 0, 0
	for _, c := range s.Cases {
		if c.Failure != nil {
			fails++
		}
		if c.Skipped != nil {
			skips++
		}
	}
	// probe (then goto) and final failed; primary-check was skipped by its
	// when:. The preflight check, copy, flaky, fallback x2 and cleanup
	// passed.
	if s.Name != "records-auto" || s.Tests != len(rep.Steps) || s.Tests != 9 || s.Failures != 2 || fails != 2 || s.Skipped != 1 || skips != 1 {
		t.Errorf("suite %s: %d tests, %d failures (%d cases), %d skipped (%d cases); want 9 tests, 2 failures, 1 skipped", s.Name, s.Tests, s.Failures, fails, s.Skipped, skips)
	}
}

// TestReportJSONMatchesSchema checks every JSON report of the golden
// journals against docs/report.schema.json: the types, the required
// fields, and that no field goes undocumented.
func TestReportJSONMatchesSchema(t *testing.T) {
	raw, err := os.ReadFile("../docs/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("docs/report.schema.json: %v", err)
	}
	for name, jd := range goldenJournals(t) {
		var b bytes.Buffer
		if err := BuildReport(jd).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range checkSchema(schema, schema, doc, "$") {
			t.Errorf("%s: %s", name, p)
		}
		// The check itself must catch a field the schema does not know,
		// a missing required one and a wrong type.
		m := doc.(map[string]any)
		m["undocumented"] = true
		delete(m, "run_id")
		m["steps"].([]any)[0].(map[string]any)["work_ns"] = "soon"
		if got := len(checkSchema(schema, schema, doc, "$")); got != 3 {
			t.Errorf("%s: a damaged report gives %d problems, want 3", name, got)
		}
	}
}

// checkSchema checks v against the JSON Schema subset the report schema
// uses: $ref to $defs, type (with null), properties, required,
// additionalProperties false, items, enum, const.
func checkSchema(root, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			return []string{at + ": the schema has no " + ref}
		}
		return checkSchema(root, def, v, at)
	}
	var probs []string
	if t, ok := s["type"]; ok && !typeMatches(t, v) {
		return []string{at + ": not of type " + strings.Trim(strings.ReplaceAll(jsonString(t), `"`, ""), "[]")}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			probs = append(probs, at+": "+jsonString(v)+" is not one of "+jsonString(enum))
		}
	}
	if c, ok := s["const"]; ok && c != v {
		probs = append(probs, at+": "+jsonString(v)+" is not "+jsonString(c))
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				probs = append(probs, at+": the required field "+r+" is missing")
			}
		}
		for k, fv := range x {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					probs = append(probs, at+": the field "+k+" is not in the schema")
				}
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					probs = append(probs, checkSchema(root, ap, fv, at+"."+k)...)
				}
				continue
			}
			probs = append(probs, checkSchema(root, ps, fv, at+"."+k)...)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range x {
				probs = append(probs, checkSchema(root, items, it, at+"["+jsonString(i)+"]")...)
			}
		}
	}
	return probs
}

func typeMatches(t any, v any) bool {
	types := asStrings(t)
	if s, ok := t.(string); ok {
		types = []string{s}
	}
	for _, ty := range types {
		switch x := v.(type) {
		case nil:
			if ty == "null" {
				return true
			}
		case bool:
			if ty == "boolean" {
				return true
			}
		case float64:
			if ty == "number" || ty == "integer" && x == float64(int64(x)) {
				return true
			}
		case string:
			if ty == "string" {
				return true
			}
		case []any:
			if ty == "array" {
				return true
			}
		case map[string]any:
			if ty == "object" {
				return true
			}
		}
	}
	return false
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestReportNamesCallHosts: a call that ran on another host is reported
// on it (JSON host, Markdown "on mq1 (...)", HTML), and the host is not
// said twice; a call on this machine gets no host.
func TestReportNamesCallHosts(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	evs := []Event{
		{Type: EvStepStarted, Step: "backup", StepID: "backup", Title: "Back up msg_stores", Kind: KindAction, Attempt: 1},
		{Type: EvCallStart, Step: "backup", ID: 1, Phase: PhaseAction, Op: "rabbitmq.data-dir", Plan: &Plan{Host: "localhost", Argv: []string{"rabbitmqctl", "status"}}},
		{Type: EvCallFinished, Step: "backup", ID: 1, Phase: PhaseAction, Result: &Result{Summary: "here"}},
		{Type: EvCallStart, Step: "backup", ID: 2, Phase: PhaseAction, Op: "rabbitmq.backup-messages", Plan: &Plan{Host: "mq1 (rabbitmq@10.0.0.9:22)", Detail: "copy msg_stores"}},
		{Type: EvCallFinished, Step: "backup", ID: 2, Phase: PhaseAction, Result: &Result{Summary: "copied"}},
	}
	jd := &JournalData{Meta: RunMeta{RunID: "r", Started: t0}}
	for i := range evs {
		e := evs[i]
		e.Time = t0.Add(time.Duration(i) * time.Second)
		jd.Records = append(jd.Records, Record{Seq: i + 1, Time: e.Time, Ev: &e})
	}
	rep := BuildReport(jd)
	if len(rep.Steps) != 1 || len(rep.Steps[0].Calls) != 2 {
		t.Fatalf("steps %+v", rep.Steps)
	}
	local, remote := rep.Steps[0].Calls[0], rep.Steps[0].Calls[1]
	if local.Host != "" || remote.Host != "mq1 (rabbitmq@10.0.0.9:22)" || strings.Contains(remote.Command, "mq1") {
		t.Fatalf("hosts: local %q (%q), remote %q (%q)", local.Host, local.Command, remote.Host, remote.Command)
	}
	var md, js, html bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "- action `rabbitmq.backup-messages` on mq1 (rabbitmq@10.0.0.9:22): `copy msg_stores`") || strings.Count(md.String(), "mq1") != 1 {
		t.Errorf("Markdown:\n%s", md.String())
	}
	if !strings.Contains(js.String(), `"host": "mq1 (rabbitmq@10.0.0.9:22)"`) {
		t.Errorf("JSON:\n%s", js.String())
	}
	if !strings.Contains(html.String(), "on <b>mq1 (rabbitmq@10.0.0.9:22)</b>") {
		t.Errorf("HTML lacks the host")
	}
}
