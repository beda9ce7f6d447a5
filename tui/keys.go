package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key binding of the screen, with its help text. Help is
// generated from these bindings only; no key is described anywhere else.
type KeyMap struct {
	Quit key.Binding
	Help key.Binding

	// Picker and form.
	Choose key.Binding
	Back   key.Binding
	Next   key.Binding
	Prev   key.Binding
	Start  key.Binding
	// Purpose cycles the run's purpose in the form.
	Purpose key.Binding

	// Run view: answers to the engine.
	Confirm   key.Binding
	Done      key.Binding
	Retry     key.Binding
	Skip      key.Binding
	Jump      key.Binding
	Adhoc     key.Binding
	Abort     key.Binding
	Reconcile key.Binding
	// Note and RunNote add a note to the current step or to the run.
	Note    key.Binding
	RunNote key.Binding

	// Run view: looking around.
	TextUp     key.Binding // scroll the current step's text
	TextDown   key.Binding
	Expand     key.Binding // read the current step on the whole screen
	Wrap       key.Binding // wrap long output and log lines
	ScrollUp   key.Binding
	ScrollDown key.Binding
	Top        key.Binding
	Follow     key.Binding
	SwitchPane key.Binding

	// Picker.
	Target key.Binding

	// Dialogs.
	Submit key.Binding
	Cancel key.Binding
	Yes    key.Binding
	No     key.Binding
}

// DefaultKeyMap returns the bindings drillbook ships with. None needs a
// mouse, and none that changes a run is a single Enter.
func DefaultKeyMap() KeyMap {
	b := func(help string, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Quit: b("q", "quit", "q", "ctrl+c"),
		Help: b("?", "more keys", "?"),

		Choose:  b("enter", "choose", "enter"),
		Back:    b("esc", "back", "esc"),
		Next:    b("tab/↓", "next field", "tab", "down"),
		Prev:    b("shift+tab/↑", "previous field", "shift+tab", "up"),
		Start:   b("ctrl+s", "start the run", "ctrl+s"),
		Purpose: b("ctrl+p", "change the purpose", "ctrl+p"),

		Confirm:   b("c", "confirm destructive step", "c"),
		Done:      b("d", "mark manual step done", "d"),
		Retry:     b("r", "retry", "r"),
		Skip:      b("s", "skip step", "s"),
		Jump:      b("g", "go to step", "g"),
		Adhoc:     b("x", "ad-hoc command", "x"),
		Abort:     b("a", "abort run", "a"),
		Reconcile: b("o", "say what happened", "o"),
		Note:      b("n", "note on this step", "n"),
		RunNote:   b("N", "note on the run", "N"),

		TextUp:     b("↑/k", "step text up", "up", "k"),
		TextDown:   b("↓/j", "read on", "down", "j"),
		Expand:     b("f", "full screen", "f"),
		Wrap:       b("w", "wrap lines", "w"),
		ScrollUp:   b("pgup", "scroll up", "pgup", "shift+up"),
		ScrollDown: b("pgdn", "scroll down", "pgdown", "shift+down"),
		Top:        b("home", "oldest kept line", "home"),
		Follow:     b("end", "follow the tail", "end"),
		SwitchPane: b("tab", "scroll output/log", "tab"),

		Target: b("t", "switch target", "t"),

		Submit: b("enter", "submit", "enter"),
		Cancel: b("esc", "cancel", "esc"),
		Yes:    b("y", "yes", "y"),
		No:     b("n/esc", "no", "n", "esc"),
	}
}

// keyOf is how a hint on the screen names a binding's key: the text the
// help line shows, so no hint drifts from the key map.
func keyOf(b key.Binding) string { return b.Help().Key }

// helpKeys adapts a list of bindings to bubbles/help.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }

// action is a binding with the reason it cannot be used now ("" when it
// can). The full help lists unavailable actions with their reasons.
type action struct {
	b   key.Binding
	why string
}

// enabled returns the binding switched on or off by why.
func (a action) enabled() key.Binding {
	b := a.b
	b.SetEnabled(a.why == "")
	return b
}
