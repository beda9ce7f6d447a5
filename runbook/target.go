package runbook

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// TrainingTarget is the name of the built-in simulated estate.
const TrainingTarget = "training"

// Target is an estate drillbook runs against: a WebSphere cell, a
// MessageSight server or pair, a RabbitMQ node, or the simulated training
// estate.
type Target struct {
	// Name is how --target refers to it.
	Name string
	// Description is free text.
	Description string
	// Simulated marks a target where nothing real can be harmed; only there
	// may --yes and --scenario be used.
	Simulated bool
	// Purpose is the purpose of runs on the target when --purpose is not
	// given (a staging target used for drills says drill); empty takes
	// DefaultPurpose's rule.
	Purpose Purpose
	// MissingLogError makes a log wait on a file that does not exist fail at
	// once (`missing_logs: error`); false (`wait`, the default) waits for
	// the file to appear, saying so when the watch is armed and every 30s.
	MissingLogError bool
	// Params supplies parameter values to every runbook run on the target;
	// --param overrides them.
	Params map[string]Value
	// Hosts are the machines of the estate by name (the hosts: section);
	// nil when the target declares none, and then every host setting means
	// the local machine (see Host).
	Hosts map[string]*HostConfig
	// File is the targets file the target came from, "" for built-in ones.
	File string
	// Pos is where the target is declared.
	Pos Pos

	sections map[string]*yaml.Node
	// paramPos is where each name under params: is written.
	paramPos map[string]Pos
}

// targetFile is the shape of targets.yaml.
type targetFile struct {
	Targets map[string]yaml.Node `yaml:"targets"`
}

// reserved keys of a target; every other key is an adapter's section.
var targetKeys = []string{"description", "hosts", "params", "simulated", "missing_logs", "purpose"}

// Targets is a parsed targets file.
type Targets struct {
	// File is the path it was read from.
	File string
	// Names lists the targets in file order.
	Names  []string
	byName map[string]*Target
}

// Get returns the named target.
func (ts *Targets) Get(name string) (*Target, bool) {
	if ts == nil {
		return nil, false
	}
	t, ok := ts.byName[name]
	return t, ok
}

// LoadTargets reads a targets file. Every problem is reported with
// file:line:col; inline secrets are refused.
func LoadTargets(path string, sections []string) (*Targets, error) {
	data, err := readUpTo(path, maxRunbookSize+1)
	if err != nil {
		return nil, fmt.Errorf("read targets file: %w", err)
	}
	if len(data) > maxRunbookSize {
		return nil, Problems{{Pos: Pos{File: path}, Msg: fmt.Sprintf("the file is over %d bytes: give the targets file itself", maxRunbookSize)}}
	}
	var probs Problems
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxProblems(path, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		probs.add(Pos{File: path, Line: 1, Col: 1}, "the targets file is empty: it starts with `targets:`")
		return nil, probs
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		probs.add(Pos{File: path, Line: root.Line, Col: root.Column}, "a targets file is a map with one key, targets:")
		return nil, probs
	}
	ts := &Targets{File: path, byName: map[string]*Target{}}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "targets" {
			probs.add(Pos{File: path, Line: k.Line, Col: k.Column}, "unknown field %q: a targets file has only targets:", k.Value)
			continue
		}
		if v.Kind != yaml.MappingNode {
			probs.add(Pos{File: path, Line: v.Line, Col: v.Column}, "targets: is a map of target names to their settings")
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			name, body := v.Content[j], v.Content[j+1]
			t, tp := parseTarget(path, name, body, sections)
			probs = append(probs, tp...)
			if t == nil {
				continue
			}
			if name.Value == TrainingTarget {
				probs.add(t.Pos, "the name %q is the built-in simulated target; choose another name", TrainingTarget)
				continue
			}
			if first, ok := ts.byName[t.Name]; ok {
				probs.add(t.Pos, "target %q is declared twice (first at line %d): keep one", t.Name, first.Pos.Line)
				continue
			}
			ts.byName[t.Name] = t
			ts.Names = append(ts.Names, t.Name)
		}
	}
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	return ts, nil
}

