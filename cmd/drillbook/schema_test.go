package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

// The JSON Schemas in docs/schema are generated here: the targets schema
// from the same settings as the reference in docs/targets.md, the runbook
// schema from runbook's model types and the operations every adapter
// declares (an action's name completes, and so do its arguments). The YAML
// language server reads them; `go test ./cmd/drillbook -run TestSchemas
// -update` writes them again.

const schemaDraft = "https://json-schema.org/draft/2020-12/schema"

var (
	// A scalar a YAML string field accepts: the decoder takes any scalar's
	// text for a string.
	scalarSchema = map[string]any{"type": []string{"string", "number", "boolean"}}
	durationRE   = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	templateRE   = `\{\{`
)

func durationSchema(desc string) map[string]any {
	return map[string]any{"type": "string", "pattern": durationRE, "description": desc}
}

// description joins a setting's doc, default and example for an editor's
// hover.
func settingDescription(s *setting) string {
	parts := []string{}
	if s.doc != "" {
		parts = append(parts, strings.ReplaceAll(s.doc, "`", ""))
	}
	if s.def != "" {
		parts = append(parts, "Default: "+s.def+".")
	}
	if s.example != nil {
		parts = append(parts, "Example:"+strings.Trim(exampleYAML(s), " `"))
	}
	return strings.Join(parts, "\n\n")
}

// settingSchema is the schema of one setting of a targets file.
func settingSchema(s *setting) map[string]any {
	desc := settingDescription(s)
	var out map[string]any
	switch {
	case len(s.sub) > 0 && s.keyed:
		out = map[string]any{"type": "object", "additionalProperties": blockSchema(s.sub, "")}
	case len(s.sub) > 0:
		out = blockSchema(s.sub, "")
	default:
		out = typeSchema(s.typ)
	}
	out["description"] = desc
	if s.example != nil {
		out["examples"] = []any{jsonable(s.example)}
	}
	return out
}

