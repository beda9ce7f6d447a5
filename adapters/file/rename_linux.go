package file

import "golang.org/x/sys/unix"

// renameNoReplace renames src to dst only if dst does not exist, in one
// step (renameat2 RENAME_NOREPLACE).
func renameNoReplace(src, dst string) error {
	return unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
}

// renameExchange swaps a and b in one step (renameat2 RENAME_EXCHANGE).
func renameExchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
