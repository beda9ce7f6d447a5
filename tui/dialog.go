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

// dialogKind names the modal questions of the run view.
type dialogKind int

const (
	dlgNone      dialogKind = iota
	dlgConfirm              // type a destructive step's token
	dlgDeviate              // a deviation and its reason
	dlgReconcile            // what happened to an in-flight step
	dlgQuit                 // quit while a step runs
	dlgNote                 // a note on a step (ev.Step) or on the run
)

// dialog is the one modal question open in the run view. Every dialog
// defaults to doing nothing: Esc closes it, and Enter alone never confirms
// or deviates.
type dialog struct {
	kind  dialogKind
	ev    runbook.Event // the request it answers (confirm, reconcile)
	dev   runbook.Deviation
	extra textinput.Model // jump target or ad-hoc command line
	input textinput.Model // token or reason
	onExt bool            // the extra field has focus
	pick  runbook.StepState
	msg   string

	// A confirmation's text scrolls when the window cannot hold it: off is
	// how far, readTo how many of its rows have been on screen from the
	// top with no gap, readAll whether all have (it is confirmed only
	// then), left how many have not.
	off     int
	readTo  int
	readAll bool
	left    int
	readW   int
}

func newInput(c *common, placeholder string) textinput.Model {
	in := textinput.New()
	in.Prompt = "> "
	in.PromptStyle = c.st.Key
	in.TextStyle = c.st.Text
	in.Placeholder = placeholder
	in.CharLimit = 1024
	in.Width = 50
	return in
}

func confirmDialog(c *common, ev runbook.Event) dialog {
	d := dialog{kind: dlgConfirm, ev: ev, input: newInput(c, "type the token shown above")}
	d.input.Focus()
	return d
}

func deviateDialog(c *common, dev runbook.Deviation, ev runbook.Event) dialog {
	d := dialog{kind: dlgDeviate, dev: dev, ev: ev, input: newInput(c, "why (it goes into the report)")}
	switch dev {
	case runbook.DevJump:
		d.extra = newInput(c, "step id to go to")
		d.onExt = true
		d.extra.Focus()
	case runbook.DevAdhoc:
		d.extra = newInput(c, "command and arguments (no shell: quote with \" or ')")
		d.onExt = true
		d.extra.Focus()
	default:
		d.input.Focus()
	}
	return d
}

func reconcileDialog(c *common, ev runbook.Event) dialog {
	d := dialog{kind: dlgReconcile, ev: ev, input: newInput(c, "what you checked (optional)")}
	d.input.Focus()
	return d
}

// noteDialog asks for a note on step (a key), or on the run when step is
// empty.
func noteDialog(c *common, step string) dialog {
	d := dialog{kind: dlgNote, ev: runbook.Event{Step: step}, input: newInput(c, "what happened (secrets are masked)")}
	d.input.Focus()
	return d
}

// dialogResult is what a key in a dialog decided.
type dialogResult struct {
	send  *runbook.Input
	close bool
	quit  bool
}

