package runbook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
	// Checksums names how the journal's records are chained
	// (ChecksumCRC32C); empty in a journal written before records carried
	// checksums, which is read unchecked.
	Checksums string `json:"checksums,omitempty"`
}

// ChecksumCRC32C is RunMeta.Checksums of a journal whose every record ends
// with a CRC-32C (Castagnoli) of its bytes seeded with the checksum of the
// record before it, as etcd's write-ahead log chains its records: a record
// changed, removed, duplicated or moved breaks the chain at its line.
const ChecksumCRC32C = "crc32c"

// Record is one line of the journal: exactly one of Meta, In or Ev is set.
type Record struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	Meta *RunMeta  `json:"meta,omitempty"`
	In   *Input    `json:"in,omitempty"`
	Ev   *Event    `json:"ev,omitempty"`
}

// crcTable is CRC-32C, which Go computes with the processor's CRC32
// instruction where there is one; a table, never changed after it is made.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// sumSuffix is how a checked record ends: `,"sum":"0123abcd"}`. The
// checksum covers the record as it would read without it: the bytes before
// the suffix followed by "}".
const (
	sumPrefix    = `,"sum":"`
	sumSuffixLen = len(sumPrefix) + 8 + 2
)

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
	// checked makes every record carry a checksum chained to sum, the
	// checksum of the record before it (zero before the first).
	checked bool
	sum     uint32
	// dirty is set when records or output were written since the last
	// sync, at synced.
	dirty  bool
	synced time.Time
	// beforeWrite, when set, sees each encoded record before it is
	// written (SetBeforeWrite).
	beforeWrite func(seq int, line []byte)
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

// CreateJournal creates the journal of a new run in dir (created if
// needed). Its records carry chained checksums.
func CreateJournal(dir string, secrets []string) (*Journal, error) {
	return createJournal(dir, secrets, true)
}

// createJournal is CreateJournal; checked false writes records without
// checksums, as drillbook did before it had them (benchmarks compare).
func createJournal(dir string, secrets []string, checked bool) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	j := &Journal{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path, checked: checked, synced: time.Now()}
	j.SetSecrets(secrets)
	return j, nil
}

// AppendJournal reopens the journal jd was read from, in dir, for a resumed
// run. A torn last line (drillbook died while writing it) is cut off first,
// so the next record starts on a line of its own; record numbers and the
// checksum chain go on from the last whole record, and a journal read
// unchecked goes on unchecked.
func AppendJournal(dir string, jd *JournalData, secrets []string) (*Journal, error) {
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := f.Truncate(jd.GoodSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("cut torn journal line: %w", err)
	}
	if _, err := f.Seek(jd.GoodSize, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path, seq: jd.LastSeq(),
		checked: !jd.Unchecked, sum: jd.lastSum, synced: time.Now()}
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

// SetBeforeWrite makes the journal call f with each record's number and
// encoded line (redacted, checksum included) before the line is written,
// with the journal locked. The crash tests stop drillbook there, at every
// point of a run in turn; nil removes it.
func (j *Journal) SetBeforeWrite(f func(seq int, line []byte)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.beforeWrite = f
}

// moveTo records that the journal's run directory was renamed to dir.
func (j *Journal) moveTo(dir string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.path = filepath.Join(dir, JournalFile)
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
	r.Seq = j.seq + 1
	if r.Ev != nil {
		r.Ev.Seq = r.Seq
	}
	if r.Meta != nil && j.checked && r.Meta.Checksums != ChecksumCRC32C {
		m := *r.Meta
		m.Checksums = ChecksumCRC32C
		r.Meta = &m
	}
	line, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode journal record: %w", err)
	}
	line = redactBytes(line, j.secrets)
	sum := j.sum
	if j.checked {
		sum = crc32.Update(j.sum, crcTable, line)
		line = append(line[:len(line)-1], sumPrefix...)
		line = appendHex32(line, sum)
		line = append(line, '"', '}')
	}
	line = append(line, '\n')
	if j.beforeWrite != nil {
		j.beforeWrite(r.Seq, line)
	}
	if _, err := j.w.Write(line); err != nil {
		j.err = j.fail("write the journal", err)
		return 0, j.err
	}
	j.seq, j.sum, j.dirty = r.Seq, sum, true
	if sync {
		if err := j.syncLocked(); err != nil {
			return 0, err
		}
	}
	return r.Seq, nil
}

