package simcell

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/logwatch"
)

func newCell(t *testing.T, scenario string) *Cell {
	t.Helper()
	c, err := Create(context.Background(), t.TempDir(), Options{Scenario: scenario, Delays: DefaultDelays(), DelayScale: 0})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readLog(t *testing.T, c *Cell, server string) string {
	t.Helper()
	b, err := os.ReadFile(c.LogPath(server))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The exact basic format of reference §2.4, with WebSphere's real spacing.
func TestFormatMatchesWebSphereBasicFormat(t *testing.T) {
	at := time.Date(2024, 2, 22, 5, 13, 33, 486e6, time.UTC)
	got := Format(at, Record{Logger: "WsServerImpl", Type: "A", Thread: 1, ID: "WSVR0001I", Text: "Server server1 open for e-business"})
	want := "[2/22/24 5:13:33:486 UTC] 00000001 WsServerImpl  A   WSVR0001I: Server server1 open for e-business\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = Format(at, Record{Logger: "SibMessage", Type: "I", Thread: 0x1e, SIB: true, Bus: "Bus1", Engine: "ME1", ID: "CWSID0016I", Text: "Messaging engine ME1 is in state Started."})
	want = "[2/22/24 5:13:33:486 UTC] 0000001e SibMessage    I   [Bus1:ME1] CWSID0016I: Messaging engine ME1 is in state Started.\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if n := RotatedName(time.Date(2005, 6, 7, 10, 28, 48, 0, time.UTC)); n != "SystemOut_05.06.07_10.28.48.log" {
		t.Errorf("rotated name %s", n)
	}
}

func TestRotationKeepsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := LogWriter{Dir: dir, MaxBytes: 1000, MaxBackups: 0, Now: func() time.Time { return clock }}
	for i := 0; i < 60; i++ {
		if err := w.Write(Record{Logger: "SibMessage", Type: "I", SIB: true, Bus: "B", Engine: "E", ID: "CWSID0016I", Text: "record " + strings.Repeat("x", i%7)}); err != nil {
			t.Fatal(err)
		}
	}
	rot, _ := w.Rotated()
	if len(rot) < 4 {
		t.Fatalf("%d rotated files after 60 records of ~90 bytes at 1000 bytes each", len(rot))
	}
	total := 0
	for _, f := range append(rot, w.Path()) {
		st, _ := os.Stat(f)
		if st.Size() > 1000 {
			t.Errorf("%s is %d bytes, over the roll size", f, st.Size())
		}
		b, _ := os.ReadFile(f)
		total += strings.Count(string(b), "CWSID0016I")
	}
	if total != 60 {
		t.Errorf("%d records across the files, want 60", total)
	}
	w.MaxBackups = 2
	if err := w.Rotate(); err != nil {
		t.Fatal(err)
	}
	rot, _ = w.Rotated()
	if len(rot) != 2 {
		t.Errorf("%d rotated files kept, want 2", len(rot))
	}
}

