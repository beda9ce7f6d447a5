package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/docs"
)

func newDocsCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs [TOPIC [§SECTION...]]",
		Short: "Show drillbook's documentation and the reference sections the runbooks cite",
		Long: `docs prints drillbook's documentation and the reference notes its runbooks
cite, from the binary itself: a step's "see reference/was-sib.md §3.3" is
readable wherever drillbook is installed.

With no argument it lists the topics. A topic is a document (targets,
runbook-format, exit-codes, training, architecture), a reference note
(reference/was-sib.md, reference/messagesight.md, reference/rabbitmq.md)
or a JSON Schema for your editor (schema/runbook.schema.json,
schema/targets.schema.json).
Sections are given as in a citation: §3.3, "§3.3, §1.1", or 3.3; a section
includes its subsections. A source document a runbook follows (a file name
such as 002_51495a1c0c345fc4.txt) shows where that document is and which
reference section corrects it.`,
		Example: `  drillbook docs
  drillbook docs reference/was-sib.md §3.3
  drillbook docs reference/rabbitmq.md "§5.1, §6"
  drillbook docs targets`,
		ValidArgsFunction: completeDocs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return listDocs(g)
			}
			return showDocs(g, args[0], args[1:])
		},
	}
	return cmd
}

// docTopics returns the embedded documents by topic name: "targets" for
// targets.md, "reference/was-sib.md" for the notes.
func docTopics() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(docs.FS, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasSuffix(p, ".md") && !strings.Contains(p, "/"):
			out[strings.TrimSuffix(p, ".md")] = p
		case strings.HasSuffix(p, ".md"), strings.HasSuffix(p, ".json"):
			out[p] = p
		}
		return nil
	})
	return out
}

// findTopic accepts a topic as a citation writes it or shorter:
// "reference/was-sib.md", "was-sib.md", "was-sib", "targets.md".
func findTopic(name string) (string, bool) {
	topics := docTopics()
	name = strings.TrimPrefix(name, "docs/")
	for _, cand := range []string{name, strings.TrimSuffix(name, ".md"), "reference/" + name, "reference/" + name + ".md"} {
		if p, ok := topics[cand]; ok {
			return p, true
		}
	}
	return "", false
}

func listDocs(g *globalOptions) error {
	w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tTITLE")
	topics := docTopics()
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%s\n", n, docTitle(topics[n]))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(g.io.Out, "\ndrillbook docs TOPIC [§SECTION...] prints a topic or some of its sections")
	return err
}

// docTitle is the first heading of an embedded document, or a schema's
// title.
func docTitle(p string) string {
	b, err := docs.FS.ReadFile(p)
	if err != nil {
		return ""
	}
	if strings.HasSuffix(p, ".json") {
		var s struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal(b, &s)
		return "JSON Schema: " + s.Title
	}
	for _, h := range headings(string(b)) {
		return h.title
	}
	return ""
}

var sectionRE = regexp.MustCompile(`§?\s*([0-9]+(?:\.[0-9]+)*)`)

func showDocs(g *globalOptions, topic string, sections []string) error {
	if seed := sourceDocument(topic); seed != "" {
		_, err := fmt.Fprintln(g.io.Out, seed)
		return err
	}
	p, ok := findTopic(topic)
	if !ok {
		var names []string
		for n := range docTopics() {
			names = append(names, n)
		}
		sort.Strings(names)
		return usagef("docs: no topic %q: topics are %s", topic, strings.Join(names, ", "))
	}
	b, err := docs.FS.ReadFile(p)
	if err != nil {
		return fmt.Errorf("docs: read %s: %w", p, err)
	}
	text := string(b)
	if len(sections) == 0 {
		_, err := fmt.Fprint(g.io.Out, text)
		return err
	}
	var nums []string
	for _, s := range sections {
		for _, m := range sectionRE.FindAllStringSubmatch(s, -1) {
			nums = append(nums, m[1])
		}
	}
	if len(nums) == 0 {
		return usagef("docs: %q names no section: write it as in a citation, §3.3", strings.Join(sections, " "))
	}
	for i, n := range nums {
		sec, within, ok := citedSection(text, n)
		if !ok {
			return usagef("docs: %s has no section §%s: its sections are %s", p, n, strings.Join(sectionNumbers(text), ", "))
		}
		if i > 0 {
			fmt.Fprintln(g.io.Out)
		}
		if within != n {
			fmt.Fprintf(g.io.Out, "%s §%s (§%s is item %s of §%s)\n\n%s", p, within, n, n[len(within)+1:], within, sec)
			continue
		}
		fmt.Fprintf(g.io.Out, "%s §%s\n\n%s", p, n, sec)
	}
	return nil
}

