package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/drillbook/drillbook/runbook"
)

// field is one parameter in the form.
type field struct {
	p       runbook.Param
	in      textinput.Model
	err     string
	touched bool
}

// form asks for the runbook's parameters: each with its description,
// default and pattern, checked as it is typed by the same code that checks
// --param; secrets are masked and never drawn; lists are comma-separated.
type form struct {
	c       *common
	rb      *runbook.Runbook
	target  TargetChoice // the target the run starts on
	fields  []field
	focus   int
	scroll  int // rows the view is moved from where the focus puts it (pgup, pgdn)
	tried   bool
	message string
	// purpose is why the run is made; the Purpose key cycles it.
	purpose runbook.Purpose
}

func newForm(c *common, rb *runbook.Runbook, prefill map[string]string) form {
	f := form{c: c, rb: rb, purpose: runbook.PurposeDrill}
	for _, p := range rb.Params {
		in := textinput.New()
		in.Prompt = "> "
		in.CharLimit = 4096
		in.Width = max(10, c.width-8)
		in.PromptStyle = c.st.Key
		in.TextStyle = c.st.Text
		v, ok := prefill[p.Name]
		if !ok && !p.Default.IsZero() {
			v = strings.Join(p.Default.Strings(), ",")
			if p.Type != runbook.TypeList {
				v = p.Default.Scalar
			}
		}
		if p.Type == runbook.TypeSecret {
			in.EchoMode = textinput.EchoPassword
			in.EchoCharacter = '•'
			in.Placeholder = "hidden as you type; never journaled"
		} else if p.Type == runbook.TypeList {
			in.Placeholder = "comma-separated"
		}
		in.SetValue(v)
		f.fields = append(f.fields, field{p: p, in: in})
	}
	f.validate()
	f.setFocus(0)
	return f
}

// values returns what the operator typed; empty fields are left out so
// defaults apply.
func (f form) values() map[string]string {
	out := map[string]string{}
	for _, fl := range f.fields {
		if v := strings.TrimSpace(fl.in.Value()); v != "" {
			out[fl.p.Name] = v
		}
	}
	return out
}

// validate checks every value with runbook.ResolveParams and puts each
// problem next to its parameter.
func (f *form) validate() int {
	for i := range f.fields {
		f.fields[i].err = ""
	}
	_, err := runbook.ResolveParams(f.rb, f.values())
	var probs runbook.Problems
	if err != nil && !errors.As(err, &probs) {
		f.message = err.Error()
		return 1
	}
	bad := 0
	for _, pr := range probs {
		for i := range f.fields {
			name := f.fields[i].p.Name
			if strings.HasPrefix(pr.Msg, "parameter "+name+":") || strings.HasPrefix(pr.Msg, "parameter "+name+" ") {
				f.fields[i].err = strings.TrimPrefix(strings.TrimPrefix(pr.Msg, "parameter "+name), ":")
				f.fields[i].err = strings.TrimSpace(f.fields[i].err)
				bad++
			}
		}
	}
	return bad
}

func (f *form) setFocus(i int) tea.Cmd {
	if len(f.fields) == 0 {
		return nil
	}
	f.focus = (i + len(f.fields)) % len(f.fields)
	var cmd tea.Cmd
	for j := range f.fields {
		if j == f.focus {
			cmd = f.fields[j].in.Focus()
		} else {
			f.fields[j].in.Blur()
		}
	}
	return cmd
}

// submitMsg asks the app to start the run with these values.
type submitMsg struct {
	values  map[string]string
	purpose runbook.Purpose
}

// backMsg asks the app to go back to the picker.
type backMsg struct{}

func (f form) update(msg tea.Msg) (form, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if len(f.fields) == 0 {
			return f, nil
		}
		var cmd tea.Cmd
		f.fields[f.focus].in, cmd = f.fields[f.focus].in.Update(msg)
		return f, cmd
	}
	k := f.c.keys
	last := f.focus == len(f.fields)-1 || len(f.fields) == 0
	switch {
	case key.Matches(km, k.Back):
		return f, func() tea.Msg { return backMsg{} }
	case key.Matches(km, k.Purpose):
		ps := runbook.Purposes()
		f.purpose = ps[(slices.Index(ps, f.purpose)+1)%len(ps)]
		return f, nil
	case key.Matches(km, k.Start), key.Matches(km, k.Submit) && last:
		return f.submit()
	case key.Matches(km, k.Submit), key.Matches(km, k.Next):
		f.scroll = 0
		return f, f.setFocus(f.focus + 1)
	case key.Matches(km, k.Prev):
		f.scroll = 0
		return f, f.setFocus(f.focus - 1)
	case key.Matches(km, k.ScrollUp):
		f.scroll -= 5
		return f, nil
	case key.Matches(km, k.ScrollDown):
		f.scroll += 5
		return f, nil
	}
	if len(f.fields) == 0 {
		return f, nil
	}
	var cmd tea.Cmd
	before := f.fields[f.focus].in.Value()
	f.fields[f.focus].in, cmd = f.fields[f.focus].in.Update(msg)
	if f.fields[f.focus].in.Value() != before {
		f.fields[f.focus].touched = true
		f.message = ""
		f.validate()
	}
	return f, cmd
}

