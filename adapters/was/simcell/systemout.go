package simcell

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Record is one SystemOut.log record before formatting.
type Record struct {
	// Logger is the short name (SibMessage, WsServerImpl), cut to 13
	// characters as WebSphere does.
	Logger string
	// Type is the event type letter: I, A, W, E, F, O, R.
	Type string
	// Thread is the thread id, printed as 8 lower-case hex digits.
	Thread uint32
	// Bus and Engine make the "[bus:engine] " insert of SIB messages; both
	// empty with SIB set writes "[:] ".
	Bus, Engine string
	// SIB says the record is a SibMessage with a context insert.
	SIB bool
	// ID is the message id (CWSID0016I); Text follows "ID: ".
	ID, Text string
	// More are continuation lines (a stack trace), written without prefix.
	More []string
}

// Format renders the record in WebSphere's basic format (reference §2.4):
// [M/d/yy H:mm:ss:SSS TZ] tid ShortName_13 T   message
func Format(t time.Time, r Record) string {
	msg := r.Text
	if r.ID != "" {
		msg = r.ID + ": " + r.Text
	}
	if r.SIB {
		msg = "[" + r.Bus + ":" + r.Engine + "] " + msg
	}
	line := fmt.Sprintf("[%d/%d/%02d %d:%02d:%02d:%03d %s] %08x %-13.13s %s   %s\n",
		int(t.Month()), t.Day(), t.Year()%100, t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6,
		t.Format("MST"), r.Thread, r.Logger, r.Type, msg)
	for _, m := range r.More {
		line += m + "\n"
	}
	return line
}

// RotatedName is the name WebSphere gives a rolled SystemOut.log:
// SystemOut_yy.MM.dd_HH.mm.ss.log, the time the file was closed.
func RotatedName(t time.Time) string {
	return fmt.Sprintf("SystemOut_%02d.%02d.%02d_%02d.%02d.%02d.log", t.Year()%100, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

// LogWriter appends records to one server's SystemOut.log, rotating it by
// size the way WebSphere's outputStreamRedirect does.
type LogWriter struct {
	// Dir holds SystemOut.log and its rotated files.
	Dir string
	// MaxBytes rolls the file before a record would take it past this
	// size; zero means 1 MB (WebSphere's default rolloverSize).
	MaxBytes int64
	// MaxBackups is how many rotated files are kept, oldest deleted first;
	// zero keeps them all.
	MaxBackups int
	// Now gives the clock; nil means time.Now.
	Now func() time.Time
}

// Path returns the live file's path.
func (w LogWriter) Path() string { return filepath.Join(w.Dir, "SystemOut.log") }

func (w LogWriter) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Write appends the records, each as one write, rotating first whenever a
// record would not fit.
func (w LogWriter) Write(recs ...Record) error {
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return err
	}
	max := w.MaxBytes
	if max <= 0 {
		max = 1 << 20
	}
	for _, r := range recs {
		text := Format(w.now(), r)
		if st, err := os.Stat(w.Path()); err == nil && st.Size() > 0 && st.Size()+int64(len(text)) > max {
			if err := w.Rotate(); err != nil {
				return err
			}
		}
		f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Rotate renames SystemOut.log to its rotated name and prunes old files.
// The next Write creates a new SystemOut.log.
func (w LogWriter) Rotate() error {
	if _, err := os.Stat(w.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	t := w.now()
	name := filepath.Join(w.Dir, RotatedName(t))
	for i := 1; ; i++ {
		_, err := os.Lstat(name)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("rotate %s: %w", w.Path(), err)
		}
		// Two rolls within one second: take the next free second, as the
		// name has no finer resolution.
		name = filepath.Join(w.Dir, RotatedName(t.Add(time.Duration(i)*time.Second)))
	}
	if err := os.Rename(w.Path(), name); err != nil {
		return fmt.Errorf("rotate %s: %w", w.Path(), err)
	}
	if w.MaxBackups <= 0 {
		return nil
	}
	old, err := w.Rotated()
	if err != nil {
		return err
	}
	for len(old) > w.MaxBackups {
		if err := os.Remove(old[0]); err != nil {
			return err
		}
		old = old[1:]
	}
	return nil
}

// Rotated returns the rotated files, oldest first.
func (w LogWriter) Rotated() ([]string, error) {
	ents, err := os.ReadDir(w.Dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "SystemOut_") && strings.HasSuffix(e.Name(), ".log") {
			out = append(out, filepath.Join(w.Dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
