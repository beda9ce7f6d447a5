package docs_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/drillbook/drillbook/runbook"
)

var update = flag.Bool("update", false, "rewrite docs/seed-coverage.md from docs/seed-coverage.yaml and the runbooks")

// coverage is docs/seed-coverage.yaml: for each seed, one row per sentence
// (or bullet, heading, command line) in the order of the file.
type coverage struct {
	Seeds []struct {
		Doc  string `yaml:"doc"`
		Rows []row  `yaml:"rows"`
	} `yaml:"seeds"`
}

// row says where drillbook acts on one sentence of a seed.
type row struct {
	// S is the sentence exactly as the seed has it (whitespace collapsed).
	S string `yaml:"s"`
	// Section, when set, names a section of the seed that starts here, as
	// steps may cite it ("step 4"). A heading is a section by itself.
	Section string `yaml:"section"`
	// Heading marks a heading: it needs no place of its own.
	Heading bool `yaml:"heading"`
	// Link marks the title of a link to another page: a step may not cite
	// it as its section, since it says nothing of what the step does.
	Link bool `yaml:"link"`
	// At names where drillbook shows it: RUNBOOK (its description) or
	// RUNBOOK#STEP (the step, its notes, precheck or when).
	At []string `yaml:"at"`
	// How says in words what drillbook does there (a step, a preflight
	// check, a note, a branch, a refusal).
	How string `yaml:"how"`
	// NA is why the sentence asks nothing of drillbook.
	NA string `yaml:"na"`
	// Line is the seed line the sentence is on (filled in by the test).
	Line int `yaml:"-"`
}

// unit is one sentence of a seed and the line it is on.
type unit struct {
	line int
	text string
}

// seedUnits splits a seed into what an operator reads one at a time: each
// line, its bullet or number taken off, cut into sentences where a full stop
// is followed by a capital letter.
func seedUnits(text string) []unit {
	var out []unit
	for i, ln := range strings.Split(text, "\n") {
		s := strings.Join(strings.Fields(ln), " ")
		s = strings.TrimLeft(s, "•+ ")
		if j := strings.Index(s, ". "); j > 0 && j <= 3 && strings.Trim(s[:j], "0123456789") == "" {
			s = s[j+2:]
		}
		if s == "" {
			continue
		}
		r := []rune(s)
		start := 0
		for k := 0; k < len(r); k++ {
			if (r[k] == '.' || r[k] == '?' || r[k] == '!') && k+2 < len(r) && r[k+1] == ' ' && unicode.IsUpper(r[k+2]) {
				out = append(out, unit{i + 1, string(r[start : k+1])})
				start = k + 2
			}
		}
		out = append(out, unit{i + 1, string(r[start:])})
	}
	return out
}

// place is a runbook step (or the runbook itself) a row or a citation names.
type place struct {
	file string // runbooks/ID.yaml
	line int
}

type shipped struct {
	ids    []string
	books  map[string]*runbook.Runbook
	places map[string]place // "ID" and "ID#STEP"
}

func loadRunbooks(t *testing.T) shipped {
	t.Helper()
	files, err := filepath.Glob("../runbooks/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no runbooks under ../runbooks: %v", err)
	}
	sh := shipped{books: map[string]*runbook.Runbook{}, places: map[string]place{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := runbook.Parse(f, data)
		if err != nil {
			t.Fatalf("%v", err)
		}
		rel := "runbooks/" + filepath.Base(f)
		sh.ids = append(sh.ids, rb.ID)
		sh.books[rb.ID] = rb
		sh.places[rb.ID] = place{rel, 1}
		for _, sec := range [][]runbook.Step{rb.Preflight, rb.Steps, rb.Finally} {
			for _, st := range sec {
				sh.places[rb.ID+"#"+st.ID] = place{rel, st.Pos.Line}
			}
		}
	}
	sort.Strings(sh.ids)
	return sh
}

func norm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// citation is one step's source (or ref) that names a seed.
type citation struct {
	runbook, step, field, section string
	line                          int
}

var parenthetical = regexp.MustCompile(`^(.*?)\s*\(([^()]*)\)$`)

