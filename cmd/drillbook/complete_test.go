package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// freeFlags are the flags whose value is open (a pattern, a duration, a
// file name the shell completes): they need no completion function.
var freeFlags = []string{
	"watch --log", "watch --success", "watch --failure", "watch --warn", "watch --engine", "watch --timeout",
	"report --output", "run --run-note", "resume --run-note",
}

// TestEveryClosedSetCompletes walks every command and flag of drillbook: a
// flag that takes a value completes (or is listed above as open), and a
// command that takes arguments completes them, so a command or flag added
// later cannot be left completing file names by accident.
func TestEveryClosedSetCompletes(t *testing.T) {
	g := &globalOptions{io: osStreams()}
	root := newRootCmd(g)
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || strings.HasPrefix(c.Name(), "__") {
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" || f.Name == "help" || f.Name == "version" {
				return
			}
			name := c.Name() + " --" + f.Name
			if c == root {
				name = "--" + f.Name
			}
			checked++
			if _, ok := c.GetFlagCompletionFunc(f.Name); ok || slices.Contains(freeFlags, name) {
				return
			}
			_, files := f.Annotations[cobra.BashCompFilenameExt]
			_, dirs := f.Annotations[cobra.BashCompSubdirsInDir]
			if files || dirs {
				return
			}
			t.Errorf("%s has no completion: register one in registerCompletions (or list it in freeFlags if its value is open)", name)
		})
		if c.Runnable() && c.Args != nil && c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 {
			if err := c.Args(c, []string{"x"}); err == nil {
				t.Errorf("%s takes arguments but does not complete them", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if checked < 10 {
		t.Fatalf("checked %d flags: the walk found too few to prove anything", checked)
	}
}
