package runbook

import (
	"regexp"
	"strings"
)

var (
	// msgIDInPattern finds a message id inside a pattern.
	msgIDInPattern = regexp.MustCompile(`\b[A-Z]{4,5}\d{4}[A-Z]?\b`)
	// regexNoise is what a regular expression may hold without naming any
	// words: escapes (\S, \d, \.), named groups, character classes.
	regexNoise = regexp.MustCompile(`\\.|\(\?P?<[^>]*>|\[[^\]]*\]`)
	wordRE     = regexp.MustCompile(`[A-Za-z]{2,}`)
)

// PatternWarnings returns a warning for each log-wait pattern that puts
// literal text after a message id, such as
// 'CWSID0016I: Messaging engine \S+ is in state Started'. WebSphere writes
// message text in the server's language (German and Chinese servers are
// common), so such a pattern never matches there; the message id alone,
// with the engine as the wait's engine: field, does. The warnings do not
// make a runbook invalid; drillbook validate prints them.
func PatternWarnings(rb *Runbook) Problems {
	var out Problems
	for _, ss := range rb.AllSteps() {
		st := ss.Step
		w := st.Wait
		if w == nil || w.Log.IsZero() {
			continue
		}
		wp := st.FieldPos("wait", st.Pos)
		for _, set := range []struct {
			key  string
			pats []string
		}{{"success", w.Success}, {"failure", w.Failure}, {"warn", w.Warn}} {
			for _, p := range set.pats {
				if msgIDRE.MatchString(p) {
					continue
				}
				loc := msgIDInPattern.FindStringIndex(p)
				if loc == nil {
					continue
				}
				rest := regexNoise.ReplaceAllString(p[loc[1]:], " ")
				if !wordRE.MatchString(rest) {
					continue
				}
				id := p[loc[0]:loc[1]]
				out.add(w.FieldPos(set.key, wp), "warning: %s pattern %q puts literal text after the message id %s: WebSphere writes message text in the server's language, so it never matches on a German or Chinese server; use the id alone (%s) and engine: to scope it", set.key, p, id, strings.TrimRight(id, "IWEA"))
			}
		}
	}
	return out.sorted()
}
