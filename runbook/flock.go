//go:build !aix

package runbook

import (
	"errors"
	"os"
	"syscall"
)

// errLockHeld says another process holds the lock.
var errLockHeld = errors.New("lock held")

// tryLock takes an advisory lock on f without waiting: exclusive for a run,
// shared to test whether anyone holds it. The kernel releases it when the
// process dies. It returns errLockHeld when another holder has it.
func tryLock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}

// unlock releases a lock taken with tryLock.
func unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