func blockSchema(ss []*setting, desc string) map[string]any {
	props := map[string]any{}
	for _, s := range ss {
		props[s.name] = settingSchema(s)
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if desc != "" {
		out["description"] = desc
	}
	return out
}

// typeSchema is the schema of a Go type a setting decodes into.
func typeSchema(t reflect.Type) map[string]any {
	switch {
	case t == secretRefType:
		return map[string]any{"$ref": "#/$defs/secret"}
	case t == rbDurationType || t == stdDurationType:
		return map[string]any{"$ref": "#/$defs/duration"}
	}
	switch t.Kind() {
	case reflect.String:
		return clone(scalarSchema)
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	}
	return map[string]any{}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// topKeySchemas are the keys of a target beside its adapter sections
// (runbook.TargetKeys), which runbook/target.go reads by hand.
func topKeySchemas() map[string]any {
	return map[string]any{
		"description": map[string]any{"type": "string", "description": "Free text, shown by drillbook targets and in reports."},
		"simulated":   map[string]any{"type": "boolean", "description": "true marks a target where nothing real can be harmed: only there are --yes and --scenario accepted. Default false."},
		"purpose": map[string]any{"enum": []string{"incident", "drill", "routine"},
			"description": "What a run on the target is recorded as when drillbook run --purpose does not say; without it a simulated target's runs are drills and a real target's incidents."},
		"missing_logs": map[string]any{"enum": []string{"wait", "error"},
			"description": "What a log wait on a file that does not exist does: wait (the default) for the file to appear, saying so every 30 s, or error at once."},
		"params": map[string]any{"type": "object", "description": "Values for the parameters of the runbooks run on the target, by name: a plain value, or a list for list parameters; --param overrides them. A name no runbook that can run on the target declares is an error. A secret parameter is never written here: export DRILLBOOK_PARAM_NAME.",
			"propertyNames":        map[string]any{"pattern": `^[A-Za-z_][A-Za-z0-9_]*$`},
			"additionalProperties": map[string]any{"anyOf": []any{clone(scalarSchema), map[string]any{"type": "array", "items": clone(scalarSchema)}}}},
	}
}

// targetFieldSchema generates the schema of a target key from the field of
// runbook.Target named like it (hosts: from Hosts), when that field is a
// block or a map of blocks; nil otherwise.
func targetFieldSchema(t *testing.T, key string) map[string]any {
	typ := reflect.TypeFor[runbook.Target]()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() || strings.ToLower(f.Name) != strings.ReplaceAll(key, "_", "") {
			continue
		}
		ft := f.Type
		keyed := false
		if ft.Kind() == reflect.Map {
			ft, keyed = ft.Elem(), true
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || isLeaf(ft) {
			return nil
		}
		path := key
		if keyed {
			path += ".NAME"
		}
		block := blockSchema(settingsOf(t, path, ft), "")
		doc := strings.Join(strings.Fields(typeDocs(t, typ)[f.Name]), " ")
		if !keyed {
			block["description"] = doc
			return block
		}
		return map[string]any{"type": "object", "description": doc, "additionalProperties": block}
	}
	return nil
}

// targetsSchema is the JSON Schema of a targets file.
func targetsSchema(t *testing.T) map[string]any {
	all := allSettings(t)
	props := topKeySchemas()
	for _, key := range runbook.TargetKeys() {
		if _, ok := props[key]; ok {
			continue
		}
		// A key runbook.Target keeps as a map of blocks or a block (hosts:
		// is a map of HostConfig) is generated from that type.
		if s := targetFieldSchema(t, key); s != nil {
			props[key] = s
			continue
		}
		t.Errorf("the targets schema does not describe the target key %s: add it to topKeySchemas", key)
	}
	for _, sec := range targetSections() {
		props[sec.name] = blockSchema(all[sec.name], "The "+sec.title+": see drillbook docs targets.")
	}
	return map[string]any{
		"$schema":     schemaDraft,
		"title":       "drillbook targets file",
		"description": "The estates drillbook runs against (docs/targets.md, drillbook docs targets). Generated from the adapters' Config types.",
		"type":        "object", "required": []string{"targets"}, "additionalProperties": false,
		"properties": map[string]any{"targets": map[string]any{
			"type":                 "object",
			"description":          "Targets by name; --target NAME picks one. training is the built-in simulated target and cannot be declared.",
			"propertyNames":        map[string]any{"not": map[string]any{"const": runbook.TrainingTarget}},
			"additionalProperties": map[string]any{"$ref": "#/$defs/target"},
		}},
		"$defs": map[string]any{
			"target": map[string]any{"type": "object", "properties": props, "additionalProperties": false},
			"secret": map[string]any{
				"description": "Where a secret comes from, never the secret: exactly one of {env: NAME}, {file: PATH} or {command: [ARGV...]}. A secret written inline is refused.",
				"type":        "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
				"properties": map[string]any{
					"env":     map[string]any{"type": "string", "description": "An environment variable holding the secret."},
					"file":    map[string]any{"type": "string", "description": "A file whose content (trailing newline removed) is the secret."},
					"command": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "string"}, "description": "An argv (a vault CLI) whose standard output is the secret; it runs with stdin closed and a 30 s timeout."},
				},
			},
			"duration": map[string]any{"description": "A duration such as 30s, 5m or 1h30m.", "anyOf": []any{
				map[string]any{"type": "string", "pattern": durationRE}, map[string]any{"type": "integer", "minimum": 0}}},
		},
	}
}

