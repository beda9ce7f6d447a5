package runbook

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Session is one run on disk: its directory, journal, lock and engine. Both
// the terminal UI and plain mode start and resume runs through it.
type Session struct {
	// RunID names the run.
	RunID string
	// Dir is the run's directory.
	Dir string
	// Meta describes the run.
	Meta RunMeta
	// Runbook is the runbook being run (the run directory's copy on resume).
	Runbook *Runbook
	// Engine is the run's state machine.
	Engine *Engine
	// Journal records the run.
	Journal *Journal
	// Secrets are the values to redact everywhere.
	Secrets []string
	// First are the inputs that begin (or resume) the run.
	First []Input

	lock     *Lock
	ownsLock bool // Start or Resume took the lock, so Close releases it
}

// NewSession holds what starting a run needs.
type NewSession struct {
	StateDir string
	Runbook  *Runbook
	Target   *Target
	Scenario string
	Params   ParamValues
	Specs    []OpSpec
	Operator string
	Host     string
	Version  string
	// Build is the running drillbook's build information, for the record.
	Build *BuildInfo
	// Purpose is why the run is made; empty takes the target's default
	// (DefaultPurpose).
	Purpose   Purpose
	Now       time.Time
	ExtraHide []string // more values to redact (target secrets)
	// Lock, when set, is the run lock already taken by the caller (so that
	// nothing is started on a busy target); Start takes it otherwise.
	Lock *Lock
}

// RunsDir returns the directory that holds every run.
func RunsDir(stateDir string) string { return filepath.Join(stateDir, "runs") }

// Start creates the run directory, takes the lock, copies the runbook and
// writes the journal's first record. The returned session's First input
// starts the run.
func Start(ns NewSession) (*Session, error) {
	rb := ns.Runbook
	runID := newRunID(ns.Now, rb.ID)
	lock, owns := ns.Lock, ns.Lock == nil
	if owns {
		var err error
		lock, err = AcquireLock(ns.StateDir, rb.ID, ns.Target.Name, LockInfo{User: ns.Operator, Host: ns.Host, PID: os.Getpid(), Since: ns.Now, RunID: runID})
		if err != nil {
			return nil, err
		}
	}
	lock.SetRun(runID)
	dir := filepath.Join(RunsDir(ns.StateDir), runID)
	secrets := redactionList(rb.Secrets(ns.Params), ns.ExtraHide)
	j, err := CreateJournal(dir, secrets)
	if err != nil {
		release(lock, owns)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, RunbookCopy), rb.Raw, 0o600); err != nil {
		j.Close()
		release(lock, owns)
		return nil, fmt.Errorf("copy runbook into the run directory: %w", err)
	}
	eng, err := NewEngine(rb, ns.Specs, ns.Params)
	if err != nil {
		j.Close()
		release(lock, owns)
		return nil, err
	}
	meta := RunMeta{RunID: runID, RunbookID: rb.ID, Title: rb.Title, Path: rb.Path, Digest: rb.Digest,
		Target: ns.Target.Name, Simulated: ns.Target.Simulated, Scenario: ns.Scenario, Operator: ns.Operator,
		Host: ns.Host, PID: os.Getpid(), Version: ns.Version, Params: publicParams(rb, ns.Params), Started: ns.Now.UTC(),
		Build: ns.Build, Purpose: ns.Purpose}
	if meta.Purpose == "" {
		meta.Purpose = DefaultPurpose(ns.Target)
	}
	for _, p := range rb.Params {
		if p.Type == TypeSecret {
			meta.SecretParams = append(meta.SecretParams, p.Name)
		}
	}
	if _, err := j.Append(Record{Time: ns.Now, Meta: &meta}, true); err != nil {
		j.Close()
		release(lock, owns)
		return nil, err
	}
	return &Session{RunID: runID, Dir: dir, Meta: meta, Runbook: rb, Engine: eng, Journal: j, Secrets: secrets,
		First: []Input{{Type: InStart}}, lock: lock, ownsLock: owns}, nil
}

