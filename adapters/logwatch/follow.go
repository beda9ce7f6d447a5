package logwatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// headBytes is how much of the start of a file is remembered to notice a
// copy-and-truncate rotation whose new content has already grown past the
// old offset, and to recognise the copy it left behind.
const headBytes = 256

// pollBudget is how many bytes one file may take in one round before the
// watch looks at its context, its deadline and its other files again.
const pollBudget = 8 << 20

// genKey names one generation of a file: its inode, and how many times it
// was truncated. Offsets, and so duplicates, are counted per generation.
type genKey struct {
	ino uint64
	gen int
}

// source is one open file being read: the live file at the watched path,
// or a rotated or copied file that is read to its end and closed.
type source struct {
	f        *os.File
	name     string // the file's own path, shown with its records
	key      genKey // the generation the offsets refer to
	off      int64  // the next byte to read
	consumed int64  // the end of the last record handed on
	final    bool   // the writer is done with it: read to its end, then close
	split    lineSplitter
	group    grouper
}

// recordHandler receives one record read from s; it returns false to end
// the round (a success or failure match).
type recordHandler func(f *follower, s *source, rec []byte, start, end int64, trunc bool) bool

// follower follows one watched path through rotations and truncations.
type follower struct {
	path  string
	dir   string
	stem  string
	live  *source
	queue []*source
	head  []byte
	gen   int
	// seen holds the inodes this follower has read or was told to ignore:
	// every rotated sibling present when the watch was armed is stale.
	seen      map[uint64]bool
	delivered map[genKey]*int64
	start     runbook.LogPosition
	notes     []string
}

// absent reports whether the watched file does not exist: nothing is open
// or queued for it and nothing is at its path.
func (f *follower) absent() bool {
	if f.live != nil || len(f.queue) > 0 {
		return false
	}
	_, err := os.Stat(f.path)
	return errors.Is(err, fs.ErrNotExist)
}

func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// stemOf returns the name rotated copies of path start with: "SystemOut"
// for SystemOut.log (SystemOut_25.11.23_07.56.24.log, SystemOut.log.1).
func stemOf(path string) string {
	base := filepath.Base(path)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		return strings.TrimSuffix(base, ext)
	}
	return base
}

// newFollower opens path and records where the watch starts in it. With a
// nil from it starts at the current end; otherwise it resumes at from,
// queueing the file that held from.Inode (found among the path's siblings
// after a rotation) and every file rotated after it.
func newFollower(path string, from *runbook.LogPosition) (*follower, error) {
	path = filepath.Clean(path)
	f := &follower{
		path:      path,
		dir:       filepath.Dir(path),
		stem:      stemOf(path),
		seen:      map[uint64]bool{},
		delivered: map[genKey]*int64{},
	}
	di, err := os.Stat(f.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("log directory %s does not exist: check the log path (a server's logs are in PROFILE/logs/SERVER)", f.dir)
	case err != nil:
		return nil, fmt.Errorf("log directory %s: %w", f.dir, err)
	case !di.IsDir():
		return nil, fmt.Errorf("%s is not a directory: check the log path", f.dir)
	}
	cur, curIno, err := openLog(path)
	if err != nil {
		return nil, err
	}
	siblings, err := f.siblings(true)
	if err != nil {
		if cur != nil {
			cur.Close()
		}
		return nil, err
	}
	for _, s := range siblings {
		f.seen[s.ino] = true
	}
	if cur != nil {
		f.seen[curIno] = true
	}
	if from == nil {
		f.start = runbook.LogPosition{Path: path}
		if cur != nil {
			fi, err := cur.Stat()
			if err != nil {
				cur.Close()
				return nil, fmt.Errorf("reading %s: %w", path, err)
			}
			f.start = runbook.LogPosition{Path: path, Inode: curIno, Offset: fi.Size()}
			f.live = &source{f: cur, name: path, key: genKey{ino: curIno}, off: fi.Size(), consumed: fi.Size()}
			f.head = readHead(cur)
		}
		return f, nil
	}
	f.start = *from
	f.start.Path = path
	if cur != nil && (from.Inode == curIno || from.Inode == 0) {
		off := from.Offset
		if from.Inode == 0 {
			off = 0
		}
		if fi, err := cur.Stat(); err == nil && fi.Size() < off {
			f.notes = append(f.notes, fmt.Sprintf("%s was truncated while the watch was stopped; reading it again from the start", path))
			off = 0
		}
		f.live = &source{f: cur, name: path, key: genKey{ino: curIno}, off: off, consumed: off}
		f.head = readHead(cur)
		return f, nil
	}
	// The file the watch stood in has been rotated away (or deleted).
	var old *sibling
	if from.Inode != 0 {
		for i := range siblings {
			if siblings[i].ino == from.Inode {
				old = &siblings[i]
				break
			}
		}
	}
	if old == nil && from.Inode != 0 {
		f.notes = append(f.notes, fmt.Sprintf("the file %s was when the watch stopped (inode %d) is gone; lines written to it since cannot be checked", path, from.Inode))
	}
	if old != nil {
		of, err := os.Open(old.path)
		if err != nil {
			f.notes = append(f.notes, fmt.Sprintf("cannot reopen %s, where the watch stopped (%v): lines written to it since cannot be checked", old.path, err))
		} else {
			f.queue = append(f.queue, &source{f: of, name: old.path, key: genKey{ino: old.ino}, off: from.Offset, consumed: from.Offset, final: true})
			for _, s := range siblings {
				if s.stem && s.ino != old.ino && s.ino != curIno && s.mtime.After(old.mtime) {
					if sf, err := os.Open(s.path); err == nil {
						f.queue = append(f.queue, &source{f: sf, name: s.path, key: genKey{ino: s.ino}, final: true})
					}
				}
			}
		}
	}
	if cur != nil {
		f.live = &source{f: cur, name: path, key: genKey{ino: curIno}}
	}
	return f, nil
}

