package runbook

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	idRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	msgIDRE = regexp.MustCompile(`^[A-Z]{4,5}\d{4}[A-Z]?$`)
)

// reservedNames cannot be parameter names: templates use them.
var reservedNames = []string{"out", "item"}

// Validate checks a parsed runbook against the operations in specs and
// returns every problem found (nil when there is none). It runs nothing.
func Validate(rb *Runbook, specs []OpSpec) Problems {
	v := &validator{rb: rb, specs: map[string]OpSpec{}, params: map[string]Param{}}
	for _, s := range specs {
		v.specs[s.Name] = s
	}
	v.run()
	if len(v.probs) == 0 {
		return nil
	}
	return v.probs.sorted()
}

type validator struct {
	rb     *Runbook
	specs  map[string]OpSpec
	params map[string]Param
	// steps maps a step id to its index in rb.AllSteps(); sections to the
	// section it is in.
	steps    map[string]int
	sections map[string]Section
	all      []SectionStep
	probs    Problems
}

func (v *validator) add(pos Pos, format string, args ...any) { v.probs.add(pos, format, args...) }

func (v *validator) run() {
	rb := v.rb
	if rb.Schema != SchemaV1 {
		if rb.Schema == "" {
			v.add(rb.Pos, "missing schema: the first line of a runbook is `schema: %s`", SchemaV1)
		} else {
			v.add(rb.FieldPos("schema", rb.Pos), "unknown schema %q: this drillbook reads %s", rb.Schema, SchemaV1)
		}
	}
	if !idRE.MatchString(rb.ID) {
		v.add(rb.FieldPos("id", rb.Pos), "id %q must be lower-case letters, digits and dashes (it is typed on the command line)", rb.ID)
	}
	if strings.TrimSpace(rb.Title) == "" {
		v.add(rb.FieldPos("title", rb.Pos), "missing title: say in a few words what the runbook does")
	}
	v.checkParams()
	if len(rb.Steps) == 0 {
		v.add(rb.FieldPos("steps", rb.Pos), "a runbook needs at least one step")
		return
	}
	v.steps, v.sections = map[string]int{}, map[string]Section{}
	v.all = rb.AllSteps()
	for i, ss := range v.all {
		st := ss.Step
		if !idRE.MatchString(st.ID) {
			v.add(st.FieldPos("id", st.Pos), "step id %q must be lower-case letters, digits and dashes", st.ID)
			continue
		}
		if j, dup := v.steps[st.ID]; dup {
			v.add(st.FieldPos("id", st.Pos), "duplicate step id %q: also used by the step at line %d", st.ID, v.all[j].Step.Pos.Line)
			continue
		}
		v.steps[st.ID] = i
		v.sections[st.ID] = ss.Section
	}
	for i, ss := range v.all {
		v.checkStep(ss.Step, i)
		switch ss.Section {
		case SectionPreflight:
			v.checkPreflight(ss.Step)
		case SectionFinally:
			v.checkFinally(ss.Step)
		}
	}
	for _, sec := range rb.Sections() {
		v.checkReachable(sec.Steps)
	}
}

// checkPreflight enforces what makes a preflight step safe to run before
// anything else and from `drillbook plan`: it only looks.
func (v *validator) checkPreflight(st *Step) {
	switch {
	case st.Manual != "":
		v.add(st.FieldPos("manual", st.Pos), "preflight step %s is manual: preflight steps are checks drillbook runs; put the manual step under steps:", st.ID)
	case st.Wait != nil && st.Wait.Action == "":
		v.add(st.FieldPos("wait", st.Pos), "preflight step %s watches a log: preflight steps are checks that need nothing to happen; put the wait under steps:", st.ID)
	}
	if st.Destructive {
		v.add(st.FieldPos("destructive", st.Pos), "preflight step %s is destructive: preflight steps change nothing; put it under steps:", st.ID)
	}
	if st.Interactive {
		v.add(st.FieldPos("interactive", st.Pos), "preflight step %s is interactive: preflight steps run unattended, and in `drillbook plan`", st.ID)
	}
	for _, c := range []struct {
		op  string
		pos Pos
	}{
		{st.Action, st.FieldPos("action", st.Pos)},
		{actionOf(st.Precheck), st.FieldPos("precheck", st.Pos)},
		{actionOf(st.Verify), st.FieldPos("verify", st.Pos)},
		{waitActionOf(st.Wait), st.FieldPos("wait", st.Pos)},
	} {
		if spec, ok := v.specs[c.op]; ok && !spec.ReadOnly {
			v.add(c.pos, "preflight step %s calls %s, which may change the estate: preflight steps may only call read-only operations (see `drillbook list --ops`)", st.ID, c.op)
		}
	}
}