// citedSection finds the section a citation names. A number that is no
// heading, such as §0.4 for the fourth item of the numbered list in §0,
// finds the section that holds that item; within says which.
func citedSection(text, num string) (sec, within string, ok bool) {
	if sec, ok = section(text, num); ok {
		return sec, num, true
	}
	i := strings.LastIndex(num, ".")
	if i < 0 {
		return "", "", false
	}
	within, item := num[:i], num[i+1:]
	if sec, ok = section(text, within); !ok {
		return "", "", false
	}
	if !regexp.MustCompile(`(?m)^\s*` + item + `\.\s`).MatchString(sec) {
		return "", "", false
	}
	return sec, within, true
}

// sourceDocument describes a source document a runbook follows (a seed
// file name), from reference/sources.md, or "" when name is not one.
func sourceDocument(name string) string {
	b, err := docs.FS.ReadFile("reference/sources.md")
	if err != nil || !strings.HasSuffix(name, ".txt") {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) >= 5 && strings.Trim(strings.TrimSpace(cells[1]), "`") == path.Base(name) {
			return fmt.Sprintf("%s: %s.\nIt is the vendor's page and is not shipped; drillbook's corrections to it: %s (drillbook docs %s).",
				path.Base(name), strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3]), strings.TrimSpace(cells[3]))
		}
	}
	return ""
}

// heading is a Markdown heading outside code blocks.
type heading struct {
	level int
	num   string // "3.3" of "### 3.3 Title", "5" of "## 5. Title"; "" when unnumbered
	title string
	line  int
}

var numberedRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)*)\.?\s`)

// headings lists the Markdown headings of text, skipping fenced code
// blocks (where a line starting with # is a shell comment).
func headings(text string) []heading {
	var out []heading
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(l, "#") {
			continue
		}
		level := len(l) - len(strings.TrimLeft(l, "#"))
		title := strings.TrimSpace(l[level:])
		h := heading{level: level, title: title, line: n}
		if m := numberedRE.FindStringSubmatch(title + " "); m != nil {
			h.num = m[1]
		}
		out = append(out, h)
	}
	return out
}

// section returns section num of text with its subsections: from its
// heading to the next heading of the same or a higher level.
func section(text, num string) (string, bool) {
	lines := strings.SplitAfter(text, "\n")
	hs := headings(text)
	for i, h := range hs {
		if h.num != num {
			continue
		}
		end := len(lines)
		for _, next := range hs[i+1:] {
			if next.level <= h.level {
				end = next.line
				break
			}
		}
		return strings.Join(lines[h.line:end], ""), true
	}
	return "", false
}

func sectionNumbers(text string) []string {
	var out []string
	for _, h := range headings(text) {
		if h.num != "" {
			out = append(out, "§"+h.num)
		}
	}
	return out
}

// completeDocs completes a topic, then the topic's sections with their
// titles.
func completeDocs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		var out []cobra.Completion
		for n, p := range docTopics() {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, cobra.CompletionWithDesc(n, docTitle(p)))
			}
		}
		sort.Strings(out)
		return out, noFiles
	}
	p, ok := findTopic(args[0])
	if !ok {
		return nil, noFiles
	}
	b, err := docs.FS.ReadFile(p)
	if err != nil {
		return nil, noFiles
	}
	var out []cobra.Completion
	for _, h := range headings(string(b)) {
		if h.num == "" {
			continue
		}
		c := "§" + h.num
		if strings.HasPrefix(c, toComplete) || strings.HasPrefix(h.num, toComplete) {
			out = append(out, cobra.CompletionWithDesc(c, strings.TrimLeft(strings.TrimPrefix(h.title, h.num), ". ")))
		}
	}
	return out, noFiles | cobra.ShellCompDirectiveKeepOrder
}
