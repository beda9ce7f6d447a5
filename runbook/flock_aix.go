package runbook

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errLockHeld says another process holds the lock.
var errLockHeld = errors.New("lock held")

// tryLock takes a POSIX record lock on the whole of f without waiting:
// AIX has no flock(2). Like flock, the kernel releases it when the process
// dies. Unlike flock, it belongs to the process rather than the open file:
// closing any descriptor of the lock file in the process that holds the
// lock releases it, and the same process taking it twice is not refused.
// drillbook holds one lock per process and opens the file once per lock,
// so neither difference shows. It returns errLockHeld when another process
// has it.
func tryLock(f *os.File, exclusive bool) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EAGAIN) {
		return errLockHeld
	}
	return err
}

// unlock releases a lock taken with tryLock.
func unlock(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}