// openLog opens path for reading; a file that does not exist yet gives
// (nil, 0, nil).
func openLog(path string) (*os.File, uint64, error) {
	// Stat first: opening a FIFO or a device could block or have effects.
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("cannot read %s: %w", path, err)
	case fi.IsDir():
		return nil, 0, fmt.Errorf("%s is a directory: give the log file's path (for example %s)", path, filepath.Join(path, "SystemOut.log"))
	case !fi.Mode().IsRegular():
		return nil, 0, fmt.Errorf("%s is not a regular file: give the log file's path", path)
	}
	fh, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, 0, fmt.Errorf("cannot read %s: permission denied: run drillbook as a user that can read the server's logs", path)
	case err != nil:
		return nil, 0, fmt.Errorf("cannot open %s: %w", path, err)
	}
	fi, err = fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, fmt.Errorf("cannot stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file: give the log file's path", path)
	}
	probe := make([]byte, 4096)
	n, err := fh.ReadAt(probe, 0)
	if err != nil && err != io.EOF {
		fh.Close()
		return nil, 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if looksBinary(probe[:n]) {
		fh.Close()
		return nil, 0, fmt.Errorf("%s looks like a binary file, not a text log: check the path", path)
	}
	return fh, inodeOf(fi), nil
}

// looksBinary reports a NUL byte among text; a run of NULs alone is what a
// copy-and-truncate rotation leaves in a sparse file, and is not binary.
func looksBinary(b []byte) bool {
	if bytes.IndexByte(b, 0) < 0 {
		return false
	}
	return len(bytes.Trim(b, "\x00")) > 0 && bytes.IndexByte(bytes.TrimLeft(b, "\x00"), 0) >= 0
}

func readHead(fh *os.File) []byte {
	buf := make([]byte, headBytes)
	n, _ := fh.ReadAt(buf, 0)
	return buf[:n]
}

type sibling struct {
	path  string
	ino   uint64
	size  int64
	mtime time.Time
	stem  bool // the name starts with the watched file's stem
}

// siblings lists the regular files next to the watched path, other than
// the path itself; with stemOnly, only its rotated copies.
func (f *follower) siblings(stemOnly bool) ([]sibling, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", f.dir, err)
	}
	base := filepath.Base(f.path)
	var out []sibling
	for _, e := range ents {
		name := e.Name()
		if name == base || !e.Type().IsRegular() {
			continue
		}
		isStem := strings.HasPrefix(name, f.stem)
		if stemOnly && !isStem {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, sibling{path: filepath.Join(f.dir, name), ino: inodeOf(fi), size: fi.Size(), mtime: fi.ModTime(), stem: isStem})
	}
	if f.seen != nil && len(f.seen) > len(out)+len(f.queue)+1 {
		f.pruneSeen(out)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.Before(out[j].mtime)
		}
		return out[i].path < out[j].path
	})
	return out, nil
}

// pruneSeen forgets inodes of files that are gone, so that a file created
// later with a reused inode number is not taken for one already read.
func (f *follower) pruneSeen(present []sibling) {
	keep := map[uint64]bool{}
	for _, s := range present {
		keep[s.ino] = true
	}
	for _, s := range f.queue {
		keep[s.key.ino] = true
	}
	if f.live != nil {
		keep[f.live.key.ino] = true
	}
	for ino := range f.seen {
		if !keep[ino] {
			delete(f.seen, ino)
		}
	}
}

