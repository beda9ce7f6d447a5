package was

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// setOps are the backup set operations: a backup starts a new set under
// the target's backup root and seals it when every part is there; a
// restore finds a sealed set (the newest by default) and checks it before
// anything changes.
func setOps(b Backend, cfg Config) []runbook.Operation {
	newSetOp := &op{
		spec: runbook.OpSpec{
			Name:    "was.new-backup-set",
			Summary: "Start a new backup set: a new directory under the target's backup root, named by the time; never an existing one",
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			if cfg.BackupRoot == "" {
				return runbook.Plan{Detail: "no backup root: set was.backup_root in targets.yaml"}, nil
			}
			return runbook.Plan{Host: cfg.describe(cfg.backupHostName()), Detail: "make " + filepath.Join(cfg.BackupRoot, "<UTC time of the run, e.g. "+setName(time.Now())+">")}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			if cfg.BackupRoot == "" {
				return fail(fmt.Errorf("the target has no backup root: set was.backup_root in targets.yaml"))
			}
			h, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			dir, m, err := newSet(ctx, h, cfg.BackupRoot, b.Cell(), time.Now())
			if err != nil {
				return fail(err)
			}
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("new backup set %s (unsealed until every part is there)", dir),
				Vars: map[string]string{"dir": dir, "name": filepath.Base(dir), "set_id": m.SetID}}, nil
		},
	}

	checkRoot := &op{
		spec: runbook.OpSpec{
			Name: "was.check-backup-root", Summary: "Check that the backup root is a writable directory with room for a new set", ReadOnly: true,
			Args: []runbook.ArgSpec{{Name: "min_free_mb", Kind: runbook.ArgInt, Doc: "fail when less space than this is free (MB, default 100)"}},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			return runbook.Plan{Host: cfg.describe(cfg.backupHostName()), Detail: "check " + orDefault(cfg.BackupRoot, "<was.backup_root>")}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			if cfg.BackupRoot == "" {
				return fail(fmt.Errorf("the target has no backup root: set was.backup_root in targets.yaml"))
			}
			h, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			if err := writableDir(ctx, h, cfg.BackupRoot); err != nil {
				return fail(fmt.Errorf("backup root: %w", err))
			}
			free, err := freeBytes(ctx, h, cfg.BackupRoot)
			if err != nil {
				return fail(fmt.Errorf("backup root %s: %w", cfg.BackupRoot, err))
			}
			min := call.Args.Int("min_free_mb", 100)
			res := runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("backup root %s%s is writable with %d MB free", cfg.BackupRoot, onHost(h), free>>20)}
			if int64(free>>20) < min {
				return res, fmt.Errorf("backup root %s%s has %d MB free, less than %d MB: free some space or move was.backup_root", cfg.BackupRoot, onHost(h), free>>20, min)
			}
			return res, nil
		},
	}

	checkSetOp := &op{
		spec: runbook.OpSpec{
			Name: "was.check-backup-set",
			Summary: "Find the backup set to restore (the newest sealed one by default) and check it: present, sealed, not mixed, every file as recorded, " +
				"and holding the parts named",
			ReadOnly: true,
			Args: []runbook.ArgSpec{
				arg("set", runbook.ArgString, false, "a set's name under the backup root, or its directory; empty means the newest sealed set"),
				acceptArg,
				arg("datastore_engines", runbook.ArgList, false, "engines whose data store backup the set must hold"),
				arg("filestore_engines", runbook.ArgList, false, "engines whose file store backup the set must hold")},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			set := call.Args.String("set")
			if set == "" {
				set = "the newest sealed set under " + orDefault(cfg.BackupRoot, "<was.backup_root>")
			}
			return runbook.Plan{Host: cfg.describe(cfg.backupHostName()), Detail: "check " + set}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			h, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			dir, err := resolveSet(ctx, cfg, h, a.String("set"))
			if err != nil {
				return fail(err)
			}
			m, warn, err := checkSet(ctx, h, dir, a.String("accept_unsealed"))
			if err != nil {
				return fail(err)
			}
			if c := b.Cell(); c != "" && m.Cell != "" && m.Cell != c {
				return fail(fmt.Errorf("the backup set %s was taken from cell %s, not this target's cell %s", dir, m.Cell, c))
			}
			if _, ok := m.findPart("config", configArchive); !ok {
				return fail(fmt.Errorf("the backup set %s has no configuration archive: a restore always restores the configuration with the stores (seed 000)", dir))
			}
			var missing []string
			for _, e := range listArg(a, "datastore_engines") {
				if _, ok := m.findPart("datastore", e); !ok {
					missing = append(missing, "data store of "+e)
				}
			}
			for _, e := range listArg(a, "filestore_engines") {
				if _, ok := m.findPart("filestore", e); !ok {
					missing = append(missing, "file store of "+e)
				}
			}
			if len(missing) > 0 {
				return fail(fmt.Errorf("the backup set %s has no %s: choose a set that holds every store to restore", dir, strings.Join(missing, ", ")))
			}
			for _, p := range m.Parts {
				if err := verifyPart(ctx, h, dir, p); err != nil {
					return fail(err)
				}
			}
			return runbook.Result{ExitCode: -1, Warnings: warn,
				Summary: fmt.Sprintf("backup set %s (started %s, %d parts) is usable", dir, m.StartedAt.Format(time.RFC3339), len(m.Parts)),
				Vars:    map[string]string{"dir": dir, "name": filepath.Base(dir), "sealed": fmt.Sprint(!m.SealedAt.IsZero())}}, nil
		},
	}

	seal := &op{
		spec: runbook.OpSpec{
			Name:    "was.seal-backup",
			Summary: "Check that every part of a backup set is there and as recorded, and seal the set; only a sealed set is restored without an override",
			Args: []runbook.ArgSpec{
				setArg,
				{Name: "max_skew", Kind: runbook.ArgDuration, Doc: "warn when the parts are further apart than this (default 10m)"},
				{Name: "require", Kind: runbook.ArgList, Doc: "kinds that must be present (config, datastore, filestore)"},
				arg("datastore_engines", runbook.ArgList, false, "engines whose data store backup must be there"),
				arg("filestore_engines", runbook.ArgList, false, "engines whose file store backup must be there"),
			},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			return runbook.Plan{Host: cfg.describe(cfg.backupHostName()), Detail: "check every part of " + filepath.Join(call.Args.String("set"), ManifestName) + " and seal it"}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			dir := call.Args.String("set")
			h, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			m, err := ReadManifest(ctx, h, dir)
			if err != nil {
				return fail(err)
			}
			if len(m.Parts) == 0 {
				return fail(fmt.Errorf("no backup parts recorded in %s: the set stays unsealed", dir))
			}
			if prob := m.problem(); prob != "" && !strings.HasPrefix(prob, "not sealed") {
				return fail(fmt.Errorf("the backup set %s is %s: it stays unsealed", dir, prob))
			}
			for _, k := range listArg(call.Args, "require") {
				if !slices.ContainsFunc(m.Parts, func(p Part) bool { return p.Kind == k }) {
					return fail(fmt.Errorf("the backup set in %s has no %s part: it stays unsealed", dir, k))
				}
			}
			for kind, arg := range map[string]string{"datastore": "datastore_engines", "filestore": "filestore_engines"} {
				for _, e := range listArg(call.Args, arg) {
					if _, ok := m.findPart(kind, e); !ok {
						return fail(fmt.Errorf("the backup set in %s has no %s of %s: it stays unsealed", dir, kind, e))
					}
				}
			}
			var res runbook.Result
			first, last := m.Parts[0].TakenAt, m.Parts[0].TakenAt
			for _, p := range m.Parts {
				if err := verifyPart(ctx, h, dir, p); err != nil {
					return fail(err)
				}
				if p.TakenAt.Before(first) {
					first = p.TakenAt
				}
				if p.TakenAt.After(last) {
					last = p.TakenAt
				}
				res.Evidence = append(res.Evidence, fmt.Sprintf("%s %s taken %s (%d files)", p.Kind, p.Name, p.TakenAt.Format(time.RFC3339), len(p.Files)))
			}
			skew := last.Sub(first)
			max := call.Args.Duration("max_skew", 10*time.Minute)
			if skew > max {
				res.Warnings = append(res.Warnings, fmt.Sprintf("the parts were taken %s apart (more than %s): messages may be lost or duplicated on restore; take the configuration and stores together", skew.Round(time.Second), max))
			}
			if m.SealedAt.IsZero() {
				m.SealedAt = time.Now().UTC()
			}
			m.Skew = skew.Round(time.Millisecond).String()
			if err := writeManifest(ctx, h, dir, m); err != nil {
				return fail(err)
			}
			res.ExitCode = -1
			res.Summary = fmt.Sprintf("backup set %s sealed: %d parts within %s", dir, len(m.Parts), skew.Round(time.Millisecond))
			return res, nil
		},
	}
	return []runbook.Operation{newSetOp, checkRoot, checkSetOp, seal}
}

// resolveSet turns a set argument into its directory: empty is the newest
// sealed set under the backup root, a bare name is a set under it, a path
// is used as it is. The set is on h, the backup root's host.
func resolveSet(ctx context.Context, cfg Config, h host.Host, set string) (string, error) {
	switch {
	case set == "":
		return newestSealed(ctx, cfg)
	case !strings.ContainsRune(set, filepath.Separator):
		if cfg.BackupRoot == "" {
			return "", fmt.Errorf("backup set %q is a name, but the target has no backup root: give the set's directory, or set was.backup_root in targets.yaml", set)
		}
		set = filepath.Join(cfg.BackupRoot, set)
	}
	if err := isDir(ctx, h, set); err != nil {
		return "", fmt.Errorf("backup set: %w: drillbook backups lists the sets", err)
	}
	return set, nil
}
