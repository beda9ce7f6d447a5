package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
)

// The targets reference in docs/targets.md and the JSON Schema of
// targets files are generated here from the adapters' Config types: their
// fields and yaml names by reflection, their doc comments from the source,
// and one example per setting from testdata/targets-examples.yaml. The
// tests below fail when the committed files differ from what the types
// give; `go test ./cmd/drillbook -run 'TestTargetsReference|TestSchemas' -update`
// writes them again.

// The -update flag may already be defined by a test helper this package
// imports (teatest's golden files); the generated docs share it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the generated part of docs/targets.md and the schemas in docs/schema")
	}
}

// updating reports whether the test run was given -update.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// moduleRoot is the repository root, from this package's directory.
const moduleRoot = "../.."

// targetSection is one adapter section of a target and the type it decodes into.
type targetSection struct {
	name  string
	title string
	typ   reflect.Type
}

// targetSections are the adapter sections of a target, in the order the
// reference documents them.
func targetSections() []targetSection {
	return []targetSection{
		{"was", "WebSphere cell", reflect.TypeFor[was.Config]()},
		{"messagesight", "MessageSight server or HA pair", reflect.TypeFor[messagesight.Config]()},
		{"rabbitmq", "RabbitMQ node", reflect.TypeFor[rabbitmq.Config]()},
	}
}

// setting is one documented setting: a field of a Config type.
type setting struct {
	path    string // was.data_store.backup, messagesight.nodes.NAME.url
	name    string // its yaml key
	typ     reflect.Type
	doc     string // the field's doc comment, Go names replaced by yaml ones
	def     string // its default, as the comment states it
	example any    // from testdata/targets-examples.yaml
	sub     []*setting
	keyed   bool // a map of NAME to sub (nodes), or of NAME to a value
}

var (
	secretRefType   = reflect.TypeFor[runbook.SecretRef]()
	rbDurationType  = reflect.TypeFor[runbook.Duration]()
	stdDurationType = reflect.TypeFor[time.Duration]()
)

// typeDocs reads the doc comments of a struct type's fields from its
// package's source. A field with none takes the comment of the field
// before it when that comment names it ("Host and Port are ...").
func typeDocs(t *testing.T, typ reflect.Type) map[string]string {
	t.Helper()
	rel := strings.TrimPrefix(typ.PkgPath(), "github.com/drillbook/drillbook/")
	dir := filepath.Join(moduleRoot, filepath.FromSlash(rel))
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatalf("parse %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok || ts.Name.Name != typ.Name() {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return false
				}
				prev := ""
				for _, fld := range st.Fields.List {
					doc := strings.TrimSpace(fld.Doc.Text())
					if doc == "" {
						doc = strings.TrimSpace(fld.Comment.Text())
					}
					for _, id := range fld.Names {
						d := doc
						if d == "" && regexp.MustCompile(`\b`+id.Name+`\b`).MatchString(prev) {
							d = prev
						}
						out[id.Name] = d
					}
					if doc != "" {
						prev = doc
					}
				}
				return false
			})
		}
	}
	return out
}

var defaultRE = regexp.MustCompile(`(?i)\b((?:empty|zero|unset)(?: and zero)? (means|leaves?) (.+?))(?:;|\.\s|\.$|$)`)

// defaultOf is the default a doc comment states ("empty means SOAP"),
// without its parenthetical remarks, which the full text keeps.
func defaultOf(doc string) string {
	m := defaultRE.FindStringSubmatch(doc)
	if m == nil {
		return ""
	}
	def := m[3]
	if strings.HasPrefix(strings.ToLower(m[2]), "leave") {
		def = m[1] // "empty and zero leave them to wsadmin.properties"
	}
	def = regexp.MustCompile(`\s*\([^)]*\)`).ReplaceAllString(def, "")
	return strings.TrimSpace(def)
}

// settingsOf lists the fields of a struct type as settings under path.
func settingsOf(t *testing.T, path string, typ reflect.Type) []*setting {
	t.Helper()
	docs := typeDocs(t, typ)
	names := map[string]string{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if y := yamlTag(f); y != "" {
			names[f.Name] = y
		}
	}
	var out []*setting
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		y := yamlTag(f)
		if y == "" || !f.IsExported() {
			continue
		}
		doc := strings.Join(strings.Fields(docs[f.Name]), " ")
		for goName, yn := range names {
			doc = regexp.MustCompile(`\b`+goName+`\b`).ReplaceAllString(doc, "`"+yn+"`")
		}
		s := &setting{path: path + "." + y, name: y, typ: f.Type, doc: doc}
		s.def = defaultOf(doc)
		switch {
		case f.Type.Kind() == reflect.Struct && !isLeaf(f.Type):
			s.sub = settingsOf(t, s.path, f.Type)
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct && !isLeaf(f.Type.Elem()):
			s.keyed = true
			s.sub = settingsOf(t, s.path+".NAME", f.Type.Elem())
		}
		out = append(out, s)
	}
	return out
}

