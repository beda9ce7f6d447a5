// Package flock takes the advisory file locks the simulations use to keep
// one process at a time on their state: flock(2) where the system has it,
// a POSIX record lock on AIX, which has no flock.
package flock

import "errors"

// ErrHeld says another holder has the lock.
var ErrHeld = errors.New("lock held by another process")
