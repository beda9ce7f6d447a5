package runbook

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MinFreeSpace is the free space a run needs on the state directory's file
// system before it starts: room for its journal and the output of its
// steps. A run is refused below it, before anything is written.
const MinFreeSpace = 16 << 20

// StateDirError is a state directory drillbook cannot journal a run in: it
// cannot be created, it cannot be written, or its file system is (nearly)
// full. Nothing was run.
type StateDirError struct {
	// Dir is the state directory.
	Dir string
	// Problem says what is wrong, Remedy what to do.
	Problem string
	Remedy  string
	// Err is the system's error, if any.
	Err error
}

// Error says what is wrong with the directory and what to do.
func (e *StateDirError) Error() string {
	s := fmt.Sprintf("state directory %s: %s", e.Dir, e.Problem)
	if e.Err != nil {
		s += fmt.Sprintf(" (%v)", e.Err)
	}
	return s + ": " + e.Remedy
}

// Unwrap returns the system's error.
func (e *StateDirError) Unwrap() error { return e.Err }

const stateDirRemedy = "point --state-dir or DRILLBOOK_STATE_DIR at a writable directory on a file system with room"

// CheckStateDir makes sure a run can be journaled under dir: the directory
// exists (it is created when missing), a file can be written in it, and
// its file system has at least MinFreeSpace free. It returns a
// *StateDirError that says which, and on which file system, otherwise.
func CheckStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		problem := "it does not exist and cannot be created"
		if errors.Is(err, syscall.EROFS) {
			problem = "it does not exist and its file system is read-only"
		}
		return &StateDirError{Dir: dir, Problem: problem, Remedy: "create it, or " + stateDirRemedy, Err: err}
	}
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		problem := "drillbook cannot write in it"
		switch {
		case errors.Is(err, syscall.EROFS):
			problem = "it is on the read-only file system " + FileSystemOf(dir)
		case errors.Is(err, syscall.ENOSPC):
			return noSpace(dir, err)
		}
		return &StateDirError{Dir: dir, Problem: problem, Remedy: "make it writable for this user, or " + stateDirRemedy, Err: err}
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	free, err := FreeSpace(dir)
	if err != nil {
		return &StateDirError{Dir: dir, Problem: "its free space cannot be read", Remedy: stateDirRemedy, Err: err}
	}
	if free < MinFreeSpace {
		return noSpace(dir, nil)
	}
	return nil
}

func noSpace(dir string, err error) error {
	return &StateDirError{Dir: dir, Problem: SpaceReport(dir) + fmt.Sprintf(", below the %s a run needs", humanSize(MinFreeSpace)),
		Remedy: "free space there, or " + stateDirRemedy, Err: err}
}

// FreeSpace returns the bytes an unprivileged user may still write on the
// file system that holds path.
func FreeSpace(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// SpaceReport says which file system holds path and how much is free on
// it: "the file system /var (ext4) has 12.0 KiB free".
func SpaceReport(path string) string {
	fs := FileSystemOf(path)
	free, err := FreeSpace(path)
	if err != nil {
		return "the file system " + fs + " cannot say how much is free"
	}
	return fmt.Sprintf("the file system %s has %s free", fs, humanSize(free))
}

// FileSystemOf names the file system that holds path: its mount point and
// type, "/var (ext4)", from /proc/self/mountinfo; the path itself when that
// cannot be read.
func FileSystemOf(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	// The deepest existing directory decides (path may not exist yet).
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return path
	}
	defer f.Close()
	best, bestType := "", ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		mnt := unescapeMount(fields[4])
		fstype := ""
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		if (p == mnt || mnt == "/" || strings.HasPrefix(p, mnt+"/")) && len(mnt) >= len(best) {
			best, bestType = mnt, fstype
		}
	}
	if best == "" {
		return path
	}
	return best + " (" + bestType + ")"
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// HumanSize writes a byte count as people read it: "512 B", "1.5 MiB".
func HumanSize(n int64) string { return humanSize(uint64(max(n, 0))) }

func humanSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