// checkSection reports why a section a step cites is not in the seed, or
// "" when it is. A section is a name the coverage table declares (a
// heading, "step 4") or words of the seed, optionally followed by ": "
// and words of the seed, and by words of the seed in parentheses; " ... "
// and "; " separate quoted pieces.
func checkSection(sec string, names, links map[string]bool, seedText string) string {
	sec = strings.TrimSpace(sec)
	if sec == "" {
		return "names no section"
	}
	if links[norm(sec)] {
		return "that is the title of a link to another page, which says nothing of what the step does: cite the page drillbook follows (a reference section) instead"
	}
	var quotes []string
	if m := parenthetical.FindStringSubmatch(sec); m != nil {
		sec = m[1]
		quotes = append(quotes, m[2])
	}
	name := sec
	if i := strings.Index(sec, ": "); i > 0 {
		name = sec[:i]
		quotes = append(quotes, sec[i+2:])
	}
	if !names[norm(name)] {
		quotes = append(quotes, name)
	}
	for _, q := range quotes {
		for _, a := range strings.Split(q, "; ") {
			for _, piece := range strings.Split(a, "...") {
				piece = strings.Trim(strings.TrimSpace(piece), `"“”`)
				if piece == "" {
					continue
				}
				if !names[norm(piece)] && !strings.Contains(seedText, norm(piece)) {
					return fmt.Sprintf("%q is neither a section of the seed nor its words", piece)
				}
			}
		}
	}
	return ""
}

