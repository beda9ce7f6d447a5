package logwatch

import (
	"strings"
	"time"
)

// MaxLineBytes is the longest physical line a record keeps. The rest of a
// longer line is read and dropped, and the record is marked Truncated, so a
// 10 MB line costs no more memory than a 64 KiB one.
const MaxLineBytes = 64 << 10

// MaxRecordBytes caps a record with its continuation lines (a stack trace);
// continuation lines past it are dropped and the record marked Truncated.
const MaxRecordBytes = 256 << 10

// Record is one log record: a WebSphere basic-format line with the
// continuation lines (stack traces, wrapped text) that follow it, or one
// plain line of any other format.
type Record struct {
	// Time is the record's timestamp; zero when the line has none or when
	// it cannot be read without guessing: a date whose day, month and year
	// order several locales would read differently (5/11/24 is 11 May in
	// the US, 5 November in the UK and 2005-11-24 in Japan), a zone
	// abbreviation that names several zones (CST, IST, BST, AST) or one
	// this package does not know. A wrong date is worse than none, so the
	// parser never picks one. Order records by file position, not by Time.
	Time time.Time
	// Stamp is the timestamp as written between the brackets.
	Stamp string
	// Thread is the thread id column (8 hex digits), "" for a plain line.
	Thread string
	// Logger is the logger's short name (SibMessage, WsServerImpl).
	Logger string
	// Type is the one-character event type: a letter (I, A, W, E, F, O,
	// R...) or, in trace records, a level digit (1, 2, 3) or > and <.
	Type string
	// Class and Method are the source class and method columns a record
	// carries when the logging call named them ("I com.ibm.ws.Foo init
	// SRVE0242I: ..."), or the parenthesised class of a trace record
	// ("3   (com.ibm.ws.sib.processor.utils.UserTrace) [:] ..."); "" when
	// the record has none.
	Class, Method string
	// Bus is the bus name of a SIB message's [BUS:ME] insert, "" for [:] or
	// none.
	Bus string
	// Engine is the messaging engine of the [BUS:ME] insert (or of a [ME]
	// insert without a colon), "" when there is none.
	Engine string
	// MsgID is the message id as written, with its severity letter
	// (CWSIP0783I), "" when the message has none.
	MsgID string
	// Text is the message after the id, continuation lines appended after
	// "\n".
	Text string
	// Raw is the record as written: its lines joined by "\n", without line
	// ends or carriage returns.
	Raw string
	// Lines is the number of physical lines in the record.
	Lines int
	// WebSphere reports that the first line parsed as a basic-format
	// record; false means a plain line of another format, passed through.
	WebSphere bool
	// Truncated reports that a line was longer than MaxLineBytes, or the
	// record longer than MaxRecordBytes, and was cut.
	Truncated bool
}

// MsgNumber returns the message id without its severity letter
// (CWSIP0783 for CWSIP0783I), "" when the record has no id.
func (r Record) MsgNumber() string {
	return msgNumber(r.MsgID)
}

// ParseLine parses one physical line. It reports whether the line is a
// WebSphere basic-format record header; when it is not, the Record holds
// the line as plain text (with MsgID set if the line starts with one, as in
// "CWSIP0784E: Messaging engine: ..."). ParseLine never fails: any bytes,
// invalid UTF-8 included, give a Record.
func ParseLine(line string) (Record, bool) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	r := Record{Raw: line, Lines: 1}
	if parseHeader(line, &r) {
		r.WebSphere = true
		return r, true
	}
	if id, rest, ok := leadingMsgID(line); ok {
		r.MsgID, r.Text = id, rest
	} else {
		r.Text = line
	}
	return r, false
}

// ParseRecord parses a record of one or more lines joined by "\n": the
// first is parsed with ParseLine, the others are its continuation lines.
func ParseRecord(raw string) Record {
	first, rest, more := strings.Cut(raw, "\n")
	r, _ := ParseLine(first)
	if !more {
		return r
	}
	r.Raw = raw
	r.Lines = 1 + strings.Count(rest, "\n") + 1
	if r.Text == "" {
		r.Text = rest
	} else {
		r.Text += "\n" + rest
	}
	return r
}

