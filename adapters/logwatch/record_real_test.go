package logwatch

import (
	"testing"
	"time"
)

// realLine is a SystemOut.log line as published, with the fields a reader
// of it sees.
type realLine struct {
	line                       string
	logger, typ, class, method string
	bus, engine, id, textStart string
	time                       time.Time // zero: the parser must not guess
}

// realLines are published lines of every shape the parser meets, each with
// the place it was published. Lines quoted from a web page or file keep the
// spacing of the source; where the source prefixed them (a docker-compose
// service name), the prefix is removed and the comment says so.
var realLines = []realLine{
	// Class and method columns, one space after the type letter.
	// github.com/WASdev/ci.docker.websphere-traditional issue #198 (the
	// official tWAS image's log, "ibm_was    | " prefix of docker-compose
	// removed).
	{
		line:   "[1/14/20 14:55:43:839 UTC] 0000004f webapp        I com.ibm.ws.webcontainer.webapp.WebGroupImpl WebGroup SRVE0169I: Loading Web Module: Integrated Solutions Console.",
		logger: "webapp", typ: "I", class: "com.ibm.ws.webcontainer.webapp.WebGroupImpl", method: "WebGroup", id: "SRVE0169I",
		textStart: "Loading Web Module", time: time.Date(2020, 1, 14, 14, 55, 43, 839e6, time.UTC),
	},
	// Same issue: an unqualified class name.
	{
		line:   "[1/14/20 14:55:43:859 UTC] 0000004f WASSessionCor I SessionContextRegistry getSessionContext SESN0176I: Will create a new session context for application key admin_host/ISCAdminPortlet",
		logger: "WASSessionCor", typ: "I", class: "SessionContextRegistry", method: "getSessionContext", id: "SESN0176I",
		textStart: "Will create a new session context", time: time.Date(2020, 1, 14, 14, 55, 43, 859e6, time.UTC),
	},
	// Same issue: no class, three spaces after the type.
	{
		line:   "[1/14/20 14:55:43:677 UTC] 0000004e CompositionUn A   WSVR0191I: Composition unit WebSphere:cuname=ivtApp in BLA WebSphere:blaname=ivtApp started.",
		logger: "CompositionUn", typ: "A", id: "WSVR0191I",
		textStart: "Composition unit WebSphere:cuname=ivtApp", time: time.Date(2020, 1, 14, 14, 55, 43, 677e6, time.UTC),
	},
	// The ServletWrapper shape the issue names; a public GitHub README of a
	// WAS 9.0 EJB sample (drillbook code-search file 24180189431). 4/3/24
	// is 3 April (US), 4 March (UK) or 2004-03-24 (Japan): no time.
	{
		line:   "[4/3/24 20:01:25:850 PDT] 000000a3 ServletWrappe I com.ibm.ws.webcontainer.servlet.ServletWrapper init SRVE0242I: [SimpleEJB3Client] [/SimpleEJB3ClientWeb] [simple.ejb3.client.SimpleServlet]: Initialization successful.",
		logger: "ServletWrappe", typ: "I", class: "com.ibm.ws.webcontainer.servlet.ServletWrapper", method: "init", id: "SRVE0242I",
		textStart: "[SimpleEJB3Client] [/SimpleEJB3ClientWeb]",
	},
	// Same README: a System.out line with one space after O; two words are
	// not a class and a method.
	{
		line:   "[4/3/24 20:01:25:851 PDT] 000000a3 SystemOut     O Hello STSC",
		logger: "SystemOut", typ: "O", textStart: "Hello STSC",
	},
	// A trace-level record: type 3, the class in parentheses, then the SIB
	// insert and the id. A public GitHub note on SIB troubleshooting, dated
	// 2019-12-20 (drillbook code-search file 37496951693).
	{
		line:   "[10/30/19 14:11:20:415 IST] 000002dc UserTrace     3   (com.ibm.ws.sib.processor.utils.UserTrace) [:] CWSJU0001I: A producer E4338E1F88541FB33AE1209F sent a message with ID ID:7108a7c35f2aa434846a582a110a134f0000000000000001 and correlation ID null to destination TestBinding.JMSImport1_SEND_D_SIB using transaction !AAABMwAAAAQAAAEzAAAABAAAATM=.",
		logger: "UserTrace", typ: "3", class: "com.ibm.ws.sib.processor.utils.UserTrace", id: "CWSJU0001I",
		textStart: "A producer E4338E1F88541FB33AE1209F sent a message",
	},
	// NZDT, UTC+13: a SystemOut.log summariser in a public repository
	// quotes it (drillbook code-search file 43496127529).
	{
		line:   `[1/26/16 9:22:16:909 NZDT] 0003ebfb ThreadMonitor W   WSVR0605W: Thread "WebContainer : 364" (0003b646) has been active for 1036363 milliseconds and may be hung.  There is/are 1 thread(s) in total in the server that may be hung.`,
		logger: "ThreadMonitor", typ: "W", id: "WSVR0605W",
		textStart: `Thread "WebContainer : 364"`, time: time.Date(2016, 1, 26, 9, 22, 16, 909e6, time.FixedZone("NZDT", 13*3600)),
	},
	// GMT+08:00, what Java prints for a zone it has no name for; a Chinese
	// blog post on a core group problem (drillbook code-search file
	// 45758383241).
	{
		line:   `[12/19/18 10:43:16:810 GMT+08:00] 00000018 RoleViewLeade I   DCSV8030I: DCS Stack DefaultCoreGroup at Member HQxPVL-PDMS-A01Cell01\PDMSNode02\nodeagent: Failed  to join or establish a view with member [HQxPVL-PDMS-A01Cell01\PDMSDmgr01\dmgr].`,
		logger: "RoleViewLeade", typ: "I", id: "DCSV8030I",
		textStart: "DCS Stack DefaultCoreGroup", time: time.Date(2018, 12, 19, 10, 43, 16, 810e6, time.FixedZone("GMT+08:00", 8*3600)),
	},
	// The Chinese shape: yy-M-d date, GMT+08:00, Chinese text. A Chinese
	// blog post on a WebSphere connection pool (drillbook code-search file
	// 8181874721).
	{
		line:   "[12-2-27 9:01:29:262 GMT+08:00] 00000038 MCWrapper     E   J2CA0081E: 尝试对资源 ecareDB 的 ManagedConnection WSRdbManagedConnectionImpl@23f823f8 执行方法 cleanup 时，",
		logger: "MCWrapper", typ: "E", id: "J2CA0081E",
		textStart: "尝试对资源 ecareDB", time: time.Date(2012, 2, 27, 9, 1, 29, 262e6, time.FixedZone("GMT+08:00", 8*3600)),
	},
	// A System.err line: "Caused by:" is not a class and a method. 12/11/12
	// reads three ways: no time. A post on an IBM J9 BigDecimal bug
	// (drillbook code-search file 47252855930).
	{
		line:   "[12/11/12 18:32:15:515 GMT+08:00] 00002c4c SystemErr     R Caused by: java.lang.NullPointerException",
		logger: "SystemErr", typ: "R", textStart: "Caused by: java.lang.NullPointerException",
	},
	// The German shape: dd.MM.yy, CET, German text after the id. A test of
	// a WebSphere log formatter in a public repository (drillbook
	// code-search file 33298668872).
	{
		line:   "[17.02.12 13:06:39:171 CET] 000000a5 MFCImplementa E   CWSXM0205E: Es ist eine unerwartete Ausnahmebedingung in der Business-Logik aufgetreten.: CWSXM3300E: Das primitive Fehlerelement 'Fail2'",
		logger: "MFCImplementa", typ: "E", id: "CWSXM0205E",
		textStart: "Es ist eine unerwartete Ausnahmebedingung", time: time.Date(2012, 2, 17, 13, 6, 39, 171e6, time.FixedZone("CET", 3600)),
	},
	// The Korean shape: "yy. M. d" with spaces and three spaces before the
	// time. A WebSphere log parser's test in a public repository (drillbook
	// code-search file 25408876147).
	{
		line:   "[16. 12. 13   14:58:24:405 KST] 000000ee ServletWrappe I com.ibm.ws.webcontainer.servlet.ServletWrapper init SRVE0242I: [isclite] [/ibm/console] [/secure/layouts/collectionTableLayout.jsp]: Initialization successful.",
		logger: "ServletWrappe", typ: "I", class: "com.ibm.ws.webcontainer.servlet.ServletWrapper", method: "init", id: "SRVE0242I",
		textStart: "[isclite] [/ibm/console]", time: time.Date(2016, 12, 13, 14, 58, 24, 405e6, time.FixedZone("KST", 9*3600)),
	},
	// github.com/OpenLiberty/open-liberty issue #15910 (tWAS lines quoted by
	// IBM developers). 3/12/21 reads two ways: no time.
	{
		line:   "[3/12/21 13:52:52:907 EST] 00000001 WsServerImpl  A   WSVR0001I: Server server1 open for e-business",
		logger: "WsServerImpl", typ: "A", id: "WSVR0001I", textStart: "Server server1 open for e-business",
	},
	// CDT, reference/was-sib.md §1.6 (collapsed spacing as published).
	{
		line:   "[9/15/11 8:42:11:727 CDT] 00000000 WsServerImpl A WSVR0001I: Server server1 open for e-business",
		logger: "WsServerImpl", typ: "A", id: "WSVR0001I", textStart: "Server server1 open",
		time: time.Date(2011, 9, 15, 8, 42, 11, 727e6, time.FixedZone("CDT", -5*3600)),
	},
	// A SIB insert after the id-less class pair is not a class: the SIB
	// line of reference/was-sib.md §2.2, collapsed spacing.
	{
		line:   "[6/24/14 15:05:32:488 EDT] 0000001e SibMessage E [XXXXYYYYZZZ] CWSIS1561E: The messaging engine's unique id does not match that found in the file store. ME_UUID=BPE98764B8E93CB4, ME_UUID(FS)=4587F87990047458",
		logger: "SibMessage", typ: "E", engine: "XXXXYYYYZZZ", id: "CWSIS1561E", textStart: "The messaging engine's unique id",
		time: time.Date(2014, 6, 24, 15, 5, 32, 488e6, time.FixedZone("EDT", -4*3600)),
	},
}