// TestSeedCoverage checks docs/seed-coverage.yaml against the five seeds and
// the shipped runbooks, and that docs/seed-coverage.md is its rendering.
func TestSeedCoverage(t *testing.T) {
	data, err := os.ReadFile("seed-coverage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cov coverage
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cov); err != nil {
		t.Fatalf("seed-coverage.yaml: %v", err)
	}
	sh := loadRunbooks(t)
	seedFiles, _ := filepath.Glob("seeds/*.txt")
	if len(seedFiles) != 5 || len(cov.Seeds) != len(seedFiles) {
		t.Fatalf("%d seed files under docs/seeds and %d seeds in seed-coverage.yaml; want the five seeds in both", len(seedFiles), len(cov.Seeds))
	}
	names := map[string]map[string]bool{}
	links := map[string]map[string]bool{}
	texts := map[string]string{}
	for si := range cov.Seeds {
		sd := &cov.Seeds[si]
		raw, err := os.ReadFile(filepath.Join("seeds", sd.Doc))
		if err != nil {
			t.Fatalf("seed-coverage.yaml names %s: %v", sd.Doc, err)
		}
		units := seedUnits(string(raw))
		var all []string
		names[sd.Doc] = map[string]bool{}
		links[sd.Doc] = map[string]bool{}
		for i, u := range units {
			all = append(all, u.text)
			if i >= len(sd.Rows) {
				t.Errorf("seeds/%s:%d: %q has no row in seed-coverage.yaml", sd.Doc, u.line, u.text)
				continue
			}
			r := &sd.Rows[i]
			r.Line = u.line
			if r.S != u.text {
				t.Errorf("seeds/%s:%d: row %d of seed-coverage.yaml says %q where the seed has %q (rows follow the seed sentence by sentence)", sd.Doc, u.line, i+1, r.S, u.text)
				continue
			}
			if r.Heading {
				names[sd.Doc][norm(r.S)] = true
			}
			if r.Link {
				links[sd.Doc][norm(r.S)] = true
			}
			if r.Section != "" {
				names[sd.Doc][norm(r.Section)] = true
			}
			switch {
			case r.Heading && len(r.At) == 0 && r.NA == "":
			case len(r.At) > 0 && r.NA != "":
				t.Errorf("seeds/%s:%d: %q is both placed and not applicable", sd.Doc, u.line, r.S)
			case len(r.At) > 0 && r.How == "":
				t.Errorf("seeds/%s:%d: %q names where but not how (how:)", sd.Doc, u.line, r.S)
			case len(r.At) == 0 && r.NA == "":
				t.Errorf("seeds/%s:%d: %q is open: give at: and how:, or na: with the reason", sd.Doc, u.line, r.S)
			}
			for _, at := range r.At {
				if _, ok := sh.places[at]; !ok {
					t.Errorf("seeds/%s:%d: row names %q, which is no shipped runbook or step", sd.Doc, u.line, at)
				}
			}
		}
		for i := len(units); i < len(sd.Rows); i++ {
			t.Errorf("seed-coverage.yaml: row %q of %s is not a sentence of the seed", sd.Rows[i].S, sd.Doc)
		}
		texts[sd.Doc] = norm(strings.Join(all, " "))
	}

	cites := citations(sh)
	for _, c := range cites {
		doc, sec := c.doc()
		if _, ok := texts[doc]; !ok {
			continue
		}
		if why := checkSection(sec, names[doc], links[doc], texts[doc]); why != "" {
			t.Errorf("runbooks/%s.yaml:%d: step %s cites %s %q: %s", c.runbook, c.line, c.step, doc, sec, why)
		}
	}

	md := render(cov, sh, cites)
	if *update {
		if err := os.WriteFile("seed-coverage.md", md, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("seed-coverage.md")
	if err != nil || !bytes.Equal(got, md) {
		t.Errorf("seed-coverage.md is stale: run go test ./docs -run TestSeedCoverage -update")
	}
}

// doc splits a citation into the seed it names and the section.
func (c citation) doc() (string, string) {
	s := strings.TrimSpace(c.section)
	f, rest, _ := strings.Cut(s, " ")
	return f, strings.TrimSpace(rest)
}

// citations lists every step's source and every ref that names a seed, as
// "SEED SECTION".
func citations(sh shipped) []citation {
	var out []citation
	for _, id := range sh.ids {
		rb := sh.books[id]
		for _, sec := range [][]runbook.Step{rb.Preflight, rb.Steps, rb.Finally} {
			for _, st := range sec {
				src := st.Source
				if strings.HasSuffix(src.Doc, ".txt") {
					out = append(out, citation{id, st.ID, "source", src.Doc + " " + src.Section, st.Pos.Line})
				}
				for _, ref := range strings.Split(src.Ref, "; ") {
					if f, _, _ := strings.Cut(ref, " "); strings.HasSuffix(f, ".txt") {
						out = append(out, citation{id, st.ID, "ref", ref, st.Pos.Line})
					}
				}
			}
		}
	}
	return out
}

func link(sh shipped, at string) string {
	p := sh.places[at]
	return fmt.Sprintf("[%s](../%s#L%d)", at, p.file, p.line)
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// render writes docs/seed-coverage.md: a table per seed, one row per
// sentence, and the steps that cite the seed.
func render(cov coverage, sh shipped, cites []citation) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Every sentence of the source documents, and where drillbook acts on it\n\n")
	p("<!-- Generated from seed-coverage.yaml and the runbooks by `go test ./docs -run TestSeedCoverage -update`; edit seed-coverage.yaml, not this file. -->\n\n")
	p("Each seed (the vendor page a runbook follows, copied under [seeds/](seeds/README.md)) is cut into\n")
	p("sentences; each sentence links to its line, and says where drillbook shows it: a step (`RUNBOOK#STEP`,\n")
	p("a link to the step in its runbook), a preflight check, a branch, a note, a refusal, or the runbook's\n")
	p("description; or why it asks nothing of drillbook. `TestSeedCoverage` fails when a sentence has no row,\n")
	p("a row names a step that does not exist, a step cites a section the seed does not have, or this file\n")
	p("is stale. Below each table, every step that cites the seed, with the section it cites.\n")
	for _, sd := range cov.Seeds {
		title := sd.Doc
		if d, ok := runbook.LookupSourceDoc(sd.Doc); ok {
			title = d.Title + " (" + d.Publisher + ")"
		}
		p("\n## %s\n\n[seeds/%s](seeds/%s)\n\n", title, sd.Doc, sd.Doc)
		p("| line | sentence | where drillbook acts on it |\n|---|---|---|\n")
		for _, r := range sd.Rows {
			s := cell(r.S)
			if r.Heading {
				s = "**" + s + "**"
			}
			if r.Section != "" {
				s += " *(section “" + r.Section + "”)*"
			}
			var where string
			switch {
			case len(r.At) > 0:
				var ls []string
				for _, at := range r.At {
					ls = append(ls, link(sh, at))
				}
				where = strings.Join(ls, ", ") + ": " + cell(r.How)
			case r.NA != "":
				where = "not applicable: " + cell(r.NA)
			default:
				where = "heading"
			}
			p("| [%d](seeds/%s#L%d) | %s | %s |\n", r.Line, sd.Doc, r.Line, s, where)
		}
		var rows []string
		for _, c := range cites {
			if doc, sec := c.doc(); doc == sd.Doc {
				at := c.runbook + "#" + c.step
				rows = append(rows, fmt.Sprintf("| %s | %s | %s |", link(sh, at), c.field, cell(sec)))
			}
		}
		if len(rows) > 0 {
			p("\n%d steps cite this document:\n\n| step | as | section |\n|---|---|---|\n%s\n", len(rows), strings.Join(rows, "\n"))
		}
	}
	return b.Bytes()
}
