package tui

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/drillbook/drillbook/runbook"
)

// lineKind says how a kept line is shown.
type lineKind uint8

const (
	lineOut lineKind = iota
	lineErr
	lineInfo
	lineLogPlain
	lineLogSuccess
	lineLogFailure
	lineLogWarn
)

type paneLine struct {
	text string
	kind lineKind
}

// pane is a scrollable tail of lines kept in a fixed-size ring. The screen
// keeps only the last lines (the journal keeps everything), so a step that
// prints a million lines costs the screen the same as one that prints a
// thousand: a batch is reduced to its last cap lines before any of them is
// cleaned or stored.
//
// It is not bubbles/viewport on purpose: the viewport re-splits and
// re-measures its whole content on every SetContent and wants the lines
// styled up front, which is the expensive part during a flood; here only the
// visible lines are styled, when drawn.
type pane struct {
	ring  []paneLine
	head  int // index of the oldest line
	n     int // lines kept
	total int // lines ever added
	back  int // how many lines above the tail the view stands; 0 follows
}

func newPane(capacity int) pane {
	return pane{ring: make([]paneLine, capacity)}
}

func (p *pane) add(text string, kind lineKind) {
	c := len(p.ring)
	if c == 0 {
		return
	}
	p.total++
	l := paneLine{text: cleanLines(text), kind: kind}
	if p.n < c {
		p.ring[(p.head+p.n)%c] = l
		p.n++
	} else {
		p.ring[p.head] = l
		p.head = (p.head + 1) % c
	}
	if p.back > 0 {
		// Keep the lines the operator is reading where they are.
		p.back = min(p.back+1, max(0, p.n-1))
	}
}

// skip counts the first lines of a batch of n that would scroll out of the
// ring anyway, keeping a scrolled view where it stands, and returns how
// many to leave out.
func (p *pane) skip(n int) int {
	skip := max(0, n-len(p.ring))
	p.total += skip
	if p.back > 0 {
		p.back = min(p.back+skip, max(0, p.n-1))
	}
	return skip
}

// addOutput adds a batch of call output, skipping what would scroll out of
// the ring anyway and the adapter's echo of the command (shown already when
// the call started, with its host).
func (p *pane) addOutput(lines []runbook.OutputLine) {
	for _, l := range lines[p.skip(len(lines)):] {
		k := lineOut
		switch l.Stream {
		case runbook.Stderr:
			k = lineErr
		case runbook.Info:
			if strings.HasPrefix(l.Text, "$ ") {
				continue // the command was shown when the call started
			}
			k = lineInfo
		}
		p.add(l.Text, k)
	}
}

// addLog adds log records, each whole (a record's continuation lines
// show when lines are wrapped).
func (p *pane) addLog(lines []runbook.LogLine) {
	for _, l := range lines[p.skip(len(lines)):] {
		p.add(l.Text, logKind(l.Kind))
	}
}

func logKind(k runbook.MatchKind) lineKind {
	switch k {
	case runbook.MatchSuccess:
		return lineLogSuccess
	case runbook.MatchFailure:
		return lineLogFailure
	case runbook.MatchWarn:
		return lineLogWarn
	case runbook.MatchNote:
		return lineInfo
	}
	return lineLogPlain
}

func (p *pane) line(i int) paneLine { return p.ring[(p.head+i)%len(p.ring)] }

func (p *pane) scroll(delta, height int) {
	p.back = max(0, min(p.back+delta, p.n-height))
}

func (p *pane) top(height int) { p.back = max(0, p.n-height) }

func (p *pane) follow() { p.back = 0 }

// following reports whether the pane shows the newest lines.
func (p *pane) following() bool { return p.back == 0 }

