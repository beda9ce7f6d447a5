package was

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// fileStoreFile is one of the three files of a file store, which are only
// consistent together (reference §5.2).
type fileStoreFile struct{ dir, name string }

func fileStoreFiles() [3]fileStoreFile {
	return [3]fileStoreFile{{"log", "Log"}, {"store", "PermanentStore"}, {"store", "TemporaryStore"}}
}

func configOps(b Backend) []runbook.Operation {
	fileArg := runbook.ArgSpec{Name: "file", Kind: runbook.ArgString, Required: true, Doc: "the configuration archive (.zip)"}
	nostop := runbook.ArgSpec{Name: "nostop", Kind: runbook.ArgBool, Doc: "do not stop the node's servers first (-nostop)"}
	req := func(tool string, a runbook.Args) Request {
		return Request{Tool: tool, Args: []string{a.String("file"), fmt.Sprint(a.Bool("nostop"))}}
	}
	backup := &op{
		spec: runbook.OpSpec{
			Name:    "was.backup-config",
			Summary: "Back up the node's configuration with backupConfig (stops the node's servers unless nostop)",
			Args:    []runbook.ArgSpec{fileArg, nostop},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) { return b.Plan(req(ToolBackupConfig, call.Args)), nil },
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			file := call.Args.String("file")
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("backup directory: %w", err)
			}
			rep, err := b.Do(ctx, req(ToolBackupConfig, call.Args), out)
			if err != nil {
				return runbook.Result{ExitCode: -1, Evidence: rep.Evidence}, err
			}
			n, sum, err := sumFile(ctx, file)
			if err != nil {
				return runbook.Result{ExitCode: -1, Evidence: rep.Evidence}, fmt.Errorf("backupConfig finished but wrote no archive at %s: %w", file, err)
			}
			dir := filepath.Dir(file)
			if err := addPart(dir, Part{Kind: "config", Name: filepath.Base(file), TakenAt: time.Now().UTC(),
				Files: []FileSum{{Path: filepath.Base(file), Size: n, SHA256: sum}}}); err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			return runbook.Result{
				Summary:  fmt.Sprintf("configuration archived in %s (%d bytes, sha256 %s)", file, n, sum[:12]),
				Vars:     map[string]string{"file": file, "sha256": sum},
				Evidence: rep.Evidence,
			}, nil
		},
	}
	restore := &op{
		spec: runbook.OpSpec{
			Name:        "was.restore-config",
			Summary:     "Restore the configuration with restoreConfig (renames the current config directory; stops the node's servers unless nostop)",
			Args:        []runbook.ArgSpec{fileArg, nostop},
			Destructive: true,
		},
		plan: func(call runbook.Call) (runbook.Plan, error) { return b.Plan(req(ToolRestoreConfig, call.Args)), nil },
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			file := call.Args.String("file")
			var warn []string
			m, err := ReadManifest(filepath.Dir(file))
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			if p, ok := m.findPart("config", filepath.Base(file)); ok {
				if err := verifyPart(ctx, filepath.Dir(file), p); err != nil {
					return runbook.Result{ExitCode: -1}, err
				}
			} else if _, err := os.Stat(file); err != nil {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("configuration archive %s: %w", file, err)
			} else {
				warn = append(warn, "no drillbook manifest records this archive: its integrity and its time cannot be checked")
			}
			rep, err := b.Do(ctx, req(ToolRestoreConfig, call.Args), out)
			if err != nil {
				return runbook.Result{ExitCode: -1, Evidence: rep.Evidence}, err
			}
			return runbook.Result{Summary: "configuration restored from " + file, Warnings: warn, Evidence: rep.Evidence}, nil
		},
	}
	return []runbook.Operation{backup, restore}
}