func appendHex32(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// AppendOutput writes a batch of a call's output lines to the call's output
// file, secrets redacted, and returns the file's path relative to the run
// directory. The lines reach the disk at the next sync: before the next
// effect, or at the latest when the runner syncs a running step's output
// (SyncIfOlder).
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
			j.err = j.fail("create the output directory", err)
			return "", j.err
		}
		f, err := os.OpenFile(filepath.Join(filepath.Dir(j.path), OutputPath(callID)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			j.err = j.fail("open output file "+OutputPath(callID), err)
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
		j.err = j.fail("write output file "+OutputPath(callID), err)
		return "", j.err
	}
	j.dirty = true
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
			j.err = j.fail("write output file "+OutputPath(id), err)
			return j.err
		}
		if err := of.f.Sync(); err != nil {
			j.err = j.fail("sync output file "+OutputPath(id), err)
			return j.err
		}
		if of.done {
			delete(j.outputs, id)
			if err := of.f.Close(); err != nil {
				j.err = j.fail("close output file "+OutputPath(id), err)
				return j.err
			}
		}
	}
	if err := j.w.Flush(); err != nil {
		j.err = j.fail("write the journal", err)
		return j.err
	}
	if err := j.f.Sync(); err != nil {
		j.err = j.fail("sync the journal", err)
		return j.err
	}
	j.dirty, j.synced = false, time.Now()
	return nil
}

// JournalWriteError is a journal, or a call's output file, that could not
// be written: the run stops at the last record on disk and can be resumed
// once the cause (a full disk) is gone.
type JournalWriteError struct {
	// Path is the journal file; What says what failed.
	Path string
	What string
	// Err is the system's error.
	Err error
}

// Error says what could not be written, which file system is full and how
// much is free when that is the cause, and how to go on.
func (e *JournalWriteError) Error() string {
	s := fmt.Sprintf("%s (%s): %v", e.What, e.Path, e.Err)
	if errors.Is(e.Err, syscall.ENOSPC) || errors.Is(e.Err, syscall.EDQUOT) {
		s += ": " + SpaceReport(filepath.Dir(e.Path))
	}
	run := filepath.Base(filepath.Dir(e.Path))
	return s + fmt.Sprintf(": the run stopped at its last record on disk and nothing more is run; free space, then `drillbook resume %s`", run)
}

// Unwrap returns the system's error.
func (e *JournalWriteError) Unwrap() error { return e.Err }