// TestLogsParseWithoutLoss parses every line the cell wrote during a full
// restore-style sequence with the log watcher's parser: every record is a
// WebSphere record whose id, bus and engine come back as written.
func TestLogsParseWithoutLoss(t *testing.T) {
	c := newCell(t, ScenarioFlushFails)
	ctx := context.Background()
	if _, err := c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartEngine(ctx, "clu1.000-Bus1", "FLUSH", "server1", nil, "fail"); err == nil || !strings.Contains(err.Error(), "CWSIP0782E") {
		t.Fatalf("first FLUSH start in flush-fails: err = %v", err)
	}
	if _, err := c.StartEngine(ctx, "clu1.000-Bus1", "FLUSH", "server1", nil, "fail"); err != nil {
		t.Fatal(err)
	}
	header := regexp.MustCompile(`^\[\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}:\d{2}:\d{3} [A-Z]+\] [0-9a-f]{8} `)
	records, cont := 0, 0
	for _, srv := range []string{"server1", "server2", "server3", "appsrv1"} {
		for _, line := range strings.Split(strings.TrimSuffix(readLog(t, c, srv), "\n"), "\n") {
			r, ok := logwatch.ParseLine(line)
			if !header.MatchString(line) {
				if ok || !strings.HasPrefix(line, "\tat ") {
					t.Errorf("unexpected non-record line %q", line)
				}
				cont++
				continue
			}
			records++
			if !ok || r.MsgID == "" || r.Stamp == "" {
				t.Errorf("parser lost %q: %+v", line, r)
				continue
			}
			if r.Logger == "SibMessage" && strings.Contains(line, "[Bus1:") && r.Engine == "" {
				t.Errorf("engine lost in %q", line)
			}
			if !strings.Contains(line, r.MsgID+": ") {
				t.Errorf("id %s not in %q", r.MsgID, line)
			}
		}
	}
	if records < 40 || cont != 2 {
		t.Errorf("%d records and %d continuation lines", records, cont)
	}
	// The 0782E record with its stack trace parses as one record.
	log := readLog(t, c, "server1")
	i := strings.Index(log, "[")
	for _, rec := range splitRecords(log[i:]) {
		if strings.Contains(rec, "CWSIP0782E") {
			r := logwatch.ParseRecord(rec)
			if r.Lines != 3 || r.MsgNumber() != "CWSIP0782" || r.Engine != "clu1.000-Bus1" {
				t.Errorf("0782E record parsed as %+v", r)
			}
		}
	}
}

func splitRecords(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(l, "[") || len(out) == 0 {
			out = append(out, l)
		} else {
			out[len(out)-1] += "\n" + l
		}
	}
	return out
}

func TestFlushSequenceOrder(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	if _, err := c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
	before := len(readLog(t, c, "server1"))
	r, err := c.StartEngine(ctx, "clu1.000-Bus1", "FLUSH", "", []string{"server1"}, "fail")
	if err != nil || r.Server != "server1" || r.After != "Started" {
		t.Fatalf("r = %+v, err = %v", r, err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(readLog(t, c, "server1")[before:]), "\n") {
		rec, _ := logwatch.ParseLine(l)
		ids = append(ids, rec.MsgID)
	}
	want := "CWSID0016I CWSIS1538I CWSIS1545I CWSIS1537I CWSIP0780I CWSIP0781I CWSIP0781I CWSIP0783I CWSIP0212I CWSID0016I"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("sequence\n got %s\nwant %s", got, want)
	}
}

func TestHAFailoverAndFailback(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	host := func() string {
		ins, _ := c.Instances(ctx, "clu1.000-Bus1")
		var started []string
		for _, in := range ins {
			if in.State == "Started" {
				started = append(started, in.Server)
			}
		}
		return strings.Join(started, ",")
	}
	if h := host(); h != "server1" {
		t.Fatalf("engine starts in %q, want server1", h)
	}
	if _, err := c.StopServer(ctx, "node01", "server1", ""); err != nil {
		t.Fatal(err)
	}
	if h := host(); h != "server2" {
		t.Fatalf("after server1 stopped the engine is in %q, want server2", h)
	}
	if _, err := c.StopServer(ctx, "", "", "clu1.000-Bus1"); err != nil {
		t.Fatal(err)
	}
	if h := host(); h != "server3" {
		t.Fatalf("after server2 stopped the engine is in %q, want server3", h)
	}
	if _, err := c.StartServer(ctx, "node01", "server1"); err != nil {
		t.Fatal(err)
	}
	if h := host(); h != "server1" {
		t.Fatalf("fail back: engine in %q, want server1", h)
	}
	if !strings.Contains(readLog(t, c, "server3"), "clu1.000-Bus1 is in state Stopping.") {
		t.Error("server3 did not log the engine leaving on fail back")
	}
}