// checkFinally enforces what finally steps need: they run after the run has
// ended, so nothing may jump into them and they may not jump out.
func (v *validator) checkFinally(st *Step) {
	if st.Interactive {
		v.add(st.FieldPos("interactive", st.Pos), "finally step %s is interactive: finally steps also run after a run was aborted, unattended in plain mode", st.ID)
	}
}

func actionOf(c *Check) string {
	if c == nil {
		return ""
	}
	return c.Action
}

func waitActionOf(w *Wait) string {
	if w == nil {
		return ""
	}
	return w.Action
}

// checkJump reports a goto or next that leaves the step's own section: a
// run only enters finally steps when it ends, and preflight only at its start.
func (v *validator) checkJump(st *Step, target string, pos Pos, what string) {
	j, ok := v.steps[target]
	if !ok {
		v.add(pos, "%s: there is no step %q", what, target)
		return
	}
	if from, to := v.sections[st.ID], v.all[j].Section; from != to {
		v.add(pos, "%s: step %q is under %s: and this step is under %s:; a step can only go to a step of its own section", what, target, to, from)
	}
}

func (v *validator) checkParams() {
	for _, p := range v.rb.Params {
		pos := p.FieldPos("name", p.Pos)
		switch {
		case !paramRE.MatchString(p.Name):
			v.add(pos, "parameter name %q must be a letter or _ followed by letters, digits or _ (templates write it as {{ .%s }})", p.Name, p.Name)
			continue
		case slices.Contains(reservedNames, p.Name):
			v.add(pos, "parameter name %q is reserved for templates; choose another", p.Name)
			continue
		}
		if _, dup := v.params[p.Name]; dup {
			v.add(pos, "duplicate parameter %q", p.Name)
			continue
		}
		if p.Type == "" {
			p.Type = TypeString
		}
		v.params[p.Name] = p
		switch p.Type {
		case TypeString, TypeBool, TypeInt, TypePath, TypeList, TypeSecret:
		default:
			v.add(p.FieldPos("type", p.Pos), "unknown parameter type %q: use string, bool, int, path, list or secret", p.Type)
			continue
		}
		if p.Pattern != "" {
			if _, err := regexp.Compile(p.Pattern); err != nil {
				v.add(p.FieldPos("pattern", p.Pos), "pattern %q does not compile: %v", p.Pattern, err)
				continue
			}
		}
		if p.Default.IsZero() {
			continue
		}
		dpos := p.FieldPos("default", p.Pos)
		switch {
		case p.Type == TypeSecret:
			v.add(dpos, "a secret parameter cannot have a default: secrets are never written in files")
		case p.Type == TypeList && p.Default.Kind != ValueList:
			v.add(dpos, "the default of a list parameter must be a list, like [a, b]")
		case p.Type != TypeList && p.Default.Kind != ValueScalar:
			v.add(dpos, "the default of a %s parameter must be a single value", p.Type)
		default:
			raw := p.Default.Scalar
			if p.Type == TypeList {
				raw = strings.Join(p.Default.List, ",")
			}
			if _, err := convertParam(p, raw); err != nil {
				v.add(dpos, "default: %v", err)
			}
		}
	}
}

