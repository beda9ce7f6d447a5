package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with an input file, at a position.
type Problem struct {
	Pos Pos
	Msg string
}

// String renders the problem as file:line:col: message.
func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Problems is every problem found in one or more files. It is an error so
// that callers can return all of them at once.
type Problems []Problem

// Error renders one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps *Problems) add(pos Pos, format string, args ...any) {
	*ps = append(*ps, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pos.File != ps[j].Pos.File {
			return ps[i].Pos.File < ps[j].Pos.File
		}
		if ps[i].Pos.Line != ps[j].Pos.Line {
			return ps[i].Pos.Line < ps[j].Pos.Line
		}
		return ps[i].Pos.Col < ps[j].Pos.Col
	})
	return ps
}

// maxRunbookSize bounds what Parse reads; real runbooks are a few KB.
const maxRunbookSize = 4 << 20

// ParseFile reads and parses a runbook file.
func ParseFile(path string) (*Runbook, error) {
	data, err := readRunbook(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readRunbook reads a runbook file up to one byte past the size limit:
// enough for the parser to refuse it, so a device or an endless file is
// never read whole.
func readRunbook(path string) ([]byte, error) {
	data, err := readUpTo(path, maxRunbookSize+1)
	if err != nil {
		return nil, fmt.Errorf("read runbook: %w", err)
	}
	return data, nil
}

// readUpTo reads at most limit bytes of a file.
func readUpTo(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// Parse decodes a runbook strictly: unknown fields, wrong types and
// malformed YAML are reported as Problems with file:line:col. It does not
// check the runbook against adapters; Validate does.
func Parse(path string, data []byte) (*Runbook, error) {
	rb, probs := parseRunbook(path, data)
	if len(probs) > 0 {
		return nil, probs
	}
	return rb, nil
}

// parseRunbook returns the problems found and, when the YAML decoded at all, the
// runbook as far as it could be read, so that ValidateFile can report the
// validator's problems alongside unknown fields.
func parseRunbook(path string, data []byte) (*Runbook, Problems) {
	var probs Problems
	if len(data) > maxRunbookSize {
		probs.add(Pos{File: path}, "the file is over %d bytes; a runbook is at most that", maxRunbookSize)
		return nil, probs
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			probs.add(Pos{File: path, Line: 1, Col: 1}, "the file is empty: a runbook starts with `schema: %s`", SchemaV1)
			return nil, probs
		}
		probs = append(probs, syntaxProblems(path, data, err)...)
		return nil, probs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		probs.add(Pos{File: path, Line: extra.Line, Col: extra.Column}, "a second YAML document: a runbook file holds exactly one")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		probs.add(Pos{File: path, Line: root.Line, Col: root.Column}, "a runbook is a map with schema, id, title, params and steps")
		return nil, probs
	}
	// A value of the wrong type (timeout: 5 minutes) is reported and the
	// rest of the file still decodes, so that the validator can report
	// every other problem too: one typo must not hide the others.
	rb := &Runbook{}
	if err := root.Decode(rb); err != nil {
		probs = append(probs, yamlProblems(path, err, root)...)
	}
	walk(path, root, reflect.ValueOf(rb).Elem(), "runbook", &probs)
	rb.Path = path
	rb.Raw = data
	sum := sha256.Sum256(data)
	rb.Digest = hex.EncodeToString(sum[:])
	rb.Pos = Pos{File: path, Line: root.Line, Col: root.Column}
	return rb, probs.sorted()
}

// syntaxProblems reports malformed YAML at the line that breaks it.
// yaml.v3 names the line where the enclosing block started (the `steps:`
// list) rather than the mis-indented key, so the line is found again: the
// first line at which the file read so far stops being valid YAML.
func syntaxProblems(path string, data []byte, err error) Problems {
	probs := yamlProblems(path, err, nil)
	if len(probs) != 1 {
		return probs
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	bad := func(n int) bool {
		var node yaml.Node
		return yaml.Unmarshal(bytes.Join(lines[:n], nil), &node) != nil
	}
	if !bad(len(lines)) {
		return probs
	}
	lo, hi := 0, len(lines) // lines[:lo] reads, lines[:hi] does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if bad(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	p := &probs[0]
	if hi != p.Pos.Line {
		p.Pos.Line = hi
		p.Pos.Col = 1
	}
	if p.Pos.Col <= 1 {
		text := lines[hi-1]
		p.Pos.Col = len(text) - len(bytes.TrimLeft(text, " \t")) + 1
	}
	return probs
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+):(?: column (\d+):)? ?(.*)$`)

// yamlProblems turns yaml.v3 errors ("line 3: cannot unmarshal ...") into
// positioned problems with wording an operator can act on.
func yamlProblems(path string, err error, root *yaml.Node) Problems {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var probs Problems
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		mm := yamlLineRE.FindStringSubmatch(m)
		if mm == nil {
			probs.add(Pos{File: path, Line: 1, Col: 1}, "%s", m)
			continue
		}
		line, _ := strconv.Atoi(mm[1])
		col, _ := strconv.Atoi(mm[2])
		if col == 0 {
			col = firstColOnLine(root, line)
		}
		probs.add(Pos{File: path, Line: line, Col: col}, "%s", friendlyYAML(mm[3]))
	}
	return probs
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*?)`)? into (.*)$")

func friendlyYAML(msg string) string {
	if m := unmarshalRE.FindStringSubmatch(msg); m != nil {
		want := m[3]
		switch {
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map["):
			want = "a map"
		case want == "bool":
			want = "true or false"
		case want == "int":
			want = "a whole number"
		case want == "string":
			want = "a plain value"
		default:
			if i := strings.LastIndex(want, "."); i >= 0 {
				want = "a " + strings.ToLower(want[i+1:]) + " block"
			}
		}
		got := map[string]string{"str": "a string", "seq": "a list", "map": "a map", "int": "a number", "bool": "a boolean", "float": "a number", "null": "nothing"}[m[1]]
		if got == "" {
			got = m[1]
		}
		return fmt.Sprintf("expected %s here, found %s", want, got)
	}
	if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "mapping values are not allowed") {
		return msg + ": check the indentation of this line against the lines above it"
	}
	return msg
}

func firstColOnLine(n *yaml.Node, line int) int {
	if n == nil {
		return 1
	}
	best := 0
	var visit func(*yaml.Node)
	visit = func(n *yaml.Node) {
		if n.Line == line && (best == 0 || n.Column < best) {
			best = n.Column
		}
		for _, c := range n.Content {
			visit(c)
		}
	}
	visit(n)
	if best == 0 {
		return 1
	}
	return best
}

var (
	posType      = reflect.TypeOf(Pos{})
	valueType    = reflect.TypeOf(Value{})
	durationType = reflect.TypeOf(Duration{})
)

// walk checks every mapping key of n against the yaml tags of the struct v
// decodes into, reports unknown keys with their position, and records the
// positions of structs and their fields. It walks the decoded value in step
// with the node tree, so it never decodes anything twice.
func walk(file string, n *yaml.Node, v reflect.Value, what string, probs *Problems) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		walk(file, n, v.Elem(), what, probs)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i := 0; i < len(n.Content) && i < v.Len(); i++ {
			walk(file, n.Content[i], v.Index(i), what, probs)
		}
	case reflect.Struct:
		t := v.Type()
		pos := Pos{File: file, Line: n.Line, Col: n.Column}
		switch t {
		case valueType:
			val := v.Addr().Interface().(*Value)
			val.Pos.File = file
			return
		case durationType:
			d := v.Addr().Interface().(*Duration)
			d.Pos.File = file
			return
		}
		if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
			f.Set(reflect.ValueOf(pos))
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		known := map[string]int{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			known[tag] = i
			names = append(names, tag)
		}
		keyPos := map[string]Pos{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := known[k.Value]
			if !ok {
				probs.add(Pos{File: file, Line: k.Line, Col: k.Column}, "unknown field %q in %s: known fields are %s", k.Value, what, strings.Join(names, ", "))
				continue
			}
			keyPos[k.Value] = Pos{File: file, Line: val.Line, Col: val.Column}
			sub := what
			if fv := v.Field(idx); fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Struct || fv.Kind() == reflect.Slice {
				sub = k.Value
				switch k.Value {
				case "steps":
					sub = "step"
				case "preflight":
					sub = "preflight step"
				case "finally":
					sub = "finally step"
				case "params":
					sub = "parameter"
				}
			}
			walk(file, val, v.Field(idx), sub, probs)
		}
		if f, ok := v.Addr().Interface().(interface{ setKeyPos(map[string]Pos) }); ok {
			f.setKeyPos(keyPos)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Elem() != valueType {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := reflect.ValueOf(n.Content[i].Value)
			ev := v.MapIndex(key)
			if !ev.IsValid() {
				continue
			}
			val := ev.Interface().(Value)
			val.Pos.File = file
			v.SetMapIndex(key, reflect.ValueOf(val))
		}
	}
}
