//go:build !linux

package logwatch

import (
	"fmt"
	"runtime"
)

// notifier is change notification where drillbook has none (AIX and every
// system but Linux): watches rely on the poll interval alone, the backstop
// they have on Linux for a missed inotify event or a file system without
// inotify (NFS). Linux keeps its inotify notifier (notify_linux.go).
type notifier struct{}

// subscribe notes, once per watch, that the watch polls.
func (n *notifier) subscribe(dirs []string, ch chan struct{}) []string {
	return []string{fmt.Sprintf("no change notification on %s: polling", runtime.GOOS)}
}

// unsubscribe has nothing to undo.
func (n *notifier) unsubscribe(dirs []string, ch chan struct{}) {}

// close has nothing to release.
func (n *notifier) close() error { return nil }