// names returns the template names visible in a step.
func (v *validator) names(st *Step) map[string]bool {
	n := map[string]bool{}
	for name := range v.params {
		n[name] = true
	}
	if st.Foreach != nil {
		n[foreachVar(st.Foreach)] = true
	}
	return n
}

// checkTemplate reports syntax errors and references to undefined names.
func (v *validator) checkTemplate(text string, pos Pos, st *Step, idx int) {
	refs, err := templateRefs(text)
	if err != nil {
		v.add(pos, "%v", err)
		return
	}
	names := v.names(st)
	for _, r := range refs {
		if name, ok := strings.CutPrefix(r, stepRefPrefix); ok {
			if _, exists := v.steps[name]; !exists {
				v.add(pos, "template %q names no step: there is no step %q", text, name)
			}
			continue
		}
		if after, ok := strings.CutPrefix(r, "out."); ok {
			j, exists := v.steps[after]
			switch {
			case !exists:
				v.add(pos, "{{ .out.%s }} refers to no step: there is no step %q", after, after)
			case j >= idx:
				v.add(pos, "{{ .out.%s }} refers to a step that runs later; only earlier steps' results can be used", after)
			}
			continue
		}
		if !names[r] {
			hint := ""
			if st != nil && st.Foreach == nil && r == "item" {
				hint = " (the step has no foreach)"
			}
			v.add(pos, "undefined parameter %q in template %q%s: declare it under params", r, text, hint)
		}
	}
}