func (d dialog) update(c *common, msg tea.Msg, stepIDs []string) (dialog, dialogResult, tea.Cmd) {
	km, isKey := msg.(tea.KeyMsg)
	k := c.keys
	if isKey && key.Matches(km, k.Cancel) {
		return d, dialogResult{close: true}, nil
	}
	if isKey && d.kind == dlgConfirm {
		// Arrows and page keys scroll the text; letters go to the token.
		step := map[string]int{"up": -1, "down": 1, "pgup": -5, "pgdown": 5}
		if n, ok := step[km.String()]; ok {
			d.off = max(0, d.off+n) // track clamps it to the text
			d.msg = ""
			return d, dialogResult{}, nil
		}
	}
	switch d.kind {
	case dlgQuit:
		if isKey && key.Matches(km, k.Yes) {
			return d, dialogResult{close: true, quit: true}, nil
		}
		if isKey && key.Matches(km, k.No) {
			return d, dialogResult{close: true}, nil
		}
		return d, dialogResult{}, nil
	case dlgConfirm:
		if isKey && key.Matches(km, k.Submit) {
			tok := strings.TrimSpace(d.input.Value())
			if tok == "" {
				d.msg = fmt.Sprintf("type the token first: %s alone confirms nothing (%s cancels)", keyOf(k.Submit), keyOf(k.Cancel))
				return d, dialogResult{}, nil
			}
			if !d.readAll {
				d.msg = fmt.Sprintf("read all of it first: %s more below (↓ scrolls); nothing was run", lines(d.left))
				return d, dialogResult{}, nil
			}
			in := &runbook.Input{Type: runbook.InConfirm, Step: d.ev.Step, Token: tok}
			if tok != d.ev.Token {
				d.msg = fmt.Sprintf("%q does not match: nothing was run", tok)
				d.input.SetValue("")
				return d, dialogResult{send: in}, nil
			}
			return d, dialogResult{send: in, close: true}, nil
		}
	case dlgReconcile:
		if isKey && d.input.Value() == "" {
			switch km.String() {
			case "1":
				d.pick, d.msg = runbook.StateSucceeded, ""
				return d, dialogResult{}, nil
			case "2":
				d.pick, d.msg = runbook.StateFailed, ""
				return d, dialogResult{}, nil
			case "3":
				d.pick, d.msg = "rerun", ""
				return d, dialogResult{}, nil
			}
		}
		if isKey {
			if key.Matches(km, k.Submit) {
				if d.pick == "" {
					d.msg = "choose 1, 2 or 3 first"
					return d, dialogResult{}, nil
				}
				why := strings.TrimSpace(d.input.Value())
				if why == "" {
					why = "the operator checked and said so in the screen"
				}
				return d, dialogResult{close: true, send: &runbook.Input{Type: runbook.InReconcile, Step: d.ev.Step, Reconciled: d.pick, Reason: why}}, nil
			}
		}
	case dlgNote:
		if isKey && key.Matches(km, k.Submit) {
			text := strings.TrimSpace(d.input.Value())
			if text == "" {
				d.msg = "write the note first (" + keyOf(k.Cancel) + " cancels)"
				return d, dialogResult{}, nil
			}
			return d, dialogResult{close: true, send: &runbook.Input{Type: runbook.InNote, Step: d.ev.Step, Note: text}}, nil
		}
	case dlgDeviate:
		if isKey && key.Matches(km, k.Submit, k.Next) && d.onExt && d.extra.Value() != "" {
			d.onExt = false
			d.extra.Blur()
			return d, dialogResult{}, d.input.Focus()
		}
		if isKey && key.Matches(km, k.Prev) && !d.onExt && needsExtra(d.dev) {
			d.onExt = true
			d.input.Blur()
			return d, dialogResult{}, d.extra.Focus()
		}
		if isKey && key.Matches(km, k.Submit) {
			in := runbook.Input{Type: runbook.InDeviate, Deviation: d.dev, Step: d.ev.Step, Reason: strings.TrimSpace(d.input.Value())}
			switch d.dev {
			case runbook.DevJump:
				in.Target = strings.TrimSpace(d.extra.Value())
				if !slices.Contains(stepIDs, in.Target) {
					d.msg = fmt.Sprintf("there is no step %q: steps are %s", in.Target, strings.Join(stepIDs, ", "))
					return d, dialogResult{}, nil
				}
			case runbook.DevAdhoc:
				argv, err := splitArgs(d.extra.Value())
				if err != nil || len(argv) == 0 {
					d.msg = "give a command line"
					if err != nil {
						d.msg = err.Error()
					}
					return d, dialogResult{}, nil
				}
				in.Argv = argv
			}
			if in.Reason == "" {
				d.msg = "a reason is needed: it goes into the report"
				return d, dialogResult{}, nil
			}
			return d, dialogResult{close: true, send: &in}, nil
		}
	}
	var cmd tea.Cmd
	if d.kind == dlgDeviate && d.onExt {
		d.extra, cmd = d.extra.Update(msg)
	} else {
		d.input, cmd = d.input.Update(msg)
	}
	if isKey {
		d.msg = ""
	}
	return d, dialogResult{}, cmd
}

// needsExtra reports whether the deviation takes an argument besides its reason.
func needsExtra(d runbook.Deviation) bool { return d == runbook.DevJump || d == runbook.DevAdhoc }