func (j *Journal) fail(what string, err error) error {
	return &JournalWriteError{Path: j.path, What: what, Err: err}
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

// SyncIfOlder syncs when something was written since the last sync and
// that sync is at least d old, so that the output of a step that runs for
// long is never more than about d behind on disk after a crash.
func (j *Journal) SyncIfOlder(d time.Duration) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if !j.dirty || time.Since(j.synced) < d {
		return nil
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
	var err error
	if j.err == nil {
		err = j.syncLocked()
	}
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
	// Unchecked is set for a journal written before records carried
	// checksums: it was read, but damage that leaves valid JSON cannot be
	// told from a record.
	Unchecked bool
	// lastSum is the checksum of the last whole record, where a resumed
	// run's chain goes on.
	lastSum uint32
}

// Check says in words how far the journal could be checked: for runs and
// reports.
func (jd *JournalData) Check() string {
	s := fmt.Sprintf("%d records, checksums verified", len(jd.Records))
	if jd.Unchecked {
		s = fmt.Sprintf("%d records, unchecked (written before journals carried checksums)", len(jd.Records))
	}
	if jd.Torn {
		s += "; a torn last record (a crash mid-write) is cut off on resume"
	}
	return s
}

// JournalError is a journal that fails its check: a line that is not a
// record, a record that fails its checksum, or records out of order.
type JournalError struct {
	// Path is the journal file; Line the first line that fails (1-based).
	Path string
	Line int
	// Problem says what is wrong with the line.
	Problem string
	// Err is the decoding error behind Problem, if any.
	Err error
}

// Error names the file and line, says what is wrong and what to do.
func (e *JournalError) Error() string {
	intact := "no record can be trusted"
	if e.Line > 1 {
		intact = fmt.Sprintf("the records before line %d are intact", e.Line)
	}
	return fmt.Sprintf("%s:%d: %s: the journal was edited or damaged after it was written, and %s: keep the file for the incident record and start a new run (drillbook does not resume from a journal it cannot trust)",
		e.Path, e.Line, e.Problem, intact)
}

// Unwrap returns the decoding error, if any.
func (e *JournalError) Unwrap() error { return e.Err }

// maxJournalLine bounds one record; output is batched far below this.
const maxJournalLine = 64 << 20

// ReadJournal reads a run's journal and checks it. A journal whose records
// carry checksums is verified line by line before any record is decoded:
// any damage (a changed byte, a line removed, duplicated or moved) is a
// *JournalError naming the first line that fails, except a last line cut
// short by a crash (no newline at its end), which is reported in Torn and
// left out. A journal written before checksums is read unchecked: there
// only a line that is not JSON is damage, and the last such line is torn.
func ReadJournal(path string) (*JournalData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	size := int64(256 << 10)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return readJournal(f, size, path)
}

// readJournal reads a journal of about size bytes from rd; path names it in
// errors.
func readJournal(rd io.Reader, size int64, path string) (*JournalData, error) {
	r := bufio.NewReaderSize(rd, int(min(max(size+1, 4<<10), 256<<10)))
	jd := &JournalData{}
	var lines [][]byte
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(r, maxJournalLine)
		if errors.Is(err, errLineTooLong) {
			return nil, &JournalError{Path: path, Line: lineNo, Problem: fmt.Sprintf("a journal record longer than %d bytes", maxJournalLine)}
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
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: the journal is empty: the run never started; nothing was run, start a new run", path)
	}
	jd.Unchecked = !hasSum(lines[0])
	// First the chain, cheaply, so that no byte of a damaged journal is
	// decoded and trusted.
	var sum uint32
	for i, line := range lines {
		has := hasSum(line)
		switch {
		case jd.Unchecked && has:
			// Records after the first carry checksums: the first lost its
			// own to damage.
			return nil, &JournalError{Path: path, Line: 1, Problem: fmt.Sprintf("the run's description has no checksum, though line %d has one", i+1)}
		case jd.Unchecked:
			continue
		case !has:
			return nil, &JournalError{Path: path, Line: i + 1, Problem: "a record without its checksum"}
		}
		want, ok := parseHex32(line[len(line)-1-sumSuffixLen+len(sumPrefix) : len(line)-3])
		body := line[:len(line)-1-sumSuffixLen]
		got := crc32.Update(crc32.Update(sum, crcTable, body), crcTable, []byte{'}'})
		if !ok || got != want {
			return nil, &JournalError{Path: path, Line: i + 1, Problem: "the record fails its checksum"}
		}
		sum = got
	}
	jd.lastSum = sum
	var off int64
	for i, line := range lines {
		lineNo := i + 1
		var rec Record
		if uerr := json.Unmarshal(line, &rec); uerr != nil {
			if jd.Unchecked && i == len(lines)-1 && !jd.Torn {
				// An unchecked journal's torn last line may have a newline
				// in it (a crash inside a multi-byte write).
				jd.Torn = true
				break
			}
			return nil, &JournalError{Path: path, Line: lineNo, Problem: fmt.Sprintf("not a journal record (%v)", uerr), Err: uerr}
		}
		if p := recordProblem(rec, lineNo, !jd.Unchecked); p != "" {
			return nil, &JournalError{Path: path, Line: lineNo, Problem: p}
		}
		if lineNo == 1 {
			jd.Meta = *rec.Meta
		}
		off += int64(len(line))
		jd.Records = append(jd.Records, rec)
	}
	if len(jd.Records) == 0 {
		return nil, fmt.Errorf("%s: the journal holds no whole record: the run never started; nothing was run, start a new run", path)
	}
	jd.GoodSize = off
	return jd, nil
}

// recordProblem checks what a record must be at its line: numbered in
// order from 1, the run's description first and only there, exactly one of
// description, input and event.
func recordProblem(rec Record, lineNo int, checked bool) string {
	n := 0
	for _, set := range []bool{rec.Meta != nil, rec.In != nil, rec.Ev != nil} {
		if set {
			n++
		}
	}
	switch {
	case lineNo == 1 && rec.Meta == nil:
		return "the first record is not the run's description: this is not a drillbook journal"
	case rec.Seq != lineNo:
		return fmt.Sprintf("record number %d on line %d: records were removed, duplicated or reordered", rec.Seq, lineNo)
	case n != 1:
		return "a record holds none or several of a description, an input and an event"
	case lineNo > 1 && rec.Meta != nil:
		return "a second run description"
	case lineNo == 1 && checked && rec.Meta.Checksums != ChecksumCRC32C:
		return fmt.Sprintf("the run's description names checksums %q, not %q", rec.Meta.Checksums, ChecksumCRC32C)
	case lineNo == 1 && !checked && rec.Meta.Checksums != "":
		return "the run's description says its records carry checksums, but its own has none (the line was damaged)"
	}
	return ""
}

// hasSum reports whether a line ends like a checked record:
// `,"sum":"xxxxxxxx"}` and a newline.
func hasSum(line []byte) bool {
	n := len(line)
	if n < sumSuffixLen+2 || line[n-1] != '\n' || line[n-2] != '}' || line[n-3] != '"' {
		return false
	}
	return bytes.Equal(line[n-1-sumSuffixLen:n-1-sumSuffixLen+len(sumPrefix)], []byte(sumPrefix))
}

// parseHex32 reads exactly eight lower-case hex digits, as appendHex32
// writes them.
func parseHex32(b []byte) (uint32, bool) {
	if len(b) != 8 {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
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
	if err := tryLock(f, true); err != nil {
		var holder LockInfo
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		_ = json.Unmarshal(b, &holder)
		f.Close()
		if errors.Is(err, errLockHeld) {
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
	if err := tryLock(f, false); err == nil {
		_ = unlock(f)
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