func (v *validator) checkStep(st *Step, idx int) {
	kinds := 0
	if st.Manual != "" {
		kinds++
	}
	if st.Action != "" {
		kinds++
	}
	if st.Wait != nil && st.Action == "" {
		kinds++
	}
	switch {
	case kinds == 0:
		v.add(st.Pos, "step %s does nothing: give it manual:, action: or wait:", st.ID)
	case st.Manual != "" && (st.Action != "" || st.Wait != nil):
		v.add(st.FieldPos("manual", st.Pos), "step %s is manual and also has action: or wait:; make them two steps", st.ID)
	}
	// Titles, instructions and notes are filled in from the parameters
	// like every other template, so a name they use must exist.
	v.checkTemplate(st.Title, st.FieldPos("title", st.Pos), st, idx)
	if st.Manual != "" {
		v.checkTemplate(st.Manual, st.FieldPos("manual", st.Pos), st, idx)
	}
	if st.Notes != "" {
		v.checkTemplate(st.Notes, st.FieldPos("notes", st.Pos), st, idx)
	}
	if st.Foreach != nil {
		fp := st.FieldPos("foreach", st.Pos)
		p, ok := v.params[st.Foreach.Param]
		switch {
		case st.Foreach.Param == "":
			v.add(fp, "foreach needs param: the list parameter to repeat over")
		case !ok:
			v.add(st.Foreach.FieldPos("param", fp), "foreach: undefined parameter %q", st.Foreach.Param)
		case p.Type != TypeList:
			v.add(st.Foreach.FieldPos("param", fp), "foreach: parameter %q is a %s, not a list", st.Foreach.Param, p.Type)
		}
		if as := st.Foreach.As; as != "" && (!paramRE.MatchString(as) || v.params[as].Name != "") {
			v.add(st.Foreach.FieldPos("as", fp), "foreach as: %q must be a new template name, not a parameter", as)
		}
	}
	if st.When != "" {
		v.checkTemplate(st.When, st.FieldPos("when", st.Pos), st, idx)
	}
	var spec OpSpec
	var haveSpec bool
	if st.Action != "" {
		spec, haveSpec = v.checkCall(st.Action, st.With, st.FieldPos("action", st.Pos), st.FieldPos("with", st.Pos), st, idx)
	} else if len(st.With) > 0 {
		v.add(st.FieldPos("with", st.Pos), "with: is given but the step has no action:")
	}
	if st.Precheck != nil {
		v.checkCheck(st.Precheck, "precheck", st, idx)
	}
	if st.Verify != nil {
		v.checkCheck(st.Verify, "verify", st, idx)
	}
	if st.Wait != nil {
		v.checkWait(st, idx)
	}
	if haveSpec && spec.Destructive && !st.Destructive {
		v.add(st.FieldPos("action", st.Pos), "%s destroys or overwrites data, or takes something out of service: mark the step destructive: true with a confirm: token", st.Action)
	}
	if haveSpec && spec.Destructive && spec.Object != "" && st.Destructive && strings.TrimSpace(st.Confirm) != "" {
		obj, given := st.With[spec.Object]
		switch {
		case !given:
			v.add(st.FieldPos("with", st.Pos), "%s acts on the %s it is given: give %s: under with: and confirm: the same", st.Action, spec.Object, spec.Object)
		case obj.Kind != ValueScalar || strings.TrimSpace(obj.Scalar) != strings.TrimSpace(st.Confirm):
			v.add(st.FieldPos("confirm", st.Pos), "confirm: must be written exactly as the argument %s (%q), so the token the operator types names what %s acts on", spec.Object, obj.Scalar, st.Action)
		}
	}
	if st.Destructive {
		if strings.TrimSpace(st.Confirm) == "" {
			v.add(st.FieldPos("destructive", st.Pos), "destructive step %s has no confirm: give the token the operator must type (the engine or server name)", st.ID)
		} else {
			cp := st.FieldPos("confirm", st.Pos)
			v.checkTemplate(st.Confirm, cp, st, idx)
			if refs, err := templateRefs(st.Confirm); err == nil {
				for _, r := range refs {
					if p, ok := v.params[r]; ok && p.Type == TypeSecret {
						v.add(cp, "confirm: must not use the secret parameter %q: the token is shown on screen", r)
					}
				}
			}
		}
	} else if st.Confirm != "" {
		v.add(st.FieldPos("confirm", st.Pos), "confirm: is only for destructive steps; add destructive: true or remove it")
	}
	if st.Next != "" {
		v.checkJump(st, st.Next, st.FieldPos("next", st.Pos), "next")
	}
	if of := st.OnFailure; of != nil {
		op := st.FieldPos("on_failure", st.Pos)
		if of.Goto != "" {
			v.checkJump(st, of.Goto, of.FieldPos("goto", op), "on_failure goto")
		}
		if of.Goto != "" && of.Abort {
			v.add(op, "on_failure: choose goto or abort, not both")
		}
		if of.Retry != nil && (of.Retry.Count < 1 || of.Retry.Count > 100) {
			v.add(of.Retry.FieldPos("count", op), "on_failure retry count must be between 1 and 100")
		}
	}
	if st.Interactive && st.Action != "shell.run" {
		v.add(st.FieldPos("interactive", st.Pos), "interactive: is only for shell.run steps")
	}
}

func (v *validator) checkCheck(c *Check, what string, st *Step, idx int) {
	cp := st.FieldPos(what, st.Pos)
	if c.Action == "" {
		v.add(cp, "%s needs action:", what)
		return
	}
	v.checkCall(c.Action, c.With, c.FieldPos("action", cp), c.FieldPos("with", cp), st, idx)
}

// checkCall checks an operation name and its arguments against its spec.
func (v *validator) checkCall(op string, with map[string]Value, opPos, withPos Pos, st *Step, idx int) (OpSpec, bool) {
	spec, ok := v.specs[op]
	if !ok {
		v.add(opPos, "unknown operation %q%s", op, v.suggest(op))
		return OpSpec{}, false
	}
	for _, name := range sortedKeys(with) {
		val := with[name]
		pos := val.Pos
		if pos.Line == 0 {
			pos = withPos
		}
		as, ok := spec.Arg(name)
		if !ok {
			var known []string
			for _, a := range spec.Args {
				known = append(known, a.Name)
			}
			v.add(pos, "%s has no argument %q: its arguments are %s", op, name, strings.Join(known, ", "))
			continue
		}
		v.checkArg(as, val, pos, st, idx)
	}
	for _, as := range spec.Args {
		if _, given := with[as.Name]; as.Required && !given {
			doc := ""
			if as.Doc != "" {
				doc = ": " + as.Doc
			}
			v.add(withPos, "%s needs the argument %s%s", op, as.Name, doc)
		}
	}
	return spec, true
}

