package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
)

// Terminal lends the screen's terminal to interactive commands. Make one
// before the screen, give it to the operations that run such commands and
// to Run. The zero value (and nil) lends nothing: f simply runs.
type Terminal struct {
	mu sync.Mutex
	p  *tea.Program
}

func (t *Terminal) set(p *tea.Program) {
	t.mu.Lock()
	t.p = p
	t.mu.Unlock()
}

// Lend runs f with the terminal released by the screen, as
// tea.ExecProcess does, and takes the terminal back after. With no screen
// running, f runs as is. The error is only that of releasing the terminal;
// f was not run then.
func (t *Terminal) Lend(f func()) error {
	var p *tea.Program
	if t != nil {
		t.mu.Lock()
		p = t.p
		t.mu.Unlock()
	}
	if p == nil {
		f()
		return nil
	}
	if err := p.ReleaseTerminal(); err != nil {
		return fmt.Errorf("give the terminal to the interactive command: %w", err)
	}
	defer func() { _ = p.RestoreTerminal() }()
	f()
	return nil
}

// Run shows app on the terminal's alternate screen until it quits or ctx
// ends, lending the terminal through t while it runs. A program ended by
// ctx is not an error: the app's Outcome says how the run stands.
func Run(ctx context.Context, app *App, t *Terminal) error {
	// drillbook turns SIGINT, SIGTERM and SIGHUP into ctx's cancellation
	// for every mode. bubbletea's own handler would race it: when the
	// cancelled context ends the event loop first, its handler blocks for
	// ever sending QuitMsg and the program never gives the terminal back.
	p := tea.NewProgram(app, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithoutSignalHandler())
	if t != nil {
		t.set(p)
		defer t.set(nil)
	}
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return fmt.Errorf("the screen failed: %w", err)
	}
	return nil
}