func storeOps(cfg Config) []runbook.Operation {
	engineArg := runbook.ArgSpec{Name: "engine", Kind: runbook.ArgString, Required: true, Doc: "the messaging engine whose store it is"}
	dirs := []runbook.ArgSpec{
		{Name: "log_dir", Kind: runbook.ArgString, Required: true, Doc: "the file store's log directory (holds Log)"},
		{Name: "store_dir", Kind: runbook.ArgString, Required: true, Doc: "the file store's store directory (holds PermanentStore and TemporaryStore)"},
	}
	srcOf := func(a runbook.Args, i int) string {
		f := fileStoreFiles()[i]
		if f.dir == "log" {
			return filepath.Join(a.String("log_dir"), f.name)
		}
		return filepath.Join(a.String("store_dir"), f.name)
	}
	relOf := func(engine string, i int) string {
		return filepath.Join(engine, "filestore", fileStoreFiles()[i].dir, fileStoreFiles()[i].name)
	}
	copyPlan := func(from, to func(int) string) runbook.Plan {
		var lines []string
		for i := range fileStoreFiles() {
			lines = append(lines, from(i)+" -> "+to(i))
		}
		return runbook.Plan{Host: "localhost", Detail: "copy " + strings.Join(lines, "; ")}
	}

	backupFS := &op{
		spec: runbook.OpSpec{
			Name:    "was.backup-filestore",
			Summary: "Copy a stopped engine's file store (Log, PermanentStore, TemporaryStore together) with a manifest of sizes and SHA-256",
			Args:    append(append([]runbook.ArgSpec{engineArg}, dirs...), runbook.ArgSpec{Name: "dest", Kind: runbook.ArgString, Required: true, Doc: "the backup set directory"}),
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			return copyPlan(func(i int) string { return srcOf(a, i) }, func(i int) string { return filepath.Join(a.String("dest"), relOf(a.String("engine"), i)) }), nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, dest := a.String("engine"), a.String("dest")
			var missing []string
			for i := range fileStoreFiles() {
				if _, err := os.Stat(srcOf(a, i)); err != nil {
					missing = append(missing, srcOf(a, i))
				}
			}
			if len(missing) > 0 {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("file store of %s is incomplete (missing %s): the three files are only consistent together, so nothing was copied; check log_dir and store_dir", engine, strings.Join(missing, ", "))
			}
			part := Part{Kind: "filestore", Name: engine}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("file store copy of %s interrupted: %w", engine, err)
				}
				rel := relOf(engine, i)
				n, sum, err := copyFile(ctx, filepath.Join(dest, rel), srcOf(a, i))
				if err != nil {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("file store of %s: %w", engine, err)
				}
				out.Line(runbook.Info, fmt.Sprintf("copied %s (%d bytes, sha256 %s)", rel, n, sum[:12]))
				part.Files = append(part.Files, FileSum{Path: rel, Size: n, SHA256: sum})
			}
			part.TakenAt = time.Now().UTC()
			if err := addPart(dest, part); err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("file store of %s copied to %s (3 files)", engine, dest), Evidence: partEvidence(part)}, nil
		},
	}
	restoreFS := &op{
		spec: runbook.OpSpec{
			Name:        "was.restore-filestore",
			Summary:     "Put back a file store from a backup set after checking all three files against the manifest",
			Args:        append(append([]runbook.ArgSpec{engineArg}, dirs...), runbook.ArgSpec{Name: "from", Kind: runbook.ArgString, Required: true, Doc: "the backup set directory"}),
			Destructive: true,
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			return copyPlan(func(i int) string { return filepath.Join(a.String("from"), relOf(a.String("engine"), i)) }, func(i int) string { return srcOf(a, i) }), nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, from := a.String("engine"), a.String("from")
			m, err := ReadManifest(from)
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			p, ok := m.findPart("filestore", engine)
			if !ok {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("the backup set %s has no file store of %s: choose the set that holds it", from, engine)
			}
			if len(p.Files) != len(fileStoreFiles()) {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("the backup of %s holds %d of the 3 file store files: a partial set cannot be restored", engine, len(p.Files))
			}
			if err := verifyPart(ctx, from, p); err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("file store restore of %s interrupted after %d of 3 files: run it again before starting the engine: %w", engine, i, err)
				}
				n, _, err := copyFile(ctx, srcOf(a, i), filepath.Join(from, relOf(engine, i)))
				if err != nil {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("file store restore of %s stopped after %d of 3 files: run it again before starting the engine: %w", engine, i, err)
				}
				out.Line(runbook.Info, fmt.Sprintf("restored %s (%d bytes)", srcOf(a, i), n))
			}
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("file store of %s restored from the copy taken %s", engine, p.TakenAt.Format(time.RFC3339)), Evidence: partEvidence(p)}, nil
		},
	}

	dsArgs := []runbook.ArgSpec{engineArg,
		{Name: "dir", Kind: runbook.ArgString, Required: true, Doc: "the backup set directory"},
		{Name: "schema", Kind: runbook.ArgString, Doc: "the data store schema; default from the target (IBMWSSIB)"}}
	dsDir := func(a runbook.Args) string { return filepath.Join(a.String("dir"), a.String("engine"), "datastore") }
	dsArgv := func(tmpl []string, a runbook.Args, kind string) ([]string, error) {
		if len(tmpl) == 0 {
			return nil, fmt.Errorf("no data store %s command for this target: set was.data_store.%s in targets.yaml (an argv for your database's tool)", kind, kind)
		}
		schema := orDefault(a.String("schema"), orDefault(cfg.DataStore.Schema, "IBMWSSIB"))
		data := map[string]string{"engine": a.String("engine"), "dir": dsDir(a), "schema": schema}
		out := make([]string, len(tmpl))
		for i, t := range tmpl {
			s, err := renderTemplate(t, data)
			if err != nil {
				return nil, fmt.Errorf("was.data_store.%s[%d]: %w", kind, i, err)
			}
			out[i] = s
		}
		return out, nil
	}
	dsEnv := func(ctx context.Context, a runbook.Args) ([]string, []string, error) {
		var env, secrets []string
		data := map[string]string{"engine": a.String("engine"), "dir": dsDir(a), "schema": orDefault(a.String("schema"), orDefault(cfg.DataStore.Schema, "IBMWSSIB"))}
		for k, v := range cfg.DataStore.Env {
			s, err := renderTemplate(v, data)
			if err != nil {
				return nil, nil, fmt.Errorf("was.data_store.env.%s: %w", k, err)
			}
			env = append(env, k+"="+s)
		}
		for k, ref := range cfg.DataStore.SecretEnv {
			s, err := ref.Resolve(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("was.data_store.secret_env.%s: %w", k, err)
			}
			env = append(env, k+"="+s)
			secrets = append(secrets, s)
		}
		return env, secrets, nil
	}
	dsTimeout := func() time.Duration {
		if cfg.DataStore.Timeout.Duration > 0 {
			return cfg.DataStore.Timeout.Duration
		}
		return time.Hour
	}
	runDS := func(ctx context.Context, a runbook.Args, argv []string, out runbook.Output) (proc.Outcome, error) {
		env, secrets, err := dsEnv(ctx, a)
		if err != nil {
			return proc.Outcome{}, err
		}
		ctx, cancel := withTimeout(ctx, dsTimeout())
		defer cancel()
		oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Env: env, Secrets: secrets, Out: out})
		if err != nil && ctx.Err() != nil {
			return oc, fmt.Errorf("data store command did not finish within its time and was stopped: %w", ctx.Err())
		}
		return oc, err
	}
	backupDS := &op{
		spec: runbook.OpSpec{
			Name:    "was.backup-datastore",
			Summary: "Back up an engine's data store with the database command the target defines, and record its files",
			Args:    dsArgs,
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			argv, err := dsArgv(cfg.DataStore.Backup, call.Args, "backup")
			if err != nil {
				return runbook.Plan{}, err
			}
			return runbook.Plan{Host: "localhost", Argv: argv}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			argv, err := dsArgv(cfg.DataStore.Backup, call.Args, "backup")
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			dir := dsDir(call.Args)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("data store backup directory: %w", err)
			}
			oc, err := runDS(ctx, call.Args, argv, out)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("data store backup of %s: %w", call.Args.String("engine"), err)
			}
			base := call.Args.String("dir")
			files, err := sumTree(ctx, base, dir)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("list the data store backup: %w", err)
			}
			if len(files) == 0 {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("the data store backup command succeeded but wrote nothing in %s: make it write there ({{ .dir }})", dir)
			}
			part := Part{Kind: "datastore", Name: call.Args.String("engine"), TakenAt: time.Now().UTC(), Files: files}
			if err := addPart(base, part); err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, err
			}
			return runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("data store of %s backed up (%d files)", part.Name, len(files)), Evidence: partEvidence(part)}, nil
		},
	}
	restoreDS := &op{
		spec: runbook.OpSpec{
			Name:        "was.restore-datastore",
			Summary:     "Restore an engine's data store with the database command the target defines, after checking the backup's files",
			Args:        dsArgs,
			Destructive: true,
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			argv, err := dsArgv(cfg.DataStore.Restore, call.Args, "restore")
			if err != nil {
				return runbook.Plan{}, err
			}
			return runbook.Plan{Host: "localhost", Argv: argv}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			argv, err := dsArgv(cfg.DataStore.Restore, call.Args, "restore")
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			base, engine := call.Args.String("dir"), call.Args.String("engine")
			m, err := ReadManifest(base)
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			p, ok := m.findPart("datastore", engine)
			if !ok {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("the backup set %s has no data store backup of %s: choose the set that holds it", base, engine)
			}
			if err := verifyPart(ctx, base, p); err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			oc, err := runDS(ctx, call.Args, argv, out)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("data store restore of %s: %w", engine, err)
			}
			return runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("data store of %s restored from the backup taken %s", engine, p.TakenAt.Format(time.RFC3339)), Evidence: partEvidence(p)}, nil
		},
	}
	seal := &op{
		spec: runbook.OpSpec{
			Name:    "was.seal-backup",
			Summary: "Check that a backup set's parts were taken close together and record the set's time span",
			Args: []runbook.ArgSpec{
				{Name: "dir", Kind: runbook.ArgString, Required: true, Doc: "the backup set directory"},
				{Name: "max_skew", Kind: runbook.ArgDuration, Doc: "warn when the parts are further apart than this (default 10m)"},
				{Name: "require", Kind: runbook.ArgList, Doc: "kinds that must be present (config, datastore, filestore)"},
			},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			return runbook.Plan{Host: "localhost", Detail: "check every part of " + filepath.Join(call.Args.String("dir"), ManifestName)}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			dir := call.Args.String("dir")
			m, err := ReadManifest(dir)
			if err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			if len(m.Parts) == 0 {
				return runbook.Result{ExitCode: -1}, fmt.Errorf("no backup parts recorded in %s", dir)
			}
			for _, k := range listArg(call.Args, "require") {
				found := false
				for _, p := range m.Parts {
					found = found || p.Kind == k
				}
				if !found {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("the backup set in %s has no %s part", dir, k)
				}
			}
			var res runbook.Result
			first, last := m.Parts[0].TakenAt, m.Parts[0].TakenAt
			for _, p := range m.Parts {
				if err := verifyPart(ctx, dir, p); err != nil {
					return runbook.Result{ExitCode: -1}, err
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
			m.SealedAt, m.Skew = time.Now().UTC(), skew.Round(time.Millisecond).String()
			if err := writeManifest(dir, m); err != nil {
				return runbook.Result{ExitCode: -1}, err
			}
			res.ExitCode = -1
			res.Summary = fmt.Sprintf("backup set %s: %d parts within %s", dir, len(m.Parts), skew.Round(time.Millisecond))
			return res, nil
		},
	}
	return []runbook.Operation{backupFS, restoreFS, backupDS, restoreDS, seal}
}

func partEvidence(p Part) []string {
	var ev []string
	for _, f := range p.Files {
		ev = append(ev, fmt.Sprintf("%s %d bytes sha256 %s", f.Path, f.Size, f.SHA256))
	}
	return ev
}

func renderTemplate(text string, data map[string]string) (string, error) {
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
