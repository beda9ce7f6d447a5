// Package tui is drillbook's terminal screen: the runbook picker, the
// parameter form and the run view, built on bubbletea. It turns the
// runner's updates into messages and the operator's keys into engine
// inputs; it runs nothing itself. cmd/drillbook wires it to a session,
// a runner and an estate, so this package imports no adapter.
package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/drillbook/drillbook/runbook"
)

// common is what every component shares: styles, keys, size and clock.
type common struct {
	st     Styles
	keys   KeyMap
	width  int
	height int
	now    func() time.Time
}

// Options configure the screen.
type Options struct {
	// Renderer draws the styles; nil means lipgloss's default (standard
	// output).
	Renderer *lipgloss.Renderer
	// NoColor draws without colour (NO_COLOR is set).
	NoColor bool
	// Now is the clock for timers; nil means time.Now.
	Now func() time.Time
	// Context ends the run when done (a signal); nil means Background.
	Context context.Context
	// Width and Height are the size to draw at before the terminal says;
	// zero means 80x24.
	Width, Height int
}

// RunSpec is a run ready for the screen: a session already started or
// resumed, and a runner whose Frontend is the screen's Frontend.
type RunSpec struct {
	// RunID names the run in the status line and in the resume hint.
	RunID string
	// Title is the runbook's title, shown in the header.
	Title string
	// Target is the estate the run acts on; Simulated marks the training
	// target, shown with a SIMULATED badge (false: a real estate).
	Target    string
	Simulated bool
	// Runner carries out the run; the screen calls Run, Send and Stop.
	Runner *runbook.Runner
	// First are the inputs that begin or resume the run.
	First []runbook.Input
	// Steps are the steps as they stand before the first input.
	Steps []runbook.StepView
	// Started is when the run began, for the total elapsed time.
	Started time.Time
	// Close releases what the run holds (journal, lock, estate); the app
	// calls it once the runner has returned. Nil means nothing to release.
	Close func() error
	// History is what a resumed run showed before it stopped (its journaled
	// events and output), shown first; nil for a new run.
	History []runbook.Update
}

// Home is what the no-argument screen offers: runbooks on a target the
// picker can switch.
type Home struct {
	// Target is the estate runs start on first; Simulated marks a
	// simulated one (false: a real estate).
	Target    string
	Simulated bool
	// Targets are the estates the picker can switch to, Target among them;
	// empty means Target only.
	Targets []TargetChoice
	// Runbooks are offered in the picker, in this order.
	Runbooks []*runbook.Runbook
	// Problems are runbooks that could not be read; shown under the list.
	Problems error
	// Prepare readies a target for a runbook (it may start simulations)
	// and returns the values to fill the form with.
	Prepare func(ctx context.Context, target string, rb *runbook.Runbook) (*Prepared, error)
	// Open, when set, opens the form for this runbook at once (drillbook
	// run RUNBOOK in a terminal); back from the form goes to the picker.
	Open *runbook.Runbook
}

// TargetChoice is a target the picker offers.
type TargetChoice struct {
	// Name is how --target names it.
	Name string
	// Simulated marks a simulated estate.
	Simulated bool
	// Description says what it is.
	Description string
}

// Prepared is a target made ready for one runbook.
type Prepared struct {
	// Values prefill the form (the target's parameter values).
	Values map[string]string
	// Purpose is the run's purpose the form offers first (the target's
	// default); empty means drill.
	Purpose runbook.Purpose
	// Start begins a run with the form's values and the purpose chosen in
	// it; fe is the Frontend to give the runner.
	Start func(values map[string]string, purpose runbook.Purpose, fe *Frontend) (RunSpec, error)
	// Close releases the target when no run was started with it, or after
	// the run has ended.
	Close func() error
}

type state int

const (
	statePicker state = iota
	statePreparing
	stateForm
	stateStarting
	stateRun
)

