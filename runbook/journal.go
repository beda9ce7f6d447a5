package runbook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// JournalFile is the name of the journal inside a run directory.
const JournalFile = "journal.jsonl"

// RunbookCopy is the name of the runbook copy inside a run directory; resume
// runs this copy, so editing the original cannot change a run half way.
const RunbookCopy = "runbook.yaml"

// RunMeta describes a run; it is the journal's first record.
type RunMeta struct {
	RunID     string `json:"run_id"`
	RunbookID string `json:"runbook_id"`
	Title     string `json:"title"`
	Path      string `json:"path"`
	Digest    string `json:"digest"`
	Target    string `json:"target"`
	Simulated bool   `json:"simulated,omitempty"`
	Scenario  string `json:"scenario,omitempty"`
	Operator  string `json:"operator"`
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	Version   string `json:"version"`
	// Build is the drillbook that started the run, from the binary's
	// build information; nil in journals written before it was recorded.
	Build *BuildInfo `json:"build,omitempty"`
	// Purpose is why the run was made: incident, drill or routine; empty in
	// journals written before it was recorded (see RunMeta.RunPurpose).
	Purpose Purpose `json:"purpose,omitempty"`
	// Params are the resolved values, secrets replaced by SecretMarker.
	Params map[string]any `json:"params"`
	// SecretParams name the parameters that must be asked again on resume.
	SecretParams []string  `json:"secret_params,omitempty"`
	Started      time.Time `json:"started"`
}

// Record is one line of the journal: exactly one of Meta, In or Ev is set.
type Record struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	Meta *RunMeta  `json:"meta,omitempty"`
	In   *Input    `json:"in,omitempty"`
	Ev   *Event    `json:"ev,omitempty"`
}

// Journal appends records to a run's journal. Records are redacted before
// they are written: no secret value reaches the disk.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	seq     int
	secrets [][]byte // as they appear inside a JSON string
	// plainSecrets are the same values as typed, for raw output files.
	plainSecrets [][]byte
	path         string
	err          error
	// outputs are the per-call output files, opened on first use.
	outputs map[int]*outputFile
}

// outputFile holds one call's output lines, raw, one per line, each
// prefixed with its stream: "1 " standard output, "2 " standard error,
// "i " drillbook's own notes. Writing lines raw instead of one JSON record
// each keeps a step that prints a million lines cheap.
type outputFile struct {
	f *os.File
	w *bufio.Writer
	// done marks a finished call: the next sync closes the file.
	done bool
}

// OutputDir is the directory, inside a run directory, of the output files.
const OutputDir = "output"

// OutputPath returns the path, relative to the run directory, of a call's
// output file.
func OutputPath(callID int) string {
	return filepath.Join(OutputDir, strconv.Itoa(callID)+".log")
}

// CreateJournal creates the journal of a new run.
func CreateJournal(dir string, secrets []string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	j := &Journal{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}
	j.SetSecrets(secrets)
	return j, nil
}

// AppendJournal reopens an existing journal for a resumed run. A torn last
// line (drillbook died while writing it) is cut off first, so the next
// record starts on a line of its own; seq continues from the last record.
func AppendJournal(dir string, goodSize int64, lastSeq int, secrets []string) (*Journal, error) {
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := f.Truncate(goodSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("cut torn journal line: %w", err)
	}
	if _, err := f.Seek(goodSize, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path, seq: lastSeq}
	j.SetSecrets(secrets)
	return j, nil
}

// SetSecrets replaces the values redacted from every record.
func (j *Journal) SetSecrets(secrets []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.secrets, j.plainSecrets = nil, nil
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b, _ := json.Marshal(s)
		j.secrets = append(j.secrets, b[1:len(b)-1]) // as it appears inside a JSON string
		j.plainSecrets = append(j.plainSecrets, []byte(s))
	}
}

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// Append writes a record (its Seq is assigned here). With sync the record
// and everything before it are on disk when Append returns; the runner syncs
// before it carries out any effect.
func (j *Journal) Append(r Record, sync bool) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	j.seq++
	r.Seq = j.seq
	if r.Ev != nil {
		r.Ev.Seq = r.Seq
	}
	line, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode journal record: %w", err)
	}
	line = redactBytes(line, j.secrets)
	line = append(line, '\n')
	if _, err := j.w.Write(line); err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
		return 0, j.err
	}
	if sync {
		if err := j.syncLocked(); err != nil {
			return 0, err
		}
	}
	return r.Seq, nil
}