// isHeaderStart is the cheap test the record grouper uses to tell a new
// record from a continuation line: "[" then a digit, and a "]" soon after.
func isHeaderStart(b []byte) bool {
	if len(b) < 3 || b[0] != '[' || b[1] < '0' || b[1] > '9' {
		return false
	}
	n := min(len(b), 64)
	for i := 2; i < n; i++ {
		if b[i] == ']' {
			return true
		}
	}
	return false
}

// parseHeader fills r from a basic-format line:
// [M/d/yy H:mm:ss:SSS TZ] THREADID SHORTNAME  T   [BUS:ME] MSGID: text
// It is lenient about the number of spaces between columns (copies in
// documents collapse them) and about a missing space after "MSGID:".
func parseHeader(s string, r *Record) bool {
	if len(s) < 3 || s[0] != '[' || !isDigit(s[1]) {
		return false
	}
	end := strings.IndexByte(s[:min(len(s), 64)], ']')
	if end < 0 {
		return false
	}
	stamp := s[1:end]
	date, clock, tz, ok := splitStamp(stamp)
	if !ok {
		return false
	}
	p := skipSpaces(s, end+1)
	// Thread id: hex digits, normally 8.
	q := p
	for q < len(s) && q-p < 16 && isHex(s[q]) {
		q++
	}
	if q == p || q >= len(s) || !isBlank(s[q]) {
		return false
	}
	thread := s[p:q]
	p = skipSpaces(s, q)
	// Short name: one token (padded to 13 characters in the file).
	q = p
	for q < len(s) && !isBlank(s[q]) && q-p < 64 {
		q++
	}
	if q == p || q >= len(s) {
		return false
	}
	logger := s[p:q]
	p = skipSpaces(s, q)
	// Event type: one character followed by a space or the end.
	if p >= len(s) || !isEventType(s[p]) || (p+1 < len(s) && !isBlank(s[p+1])) {
		return false
	}
	typ := s[p : p+1]
	single := p+2 < len(s) && s[p+1] == ' ' && !isBlank(s[p+2])
	p = skipSpaces(s, p+1)
	text := s[p:]
	class, method, text := sourceColumns(text, single)
	var bus, engine string
	if strings.HasPrefix(text, "[") {
		if c := strings.IndexByte(text, ']'); c > 0 {
			after := strings.TrimLeft(text[c+1:], " \t")
			if _, _, isID := leadingMsgID(after); isID || strings.HasPrefix(logger, "SibMessage") {
				inner := text[1:c]
				if b, e, ok := strings.Cut(inner, ":"); ok {
					bus, engine = b, e
				} else {
					engine = inner
				}
				text = after
			}
		}
	}
	r.Stamp = stamp
	r.Time = parseStamp(date, clock, tz)
	r.Thread = thread
	r.Logger = logger
	r.Type = typ
	r.Class, r.Method = class, method
	r.Bus = bus
	r.Engine = engine
	if id, rest, ok := leadingMsgID(text); ok {
		r.MsgID, r.Text = id, rest
	} else {
		r.Text = text
	}
	return true
}

// sourceColumns takes the optional source columns off the front of a
// record's message: the "(fully.qualified.Class)" of a trace record, or the
// "className methodName" pair IBM's basic format puts after the event type
// when the logging call supplied them ("<timestamp><threadId><shortName>
// <eventType>[className][methodName]<message>", IBM "Interpreting the JVM
// logs"). A pair is only taken when a message id or a [BUS:ME] insert
// follows it, or when the type letter is followed by one space and the
// class is package-qualified: WebSphere writes one space before the class
// and three before a message without one (real lines in record_test.go),
// while a plain System.out line may hold any two words.
func sourceColumns(text string, single bool) (class, method, rest string) {
	if strings.HasPrefix(text, "(") {
		if c := strings.IndexByte(text, ')'); c > 1 && isJavaName(text[1:c], true) {
			return text[1:c], "", strings.TrimLeft(text[c+1:], " \t")
		}
		return "", "", text
	}
	if _, _, ok := leadingMsgID(text); ok || strings.HasPrefix(text, "[") {
		return "", "", text
	}
	t0, r0, ok := cutField(text)
	if !ok || !isJavaName(t0, true) {
		return "", "", text
	}
	t1, r1, ok := cutField(r0)
	if !ok || !isMethodName(t1) {
		return "", "", text
	}
	if _, _, id := leadingMsgID(r1); id || strings.HasPrefix(r1, "[") {
		return t0, t1, r1
	}
	if single && strings.Contains(t0, ".") {
		return t0, t1, r1
	}
	return "", "", text
}