func (v *validator) checkArg(as ArgSpec, val Value, pos Pos, st *Step, idx int) {
	switch as.Kind {
	case ArgList:
		if val.Kind == ValueMap {
			v.add(pos, "argument %s must be a list", as.Name)
			return
		}
		if val.Kind == ValueScalar && !v.listRef(val.Scalar) {
			// A string is never split into words: `argv: echo hello` would
			// run a program called "echo hello".
			v.add(pos, "argument %s must be a list, like [%s]: a single string is not split into words", as.Name, listExample(val.Scalar))
			return
		}
		for _, it := range val.Strings() {
			v.checkTemplate(it, pos, st, idx)
		}
		return
	case ArgMap:
		if val.Kind != ValueMap {
			v.add(pos, "argument %s must be a map of names to values", as.Name)
			return
		}
		for _, k := range sortedKeys(val.Map) {
			v.checkTemplate(val.Map[k], pos, st, idx)
		}
		return
	}
	if val.Kind != ValueScalar {
		v.add(pos, "argument %s must be a single %s value", as.Name, as.Kind)
		return
	}
	v.checkTemplate(val.Scalar, pos, st, idx)
	if strings.Contains(val.Scalar, "{{") {
		return
	}
	if _, err := convertScalar(as, val.Scalar); err != nil {
		v.add(pos, "argument %s: %v", as.Name, err)
	}
}

// listRef reports whether a scalar written where a list is needed is a
// list parameter written as "{{ .name }}", which expands to its items.
func (v *validator) listRef(s string) bool {
	m := singleRef.FindStringSubmatch(s)
	return m != nil && v.params[m[1]].Type == TypeList
}

// listExample writes a string the way a list of its words is written in
// YAML, for the remedy of a string given where a list is needed.
func listExample(s string) string {
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 8 {
		return "first, second"
	}
	return strings.Join(words, ", ")
}

func (v *validator) suggest(op string) string {
	var names []string
	prefix, _, _ := strings.Cut(op, ".")
	for name := range v.specs {
		if strings.HasPrefix(name, prefix+".") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		var adapters []string
		for name := range v.specs {
			a, _, _ := strings.Cut(name, ".")
			if !slices.Contains(adapters, a) {
				adapters = append(adapters, a)
			}
		}
		slices.Sort(adapters)
		return ": no adapter is called " + strconv.Quote(prefix) + "; adapters are " + strings.Join(adapters, ", ")
	}
	slices.Sort(names)
	return ": " + prefix + " offers " + strings.Join(names, ", ")
}

