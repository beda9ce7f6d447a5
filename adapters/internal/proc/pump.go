package proc

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/drillbook/drillbook/runbook"
)

// MaxLine is the longest line passed to Output in one piece; a longer line
// is split into pieces of this size.
const MaxLine = 64 << 10

// pump reads one stream and passes it on line by line.
//
// It is built for a process that prints a million lines as fast as it can:
// each read is converted to a string once, and the lines handed to Output
// are substrings of it, so a line costs no allocation and no copy. Bytes
// are passed on as they are, invalid UTF-8 included.
type pump struct {
	stream  runbook.Stream
	out     runbook.Output
	secrets []string
	lines   int64
	tail    ring
	// prompts, when not nil, matches a partial line left at the end of a
	// read that is passed on at once: a prompt waiting for an answer on
	// its own line never gets its newline.
	prompts *regexp.Regexp

	capture   bool
	capLeft   int
	captured  strings.Builder
	truncated bool
}

func newPump(stream runbook.Stream, out runbook.Output, secrets []string, tail, capture int) *pump {
	var s []string
	for _, sec := range secrets {
		if sec != "" {
			s = append(s, sec)
		}
	}
	return &pump{stream: stream, out: out, secrets: s, tail: ring{lines: make([]string, tail)}, capture: capture > 0, capLeft: capture}
}

// readSize is the pump's buffer: several reads' worth of a fast writer, and
// at least one longest line plus the start of the next.
const readSize = 4 * MaxLine

// pipeSize is asked of the kernel for each output pipe (it may give less):
// room for a fast writer to keep writing while the pump is between reads.
const pipeSize = 1 << 20

func (p *pump) run(f *os.File) {
	buf := make([]byte, readSize)
	start, end := 0, 0
	for {
		n, err := f.Read(buf[end:])
		end += n
		if n > 0 {
			if i := bytes.LastIndexByte(buf[start:end], '\n'); i >= 0 {
				p.emitLines(string(buf[start : start+i+1]))
				start += i + 1
			}
			// A line longer than MaxLine is passed on in pieces.
			for end-start >= MaxLine {
				p.emit(string(buf[start : start+MaxLine]))
				start += MaxLine
			}
			if p.prompts != nil && end > start && p.prompts.Match(buf[start:end]) {
				p.emit(string(buf[start:end]))
				start = end
			}
			if start == end {
				start, end = 0, 0
			} else if len(buf)-end < MaxLine {
				end = copy(buf, buf[start:end])
				start = 0
			}
		}
		if err != nil {
			if end > start {
				p.emit(string(buf[start:end]))
			}
			return
		}
	}
}

// emitLines passes on every line of s, which ends with a newline; lines
// longer than MaxLine are split.
func (p *pump) emitLines(s string) {
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		line := s[:i]
		for len(line) > MaxLine {
			p.emit(line[:MaxLine])
			line = line[MaxLine:]
		}
		p.emit(line)
		s = s[i+1:]
	}
}

// growPipe asks the kernel for a larger pipe buffer; failure only costs
// speed.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
	})
}

// fSetPipeSz is F_SETPIPE_SZ from <fcntl.h> (Linux).
const fSetPipeSz = 1031

func (p *pump) emit(line string) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(p.secrets) > 0 {
		line = Redact(line, p.secrets)
	}
	p.lines++
	p.tail.add(line)
	if p.capture && !p.truncated {
		p.keep(line)
	}
	p.out.Line(p.stream, line)
}

func (p *pump) keep(line string) {
	if p.capLeft <= 0 {
		p.truncated = true
		return
	}
	if len(line)+1 > p.capLeft {
		p.captured.WriteString(line[:p.capLeft])
		p.capLeft = 0
		p.truncated = true
		return
	}
	p.captured.WriteString(line)
	p.captured.WriteByte('\n')
	p.capLeft -= len(line) + 1
}

// ring keeps the last lines of a stream.
type ring struct {
	lines []string
	next  int
	full  bool
}

func (r *ring) add(s string) {
	if len(r.lines) == 0 {
		return
	}
	// s shares its memory with the rest of its read; the few kept lines
	// are copied out only when the tail is taken.
	r.lines[r.next] = s
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

// slice returns the kept lines, oldest first, copied so that they do not
// hold on to the reads they came from.
func (r *ring) slice() []string {
	var out []string
	if r.full {
		out = append(out, r.lines[r.next:]...)
	}
	out = append(out, r.lines[:r.next]...)
	for i, s := range out {
		out[i] = strings.Clone(s)
	}
	return out
}

// procGroupAlive scans /proc for a process of the group that is not a
// zombie. ok is false when /proc cannot be read.
func procGroupAlive(pgid int) (alive, ok bool) {
	d, err := os.Open("/proc")
	if err != nil {
		return false, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false, false
	}
	want := strconv.Itoa(pgid)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 {
			continue
		}
		if f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true, true
		}
	}
	return false, true
}
