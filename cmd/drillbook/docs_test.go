package main

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/docs"
	"github.com/drillbook/drillbook/runbooks"
)

var citationRE = regexp.MustCompile(`reference/([a-z-]+\.md)((?:[ ,]*(?:and )?§[0-9]+(?:\.[0-9]+)*(?: step [0-9]+| \([^)]*\)| [A-Z][a-z]+(?: [0-9]+(?: and [0-9]+)?)?)?)*)`)

// TestEveryCitationResolves reads every shipped runbook's text for
// citations of the reference notes ("reference/was-sib.md §3.3, §1.1") and
// source documents, and checks that `drillbook docs` finds each file and
// section in the binary: a citation the operator follows is never a dead
// end.
func TestEveryCitationResolves(t *testing.T) {
	names, err := fs.Glob(runbooks.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cites, sections := 0, 0
	for _, n := range names {
		b, _ := runbooks.FS.ReadFile(n)
		text := string(b)
		for _, m := range citationRE.FindAllStringSubmatch(text, -1) {
			cites++
			p, ok := findTopic("reference/" + m[1])
			if !ok {
				t.Errorf("%s cites reference/%s, which drillbook docs does not ship", n, m[1])
				continue
			}
			body, _ := docs.FS.ReadFile(p)
			for _, sm := range sectionRE.FindAllStringSubmatch(m[2], -1) {
				if !strings.Contains(sm[0], "§") {
					continue // "step 4", not a section
				}
				sections++
				if _, _, ok := citedSection(string(body), sm[1]); !ok {
					t.Errorf("%s cites %s §%s, which has no such section", n, p, sm[1])
				}
			}
		}
		for _, m := range regexp.MustCompile(`doc: *"?([0-9]{3}_[0-9a-f]{16}\.txt)`).FindAllStringSubmatch(text, -1) {
			cites++
			if sourceDocument(m[1]) == "" {
				t.Errorf("%s follows %s, which reference/sources.md does not describe", n, m[1])
			}
		}
	}
	if cites < 50 || sections < 50 {
		t.Fatalf("found %d citations and %d sections: the scan missed them", cites, sections)
	}
	t.Logf("%d citations, %d sections resolved", cites, sections)
}
