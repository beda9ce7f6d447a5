package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/adapters/host"
)

// newAgentCmd is `drillbook agent`, the far side of a remote host: another
// drillbook starts it over SSH and sends it requests on standard input.
func newAgentCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "agent",
		Short: "Serve a drillbook on another machine over SSH (started by drillbook, not by hand)",
		Long: `agent is what drillbook runs on a remote host, over SSH, to carry out the
steps of a run there: it starts processes (each argv passed to exec as it is,
never through a shell), reads, writes, copies and hashes files where they lie,
and follows logs by inode and offset. It reads requests on standard input
and answers on standard output, in drillbook's own protocol, until the
connection closes; then it ends every process group it started.

Install the same drillbook version on every host a targets.yaml names, in
the PATH of the SSH login or at the path given by agent: in targets.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f, ok := g.io.In.(*os.File); ok && isTerminal(f) {
				return usagef("drillbook agent serves another drillbook over SSH and is not run by hand: declare this host under hosts: in the targets.yaml of the drillbook that should reach it")
			}
			return host.Serve(cmd.Context(), g.io.In, g.io.Out, host.AgentOptions{Version: version})
		},
	}
}
