package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/runbook"
)

// Hints are the drillbook commands printed for the operator to copy: a
// resume after a stop, a report after a run, the run that holds a lock. A
// hint carries the flags this drillbook was started with (the state
// directory, the targets file, the --runbooks directories, and for a
// resume --plain and --yes), absolute, so it works when copied into
// another shell or directory. It never carries a --confirm given before:
// a resume that reruns a destructive step asks for a new confirmation,
// which the operator types, not the hint.

// hintFlags returns the flags a copied command needs to find what this
// drillbook used: --state-dir and --targets when the operator chose them
// (by flag or environment), and each --runbooks directory.
func (g *globalOptions) hintFlags() []string {
	var out []string
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	if g.stateDir != "" || g.io.Getenv("DRILLBOOK_STATE_DIR") != "" {
		if dir, err := g.resolveStateDir(); err == nil {
			out = append(out, "--state-dir", abs(dir))
		}
	}
	if path, named := g.resolveTargetsFile(); named {
		out = append(out, "--targets", abs(path))
	}
	for _, d := range g.runbookDirs {
		out = append(out, "--runbooks", abs(d))
	}
	return out
}

// hintRE finds a drillbook command quoted in a message.
var hintRE = regexp.MustCompile("`drillbook ([a-z]+)([^`]*)`")

// withFlags rewrites every `drillbook ...` command quoted in msg so that it
// carries the flags this drillbook was started with; a resume also gets
// resumeFlags (--plain, --yes when the run had them).
func (g *globalOptions) withFlags(msg string, resumeFlags ...string) string {
	global := g.hintFlags()
	return hintRE.ReplaceAllStringFunc(msg, func(m string) string {
		sub := hintRE.FindStringSubmatch(m)
		verb, rest := sub[1], sub[2]
		if strings.TrimSpace(rest) == "" && slices.Contains([]string{"resume", "report", "run", "plan"}, verb) {
			return m // a command named in passing, not one to copy
		}
		flags := global
		if verb == "resume" {
			flags = append(append([]string{}, resumeFlags...), global...)
		}
		var add []string
		for i := 0; i < len(flags); i++ {
			f := flags[i]
			if strings.Contains(rest, " "+f+" ") || strings.HasSuffix(rest, " "+f) {
				if i+1 < len(flags) && !strings.HasPrefix(flags[i+1], "-") {
					i++
				}
				continue // the hint names it already
			}
			add = append(add, f)
		}
		if len(add) == 0 {
			return m
		}
		return "`drillbook " + verb + rest + " " + runbook.QuoteArgv(add) + "`"
	})
}

// command returns a drillbook command line to show, with the flags this
// drillbook was started with: command("report", id).
func (g *globalOptions) command(args ...string) string {
	return strings.Trim(g.withFlags("`drillbook "+runbook.QuoteArgv(args)+"`"), "`")
}

// planCommand is `drillbook plan` of a run as a command to copy: the run's
// own copy of its runbook, its target and the parameter values it was
// given (secrets left out: they come from the environment, never a flag).
func (g *globalOptions) planCommand(sess *runbook.Session) string {
	copyPath := filepath.Join(sess.Dir, runbook.RunbookCopy)
	if abs, err := filepath.Abs(copyPath); err == nil {
		copyPath = abs
	}
	args := []string{"plan", copyPath, "--target", sess.Meta.Target}
	names := make([]string, 0, len(sess.Meta.Params))
	for n := range sess.Meta.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p, ok := sess.Runbook.Param(n); !ok || p.Type == runbook.TypeSecret || slices.Contains(sess.Meta.SecretParams, n) {
			continue
		}
		v := sess.Meta.Params[n]
		switch x := v.(type) {
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			v = strings.Join(parts, ",")
		case []string:
			v = strings.Join(x, ",")
		}
		args = append(args, "--param", fmt.Sprintf("%s=%v", n, v))
	}
	return g.command(args...)
}