// cutField splits off the first blank-separated field; ok is false when
// nothing follows it.
func cutField(s string) (field, rest string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i <= 0 {
		return "", "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}

// isJavaName reports whether s is a Java class name, package-qualified or
// not (letters, digits, _ and $, dots between parts when dotted is set).
func isJavaName(s string, dotted bool) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && dotted && !start:
			start = true
			continue
		case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case isDigit(c) && !start:
		default:
			return false
		}
		start = false
	}
	return !start
}

// isMethodName reports whether s is a method name as the basic format
// prints it: a Java identifier, or <init> and <clinit>.
func isMethodName(s string) bool {
	return s == "<init>" || s == "<clinit>" || isJavaName(s, false)
}

// splitStamp cuts a timestamp into its date, clock and zone. The date is
// one field ("11/23/26", "23.11.26", "12-2-27") or, in Korean, three
// ("16. 12. 13", Java's yy. M. d), which comes back without its spaces and
// marked by a leading "k" for parseDate.
func splitStamp(stamp string) (date, clock, tz string, ok bool) {
	fields := strings.Fields(stamp)
	if len(fields) < 2 {
		return "", "", "", false
	}
	if len(fields) >= 4 && isKoreanDate(fields[0], fields[1], fields[2]) {
		date = "k" + fields[0] + fields[1] + strings.TrimSuffix(fields[2], ".")
		fields = fields[2:]
	} else {
		if !isDateish(fields[0]) {
			return "", "", "", false
		}
		date = fields[0]
	}
	if !isClockish(fields[1]) {
		return "", "", "", false
	}
	return date, fields[1], strings.Join(fields[2:], " "), true
}

// isKoreanDate reports whether three fields are a Korean short date:
// "16." "12." "13" (the last may end in a dot too).
func isKoreanDate(a, b, c string) bool {
	num := func(s string) bool {
		_, ok := smallNumber(s, 4)
		return ok
	}
	return strings.HasSuffix(a, ".") && strings.HasSuffix(b, ".") &&
		num(strings.TrimSuffix(a, ".")) && num(strings.TrimSuffix(b, ".")) && num(strings.TrimSuffix(c, "."))
}

func skipSpaces(s string, p int) int {
	for p < len(s) && isBlank(s[p]) {
		p++
	}
	return p
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isEventType(c byte) bool {
	return strings.IndexByte("FEWAICDORZ123<>", c) >= 0
}

func isDateish(s string) bool {
	if len(s) < 5 || len(s) > 10 || !isDigit(s[0]) {
		return false
	}
	seps := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
		case c == '/' || c == '.' || c == '-':
			seps++
		default:
			return false
		}
	}
	return seps == 2
}

func isClockish(s string) bool {
	if len(s) < 5 || len(s) > 14 || !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && c != ':' && c != '.' && c != ',' {
			return false
		}
	}
	return true
}

// leadingMsgID reports whether s starts with a message id and a colon
// ("CWSIP0783I: text", "CWSIS1538I:text", "J2CA0045E: ..."), returning the
// id and the text after it.
func leadingMsgID(s string) (id, rest string, ok bool) {
	c := strings.IndexByte(s[:min(len(s), 12)], ':')
	if c < 0 || !isMsgID(s[:c]) {
		return "", "", false
	}
	return s[:c], strings.TrimLeft(s[c+1:], " "), true
}