// runbookSchema is the JSON Schema of a runbook file, from the model
// types and the operations of every adapter.
func runbookSchema(t *testing.T) map[string]any {
	defs := map[string]any{}
	docs := map[reflect.Type]map[string]string{}
	var structSchema func(typ reflect.Type) map[string]any
	fieldSchema := func(typ reflect.Type) map[string]any {
		switch typ {
		case reflect.TypeFor[runbook.Value]():
			return map[string]any{"$ref": "#/$defs/value"}
		case rbDurationType:
			return map[string]any{"$ref": "#/$defs/duration"}
		case reflect.TypeFor[runbook.ParamType]():
			return map[string]any{"enum": []string{"string", "bool", "int", "path", "list", "secret"}}
		case reflect.TypeFor[map[string]runbook.Value]():
			return map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/$defs/value"}}
		}
		switch typ.Kind() {
		case reflect.Pointer:
			return structSchema(typ.Elem())
		case reflect.Struct:
			return structSchema(typ)
		case reflect.Slice:
			if typ.Elem().Kind() == reflect.Struct {
				return map[string]any{"type": "array", "items": structSchema(typ.Elem())}
			}
			return map[string]any{"type": "array", "items": clone(scalarSchema)}
		}
		return typeSchema(typ)
	}
	structSchema = func(typ reflect.Type) map[string]any {
		name := strings.ToLower(typ.Name())
		if _, ok := defs[name]; ok {
			return map[string]any{"$ref": "#/$defs/" + name}
		}
		defs[name] = nil // a placeholder against recursion
		if docs[typ] == nil {
			docs[typ] = typeDocs(t, typ)
		}
		names := map[string]string{}
		for i := 0; i < typ.NumField(); i++ {
			if y := yamlTag(typ.Field(i)); y != "" {
				names[typ.Field(i).Name] = y
			}
		}
		props := map[string]any{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			y := yamlTag(f)
			if y == "" || !f.IsExported() {
				continue
			}
			s := fieldSchema(f.Type)
			doc := strings.Join(strings.Fields(docs[typ][f.Name]), " ")
			for goName, yn := range names {
				doc = regexp.MustCompile(`\b`+goName+`\b`).ReplaceAllString(doc, yn)
			}
			if doc != "" {
				if _, isRef := s["$ref"]; isRef {
					s = map[string]any{"allOf": []any{s}}
				}
				s["description"] = doc
			}
			props[y] = s
		}
		defs[name] = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	structSchema(reflect.TypeFor[runbook.Runbook]())

	// What the types alone do not say, as validate checks it.
	idPattern := map[string]any{"type": "string", "pattern": `^[a-z0-9][a-z0-9-]*$`}
	rbDef := defs["runbook"].(map[string]any)
	rbDef["required"] = []string{"schema", "id", "title", "steps"}
	rbProps := rbDef["properties"].(map[string]any)
	rbProps["schema"] = map[string]any{"const": runbook.SchemaV1, "description": "The runbook format; drillbook/v1 is the only one."}
	rbProps["id"] = withDesc(idPattern, rbProps["id"])
	rbProps["steps"].(map[string]any)["minItems"] = 1
	paramDef := defs["param"].(map[string]any)
	paramDef["required"] = []string{"name"}
	paramDef["properties"].(map[string]any)["name"] = withDesc(map[string]any{"type": "string", "pattern": `^[A-Za-z_][A-Za-z0-9_]*$`, "not": map[string]any{"enum": []string{"out", "item"}}}, paramDef["properties"].(map[string]any)["name"])
	stepDef := defs["step"].(map[string]any)
	stepDef["required"] = []string{"id"}
	stepProps := stepDef["properties"].(map[string]any)
	stepProps["id"] = withDesc(idPattern, stepProps["id"])
	waitDef := defs["wait"].(map[string]any)
	waitDef["required"] = []string{"timeout"}
	waitDef["anyOf"] = []any{map[string]any{"required": []string{"log"}}, map[string]any{"required": []string{"action"}}}
	waitDef["if"] = map[string]any{"required": []string{"log"}}
	waitDef["then"] = map[string]any{"required": []string{"success"}, "properties": map[string]any{"success": map[string]any{"minItems": 1}}}
	defs["check"].(map[string]any)["required"] = []string{"action"}
	stepDef["anyOf"] = []any{
		map[string]any{"required": []string{"manual"}}, map[string]any{"required": []string{"action"}}, map[string]any{"required": []string{"wait"}},
	}
	stepDef["if"] = map[string]any{"required": []string{"manual"}}
	stepDef["then"] = map[string]any{"not": map[string]any{"anyOf": []any{map[string]any{"required": []string{"action"}}, map[string]any{"required": []string{"wait"}}}}}
	stepDef["dependentRequired"] = map[string]any{"destructive": []string{"confirm"}}

	// Operations: the action enum, and each one's arguments under with:.
	specs := allSpecs()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	var names []string
	var conds []any
	for _, sp := range specs {
		names = append(names, sp.Name)
		props := map[string]any{}
		var req []string
		for _, a := range sp.Args {
			props[a.Name] = argSchema(a)
			if a.Required {
				req = append(req, a.Name)
			}
		}
		w := map[string]any{"type": "object", "properties": props, "additionalProperties": false, "description": sp.Name + ": " + sp.Summary}
		if len(req) > 0 {
			w["required"] = req
		}
		defs["with:"+sp.Name] = w
		conds = append(conds, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"action": map[string]any{"const": sp.Name}}, "required": []string{"action"}},
			"then": map[string]any{"properties": map[string]any{"with": map[string]any{"$ref": "#/$defs/with:" + sp.Name}}},
		})
	}
	action := map[string]any{"enum": names, "description": "The operation to run, adapter.operation (drillbook list --ops lists them with their arguments)."}
	defs["with"] = map[string]any{"description": "Each operation's arguments under with:, picked by action:.", "allOf": conds}
	for _, d := range []string{"step", "check", "wait"} {
		def := defs[d].(map[string]any)
		props := def["properties"].(map[string]any)
		props["action"] = withDesc(clone(action), props["action"])
		def["allOf"] = []any{map[string]any{"$ref": "#/$defs/with"}}
	}
	defs["value"] = map[string]any{"description": "A plain value, a list of plain values or a map of them; strings are templates.", "anyOf": []any{
		clone(scalarSchema), map[string]any{"type": "array", "items": clone(scalarSchema)},
		map[string]any{"type": "object", "additionalProperties": clone(scalarSchema)}}}
	defs["duration"] = durationSchema("A duration such as 30s, 5m or 1h30m.")
	return map[string]any{
		"$schema":     schemaDraft,
		"title":       "drillbook runbook (" + runbook.SchemaV1 + ")",
		"description": "A drillbook runbook (docs/runbook-format.md, drillbook docs runbook-format). Generated from drillbook's model types and its adapters' operations; drillbook validate checks everything else (templates, step references, destructive marks).",
		"$ref":        "#/$defs/runbook",
		"$defs":       defs,
	}
}

