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

// view draws the dialog's box.
func (d dialog) view(c *common, rv *runView) string {
	st, k := c.st, c.keys
	w := min(c.width-4, 78)
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
		add(st.Title.Render(cut(deviationTitle(d.dev)+" · step "+d.ev.Step, inner)))
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
		add(st.Dim.Render(cut(keyOf(k.Submit)+" submits · "+keyOf(k.Cancel)+" cancels", inner)))
	case dlgReconcile:
		add(st.Title.Render(cut("What happened to step "+d.ev.Step+"?", inner)))
		add("")
		if d.ev.Reason != "" {
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
			add(st.Text.Render(cut(fmt.Sprintf("%s %s %s", mark, o.k, o.l), inner)))
		}
		add(d.input.View())
		add(st.Dim.Render(cut("1/2/3 choose (before typing) · "+keyOf(k.Submit)+" submits · "+keyOf(k.Cancel)+" closes", inner)))
	case dlgQuit:
		box = st.Dialog
		add(st.DialogTitle.Render(cut("A step is running", inner)))
		add("")
		wrapAdd(st.Text.Render, "Quit anyway? The running call is stopped (SIGINT to its process group) and the run stays resumable with:")
		add(st.Command.Render(cut("drillbook resume "+rv.spec.RunID, inner)))
		add("")
		add(st.Text.Render(cut(keyOf(k.Yes)+" quit · "+keyOf(k.No)+" stay (the default)", inner)))
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

// confirmLines lays out the confirmation: what will run, where, the last
// pre-check, then the token to type. The token line and the input always
// show; a command too long for the screen is cut, saying so.
func (d dialog) confirmLines(c *common, rv *runView, inner int) []string {
	st := c.st
	wrapped := func(style func(...string) string, s string, maxLines int) []string {
		var out []string
		ls := strings.Split(wrap(s, inner), "\n")
		for i, l := range ls {
			if maxLines > 0 && i == maxLines-1 && len(ls) > maxLines {
				out = append(out, style(cut(l, inner-1)+"…"))
				break
			}
			out = append(out, style(l))
		}
		return out
	}
	head := []string{st.DialogTitle.Render(cut("DESTRUCTIVE STEP: "+d.ev.Step+" · "+rv.title(d.ev.Step), inner)), "", st.Dim.Render("will run:")}
	cmd, host, detail, object := d.ev.Op, "", "", ""
	if p := d.ev.Plan; p != nil {
		cmd, host, object = planCommand(*p), p.Host, p.Object
		if p.Detail != cmd {
			detail = p.Detail
		}
	}
	body := wrapped(st.Command.Render, cmd, 0)
	if detail != "" {
		body = append(body, wrapped(st.Dim.Render, detail, 0)...)
	}
	if object != "" {
		body = append(body, wrapped(st.Text.Render, "acts on: "+object, 0)...)
	}
	target := rv.spec.Target
	if rv.spec.Simulated {
		target += " (SIMULATED)"
	}
	var tail []string
	if host != "" {
		tail = append(tail, st.Text.Render(cut("on host: "+host+" · target: "+target, inner)))
	} else {
		tail = append(tail, st.Text.Render(cut("target: "+target, inner)))
	}
	pre := d.ev.Text
	if pre == "" {
		pre = "none (this step has no pre-check)"
	}
	tail = append(tail, wrapped(st.Text.Render, "last pre-check: "+pre, 2)...)
	tail = append(tail, "", st.Text.Render(cut(fmt.Sprintf("Type %q and press %s to run it; %s cancels (the default).", d.ev.Token, keyOf(c.keys.Submit), keyOf(c.keys.Cancel)), inner)), d.input.View())
	if d.msg != "" {
		tail = append(tail, wrapped(st.Error.Render, d.msg, 2)...)
	}
	room := c.height - 3 - 2 - len(head) - len(tail) // header, status, help; the border
	if room < 1 {
		room = 1
	}
	if len(body) > room {
		more := len(body) - room + 1
		body = append(body[:room-1:room-1], st.Dim.Render(cut(fmt.Sprintf("… %d more lines (drillbook plan shows them all)", more), inner)))
	}
	return append(append(head, body...), tail...)
}