// isMsgID reports whether s is a message id: a 4- or 5-character component
// prefix (a letter, then letters or digits), 4 digits, and an optional
// severity letter.
func isMsgID(s string) bool {
	n := len(s)
	if n < 8 || n > 10 {
		return false
	}
	if isUpper(s[n-1]) {
		n--
	}
	if n < 8 || n > 9 {
		return false
	}
	for i := n - 4; i < n; i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	if !isUpper(s[0]) {
		return false
	}
	for i := 1; i < n-4; i++ {
		if !isUpper(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// msgNumber strips the severity letter from a message id.
func msgNumber(id string) string {
	if n := len(id); n > 0 && isUpper(id[n-1]) && n >= 9 && isDigit(id[n-2]) {
		return id[:n-1]
	}
	return id
}

// zoneOffsets are the time zone abbreviations Java prints (its English
// short names, and the German MEZ/MESZ) that name one offset only. Those
// that name several are in ambiguousZones and give no time: CST is US
// Central and also China (Java prints CST for Asia/Shanghai in every
// locale), IST is India, Israel and Ireland, BST British summer time and
// Bangladesh, AST Atlantic and Arabia, GST Gulf and South Georgia.
var zoneOffsets = map[string]int{
	"UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0,
	"WEST": 3600, "CET": 3600, "MEZ": 3600, "WAT": 3600,
	"CEST": 2 * 3600, "MESZ": 2 * 3600, "EET": 2 * 3600, "SAST": 2 * 3600, "CAT": 2 * 3600,
	"EEST": 3 * 3600, "MSK": 3 * 3600, "EAT": 3 * 3600,
	"PKT": 5 * 3600, "NPT": 5*3600 + 45*60,
	"ICT": 7 * 3600, "WIB": 7 * 3600,
	"HKT": 8 * 3600, "SGT": 8 * 3600, "AWST": 8 * 3600,
	"JST": 9 * 3600, "KST": 9 * 3600,
	"ACST": 9*3600 + 1800, "ACDT": 10*3600 + 1800,
	"AEST": 10 * 3600, "AEDT": 11 * 3600,
	"NZST": 12 * 3600, "NZDT": 13 * 3600,
	"HST": -10 * 3600, "AKST": -9 * 3600, "AKDT": -8 * 3600,
	"PST": -8 * 3600, "PDT": -7 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600,
	"CDT": -5 * 3600,
	"EST": -5 * 3600, "EDT": -4 * 3600,
	"ADT": -3 * 3600, "BRT": -3 * 3600, "ART": -3 * 3600,
	"NST": -(3*3600 + 1800), "NDT": -(2*3600 + 1800),
}

var ambiguousZones = map[string]bool{"CST": true, "IST": true, "BST": true, "AST": true, "GST": true}

// zoneLocation reads the zone of a timestamp: an abbreviation Java prints,
// or an offset written as GMT+08:00 (what Java prints for a zone it has no
// name for), UTC+1, +0530 or -05:00. It returns nil when the zone is
// missing, unknown or ambiguous: the record then has no time.
func zoneLocation(tz string) *time.Location {
	if tz == "" || ambiguousZones[tz] {
		return nil
	}
	if tz == "UTC" {
		return time.UTC
	}
	if off, ok := zoneOffsets[tz]; ok {
		return time.FixedZone(tz, off)
	}
	rest := tz
	for _, pre := range []string{"GMT", "UTC", "UT"} {
		if strings.HasPrefix(rest, pre) {
			rest = rest[len(pre):]
			break
		}
	}
	off, ok := parseOffset(rest)
	if !ok {
		return nil
	}
	return time.FixedZone(tz, off)
}

// parseOffset reads +8, +08, +0800, +08:00 or -5:30 as seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	var h, m string
	switch {
	case strings.Contains(s, ":"):
		h, m, _ = strings.Cut(s, ":")
	case len(s) == 4:
		h, m = s[:2], s[2:]
	default:
		h = s
	}
	hours, ok := smallNumber(h, 2)
	if !ok || hours > 14 {
		return 0, false
	}
	mins := 0
	if m != "" {
		if mins, ok = smallNumber(m, 2); !ok || len(m) != 2 || mins > 59 {
			return 0, false
		}
	}
	return sign * (hours*3600 + mins*60), true
}

// smallNumber reads 1 to max decimal digits.
func smallNumber(s string, max int) (int, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// dateOrder is one way a locale writes a short date; year4 means the
// year is only taken in that position when it has four digits.
type dateOrder struct {
	y, m, d int
	year4   bool
}

var (
	orderMDY  = dateOrder{y: 2, m: 0, d: 1} // en_US M/d/yy
	orderDMY  = dateOrder{y: 2, m: 1, d: 0} // en_GB, fr, it, es, pt_BR dd/MM/yy; de, cs, pl, ro, ru dd.MM.yy
	orderYMD  = dateOrder{y: 0, m: 1, d: 2} // ja yy/MM/dd, zh_TW yy/M/d, zh_CN yy-M-d, ko yy. M. d
	orderYMD4 = dateOrder{y: 0, m: 1, d: 2, year4: true}
)

// dateOrders are, by separator, the orders of Java's short date format in
// the locales WebSphere is translated into (and English): a date is read
// only when every one of them that fits gives the same day. Locales
// outside that set that write two-digit years in another order (Dutch
// d-M-yy, Danish dd-MM-yy, Lithuanian yy.M.d) are not told apart from
// these, so their dates come back wrong: set the server's JVM locale to
// one of these if record times matter.
var dateOrders = map[byte][]dateOrder{
	'/': {orderMDY, orderDMY, orderYMD},
	'.': {orderDMY, orderYMD4}, // hu writes yyyy.MM.dd.
	'-': {orderYMD},
}

// parseDate reads a short date written in a locale's order. Every order
// the separator allows is tried; the date is only taken when all the
// readings that give a valid date give the same one (a day over 12 or a
// four-digit year tells them apart), so 11/23/26 is 23 November 2026 and
// 5/11/24 is refused.
func parseDate(date string) (y, m, d int, ok bool) {
	orders := []dateOrder(nil)
	if strings.HasPrefix(date, "k") {
		// Korean: yy. M. d, the only order written with spaces.
		date, orders = date[1:], []dateOrder{orderYMD}
	}
	var parts [3]string
	var sep byte
	n := 0
	from := 0
	for i := 0; i < len(date); i++ {
		c := date[i]
		if isDigit(c) {
			continue
		}
		if sep == 0 {
			sep = c
		}
		if c != sep || n == 2 {
			return 0, 0, 0, false
		}
		parts[n] = date[from:i]
		n++
		from = i + 1
	}
	if n != 2 {
		return 0, 0, 0, false
	}
	parts[2] = date[from:]
	found := false
	if orders == nil {
		orders = dateOrders[sep]
	}
	for _, o := range orders {
		yy, mm, dd, valid := readDate(parts, o)
		if !valid {
			continue
		}
		if found && (yy != y || mm != m || dd != d) {
			return 0, 0, 0, false
		}
		y, m, d, found = yy, mm, dd, true
	}
	return y, m, d, found
}

// readDate reads the parts in one order; a four-digit part is only a year,
// and a one- or two-digit year is 20yy, as Java reads yy for dates within
// 20 years of now.
func readDate(parts [3]string, o dateOrder) (y, m, d int, ok bool) {
	for i, p := range parts {
		if p == "" || len(p) > 4 || len(p) > 2 && i != o.y {
			return 0, 0, 0, false
		}
	}
	if o.year4 && len(parts[o.y]) != 4 {
		return 0, 0, 0, false
	}
	y, _ = smallNumber(parts[o.y], 4)
	m, _ = smallNumber(parts[o.m], 2)
	d, _ = smallNumber(parts[o.d], 2)
	if len(parts[o.y]) <= 2 {
		y += 2000
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseStamp reads a basic-format timestamp: a short date in its locale's
// order, H:mm:ss:SSS and a zone. It returns the zero time when any of the
// three cannot be read without guessing.
func parseStamp(date, clock, tz string) time.Time {
	year, month, day, ok := parseDate(date)
	if !ok {
		return time.Time{}
	}
	var tp [4]int
	n := 0
	for i := 0; i < len(clock); i++ {
		c := clock[i]
		if isDigit(c) {
			if tp[n] < 10000 {
				tp[n] = tp[n]*10 + int(c-'0')
			}
			continue
		}
		if n == 3 {
			return time.Time{}
		}
		n++
	}
	if n < 2 || tp[0] > 23 || tp[1] > 59 || tp[2] > 60 || tp[3] > 999 {
		return time.Time{}
	}
	loc := zoneLocation(tz)
	if loc == nil {
		return time.Time{}
	}
	return time.Date(year, time.Month(month), day, tp[0], tp[1], tp[2], tp[3]*int(time.Millisecond), loc)
}
