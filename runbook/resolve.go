package runbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParamValues are resolved parameter values keyed by name: string for
// string, path and secret parameters, bool, int64, or []string for lists.
type ParamValues map[string]any

// SecretMarker stands in for a secret value wherever one would be shown or
// written.
const SecretMarker = "***"

// ResolveParams checks the given values against the runbook's parameter
// declarations and fills in defaults. given holds values from the target
// and the command line (later sources already override earlier ones); list
// values are comma-separated. Every problem is reported, naming the
// parameter and what to do.
func ResolveParams(rb *Runbook, given map[string]string) (ParamValues, error) {
	var probs Problems
	vals := ParamValues{}
	for _, p := range rb.Params {
		raw, ok := given[p.Name]
		if !ok {
			switch {
			case !p.Default.IsZero():
				if p.Type == TypeList {
					vals[p.Name] = slices.Clone(p.Default.Strings())
					continue
				}
				raw = p.Default.Scalar
			case p.Required:
				how := fmt.Sprintf("pass --param %s=VALUE", p.Name)
				if p.Type == TypeSecret {
					how = fmt.Sprintf("set %s in the environment or answer the prompt", EnvName(p.Name))
				}
				probs.add(p.Pos, "parameter %s is required: %s", p.Name, how)
				continue
			default:
				vals[p.Name] = zeroParam(p.Type)
				continue
			}
		}
		v, err := convertParam(p, raw)
		if err != nil {
			probs.add(p.Pos, "parameter %s: %v", p.Name, err)
			continue
		}
		vals[p.Name] = v
	}
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	return vals, nil
}

// envName turns a parameter name into the suffix of its environment
// variable: DRILLBOOK_PARAM_<NAME>.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// EnvName returns the environment variable that supplies a parameter.
func EnvName(param string) string { return "DRILLBOOK_PARAM_" + envName(param) }

func zeroParam(t ParamType) any {
	switch t {
	case TypeBool:
		return false
	case TypeInt:
		return int64(0)
	case TypeList:
		return []string{}
	}
	return ""
}

func convertParam(p Param, raw string) (any, error) {
	check := func(s string) error {
		if len(p.Choices) > 0 && !slices.Contains(p.Choices, s) {
			return fmt.Errorf("%q is not one of %s", shown(p, s), strings.Join(p.Choices, ", "))
		}
		if p.Pattern != "" {
			re, err := regexp.Compile("^(?:" + p.Pattern + ")$")
			if err != nil {
				return fmt.Errorf("pattern %q does not compile: %w", p.Pattern, err)
			}
			if !re.MatchString(s) {
				return fmt.Errorf("%q does not match the pattern %s", shown(p, s), p.Pattern)
			}
		}
		return nil
	}
	switch p.Type {
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "yes", "y", "1", "on":
			return true, nil
		case "false", "no", "n", "0", "off", "":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", raw)
	case TypeInt:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", raw)
		}
		return n, check(strconv.FormatInt(n, 10))
	case TypeList:
		var items []string
		for _, it := range strings.Split(raw, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		for _, it := range items {
			if err := check(it); err != nil {
				return nil, err
			}
		}
		if items == nil {
			items = []string{}
		}
		return items, nil
	case TypePath:
		if strings.ContainsRune(raw, 0) {
			return nil, fmt.Errorf("a path cannot contain a NUL byte")
		}
		return raw, check(raw)
	default:
		if strings.ContainsRune(raw, 0) {
			return nil, fmt.Errorf("a value cannot contain a NUL byte")
		}
		return raw, check(raw)
	}
}

// shown hides a secret value in an error message.
func shown(p Param, s string) string {
	if p.Type == TypeSecret {
		return SecretMarker
	}
	return s
}