// splitArgs splits a command line into argv the way a user expects from a
// shell's quoting, without a shell: words split on spaces, "..." and '...'
// group, backslash escapes the next character. Nothing is expanded.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote, esc := false, rune(0), false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc, in = false, true
		case r == '\\' && quote != '\'':
			esc = true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("a quote is not closed")
	}
	if esc {
		return nil, errors.New("the line ends with a backslash")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// dialogWidth is the width of a dialog's box: the window's, less a column
// each side, up to a width that still reads as a box.
func dialogWidth(c *common) int { return max(8, min(c.width-2, 110)) }

// view draws the dialog's box.
func (d dialog) view(c *common, rv *runView) string {
	st, k := c.st, c.keys
	w := dialogWidth(c)
	inner := w - 4
	var lines []string
	add := func(s string) { lines = append(lines, s) }
	wrapAdd := func(style func(...string) string, s string) {
		for _, l := range strings.Split(wrap(s, inner), "\n") {
			add(style(l))
		}
	}
	box := st.Box
	switch d.kind {
	case dlgConfirm:
		box = st.Dialog
		lines = d.confirmLines(c, rv, inner)
	case dlgDeviate:
		wrapAdd(st.Title.Render, deviationTitle(d.dev)+" · step "+d.ev.Step)
		add("")
		if needsExtra(d.dev) {
			label := "step to go to:"
			if d.dev == runbook.DevAdhoc {
				label = "command (runs on this host, output journaled):"
			}
			add(st.Dim.Render(label))
			add(d.extra.View())
		}
		add(st.Dim.Render("reason (required, goes into the report):"))
		add(d.input.View())
		add("")
		wrapAdd(st.Dim.Render, keyOf(k.Submit)+" submits · "+keyOf(k.Cancel)+" cancels")
	case dlgReconcile:
		wrapAdd(st.Title.Render, "What happened to step "+d.ev.Step+"?")
		add("")
		if p := rv.seen(d.ev.Step).plan; p != nil {
			// At most three rows: the question and its answers must show.
			cmd := strings.Split(wrap("it was running: "+planCommand(*p), inner), "\n")
			if len(cmd) > 3 {
				cmd = append(cmd[:2], cut(cmd[2], inner-1)+"…")
			}
			for _, l := range cmd {
				add(st.Command.Render(l))
			}
		}
		if d.ev.Reason != "" {
			// The verify's or pre-check's answer about the state now, when
			// the step has one: read before deciding.
			wrapAdd(st.Text.Render, d.ev.Reason)
		}
		for _, o := range []struct {
			k string
			s runbook.StepState
			l string
		}{{"1", runbook.StateSucceeded, "it succeeded"}, {"2", runbook.StateFailed, "it failed"}, {"3", "rerun", "run it again (a destructive step asks for a new confirmation)"}} {
			mark := "( )"
			if d.pick == o.s {
				mark = "(•)"
			}
			wrapAdd(st.Text.Render, fmt.Sprintf("%s %s %s", mark, o.k, o.l))
		}
		add(d.input.View())
		wrapAdd(st.Dim.Render, "1/2/3 choose (before typing) · "+keyOf(k.Submit)+" submits · "+keyOf(k.Cancel)+" closes")
	case dlgNote:
		what := "the run"
		if d.ev.Step != "" {
			what = "step " + d.ev.Step
		}
		add(st.Title.Render(cut("Note on "+what, inner)))
		add("")
		add(st.Dim.Render("kept in the journal and the report:"))
		add(d.input.View())
		add("")
		wrapAdd(st.Dim.Render, keyOf(k.Submit)+" keeps it · "+keyOf(k.Cancel)+" cancels")
	case dlgQuit:
		box = st.Dialog
		wrapAdd(st.DialogTitle.Render, "A step is running")
		add("")
		wrapAdd(st.Text.Render, "Quit anyway? The running call is stopped (SIGINT to its process group) and the run stays resumable with:")
		wrapAdd(st.Command.Render, "drillbook resume "+rv.spec.RunID)
		add("")
		wrapAdd(st.Text.Render, keyOf(k.Yes)+" quit · "+keyOf(k.No)+" stay (the default)")
	}
	if d.msg != "" && d.kind != dlgConfirm {
		wrapAdd(st.Error.Render, d.msg)
	}
	return box.Width(w - 2).Render(strings.Join(lines, "\n"))
}

func deviationTitle(d runbook.Deviation) string {
	switch d {
	case runbook.DevRetry:
		return "Retry"
	case runbook.DevSkip:
		return "Skip"
	case runbook.DevJump:
		return "Go to another step"
	case runbook.DevAdhoc:
		return "Run an ad-hoc command"
	case runbook.DevAbort:
		return "Abort the run"
	}
	return string(d)
}

// confirmParts lays out the confirmation at inner width: the head (what
// step), the text to read (what will run, where, what it acts on, the notes
// and the last pre-check), and the tail (the token to type and the input),
// which always shows.
func (d dialog) confirmParts(c *common, rv *runView, inner int) (head, text, tail []string) {
	st := c.st
	wrapped := func(style func(...string) string, s string) []string {
		var out []string
		for _, l := range strings.Split(wrap(s, inner), "\n") {
			out = append(out, style(l))
		}
		return out
	}
	head = append(wrapped(st.DialogTitle.Render, "DESTRUCTIVE STEP: "+d.ev.Step+" · "+rv.title(d.ev.Step)), "")
	cmd, host, detail, object := d.ev.Op, "", "", ""
	if p := d.ev.Plan; p != nil {
		cmd, host, object = planCommand(*p), p.Host, p.Object
		if p.Detail != cmd {
			detail = p.Detail
		}
	}
	text = append(text, st.Dim.Render("will run:"))
	text = append(text, wrapped(st.Command.Render, cmd)...)
	if detail != "" {
		text = append(text, wrapped(st.Dim.Render, detail)...)
	}
	if object != "" {
		text = append(text, wrapped(st.Text.Render, "acts on: "+object)...)
	}
	target := rv.spec.Target
	switch {
	case rv.spec.Simulated && d.ev.Simulated:
		target += " (SIMULATED)"
	case rv.spec.Simulated:
		target += " · this step is REAL: it acts on this machine or a real system, not on the simulation"
	}
	if host != "" {
		text = append(text, wrapped(st.Text.Render, "on host: "+host+" · target: "+target)...)
	} else {
		text = append(text, wrapped(st.Text.Render, "target: "+target)...)
	}
	if n := strings.TrimSpace(d.ev.Notes); n != "" {
		text = append(text, wrapped(st.Text.Render, "note: "+n)...)
	}
	pre := d.ev.Text
	if pre == "" {
		pre = "none (this step has no pre-check)"
	}
	text = append(text, wrapped(st.Text.Render, "last pre-check: "+pre)...)
	tail = append(tail, "")
	tail = append(tail, wrapped(st.Text.Render, fmt.Sprintf("Type %q and press %s to run it; %s cancels (the default).", d.ev.Token, keyOf(c.keys.Submit), keyOf(c.keys.Cancel)))...)
	tail = append(tail, d.input.View())
	if d.msg != "" {
		tail = append(tail, wrapped(st.Error.Render, d.msg)...)
	}
	return head, text, tail
}

// confirmRoom is how many rows the confirmation's text has in the window:
// the body (between header and status line) less the box's border and the
// rows that always show.
func confirmRoom(c *common, head, tail []string) int {
	return c.height - 3 - 2 - len(head) - len(tail)
}

// confirmWindow returns which rows of n the confirmation shows in room,
// and whether a row is taken by the "more lines" mark.
func (d dialog) confirmWindow(n, room int) (vis, off int, mark bool) {
	if n <= room {
		return n, 0, false
	}
	vis = max(1, room-1)
	return vis, min(max(0, d.off), max(0, n-vis)), true
}

// track counts what of the confirmation's text has been on screen, the
// way runView.track does for the step's text.
func (d *dialog) track(c *common, rv *runView) {
	inner := dialogWidth(c) - 4
	head, text, tail := d.confirmParts(c, rv, inner)
	if inner != d.readW {
		d.readW, d.readTo = inner, 0
	}
	vis, off, _ := d.confirmWindow(len(text), confirmRoom(c, head, tail))
	d.off = off
	if off <= d.readTo {
		d.readTo = max(d.readTo, off+vis)
	}
	if d.readTo >= len(text) {
		d.readAll = true
	}
	d.left = max(0, len(text)-d.readTo)
}

// confirmLines draws the confirmation: the text scrolls when the window
// cannot hold it, with a mark saying how much more there is; the token to
// type and the input always show.
func (d dialog) confirmLines(c *common, rv *runView, inner int) []string {
	head, text, tail := d.confirmParts(c, rv, inner)
	vis, off, mark := d.confirmWindow(len(text), confirmRoom(c, head, tail))
	out := append(append([]string(nil), head...), text[off:off+vis]...)
	if mark {
		below := len(text) - off - vis
		s := fmt.Sprintf("▼ %s more: ↓ scrolls; read them before the token", lines(below))
		style := c.st.Attention.Render
		if below == 0 {
			s, style = fmt.Sprintf("▲ end; %s above (↑)", lines(off)), c.st.Dim.Render
		}
		out = append(out, style(cut(s, inner)))
	}
	return append(out, tail...)
}
