package runbook

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestJournalToleratesTornLastLineAndAppendsAfterIt(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	j.Append(Record{Time: at, Meta: &RunMeta{RunID: "r1", RunbookID: "demo"}}, true)
	j.Append(Record{Time: at, In: &Input{Type: InStart}}, true)
	j.Append(Record{Time: at, Ev: &Event{Type: EvRunStarted}}, true)
	j.Close()
	path := filepath.Join(dir, JournalFile)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":4,"time":"2026-11-23T08:00:00Z","ev":{"type":"step.sta`)
	f.Close()

	jd, err := ReadJournal(path)
	if err != nil {
		t.Fatalf("a torn last line must be tolerated: %v", err)
	}
	if !jd.Torn || len(jd.Records) != 3 || jd.Meta.RunID != "r1" {
		t.Fatalf("torn=%v records=%d meta=%q", jd.Torn, len(jd.Records), jd.Meta.RunID)
	}
	j2, err := AppendJournal(dir, jd, nil)
	if err != nil {
		t.Fatal(err)
	}
	j2.Append(Record{Time: at, Ev: &Event{Type: EvRunResumed}}, true)
	j2.Close()
	jd2, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if jd2.Torn || len(jd2.Records) != 4 || jd2.Records[3].Seq != 4 || jd2.Records[3].Ev.Type != EvRunResumed {
		t.Fatalf("after append: torn=%v records=%d last=%+v", jd2.Torn, len(jd2.Records), jd2.Records[len(jd2.Records)-1])
	}
}

func TestJournalDamageInTheMiddleIsAnErrorNamingTheLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), JournalFile)
	os.WriteFile(path, []byte(`{"seq":1,"meta":{"run_id":"r"}}`+"\nnot json\n"+`{"seq":3}`+"\n"), 0o600)
	_, err := ReadJournal(path)
	if err == nil || !strings.Contains(err.Error(), JournalFile+":2: not a journal record") {
		t.Fatalf("got %v", err)
	}
}

func TestJournalNeverWritesASecret(t *testing.T) {
	dir := t.TempDir()
	secret := `pa"ss w0rd\n`
	j, _ := CreateJournal(dir, []string{secret})
	j.Append(Record{Ev: &Event{Type: EvCallOutput, Output: []OutputLine{{Stream: Stdout, Text: "password is " + secret}}}}, false)
	j.Append(Record{In: &Input{Type: InCallDone, Error: "login failed for " + secret}}, true)
	j.Close()
	b, _ := os.ReadFile(filepath.Join(dir, JournalFile))
	if strings.Contains(string(b), "w0rd") {
		t.Fatalf("the secret reached the journal:\n%s", b)
	}
	if strings.Count(string(b), SecretMarker) != 2 {
		t.Fatalf("want two redactions:\n%s", b)
	}
}

func TestLockRefusesSecondRunAndNamesHolder(t *testing.T) {
	state := t.TempDir()
	since := time.Date(2026, 11, 23, 3, 4, 5, 0, time.UTC)
	l, err := AcquireLock(state, "was-sib-restore-me", "prod", LockInfo{User: "alice", Host: "jump1", PID: 4242, Since: since, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(state, "was-sib-restore-me", "prod", LockInfo{User: "bob"})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v", err)
	}
	for _, want := range []string{"alice", "jump1", "4242", "2026-11-23 03:04:05", "drillbook resume run-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lock error %q does not say %q", err, want)
		}
	}
	if _, err := AcquireLock(state, "was-sib-restore-me", "staging", LockInfo{}); err != nil {
		t.Fatalf("another target must not be locked: %v", err)
	}
	l.Release()
	if _, err := AcquireLock(state, "was-sib-restore-me", "prod", LockInfo{}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestReadLineStopsAtTheLimit reads lines longer than the reader's buffer:
// a line within the limit comes back whole, a longer one is refused without
// being read to its end.
func TestReadLineStopsAtTheLimit(t *testing.T) {
	long := strings.Repeat("x", 100) + "\n"
	r := bufio.NewReaderSize(strings.NewReader(long+"tail"), 16)
	line, err := readLine(r, 101)
	if err != nil || string(line) != long {
		t.Fatalf("a 101-byte line with a limit of 101: %d bytes, %v", len(line), err)
	}
	line, err = readLine(r, 101)
	if !errors.Is(err, io.EOF) || string(line) != "tail" {
		t.Fatalf("the torn tail: %q, %v", line, err)
	}
	r = bufio.NewReaderSize(strings.NewReader(long), 16)
	if _, err := readLine(r, 50); !errors.Is(err, errLineTooLong) {
		t.Fatalf("a 101-byte line with a limit of 50: %v, want errLineTooLong", err)
	}
	if rest, _ := io.ReadAll(r); len(rest) == 0 {
		t.Fatal("the whole line was read before it was refused")
	}
}

// TestJournalClosesFinishedOutputFiles writes the output of many calls, as
// a wait polling every few seconds makes: once each call is finished and the
// journal synced, drillbook holds no more open files than before, and every
// line is on disk.
func TestJournalClosesFinishedOutputFiles(t *testing.T) {
	dir := t.TempDir()
	j, err := CreateJournal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(fds)
	}
	before := openFiles()
	const calls = 50
	for id := 1; id <= calls; id++ {
		if _, err := j.AppendOutput(id, []OutputLine{{Stream: Stdout, Text: "poll " + strconv.Itoa(id)}}); err != nil {
			t.Fatal(err)
		}
		j.CloseOutput(id)
		if err := j.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if got := openFiles(); got > before {
		t.Fatalf("%d files open after %d finished calls, %d before", got, calls, before)
	}
	b, err := os.ReadFile(filepath.Join(dir, OutputPath(calls)))
	if err != nil || string(b) != "1 poll 50\n" {
		t.Fatalf("the last call's output file holds %q (%v)", b, err)
	}
}

// TestRedactMasksASecretThatHoldsAnother gives two secrets, one inside the
// other: the longer is masked whole, in the order the parameters come.
func TestRedactMasksASecretThatHoldsAnother(t *testing.T) {
	secrets := redactionList([]string{"pw", "", "pw-and-more"}, []string{"pw"})
	if got := Redact("login pw-and-more then pw", secrets); got != "login *** then ***" {
		t.Fatalf("got %q with secrets %q", got, secrets)
	}
}
