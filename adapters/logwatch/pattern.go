package logwatch

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/drillbook/drillbook/runbook"
)

// pattern is one compiled success, failure or warning pattern.
type pattern struct {
	kind runbook.MatchKind
	src  string
	// id is the message number (CWSIP0783) when the pattern is a bare
	// message id: it matches that number with any severity letter.
	id string
	re *regexp.Regexp
	// literal is a byte string every matching record contains; nil when
	// the pattern has none (the regexp then runs on every record).
	literal []byte
}

// matcher holds a watch's patterns, failure first so a record that matches
// both a failure and a success pattern fails the step.
type matcher struct {
	pats   []pattern
	engine string
	// always is set when some pattern has no literal to pre-filter on.
	always bool
}

// compileMatcher compiles the spec's patterns. A pattern that is a message
// id (CWSIP0783, or CWSIP0783E as the seeds print it) matches the record's
// message number with any severity letter; anything else is a Go regular
// expression (RE2 syntax) matched against the whole record, whose named
// groups become the match's variables.
func compileMatcher(success, failure, warn []string, engine string) (*matcher, error) {
	m := &matcher{engine: engine}
	add := func(kind runbook.MatchKind, srcs []string) error {
		for _, src := range srcs {
			p := pattern{kind: kind, src: src}
			switch {
			case strings.TrimSpace(src) == "":
				return fmt.Errorf("%s pattern is empty: give a message id such as CWSIP0783 or a regular expression", kind)
			case isMsgID(src):
				p.id = msgNumber(src)
				p.literal = []byte(p.id)
			default:
				re, err := regexp.Compile(src)
				if err != nil {
					return fmt.Errorf("%s pattern %q does not compile: %w: fix it (RE2 syntax) or use a bare message id", kind, src, err)
				}
				p.re = re
				if lit, _ := re.LiteralPrefix(); lit != "" {
					p.literal = []byte(lit)
				} else {
					m.always = true
				}
			}
			m.pats = append(m.pats, p)
		}
		return nil
	}
	if err := add(runbook.MatchFailure, failure); err != nil {
		return nil, err
	}
	if err := add(runbook.MatchSuccess, success); err != nil {
		return nil, err
	}
	if err := add(runbook.MatchWarn, warn); err != nil {
		return nil, err
	}
	return m, nil
}

// candidate reports whether raw may match some pattern; false means it is
// certainly a context record and need not be parsed.
func (m *matcher) candidate(raw []byte) bool {
	if m.always {
		return true
	}
	for i := range m.pats {
		if bytes.Contains(raw, m.pats[i].literal) {
			return true
		}
	}
	return false
}

// match classifies a parsed record. It returns the kind, the pattern and
// the variables of the first pattern that matches, failure before success
// before warning.
func (m *matcher) match(r *Record) (runbook.MatchKind, string, map[string]string) {
	if m.engine != "" && !inEngine(r, m.engine) {
		return runbook.MatchNone, "", nil
	}
	for i := range m.pats {
		p := &m.pats[i]
		var vars map[string]string
		if p.id != "" {
			if !matchID(r, p.id) {
				continue
			}
			vars = recordVars(r, nil, nil)
		} else {
			sub := p.re.FindStringSubmatch(r.Raw)
			if sub == nil {
				continue
			}
			vars = recordVars(r, p.re, sub)
		}
		if _, set := vars["engine"]; !set && m.engine != "" {
			vars["engine"] = m.engine // matched by the name in its text
		}
		return p.kind, p.src, vars
	}
	return runbook.MatchNone, "", nil
}

// matchID matches a message number against a WebSphere record's id, or, in
// a line of another format, against an id anywhere in it.
func matchID(r *Record, num string) bool {
	if r.MsgID != "" {
		return msgNumber(r.MsgID) == num
	}
	if r.WebSphere {
		return false
	}
	s := r.Raw
	for {
		i := strings.Index(s, num)
		if i < 0 {
			return false
		}
		before := i == 0 || !isWordByte(s[i-1])
		j := i + len(num)
		if j < len(s) && isUpper(s[j]) {
			j++
		}
		after := j == len(s) || !isWordByte(s[j])
		if before && after {
			return true
		}
		s = s[i+len(num):]
	}
}

func isWordByte(c byte) bool {
	return isDigit(c) || isUpper(c) || c >= 'a' && c <= 'z' || c == '_'
}

// inEngine reports whether the record belongs to the engine: its [BUS:ME]
// insert names it, or, when it has no engine insert, its text names it as a
// whole word ("Messaging engine: ME1 started").
func inEngine(r *Record, engine string) bool {
	if r.Engine != "" {
		return r.Engine == engine
	}
	return containsName(r.Raw, engine)
}

func isNameByte(c byte) bool { return isWordByte(c) || c == '-' || c == '.' }

// containsName finds name in s with no name character touching it (a
// sentence's full stop after it is allowed).
func containsName(s, name string) bool {
	for {
		i := strings.Index(s, name)
		if i < 0 {
			return false
		}
		j := i + len(name)
		before := i == 0 || !isNameByte(s[i-1])
		after := j == len(s) || !isNameByte(s[j]) ||
			s[j] == '.' && (j+1 == len(s) || !isNameByte(s[j+1]))
		if before && after {
			return true
		}
		s = s[i+1:]
	}
}

// recordVars returns the named capture groups, plus the record's msgid,
// engine and bus under those names when a group does not already set them
// (a watch scoped to an engine always sets engine).
func recordVars(r *Record, re *regexp.Regexp, sub []string) map[string]string {
	vars := map[string]string{}
	if re != nil {
		for i, name := range re.SubexpNames() {
			if name != "" && i < len(sub) {
				vars[name] = sub[i]
			}
		}
	}
	for k, v := range map[string]string{"msgid": r.MsgID, "engine": r.Engine, "bus": r.Bus} {
		if _, set := vars[k]; !set && v != "" {
			vars[k] = v
		}
	}
	return vars
}