// withDesc gives s the description of the generated schema it replaces.
func withDesc(s map[string]any, old any) map[string]any {
	s = clone(s)
	if m, ok := old.(map[string]any); ok {
		if d, ok := m["description"]; ok {
			s["description"] = d
		}
	}
	return s
}

// argSchema is the schema of one operation argument under with:. A
// template (text with {{) may stand for any kind: it is rendered at run
// time and checked then.
func argSchema(a runbook.ArgSpec) map[string]any {
	tmpl := map[string]any{"type": "string", "pattern": templateRE}
	var s map[string]any
	switch a.Kind {
	case runbook.ArgString:
		s = clone(scalarSchema)
		if len(a.Enum) > 0 {
			s = map[string]any{"anyOf": []any{map[string]any{"enum": a.Enum}, tmpl}}
		}
	case runbook.ArgBool:
		s = map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, tmpl}}
	case runbook.ArgInt:
		s = map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, tmpl}}
	case runbook.ArgDuration:
		s = map[string]any{"anyOf": []any{map[string]any{"type": "string", "pattern": durationRE}, tmpl}}
	case runbook.ArgList:
		s = map[string]any{"anyOf": []any{map[string]any{"type": "array", "items": clone(scalarSchema)}, tmpl}}
	case runbook.ArgMap:
		s = map[string]any{"type": "object", "additionalProperties": clone(scalarSchema)}
	}
	kind := a.Kind.String()
	if a.Required {
		kind += ", required"
	}
	s["description"] = fmt.Sprintf("(%s) %s", kind, a.Doc)
	return s
}

// jsonable converts what yaml.v3 decodes into what JSON holds.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}

// compileSchema compiles a schema document with the validator the tests
// use.
func compileSchema(t *testing.T, name string, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("%s does not compile as a JSON Schema: %v", name, err)
	}
	return s
}

