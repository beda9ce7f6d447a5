package tui

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/list"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

// rbItem is one runbook in the picker.
type rbItem struct{ rb *runbook.Runbook }

func (i rbItem) FilterValue() string {
	return i.rb.ID + " " + i.rb.Title + " " + i.rb.Product + " " + i.rb.Source.Doc
}

// rbDelegate draws a runbook as two lines: its title, then its id, product
// and source document.
type rbDelegate struct{ c *common }

func (d rbDelegate) Height() int                         { return 2 }
func (d rbDelegate) Spacing() int                        { return 1 }
func (d rbDelegate) Update(tea.Msg, *list.Model) tea.Cmd { return nil }

func (d rbDelegate) Render(w io.Writer, m list.Model, index int, item list.Item) {
	it, ok := item.(rbItem)
	if !ok {
		return
	}
	st := d.c.st
	width := m.Width() - 2
	product := it.rb.Product
	if product == "" {
		product = "generic"
	}
	src := it.rb.Source.Doc
	if src == "" {
		src = "no source document"
	}
	title := cut(it.rb.Title, width)
	sub := cut(fmt.Sprintf("%s · %s · %s", it.rb.ID, product, src), width)
	if index == m.Index() {
		fmt.Fprintf(w, "%s\n%s", st.Selected.Render("▶ "+title), st.Text.Render("  "+sub))
		return
	}
	fmt.Fprintf(w, "%s\n%s", st.Text.Render("  "+title), st.Dim.Render("  "+sub))
}

// picker lists the runbooks to choose from, filterable with "/", on a
// target that t switches.
type picker struct {
	c        *common
	list     list.Model
	targets  []TargetChoice
	cur      int    // the target runs start on
	problems string // runbooks that could not be read
	err      string // why the chosen runbook could not be prepared
	full     bool   // the key list is shown
}

func newPicker(c *common, h Home) picker {
	items := make([]list.Item, len(h.Runbooks))
	for i, rb := range h.Runbooks {
		items[i] = rbItem{rb}
	}
	l := list.New(items, rbDelegate{c}, c.width, c.height)
	l.Styles.Title = c.st.Title
	l.SetShowHelp(false)
	l.SetStatusBarItemName("runbook", "runbooks")
	l.KeyMap.Quit.SetEnabled(false)
	l.KeyMap.ForceQuit.SetEnabled(false)
	l.KeyMap.ShowFullHelp.SetEnabled(false)
	l.KeyMap.CloseFullHelp.SetEnabled(false)
	p := picker{c: c, list: l, targets: h.Targets}
	if len(p.targets) == 0 {
		p.targets = []TargetChoice{{Name: h.Target, Simulated: h.Simulated}}
	}
	for i, t := range p.targets {
		if t.Name == h.Target {
			p.cur = i
		}
	}
	p.setTitle()
	if h.Problems != nil {
		p.problems = firstLine(h.Problems.Error())
	}
	p.setSize()
	return p
}

// target is the target runs start on.
func (p picker) target() TargetChoice { return p.targets[p.cur] }

func (p *picker) setTitle() {
	t := p.target()
	badge := "target " + t.Name
	if t.Simulated {
		badge += " (SIMULATED)"
	} else {
		badge += " (REAL)"
	}
	if len(p.targets) > 1 {
		badge += fmt.Sprintf(" · %s switches (%d of %d)", keyOf(p.c.keys.Target), p.cur+1, len(p.targets))
	}
	p.list.Title = "Runbooks · " + badge
}

func (p *picker) setSize() {
	h := p.c.height - 1 - len(p.footer()) // help line, problems
	p.list.SetSize(p.c.width, max(1, h))
}

