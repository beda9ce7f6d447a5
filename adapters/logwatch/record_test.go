package logwatch

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// The real lines quoted in reference/was-sib.md §1 and §2, spacing kept.
func TestParseLineRealLines(t *testing.T) {
	cases := []struct {
		line                                       string
		thread, logger, typ, bus, engine, id, text string
		time                                       time.Time
	}{
		{
			line:   "[10/30/19 14:31:12:667 IST] 00000304 SibMessage    I   [:] CWSIV0777I: A connection to messaging engine Node1.server1-BPM.ProcessServer.Bus for destination TestBinding.JMSExport1_RECEIVE_D_SIB on bus BPM.ProcessServer.Bus has been successfully created.",
			thread: "00000304", logger: "SibMessage", typ: "I", id: "CWSIV0777I",
			text: "A connection to messaging engine Node1.server1-BPM.ProcessServer.Bus for destination TestBinding.JMSExport1_RECEIVE_D_SIB on bus BPM.ProcessServer.Bus has been successfully created.",
			// IST is India, Israel and Irish summer time: no time rather
			// than a guess.
			time: time.Time{},
		},
		{
			line:   "[2/22/24 5:13:33:486 UTC] 00000001 WsServerImpl  A   WSVR0001I: Server server1 open for e-business",
			thread: "00000001", logger: "WsServerImpl", typ: "A", id: "WSVR0001I", text: "Server server1 open for e-business",
			time: time.Date(2024, 2, 22, 5, 13, 33, 486e6, time.UTC),
		},
		{
			line:   "[6/24/14 15:05:32:488 EDT] 0000001e SibMessage E [XXXXYYYYZZZ] CWSIS1561E: The messaging engine's unique id does not match that found in the file store. ME_UUID=BPE98764B8E93CB4, ME_UUID(FS)=4587F87990047458",
			thread: "0000001e", logger: "SibMessage", typ: "E", engine: "XXXXYYYYZZZ", id: "CWSIS1561E",
			text: "The messaging engine's unique id does not match that found in the file store. ME_UUID=BPE98764B8E93CB4, ME_UUID(FS)=4587F87990047458",
			time: time.Date(2014, 6, 24, 15, 5, 32, 488e6, time.FixedZone("EDT", -4*3600)),
		},
		{
			line:   "[11/23/26 7:56:24:001 UTC] 0000004a SibMessage    I   [Bus1:wasNode01.server1-Bus1] CWSIS1538I:The messaging engine, ME_UUID=FCC87D95F99CDE6E, INC_UUID=B44E467DDE9EA5D9, is attempting to obtain an exclusive lock on the data store.",
			thread: "0000004a", logger: "SibMessage", typ: "I", bus: "Bus1", engine: "wasNode01.server1-Bus1", id: "CWSIS1538I",
			text: "The messaging engine, ME_UUID=FCC87D95F99CDE6E, INC_UUID=B44E467DDE9EA5D9, is attempting to obtain an exclusive lock on the data store.",
			time: time.Date(2026, 11, 23, 7, 56, 24, 1e6, time.UTC),
		},
		{
			line:   "[11/23/26 7:56:24:001 UTC] 0000004a SibMessage    I   [Bus1:wasNode01.server1-Bus1] CWSID0016I: Messaging engine wasNode01.server1-Bus1 is in state Started",
			thread: "0000004a", logger: "SibMessage", typ: "I", bus: "Bus1", engine: "wasNode01.server1-Bus1", id: "CWSID0016I",
			text: "Messaging engine wasNode01.server1-Bus1 is in state Started",
			time: time.Date(2026, 11, 23, 7, 56, 24, 1e6, time.UTC),
		},
	}
	for _, c := range cases {
		r, ok := ParseLine(c.line)
		if !ok || !r.WebSphere {
			t.Fatalf("ParseLine(%q): not a WebSphere record", c.line)
		}
		got := []string{r.Thread, r.Logger, r.Type, r.Bus, r.Engine, r.MsgID, r.Text, r.Raw}
		want := []string{c.thread, c.logger, c.typ, c.bus, c.engine, c.id, c.text, c.line}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ParseLine(%q) field %d = %q, want %q", c.line[:40], i, got[i], want[i])
			}
		}
		if !r.Time.Equal(c.time) {
			t.Errorf("ParseLine(%q).Time = %v, want %v", c.line[:40], r.Time, c.time)
		}
	}
}