// position is where the follower stands: in the first file still to be
// read to its end, else in the live file.
func (f *follower) position() runbook.LogPosition {
	if len(f.queue) > 0 {
		s := f.queue[0]
		return runbook.LogPosition{Path: f.path, Inode: s.key.ino, Offset: s.consumed}
	}
	if f.live != nil {
		return runbook.LogPosition{Path: f.path, Inode: f.live.key.ino, Offset: f.live.consumed}
	}
	return runbook.LogPosition{Path: f.path}
}

// close releases every descriptor the follower holds.
func (f *follower) close() {
	for _, s := range f.queue {
		s.f.Close()
	}
	f.queue = nil
	if f.live != nil {
		f.live.f.Close()
		f.live = nil
	}
}

// roundResult says how a round of reading ended.
type roundResult int

const (
	roundIdle    roundResult = iota // everything available was read
	roundMore                       // the byte budget ran out: call again
	roundStopped                    // the handler ended the round
)

// poll reads everything that is available now, through rotations and
// truncations, handing each record to h.
func (f *follower) poll(buf []byte, h recordHandler) (roundResult, error) {
	budget := pollBudget
	for {
		for len(f.queue) > 0 {
			s := f.queue[0]
			r, err := f.read(s, buf, &budget, h, 0)
			if err != nil || r != roundIdle {
				return r, err
			}
			if !f.finish(s, h) {
				return roundStopped, nil
			}
			s.f.Close()
			f.queue = f.queue[1:]
		}
		if f.live == nil {
			opened, err := f.openLive()
			if err != nil {
				return roundIdle, err
			}
			if !opened {
				return roundIdle, nil
			}
			continue
		}
		truncated, err := f.truncated()
		if err != nil {
			return roundIdle, err
		}
		if truncated {
			f.onTruncate()
			continue
		}
		pre := 0
		if f.live.off == 0 {
			// The first bytes of a generation: whole generations may have
			// been written, copied and truncated without a single look, and
			// only their copies hold them. Their copies were made before
			// these bytes were written, so a listing taken after reading them
			// finds every one; read those first. The head is read again
			// after the listing: when it is still of the same generation, a
			// listed copy that starts like it is the live generation's own.
			var n int
			var sibs []sibling
			stable := false
			for try := 0; try < 10 && !stable; try++ {
				var err error
				n, err = f.live.f.ReadAt(buf[:min(len(buf), budget)], 0)
				if err != nil && err != io.EOF {
					return roundIdle, fmt.Errorf("reading %s: %w", f.live.name, err)
				}
				if sibs, err = f.siblings(true); err != nil {
					return roundIdle, err
				}
				stable = sameGeneration(buf[:min(n, headBytes)], readHead(f.live.f))
			}
			if !stable {
				return roundIdle, nil // the writer is racing ahead: look again next round
			}
			if f.queueOlderCopies(sibs, buf[:min(n, headBytes)], 0) {
				continue
			}
			pre = n
		}
		r, err := f.read(f.live, buf, &budget, h, pre)
		if err != nil || r != roundIdle {
			return r, err
		}
		rotated, err := f.rotated()
		if err != nil {
			return roundIdle, err
		}
		if rotated {
			f.live.final = true
			f.queue = append(f.queue, f.live)
			f.live = nil
			continue
		}
		// Hand on the record at the end of the file now rather than wait for
		// the next header line: a continuation line written later becomes a
		// record of its own.
		if !f.live.group.flush(f.recordFunc(f.live, h)) {
			return roundStopped, nil
		}
		return roundIdle, nil
	}
}

// read reads s from its offset to its end, or until the budget runs out.
// The first pre bytes of buf were already read at s.off.
func (f *follower) read(s *source, buf []byte, budget *int, h recordHandler, pre int) (roundResult, error) {
	stopped := false
	onRecord := f.recordFunc(s, h)
	onLine := func(line []byte, start, end int64, trunc bool) bool {
		if !s.group.line(line, start, end, trunc, onRecord) {
			stopped = true
			return false
		}
		return true
	}
	for *budget > 0 {
		want := min(len(buf), *budget)
		var n int
		var err error
		if pre > 0 {
			n, pre = pre, 0
		} else {
			n, err = s.f.ReadAt(buf[:want], s.off)
		}
		if n > 0 {
			base := s.off
			*budget -= n
			if s == f.live {
				if base > 0 && !f.sameHead() {
					// Truncated and grown again since the last look: these
					// bytes belong to the new generation. The next round's
					// truncation check starts it from zero.
					return roundIdle, nil
				}
				f.noteHead(buf[:n], base)
			}
			if !s.split.feed(buf[:n], base, onLine) || stopped {
				return roundStopped, nil
			}
			s.off = base + int64(n)
		}
		if err == io.EOF || n == 0 {
			return roundIdle, nil
		}
		if err != nil {
			return roundIdle, fmt.Errorf("reading %s: %w", s.name, err)
		}
	}
	return roundMore, nil
}