// footer is what is shown under the list: runbooks not offered, and why
// the chosen one could not be prepared, wrapped (at most four rows each;
// `drillbook validate` and the run itself say all of it).
func (p picker) footer() []string {
	var rows []string
	add := func(s string) {
		ls := strings.Split(wrap(s, max(1, p.c.width)), "\n")
		if len(ls) > 4 {
			ls = append(ls[:3], cut(ls[3], p.c.width-1)+"…")
		}
		for _, l := range ls {
			rows = append(rows, p.c.st.Error.Render(l))
		}
	}
	if p.problems != "" {
		add("not offered: " + p.problems)
	}
	if p.err != "" {
		add("could not prepare: " + p.err)
	}
	return rows
}

// chosen returns the runbook under the cursor when the key chooses it.
func (p picker) chosen(msg tea.KeyMsg) *runbook.Runbook {
	if p.full || p.list.SettingFilter() || !key.Matches(msg, p.c.keys.Choose) {
		return nil
	}
	it, ok := p.list.SelectedItem().(rbItem)
	if !ok {
		return nil
	}
	return it.rb
}

func (p picker) update(msg tea.Msg) (picker, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok && !p.list.SettingFilter() {
		k := p.c.keys
		switch {
		case p.full && (key.Matches(km, k.Help) || key.Matches(km, k.Back) || key.Matches(km, k.Quit)):
			p.full = false
			return p, nil
		case p.full:
			return p, nil
		case key.Matches(km, k.Help):
			p.full = true
			return p, nil
		case key.Matches(km, k.Target) && len(p.targets) > 1:
			p.cur = (p.cur + 1) % len(p.targets)
			p.err = ""
			p.setTitle()
			p.setSize()
			return p, nil
		}
	}
	var cmd tea.Cmd
	p.list, cmd = p.list.Update(msg)
	return p, cmd
}

func (p picker) help() helpKeys {
	if p.list.SettingFilter() {
		return helpKeys{short: []key.Binding{p.list.KeyMap.AcceptWhileFiltering, p.list.KeyMap.CancelWhileFiltering}}
	}
	short := []key.Binding{p.c.keys.Choose}
	if len(p.targets) > 1 {
		short = append(short, p.c.keys.Target)
	}
	short = append(short, p.list.KeyMap.Filter, p.c.keys.Help, p.list.KeyMap.CursorUp, p.list.KeyMap.CursorDown, p.c.keys.Quit)
	return helpKeys{short: short, full: [][]key.Binding{short}}
}

// fullHelp lists the picker's keys, the target runs start on and the
// targets t switches to; ? or esc closes it.
func (p picker) fullHelp() string {
	st, w, k := p.c.st, p.c.width, p.c.keys
	lk := p.list.KeyMap
	rows := []string{st.Title.Render(cut("Runbooks · keys", w)), ""}
	line := func(b key.Binding) {
		rows = append(rows, fit(st.Key.Render(fmt.Sprintf("%-12s", b.Help().Key))+st.Text.Render(b.Help().Desc), w))
	}
	for _, b := range []key.Binding{k.Choose, k.Target, lk.Filter, lk.CursorUp, lk.CursorDown, lk.NextPage, lk.PrevPage, lk.GoToStart, lk.GoToEnd, k.Help, k.Quit} {
		line(b)
	}
	rows = append(rows, "", st.Section.Render(cut("targets (t switches; runs start on the one marked ▶)", w)))
	for i, t := range p.targets {
		mark := "  "
		if i == p.cur {
			mark = "▶ "
		}
		kind := "real"
		if t.Simulated {
			kind = "SIMULATED"
		}
		s := mark + t.Name + " (" + kind + ")"
		if t.Description != "" {
			s += " · " + t.Description
		}
		for _, l := range strings.Split(wrap(s, w), "\n") {
			rows = append(rows, st.Text.Render(l))
		}
	}
	rows = append(rows, "", st.Dim.Render(cut(keyOf(k.Help)+" or "+keyOf(k.Back)+" closes this list", w)))
	return strings.Join(clip(rows, max(1, p.c.height-1)), "\n")
}

func (p picker) view() string {
	var b strings.Builder
	b.WriteString(p.list.View())
	for _, l := range p.footer() {
		b.WriteString("\n" + l)
	}
	return b.String()
}