// App is the root model: it routes messages to the picker, the form or the
// run view, and holds nothing of theirs.
type App struct {
	c      *common
	ctx    context.Context
	cancel context.CancelFunc // ends ctx once the app is closed
	state  state
	home   *Home

	picker picker
	form   form
	run    *runView
	fe     *Frontend

	prepared *Prepared
	chosen   *runbook.Runbook
	busy     string // what the app waits for (preparing, starting)

	// pending carries the result of the prepare or start command in
	// flight (there is at most one): the command puts it here before
	// returning it as a message and Update takes it back out, so when the
	// program stops first (ctrl+c while a target is being prepared) Close
	// still finds the target or session that was made, and releases it.
	pending chan tea.Msg

	ended   chan runEndedMsg
	outcome *runEndedMsg
	leaving bool

	closers []func() error
}

// pendingWait bounds how long Close waits for a prepare or start command
// the program outlived; its context is cancelled first.
const pendingWait = 30 * time.Second

func newApp(opts Options) *App {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	c := &common{st: NewStyles(r, opts.NoColor), keys: DefaultKeyMap(), width: opts.Width, height: opts.Height, now: opts.Now}
	if c.width == 0 {
		c.width = 80
	}
	if c.height == 0 {
		c.height = 24
	}
	if c.now == nil {
		c.now = time.Now
	}
	parent := opts.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	return &App{c: c, ctx: ctx, cancel: cancel, pending: make(chan tea.Msg, 1), ended: make(chan runEndedMsg, 1)}
}

// NewRun returns the screen for a run already started or resumed. fe must
// be the Frontend given to spec.Runner.
func NewRun(opts Options, fe *Frontend, spec RunSpec) *App {
	a := newApp(opts)
	a.fe = fe
	a.state = stateRun
	a.run = newRunView(a.c, spec)
	a.addCloser(spec.Close)
	return a
}

// NewHome returns the screen that opens on the runbook picker, or on the
// form of h.Open.
func NewHome(opts Options, h Home) *App {
	a := newApp(opts)
	if len(h.Targets) == 0 {
		h.Targets = []TargetChoice{{Name: h.Target, Simulated: h.Simulated}}
	}
	a.home = &h
	a.state = statePicker
	a.picker = newPicker(a.c, h)
	return a
}

func (a *App) addCloser(f func() error) {
	if f != nil {
		a.closers = append(a.closers, f)
	}
}

// Init starts the run when the app opens on one, or prepares the target
// for the runbook it opens the form of.
func (a *App) Init() tea.Cmd {
	switch {
	case a.state == stateRun:
		return a.startRunner()
	case a.home != nil && a.home.Open != nil:
		return a.prepare(a.home.Open)
	}
	return nil
}

func (a *App) startRunner() tea.Cmd {
	spec := a.run.spec
	if spec.Runner == nil {
		return listen(a.fe)
	}
	return tea.Batch(listen(a.fe), runCmd(a.ctx, spec.Runner, spec.First, a.ended), tick())
}

type tickMsg time.Time

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// preparedMsg says the target is ready for the chosen runbook.
type preparedMsg struct {
	rb  *runbook.Runbook
	p   *Prepared
	err error
}

// startedMsg says the session has started.
type startedMsg struct {
	spec RunSpec
	err  error
}