// sameHead reports whether the live file still starts with the bytes the
// watch read at its start. Checked after a read, it proves the bytes read
// came from the same generation: a truncation before the read would have
// changed the start by now.
func (f *follower) sameHead() bool {
	if len(f.head) == 0 {
		return true
	}
	var b [headBytes]byte
	n, _ := f.live.f.ReadAt(b[:len(f.head)], 0)
	return bytes.Equal(b[:n], f.head)
}

// noteHead remembers the first headBytes of the live file from the bytes
// read at offset base, so a truncation can be recognised (and its copy
// found) whenever the watch read the start of the current generation.
func (f *follower) noteHead(b []byte, base int64) {
	h := int64(len(f.head))
	if h >= headBytes || base > h || base+int64(len(b)) <= h {
		return
	}
	f.head = append(f.head, b[h-base:min(int64(len(b)), headBytes-base)]...)
}

// recordFunc wraps h for source s: it drops what was already handed on,
// and on a stop rewinds s to just after the matching record so that the
// rest is read again by the next round.
func (f *follower) recordFunc(s *source, h recordHandler) recordFunc {
	// One map lookup per read, not per record.
	d := f.delivered[s.key]
	if d == nil {
		d = new(int64)
		f.delivered[s.key] = d
	}
	return func(rec []byte, start, end int64, trunc bool) bool {
		if end <= *d {
			return true
		}
		*d = end
		s.consumed = end
		if !h(f, s, rec, start, end, trunc) {
			s.off = end
			s.split.reset()
			s.group.reset()
			return false
		}
		return true
	}
}

// finish hands on the partial last line and record of a file the writer
// is done with.
func (f *follower) finish(s *source, h recordHandler) bool {
	onRecord := f.recordFunc(s, h)
	stopped := false
	s.split.flush(s.off, func(line []byte, start, end int64, trunc bool) bool {
		if !s.group.line(line, start, end, trunc, onRecord) {
			stopped = true
			return false
		}
		return true
	})
	if stopped {
		return false
	}
	return s.group.flush(onRecord)
}

// openLive opens the watched path once it exists again (created after the
// watch started, or re-created after a rotation or deletion). Any rotated
// copy that appeared meanwhile and was never read is queued first, oldest
// first: the writer may have rotated more than once between two looks.
func (f *follower) openLive() (bool, error) {
	fh, ino, err := openLog(f.path)
	if err != nil || fh == nil {
		return false, err
	}
	sibs, err := f.siblings(true)
	if err != nil {
		fh.Close()
		return false, err
	}
	for _, s := range sibs {
		if f.seen[s.ino] || s.ino == ino {
			continue
		}
		sf, err := os.Open(s.path)
		if err != nil {
			continue
		}
		f.seen[s.ino] = true
		f.queue = append(f.queue, &source{f: sf, name: s.path, key: genKey{ino: s.ino}, final: true})
	}
	f.seen[ino] = true
	// A new generation even if the inode number is reused (ext4 hands a
	// deleted file's number to the next file created).
	f.gen++
	f.live = &source{f: fh, name: f.path, key: genKey{ino: ino, gen: f.gen}}
	f.head = nil
	return true, nil
}

// truncated reports whether the live file was truncated: it is shorter
// than what was read, or its first bytes changed (it was truncated and has
// already grown past the old offset).
func (f *follower) truncated() (bool, error) {
	s := f.live
	fi, err := s.f.Stat()
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", s.name, err)
	}
	if fi.Size() < s.off {
		return true, nil
	}
	if s.off == 0 {
		// Nothing of this generation read yet, so nothing to compare.
		return false, nil
	}
	var b [headBytes]byte
	n, _ := s.f.ReadAt(b[:min(int64(headBytes), fi.Size())], 0)
	k := min(n, len(f.head))
	if !bytes.Equal(b[:k], f.head[:k]) {
		return true, nil
	}
	if n > len(f.head) {
		f.head = append(f.head[:0], b[:n]...)
	}
	return false, nil
}

