package runbook

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// HistoryEntry is one run in a runbook's history on a target.
type HistoryEntry struct {
	RunID     string    `json:"run_id"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	Operator  string    `json:"operator"`
	Purpose   Purpose   `json:"purpose"`
	Scenario  string    `json:"scenario,omitempty"`
	Status    RunStatus `json:"status"`
	Drillbook string    `json:"drillbook"`
	// TimeToRecover, Work and OperatorTime are as in the run's report.
	TimeToRecover time.Duration `json:"time_to_recover_ns"`
	Work          time.Duration `json:"work_ns"`
	OperatorTime  time.Duration `json:"operator_ns"`
	Deviations    int           `json:"deviations"`
	// Retries counts attempts beyond each step's first.
	Retries int `json:"retries"`
}

// History is the runs of one runbook on one target, oldest first, with the
// trend of their time to recover.
type History struct {
	Runbook   string         `json:"runbook"`
	Title     string         `json:"title"`
	Target    string         `json:"target"`
	Simulated bool           `json:"simulated"`
	Runs      []HistoryEntry `json:"runs"`
	Trend     Trend          `json:"trend"`
}

// Trend is how the time to recover of a history's succeeded runs moves.
type Trend struct {
	// Succeeded is how many runs the trend is drawn from.
	Succeeded int `json:"succeeded"`
	// Direction is faster, slower or steady; "too few runs" under three.
	Direction string `json:"direction"`
	// PerRun is the least-squares change of the time to recover from one
	// succeeded run to the next (negative: faster).
	PerRun time.Duration `json:"per_run_ns"`
	First  time.Duration `json:"first_ns"`
	Last   time.Duration `json:"last_ns"`
	Best   time.Duration `json:"best_ns"`
	Worst  time.Duration `json:"worst_ns"`
	Median time.Duration `json:"median_ns"`
	// Sparkline draws every run oldest first: a block as tall as its time
	// to recover among the succeeded runs, ✗ for a run that failed, timed
	// out or was aborted, · for one that has not ended.
	Sparkline string `json:"sparkline"`
}

// trendThreshold is the share of the median time to recover the fitted
// change over the history must exceed to count as faster or slower.
const trendThreshold = 0.10

// BuildHistory groups reports by runbook and target, keeping those of
// runbook and target when they are given, and orders each group's runs by
// their start. Groups are ordered by runbook, then target.
func BuildHistory(reports []*Report, runbook, target string, purpose Purpose) []History {
	type key struct{ rb, target string }
	groups := map[key]*History{}
	var order []key
	for _, r := range reports {
		if runbook != "" && r.Runbook != runbook || target != "" && r.Target != target || purpose != "" && r.Purpose != purpose {
			continue
		}
		k := key{r.Runbook, r.Target}
		h, ok := groups[k]
		if !ok {
			h = &History{Runbook: r.Runbook, Title: r.Title, Target: r.Target, Simulated: r.Simulated, Runs: []HistoryEntry{}}
			groups[k] = h
			order = append(order, k)
		}
		retries := 0
		for _, s := range r.Steps {
			if s.Attempts > 1 {
				retries += s.Attempts - 1
			}
		}
		h.Runs = append(h.Runs, HistoryEntry{RunID: r.RunID, Started: r.Started, Ended: r.Ended, Operator: r.Operator,
			Purpose: r.Purpose, Scenario: r.Scenario, Status: r.Status, Drillbook: r.Drillbook.String(),
			TimeToRecover: r.TimeToRecover, Work: r.WorkTime, OperatorTime: r.OperatorTime,
			Deviations: len(r.Deviations), Retries: retries})
	}
	slices.SortFunc(order, func(a, b key) int {
		if c := strings.Compare(a.rb, b.rb); c != 0 {
			return c
		}
		return strings.Compare(a.target, b.target)
	})
	out := make([]History, 0, len(order))
	for _, k := range order {
		h := groups[k]
		slices.SortStableFunc(h.Runs, func(a, b HistoryEntry) int {
			if c := a.Started.Compare(b.Started); c != 0 {
				return c
			}
			return strings.Compare(a.RunID, b.RunID)
		})
		h.Trend = trendOf(h.Runs)
		out = append(out, *h)
	}
	return out
}

func trendOf(runs []HistoryEntry) Trend {
	var ys []time.Duration
	for _, r := range runs {
		if r.Status == RunSucceeded {
			ys = append(ys, r.TimeToRecover)
		}
	}
	t := Trend{Succeeded: len(ys), Direction: "too few runs"}
	if len(ys) > 0 {
		t.First, t.Last = ys[0], ys[len(ys)-1]
		t.Best, t.Worst = slices.Min(ys), slices.Max(ys)
		sorted := slices.Sorted(slices.Values(ys))
		n := len(sorted)
		t.Median = sorted[n/2]
		if n%2 == 0 {
			t.Median = (sorted[n/2-1] + sorted[n/2]) / 2
		}
	}
	if len(ys) >= 2 {
		// Least squares over the run index: slope = cov(i, y) / var(i).
		n := float64(len(ys))
		var si, sy, sii, siy float64
		for i, y := range ys {
			fi, fy := float64(i), float64(y)
			si += fi
			sy += fy
			sii += fi * fi
			siy += fi * fy
		}
		slope := (n*siy - si*sy) / (n*sii - si*si)
		t.PerRun = time.Duration(math.Round(slope))
	}
	if len(ys) >= 3 && t.Median > 0 {
		change := float64(t.PerRun) * float64(len(ys)-1) / float64(t.Median)
		switch {
		case change <= -trendThreshold:
			t.Direction = "faster"
		case change >= trendThreshold:
			t.Direction = "slower"
		default:
			t.Direction = "steady"
		}
	}
	blocks := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, r := range runs {
		switch {
		case r.Status == RunSucceeded:
			lvl := len(blocks) - 1
			if t.Worst > t.Best {
				lvl = int(math.Round(float64(r.TimeToRecover-t.Best) / float64(t.Worst-t.Best) * float64(len(blocks)-1)))
			}
			b.WriteRune(blocks[lvl])
		case r.Status.Final():
			b.WriteRune('✗')
		default:
			b.WriteRune('·')
		}
	}
	t.Sparkline = b.String()
	return t
}

// Describe says the trend in a sentence.
func (t Trend) Describe() string {
	switch t.Direction {
	case "faster", "slower":
		return fmt.Sprintf("%s: about %s %s per run over %d succeeded runs (first %s, last %s, best %s)", t.Direction,
			fmtDur(absDur(t.PerRun)), map[bool]string{true: "less", false: "more"}[t.PerRun < 0], t.Succeeded,
			fmtDur(t.First), fmtDur(t.Last), fmtDur(t.Best))
	case "steady":
		return fmt.Sprintf("steady over %d succeeded runs: median %s (best %s, worst %s)", t.Succeeded, fmtDur(t.Median), fmtDur(t.Best), fmtDur(t.Worst))
	}
	return fmt.Sprintf("too few succeeded runs for a trend (%d; it takes 3)", t.Succeeded)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// ReadReports reads the journal of every run under stateDir and builds its
// report. Runs whose journal cannot be read are returned as problems, one
// line each naming the run, and left out.
func ReadReports(stateDir string) ([]*Report, []string, error) {
	runs, err := ListRuns(stateDir)
	if err != nil {
		return nil, nil, err
	}
	var reps []*Report
	var problems []string
	for _, r := range runs {
		if r.Problem != "" {
			problems = append(problems, fmt.Sprintf("run %s left out: %s", r.Meta.RunID, r.Problem))
			continue
		}
		jd, err := ReadJournal(filepath.Join(RunsDir(stateDir), r.Meta.RunID, JournalFile))
		if err != nil {
			problems = append(problems, fmt.Sprintf("run %s left out: %v", r.Meta.RunID, err))
			continue
		}
		reps = append(reps, BuildReport(jd))
	}
	return reps, problems, nil
}

// Comparison sets two runs side by side, step by step.
type Comparison struct {
	A CompareRun `json:"a"`
	B CompareRun `json:"b"`
	// Steps are the step instances of either run, in A's order with B's
	// others after.
	Steps []CompareStep `json:"steps"`
	// Slower is the step, reached in both runs, whose work time grew the
	// most from A to B; nil when none grew.
	Slower *CompareStep `json:"slower,omitempty"`
	// Faster is the step whose work time shrank the most; nil when none
	// did.
	Faster *CompareStep `json:"faster,omitempty"`
	// Params are the parameters whose values differ.
	Params []ParamChange `json:"params"`
	// Changes says in words everything else that differs: the runbook,
	// drillbook, target, scenario, purpose, and per step the retries and
	// deviations.
	Changes []string `json:"changes"`
}

// CompareRun is one side of a comparison.
type CompareRun struct {
	RunID         string        `json:"run_id"`
	Runbook       string        `json:"runbook"`
	Started       time.Time     `json:"started"`
	Operator      string        `json:"operator"`
	Purpose       Purpose       `json:"purpose"`
	Target        string        `json:"target"`
	Scenario      string        `json:"scenario,omitempty"`
	Status        RunStatus     `json:"status"`
	Drillbook     string        `json:"drillbook"`
	Digest        string        `json:"runbook_sha256"`
	TimeToRecover time.Duration `json:"time_to_recover_ns"`
	Work          time.Duration `json:"work_ns"`
	OperatorTime  time.Duration `json:"operator_ns"`
}

// CompareStep is one step instance in both runs. A step that one run did
// not reach has the zero state there.
type CompareStep struct {
	Key       string        `json:"key"`
	Title     string        `json:"title"`
	StateA    StepState     `json:"state_a,omitempty"`
	StateB    StepState     `json:"state_b,omitempty"`
	WorkA     time.Duration `json:"work_a_ns"`
	WorkB     time.Duration `json:"work_b_ns"`
	Change    time.Duration `json:"change_ns"`
	OperatorA time.Duration `json:"operator_a_ns"`
	OperatorB time.Duration `json:"operator_b_ns"`
	AttemptsA int           `json:"attempts_a"`
	AttemptsB int           `json:"attempts_b"`
	// DeviationsA and DeviationsB describe each run's deviations at the
	// step.
	DeviationsA []string `json:"deviations_a"`
	DeviationsB []string `json:"deviations_b"`
}

// ParamChange is a parameter whose value differs between two runs.
type ParamChange struct {
	Name string `json:"name"`
	A    string `json:"a"`
	B    string `json:"b"`
}

func compareRun(r *Report) CompareRun {
	return CompareRun{RunID: r.RunID, Runbook: r.Runbook, Started: r.Started, Operator: r.Operator, Purpose: r.Purpose,
		Target: r.Target, Scenario: r.Scenario, Status: r.Status, Drillbook: r.Drillbook.String(), Digest: r.Digest,
		TimeToRecover: r.TimeToRecover, Work: r.WorkTime, OperatorTime: r.OperatorTime}
}

// Compare sets run b beside run a: per step the work time of each and the
// change, and what changed between them.
func Compare(a, b *Report) *Comparison {
	c := &Comparison{A: compareRun(a), B: compareRun(b), Steps: []CompareStep{}, Params: []ParamChange{}, Changes: []string{}}
	idx := map[string]int{}
	devs := func(r *Report, key string) []string {
		out := []string{}
		for _, d := range r.Deviations {
			if d.Step == key {
				out = append(out, d.Describe()+": "+d.Reason)
			}
		}
		return out
	}
	for _, s := range a.Steps {
		idx[s.Key] = len(c.Steps)
		c.Steps = append(c.Steps, CompareStep{Key: s.Key, Title: s.Title, StateA: s.State, WorkA: s.Work, OperatorA: s.Operator,
			AttemptsA: s.Attempts, DeviationsA: devs(a, s.Key), DeviationsB: []string{}})
	}
	for _, s := range b.Steps {
		i, ok := idx[s.Key]
		if !ok {
			i = len(c.Steps)
			c.Steps = append(c.Steps, CompareStep{Key: s.Key, Title: s.Title, DeviationsA: []string{}})
		}
		cs := &c.Steps[i]
		cs.StateB, cs.WorkB, cs.OperatorB, cs.AttemptsB, cs.DeviationsB = s.State, s.Work, s.Operator, s.Attempts, devs(b, s.Key)
	}
	for i := range c.Steps {
		cs := &c.Steps[i]
		cs.Change = cs.WorkB - cs.WorkA
		if cs.StateA == "" || cs.StateB == "" {
			continue // a step one run did not reach did not get slower
		}
		if cs.Change > 0 && (c.Slower == nil || cs.Change > c.Slower.Change) {
			c.Slower = cs
		}
		if cs.Change < 0 && (c.Faster == nil || cs.Change < c.Faster.Change) {
			c.Faster = cs
		}
	}
	// Copies, so the JSON does not alias the slice's elements.
	if c.Slower != nil {
		s := *c.Slower
		c.Slower = &s
	}
	if c.Faster != nil {
		f := *c.Faster
		c.Faster = &f
	}
	names := map[string]bool{}
	for k := range a.Params {
		names[k] = true
	}
	for k := range b.Params {
		names[k] = true
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	}) {
		va, oka := a.Params[k]
		vb, okb := b.Params[k]
		sa, sb := FormatValue(va), FormatValue(vb)
		if !oka {
			sa = "(not set)"
		}
		if !okb {
			sb = "(not set)"
		}
		if sa != sb {
			c.Params = append(c.Params, ParamChange{Name: k, A: sa, B: sb})
		}
	}
	change := func(what, x, y string) {
		if x != y {
			c.Changes = append(c.Changes, fmt.Sprintf("%s: %s → %s", what, orNone(x), orNone(y)))
		}
	}
	change("runbook", a.Runbook, b.Runbook)
	if a.Digest != b.Digest {
		c.Changes = append(c.Changes, fmt.Sprintf("runbook file: sha256 %s → %s (the runbook was edited between the runs)", short(a.Digest), short(b.Digest)))
	}
	change("drillbook", a.Drillbook.String(), b.Drillbook.String())
	change("target", a.Target, b.Target)
	change("scenario", a.Scenario, b.Scenario)
	change("purpose", string(a.Purpose), string(b.Purpose))
	change("operator", a.Operator, b.Operator)
	change("outcome", string(a.Status), string(b.Status))
	for _, p := range c.Params {
		c.Changes = append(c.Changes, fmt.Sprintf("parameter %s: %s → %s", p.Name, p.A, p.B))
	}
	for _, cs := range c.Steps {
		switch {
		case cs.StateA == "":
			c.Changes = append(c.Changes, fmt.Sprintf("%s: only in B (%s)", cs.Key, cs.StateB))
			continue
		case cs.StateB == "":
			c.Changes = append(c.Changes, fmt.Sprintf("%s: only in A (%s)", cs.Key, cs.StateA))
			continue
		}
		if cs.StateA != cs.StateB {
			c.Changes = append(c.Changes, fmt.Sprintf("%s: %s → %s", cs.Key, cs.StateA, cs.StateB))
		}
		if cs.AttemptsA != cs.AttemptsB {
			c.Changes = append(c.Changes, fmt.Sprintf("%s: %d → %d attempts", cs.Key, cs.AttemptsA, cs.AttemptsB))
		}
		if !slices.Equal(cs.DeviationsA, cs.DeviationsB) {
			c.Changes = append(c.Changes, fmt.Sprintf("%s: deviations %s → %s", cs.Key, listOrNone(cs.DeviationsA), listOrNone(cs.DeviationsB)))
		}
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, "; ")
}

// SignedDuration renders a change of time with its sign: "+9.3s", "-1.2s",
// "0s".
func SignedDuration(d time.Duration) string {
	s := fmtDur(absDur(d))
	switch {
	case s == "-" || s == "0s":
		return "0s" // too small to show, either way
	case d > 0:
		return "+" + s
	}
	return "-" + s
}