// Update routes a message: errors first, then global keys, the window
// size to everyone, runner updates to the run view, then the active screen.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.c.width, a.c.height = msg.Width, msg.Height
		if a.home != nil {
			a.picker.setSize()
		}
		for i := range a.form.fields {
			a.form.fields[i].in.Width = max(10, msg.Width-8)
		}
		if a.run != nil {
			a.run.track() // what the new size shows counts as read
		}
		return a, nil
	case tea.KeyMsg:
		if msg.String() == "ctrl+c" && a.state != stateRun {
			return a, tea.Quit
		}
	case updatesMsg:
		if a.run != nil {
			for _, u := range msg {
				a.run.apply(u)
			}
		}
		return a, listen(a.fe)
	case runEndedMsg:
		return a, a.runEnded(msg)
	case tickMsg:
		if a.run != nil && a.run.ended == nil {
			return a, tick()
		}
		return a, nil
	case quitRequest:
		if a.outcome != nil || a.run == nil || a.run.spec.Runner == nil {
			return a, tea.Quit
		}
		a.leaving = true // leave when the runner returns
		return a, nil
	case preparedMsg:
		a.takePending()
		return a, a.prepared2form(msg)
	case startedMsg:
		a.takePending()
		return a, a.started(msg)
	case backMsg:
		a.state = statePicker
		if err := a.closePrepared(); err != nil {
			a.picker.err = "releasing the target: " + firstLine(err.Error())
			a.picker.setSize()
		}
		return a, nil
	case submitMsg:
		return a, a.start(msg.values, msg.purpose)
	}
	switch a.state {
	case statePicker:
		km, ok := msg.(tea.KeyMsg)
		if ok && !a.picker.list.SettingFilter() && key.Matches(km, a.c.keys.Quit) && !a.picker.full {
			return a, tea.Quit
		}
		if ok {
			if rb := a.picker.chosen(km); rb != nil {
				return a, a.prepare(rb)
			}
		}
		var cmd tea.Cmd
		a.picker, cmd = a.picker.update(msg)
		return a, cmd
	case stateForm:
		var cmd tea.Cmd
		a.form, cmd = a.form.update(msg)
		return a, cmd
	case stateRun:
		return a, a.run.update(msg)
	}
	return a, nil
}

func (a *App) prepare(rb *runbook.Runbook) tea.Cmd {
	if a.home == nil || a.home.Prepare == nil {
		a.picker.err = "this screen cannot start runs"
		a.picker.setSize()
		return nil
	}
	target := a.picker.target().Name
	a.state, a.busy, a.chosen = statePreparing, "Preparing target "+target+" for "+rb.ID+"…", rb
	ctx, prep, pending := a.ctx, a.home.Prepare, a.pending
	return func() tea.Msg {
		p, err := prep(ctx, target, rb)
		msg := preparedMsg{rb: rb, p: p, err: err}
		pending <- msg
		return msg
	}
}

// takePending takes back the result Update has just received.
func (a *App) takePending() {
	select {
	case <-a.pending:
	default:
	}
}

func (a *App) prepared2form(msg preparedMsg) tea.Cmd {
	if msg.err != nil {
		a.state = statePicker
		a.picker.err = strings.ReplaceAll(msg.err.Error(), "\n", "; ")
		a.picker.setSize()
		return nil
	}
	a.picker.err = ""
	a.picker.setSize()
	a.prepared = msg.p
	a.form = newForm(a.c, msg.rb, msg.p.Values)
	a.form.target = a.picker.target()
	if msg.p.Purpose != "" {
		a.form.purpose = msg.p.Purpose
	}
	a.state = stateForm
	return a.form.setFocus(0)
}

func (a *App) start(values map[string]string, purpose runbook.Purpose) tea.Cmd {
	if a.prepared == nil || a.prepared.Start == nil {
		a.form.message = "the target is not ready: go back and choose the runbook again"
		return nil
	}
	a.fe = NewFrontend()
	a.state, a.busy = stateStarting, "Starting the run…"
	start, fe, pending := a.prepared.Start, a.fe, a.pending
	return func() tea.Msg {
		spec, err := start(values, purpose, fe)
		msg := startedMsg{spec: spec, err: err}
		pending <- msg
		return msg
	}
}

func (a *App) started(msg startedMsg) tea.Cmd {
	if msg.err != nil {
		a.state = stateForm
		a.form.message = msg.err.Error()
		return nil
	}
	// Closed in reverse: the session (journal, lock) before the target.
	if a.prepared != nil {
		a.addCloser(a.prepared.Close)
		a.prepared = nil
	}
	a.addCloser(msg.spec.Close)
	a.run = newRunView(a.c, msg.spec)
	a.state = stateRun
	return a.startRunner()
}

