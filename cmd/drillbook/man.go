package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newManCmd(g *globalOptions) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write drillbook's man pages (drillbook.1, drillbook-run.1, ...) into a directory",
		Long: `man writes one man page per command, generated from the commands
themselves, into DIR. make install puts them in $(PREFIX)/share/man/man1;
on a system installed from a release binary:

  drillbook man --dir /usr/local/share/man/man1

The pages carry SOURCE_DATE_EPOCH's date when it is set, today's otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usagef("man: give the directory with --dir DIR")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usagef("man: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "DRILLBOOK", Section: "1", Source: "drillbook", Manual: "drillbook manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("write man pages into %s: %w", dir, err)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "drillbook*.1"))
			_, err := fmt.Fprintf(g.io.Out, "%d man pages in %s\n", len(pages), dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the directory to write the pages into (created if missing)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}
