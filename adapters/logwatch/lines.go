package logwatch

import (
	"bytes"
	"io"
)

// lineFunc receives one complete line (without its line end), the file
// offsets of its first byte and of the byte after its newline, and whether
// it was cut at MaxLineBytes. It returns false to stop the feed.
type lineFunc func(line []byte, start, end int64, truncated bool) bool

// lineSplitter turns a byte stream into lines with their file offsets. A
// line without its newline yet is kept (at most MaxLineBytes of it) until
// the rest arrives.
type lineSplitter struct {
	buf   []byte
	start int64
	over  bool
	has   bool
}

// feed splits chunk, whose first byte is at file offset off.
func (s *lineSplitter) feed(chunk []byte, off int64, emit lineFunc) bool {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if !s.has {
				s.has, s.start, s.buf, s.over = true, off, s.buf[:0], false
			}
			s.add(chunk)
			return true
		}
		end := off + int64(i) + 1
		var line []byte
		var trunc bool
		start := off
		if s.has {
			s.add(chunk[:i])
			line, trunc, start = s.buf, s.over, s.start
			s.has = false
		} else {
			line = chunk[:i]
			if len(line) > MaxLineBytes {
				line, trunc = line[:MaxLineBytes], true
			}
		}
		if !emit(cleanLine(line), start, end, trunc) {
			return false
		}
		chunk, off = chunk[i+1:], end
	}
	return true
}

func (s *lineSplitter) add(b []byte) {
	if room := MaxLineBytes - len(s.buf); len(b) > room {
		b, s.over = b[:room], true
	}
	s.buf = append(s.buf, b...)
}

// flush emits a pending partial line as a complete one: the writer is done
// with the file (a rotated file, the end of a stream).
func (s *lineSplitter) flush(end int64, emit lineFunc) bool {
	if !s.has {
		return true
	}
	s.has = false
	return emit(cleanLine(s.buf), s.start, end, s.over)
}

func (s *lineSplitter) reset() {
	s.has, s.over, s.buf = false, false, s.buf[:0]
}

// cleanLine drops a carriage return before the newline and the NUL bytes a
// copy-and-truncate rotation leaves at the start of a sparse file.
func cleanLine(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// recordFunc receives one record's bytes (lines joined by "\n"), the offsets
// of its first byte and of the byte after its last newline, and whether
// anything was cut. It returns false to stop.
type recordFunc func(rec []byte, start, end int64, truncated bool) bool

// grouper gathers a WebSphere record's continuation lines; any line that is
// not a record header and does not follow one is a record of its own.
type grouper struct {
	buf        []byte
	start, end int64
	trunc      bool
	open       bool
}

func (g *grouper) line(line []byte, start, end int64, trunc bool, emit recordFunc) bool {
	if isHeaderStart(line) {
		if g.open && !g.flush(emit) {
			return false
		}
		g.buf = append(g.buf[:0], line...)
		g.start, g.end, g.trunc, g.open = start, end, trunc, true
		return true
	}
	if g.open {
		if len(g.buf)+1+len(line) > MaxRecordBytes {
			g.trunc = true
		} else {
			g.buf = append(g.buf, '\n')
			g.buf = append(g.buf, line...)
		}
		g.end = end
		g.trunc = g.trunc || trunc
		return true
	}
	return emit(line, start, end, trunc)
}

// flush emits the record being gathered, if any.
func (g *grouper) flush(emit recordFunc) bool {
	if !g.open {
		return true
	}
	g.open = false
	return emit(g.buf, g.start, g.end, g.trunc)
}

func (g *grouper) reset() { g.open, g.buf = false, g.buf[:0] }

// Reader reads records from a log stream: WebSphere basic-format records
// with their continuation lines attached, other lines one record each.
// Lines longer than MaxLineBytes are cut and their records marked
// Truncated, so memory stays bounded whatever the input.
type Reader struct {
	r     io.Reader
	split lineSplitter
	group grouper
	chunk []byte
	off   int64
	queue []Record
	head  int
	err   error
}

// NewReader returns a Reader that reads records from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, chunk: make([]byte, 64<<10)}
}

// Next returns the next record. It returns io.EOF after the last one, or
// the underlying reader's error.
func (r *Reader) Next() (Record, error) {
	empty := 0
	for r.head == len(r.queue) {
		r.queue, r.head = r.queue[:0], 0
		if r.err != nil {
			return Record{}, r.err
		}
		n, err := r.r.Read(r.chunk)
		if n == 0 && err == nil {
			// A reader that keeps returning nothing would spin here for
			// ever; give up as bufio does.
			if empty++; empty >= 100 {
				err = io.ErrNoProgress
			}
		}
		if n > 0 {
			r.split.feed(r.chunk[:n], r.off, r.onLine)
			r.off += int64(n)
		}
		if err != nil {
			r.split.flush(r.off, r.onLine)
			r.group.flush(r.onRecord)
			r.err = err
		}
	}
	rec := r.queue[r.head]
	r.queue[r.head] = Record{}
	r.head++
	return rec, nil
}

func (r *Reader) onLine(line []byte, start, end int64, trunc bool) bool {
	return r.group.line(line, start, end, trunc, r.onRecord)
}

func (r *Reader) onRecord(rec []byte, _, _ int64, trunc bool) bool {
	pr := ParseRecord(string(rec))
	pr.Truncated = trunc
	r.queue = append(r.queue, pr)
	return true
}