// isLeaf says a struct type is one value, not a block of settings.
func isLeaf(t reflect.Type) bool {
	return t == secretRefType || t == rbDurationType
}

// typeName describes a setting's type the way the reference prints it.
func typeName(t reflect.Type) string {
	switch {
	case t == secretRefType:
		return "secret reference"
	case t == rbDurationType || t == stdDurationType:
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Struct && !isLeaf(t.Elem()) {
			return "map of names to blocks"
		}
		return "map of names to " + typeName(t.Elem()) + "s"
	case reflect.Struct:
		return "block"
	}
	return t.String()
}

// allSettings returns every section's settings, with their examples.
func allSettings(t *testing.T) map[string][]*setting {
	t.Helper()
	b, err := os.ReadFile("testdata/targets-examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var examples map[string]any
	if err := yaml.Unmarshal(b, &examples); err != nil {
		t.Fatalf("testdata/targets-examples.yaml: %v", err)
	}
	out := map[string][]*setting{}
	var missing []string
	var attach func(ss []*setting)
	attach = func(ss []*setting) {
		for _, s := range ss {
			if ex, ok := examples[s.path]; ok {
				s.example = ex
				delete(examples, s.path)
			} else if len(s.sub) == 0 {
				missing = append(missing, s.path)
			}
			attach(s.sub)
		}
	}
	for _, sec := range targetSections() {
		out[sec.name] = settingsOf(t, sec.name, sec.typ)
		attach(out[sec.name])
	}
	if len(missing) > 0 {
		t.Errorf("these settings have no example in testdata/targets-examples.yaml: add one for each, as an operator would write it:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(examples) > 0 {
		var stale []string
		for k := range examples {
			stale = append(stale, k)
		}
		sort.Strings(stale)
		t.Errorf("testdata/targets-examples.yaml has examples of settings that no Config has (renamed or removed?): %s", strings.Join(stale, ", "))
	}
	return out
}

// exampleYAML renders a setting's example as the operator writes it: on
// one line in flow style when it fits, else as a block.
func exampleYAML(s *setting) string {
	var n yaml.Node
	if err := n.Encode(map[string]any{s.name: s.example}); err != nil {
		return fmt.Sprint(s.example)
	}
	var flow func(*yaml.Node)
	flow = func(n *yaml.Node) {
		for _, c := range n.Content {
			if c.Kind == yaml.SequenceNode || c.Kind == yaml.MappingNode {
				c.Style = yaml.FlowStyle
			}
			flow(c)
		}
	}
	block := encodeYAML(&n)
	flow(&n)
	if line := encodeYAML(&n); !strings.Contains(line, "\n") && len(line) <= 110 {
		return " `" + line + "`"
	}
	return "\n\n  ```yaml\n  " + strings.ReplaceAll(block, "\n", "\n  ") + "\n  ```"
}

func encodeYAML(n *yaml.Node) string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(n)
	return strings.TrimSpace(b.String())
}

const (
	genBegin = "<!-- BEGIN GENERATED from the adapters' Config types: go test ./cmd/drillbook -run TestTargetsReference -update -->"
	genEnd   = "<!-- END GENERATED -->"
)

// targetsReference renders the settings of every section as Markdown.
func targetsReference(t *testing.T) string {
	all := allSettings(t)
	var b strings.Builder
	b.WriteString(genBegin + "\n")
	for _, sec := range targetSections() {
		fmt.Fprintf(&b, "\n### `%s:` %s\n\n", sec.name, sec.title)
		fmt.Fprintf(&b, "| setting | type | default |\n|---|---|---|\n")
		var table func(ss []*setting)
		table = func(ss []*setting) {
			for _, s := range ss {
				def := s.def
				if def == "" {
					def = "not set"
				}
				if len(s.sub) > 0 && !s.keyed {
					def = "-"
				}
				fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", s.path, anchor(s.path), typeName(s.typ), strings.ReplaceAll(def, "|", `\|`))
				table(s.sub)
			}
		}
		table(all[sec.name])
		var detail func(ss []*setting)
		detail = func(ss []*setting) {
			for _, s := range ss {
				fmt.Fprintf(&b, "\n#### %s\n\n", s.path)
				line := typeName(s.typ)
				if s.def != "" {
					line += "; default: " + s.def
				}
				if s.example != nil {
					line += "; example:" + exampleYAML(s)
				}
				b.WriteString(line + "\n")
				if s.doc != "" {
					b.WriteString("\n" + s.doc + "\n")
				}
				detail(s.sub)
			}
		}
		detail(all[sec.name])
	}
	b.WriteString("\n" + genEnd)
	return b.String()
}

// anchor is the id GitHub gives the heading "#### was.data_store.backup".
func anchor(path string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(strings.ToLower(path))
}

// TestTargetsReference checks that the settings reference in
// docs/targets.md is what the Config types, their doc comments and the
// examples give (rewritten with -update), that every example decodes
// strictly as a real targets file, and that every key a target may hold
// outside the adapter sections is documented.
func TestTargetsReference(t *testing.T) {
	path := filepath.Join(moduleRoot, "docs", "targets.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, genBegin), strings.Index(text, genEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/targets.md has no generated part between %q and %q", genBegin, genEnd)
	}
	want := targetsReference(t)
	got := text[i : j+len(genEnd)]
	if got != want {
		if updating() {
			if err := os.WriteFile(path, []byte(text[:i]+want+text[j+len(genEnd):]), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("docs/targets.md is not what the Config types give: run go test ./cmd/drillbook -run TestTargetsReference -update, then read the diff")
		}
	}
	for _, key := range runbook.TargetKeys() {
		if !strings.Contains(text, "`"+key+":`") {
			t.Errorf("docs/targets.md does not document the target key `%s:`", key)
		}
	}
	examplesDecode(t)
}

// examplesDecode builds a targets file holding every example and decodes
// it the way a run does: an example that is not valid fails here.
func examplesDecode(t *testing.T) {
	all := allSettings(t)
	tree := map[string]any{}
	var put func(m map[string]any, ss []*setting)
	put = func(m map[string]any, ss []*setting) {
		for _, s := range ss {
			switch {
			case len(s.sub) > 0 && !s.keyed:
				sub := map[string]any{}
				put(sub, s.sub)
				m[s.name] = sub
			case len(s.sub) > 0:
				sub := map[string]any{}
				put(sub, s.sub)
				m[s.name] = map[string]any{"example": sub}
			case s.example != nil:
				m[s.name] = s.example
			}
		}
	}
	for _, sec := range targetSections() {
		m := map[string]any{}
		put(m, all[sec.name])
		tree[sec.name] = m
	}
	b, err := yaml.Marshal(map[string]any{"targets": map[string]any{"examples": tree}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := runbook.LoadTargets(p, brokerSections)
	if err != nil {
		t.Fatalf("the examples do not load:\n%v\n%s", err, b)
	}
	tg, _ := ts.Get("examples")
	var cfg adapterConfigs
	if err := cfg.decode(tg); err != nil {
		t.Errorf("the examples do not decode into the Config types:\n%v\n%s", err, b)
	}
}

// docTargetsBlocks returns the YAML blocks of docs/targets.md that hold a
// whole targets file (they start with "targets:").
func docTargetsBlocks(t *testing.T) []string {
	doc, err := os.ReadFile(filepath.Join(moduleRoot, "docs", "targets.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		body := m[1]
		if strings.HasPrefix(strings.TrimLeft(strings.SplitN(body, "\n", 2)[0], "# "), "yaml-language-server") {
			body = strings.SplitN(body, "\n", 2)[1]
		}
		if strings.HasPrefix(body, "targets:") && !regexp.MustCompile(`(?m)^\s*\.\.\.$`).MatchString(body) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestTargetsDocExamplesLoad loads every complete targets file that
// docs/targets.md shows, strictly, as `drillbook targets check` would: an
// operator who copies one gets a file drillbook accepts.
func TestTargetsDocExamplesLoad(t *testing.T) {
	blocks := docTargetsBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("docs/targets.md shows %d complete targets files, want one per product", len(blocks))
	}
	for i, body := range blocks {
		p := filepath.Join(t.TempDir(), "targets.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		ts, err := runbook.LoadTargets(p, brokerSections)
		if err != nil {
			t.Errorf("example %d of docs/targets.md does not load:\n%v", i+1, err)
			continue
		}
		g := &globalOptions{io: osStreams()}
		for _, n := range ts.Names {
			tg, _ := ts.Get(n)
			var cfg adapterConfigs
			if err := cfg.decode(tg); err != nil {
				t.Errorf("example %d, target %s: %v", i+1, n, err)
			}
			if probs := tg.CheckParams(g.runbooksFor(tg, nil)); probs != nil {
				t.Errorf("example %d, target %s: %v", i+1, n, probs)
			}
		}
	}
}

// jsonOf renders v as the committed JSON files are written.
func jsonOf(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return b.Bytes()
}