// Secrets returns the values of every secret parameter, for redaction.
func (rb *Runbook) Secrets(vals ParamValues) []string {
	var out []string
	for _, p := range rb.Params {
		if p.Type != TypeSecret {
			continue
		}
		if s, _ := vals[p.Name].(string); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Param returns the declaration of the named parameter.
func (rb *Runbook) Param(name string) (Param, bool) {
	for _, p := range rb.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// StepByID returns the step with the given id, in any section.
func (rb *Runbook) StepByID(id string) (*Step, bool) {
	for _, s := range rb.AllSteps() {
		if s.Step.ID == id {
			return s.Step, true
		}
	}
	return nil, false
}

// singleRef matches a template that is exactly one field reference, such as
// "{{ .engines }}": in a list argument, a list parameter written that way
// expands in place to its items.
var singleRef = regexp.MustCompile(`^\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}$`)

// renderList renders each item of a list; an item that is exactly a
// reference to a list value expands to all of its items.
func renderList(items []string, data map[string]any) ([]string, error) {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if m := singleRef.FindStringSubmatch(it); m != nil {
			if l, ok := data[m[1]].([]string); ok {
				out = append(out, l...)
				continue
			}
		}
		s, err := render(it, data)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// resolveArgs renders a step's `with:` values and converts them to the kinds
// the operation declares.
func resolveArgs(spec OpSpec, with map[string]Value, data map[string]any) (Args, error) {
	args := Args{}
	for name, v := range with {
		as, ok := spec.Arg(name)
		if !ok {
			return nil, fmt.Errorf("%s has no argument %q", spec.Name, name)
		}
		val, err := convertArg(as, v, data)
		if err != nil {
			return nil, fmt.Errorf("argument %s: %w", name, err)
		}
		args[name] = val
	}
	for _, as := range spec.Args {
		if as.Required && !args.Has(as.Name) {
			return nil, fmt.Errorf("%s needs the argument %s", spec.Name, as.Name)
		}
	}
	return args, nil
}

func convertArg(as ArgSpec, v Value, data map[string]any) (any, error) {
	switch as.Kind {
	case ArgList:
		switch v.Kind {
		case ValueList:
			return renderList(v.List, data)
		case ValueScalar:
			return renderList([]string{v.Scalar}, data)
		}
		return nil, fmt.Errorf("expected a list")
	case ArgMap:
		if v.Kind != ValueMap {
			return nil, fmt.Errorf("expected a map")
		}
		m := make(map[string]string, len(v.Map))
		for k, s := range v.Map {
			r, err := render(s, data)
			if err != nil {
				return nil, err
			}
			m[k] = r
		}
		return m, nil
	}
	if v.Kind != ValueScalar {
		return nil, fmt.Errorf("expected a single value")
	}
	s, err := render(v.Scalar, data)
	if err != nil {
		return nil, err
	}
	return convertScalar(as, s)
}

func convertScalar(as ArgSpec, s string) (any, error) {
	switch as.Kind {
	case ArgBool:
		switch strings.TrimSpace(s) {
		case "true":
			return true, nil
		case "false", "":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", s)
	case ArgInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case ArgDuration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 30s", s)
		}
		return d, nil
	}
	if len(as.Enum) > 0 && !slices.Contains(as.Enum, s) {
		return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(as.Enum, ", "))
	}
	return s, nil
}

// Display renders resolved arguments for a person, in the order the spec
// declares them, with secret arguments masked.
func (a Args) Display(spec OpSpec) string {
	var parts []string
	seen := map[string]bool{}
	show := func(name string, secret bool) {
		v, ok := a[name]
		if !ok {
			return
		}
		seen[name] = true
		var s string
		switch x := v.(type) {
		case []string:
			s = "[" + QuoteArgv(x) + "]"
		case map[string]string:
			keys := slices.Sorted(maps.Keys(x))
			kv := make([]string, len(keys))
			for i, k := range keys {
				kv[i] = k + "=" + shellQuote(x[k])
			}
			s = "{" + strings.Join(kv, " ") + "}"
		default:
			s = shellQuote(fmt.Sprint(x))
		}
		if secret {
			s = SecretMarker
		}
		parts = append(parts, name+"="+s)
	}
	for _, as := range spec.Args {
		show(as.Name, as.Secret)
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if !seen[k] {
			show(k, false)
		}
	}
	return strings.Join(parts, " ")
}
