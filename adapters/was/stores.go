package was

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

// configArchive is the configuration archive's name in a set.
const configArchive = "config.zip"

var (
	setArg    = arg("set", runbook.ArgString, true, "the backup set's directory")
	acceptArg = arg("accept_unsealed", runbook.ArgString, false, "restore from a set that is not sealed or is mixed: the reason, which the report records; empty refuses such a set")
)

func configOps(b Backend, cfg Config) []runbook.Operation {
	nostop := runbook.ArgSpec{Name: "nostop", Kind: runbook.ArgBool, Doc: "do not stop the servers of the profile's node first (-nostop)"}
	backup := &op{
		spec: runbook.OpSpec{
			Name:    "was.backup-config",
			Summary: "Back up the cell's master configuration with backupConfig -nostop in the deployment manager's profile into a backup set",
			// Always -nostop: without it backupConfig stops the servers of
			// the profile's node (IBM rxml_backupconfig), here the
			// deployment manager, an outage no step would have confirmed.
			// The runbook synchronises first and changes nothing while the
			// archive is written.
			Args: []runbook.ArgSpec{setArg},
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			return b.Plan(Request{Tool: ToolBackupConfig, Args: []string{filepath.Join(a.String("set"), configArchive), "true"}}), nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			dir := call.Args.String("set")
			m, err := ReadManifest(dir)
			if err != nil {
				return fail(err)
			}
			if !m.SealedAt.IsZero() {
				return fail(fmt.Errorf("the backup set %s is sealed: a backup never writes into a finished set; start a new one", dir))
			}
			file := filepath.Join(dir, configArchive)
			if _, err := statPath(file); err == nil {
				return fail(fmt.Errorf("%s already exists: a backup never overwrites an archive; start a new backup set", file))
			}
			rep, err := b.Do(ctx, Request{Tool: ToolBackupConfig, Args: []string{file, "true"}}, out)
			if err != nil {
				return fail(err, rep.Evidence...)
			}
			n, sum, err := sumFile(ctx, file)
			if err != nil {
				return fail(fmt.Errorf("backupConfig finished but wrote no archive at %s: %w", file, err), rep.Evidence...)
			}
			if err := addPart(dir, Part{Kind: "config", Name: configArchive, TakenAt: time.Now().UTC(),
				Files: []FileSum{{Path: configArchive, Size: n, SHA256: sum}}}); err != nil {
				return fail(err)
			}
			return runbook.Result{
				ExitCode: -1,
				Summary:  fmt.Sprintf("configuration archived in %s (%d bytes, sha256 %s)", file, n, sum[:12]),
				Vars:     map[string]string{"file": file, "sha256": sum},
				Evidence: rep.Evidence,
			}, nil
		},
	}
	restore := &op{
		spec: runbook.OpSpec{
			Name: "was.restore-config",
			Summary: "Restore the cell's master configuration from a backup set with restoreConfig in the deployment manager's profile " +
				"(renames the current config directory; without nostop it stops the deployment manager first)",
			Args:        []runbook.ArgSpec{cellArg, setArg, nostop, acceptArg},
			Destructive: true,
			Object:      "cell",
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			p := b.Plan(Request{Tool: ToolRestoreConfig, Args: []string{filepath.Join(a.String("set"), configArchive), fmt.Sprint(a.Bool("nostop"))}})
			prof, _ := b.Profile("")
			p.Object = fmt.Sprintf("the master configuration of cell %s, in %s", a.String("cell"), prof.Describe())
			if !a.Bool("nostop") {
				p.Object += "; the deployment manager is stopped first and stays stopped until it is started again"
			}
			return p, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			cell, dir := a.String("cell"), a.String("set")
			if c := b.Cell(); c == "" {
				return fail(fmt.Errorf("the target does not name its cell, so drillbook cannot check that %s is the cell it restores: set was.cell in targets.yaml", cell))
			} else if c != cell {
				return fail(fmt.Errorf("this target's cell is %s, not %s: nothing was restored; check the target (--target) and the cell", c, cell))
			}
			m, warn, err := checkSet(dir, a.String("accept_unsealed"))
			if err != nil {
				return fail(err)
			}
			if m.Cell != "" && m.Cell != cell {
				return fail(fmt.Errorf("the backup set %s was taken from cell %s, not %s: nothing was restored", dir, m.Cell, cell))
			}
			p, ok := m.findPart("config", configArchive)
			if !ok {
				return fail(fmt.Errorf("the backup set %s has no configuration archive: choose a set that holds one", dir))
			}
			if err := verifyPart(ctx, dir, p); err != nil {
				return fail(err)
			}
			file := filepath.Join(dir, configArchive)
			cells, err := archiveCells(file)
			if err != nil {
				return fail(err)
			}
			switch {
			case len(cells) == 0:
				warn = append(warn, "the archive names no cell (no cells/CELL entries): drillbook could not check that it is the configuration of "+cell)
			case !slices.Contains(cells, cell):
				return fail(fmt.Errorf("%s holds the configuration of cell %s, not %s: nothing was restored", file, strings.Join(cells, ", "), cell))
			}
			rep, err := b.Do(ctx, Request{Tool: ToolRestoreConfig, Args: []string{file, fmt.Sprint(a.Bool("nostop"))}}, out)
			if err != nil {
				return fail(err, rep.Evidence...)
			}
			summary := fmt.Sprintf("configuration of cell %s restored from %s (taken %s)", cell, file, p.TakenAt.Format(time.RFC3339))
			if !a.Bool("nostop") {
				summary += "; the deployment manager is stopped until it is started again"
			}
			return runbook.Result{ExitCode: -1, Summary: summary, Warnings: warn, Evidence: rep.Evidence}, nil
		},
	}
	return []runbook.Operation{backup, restore}
}

