package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/messagesight"
	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
)

// newBackupsCmd lists the backup sets a target holds.
func newBackupsCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "backups [TARGET]",
		Short: "List the backup sets of a target, newest first, with their parts and whether each is sealed",
		Long: `backups lists, for each product section of the target (was, messagesight,
rabbitmq), the backup sets under its backup root (was.backup_root,
messagesight.backup_root, rabbitmq.backup_dir): each set's name, when its
backup started, whether it is sealed (a backup that completed and recorded
every part) or what is wrong with it, and its parts with their sizes and
times. A restore is offered the newest sealed set; an unsealed one only
with a reason. It reads files only: nothing in the estate changes.

TARGET defaults to training, whose sets are those the training runs made
under the state directory.

Exit codes: 0 listed, 1 a backup root could not be read, 2 bad usage or an
invalid target.`,
		Example: "  drillbook backups\n  drillbook backups prod-cell\n  drillbook backups ms-pair --format json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := runbook.TrainingTarget
			if len(args) == 1 {
				name = args[0]
			}
			if format != "text" && format != "json" {
				return usagef("backups: --format %q: use text or json", format)
			}
			return listBackups(cmd.Context(), g, name, format)
		},
		ValidArgsFunction: completeTargetArg(g),
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

// productBackups are the backup sets of one product section of a target.
type productBackups struct {
	Product string              `json:"product"`
	Setting string              `json:"setting"`
	Root    string              `json:"root"`
	Sets    []runbook.BackupSet `json:"sets"`
	Error   string              `json:"error,omitempty"`
}

// listBackups prints the backup sets of every product section of target.
func listBackups(ctx context.Context, g *globalOptions, name, format string) error {
	var cfg adapterConfigs
	var sections []string
	if name == runbook.TrainingTarget {
		state, err := g.resolveStateDir()
		if err != nil {
			return err
		}
		dir := func(part string) string { return filepath.Join(state, "training", part, "backups") }
		cfg.was.BackupRoot = dir("was")
		cfg.messagesight.BackupRoot = dir("messagesight")
		cfg.rabbitmq.BackupDir = dir("rabbitmq")
		sections = brokerSections
	} else {
		t, err := g.loadTarget(name)
		if err != nil {
			return err
		}
		if err := cfg.decode(t); err != nil {
			return err
		}
		if probs := hostSettingProblems(t, &cfg); len(probs) > 0 {
			return probs
		}
		// messagesight.backup_host, was.backup_host (or was.dmgr_host): the
		// sets are listed where they lie.
		hosts := host.NewSet(t, sshOptions())
		defer hosts.Close()
		cfg.useHosts(hosts)
		sections = t.Sections()
	}
	var all []productBackups
	for _, sec := range sections {
		var pb productBackups
		var sets []runbook.BackupSet
		var err error
		switch sec {
		case "was":
			pb = productBackups{Product: "was", Setting: "was.backup_root", Root: cfg.was.BackupRoot}
			if pb.Root != "" {
				sets, err = was.Backups(ctx, cfg.was)
			}
		case "messagesight":
			pb = productBackups{Product: "messagesight", Setting: "messagesight.backup_root", Root: cfg.messagesight.BackupRoot}
			if pb.Root != "" {
				sets, err = messagesight.Backups(ctx, cfg.messagesight)
			}
		case "rabbitmq":
			pb = productBackups{Product: "rabbitmq", Setting: "rabbitmq.backup_dir", Root: cfg.rabbitmq.BackupDir}
			if pb.Root != "" {
				sets, err = rabbitmq.Backups(ctx, cfg.rabbitmq)
			}
		default:
			continue
		}
		switch {
		case pb.Root == "":
			pb.Error = fmt.Sprintf("no backup root: set %s in the target", pb.Setting)
		case err != nil && errors.Is(err, fs.ErrNotExist):
			if _, serr := os.Stat(pb.Root); errors.Is(serr, fs.ErrNotExist) {
				err = nil // no backup has run yet: an empty list, said so below
			}
		}
		if err != nil {
			pb.Error = err.Error()
		}
		pb.Sets = sets
		if pb.Sets == nil {
			pb.Sets = []runbook.BackupSet{}
		}
		all = append(all, pb)
	}
	if format == "json" {
		enc := json.NewEncoder(g.io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Target   string           `json:"target"`
			Products []productBackups `json:"products"`
		}{name, all}); err != nil {
			return err
		}
	} else if err := printBackups(g.io.Out, name, all); err != nil {
		return err
	}
	failed := 0
	for _, pb := range all {
		if pb.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return exitStatus{code: exitFailed, msg: fmt.Sprintf("backups: %d of %d backup roots could not be listed", failed, len(all))}
	}
	return nil
}

// printBackups writes the listing for a person: each product's root, then
// each set on a line of its own with its state, and its parts beneath it.
func printBackups(w io.Writer, target string, all []productBackups) error {
	b := &strings.Builder{}
	if len(all) == 0 {
		fmt.Fprintf(b, "target %s has no was, messagesight or rabbitmq section: it holds no backup sets drillbook knows\n", target)
	}
	for i, pb := range all {
		if i > 0 {
			b.WriteString("\n")
		}
		switch {
		case pb.Error != "" && pb.Root == "":
			fmt.Fprintf(b, "%s: %s\n", pb.Product, pb.Error)
			continue
		case pb.Error != "":
			fmt.Fprintf(b, "%s (%s %s): %s\n", pb.Product, pb.Setting, pb.Root, pb.Error)
			if len(pb.Sets) == 0 {
				continue
			}
		case len(pb.Sets) == 0:
			fmt.Fprintf(b, "%s: no backup sets under %s yet\n", pb.Product, pb.Root)
			continue
		default:
			fmt.Fprintf(b, "%s: %d backup %s under %s, newest first\n", pb.Product, len(pb.Sets), plural(len(pb.Sets), "set", "sets"), pb.Root)
		}
		for _, s := range pb.Sets {
			state := "sealed"
			if !s.Sealed {
				state = "NOT SEALED"
			}
			where := ""
			if s.Host != "" && s.Host != runbook.LocalHost {
				where = " on " + s.Host
			}
			fmt.Fprintf(b, "  %s%s  taken %s  %s\n", s.Name, where, when(s.Taken), state)
			if s.Problem != "" {
				fmt.Fprintf(b, "      problem: %s\n", s.Problem)
			}
			for _, p := range s.Parts {
				size := "size unknown"
				if p.Size >= 0 {
					size = runbook.HumanSize(p.Size)
				}
				line := fmt.Sprintf("      %s: %s", p.Name, size)
				if !p.Taken.IsZero() {
					line += ", taken " + p.Taken.UTC().Format("15:04:05")
				}
				if p.Path != "" {
					line += " (" + p.Path + ")"
				}
				b.WriteString(line + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// when formats a set's time in UTC, or says it is unknown.
func when(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// plural picks the word for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