func parseTarget(path string, name, body *yaml.Node, sections []string) (*Target, Problems) {
	var probs Problems
	pos := Pos{File: path, Line: name.Line, Col: name.Column}
	if strings.IndexFunc(name.Value, unicode.IsControl) >= 0 || strings.TrimSpace(name.Value) == "" {
		probs.add(pos, "target name %q must be a word without control characters (a newline, a tab): it is what --target names", name.Value)
		return nil, probs
	}
	if body.Kind != yaml.MappingNode {
		probs.add(pos, "target %q must be a map of settings", name.Value)
		return nil, probs
	}
	t := &Target{Name: name.Value, File: path, Pos: pos, sections: map[string]*yaml.Node{}, Params: map[string]Value{}, paramPos: map[string]Pos{}}
	seen := map[string]int{}
	for i := 0; i+1 < len(body.Content); i += 2 {
		k, v := body.Content[i], body.Content[i+1]
		kp := Pos{File: path, Line: k.Line, Col: k.Column}
		if first, ok := seen[k.Value]; ok {
			probs.add(kp, "%s is written twice in target %s (first at line %d): keep one", k.Value, t.Name, first)
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "description":
			t.Description = v.Value
		case "simulated":
			if err := v.Decode(&t.Simulated); err != nil {
				probs.add(kp, "simulated: must be true or false")
			}
		case "hosts":
			hosts, hp := parseHosts(path, t.Name, v)
			t.Hosts = hosts
			probs = append(probs, hp...)
		case "purpose":
			p, err := ParsePurpose(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode {
				probs.add(Pos{File: path, Line: v.Line, Col: v.Column}, "purpose: say incident, drill or routine (the default purpose of runs on %s)", t.Name)
				continue
			}
			t.Purpose = p
		case "missing_logs":
			switch v.Value {
			case "error":
				t.MissingLogError = true
			case "wait":
			default:
				probs.add(Pos{File: path, Line: v.Line, Col: v.Column}, "missing_logs: say wait (a log wait on a file that does not exist waits for it) or error (it fails at once)")
			}
		case "params":
			probs = append(probs, paramNameProblems(path, t.Name, v)...)
			if err := v.Decode(&t.Params); err != nil {
				probs = append(probs, yamlProblems(path, err, v)...)
			}
			for pk, pv := range t.Params {
				pv.Pos.File = path
				t.Params[pk] = pv
			}
			if v.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(v.Content); j += 2 {
					pk, pv := v.Content[j], v.Content[j+1]
					t.paramPos[pk.Value] = Pos{File: path, Line: pk.Line, Col: pk.Column}
					if pv.Kind == yaml.MappingNode {
						// A map is neither a value nor a list: most likely a
						// secret reference, which a parameter cannot take.
						probs.add(Pos{File: path, Line: pv.Line, Col: pv.Column}, "params: %s: a parameter's value is a plain value or a list; a secret parameter is never written here: export %s", pk.Value, EnvName(pk.Value))
					}
				}
			}
		default:
			if !slices.Contains(sections, k.Value) {
				probs.add(kp, "unknown field %q in target %s: known fields are %s", k.Value, t.Name, strings.Join(append(slices.Clone(targetKeys), sections...), ", "))
				continue
			}
			t.sections[k.Value] = v
		}
	}
	return t, probs
}

// paramNameProblems checks the names under a target's params: each must be
// a name a runbook parameter can have (a letter or _ then letters, digits
// or _, not a reserved name), or it could never supply a value and would be
// ignored without a word. A name that is valid but that a runbook does not
// declare is fine: one target serves several runbooks.
func paramNameProblems(path, target string, n *yaml.Node) Problems {
	var probs Problems
	if n.Kind != yaml.MappingNode {
		return nil // Decode reports the wrong type
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		kp := Pos{File: path, Line: k.Line, Col: k.Column}
		switch {
		case !paramRE.MatchString(k.Value):
			probs.add(kp, "params of target %q: %q is not a parameter name (a letter or _ followed by letters, digits or _; no =, space or newline): write NAME: VALUE", target, k.Value)
		case slices.Contains(reservedNames, k.Value):
			probs.add(kp, "params of target %q: %q is reserved for templates and is never a parameter", target, k.Value)
		}
	}
	return probs
}

// HasSection reports whether the target configures the named adapter.
func (t *Target) HasSection(name string) bool {
	_, ok := t.sections[name]
	return ok
}

// Decode decodes the named adapter section into v (a pointer to the
// adapter's Config) strictly: unknown fields and wrong types are reported
// with file:line:col. A missing section leaves v as it is.
func (t *Target) Decode(section string, v any) error {
	n, ok := t.sections[section]
	if !ok {
		return nil
	}
	var probs Problems
	if err := n.Decode(v); err != nil {
		probs = append(probs, yamlProblems(t.File, err, n)...)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Struct {
		walk(t.File, n, rv.Elem(), t.Name+"."+section, &probs)
	}
	if len(probs) > 0 {
		return probs.sorted()
	}
	return nil
}

// ParamStrings returns the target's parameter values as --param would
// give them (lists comma-separated).
func (t *Target) ParamStrings() map[string]string {
	out := make(map[string]string, len(t.Params))
	for k, v := range t.Params {
		switch v.Kind {
		case ValueList:
			out[k] = strings.Join(v.List, ",")
		case ValueScalar:
			out[k] = v.Scalar
		}
	}
	return out
}

// UnmarshalYAML refuses a secret written inline: a targets file names where
// a secret comes from, never the secret.
func (s *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: a secret is never written inline: write {env: NAME}, {file: PATH} or {command: [vault, read, ...]}", n.Line, n.Column)}}
	}
	type plain SecretRef
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = SecretRef(p)
	set := 0
	for _, b := range []bool{s.Env != "", s.File != "", len(s.Command) > 0} {
		if b {
			set++
		}
	}
	if set != 1 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: a secret reference needs exactly one of env, file or command", n.Line, n.Column)}}
	}
	return nil
}

