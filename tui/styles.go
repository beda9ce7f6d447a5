package tui

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles holds every style the screen uses. It is built once by NewStyles
// and passed to every component; views never build styles of their own.
// Every cue a colour carries is also carried by a mark or a word, so the
// screen reads the same with NO_COLOR or on a monochrome terminal.
type Styles struct {
	Title     lipgloss.Style // screen titles and the header
	Badge     lipgloss.Style // the SIMULATED badge
	RealBadge lipgloss.Style // the name of a real target
	Section   lipgloss.Style // pane titles
	Dim       lipgloss.Style // secondary text: sources, timers, help text
	Text      lipgloss.Style // ordinary text
	Key       lipgloss.Style // key names in help and input prompts
	Selected  lipgloss.Style // the item or field under the cursor

	// Step states in the step list and the current step's heading.
	Pending   lipgloss.Style
	Running   lipgloss.Style // running or waiting on a log or a poll
	Succeeded lipgloss.Style
	Failed    lipgloss.Style
	Skipped   lipgloss.Style
	Attention lipgloss.Style // waiting for the operator
	Overrun   lipgloss.Style // a step past its expected duration

	Destructive lipgloss.Style // the warning on a destructive step
	Command     lipgloss.Style // a resolved command or request
	Stderr      lipgloss.Style // a call's standard error lines
	Info        lipgloss.Style // drillbook's own lines in the output pane

	// Watched log lines by what they matched.
	LogSuccess lipgloss.Style
	LogFailure lipgloss.Style
	LogWarn    lipgloss.Style

	Dialog      lipgloss.Style // the box around a dialog about a destructive act
	Box         lipgloss.Style // the box around any other dialog
	DialogTitle lipgloss.Style
	Error       lipgloss.Style
	Status      lipgloss.Style // the status line
}

// NewStyles builds the styles for a renderer. With noColor set (NO_COLOR in
// the environment) the renderer is switched to plain text; colours are
// adaptive so they read on light and dark terminals.
func NewStyles(r *lipgloss.Renderer, noColor bool) Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	if noColor {
		r.SetColorProfile(termenv.Ascii)
	}
	c := func(light, dark string) lipgloss.AdaptiveColor {
		return lipgloss.AdaptiveColor{Light: light, Dark: dark}
	}
	var (
		accent = c("#1F5FAD", "#7AB8FF")
		green  = c("#1B7F3B", "#5FD38D")
		red    = c("#B3261E", "#FF7B72")
		amber  = c("#8A5A00", "#F2C94C")
		dim    = c("#6B6B6B", "#8C8C8C")
		text   = c("#1A1A1A", "#E6E6E6")
	)
	s := r.NewStyle
	return Styles{
		Title:     s().Bold(true).Foreground(accent),
		Badge:     s().Bold(true).Reverse(true).Foreground(amber),
		RealBadge: s().Bold(true).Reverse(true).Foreground(red),
		Section:   s().Bold(true).Foreground(accent),
		Dim:       s().Foreground(dim),
		Text:      s().Foreground(text),
		Key:       s().Bold(true).Foreground(accent),
		Selected:  s().Bold(true).Foreground(accent),

		Pending:   s().Foreground(dim),
		Running:   s().Bold(true).Foreground(accent),
		Succeeded: s().Foreground(green),
		Failed:    s().Bold(true).Foreground(red),
		Skipped:   s().Foreground(dim),
		Attention: s().Bold(true).Foreground(amber),
		Overrun:   s().Bold(true).Foreground(amber),

		Destructive: s().Bold(true).Foreground(red),
		Command:     s().Foreground(text).Bold(true),
		Stderr:      s().Foreground(red),
		Info:        s().Foreground(dim),

		LogSuccess: s().Bold(true).Foreground(green),
		LogFailure: s().Bold(true).Foreground(red),
		LogWarn:    s().Bold(true).Foreground(amber),

		Dialog:      s().Border(lipgloss.RoundedBorder()).BorderForeground(red).Padding(0, 1),
		Box:         s().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		DialogTitle: s().Bold(true).Foreground(red),
		Error:       s().Bold(true).Foreground(red),
		Status:      s().Foreground(text),
	}
}