// dsArgv renders a data store command: its elements are templates over
// .engine, .dir and .schema.
func dsArgv(cfg Config, tmpl []string, engine, set, schema, kind string) ([]string, error) {
	if len(tmpl) == 0 {
		return nil, fmt.Errorf("no data store %s command for this target: set was.data_store.%s in targets.yaml (an argv for your database's tool)", kind, kind)
	}
	data := dsData(cfg, engine, set, schema)
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

func dsData(cfg Config, engine, set, schema string) map[string]string {
	return map[string]string{"engine": engine, "dir": dsDir(set, engine), "schema": orDefault(schema, orDefault(cfg.DataStore.Schema, "IBMWSSIB"))}
}

func dsDir(set, engine string) string { return filepath.Join(set, engine, "datastore") }

func storeOps(b Backend, cfg Config) []runbook.Operation {
	s := &opSet{b: b, cfg: cfg}
	engineArg := runbook.ArgSpec{Name: "engine", Kind: runbook.ArgString, Required: true, Doc: "the messaging engine whose store it is"}
	dirs := []runbook.ArgSpec{
		{Name: "log_dir", Kind: runbook.ArgString, Required: true, Doc: "the file store's log directory (holds Log)"},
		{Name: "store_dir", Kind: runbook.ArgString, Required: true, Doc: "the file store's store directory (holds PermanentStore and TemporaryStore)"},
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
			Summary: "Copy a stopped engine's file store (Log, PermanentStore, TemporaryStore together) into a backup set, with sizes and SHA-256",
			Args:    append(append([]runbook.ArgSpec{engineArg}, dirs...), setArg),
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			return copyPlan(func(i int) string { return fileStorePath(a, i) }, func(i int) string { return filepath.Join(a.String("set"), relOf(a.String("engine"), i)) }), nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, dest := a.String("engine"), a.String("set")
			var missing []string
			for i := range fileStoreFiles() {
				if err := isFile(fileStorePath(a, i)); err != nil {
					missing = append(missing, fileStorePath(a, i))
				}
			}
			if len(missing) > 0 {
				return fail(fmt.Errorf("file store of %s is incomplete (missing %s): the three files are only consistent together, so nothing was copied; check log_dir and store_dir", engine, strings.Join(missing, ", ")))
			}
			if _, err := ReadManifest(dest); err != nil {
				return fail(err)
			}
			part := Part{Kind: "filestore", Name: engine}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return fail(fmt.Errorf("file store copy of %s interrupted: %w", engine, err))
				}
				rel := relOf(engine, i)
				if _, err := statPath(filepath.Join(dest, rel)); err == nil {
					return fail(fmt.Errorf("%s already exists in the backup set: a backup never overwrites a copy; start a new backup set", rel))
				}
				n, sum, err := copyFile(ctx, filepath.Join(dest, rel), fileStorePath(a, i))
				if err != nil {
					return fail(fmt.Errorf("file store of %s: %w", engine, err))
				}
				out.Line(runbook.Info, fmt.Sprintf("copied %s (%d bytes, sha256 %s)", rel, n, sum[:12]))
				part.Files = append(part.Files, FileSum{Path: rel, Size: n, SHA256: sum})
			}
			part.TakenAt = time.Now().UTC()
			if err := addPart(dest, part); err != nil {
				return fail(err)
			}
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("file store of %s copied to %s (3 files)", engine, dest), Evidence: partEvidence(part)}, nil
		},
	}
	restoreFS := &op{
		spec: runbook.OpSpec{
			Name:        "was.restore-filestore",
			Summary:     "Put back a stopped engine's file store from a backup set after checking the set's seal and all three files",
			Args:        append(append([]runbook.ArgSpec{engineArg}, dirs...), setArg, acceptArg),
			Destructive: true,
			Object:      "engine",
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			p := copyPlan(func(i int) string { return filepath.Join(a.String("set"), relOf(a.String("engine"), i)) }, func(i int) string { return fileStorePath(a, i) })
			p.Object = fmt.Sprintf("the file store of messaging engine %s: %s and %s on localhost", a.String("engine"), a.String("log_dir"), a.String("store_dir"))
			return p, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, from := a.String("engine"), a.String("set")
			m, warn, err := checkSet(from, a.String("accept_unsealed"))
			if err != nil {
				return fail(err)
			}
			p, ok := m.findPart("filestore", engine)
			if !ok {
				return fail(fmt.Errorf("the backup set %s has no file store of %s: check the engine, or choose the set that holds it", from, engine))
			}
			if len(p.Files) != len(fileStoreFiles()) {
				return fail(fmt.Errorf("the backup of %s holds %d of the 3 file store files: a partial set cannot be restored", engine, len(p.Files)))
			}
			for _, d := range []string{a.String("log_dir"), a.String("store_dir")} {
				if err := isDir(d); err != nil {
					return fail(fmt.Errorf("file store of %s: %w: nothing was restored", engine, err))
				}
			}
			if err := s.requireStopped(ctx, engine, out); err != nil {
				return fail(err)
			}
			if err := verifyPart(ctx, from, p); err != nil {
				return fail(err)
			}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return fail(fmt.Errorf("file store restore of %s interrupted after %d of 3 files: run it again before starting the engine: %w", engine, i, err))
				}
				n, _, err := copyFile(ctx, fileStorePath(a, i), filepath.Join(from, relOf(engine, i)))
				if err != nil {
					return fail(fmt.Errorf("file store restore of %s stopped after %d of 3 files: run it again before starting the engine: %w", engine, i, err))
				}
				out.Line(runbook.Info, fmt.Sprintf("restored %s (%d bytes)", fileStorePath(a, i), n))
			}
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("file store of %s restored from the copy taken %s", engine, p.TakenAt.Format(time.RFC3339)), Warnings: warn, Evidence: partEvidence(p)}, nil
		},
	}

	dsArgs := []runbook.ArgSpec{engineArg, setArg,
		{Name: "schema", Kind: runbook.ArgString, Doc: "the data store schema; default from the target (IBMWSSIB)"}}
	// dsEnv is the command's environment: every secret the target reads
	// from the environment blanked, then the data store's own (templates
	// rendered), so the command holds no secret but its own.
	dsEnv := func(ctx context.Context, a runbook.Args) ([]string, []string, error) {
		var env, secrets []string
		data := dsData(cfg, a.String("engine"), a.String("set"), a.String("schema"))
		for _, k := range sortedKeys(cfg.DataStore.Env) {
			v, err := renderTemplate(cfg.DataStore.Env[k], data)
			if err != nil {
				return nil, nil, fmt.Errorf("was.data_store.env.%s: %w", k, err)
			}
			env = append(env, k+"="+v)
		}
		for _, k := range sortedKeys(cfg.DataStore.SecretEnv) {
			v, err := cfg.DataStore.SecretEnv[k].Resolve(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("was.data_store.secret_env.%s: %w", k, err)
			}
			env = append(env, k+"="+v)
			secrets = append(secrets, SecretForms(v)...)
		}
		secrets = append(secrets, passwordForms(ctx, cfg)...)
		return scrubbedEnv(secretEnvNames(cfg), env...), secrets, nil
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
			Summary: "Back up an engine's data store into a backup set with the database command the target defines, and record its files",
			Args:    dsArgs,
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			argv, err := dsArgv(cfg, cfg.DataStore.Backup, a.String("engine"), a.String("set"), a.String("schema"), "backup")
			if err != nil {
				return runbook.Plan{}, err
			}
			return runbook.Plan{Host: "localhost", Argv: argv}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, base := a.String("engine"), a.String("set")
			argv, err := dsArgv(cfg, cfg.DataStore.Backup, engine, base, a.String("schema"), "backup")
			if err != nil {
				return fail(err)
			}
			if _, err := ReadManifest(base); err != nil {
				return fail(err)
			}
			dir := dsDir(base, engine)
			if _, err := statPath(dir); err == nil {
				return fail(fmt.Errorf("%s already exists in the backup set: a backup never overwrites a copy; start a new backup set", dir))
			}
			if err := makeDirs(dir); err != nil {
				return fail(fmt.Errorf("data store backup directory: %w", err))
			}
			oc, err := runDS(ctx, a, argv, out)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("data store backup of %s: %w", engine, err)
			}
			files, err := sumTree(ctx, base, dir)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("list the data store backup: %w", err)
			}
			if len(files) == 0 {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("the data store backup command succeeded but wrote nothing in %s: make it write there ({{ .dir }})", dir)
			}
			part := Part{Kind: "datastore", Name: engine, TakenAt: time.Now().UTC(), Files: files}
			if err := addPart(base, part); err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, err
			}
			return runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("data store of %s backed up (%d files)", part.Name, len(files)), Evidence: partEvidence(part)}, nil
		},
	}
	restoreDS := &op{
		spec: runbook.OpSpec{
			Name:        "was.restore-datastore",
			Summary:     "Restore a stopped engine's data store from a backup set with the database command the target defines, after checking the set's seal and files",
			Args:        append(dsArgs, acceptArg),
			Destructive: true,
			Object:      "engine",
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			argv, err := dsArgv(cfg, cfg.DataStore.Restore, a.String("engine"), a.String("set"), a.String("schema"), "restore")
			if err != nil {
				return runbook.Plan{}, err
			}
			d := dsData(cfg, a.String("engine"), a.String("set"), a.String("schema"))
			return runbook.Plan{Host: "localhost", Argv: argv,
				Object: fmt.Sprintf("the data store (schema %s) of messaging engine %s, by the target's restore command on localhost", d["schema"], a.String("engine"))}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			base, engine := a.String("set"), a.String("engine")
			argv, err := dsArgv(cfg, cfg.DataStore.Restore, engine, base, a.String("schema"), "restore")
			if err != nil {
				return fail(err)
			}
			m, warn, err := checkSet(base, a.String("accept_unsealed"))
			if err != nil {
				return fail(err)
			}
			p, ok := m.findPart("datastore", engine)
			if !ok {
				return fail(fmt.Errorf("the backup set %s has no data store backup of %s: check the engine, or choose the set that holds it", base, engine))
			}
			if err := s.requireStopped(ctx, engine, out); err != nil {
				return fail(err)
			}
			if err := verifyPart(ctx, base, p); err != nil {
				return fail(err)
			}
			oc, err := runDS(ctx, a, argv, out)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("data store restore of %s: %w", engine, err)
			}
			return runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("data store of %s restored from the backup taken %s", engine, p.TakenAt.Format(time.RFC3339)), Warnings: warn, Evidence: partEvidence(p)}, nil
		},
	}
	return []runbook.Operation{backupFS, restoreFS, backupDS, restoreDS}
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