func TestStaleStoreAndDefaultStartWarnPartner(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	old, _ := os.ReadFile(c.DataStorePath("clu1.000-Bus1"))
	if err := c.Advance(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.DataStorePath("clu1.000-Bus1"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartEngine(ctx, "clu1.000-Bus1", "DEFAULT", "server1", nil, "fail"); err != nil {
		t.Fatal(err)
	}
	log := readLog(t, c, "appsrv1")
	// IBM's text with the inserts RemoteMessageReceiver passes: the sender
	// as {1} (twice), the receiver as {3}.
	want := regexp.MustCompile(`SibMessage    W   \[Bus1:node01\.appsrv1-Bus1\] CWSIP0784W: A remote message request \(with id \d+\) on a destination \(with id clu1\.000-Bus1\) from messaging engine node01\.appsrv1-Bus1 to clu1\.000-Bus1 is no longer valid\. Cleanup may be required\.\n`)
	if !want.MatchString(log) {
		t.Errorf("partner did not log IBM's CWSIP0784W:\n%s", log)
	}
}

func TestLockHeldThenRetrySucceeds(t *testing.T) {
	c := newCell(t, ScenarioLockHeld)
	ctx := context.Background()
	if _, err := c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
	_, err := c.StartEngine(ctx, "clu1.000-Bus1", "FLUSH", "server1", nil, "fail")
	if err == nil || !strings.Contains(err.Error(), "CWSIS1519E") {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.StartEngine(ctx, "clu1.000-Bus1", "FLUSH", "server1", nil, "fail"); err != nil {
		t.Fatal(err)
	}
}

func TestWsadminHangEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	c, err := Create(context.Background(), dir, Options{Scenario: ScenarioWsadminHangs, Delays: DefaultDelays(), DelayScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.StopEngine(ctx, "clu1.000-Bus1", "IMMEDIATE", "")
	if err == nil || !strings.Contains(err.Error(), "simulated wsadmin hang") {
		t.Fatalf("err = %v", err)
	}
	// The second call answers.
	if _, err := c.StopEngine(context.Background(), "clu1.000-Bus1", "IMMEDIATE", ""); err != nil {
		t.Fatal(err)
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	c := newCell(t, ScenarioNormal)
	ctx := context.Background()
	if _, _, err := c.SetInitialState(ctx, "Bus1", "clu1.000-Bus1", "STOPPED"); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c2.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Master["clu1.000-Bus1"] != "STOPPED" || s.NodeConfig["node01"]["clu1.000-Bus1"] != "STARTED" {
		t.Errorf("master %v, node01 has %v", s.Master, s.NodeConfig["node01"])
	}
	if _, err := Create(ctx, filepath.Join(t.TempDir(), "x"), Options{Scenario: "nosuch"}); err == nil || !strings.Contains(err.Error(), "flush-fails") {
		t.Errorf("unknown scenario: %v", err)
	}
}

// TestInterruptedStartCompletes cancels a FLUSH start half way: the call
// returns at once, and the cell finishes the sequence as a server would.
func TestInterruptedStartCompletes(t *testing.T) {
	// Delays of an hour: the start can only return if the cancel cut them.
	d := DefaultDelays()
	d.EngineStart, d.FlushStream = time.Hour, time.Hour
	c, err := Create(context.Background(), t.TempDir(), Options{Scenario: ScenarioNormal, Delays: d, DelayScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopEngine(context.Background(), "node01.appsrv1-Bus1", "FORCE", ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type started struct {
		r   EngineResult
		err error
	}
	done := make(chan started, 1)
	go func() {
		r, err := c.StartEngine(ctx, "node01.appsrv1-Bus1", "FLUSH", "", nil, "fail")
		done <- started{r, err}
	}()
	cancel()
	var got started
	select {
	case got = <-done:
	case <-time.After(time.Minute):
		t.Fatal("a cancelled start still waited out its delays")
	}
	if r, err := got.r, got.err; err != nil || r.After != "Started" {
		t.Fatalf("r = %+v, err = %v", r, err)
	}
	if !strings.Contains(readLog(t, c, "appsrv1"), "CWSIP0783I") {
		t.Error("the flush sequence was not finished")
	}
	// A kill leaves Starting in cell.json; the next call settles it.
	s, _ := c.Load()
	s.Engines["node01.appsrv1-Bus1"].Instances["appsrv1"] = "Starting"
	if err := c.save(s); err != nil {
		t.Fatal(err)
	}
	ins, err := c.Instances(context.Background(), "node01.appsrv1-Bus1")
	if err != nil || len(ins) != 1 || ins[0].State != "Started" {
		t.Errorf("instances after a kill: %+v, %v", ins, err)
	}
}