func (v *validator) checkWait(st *Step, idx int) {
	w := st.Wait
	wp := st.FieldPos("wait", st.Pos)
	_, timeoutWritten := w.keyPos["timeout"]
	if w.Timeout.Duration <= 0 && timeoutWritten {
		// Where it is written: a timeout the parser could not read is
		// reported there once, by the parser.
		v.add(w.FieldPos("timeout", wp), "wait timeout must be more than 0 (for example timeout: 10m); a wait without one could hang forever")
	} else if w.Timeout.Duration <= 0 {
		v.add(wp, "wait needs a timeout: (for example timeout: 10m); a wait without one could hang forever")
	} else if w.Timeout.Duration > 72*time.Hour {
		v.add(w.Timeout.Pos, "wait timeout %s is longer than 72h", w.Timeout.Duration)
	}
	hasLog, hasAction := !w.Log.IsZero(), w.Action != ""
	switch {
	case hasLog && hasAction:
		v.add(wp, "wait has both log: and action:; a wait watches a log or polls an action")
	case !hasLog && !hasAction:
		v.add(wp, "wait needs log: (files to watch) or action: (a condition to poll)")
	case hasAction && st.Action != "":
		v.add(wp, "a polled wait cannot be combined with the step's own action; make it a separate step")
	}
	if hasAction {
		v.checkCall(w.Action, w.With, w.FieldPos("action", wp), w.FieldPos("with", wp), st, idx)
		if len(w.Success)+len(w.Failure)+len(w.Warn) > 0 || w.Engine != "" || w.Host != "" {
			v.add(wp, "success:, failure:, warn:, engine: and host: are for log watches, not polled waits (give the polled action its own host: under with:)")
		}
		return
	}
	if !hasLog {
		return
	}
	if w.Log.Kind == ValueMap {
		v.add(w.Log.Pos, "log: must be a file or a list of files")
	}
	for _, f := range w.Log.Strings() {
		v.checkTemplate(f, w.Log.Pos, st, idx)
	}
	if w.Engine != "" {
		v.checkTemplate(w.Engine, w.FieldPos("engine", wp), st, idx)
	}
	if w.Host != "" {
		v.checkTemplate(w.Host, w.FieldPos("host", wp), st, idx)
	}
	if len(w.Success) == 0 {
		v.add(wp, "a log wait needs at least one success: pattern (a message id such as CWSIP0783 or a regular expression)")
	}
	for _, set := range []struct {
		key  string
		pats []string
	}{{"success", w.Success}, {"failure", w.Failure}, {"warn", w.Warn}} {
		pos := w.FieldPos(set.key, wp)
		for _, p := range set.pats {
			if strings.Contains(p, "{{") {
				v.checkTemplate(p, pos, st, idx)
				continue
			}
			if msgIDRE.MatchString(p) {
				continue
			}
			if _, err := regexp.Compile(p); err != nil {
				v.add(pos, "%s pattern %q does not compile: %v", set.key, p, regexErr(err))
			}
		}
	}
}

func regexErr(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "error parsing regexp: ")
}

// checkReachable reports the steps of a section that no path from its
// first step reaches:
// steps follow each other in order unless one has next:, and on_failure
// goto adds an edge. A step whose when: is written as the constant false is
// never run either.
func (v *validator) checkReachable(steps []Step) {
	local := make(map[string]int, len(steps))
	for i, st := range steps {
		local[st.ID] = i
	}
	seen := make([]bool, len(steps))
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i < 0 || i >= len(steps) || seen[i] {
			continue
		}
		seen[i] = true
		st := &steps[i]
		if st.Next != "" {
			if j, ok := local[st.Next]; ok {
				stack = append(stack, j)
			}
			// A skipped step (when: false) still falls through.
			if st.When != "" {
				stack = append(stack, i+1)
			}
		} else {
			stack = append(stack, i+1)
		}
		if st.OnFailure != nil && st.OnFailure.Goto != "" {
			if j, ok := local[st.OnFailure.Goto]; ok {
				stack = append(stack, j)
			}
		}
	}
	for i, st := range steps {
		if !seen[i] {
			v.add(steps[i].FieldPos("id", st.Pos), "step %s can never be reached: the step before it jumps away with next: and nothing jumps to it", st.ID)
			continue
		}
		if w := strings.TrimSpace(st.When); w == "false" || w == "{{ false }}" || w == "{{false}}" {
			v.add(st.FieldPos("when", st.Pos), "step %s can never run: its when: is always false", st.ID)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ValidateFile parses and validates a file, returning all problems.
func ValidateFile(path string, specs []OpSpec) (*Runbook, error) {
	data, err := readRunbook(path)
	if err != nil {
		return nil, err
	}
	rb, probs := parseRunbook(path, data)
	if rb != nil {
		// After a value of the wrong type the validator still checks the
		// rest; what it says about the line the parser already reported
		// (the value it could not read) is left out.
		bad := map[int]bool{}
		for _, p := range probs {
			bad[p.Pos.Line] = true
		}
		for _, p := range Validate(rb, specs) {
			if !bad[p.Pos.Line] {
				probs = append(probs, p)
			}
		}
	}
	if len(probs) > 0 {
		return rb, probs.sorted()
	}
	return rb, nil
}