// Inheritance is a setting an entry of an adapter section (a node of an
// HA pair) takes from its section because it leaves it out.
type Inheritance struct {
	// Entry is the entry, as written in targets.yaml: "messagesight.nodes.ms-b".
	Entry string
	// Setting is the field it inherits: "user".
	Setting string
	// From is the section's setting it takes: "messagesight.user".
	From string
	// Value is what it takes, shown to the operator; a secret is shown as
	// its reference ("env MS_PW"), never resolved.
	Value string
}

// Inheritor is implemented by an adapter's Config whose entries inherit
// settings from their section; `drillbook targets check` shows them.
type Inheritor interface {
	// Inherited lists the settings each entry takes from its section.
	Inherited() []Inheritance
}

// CheckParams checks the names under the target's params: against the
// runbooks that can run on it (rbs). A name no such runbook declares is an
// error (a misspelt name would otherwise be ignored and the run would use
// the default), and so is a value written for a secret parameter: a
// targets file names where a secret comes from, never the secret.
func (t *Target) CheckParams(rbs []*Runbook) Problems {
	declared := map[string]bool{}
	secretIn := map[string]string{}
	var ids []string
	for _, rb := range rbs {
		ids = append(ids, rb.ID)
		for _, p := range rb.Params {
			declared[p.Name] = true
			if p.Type == TypeSecret {
				secretIn[p.Name] = rb.ID
			}
		}
	}
	names := make([]string, 0, len(declared))
	for n := range declared {
		names = append(names, n)
	}
	slices.Sort(names)
	var probs Problems
	for name := range t.Params {
		pos, ok := t.paramPos[name]
		if !ok {
			pos = t.Pos
		}
		switch {
		case secretIn[name] != "":
			probs.add(pos, "params: %s is a secret parameter of %s: a secret is never written in targets.yaml: export %s before running drillbook, or type it when asked", name, secretIn[name], EnvName(name))
		case !declared[name]:
			hint := ""
			if near := closest(name, names); len(near) > 0 {
				hint = fmt.Sprintf(": did you mean %s?", strings.Join(near, " or "))
			} else if len(rbs) == 0 {
				hint = ": no runbook can run on this target"
			} else {
				hint = fmt.Sprintf(": their parameters are %s", strings.Join(names, ", "))
			}
			probs.add(pos, "params: unknown parameter %q in target %s: no runbook that can run on it (%s) has it%s (a parameter of a runbook of your own: give its directory with --runbooks)", name, t.Name, strings.Join(ids, ", "), hint)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return probs.sorted()
}

// ParamPos returns where the target's parameter name is written.
func (t *Target) ParamPos(name string) (Pos, bool) {
	p, ok := t.paramPos[name]
	return p, ok
}

// closest returns the names in names nearest to s when they are near
// enough to be a slip of the finger (an edit distance of at most a third
// of its length, and at most 3), or nil.
func closest(s string, names []string) []string {
	var best []string
	bestD := min(3, max(1, len(s)/3)) + 1
	for _, n := range names {
		switch d := editDistance(s, n); {
		case d < bestD:
			best, bestD = []string{n}, d
		case d == bestD:
			best = append(best, n)
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SettingPos returns where a setting of an adapter section is written,
// SettingPos("messagesight", "nodes", "ms-a", "user"), for messages that
// point at it.
func (t *Target) SettingPos(section string, path ...string) (Pos, bool) {
	n, ok := t.sections[section]
	if !ok {
		return Pos{}, false
	}
	for _, key := range path {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return Pos{}, false
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				if key == path[len(path)-1] {
					return Pos{File: t.File, Line: n.Content[i].Line, Col: n.Content[i].Column}, true
				}
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return Pos{}, false
		}
	}
	return Pos{File: t.File, Line: n.Line, Col: n.Column}, true
}

// SettingKeys returns the keys of a map under an adapter section, in file
// order: SettingKeys("messagesight", "nodes") is the names of the nodes.
func (t *Target) SettingKeys(section string, path ...string) []string {
	n, ok := t.sections[section]
	if !ok {
		return nil
	}
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

// Sections returns the adapter sections the target configures, in file
// order.
func (t *Target) Sections() []string {
	out := make([]string, 0, len(t.sections))
	for s := range t.sections {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b string) int { return t.sections[a].Line - t.sections[b].Line })
	return out
}

// TargetKeys returns the keys a target may hold besides its adapter
// sections (description, params, simulated, ...), for documentation.
func TargetKeys() []string { return slices.Clone(targetKeys) }
