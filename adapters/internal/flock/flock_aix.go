package flock

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TryLock takes a POSIX record lock on the whole of f without waiting (AIX
// has no flock); the kernel releases it when the process dies. Unlike
// flock it belongs to the process, not the open file: it keeps another
// process out, but not another goroutine of the same process, and closing
// any descriptor of the file releases it. A simulation that counts on it
// between its own goroutines is unprotected on AIX. It returns ErrHeld
// when another process has it.
func TryLock(f *os.File, exclusive bool) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EAGAIN) {
		return ErrHeld
	}
	return err
}

// Unlock releases a lock taken with TryLock.
func Unlock(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}