// redactionList joins lists of secret values for redaction: empty values
// dropped, each once, longest first, so a secret that contains a shorter
// one is masked whole rather than leaving its tail visible.
func redactionList(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

func newRunID(now time.Time, id string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + id + "-" + hex.EncodeToString(b[:])
}

// publicParams returns the parameter values with secrets masked.
func publicParams(rb *Runbook, vals ParamValues) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		if p, ok := rb.Param(k); ok && p.Type == TypeSecret {
			if s, _ := v.(string); s != "" {
				out[k] = SecretMarker
			} else {
				out[k] = ""
			}
			continue
		}
		out[k] = v
	}
	return out
}

// ResumeSession holds what reopening a run needs.
type ResumeSession struct {
	StateDir string
	RunID    string
	Specs    []OpSpec
	Operator string
	Host     string
	Now      time.Time
	// Secret returns a secret parameter's value, asked again because it was
	// never written down.
	Secret    func(name string) (string, error)
	ExtraHide []string
	// Lock, when set, is the run lock already taken by the caller.
	Lock *Lock
}

// ErrRunFinished is returned when resuming a run that already ended.
var ErrRunFinished = errors.New("the run has already finished")

// Resume reopens a run: it takes the lock, reads the journal (tolerating a
// torn last line), rebuilds the engine by replaying the journaled inputs and
// returns a session whose First input reconciles what was in flight.
func Resume(rs ResumeSession) (s *Session, err error) {
	dir, err := FindRun(rs.StateDir, rs.RunID)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, JournalFile)
	jd, err := ReadJournal(path)
	if err != nil {
		return nil, err
	}
	meta := jd.Meta
	lock, owns := rs.Lock, rs.Lock == nil
	if owns {
		lock, err = AcquireLock(rs.StateDir, meta.RunbookID, meta.Target, LockInfo{User: rs.Operator, Host: rs.Host, PID: os.Getpid(), Since: rs.Now, RunID: meta.RunID})
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				release(lock, owns)
			}
		}()
		// Read again under the lock: records the previous holder appended
		// after the first read must not be cut off when the journal reopens.
		if jd, err = ReadJournal(path); err != nil {
			return nil, err
		}
	}
	for _, ev := range jd.Events() {
		if ev.Type == EvRunFinished {
			return nil, fmt.Errorf("run %s: %w (%s); see `drillbook report %s`", meta.RunID, ErrRunFinished, ev.Status, meta.RunID)
		}
	}
	rb, err := ParseFile(filepath.Join(dir, RunbookCopy))
	if err != nil {
		return nil, fmt.Errorf("the run's copy of its runbook: %w", err)
	}
	if rb.Digest != meta.Digest {
		return nil, fmt.Errorf("%s: the runbook copy does not match the journal's digest: the run directory was edited", filepath.Join(dir, RunbookCopy))
	}
	if probs := Validate(rb, rs.Specs); probs != nil {
		return nil, fmt.Errorf("the run's runbook no longer validates with this drillbook: %w", probs)
	}
	given := map[string]string{}
	for k, v := range meta.Params {
		given[k] = paramString(v)
	}
	var secrets []string
	for _, name := range meta.SecretParams {
		delete(given, name)
		if v, _ := meta.Params[name].(string); v == "" {
			continue // it was empty: nothing to ask
		}
		if rs.Secret == nil {
			return nil, fmt.Errorf("secret parameter %s must be given again to resume: set %s", name, EnvName(name))
		}
		v, err := rs.Secret(name)
		if err != nil {
			return nil, err
		}
		given[name] = v
		secrets = append(secrets, v)
	}
	vals, err := ResolveParams(rb, given)
	if err != nil {
		return nil, err
	}
	eng, err := NewEngine(rb, rs.Specs, vals)
	if err != nil {
		return nil, err
	}
	for _, r := range jd.Records {
		switch {
		case r.In != nil:
			eng.Handle(*r.In)
		case r.Ev != nil && r.Ev.Type == EvRunInterrupted:
			eng.Interrupted(r.Ev.Time) // only the step clocks hear of it
		}
	}
	secrets = redactionList(secrets, rs.ExtraHide)
	j, err := AppendJournal(dir, jd.GoodSize, jd.LastSeq(), secrets)
	if err != nil {
		return nil, err
	}
	return &Session{RunID: meta.RunID, Dir: dir, Meta: meta, Runbook: rb, Engine: eng, Journal: j, Secrets: secrets,
		First: []Input{{Type: InResume}}, lock: lock, ownsLock: owns}, nil
}

