//go:build !aix

package flock

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes an exclusive (or shared) lock on f without waiting; the
// kernel releases it when the process dies. It returns ErrHeld when
// another holder, in this process or another, has it.
func TryLock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrHeld
	}
	return err
}

// Unlock releases a lock taken with TryLock.
func Unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
