package runbook

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"text/template/parse"
)

// stepRefPrefix marks, in templateRefs' result, a step named by a call to
// ran or stepState.
const stepRefPrefix = "step:"

// stateFuncsKey is the key under which the engine puts, in a template's
// data, the functions that read the run's state (runStatus, ran,
// stepState). It is not a valid template identifier, so no template can
// reach it as a field.
const stateFuncsKey = " state funcs"

// stateFuncs are the template functions that read the run's state; the
// engine provides them when it renders.
type stateFuncs struct {
	runStatus func() string
	ran       func(step string) bool
	stepState func(step string) string
}

// templateFuncs are the functions runbook templates may call, beyond Go's
// built-ins (eq, ne, and, or, not, len, index, printf). runStatus, ran and
// stepState read the run's state: outside a run (validation) they answer
// as if nothing had run yet.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"runStatus": func() string { return string(RunRunning) },
		"ran":       func(string) bool { return false },
		"stepState": func(string) string { return string(StatePending) },
		"join":      strings.Join,
		"lower":     strings.ToLower,
		"upper":     strings.ToUpper,
		"contains":  strings.Contains,
		"hasPrefix": strings.HasPrefix,
		"hasSuffix": strings.HasSuffix,
		"base":      filepath.Base,
		"dir":       filepath.Dir,
		"trim":      strings.TrimSpace,
	}
}

// render executes a template with missing keys an error. Text without "{{"
// is returned as is.
func render(text string, data map[string]any) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	funcs := templateFuncs()
	if sf, ok := data[stateFuncsKey].(stateFuncs); ok {
		funcs["runStatus"], funcs["ran"], funcs["stepState"] = sf.runStatus, sf.ran, sf.stepState
	}
	t, err := template.New("").Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", text, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %q: %s", text, cleanTemplateErr(err))
	}
	return b.String(), nil
}

func cleanTemplateErr(err error) string {
	msg := err.Error()
	// "template: :1:3: executing \"\" at <.x>: map has no entry for key \"x\""
	if i := strings.Index(msg, "at <"); i >= 0 {
		msg = msg[i:]
	}
	return msg
}

// outFieldRefs returns the {{ .out.STEP.NAME }} references of a template
// as [STEP, NAME] pairs; a text that does not parse has none.
func outFieldRefs(text string) [][2]string {
	if !strings.Contains(text, ".out.") {
		return nil
	}
	t, err := template.New("").Funcs(templateFuncs()).Parse(text)
	if err != nil {
		return nil
	}
	var refs [][2]string
	var visit func(n parse.Node)
	visit = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					visit(c)
				}
			}
		case *parse.ActionNode:
			visit(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					visit(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				visit(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) >= 3 && n.Ident[0] == "out" {
				refs = append(refs, [2]string{n.Ident[1], n.Ident[2]})
			}
		case *parse.IfNode:
			visit(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		case *parse.WithNode:
			visit(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		}
	}
	visit(t.Tree.Root)
	return refs
}

// templateRefs returns the top-level names a template refers to (.name)
// and, for .out.STEP.VAR, the step ids as "out.STEP". Calls to unknown
// functions and syntax errors are returned as an error.
func templateRefs(text string) ([]string, error) {
	if !strings.Contains(text, "{{") {
		return nil, nil
	}
	t, err := template.New("").Funcs(templateFuncs()).Parse(text)
	if err != nil {
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "template:") {
			msg = strings.TrimPrefix(msg[i+2:], ":")
		}
		return nil, fmt.Errorf("template does not parse: %s", msg)
	}
	var refs []string
	var bad error
	var visit func(n parse.Node)
	addField := func(idents []string) {
		if len(idents) == 0 {
			return
		}
		if idents[0] == "out" && len(idents) > 1 {
			refs = append(refs, "out."+idents[1])
			return
		}
		refs = append(refs, idents[0])
	}
	visit = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				visit(c)
			}
		case *parse.ActionNode:
			visit(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				visit(c)
			}
		case *parse.CommandNode:
			if len(n.Args) == 2 {
				if id, ok := n.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "ran" || id.Ident == "stepState") {
					if str, ok := n.Args[1].(*parse.StringNode); ok {
						refs = append(refs, stepRefPrefix+str.Text)
					}
				}
			}
			for _, a := range n.Args {
				visit(a)
			}
		case *parse.FieldNode:
			addField(n.Ident)
		case *parse.ChainNode:
			visit(n.Node)
		case *parse.IfNode:
			visit(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		case *parse.RangeNode:
			// A runbook template renders one value; a loop over a number
			// ({{ range 1000000000000 }}) would hang the run.
			bad = fmt.Errorf("template uses range: runbook templates render values, not loops (use foreach: on the step)")
		case *parse.TemplateNode:
			bad = fmt.Errorf("template calls another template: runbook templates render one value")
		case *parse.WithNode:
			visit(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		}
	}
	visit(t.Tree.Root)
	if len(t.Templates()) > 1 {
		bad = fmt.Errorf("template defines other templates: runbook templates render one value")
	}
	if bad != nil {
		return nil, bad
	}
	return refs, nil
}