// view draws the visible lines, padded to height. Unwrapped, each line is
// cut to width (a record shows its first line) and cut reports whether any
// was; wrapped, every line is shown whole over as many rows as it needs,
// the newest at the bottom.
func (p *pane) view(st Styles, width, height int, wrapped bool) (view string, cutSome bool) {
	if height <= 0 {
		return "", false
	}
	end := p.n - p.back
	var rows []string // newest first
	for i := end - 1; i >= 0 && len(rows) < height; i-- {
		l := p.line(i)
		mark, style := "  ", st.Text
		switch l.kind {
		case lineErr:
			mark, style = "! ", st.Stderr
		case lineInfo:
			mark, style = "· ", st.Info
		case lineLogPlain:
			style = st.Dim
		case lineLogSuccess:
			mark, style = "✓ ", st.LogSuccess
		case lineLogFailure:
			mark, style = "✗ ", st.LogFailure
		case lineLogWarn:
			mark, style = "! ", st.LogWarn
		}
		if !wrapped {
			text := firstLine(l.text)
			if l.kind >= lineLogPlain && ansi.StringWidth(mark+text) > width {
				text = compactRecord(text)
			}
			if ansi.StringWidth(mark+text) > width || text != l.text {
				cutSome = true
			}
			rows = append(rows, style.Render(cut(mark+text, width)))
			continue
		}
		parts := wrapIndented(mark, l.text, width)
		for j := len(parts) - 1; j >= 0 && len(rows) < height; j-- {
			rows = append(rows, style.Render(parts[j]))
		}
	}
	slices.Reverse(rows)
	for len(rows) < height {
		rows = append(rows, "")
	}
	return strings.Join(rows, "\n"), cutSome
}

// wrapIndented breaks text (which may hold several lines) into rows of at
// most width cells, the first starting with mark and the others indented
// as far, so the mark column stays clear.
func wrapIndented(mark, text string, width int) []string {
	indent := strings.Repeat(" ", ansi.StringWidth(mark))
	inner := width - len(indent)
	if inner < 1 {
		return []string{cut(mark+text, width)}
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for _, r := range strings.Split(ansi.Wrap(line, inner, " /"), "\n") {
			if len(out) == 0 {
				out = append(out, mark+r)
			} else {
				out = append(out, indent+r)
			}
		}
	}
	return out
}

// cleanLines cleans each line of a text that may hold several (a log
// record and its continuation lines), keeping the line breaks.
func cleanLines(s string) string {
	if !strings.Contains(s, "\n") {
		return clean(s)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = clean(strings.TrimRight(l, "\r"))
	}
	return strings.Join(lines, "\n")
}

// clean makes a line safe to draw: escape sequences and control characters
// from a command's output must not move the cursor or change colours.
func clean(s string) string {
	bad := false
	for i := 0; i < len(s); i++ {
		// C0 controls and DEL, and C1 controls (U+0080-U+009F, encoded
		// C2 80-C2 9F), which some terminals obey like ESC sequences.
		b := s[i]
		if b < 0x20 || b == 0x7f || b == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0 {
			bad = true
			break
		}
	}
	if !bad && utf8.ValidString(s) {
		return s
	}
	s = ansi.Strip(strings.ToValidUTF8(s, "?"))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == utf8.RuneError, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			b.WriteRune('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cut shortens s to width cells, marking the cut.
func cut(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimRight(s[:i], "\r")
	}
	return s
}

// count renders n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 1000 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// wasRecord is a WebSphere log record's head: date and time, thread id,
// logger and level letter.
var wasRecord = regexp.MustCompile(`^\[\S+ (\S+) \S+\] [0-9a-fA-F]{8} \S+\s+[A-Z]\s+`)

// compactRecord drops the date, thread and logger of a WebSphere record
// that is too wide, keeping its time and message: on a narrow screen the
// message id and engine are what matter.
func compactRecord(s string) string {
	m := wasRecord.FindStringSubmatchIndex(s)
	if m == nil {
		return s
	}
	return s[m[2]:m[3]] + " " + s[m[1]:]
}
