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
	// Time is the record's timestamp; zero when the line has none or it
	// could not be read (a locale's date order this parser does not know).
	// Zone abbreviations are ambiguous, so order records by file position,
	// not by Time; an abbreviation this package does not know is read as
	// UTC+0 under its own name.
	Time time.Time
	// Stamp is the timestamp as written between the brackets.
	Stamp string
	// Thread is the thread id column (8 hex digits), "" for a plain line.
	Thread string
	// Logger is the logger's short name (SibMessage, WsServerImpl).
	Logger string
	// Type is the one-letter event type (I, A, W, E, F, O, R...).
	Type string
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
	date, rest, ok := strings.Cut(stamp, " ")
	if !ok || !isDateish(date) {
		return false
	}
	rest = strings.TrimLeft(rest, " ")
	clock, tz, _ := strings.Cut(rest, " ")
	if !isClockish(clock) {
		return false
	}
	tz = strings.TrimSpace(tz)
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
	p = skipSpaces(s, p+1)
	text := s[p:]
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
	r.Bus = bus
	r.Engine = engine
	if id, rest, ok := leadingMsgID(text); ok {
		r.MsgID, r.Text = id, rest
	} else {
		r.Text = text
	}
	return true
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

// zoneOffset gives the offset of the abbreviations seen in WebSphere logs
// whose meaning is settled enough to use; IST is taken as India (the most
// common in IBM samples).
func zoneOffset(tz string) (int, bool) {
	switch tz {
	case "UTC", "GMT", "Z":
		return 0, true
	case "EST":
		return -5 * 3600, true
	case "EDT":
		return -4 * 3600, true
	case "CDT":
		return -5 * 3600, true
	case "CST":
		return -6 * 3600, true
	case "MST":
		return -7 * 3600, true
	case "MDT":
		return -6 * 3600, true
	case "PST":
		return -8 * 3600, true
	case "PDT":
		return -7 * 3600, true
	case "CET", "BST":
		return 3600, true
	case "CEST":
		return 2 * 3600, true
	case "IST":
		return 5*3600 + 1800, true
	case "JST":
		return 9 * 3600, true
	}
	return 0, false
}

// parseStamp reads "M/d/yy" (US) or "d.M.yy" dates and "H:mm:ss:SSS"
// times; it returns the zero time for anything else.
func parseStamp(date, clock, tz string) time.Time {
	var dp [3]int
	var sep byte
	n := 0
	for i := 0; i < len(date); i++ {
		c := date[i]
		if isDigit(c) {
			dp[n] = dp[n]*10 + int(c-'0')
			continue
		}
		if sep == 0 {
			sep = c
		}
		if c != sep || n == 2 {
			return time.Time{}
		}
		n++
	}
	var month, day, year int
	switch sep {
	case '/':
		month, day, year = dp[0], dp[1], dp[2]
	case '.':
		day, month, year = dp[0], dp[1], dp[2]
	default:
		return time.Time{}
	}
	if year < 100 {
		year += 2000
	}
	var tp [4]int
	n = 0
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
	if month < 1 || month > 12 || day < 1 || day > 31 || tp[0] > 23 || tp[1] > 59 || tp[2] > 60 || tp[3] > 999 {
		return time.Time{}
	}
	loc := time.UTC
	if tz != "" {
		off, _ := zoneOffset(tz)
		if tz != "UTC" {
			loc = time.FixedZone(tz, off)
		}
	}
	return time.Date(year, time.Month(month), day, tp[0], tp[1], tp[2], tp[3]*int(time.Millisecond), loc)
}