// yamlInstance decodes YAML as the YAML language server hands it to the
// schema: as JSON.
func yamlInstance(t *testing.T, data []byte) (any, error) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// TestSchemas checks that docs/schema holds what the types give (rewritten
// with -update), that each schema compiles, that every shipped runbook
// and every targets file the docs show validate, and that the schemas
// refuse each of a set of bad files that drillbook refuses.
func TestSchemas(t *testing.T) {
	files := map[string][]byte{
		"runbook.schema.json": jsonOf(runbookSchema(t)),
		"targets.schema.json": jsonOf(targetsSchema(t)),
	}
	for name, want := range files {
		path := filepath.Join(moduleRoot, "docs", "schema", name)
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, want) {
			if updating() {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Errorf("docs/schema/%s is not what the types give: run go test ./cmd/drillbook -run TestSchemas -update, then read the diff", name)
			}
		}
	}
	rbSchema := compileSchema(t, "runbook.schema.json", files["runbook.schema.json"])
	tgSchema := compileSchema(t, "targets.schema.json", files["targets.schema.json"])

	t.Run("shipped runbooks validate", func(t *testing.T) {
		names, _ := fs.Glob(runbooks.FS, "*.yaml")
		if len(names) < 8 {
			t.Fatalf("%d shipped runbooks", len(names))
		}
		for _, n := range names {
			b, _ := runbooks.FS.ReadFile(n)
			inst, err := yamlInstance(t, b)
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			if err := rbSchema.Validate(inst); err != nil {
				t.Errorf("shipped runbook %s does not validate against docs/schema/runbook.schema.json:\n%v", n, err)
			}
		}
	})
	t.Run("documented targets files validate", func(t *testing.T) {
		for i, body := range docTargetsBlocks(t) {
			inst, err := yamlInstance(t, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := tgSchema.Validate(inst); err != nil {
				t.Errorf("targets file %d of docs/targets.md does not validate:\n%v", i+1, err)
			}
		}
	})
	t.Run("bad runbooks", func(t *testing.T) {
		for _, c := range badRunbooks {
			data := []byte(c.yml)
			_, verr := runbook.Parse("bad.yaml", data)
			if verr == nil {
				rb, _ := runbook.Parse("bad.yaml", data)
				if probs := runbook.Validate(rb, allSpecs()); probs != nil {
					verr = probs
				}
			}
			inst, err := yamlInstance(t, data)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			serr := rbSchema.Validate(inst)
			if testing.Verbose() {
				t.Logf("%s:\n  validate: %v\n  schema: %v", c.name, firstLine(fmt.Sprint(verr)), lastErrLine(serr))
			}
			if verr == nil || serr == nil {
				t.Errorf("%s: validate says %v; the schema says %v; both must refuse it", c.name, verr, serr)
			}
		}
	})
	t.Run("bad targets files", func(t *testing.T) {
		g := &globalOptions{io: osStreams()}
		for _, c := range badTargets {
			p := filepath.Join(t.TempDir(), "targets.yaml")
			os.WriteFile(p, []byte(c.yml), 0o600)
			var derr error
			ts, err := runbook.LoadTargets(p, brokerSections)
			switch {
			case err != nil:
				derr = err
			default:
				for _, n := range ts.Names {
					tg, _ := ts.Get(n)
					var cfg adapterConfigs
					if err := cfg.decode(tg); err != nil {
						derr = err
					} else if probs := tg.CheckParams(g.runbooksFor(tg, nil)); probs != nil {
						derr = probs
					}
				}
			}
			inst, err := yamlInstance(t, []byte(c.yml))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			serr := tgSchema.Validate(inst)
			var ve *jsonschema.ValidationError
			if serr != nil && !errors.As(serr, &ve) {
				t.Fatalf("%s: %v", c.name, serr)
			}
			if testing.Verbose() {
				t.Logf("%s:\n  drillbook: %v\n  schema: %v", c.name, firstLine(fmt.Sprint(derr)), lastErrLine(serr))
			}
			if derr == nil || serr == nil {
				t.Errorf("%s: drillbook says %v; the schema says %v; both must refuse it", c.name, derr, serr)
			}
		}
	})
}

