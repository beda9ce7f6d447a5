// Package logwatch follows server log files for drillbook: it parses
// WebSphere basic-format records (SystemOut.log), and arms watches that end
// on the line proving a step worked or failed, never on a line written
// before the watch started, and never losing a line to a log rotation.
//
// A watch takes its start position (inode and size of every file) before the
// step's action runs, reads the bytes itself from its own descriptor, keeps
// the descriptor of a renamed file until it has read it to its end, restarts
// a truncated file from zero (reading the copy a copy-and-truncate rotation
// left behind), and drops anything it has already delivered by (inode,
// offset).
//
// Why neither github.com/hpcloud/tail nor its notification layer is used:
// measured and read in its pinned 2018 master (see reference/tail-library.md),
// the library skips lines written right after a tail starts at the end (it
// applies the location asynchronously), does not read a renamed file to its
// end (its issue #127), can take a rename for a truncation because it stats
// the path rather than the open file, and duplicates lines when it does.
// Its change notification is no better placed to keep: one process-wide
// inotify tracker shares a single event channel per path among every tail
// of that path (two watches of one SystemOut.log steal each other's events,
// and stopping one closes the other's channel, its issue #153), and a failed
// stat inside its goroutine calls os.Exit, which would take the run and its
// journal down. gopkg.in/fsnotify/fsnotify.v1 v1.4.7 underneath it costs a
// kernel grace period (12 ms) per watch closed and a goroutine hop per event
// (append-to-match p99 10-50 ms on a busy machine). So the watcher reads the
// bytes from its own descriptors and takes change notification from one
// inotify descriptor per Watcher, read through the Go runtime's poller
// (p99 under 1 ms), with a poll interval as the backstop for a lost event
// or a file system without inotify (NFS).
package logwatch
