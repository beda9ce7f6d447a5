package runbook

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// JUnit XML, in the shape CI systems read (Jenkins, GitLab, GitHub
// actions' test reporters): testsuites > testsuite > testcase, with
// failure, error and skipped children and system-out.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML, so a scheduled drill shows up
// in a CI's test view: the run is a test suite named after the runbook,
// each step instance a test case (classname RUNBOOK, or RUNBOOK.preflight
// and RUNBOOK.finally) timed by its work and operator time. A failed step
// is a failure (type timed-out when it timed out), a skipped one skipped
// with its reason, and a step that had not ended when the run stopped an
// error. The run's purpose, target, status and times are properties.
func (r *Report) WriteJUnit(w io.Writer) error {
	s := junitSuite{Name: r.Runbook, Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), Hostname: r.Host,
		Time: seconds(r.TimeToRecover)}
	var total time.Duration
	for _, st := range r.Steps {
		c := junitCase{Name: st.Key + ": " + st.Title, Classname: r.Runbook, Time: seconds(st.Duration)}
		if st.Section != "" {
			c.Classname += "." + string(st.Section)
		}
		total += st.Duration
		switch st.State {
		case StateFailed:
			typ := "failed"
			if st.TimedOut {
				typ = "timed-out"
			}
			c.Failure = &junitProblem{Message: st.Reason, Type: typ, Text: st.Reason}
			s.Failures++
		case StateSkipped:
			c.Skipped = &junitProblem{Message: st.Reason}
			s.Skipped++
		case StateSucceeded:
		default:
			msg := fmt.Sprintf("the step had not ended (%s) when the run stood %s", st.State, r.Status)
			c.Error = &junitProblem{Message: msg, Type: string(st.State), Text: msg}
			s.Errors++
		}
		c.SystemOut = junitOut(st)
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	s.Time = seconds(total)
	if s.Tests == 0 || (r.Status.Final() && r.Status != RunSucceeded && s.Failures+s.Errors == 0) {
		// A run that ended badly with no step to blame (aborted before its
		// first step, say) still fails in the CI's view.
		msg := "the run ended " + string(r.Status)
		if r.Reason != "" {
			msg += ": " + r.Reason
		}
		if !r.Status.Final() {
			msg = "the run has not ended: it stands " + string(r.Status)
		}
		if r.Status != RunSucceeded {
			s.Cases = append(s.Cases, junitCase{Name: "run", Classname: r.Runbook, Time: seconds(r.Total),
				Error: &junitProblem{Message: msg, Type: string(r.Status), Text: msg}})
			s.Tests++
			s.Errors++
		}
	}
	props := []junitProperty{
		{"run_id", r.RunID}, {"title", r.Title}, {"purpose", string(r.Purpose)}, {"target", r.Target},
		{"simulated", fmt.Sprint(r.Simulated)}, {"scenario", r.Scenario}, {"operator", r.Operator},
		{"drillbook", r.Drillbook.String()}, {"status", string(r.Status)}, {"reason", r.Reason},
		{"time_to_recover", seconds(r.TimeToRecover)}, {"work_time", seconds(r.WorkTime)},
		{"operator_time", seconds(r.OperatorTime)}, {"deviations", fmt.Sprint(len(r.Deviations))},
		{"runbook_sha256", r.Digest},
	}
	for _, p := range props {
		if p.Value != "" {
			s.Properties = append(s.Properties, p)
		}
	}
	var out strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintf(&out, "%s note: %s\n", n.Time.Format("15:04:05"), n.Text)
	}
	for _, d := range r.Deviations {
		fmt.Fprintf(&out, "%s deviation at %s: %s; reason: %s; outcome: %s\n", d.Time.Format("15:04:05"), d.Step, d.Describe(), d.Reason, d.Outcome)
	}
	s.SystemOut = out.String()
	all := junitSuites{Name: "drillbook " + r.RunID, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped,
		Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitOut is a step's record for a CI's test view: times, calls,
// evidence, the log lines and notes.
func junitOut(st ReportStep) string {
	var b strings.Builder
	if st.Source != "" {
		fmt.Fprintf(&b, "source: %s\n", st.Source)
	}
	fmt.Fprintf(&b, "work %s, operator %s", fmtDur(st.Work), fmtDur(st.Operator))
	if st.Expected > 0 {
		fmt.Fprintf(&b, ", expected %s", fmtDur(st.Expected))
		if st.Over {
			b.WriteString(" (over)")
		}
	}
	if st.Attempts > 1 {
		fmt.Fprintf(&b, ", %d attempts", st.Attempts)
	}
	b.WriteString("\n")
	for _, c := range st.Calls {
		fmt.Fprintf(&b, "%s %s: %s", c.Phase, c.Op, c.Command)
		if c.ExitCode != nil {
			fmt.Fprintf(&b, " (exit %d)", *c.ExitCode)
		}
		switch {
		case c.Interrupted:
			fmt.Fprintf(&b, " interrupted: %s", c.Outcome)
		case c.Error != "":
			fmt.Fprintf(&b, " failed: %s", c.Error)
		case c.Summary != "":
			fmt.Fprintf(&b, ": %s", c.Summary)
		}
		b.WriteString("\n")
		for _, e := range c.Evidence {
			fmt.Fprintf(&b, "  evidence: %s\n", e)
		}
	}
	for _, l := range st.LogMatches {
		fmt.Fprintf(&b, "log %s at %s in %s: %s\n", l.Kind, l.Time.Format("15:04:05.000"), l.File, l.Text)
	}
	for _, n := range st.Notes {
		fmt.Fprintf(&b, "note at %s: %s\n", n.Time.Format("15:04:05"), n.Text)
	}
	return b.String()
}