// queueOlderCopies queues, oldest first, every rotated copy this follower
// has neither read nor seen when it was armed, except the live
// generation's own (one that starts like liveHead). It reports whether it
// queued any.
func (f *follower) queueOlderCopies(sibs []sibling, liveHead []byte, except uint64) bool {
	queued := false
	for _, sb := range sibs {
		if f.seen[sb.ino] || sb.ino == except || (f.live != nil && sb.ino == f.live.key.ino) {
			continue
		}
		if f.isLiveCopy(sb.path, liveHead) {
			continue
		}
		fh, err := os.Open(sb.path)
		if err != nil {
			continue
		}
		f.seen[sb.ino] = true
		f.queue = append(f.queue, &source{f: fh, name: sb.path, key: genKey{ino: sb.ino}, final: true})
		queued = true
	}
	return queued
}

// sameGeneration reports whether two reads of a file's first bytes saw the
// same generation: both empty, or one a prefix of the other (it grew).
func sameGeneration(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return bytes.HasPrefix(a, b) || bytes.HasPrefix(b, a)
}

// isLiveCopy reports whether the file at path starts like the live file:
// the copy of the live generation, made (or being made) before a
// truncation still to come. When the live file is empty no copy is its
// own: the truncation that emptied it came after every copy finished.
func (f *follower) isLiveCopy(path string, liveHead []byte) bool {
	if len(liveHead) == 0 {
		return false
	}
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	// A copy still being written starts with a part of the live head, or
	// with nothing yet.
	h := readHead(fh)
	return bytes.HasPrefix(liveHead, h) || bytes.HasPrefix(h, liveHead)
}

// onTruncate starts the live file again from zero. When the truncation was
// a copy-and-truncate rotation, the copy (a sibling with the same first
// bytes and at least as long) is read first from where the live file was
// left, so a line written just before the truncation is not lost.
func (f *follower) onTruncate() {
	s := f.live
	var cpIno uint64
	if len(f.head) > 0 {
		if cp, ino := f.findCopy(s.off); cp != nil {
			cpIno = ino
			f.queue = append(f.queue, &source{f: cp, name: cp.Name(), key: s.key, off: s.off, consumed: s.consumed, final: true, split: s.split, group: s.group})
			s.split, s.group = lineSplitter{}, grouper{}
		}
	}
	// If the writer truncated more than once since the last look, the
	// generations in between exist only in their copies: read those whole,
	// oldest first. A copy that starts like the live file does now is the
	// copy of the current generation, made before a truncation still to
	// come; it is left for findCopy then.
	// Read the live file's head before and after listing, until both
	// agree: then every generation older than the live one was truncated,
	// and so copied, before the listing, and a listed copy that starts like
	// the live file is the live generation's own.
	liveHead := readHead(s.f)
	var sibs []sibling
	var err error
	for try := 0; try < 10; try++ {
		sibs, err = f.siblings(true)
		h := readHead(s.f)
		if sameGeneration(h, liveHead) {
			liveHead = h
			break
		}
		liveHead = h
	}
	if err == nil {
		f.queueOlderCopies(sibs, liveHead, cpIno)
	}
	s.split.reset()
	s.group.reset()
	f.gen++
	s.key.gen = f.gen
	s.off, s.consumed = 0, 0
	f.head = nil
}

// findCopy looks for the copy a copy-and-truncate rotation left: a
// sibling (a rotated name first, then any) at least size bytes long that
// starts with the bytes the live file started with.
func (f *follower) findCopy(size int64) (*os.File, uint64) {
	sibs, err := f.siblings(false)
	if err != nil {
		return nil, 0
	}
	for pass := 0; pass < 2; pass++ {
		for i := len(sibs) - 1; i >= 0; i-- {
			sb := sibs[i]
			if sb.stem != (pass == 0) || sb.size < size || sb.size < int64(len(f.head)) || sb.ino == f.live.key.ino || f.seen[sb.ino] {
				continue
			}
			fh, err := os.Open(sb.path)
			if err != nil {
				continue
			}
			if h := readHead(fh); len(h) >= len(f.head) && bytes.Equal(h[:len(f.head)], f.head) {
				f.seen[sb.ino] = true
				return fh, sb.ino
			}
			fh.Close()
		}
	}
	return nil, 0
}

// rotated reports whether the watched path now names another file, or
// none: the live file was renamed or deleted.
func (f *follower) rotated() (bool, error) {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", f.path, err)
	}
	return inodeOf(fi) != f.live.key.ino, nil
}