// AppendOutput writes a batch of a call's output lines to the call's output
// file, secrets redacted, and returns the file's path relative to the run
// directory. The lines reach the disk at the next sync, before the next
// effect.
func (j *Journal) AppendOutput(callID int, lines []OutputLine) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return "", j.err
	}
	of, ok := j.outputs[callID]
	if !ok {
		dir := filepath.Join(filepath.Dir(j.path), OutputDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			j.err = fmt.Errorf("create output directory: %w", err)
			return "", j.err
		}
		f, err := os.OpenFile(filepath.Join(filepath.Dir(j.path), OutputPath(callID)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			j.err = fmt.Errorf("open output file: %w", err)
			return "", j.err
		}
		of = &outputFile{f: f, w: bufio.NewWriterSize(f, 256<<10)}
		if j.outputs == nil {
			j.outputs = map[int]*outputFile{}
		}
		j.outputs[callID] = of
	}
	var buf []byte
	for _, l := range lines {
		tag := "1 "
		switch l.Stream {
		case Stderr:
			tag = "2 "
		case Info:
			tag = "i "
		}
		buf = append(buf, tag...)
		buf = append(buf, l.Text...)
		buf = append(buf, '\n')
	}
	if len(j.secrets) > 0 {
		// Raw output may hold a secret as typed or JSON-escaped (a command
		// printing JSON): mask both.
		buf = redactBytes(redactBytes(buf, j.plainSecrets), j.secrets)
	}
	if _, err := of.w.Write(buf); err != nil {
		j.err = fmt.Errorf("write output file: %w", err)
		return "", j.err
	}
	return OutputPath(callID), nil
}

// CloseOutput marks a call's output file finished: the next sync writes,
// syncs and closes it, so a run of many calls (a wait polling every few
// seconds) does not hold a file and its buffer open per call.
func (j *Journal) CloseOutput(callID int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if of, ok := j.outputs[callID]; ok {
		of.done = true
	}
}

func (j *Journal) syncLocked() error {
	for id, of := range j.outputs {
		if err := of.w.Flush(); err != nil {
			j.err = fmt.Errorf("write output file %d: %w", id, err)
			return j.err
		}
		if err := of.f.Sync(); err != nil {
			j.err = fmt.Errorf("sync output file %d: %w", id, err)
			return j.err
		}
		if of.done {
			delete(j.outputs, id)
			if err := of.f.Close(); err != nil {
				j.err = fmt.Errorf("close output file %d: %w", id, err)
				return j.err
			}
		}
	}
	if err := j.w.Flush(); err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
		return j.err
	}
	if err := j.f.Sync(); err != nil {
		j.err = fmt.Errorf("sync journal %s: %w", j.path, err)
		return j.err
	}
	return nil
}

// Sync flushes and syncs everything appended so far.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	return j.syncLocked()
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.syncLocked()
	for _, of := range j.outputs {
		if cerr := of.f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	j.outputs = nil
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	j.f = nil
	return err
}

func redactBytes(b []byte, secrets [][]byte) []byte {
	for _, s := range secrets {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte(SecretMarker))
		}
	}
	return b
}

// Redact replaces every secret value in s with SecretMarker.
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, SecretMarker)
		}
	}
	return s
}

// JournalData is a journal read back.
type JournalData struct {
	Meta    RunMeta
	Records []Record
	// GoodSize is the byte length of the whole records; a resumed run cuts
	// the file there before appending.
	GoodSize int64
	// Torn is set when the last line was cut short by a crash.
	Torn bool
}

// maxJournalLine bounds one record; output is batched far below this.
const maxJournalLine = 64 << 20