func TestParseLinePublishedLines(t *testing.T) {
	for _, c := range realLines {
		r, ok := ParseLine(c.line)
		if !ok {
			t.Errorf("ParseLine(%.60q): not a WebSphere record", c.line)
			continue
		}
		got := []string{r.Logger, r.Type, r.Class, r.Method, r.Bus, r.Engine, r.MsgID}
		want := []string{c.logger, c.typ, c.class, c.method, c.bus, c.engine, c.id}
		names := []string{"Logger", "Type", "Class", "Method", "Bus", "Engine", "MsgID"}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ParseLine(%.60q).%s = %q, want %q", c.line, names[i], got[i], want[i])
			}
		}
		if len(r.Text) < len(c.textStart) || r.Text[:len(c.textStart)] != c.textStart {
			t.Errorf("ParseLine(%.60q).Text = %q, want it to start with %q", c.line, r.Text, c.textStart)
		}
		if !r.Time.Equal(c.time) || r.Time.IsZero() != c.time.IsZero() {
			t.Errorf("ParseLine(%.60q).Time = %v, want %v", c.line, r.Time, c.time)
		}
		if c.id != "" && r.MsgNumber() != c.id[:len(c.id)-1] {
			t.Errorf("ParseLine(%.60q).MsgNumber() = %q", c.line, r.MsgNumber())
		}
	}
}