// closePrepared releases a target no run was started on.
func (a *App) closePrepared() error {
	p := a.prepared
	a.prepared = nil
	if p == nil || p.Close == nil {
		return nil
	}
	return p.Close()
}

// runEnded takes the runner's return: the updates still queued are shown
// first, then the app leaves if the operator asked to.
func (a *App) runEnded(msg runEndedMsg) tea.Cmd {
	a.outcome = &msg
	if a.fe != nil {
		for _, u := range a.fe.drain() {
			a.run.apply(u)
		}
	}
	if msg.err != nil {
		a.run.setNotice("the run stopped: "+msg.err.Error(), true)
	}
	if a.leaving {
		return tea.Quit
	}
	return nil
}

// View draws the active screen.
func (a *App) View() string {
	switch a.state {
	case statePicker:
		if a.picker.full {
			return a.picker.fullHelp() + "\n" + helpLine(a.c, helpKeys{short: []key.Binding{a.c.keys.Help, a.c.keys.Back}})
		}
		return a.picker.view() + "\n" + helpLine(a.c, a.picker.help())
	case statePreparing, stateStarting:
		return a.c.st.Title.Render(a.busy) + "\n"
	case stateForm:
		return a.form.view() + "\n" + helpLine(a.c, a.form.help())
	case stateRun:
		return a.run.view()
	}
	return ""
}

// helpLine draws the short help of a screen, generated from its bindings.
func helpLine(c *common, k helpKeys) string {
	h := help.New()
	h.Width = c.width
	h.Styles.ShortKey = c.st.Key
	h.Styles.ShortDesc = c.st.Dim
	h.Styles.ShortSeparator = c.st.Dim
	h.Styles.Ellipsis = c.st.Dim
	return h.ShortHelpView(k.short)
}

// Outcome returns how the run ended, once the program has finished. ok is
// false when no run was started or the runner did not return before wait.
func (a *App) Outcome(wait time.Duration) (out runbook.Outcome, ok bool, err error) {
	if a.outcome != nil {
		return a.outcome.out, true, a.outcome.err
	}
	if a.run == nil || a.run.spec.Runner == nil {
		return runbook.Outcome{}, false, nil
	}
	// The program has stopped reading: take the runner's last updates so
	// it never waits on a full queue.
	var updates chan runbook.Update
	if a.fe != nil {
		updates = a.fe.ch
	}
	timeout := time.After(wait)
	for {
		select {
		case m := <-a.ended:
			a.outcome = &m
			return m.out, true, m.err
		case <-updates:
		case <-timeout:
			return runbook.Outcome{}, false, nil
		}
	}
}

// RunID is the run the screen showed, or "".
func (a *App) RunID() string {
	if a.run == nil {
		return ""
	}
	return a.run.spec.RunID
}

// Close stops the frontend and releases the run and the target, including
// a target or session still being made when the program stopped. Call it
// after the program has finished and Outcome has been read.
func (a *App) Close() error {
	defer a.cancel()
	if a.fe != nil {
		a.fe.Close()
	}
	var errs []error
	if a.state == statePreparing || a.state == stateStarting {
		a.cancel()
		select {
		case msg := <-a.pending:
			if m, ok := msg.(startedMsg); ok && m.err == nil && m.spec.Close != nil {
				errs = append(errs, m.spec.Close())
			}
			if m, ok := msg.(preparedMsg); ok && m.err == nil && m.p != nil {
				a.prepared = m.p
			}
		case <-time.After(pendingWait):
			errs = append(errs, fmt.Errorf("the target for %s was still being prepared after %s: it may need stopping by hand", a.chosen.ID, pendingWait))
		}
	}
	errs = append(errs, a.closePrepared())
	cl := a.closers
	a.closers = nil
	for i := len(cl) - 1; i >= 0; i-- {
		errs = append(errs, cl[i]())
	}
	return errors.Join(errs...)
}
