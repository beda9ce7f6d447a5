package runbook

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ValueKind says what shape a YAML value has.
type ValueKind int

// The shapes a Value can take.
const (
	ValueNone ValueKind = iota
	ValueScalar
	ValueList
	ValueMap
)

// Value is a YAML value under `with:` or `default:`: a scalar, a list of
// scalars or a map of scalars, with the position it was written at.
// Scalars keep their source text; the op's ArgSpec decides the type.
type Value struct {
	// Kind is the value's shape; ValueNone means not written.
	Kind ValueKind
	// Scalar is the text of a scalar value.
	Scalar string
	// Tag is the YAML tag of a scalar (!!str, !!bool, !!int).
	Tag string
	// List holds the items of a list value.
	List []string
	// Map holds the entries of a map value.
	Map map[string]string
	// Pos is where the value is written.
	Pos Pos
}

// IsZero reports whether the value was not written.
func (v Value) IsZero() bool { return v.Kind == ValueNone }

// Strings returns the value as a list: a scalar is a list of one.
func (v Value) Strings() []string {
	switch v.Kind {
	case ValueScalar:
		return []string{v.Scalar}
	case ValueList:
		return v.List
	}
	return nil
}

// UnmarshalYAML records the value and its position.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	v.Pos = Pos{Line: n.Line, Col: n.Column}
	switch n.Kind {
	case yaml.ScalarNode:
		v.Kind, v.Scalar, v.Tag = ValueScalar, n.Value, n.ShortTag()
	case yaml.SequenceNode:
		v.Kind = ValueList
		v.List = make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: a list item must be a plain value, not a %s", c.Line, c.Column, nodeKindName(c))}}
			}
			v.List = append(v.List, c.Value)
		}
	case yaml.MappingNode:
		v.Kind = ValueMap
		v.Map = make(map[string]string, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: a map value must be a plain value, not a %s", val.Line, val.Column, nodeKindName(val))}}
			}
			v.Map[k.Value] = val.Value
		}
	case yaml.AliasNode:
		return v.UnmarshalYAML(n.Alias)
	}
	return nil
}

// UnmarshalYAML parses "30s", "5m" or "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.Pos = Pos{Line: n.Line, Col: n.Column}
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: a duration must be written like 30s or 5m", n.Line, n.Column)}}
	}
	s := strings.TrimSpace(n.Value)
	if s == "0" {
		d.Duration = 0
		return nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %q is not a duration: write it like 30s, 5m or 1h30m", n.Line, n.Column, n.Value)}}
	}
	d.Duration = dur
	return nil
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value"
	}
	return "node"
}

func itoa(n int) string { return strconv.Itoa(n) }