// The seeds' CWSIP0783E and IBM's CWSIP0783I are the same message number.
func TestMsgNumberIgnoresSeverity(t *testing.T) {
	for _, id := range []string{"CWSIP0783I", "CWSIP0783E", "CWSIP0783W", "CWSIP0783"} {
		if got := msgNumber(id); got != "CWSIP0783" {
			t.Errorf("msgNumber(%q) = %q, want CWSIP0783", id, got)
		}
	}
	for _, id := range []string{"CWSIP0783I", "WSVR0001I", "J2CA0045E", "CWSIP0783", "SECJ0305I"} {
		if !isMsgID(id) {
			t.Errorf("isMsgID(%q) = false", id)
		}
	}
	for _, id := range []string{"CWSIP078", "cwsip0783I", "CWSIP0783II", "0WSIP0783I", "CW0783I", "Messaging"} {
		if isMsgID(id) {
			t.Errorf("isMsgID(%q) = true", id)
		}
	}
}

// Every spacing variant the reference warns about gives the same fields.
func TestParseLineSpacingVariants(t *testing.T) {
	variants := []string{
		// As WebSphere writes it: 13-column short name, type, three spaces.
		"[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.",
		// Collapsed to single spaces, as documents copy it.
		"[11/23/26 7:56:24:123 UTC] 0000004a SibMessage I [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.",
		// Tabs and extra spaces.
		"[11/23/26 7:56:24:123 UTC]  0000004a\tSibMessage  \t I \t [Bus1:ME1]   CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.",
		// No space after the colon.
		"[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I:Messaging engine: ME1 started, flush of all delivery streams completed.",
		// Two-digit month, day and hour; CRLF line end.
		"[11/23/26 07:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: Messaging engine: ME1 started, flush of all delivery streams completed.\r\n",
	}
	for _, v := range variants {
		r, ok := ParseLine(v)
		if !ok {
			t.Fatalf("ParseLine(%q): not parsed", v)
		}
		if r.Thread != "0000004a" || r.Logger != "SibMessage" || r.Type != "I" || r.Bus != "Bus1" || r.Engine != "ME1" || r.MsgID != "CWSIP0783I" ||
			r.Text != "Messaging engine: ME1 started, flush of all delivery streams completed." {
			t.Errorf("ParseLine(%q) = %+v", v, r)
		}
		if want := time.Date(2026, 11, 23, 7, 56, 24, 123e6, time.UTC); !r.Time.Equal(want) {
			t.Errorf("ParseLine(%q).Time = %v, want %v", v, r.Time, want)
		}
		if strings.ContainsAny(r.Raw, "\r\n") {
			t.Errorf("Raw keeps a line end: %q", r.Raw)
		}
	}
	// A 13-character short name with the single space WebSphere leaves.
	r, ok := ParseLine("[2/22/24 5:13:33:486 UTC] 00000001 ServerCollabo A   WSVR0001I: Server server1 open for e-business")
	if !ok || r.Logger != "ServerCollabo" || r.Type != "A" || r.MsgID != "WSVR0001I" {
		t.Errorf("13-character short name: %+v", r)
	}
	// A System.out line: no message id, text kept whole.
	r, ok = ParseLine("[2/22/24 5:13:33:486 UTC] 00000051 SystemOut     O   [backup] copying /data/store")
	if !ok || r.Type != "O" || r.MsgID != "" || r.Engine != "" || r.Text != "[backup] copying /data/store" {
		t.Errorf("System.out line: %+v", r)
	}
}

func TestParseLinePlainLines(t *testing.T) {
	for _, line := range []string{
		"2026-11-23 07:56:24.123 [info] <0.230.0> Server startup complete",
		"",
		"\tat com.ibm.ws.sib.processor.impl.DestinationManager.reconstitute(DestinationManager.java:1234)",
		"[not a timestamp] something",
		"[1/2/3 4] x",
	} {
		r, ok := ParseLine(line)
		if ok || r.WebSphere || r.Raw != line || r.Text != line {
			t.Errorf("ParseLine(%q) = %+v, %v; want a plain line", line, r, ok)
		}
	}
	// The seed's sample line has no header but does start with an id.
	r, _ := ParseLine("CWSIP0784E: Messaging engine: receivingME received a message from")
	if r.MsgID != "CWSIP0784E" || r.Text != "Messaging engine: receivingME received a message from" {
		t.Errorf("seed line: %+v", r)
	}
}

