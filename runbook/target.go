package runbook

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
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
		return nil, yamlProblems(path, err, nil)
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
	if body.Kind != yaml.MappingNode {
		probs.add(pos, "target %s must be a map of settings", name.Value)
		return nil, probs
	}
	t := &Target{Name: name.Value, File: path, Pos: pos, sections: map[string]*yaml.Node{}, Params: map[string]Value{}}
	for i := 0; i+1 < len(body.Content); i += 2 {
		k, v := body.Content[i], body.Content[i+1]
		kp := Pos{File: path, Line: k.Line, Col: k.Column}
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
			if err := v.Decode(&t.Params); err != nil {
				probs = append(probs, yamlProblems(path, err, v)...)
			}
			for pk, pv := range t.Params {
				pv.Pos.File = path
				t.Params[pk] = pv
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
