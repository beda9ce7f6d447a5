package messagesight

import (
	"sort"

	"github.com/drillbook/drillbook/runbook"
)

// A node under messagesight.nodes takes the section's user, password and
// ca_file when it leaves them out, so an HA pair administered by one user
// through one CA is written once. Its url is its own, and so is pin_sha256:
// a pin names one server's certificate, and the other node's differs.
// `drillbook targets check` shows what each node inherits.

// Config tells targets check what its nodes inherit.
var _ runbook.Inheritor = Config{}

// Inherited lists, node by node, the settings a node takes from the
// section because it leaves them out (runbook.Inheritor).
func (c Config) Inherited() []runbook.Inheritance {
	names := make([]string, 0, len(c.Nodes))
	for n := range c.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []runbook.Inheritance
	for _, n := range names {
		s := c.Nodes[n]
		add := func(field, shown string) {
			out = append(out, runbook.Inheritance{Entry: "messagesight.nodes." + n, Setting: field, From: "messagesight." + field, Value: shown})
		}
		if s.User == "" && c.User != "" {
			add("user", c.User)
		}
		if s.Password.IsZero() && !c.Password.IsZero() {
			add("password", c.Password.String())
		}
		if s.CAFile == "" && c.CAFile != "" {
			add("ca_file", c.CAFile)
		}
	}
	return out
}