func TestReaderContinuationLines(t *testing.T) {
	log := "[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    E   [Bus1:ME1] CWSIP0782E: Messaging engine: ME1 started, flush of stream: 1 and destination: Q1 failed with the exception: java.lang.NullPointerException.\r\n" +
		"java.lang.NullPointerException\r\n" +
		"\tat com.ibm.ws.sib.processor.impl.DestinationManager.reconstitute(DestinationManager.java:1234)\r\n" +
		"\tat com.ibm.ws.sib.processor.impl.MessageProcessor.start(MessageProcessor.java:99)\r\n" +
		"[11/23/26 7:56:25:000 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSID0016I: Messaging engine ME1 is in state Started.\n" +
		"no newline at the end"
	rd := NewReader(strings.NewReader(log))
	var recs []Record
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %+v", len(recs), recs)
	}
	if recs[0].MsgID != "CWSIP0782E" || recs[0].Lines != 4 || !strings.HasSuffix(recs[0].Text, "\n\tat com.ibm.ws.sib.processor.impl.MessageProcessor.start(MessageProcessor.java:99)") {
		t.Errorf("record 1 = %+v", recs[0])
	}
	if strings.Contains(recs[0].Raw, "\r") {
		t.Errorf("record 1 keeps CR: %q", recs[0].Raw)
	}
	// A line that follows a record without a header is its continuation,
	// even the last one without a newline.
	if recs[1].MsgID != "CWSID0016I" || recs[1].Lines != 2 || !strings.HasSuffix(recs[1].Raw, "\nno newline at the end") {
		t.Errorf("record 2 = %+v", recs[1])
	}
}

func TestReaderPlainLinesAreRecordsOfTheirOwn(t *testing.T) {
	rd := NewReader(strings.NewReader("one\ntwo\n\nthree"))
	var got []string
	for {
		r, err := rd.Next()
		if err != nil {
			break
		}
		got = append(got, r.Raw)
	}
	if strings.Join(got, "|") != "one|two||three" {
		t.Errorf("got %q", got)
	}
}

func TestReaderLongLineAndInvalidUTF8(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("[11/23/26 7:56:24:123 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0781I: ")
	b.Write(bytes.Repeat([]byte("x"), 10<<20))
	b.WriteString("\n\xff\xfe bad bytes \xc3\x28\n[11/23/26 7:56:24:124 UTC] 0000004a SibMessage    I   [Bus1:ME1] CWSIP0783I: done\n")
	rd := NewReader(&b)
	r1, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Truncated || len(r1.Raw) > MaxRecordBytes || r1.MsgID != "CWSIP0781I" || r1.Lines != 2 {
		t.Errorf("long record: truncated=%v len=%d id=%s lines=%d", r1.Truncated, len(r1.Raw), r1.MsgID, r1.Lines)
	}
	if !strings.HasSuffix(r1.Raw, "\n\xff\xfe bad bytes \xc3\x28") {
		t.Errorf("invalid UTF-8 continuation lost: %q", r1.Raw[len(r1.Raw)-20:])
	}
	r2, err := rd.Next()
	if err != nil || r2.MsgID != "CWSIP0783I" || r2.Truncated {
		t.Errorf("record after the long line = %+v, %v", r2, err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[10/30/19 14:31:12:667 IST] 00000304 SibMessage    I   [:] CWSIV0777I: A connection")
	f.Add("[6/24/14 15:05:32:488 EDT] 0000001e SibMessage E [XXXXYYYYZZZ] CWSIS1561E: x\n\tat y")
	f.Add("[1/1/1 1:1:1:1] 1 a I [")
	f.Add("CWSIP0784E: Messaging engine: receivingME")
	for _, c := range realLines {
		f.Add(c.line)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, line := range strings.Split(s, "\n") {
			r, ok := ParseLine(line)
			if ok != r.WebSphere {
				t.Fatalf("ok=%v but WebSphere=%v", ok, r.WebSphere)
			}
			if r.Lines != 1 || r.Raw != strings.TrimSuffix(line, "\r") {
				t.Fatalf("ParseLine(%q) = %+v", line, r)
			}
			if r.MsgID != "" && !isMsgID(r.MsgID) {
				t.Fatalf("MsgID %q is not an id", r.MsgID)
			}
			if !strings.Contains(line, r.Text) {
				t.Fatalf("Text %q is not part of the line %q", r.Text, line)
			}
		}
		rd := NewReader(strings.NewReader(s))
		var raw []string
		for {
			r, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Truncated {
				return
			}
			raw = append(raw, r.Raw)
		}
		// Without CRs and leading NULs, the records put together are the input.
		want := strings.TrimSuffix(s, "\n")
		if strings.ContainsAny(s, "\r\x00") {
			return
		}
		if got := strings.Join(raw, "\n"); got != want {
			t.Fatalf("records %q do not put back %q", raw, want)
		}
	})
}

// emptyReader returns nothing and no error, for ever.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderGivesUpOnAReaderThatNeverProgresses(t *testing.T) {
	if _, err := NewReader(emptyReader{}).Next(); err != io.ErrNoProgress {
		t.Fatalf("Next = %v, want io.ErrNoProgress", err)
	}
}
