package was

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
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
	setArg       = arg("set", runbook.ArgString, true, "the backup set's directory")
	nodeStoreArg = arg("node", runbook.ArgString, false, "the node of the server whose engine owns the file store: its files are on that node's host (was.nodes.NODE.host); empty means the deployment manager's host")
	acceptArg    = arg("accept_unsealed", runbook.ArgString, false, "restore from a set that is not sealed or is mixed: the reason, which the report records; empty refuses such a set")
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
			bh, dh, err := cfg.configHosts()
			if err != nil {
				return fail(err)
			}
			m, err := ReadManifest(ctx, bh, dir)
			if err != nil {
				return fail(err)
			}
			if !m.SealedAt.IsZero() {
				return fail(fmt.Errorf("the backup set %s is sealed: a backup never writes into a finished set; start a new one", dir))
			}
			file := filepath.Join(dir, configArchive)
			if _, err := statPath(ctx, bh, file); err == nil {
				return fail(fmt.Errorf("%s%s already exists: a backup never overwrites an archive; start a new backup set", file, onHost(bh)))
			}
			// backupConfig writes on the deployment manager's host: when
			// the backup root is elsewhere it writes to a new directory
			// there, and the archive is then copied into the set.
			target, cleanup, err := stageOn(ctx, dh, bh, file)
			if err != nil {
				return fail(err)
			}
			defer cleanup()
			rep, err := b.Do(ctx, Request{Tool: ToolBackupConfig, Args: []string{target, "true"}}, out)
			if err != nil {
				return fail(err, rep.Evidence...)
			}
			if target != file {
				if _, _, err := copyFile(ctx, bh, file, dh, target); err != nil {
					return fail(fmt.Errorf("backupConfig wrote %s on host %s, but it could not be copied into the backup set on host %s: %w", target, dh.Name(), bh.Name(), err), rep.Evidence...)
				}
				out.Line(runbook.Info, fmt.Sprintf("copied the archive from %s on host %s to %s on host %s", target, dh.Name(), file, bh.Name()))
			}
			n, sum, err := sumFile(ctx, bh, file)
			if err != nil {
				return fail(fmt.Errorf("backupConfig finished but wrote no archive at %s: %w", file, err), rep.Evidence...)
			}
			if err := addPart(ctx, bh, dir, Part{Kind: "config", Name: configArchive, TakenAt: time.Now().UTC(),
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
			bh, dh, err := cfg.configHosts()
			if err != nil {
				return fail(err)
			}
			m, warn, err := checkSet(ctx, bh, dir, a.String("accept_unsealed"))
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
			if err := verifyPart(ctx, bh, dir, p); err != nil {
				return fail(err)
			}
			file := filepath.Join(dir, configArchive)
			// restoreConfig reads the archive on the deployment manager's
			// host: from a backup root elsewhere it is first copied to a
			// new directory there, checked against the recorded SHA-256.
			src, cleanup, err := stageOn(ctx, dh, bh, file)
			if err != nil {
				return fail(err)
			}
			defer cleanup()
			if src != file {
				_, sum, err := copyFile(ctx, dh, src, bh, file)
				if err != nil {
					return fail(fmt.Errorf("copy the archive to the deployment manager's host %s: %w: nothing was restored", dh.Name(), err))
				}
				if sum != p.Files[0].SHA256 {
					return fail(fmt.Errorf("the archive copied to host %s has SHA-256 %s, not the %s recorded in the set: nothing was restored", dh.Name(), sum, p.Files[0].SHA256))
				}
			}
			cells, err := archiveCells(ctx, dh, src)
			if err != nil {
				return fail(err)
			}
			switch {
			case len(cells) == 0:
				warn = append(warn, "the archive names no cell (no cells/CELL entries): drillbook could not check that it is the configuration of "+cell)
			case !slices.Contains(cells, cell):
				return fail(fmt.Errorf("%s holds the configuration of cell %s, not %s: nothing was restored", file, strings.Join(cells, ", "), cell))
			}
			rep, err := b.Do(ctx, Request{Tool: ToolRestoreConfig, Args: []string{src, fmt.Sprint(a.Bool("nostop"))}}, out)
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
		nodeStoreArg,
	}
	relOf := func(engine string, i int) string {
		return filepath.Join(engine, "filestore", fileStoreFiles()[i].dir, fileStoreFiles()[i].name)
	}
	copyPlan := func(from, to func(int) string, fromHost, toHost string) runbook.Plan {
		var lines []string
		for i := range fileStoreFiles() {
			lines = append(lines, from(i)+" -> "+to(i))
		}
		d := "copy " + strings.Join(lines, "; ")
		if fromHost != toHost {
			d += fmt.Sprintf("; from host %s to host %s, streamed through drillbook and checked by SHA-256", cfg.describe(fromHost), cfg.describe(toHost))
		}
		return runbook.Plan{Host: cfg.describe(toHost), Detail: d}
	}

	backupFS := &op{
		spec: runbook.OpSpec{
			Name:    "was.backup-filestore",
			Summary: "Copy a stopped engine's file store (Log, PermanentStore, TemporaryStore together) into a backup set, with sizes and SHA-256",
			Args:    append(append([]runbook.ArgSpec{engineArg}, dirs...), setArg),
		},
		plan: func(call runbook.Call) (runbook.Plan, error) {
			a := call.Args
			return copyPlan(func(i int) string { return fileStorePath(a, i) }, func(i int) string { return filepath.Join(a.String("set"), relOf(a.String("engine"), i)) },
				cfg.storeHostName(a.String("node")), cfg.backupHostName()), nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, dest := a.String("engine"), a.String("set")
			sh, err := cfg.storeHost(a.String("node"))
			if err != nil {
				return fail(err)
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			var missing []string
			for i := range fileStoreFiles() {
				if err := isFile(ctx, sh, fileStorePath(a, i)); err != nil {
					missing = append(missing, fileStorePath(a, i))
				}
			}
			if len(missing) > 0 {
				return fail(fmt.Errorf("file store of %s is incomplete (missing %s%s): the three files are only consistent together, so nothing was copied; check log_dir, store_dir and node", engine, strings.Join(missing, ", "), onHost(sh)))
			}
			if _, err := ReadManifest(ctx, bh, dest); err != nil {
				return fail(err)
			}
			part := Part{Kind: "filestore", Name: engine}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return fail(fmt.Errorf("file store copy of %s interrupted: %w", engine, err))
				}
				rel := relOf(engine, i)
				if _, err := statPath(ctx, bh, filepath.Join(dest, rel)); err == nil {
					return fail(fmt.Errorf("%s already exists in the backup set: a backup never overwrites a copy; start a new backup set", rel))
				}
				n, sum, err := copyFile(ctx, bh, filepath.Join(dest, rel), sh, fileStorePath(a, i))
				if err != nil {
					return fail(fmt.Errorf("file store of %s: %w", engine, err))
				}
				out.Line(runbook.Info, fmt.Sprintf("copied %s (%d bytes, sha256 %s)", rel, n, sum[:12]))
				part.Files = append(part.Files, FileSum{Path: rel, Size: n, SHA256: sum})
			}
			part.TakenAt = time.Now().UTC()
			if err := addPart(ctx, bh, dest, part); err != nil {
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
			p := copyPlan(func(i int) string { return filepath.Join(a.String("set"), relOf(a.String("engine"), i)) }, func(i int) string { return fileStorePath(a, i) },
				cfg.backupHostName(), cfg.storeHostName(a.String("node")))
			p.Object = fmt.Sprintf("the file store of messaging engine %s: %s and %s on %s", a.String("engine"), a.String("log_dir"), a.String("store_dir"), cfg.describe(cfg.storeHostName(a.String("node"))))
			return p, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, from := a.String("engine"), a.String("set")
			sh, err := cfg.storeHost(a.String("node"))
			if err != nil {
				return fail(err)
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			m, warn, err := checkSet(ctx, bh, from, a.String("accept_unsealed"))
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
				if err := isDir(ctx, sh, d); err != nil {
					return fail(fmt.Errorf("file store of %s: %w: nothing was restored", engine, err))
				}
			}
			if err := s.requireStopped(ctx, engine, out); err != nil {
				return fail(err)
			}
			if err := verifyPart(ctx, bh, from, p); err != nil {
				return fail(err)
			}
			for i := range fileStoreFiles() {
				if err := ctx.Err(); err != nil {
					return fail(fmt.Errorf("file store restore of %s interrupted after %d of 3 files: run it again before starting the engine: %w", engine, i, err))
				}
				n, _, err := copyFile(ctx, sh, fileStorePath(a, i), bh, filepath.Join(from, relOf(engine, i)))
				if err != nil {
					return fail(fmt.Errorf("file store restore of %s stopped after %d of 3 files: run it again before starting the engine: %w", engine, i, err))
				}
				out.Line(runbook.Info, fmt.Sprintf("restored %s%s (%d bytes)", fileStorePath(a, i), onHost(sh), n))
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
	// runDS runs a data store command on its host (Config.DataStore.Host),
	// the backup root's, where .dir is.
	runDS := func(ctx context.Context, a runbook.Args, argv []string, out runbook.Output) (host.Outcome, error) {
		env, secrets, err := dsEnv(ctx, a)
		if err != nil {
			return host.Outcome{}, err
		}
		h, err := cfg.dataStoreHost()
		if err != nil {
			return host.Outcome{}, err
		}
		ctx, cancel := withTimeout(ctx, dsTimeout())
		defer cancel()
		oc, err := h.Run(ctx, host.Command{Argv: argv, Env: env, Secrets: secrets, Out: out})
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
			return runbook.Plan{Host: cfg.describe(cfg.dataStoreHostName()), Argv: argv}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			engine, base := a.String("engine"), a.String("set")
			argv, err := dsArgv(cfg, cfg.DataStore.Backup, engine, base, a.String("schema"), "backup")
			if err != nil {
				return fail(err)
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			if _, err := ReadManifest(ctx, bh, base); err != nil {
				return fail(err)
			}
			dir := dsDir(base, engine)
			if _, err := statPath(ctx, bh, dir); err == nil {
				return fail(fmt.Errorf("%s%s already exists in the backup set: a backup never overwrites a copy; start a new backup set", dir, onHost(bh)))
			}
			if err := makeDirs(ctx, bh, dir); err != nil {
				return fail(fmt.Errorf("data store backup directory: %w", err))
			}
			oc, err := runDS(ctx, a, argv, out)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("data store backup of %s: %w", engine, err)
			}
			files, err := sumTree(ctx, bh, base, dir)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("list the data store backup: %w", err)
			}
			if len(files) == 0 {
				return runbook.Result{ExitCode: oc.ExitCode}, fmt.Errorf("the data store backup command succeeded but wrote nothing in %s: make it write there ({{ .dir }})", dir)
			}
			part := Part{Kind: "datastore", Name: engine, TakenAt: time.Now().UTC(), Files: files}
			if err := addPart(ctx, bh, base, part); err != nil {
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
			where := cfg.describe(cfg.dataStoreHostName())
			return runbook.Plan{Host: where, Argv: argv,
				Object: fmt.Sprintf("the data store (schema %s) of messaging engine %s, by the target's restore command on %s", d["schema"], a.String("engine"), where)}, nil
		},
		run: func(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			a := call.Args
			base, engine := a.String("set"), a.String("engine")
			argv, err := dsArgv(cfg, cfg.DataStore.Restore, engine, base, a.String("schema"), "restore")
			if err != nil {
				return fail(err)
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return fail(err)
			}
			m, warn, err := checkSet(ctx, bh, base, a.String("accept_unsealed"))
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
			if err := verifyPart(ctx, bh, base, p); err != nil {
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

// configHosts returns the backup root's host and the deployment manager's,
// where backupConfig and restoreConfig read and write their archive.
func (c Config) configHosts() (backup, dmgr host.Host, err error) {
	if backup, err = c.backupHost(); err != nil {
		return nil, nil, err
	}
	if dmgr, err = c.hostOf(""); err != nil {
		return nil, nil, err
	}
	return backup, dmgr, nil
}

// stageOn returns where a tool on host at must read or write the file
// path of host on: path itself when they are one host, or the same name
// in a new directory on at, which cleanup removes.
func stageOn(ctx context.Context, at, on host.Host, path string) (string, func(), error) {
	if at.Name() == on.Name() {
		return path, func() {}, nil
	}
	tmp, err := at.MkdirTemp(ctx, "", "drillbook-stage-")
	if err != nil {
		return "", nil, fmt.Errorf("make a staging directory on host %s: %w", at.Name(), err)
	}
	return filepath.Join(tmp, filepath.Base(path)), func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = at.RemoveAll(cctx, tmp)
	}, nil
}

// storeHostName is the name of the host a node's file store is on: the
// node's host, or the deployment manager's for "".
func (c Config) storeHostName(node string) string {
	if node == "" {
		return c.DmgrHost
	}
	return c.Nodes[node].Host
}

// storeHost returns the host a file store is on: that of the node of the
// server whose engine owns it. A node not under was.nodes has no known
// host, so it is refused rather than guessed.
func (c Config) storeHost(node string) (host.Host, error) {
	if node != "" {
		if _, ok := c.Nodes[node]; !ok {
			return nil, fmt.Errorf("node %s is not under was.nodes in targets.yaml, so drillbook does not know the host its file stores are on: add it with its host", node)
		}
	}
	return c.resolve(c.storeHostName(node))
}