// paramString turns a journaled parameter value back into --param form.
func paramString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatInt(int64(x), 10)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = fmt.Sprint(it)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// Close syncs and closes the journal, and releases the lock if the session
// took it.
func (s *Session) Close() error {
	err := s.Journal.Close()
	if s.ownsLock {
		if lerr := s.lock.Release(); err == nil {
			err = lerr
		}
	}
	return err
}

// FindRun returns the directory of a run given its full id, an unambiguous
// prefix or suffix of it (the random tail is enough), or "last" for the
// newest run.
func FindRun(stateDir, id string) (string, error) {
	runs := RunsDir(stateDir)
	if id == "" {
		return "", errors.New("name the run: see `drillbook runs`")
	}
	if id == "last" {
		return lastRun(runs)
	}
	if st, err := os.Stat(filepath.Join(runs, id)); err == nil && st.IsDir() && !strings.ContainsAny(id, `/\`) {
		return filepath.Join(runs, id), nil
	}
	entries, err := os.ReadDir(runs)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("list runs: %w", err)
	}
	var matches []string
	for _, e := range entries {
		if e.IsDir() && (strings.HasPrefix(e.Name(), id) || strings.HasSuffix(e.Name(), id)) {
			matches = append(matches, e.Name())
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no run %q in %s: see `drillbook runs`", id, runs)
	case 1:
		return filepath.Join(runs, matches[0]), nil
	}
	sort.Strings(matches)
	return "", fmt.Errorf("%q names %d runs (%s): give more of the id", id, len(matches), strings.Join(matches, ", "))
}

// RunSummary is one line of `drillbook runs`.
type RunSummary struct {
	Meta RunMeta
	// Status is RunRunning when another drillbook holds the run's lock,
	// RunInterrupted when nobody does and the run has not ended.
	Status  RunStatus
	Step    string
	Ended   time.Time
	Torn    bool
	Problem string
}

// ListRuns returns every run under stateDir, newest first. A run whose
// journal cannot be read is listed with the problem.
func ListRuns(stateDir string) ([]RunSummary, error) {
	entries, err := os.ReadDir(RunsDir(stateDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []RunSummary
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		jd, err := ReadJournal(filepath.Join(RunsDir(stateDir), e.Name(), JournalFile))
		if err != nil {
			out = append(out, RunSummary{Meta: RunMeta{RunID: e.Name()}, Problem: err.Error()})
			continue
		}
		s := RunSummary{Meta: jd.Meta, Status: RunInterrupted, Torn: jd.Torn}
		for _, ev := range jd.Events() {
			switch ev.Type {
			case EvStepStarted, EvStepFailed, EvConfirmRequest, EvOperatorRequest:
				s.Step = ev.Step
			case EvRunFinished:
				s.Status, s.Ended = ev.Status, ev.Time
			}
		}
		if !s.Status.Final() {
			// A run whose lock is held is live in another drillbook.
			if h, held := LockHolder(stateDir, jd.Meta.RunbookID, jd.Meta.Target); held && h.RunID == jd.Meta.RunID {
				s.Status = RunRunning
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b RunSummary) int { return strings.Compare(b.Meta.RunID, a.Meta.RunID) })
	return out, nil
}

// lastRun returns the directory of the run started last, by the start time
// its journal records (run ids only have whole seconds).
func lastRun(runs string) (string, error) {
	entries, err := os.ReadDir(runs)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("list runs: %w", err)
	}
	var best string
	var bestAt time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(runs, e.Name())
		var at time.Time
		if jd, err := ReadJournal(filepath.Join(dir, JournalFile)); err == nil {
			at = jd.Meta.Started
		} else if len(e.Name()) >= 15 {
			// A damaged journal still counts, by the time in its run id,
			// so that the command reading it can say what is wrong.
			at, _ = time.Parse("20060102-150405", e.Name()[:15])
		}
		if best == "" || at.After(bestAt) {
			best, bestAt = dir, at
		}
	}
	if best == "" {
		return "", fmt.Errorf("no runs in %s yet", runs)
	}
	return best, nil
}

func release(l *Lock, owned bool) {
	if owned {
		_ = l.Release()
	}
}
