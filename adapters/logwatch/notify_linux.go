package logwatch

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// notifier shares one inotify instance among the watches of a Watcher and
// wakes each watch when something changes in one of its directories.
//
// One instance per Watcher rather than per watch: closing an inotify
// descriptor waits for a kernel grace period (measured here at 12 ms per
// watch through fsnotify), which a step armed and closed in a loop would pay
// every time, while adding and removing a directory watch is cheap. Unlike
// hpcloud/tail's tracker it is owned by a value, not the package, counts
// its directories per subscriber, and never blocks on a slow watch: a wake
// is a non-blocking send on a channel with room for one.
//
// It reads the inotify descriptor itself through the Go runtime's poller
// rather than through gopkg.in/fsnotify/fsnotify.v1, whose v1.4.7 reads it
// from a goroutine blocked in epoll_wait and passes each event through an
// unbuffered channel: one more goroutine hop per line, and on this busy
// two-core machine the append-to-match p99 showed 10-50 ms stalls with it.
type notifier struct {
	mu     sync.Mutex
	f      *os.File
	failed error
	dirs   map[string]*dirWatch
	byWD   map[int32]*dirWatch
	done   chan struct{}
}

type dirWatch struct {
	wd   int32
	subs map[chan struct{}]int
}

// subscribe wakes ch on any change in dirs. It returns a note for each
// directory without change notification (the watch then relies on polling).
func (n *notifier) subscribe(dirs []string, ch chan struct{}) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.f == nil && n.failed == nil {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			n.failed = err
		} else {
			n.f = os.NewFile(uintptr(fd), "inotify")
			n.dirs, n.byWD, n.done = map[string]*dirWatch{}, map[int32]*dirWatch{}, make(chan struct{})
			go n.run(n.f, n.done)
		}
	}
	if n.f == nil {
		return []string{fmt.Sprintf("no change notification (%v): polling", n.failed)}
	}
	var notes []string
	for _, d := range dirs {
		dw := n.dirs[d]
		if dw == nil {
			wd, err := n.addWatch(d)
			if err != nil {
				notes = append(notes, fmt.Sprintf("no change notification for %s (%v): polling", d, err))
				continue
			}
			dw = &dirWatch{wd: wd, subs: map[chan struct{}]int{}}
			n.dirs[d] = dw
			n.byWD[wd] = dw
		}
		dw.subs[ch]++
	}
	return notes
}

func (n *notifier) addWatch(dir string) (int32, error) {
	const mask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	rc, err := n.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var wd int
	var werr error
	if err := rc.Control(func(fd uintptr) { wd, werr = unix.InotifyAddWatch(int(fd), dir, mask) }); err != nil {
		return 0, err
	}
	return int32(wd), werr
}

// unsubscribe undoes subscribe; a directory nobody watches any more is
// removed from the inotify instance.
func (n *notifier) unsubscribe(dirs []string, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.f == nil {
		return
	}
	for _, d := range dirs {
		dw := n.dirs[d]
		if dw == nil || dw.subs[ch] == 0 {
			continue
		}
		if dw.subs[ch]--; dw.subs[ch] == 0 {
			delete(dw.subs, ch)
		}
		if len(dw.subs) == 0 {
			delete(n.dirs, d)
			delete(n.byWD, dw.wd)
			if rc, err := n.f.SyscallConn(); err == nil {
				// An error means the directory is gone and its watch with it.
				rc.Control(func(fd uintptr) { _, _ = unix.InotifyRmWatch(int(fd), uint32(dw.wd)) })
			}
		}
	}
}

// run turns inotify events into wakes until the descriptor is closed.
func (n *notifier) run(f *os.File, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// Anything else (an overflowed queue shows as an event, not an
			// error) would fail again at once: wake everyone to look and
			// stop, leaving the watches to their poll interval rather than
			// spinning on the error.
			n.wake(-1)
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				n.wake(-1)
			} else {
				n.wake(ev.Wd)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// wake wakes the subscribers of the watch wd, or everyone for -1.
func (n *notifier) wake(wd int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for w, dw := range n.byWD {
		if wd != -1 && w != wd {
			continue
		}
		for ch := range dw.subs {
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
	f, done := n.f, n.done
	n.f, n.dirs, n.byWD, n.failed = nil, nil, nil, nil
	n.mu.Unlock()
	if f == nil {
		return nil
	}
	err := f.Close()
	<-done
	return err
}