func (f form) submit() (form, tea.Cmd) {
	f.tried = true
	if bad := f.validate(); bad > 0 {
		f.message = fmt.Sprintf("%d value(s) need fixing before the run can start", bad)
		for i, fl := range f.fields {
			if fl.err != "" {
				return f, f.setFocus(i)
			}
		}
		return f, nil
	}
	vals, purpose := f.values(), f.purpose
	return f, func() tea.Msg { return submitMsg{values: vals, purpose: purpose} }
}

func (f form) help() helpKeys {
	k := f.c.keys
	short := []key.Binding{k.Next, k.Prev, k.Start, k.Purpose, k.Back, k.ScrollUp, k.ScrollDown}
	return helpKeys{short: short, full: [][]key.Binding{short}}
}

// fieldLines draws one parameter.
func (f form) fieldLines(i int) []string {
	st, w := f.c.st, f.c.width
	fl := f.fields[i]
	p := fl.p
	typ := string(p.Type)
	if typ == "" {
		typ = "string"
	}
	if p.Required {
		typ += ", required"
	}
	mark, name := "  ", st.Text.Render(p.Name)
	if i == f.focus {
		mark, name = "▶ ", st.Selected.Render(p.Name)
	}
	lines := []string{mark + name + st.Dim.Render(" ("+typ+")")}
	if p.Description != "" {
		for _, l := range strings.Split(wrap(p.Description, max(1, w-2)), "\n") {
			lines = append(lines, st.Text.Render("  "+l))
		}
	}
	var facts []string
	if !p.Default.IsZero() && p.Type != runbook.TypeSecret {
		facts = append(facts, "default: "+strings.Join(p.Default.Strings(), ","))
	}
	if p.Pattern != "" {
		facts = append(facts, "pattern: "+p.Pattern)
	}
	if len(p.Choices) > 0 {
		facts = append(facts, "one of: "+strings.Join(p.Choices, ", "))
	}
	if len(facts) > 0 {
		for _, l := range strings.Split(wrap(strings.Join(facts, " · "), max(1, w-2)), "\n") {
			lines = append(lines, st.Dim.Render("  "+l))
		}
	}
	lines = append(lines, "  "+fl.in.View())
	if fl.err != "" && (fl.touched || f.tried) {
		for _, l := range strings.Split(wrap("✗ "+fl.err, max(1, w-2)), "\n") {
			lines = append(lines, st.Error.Render("  "+l))
		}
	}
	return lines
}

func (f form) view() string {
	st, w, h := f.c.st, f.c.width, f.c.height
	on := ""
	if f.target.Name != "" {
		kind := "REAL"
		if f.target.Simulated {
			kind = "SIMULATED"
		}
		on = fmt.Sprintf(" · on %s (%s)", f.target.Name, kind)
	}
	var head []string
	for _, l := range strings.Split(wrap("Parameters · "+f.rb.Title, w), "\n") {
		head = append(head, st.Title.Render(l))
	}
	for _, l := range strings.Split(wrap(fmt.Sprintf("%s%s · %d parameter(s) · %s starts the run", f.rb.ID, on, len(f.fields), keyOf(f.c.keys.Start)), w), "\n") {
		head = append(head, st.Dim.Render(l))
	}
	for _, l := range strings.Split(wrap(fmt.Sprintf("purpose: %s (%s: incident, drill or routine; it titles the report)", f.purpose, keyOf(f.c.keys.Purpose)), w), "\n") {
		head = append(head, st.Text.Render(l))
	}
	head = append(head, "")
	// The description says why the runbook is written as it is: it comes
	// first and scrolls away as the fields further down take focus.
	var body []string
	if paras := reflow(f.rb.Description); len(paras) > 0 {
		for _, para := range paras {
			for _, l := range strings.Split(wrap(para, w), "\n") {
				body = append(body, st.Text.Render(l))
			}
		}
		body = append(body, "")
	}
	focusTop, focusEnd := 0, 0
	for i := range f.fields {
		if i == f.focus {
			focusTop = len(body)
		}
		body = append(body, f.fieldLines(i)...)
		if i == f.focus {
			focusEnd = len(body)
		}
		body = append(body, "")
	}
	if len(f.fields) == 0 {
		body = append(body, st.Text.Render(fmt.Sprintf("This runbook has no parameters: %s or %s starts it.", keyOf(f.c.keys.Start), keyOf(f.c.keys.Submit))))
	}
	foot := []string{""}
	if f.message != "" {
		foot = nil
		for _, l := range strings.Split(wrap(f.message, w), "\n") {
			foot = append(foot, st.Error.Render(l))
		}
	}
	room := max(1, h-len(head)-len(foot)-1) // help line
	start := 0
	if focusEnd > room {
		start = min(focusTop, focusEnd-room)
	}
	// pgup and pgdn move the view from there (to read the description
	// above the first field); marks say what is above and below.
	start = min(max(0, start+f.scroll), max(0, len(body)-room))
	end := min(len(body), start+room)
	shown := append([]string(nil), body[start:end]...)
	if start > 0 && len(shown) > 0 {
		shown[0] = st.Dim.Render(cut(fmt.Sprintf("▲ %s above: %s", lines(start), keyOf(f.c.keys.ScrollUp)), w))
	}
	if end < len(body) && len(shown) > 1 {
		shown[len(shown)-1] = st.Dim.Render(cut(fmt.Sprintf("▼ %s below: %s", lines(len(body)-end), keyOf(f.c.keys.ScrollDown)), w))
	}
	for len(shown) < room {
		shown = append(shown, "")
	}
	return strings.Join(append(append(head, shown...), foot...), "\n")
}
