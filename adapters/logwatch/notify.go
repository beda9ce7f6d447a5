package logwatch

import (
	"fmt"
	"path/filepath"
	"sync"

	"gopkg.in/fsnotify/fsnotify.v1"
)

// notifier shares one inotify instance among the watches of a Watcher and
// wakes each watch when something changes in one of its directories.
//
// One instance per Watcher rather than per watch: closing an inotify
// descriptor waits for a kernel grace period (about 10 ms, measured here
// as 12 ms per watch), which a step armed and closed in a loop would pay
// every time; adding and removing a directory watch is cheap. Unlike
// hpcloud/tail's tracker it is owned by a value, not the package, counts
// its directories per subscriber, and never blocks on a slow watch: a wake
// is a non-blocking send on a channel with room for one.
type notifier struct {
	mu     sync.Mutex
	w      *fsnotify.Watcher
	failed error
	dirs   map[string]map[chan struct{}]int
	done   chan struct{}
}

// subscribe wakes ch on any change in dirs. It returns a note for each
// directory without change notification (the watch then relies on polling).
func (n *notifier) subscribe(dirs []string, ch chan struct{}) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil && n.failed == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			n.failed = err
		} else {
			n.w, n.dirs, n.done = w, map[string]map[chan struct{}]int{}, make(chan struct{})
			go n.run(w, n.done)
		}
	}
	if n.w == nil {
		return []string{fmt.Sprintf("no change notification (%v): polling", n.failed)}
	}
	var notes []string
	for _, d := range dirs {
		subs := n.dirs[d]
		if subs == nil {
			if err := n.w.Add(d); err != nil {
				notes = append(notes, fmt.Sprintf("no change notification for %s (%v): polling", d, err))
				continue
			}
			subs = map[chan struct{}]int{}
			n.dirs[d] = subs
		}
		subs[ch]++
	}
	return notes
}

// unsubscribe undoes subscribe; a directory nobody watches any more is
// removed from the inotify instance.
func (n *notifier) unsubscribe(dirs []string, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil {
		return
	}
	for _, d := range dirs {
		subs := n.dirs[d]
		if subs[ch] == 0 {
			continue
		}
		if subs[ch]--; subs[ch] == 0 {
			delete(subs, ch)
		}
		if len(subs) == 0 {
			delete(n.dirs, d)
			// An error means the directory is gone and so is its watch.
			_ = n.w.Remove(d)
		}
	}
}

// run turns events into wakes until the inotify instance is closed.
func (n *notifier) run(w *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	events, errs := w.Events, w.Errors
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			n.wake(filepath.Dir(ev.Name))
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// A queue overflow loses events: wake everyone to look.
			n.wake("")
		}
	}
}

func (n *notifier) wake(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for d, subs := range n.dirs {
		if dir != "" && d != dir {
			continue
		}
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// close releases the inotify instance and waits for its goroutine.
func (n *notifier) close() error {
	n.mu.Lock()
	w, done := n.w, n.done
	n.w, n.dirs, n.failed = nil, nil, nil
	n.mu.Unlock()
	if w == nil {
		return nil
	}
	err := w.Close()
	<-done
	return err
}