// ReadJournal reads a run's journal. A torn last line is tolerated and
// reported in Torn; any other damage is an error naming the line.
func ReadJournal(path string) (*JournalData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	jd := &JournalData{}
	var off int64
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(r, maxJournalLine)
		if errors.Is(err, errLineTooLong) {
			return nil, fmt.Errorf("%s:%d: a journal record longer than %d bytes: the file is damaged", path, lineNo, maxJournalLine)
		}
		if err == io.EOF {
			if len(bytes.TrimSpace(line)) > 0 {
				jd.Torn = true // no newline: the write was cut short
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		var rec Record
		if uerr := json.Unmarshal(line, &rec); uerr != nil {
			// Only the last line may be torn.
			if _, perr := r.Peek(1); errors.Is(perr, io.EOF) {
				jd.Torn = true
				break
			}
			return nil, fmt.Errorf("%s:%d: not a journal record (%w): the file was edited or damaged; restore it from a copy or start a new run", path, lineNo, uerr)
		}
		if lineNo == 1 {
			if rec.Meta == nil {
				return nil, fmt.Errorf("%s:1: the first record is not the run's description: this is not a drillbook journal", path)
			}
			jd.Meta = *rec.Meta
		}
		off += int64(len(line))
		jd.Records = append(jd.Records, rec)
	}
	if len(jd.Records) == 0 {
		return nil, fmt.Errorf("%s: the journal is empty: the run never started", path)
	}
	jd.GoodSize = off
	return jd, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads up to and including the next newline, like ReadBytes, but
// stops with errLineTooLong past max bytes instead of holding a damaged
// file's endless line in memory.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// LastSeq returns the highest record number read.
func (jd *JournalData) LastSeq() int {
	if len(jd.Records) == 0 {
		return 0
	}
	return jd.Records[len(jd.Records)-1].Seq
}

// Events returns the journal's events in order.
func (jd *JournalData) Events() []Event {
	var evs []Event
	for _, r := range jd.Records {
		if r.Ev != nil {
			ev := *r.Ev
			ev.Seq = r.Seq
			evs = append(evs, ev)
		}
	}
	return evs
}

// Inputs returns the journal's inputs in order.
func (jd *JournalData) Inputs() []Input {
	var ins []Input
	for _, r := range jd.Records {
		if r.In != nil {
			ins = append(ins, *r.In)
		}
	}
	return ins
}

// LockInfo says who holds a run lock.
type LockInfo struct {
	User  string    `json:"user"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
	RunID string    `json:"run_id"`
}

// LockedError is returned when another drillbook runs the same runbook
// against the same target.
type LockedError struct {
	Holder LockInfo
	Path   string
}

// Error says who holds the lock and since when.
func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("runbook is already running against this target: run %s by %s on %s (pid %d) since %s UTC; wait for it, or resume that run with `drillbook resume %s`",
		h.RunID, h.User, h.Host, h.PID, h.Since.UTC().Format("2006-01-02 15:04:05"), h.RunID)
}

// Lock is a held run lock. The kernel releases it when the process dies,
// so a crashed run never leaves a lock that blocks its own resume.
type Lock struct {
	f    *os.File
	info LockInfo
}

// SetRun records the run id in the lock once it is known, so a refused
// second run can name the run to resume.
func (l *Lock) SetRun(runID string) {
	if l == nil || l.f == nil || l.info.RunID == runID {
		return
	}
	l.info.RunID = runID
	l.write()
}

func (l *Lock) write() {
	b, _ := json.Marshal(l.info)
	if err := l.f.Truncate(0); err == nil {
		_, _ = l.f.WriteAt(b, 0)
	}
}

// AcquireLock takes the lock for runbook id on target, or returns a
// *LockedError naming its holder.
func AcquireLock(stateDir, runbookID, target string, info LockInfo) (*Lock, error) {
	dir := filepath.Join(stateDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	path := lockPath(stateDir, runbookID, target)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		var holder LockInfo
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		_ = json.Unmarshal(b, &holder)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Holder: holder, Path: path}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &Lock{f: f, info: info}
	l.write()
	return l, nil
}

func lockPath(stateDir, runbookID, target string) string {
	return filepath.Join(stateDir, "locks", safeName(runbookID)+"@"+safeName(target)+".lock")
}

// LockHolder reports who holds the lock of runbook id on target, if anyone
// does, without taking it.
func LockHolder(stateDir, runbookID, target string) (LockInfo, bool) {
	f, err := os.OpenFile(lockPath(stateDir, runbookID, target), os.O_RDONLY, 0)
	if err != nil {
		return LockInfo{}, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return LockInfo{}, false
	}
	var holder LockInfo
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	_ = json.Unmarshal(b, &holder)
	return holder, true
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
