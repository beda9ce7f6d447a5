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

// picker lists the runbooks to choose from, filterable with "/".
type picker struct {
	c        *common
	list     list.Model
	problems string // runbooks that could not be read
	err      string // why the chosen runbook could not be prepared
}

func newPicker(c *common, h Home) picker {
	items := make([]list.Item, len(h.Runbooks))
	for i, rb := range h.Runbooks {
		items[i] = rbItem{rb}
	}
	l := list.New(items, rbDelegate{c}, c.width, c.height)
	badge := "target " + h.Target
	if h.Simulated {
		badge = "target " + h.Target + " (SIMULATED)"
	}
	l.Title = "Runbooks · " + badge
	l.Styles.Title = c.st.Title
	l.SetShowHelp(false)
	l.SetStatusBarItemName("runbook", "runbooks")
	l.KeyMap.Quit.SetEnabled(false)
	l.KeyMap.ForceQuit.SetEnabled(false)
	l.KeyMap.ShowFullHelp.SetEnabled(false)
	l.KeyMap.CloseFullHelp.SetEnabled(false)
	p := picker{c: c, list: l}
	if h.Problems != nil {
		p.problems = firstLine(h.Problems.Error())
	}
	p.setSize()
	return p
}

func (p *picker) setSize() {
	h := p.c.height - 1 // help line
	if p.problems != "" {
		h--
	}
	if p.err != "" {
		h--
	}
	p.list.SetSize(p.c.width, max(1, h))
}

// chosen returns the runbook under the cursor when the key chooses it.
func (p picker) chosen(msg tea.KeyMsg) *runbook.Runbook {
	if p.list.SettingFilter() || !key.Matches(msg, p.c.keys.Choose) {
		return nil
	}
	it, ok := p.list.SelectedItem().(rbItem)
	if !ok {
		return nil
	}
	return it.rb
}

func (p picker) update(msg tea.Msg) (picker, tea.Cmd) {
	var cmd tea.Cmd
	p.list, cmd = p.list.Update(msg)
	return p, cmd
}

func (p picker) help() helpKeys {
	if p.list.SettingFilter() {
		return helpKeys{short: []key.Binding{p.list.KeyMap.AcceptWhileFiltering, p.list.KeyMap.CancelWhileFiltering}}
	}
	short := []key.Binding{p.c.keys.Choose, p.list.KeyMap.Filter, p.list.KeyMap.CursorUp, p.list.KeyMap.CursorDown, p.c.keys.Quit}
	return helpKeys{short: short, full: [][]key.Binding{short}}
}

func (p picker) view() string {
	var b strings.Builder
	b.WriteString(p.list.View())
	if p.problems != "" {
		b.WriteString("\n" + p.c.st.Error.Render(cut("not offered: "+p.problems, p.c.width)))
	}
	if p.err != "" {
		b.WriteString("\n" + p.c.st.Error.Render(cut("could not prepare: "+p.err, p.c.width)))
	}
	return b.String()
}
