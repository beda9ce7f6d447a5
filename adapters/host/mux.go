package host

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
)

// mux carries frames over one channel (the SSH session's stdin and
// stdout) for many calls at once. One goroutine writes, one reads; calls
// wait on their own stream, never on the channel.
type mux struct {
	r *bufio.Reader
	w *bufio.Writer

	wq chan *frame

	dead    chan struct{}
	deadMu  sync.Mutex
	deadErr error

	mu      sync.Mutex
	streams map[uint64]*stream

	// other handles frames that are not stream traffic (call, cancel,
	// res); it runs on the reading goroutine and must not block.
	other func(*frame)
}

func newMux(r io.Reader, w io.Writer, other func(*frame)) *mux {
	return &mux{
		r:       bufio.NewReaderSize(r, 256<<10),
		w:       bufio.NewWriterSize(w, 256<<10),
		wq:      make(chan *frame, 256),
		dead:    make(chan struct{}),
		streams: map[uint64]*stream{},
		other:   other,
	}
}

// start runs the reading and writing goroutines. The mux dies when either
// side of the channel fails; readErr is called with the reading error.
func (m *mux) start() {
	go m.writeLoop()
	go m.readLoop()
}

func (m *mux) fail(err error) {
	m.deadMu.Lock()
	defer m.deadMu.Unlock()
	if m.deadErr != nil {
		return
	}
	if err == nil {
		err = io.EOF
	}
	m.deadErr = err
	close(m.dead)
}

// err returns why the mux died, nil while it lives.
func (m *mux) err() error {
	m.deadMu.Lock()
	defer m.deadMu.Unlock()
	return m.deadErr
}

func (m *mux) writeLoop() {
	for {
		var f *frame
		select {
		case f = <-m.wq:
		case <-m.dead:
			return
		}
		if err := writeFrame(m.w, f); err != nil {
			m.fail(err)
			return
		}
		// Write what else is queued, then flush once.
	more:
		for {
			select {
			case f = <-m.wq:
				if err := writeFrame(m.w, f); err != nil {
					m.fail(err)
					return
				}
			default:
				break more
			}
		}
		if err := m.w.Flush(); err != nil {
			m.fail(err)
			return
		}
	}
}

func (m *mux) readLoop() {
	for {
		f, err := readFrame(m.r)
		if err != nil {
			m.fail(err)
			return
		}
		switch f.T {
		case tCredit:
			if s := m.stream(f.ID); s != nil {
				s.credit(f.N)
			}
		case tOut, tLog, tProg, tData, tEOF, tRes:
			if s := m.stream(f.ID); s != nil {
				s.push(f)
			} else if counted(f.T) {
				// Nobody reads this call any more: give the window back so
				// its sender is not left waiting for a consumer that left.
				m.sendNoWait(&frame{T: tCredit, ID: f.ID, N: f.size()})
			}
		default:
			m.other(f)
		}
	}
}

// send queues a frame. It fails only when the channel is dead.
func (m *mux) send(f *frame) error {
	select {
	case m.wq <- f:
		return nil
	case <-m.dead:
		return m.err()
	}
}

// sendNoWait queues a frame from the reading goroutine, which must never
// block on the writer: when the queue is full the frame goes from a
// goroutine of its own.
func (m *mux) sendNoWait(f *frame) {
	select {
	case m.wq <- f:
	default:
		go m.send(f)
	}
}

func (m *mux) stream(id uint64) *stream {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams[id]
}

// open registers the stream of call id.
func (m *mux) open(id uint64) *stream {
	s := &stream{m: m, id: id, wake: make(chan struct{}, 1), credited: make(chan struct{}, 1)}
	m.mu.Lock()
	m.streams[id] = s
	m.mu.Unlock()
	return s
}

// close forgets the stream of call id; late frames for it are dropped.
func (m *mux) close(id uint64) {
	m.mu.Lock()
	delete(m.streams, id)
	m.mu.Unlock()
}

// stream is one call's traffic: the frames received for it, in order, and
// the window of frames it sends.
type stream struct {
	m  *mux
	id uint64

	mu       sync.Mutex
	q        []*frame
	owed     int64 // consumed, not yet credited back
	inflight int64 // sent, not yet credited
	wake     chan struct{}
	credited chan struct{}
}

func (s *stream) push(f *frame) {
	s.mu.Lock()
	s.q = append(s.q, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *stream) credit(n int64) {
	s.mu.Lock()
	s.inflight -= n
	if s.inflight < 0 {
		s.inflight = 0
	}
	s.mu.Unlock()
	select {
	case s.credited <- struct{}{}:
	default:
	}
}

// counted reports whether frames of type t count against a call's window.
func counted(t string) bool {
	switch t {
	case tOut, tLog, tProg, tData, tEOF:
		return true
	}
	return false
}

// errStreamDone is returned by next when stop was closed.
var errStreamDone = errors.New("stream done")

// next returns the next frame received for the call, waiting until one
// arrives, stop is closed (errStreamDone) or the channel dies. Taking a
// frame gives its size back to the sender, in batches.
func (s *stream) next(stop <-chan struct{}) (*frame, error) {
	for {
		s.mu.Lock()
		if len(s.q) > 0 {
			f := s.q[0]
			s.q[0] = nil
			s.q = s.q[1:]
			if counted(f.T) {
				s.owed += f.size()
			}
			var give int64
			// Credit back once a quarter of the window is consumed, or when
			// the queue runs dry (the sender may be waiting for it).
			if s.owed >= streamWindow/4 || len(s.q) == 0 {
				give, s.owed = s.owed, 0
			}
			s.mu.Unlock()
			if give > 0 {
				_ = s.m.send(&frame{T: tCredit, ID: s.id, N: give})
			}
			return f, nil
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-stop:
			return nil, errStreamDone
		case <-s.m.dead:
			// Frames that arrived before the channel died are still
			// delivered.
			s.mu.Lock()
			n := len(s.q)
			s.mu.Unlock()
			if n == 0 {
				return nil, s.m.err()
			}
		}
	}
}

// sendStreamed sends a frame that counts against the call's window,
// waiting for credit while the window is full.
func (s *stream) sendStreamed(ctx context.Context, f *frame) error {
	n := f.size()
	for {
		s.mu.Lock()
		if s.inflight == 0 || s.inflight+n <= streamWindow {
			s.inflight += n
			s.mu.Unlock()
			return s.m.send(f)
		}
		s.mu.Unlock()
		select {
		case <-s.credited:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.m.dead:
			return s.m.err()
		}
	}
}
