package runbook

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"text/template/parse"
)

// templateFuncs are the functions runbook templates may call, beyond Go's
// built-ins (eq, ne, and, or, not, len, index, printf).
func templateFuncs() template.FuncMap {
	return template.FuncMap{
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
	t, err := template.New("").Option("missingkey=error").Funcs(templateFuncs()).Parse(text)
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
