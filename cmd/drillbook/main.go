// Command drillbook walks an operator through a documented broker recovery
// procedure, step by step, journaling everything. This package only wires
// flags to options and options to the runbook engine and the adapters.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/runbook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// streams are the process's standard files; tests replace them.
type streams struct {
	In       io.Reader
	Out      io.Writer
	Err      io.Writer
	Getenv   func(string) string
	Terminal func() bool // whether Out is a terminal
	// onRun, when set, is called with each plain-mode session and its
	// runner before the run starts; the crash tests hook the journal there.
	onRun func(*runbook.Session, *runbook.Runner)
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	io          streams
	stateDir    string
	targetsFile string
	runbookDirs []string
}

func main() {
	s := streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Terminal: func() bool { return isTerminal(os.Stdout) }}
	os.Exit(Main(os.Args[1:], s))
}

// Main runs drillbook with args and returns the exit code.
func Main(args []string, s streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	g := &globalOptions{io: s}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var st exitStatus
		if !errors.As(err, &st) || st.msg != "" {
			// A command the message suggests carries this drillbook's flags.
			fmt.Fprintf(s.Err, "drillbook: %s\n", g.withFlags(err.Error()))
		}
	}
	return exitCode(err)
}

func newRootCmd(g *globalOptions) *cobra.Command {
	var target string
	root := &cobra.Command{
		Use:   "drillbook",
		Short: "Walk through a broker recovery runbook, step by step, with a journal",
		Long: `drillbook walks an operator through a documented recovery procedure for a
message broker (WebSphere service integration, IBM IoT MessageSight, RabbitMQ):
it runs each step through an adapter, watches the server log for the message
that proves success, refuses destructive steps until they are confirmed, and
journals everything so a crashed terminal resumes and the journal becomes the
incident report.

With no command it opens the runbook picker on the built-in training target
(--target another; t in the picker switches).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHome(cmd.Context(), g, homeOptions{target: target})
		},
		Version: buildInfo().String(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Flags().StringVar(&target, "target", runbook.TrainingTarget, "the target the picker starts on (a name in targets.yaml, or training); t in the picker switches")
	pf := root.PersistentFlags()
	pf.StringVar(&g.stateDir, "state-dir", "", "where runs are journaled (default $DRILLBOOK_STATE_DIR, then $XDG_STATE_HOME/drillbook)")
	pf.StringVar(&g.targetsFile, "targets", "", "targets file (default $DRILLBOOK_TARGETS, then $XDG_CONFIG_HOME/drillbook/targets.yaml)")
	pf.StringArrayVar(&g.runbookDirs, "runbooks", nil, "a directory of runbook files to offer besides the shipped ones (repeatable)")
	root.AddCommand(
		newListCmd(g), newValidateCmd(g), newPlanCmd(g), newRunCmd(g), newResumeCmd(g),
		newRunsCmd(g), newReportCmd(g), newWatchCmd(g), newVersionCmd(g), newAgentCmd(g),
		newManCmd(g), newDocsCmd(g), newTargetsCmd(g), newBackupsCmd(g),
	)
	root.AddCommand(newHistoryCmd(g))
	root.AddCommand(newCompareCmd(g))
	registerCompletions(root, g)
	usageArgs(root)
	return root
}

// usageArgs makes the argument checks of c and its subcommands return
// usage errors (a wrong number of arguments, an unknown command), as the
// flag error function does for flags.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print drillbook's version: module version, revision, its time, and whether the tree was dirty",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return versionRun(g.io.Out)
		},
	}
}

// resolveStateDir applies --state-dir, $DRILLBOOK_STATE_DIR, then the XDG
// default.
func (g *globalOptions) resolveStateDir() (string, error) {
	if g.stateDir != "" {
		return g.stateDir, nil
	}
	if d := g.io.Getenv("DRILLBOOK_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := g.io.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "drillbook"), nil
	}
	home := g.io.Getenv("HOME")
	if home == "" {
		return "", usagef("no state directory: set --state-dir, DRILLBOOK_STATE_DIR or HOME")
	}
	return filepath.Join(home, ".local", "state", "drillbook"), nil
}

// resolveTargetsFile applies --targets, $DRILLBOOK_TARGETS, then the XDG
// default. The boolean says whether the user named the file (then it must
// exist).
func (g *globalOptions) resolveTargetsFile() (string, bool) {
	if g.targetsFile != "" {
		return g.targetsFile, true
	}
	if f := g.io.Getenv("DRILLBOOK_TARGETS"); f != "" {
		return f, true
	}
	dir := g.io.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		if home := g.io.Getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(dir, "drillbook", "targets.yaml"), false
}

func operator(getenv func(string) string) (name, host string) {
	name = getenv("DRILLBOOK_OPERATOR")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = getenv("USER")
		}
	}
	host, _ = os.Hostname()
	return name, host
}

func now() time.Time { return time.Now().UTC() }