// A watch for an id finds it whatever columns come before it: the ids of
// the class-and-method and trace shapes were lost before.
func TestMatcherFindsIDsAfterSourceColumns(t *testing.T) {
	m, err := compileMatcher([]string{"SRVE0242", "CWSJU0001"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range realLines {
		if c.id != "SRVE0242I" && c.id != "CWSJU0001I" {
			continue
		}
		r := ParseRecord(c.line)
		if kind, _, _ := m.match(&r); kind != "success" {
			t.Errorf("%.60q: match %q, want success", c.line, kind)
		}
	}
}

func TestParseStampOrdersZonesAndAmbiguity(t *testing.T) {
	utc := time.UTC
	cases := []struct {
		stamp string
		want  time.Time
	}{
		{"11/23/26 7:56:24:123 UTC", time.Date(2026, 11, 23, 7, 56, 24, 123e6, utc)}, // only M/d/yy fits
		{"23/11/26 7:56:24:123 UTC", time.Time{}},                                    // dd/MM/yy (UK) or yy/MM/dd (Japan)
		{"23/11/45 7:56:24:123 UTC", time.Date(2045, 11, 23, 7, 56, 24, 123e6, utc)}, // no 45th day: only dd/MM/yy fits
		{"5/11/24 7:56:24:123 UTC", time.Time{}},                                     // three readings
		{"1/1/01 0:00:00:000 UTC", time.Date(2001, 1, 1, 0, 0, 0, 0, utc)},           // every reading agrees
		{"2026/11/23 7:56:24:123 UTC", time.Date(2026, 11, 23, 7, 56, 24, 123e6, utc)},
		{"23.11.26 7:56:24:123 MEZ", time.Date(2026, 11, 23, 7, 56, 24, 123e6, time.FixedZone("MEZ", 3600))},
		{"2026.11.23 7:56:24:123 UTC", time.Date(2026, 11, 23, 7, 56, 24, 123e6, utc)},
		{"26-11-23 7:56:24:123 UTC", time.Date(2026, 11, 23, 7, 56, 24, 123e6, utc)},
		{"2/30/26 7:56:24:123 UTC", time.Time{}},                                            // no 30 February
		{"11/23/26 7:56:24:123 CST", time.Time{}},                                           // US Central or China
		{"11/23/26 7:56:24:123 XYZT", time.Time{}},                                          // unknown zone
		{"11/23/26 7:56:24:123", time.Time{}},                                               // no zone
		{"11/23/26 7:56:24:123 GMT-05:00", time.Date(2026, 11, 23, 12, 56, 24, 123e6, utc)}, // offsets
		{"11/23/26 7:56:24:123 UTC+0530", time.Date(2026, 11, 23, 2, 26, 24, 123e6, utc)},
		{"11/23/26 7:56:24:123 GMT+15:00", time.Time{}}, // no such offset
		{"11/23/26 25:56:24:123 UTC", time.Time{}},
	}
	for _, c := range cases {
		r, ok := ParseLine("[" + c.stamp + "] 00000001 WsServerImpl  A   WSVR0001I: Server server1 open for e-business")
		if !ok {
			t.Errorf("%q: not parsed", c.stamp)
			continue
		}
		if !r.Time.Equal(c.want) || r.Time.IsZero() != c.want.IsZero() {
			t.Errorf("%q: Time = %v, want %v", c.stamp, r.Time, c.want)
		}
		if r.Stamp != c.stamp {
			t.Errorf("%q: Stamp = %q", c.stamp, r.Stamp)
		}
	}
}
