package tui

import (
	"context"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

// Frontend is the screen's side of a runner: it implements
// runbook.Frontend by queueing updates for the program, which reads them
// with a command. A full queue makes the runner wait (the screen drains a
// batch in microseconds, so this only bites if the screen is stuck), and
// once the screen has closed, updates are dropped so the runner can never
// block on a screen that is gone.
type Frontend struct {
	ch   chan runbook.Update
	done chan struct{}
	once sync.Once
}

// NewFrontend returns a frontend to give to runbook.NewRunner and to the
// screen.
func NewFrontend() *Frontend {
	return &Frontend{ch: make(chan runbook.Update, 64), done: make(chan struct{})}
}

// Update implements runbook.Frontend.
func (f *Frontend) Update(u runbook.Update) {
	select {
	case f.ch <- u:
	case <-f.done:
	}
}

// Close stops the frontend: later updates are dropped.
func (f *Frontend) Close() { f.once.Do(func() { close(f.done) }) }

// updatesMsg carries the updates that were queued when the screen looked.
type updatesMsg []runbook.Update

// listen waits for the next updates and delivers every one already queued
// with it, so a burst costs one screen refresh.
func listen(f *Frontend) tea.Cmd {
	return func() tea.Msg {
		select {
		case u := <-f.ch:
			msg := updatesMsg{u}
			return append(msg, f.drain()...)
		case <-f.done:
			return nil
		}
	}
}

// drain returns the updates queued now, without waiting.
func (f *Frontend) drain() []runbook.Update {
	var out []runbook.Update
	for len(out) < 256 {
		select {
		case u := <-f.ch:
			out = append(out, u)
		default:
			return out
		}
	}
	return out
}

// runEndedMsg says the runner returned.
type runEndedMsg struct {
	out runbook.Outcome
	err error
}

// runCmd drives the runner until the run ends or stops. It captures the
// runner and its first inputs, never the model.
func runCmd(ctx context.Context, r *runbook.Runner, first []runbook.Input, ended chan<- runEndedMsg) tea.Cmd {
	return func() tea.Msg {
		out, err := r.Run(ctx, first...)
		msg := runEndedMsg{out: out, err: err}
		ended <- msg
		return msg
	}
}
