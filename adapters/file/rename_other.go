//go:build !linux

package file

import "golang.org/x/sys/unix"

// renameNoReplace has no one-step form outside Linux: it answers ENOSYS,
// and place falls back to checking, then renaming, as it does on a Linux
// file system without renameat2.
func renameNoReplace(src, dst string) error { return unix.ENOSYS }

// renameExchange has no one-step form outside Linux: it answers ENOSYS,
// and place moves the old copy aside, then renames.
func renameExchange(a, b string) error { return unix.ENOSYS }