// badRunbooks are mistakes of shape, which the schema can see; validate
// sees these and more.
var badRunbooks = []struct{ name, yml string }{
	{"unknown field", head + "steps:\n  - id: a\n    acton: shell.run\n"},
	{"unknown operation", head + "steps:\n  - id: a\n    action: shell.rnu\n"},
	{"unknown argument", head + "steps:\n  - id: a\n    action: shell.run\n    with: {argv: [ls], arvg: [ls]}\n"},
	{"missing required argument", head + "steps:\n  - id: a\n    action: shell.run\n    with: {timeout: 5s}\n"},
	{"no steps", head + "steps: []\n"},
	{"no title", "schema: drillbook/v1\nid: t\nsteps:\n  - id: a\n    manual: x\n"},
	{"other schema", "schema: drillbook/v9\nid: t\ntitle: T\nsteps:\n  - id: a\n    manual: x\n"},
	{"bad id", "schema: drillbook/v1\nid: My Runbook\ntitle: T\nsteps:\n  - id: a\n    manual: x\n"},
	{"bad step id", head + "steps:\n  - id: Step_1\n    manual: x\n"},
	{"step that does nothing", head + "steps:\n  - id: a\n    title: nothing\n"},
	{"manual and action", head + "steps:\n  - id: a\n    manual: x\n    action: shell.run\n    with: {argv: [ls]}\n"},
	{"wrong type", head + "steps:\n  - id: a\n    manual: x\n    destructive: yes please\n"},
	{"bad duration", head + "steps:\n  - id: a\n    manual: x\n    timeout: 5 minutes\n"},
	{"wait without timeout", head + "steps:\n  - id: a\n    wait: {log: /x.log, success: [CWSIP0783]}\n"},
	{"log wait without success", head + "steps:\n  - id: a\n    wait: {log: /x.log, timeout: 5m}\n"},
	{"destructive without confirm", head + "steps:\n  - id: a\n    destructive: true\n    action: shell.run\n    with: {argv: [rm, /tmp/x]}\n"},
	{"unknown parameter type", head + "params:\n  - {name: p, type: text}\nsteps:\n  - id: a\n    manual: x\n"},
	{"reserved parameter name", head + "params:\n  - {name: item}\nsteps:\n  - id: a\n    manual: x\n"},
	{"precheck without action", head + "steps:\n  - id: a\n    manual: x\n    precheck: {with: {path: /x}}\n"},
	{"bad enum argument", head + "steps:\n  - id: a\n    action: file.exists\n    with: {path: /x, kind: socket}\n"},
}

const head = "schema: drillbook/v1\nid: t\ntitle: T\n"

// badTargets are mistakes of shape in targets files.
var badTargets = []struct{ name, yml string }{
	{"unknown top-level key", "targets: {}\nextra: 1\n"},
	{"unknown target field", "targets:\n  prod:\n    colour: blue\n"},
	{"unknown section field", "targets:\n  prod:\n    was: {profile_rot: /opt}\n"},
	{"unknown node field", "targets:\n  prod:\n    messagesight:\n      nodes:\n        ms-a: {url: 'https://a:9089', usr: admin}\n"},
	{"inline password", "targets:\n  prod:\n    rabbitmq: {node: rabbit@a, password: hunter2}\n"},
	{"two secret sources", "targets:\n  prod:\n    rabbitmq: {node: rabbit@a, password: {env: A, file: /b}}\n"},
	{"unknown secret source", "targets:\n  prod:\n    rabbitmq: {node: rabbit@a, password: {vault: a}}\n"},
	{"wrong type", "targets:\n  prod:\n    was: {port: high}\n"},
	{"bad duration", "targets:\n  prod:\n    was: {call_timeout: ten minutes}\n"},
	{"list where a value goes", "targets:\n  prod:\n    rabbitmq: {node: [rabbit@a]}\n"},
	{"simulated not a boolean", "targets:\n  prod:\n    simulated: maybe\n"},
	{"a parameter written as a map", "targets:\n  prod:\n    params: {token: {env: TOKEN}}\n"},
	{"the training name", "targets:\n  training:\n    description: mine\n"},
}

// lastErrLine is a schema error's most specific line, for the verbose log.
func lastErrLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
