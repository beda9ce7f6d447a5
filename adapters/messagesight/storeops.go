package messagesight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// nodeArgRequired is the node argument of operations that act on one named
// server: the object their confirmation names.
func nodeArgRequired() runbook.ArgSpec {
	return runbook.ArgSpec{Name: "node", Kind: runbook.ArgString, Required: true,
		Doc: "the server acted on, a name from messagesight.nodes; everything the operation touches is resolved from it"}
}

// hostLabel is the machine a node runs on, for plans.
func hostLabel(s Server) string {
	if s.Host != "" {
		return s.Host
	}
	return hostOf(s.URL)
}

// objectOf says in words which server a destructive request acts on and
// where.
func objectOf(cfg Config, node string) string {
	s, ok := cfg.Node(node)
	if !ok {
		return fmt.Sprintf("server %s (not in messagesight.nodes of the target)", node)
	}
	return fmt.Sprintf("server %s on host %s", node, hostLabel(s))
}

// storeObject says which store a store operation acts on: "store DIR of
// server NAME on host HOST".
func storeObject(cfg Config, node string) string {
	s, ok := cfg.Node(node)
	if !ok {
		return fmt.Sprintf("the store of server %s (not in messagesight.nodes of the target)", node)
	}
	dir := s.StoreDir
	if dir == "" {
		dir = "<messagesight.nodes." + node + ".store_dir not set>"
	}
	where := fmt.Sprintf("store %s of server %s on host %s", dir, node, hostLabel(s))
	if s.StoreHost != "" {
		where += " (its files on " + cfg.storeHostLabel(node) + ")"
	}
	return where
}

// nodeStoreDir returns the store directory of a node, from its own entry
// only.
func nodeStoreDir(cfg Config, node string) (string, error) {
	s, ok := cfg.Node(node)
	if !ok {
		return "", fmt.Errorf("messagesight: node %q is not in messagesight.nodes of the target: add it with its url and store_dir", node)
	}
	if s.StoreDir == "" {
		return "", fmt.Errorf("messagesight %s: no store directory: set messagesight.nodes.%s.store_dir to the server's <DATA>/store as its store_host (this machine when unset) reaches it", node, node)
	}
	return s.StoreDir, nil
}

// requireMaintenance refuses to touch the store of a server that is not in
// maintenance mode (reference §8.2: copy only when State is 9). The server
// checked is the one the node argument names: the one whose store is read
// or replaced.
func requireMaintenance(ctx context.Context, cfg Config, node string, out runbook.Output) error {
	c, err := newClient(cfg, node)
	if err != nil {
		return err
	}
	st, _, err := c.status(ctx)
	if err != nil {
		return err
	}
	out.Line(runbook.Info, describeState(c.label, st))
	if st.Server.State != 9 {
		return fmt.Errorf("messagesight %s: the server is in state %d (%s), not maintenance (9): its store may only be copied or replaced in maintenance mode; restart it with maintenance start first",
			c.label, st.Server.State, st.Server.StateDescription)
	}
	return nil
}

func checkStoreOp() *op {
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.check-store", Summary: "check that a server's store directory is reachable from here, is a directory, and (for a restore) has room beside it for the backup's store copy (changes nothing)",
			Args: []runbook.ArgSpec{nodeArgRequired(),
				arg("restore_set", runbook.ArgString, false, "for a restore: the backup set whose store copy will replace this store; empty with restore_from means the newest sealed set of restore_from"),
				arg("restore_from", runbook.ArgString, false, "for a restore: the server the backup was taken from"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := "read " + storeObject(cfg, a.String("node"))
			if a.String("restore_set") != "" || a.String("restore_from") != "" {
				d += " and check there is room beside it for the backup set's store copy"
			}
			return runbook.Plan{Host: cfg.storeHostLabel(a.String("node")), Detail: d}
		},
		run: runCheckStore,
	}
}

// runCheckStore checks a store directory without changing it: it is
// reachable and a directory, its files can be listed, and for a restore
// (restore_set or restore_from given) the file system it is on has room
// for the set's store copy, which is copied beside the store before the
// swap. A set with no store copy needs no store directory: the server
// cleans its own store.
func runCheckStore(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	node := call.Args.String("node")
	restore := call.Args.String("restore_set") != "" || call.Args.String("restore_from") != ""
	var setStore string
	bh, err := cfg.backupHost()
	if err != nil {
		return runbook.Result{}, err
	}
	if restore {
		set := call.Args.String("restore_set")
		if set == "" {
			set = newestSealedSet(ctx, bh, cfg.BackupRoot, call.Args.String("restore_from"))
		}
		if set != "" {
			m, _ := setState(ctx, bh, set)
			// A set whose store copy cannot be told (findStoreCopy fails) is
			// refused by find-backup-set; the store is still checked here.
			copyDir, findErr := findStoreCopy(ctx, bh, set, m)
			var fi fs.FileInfo
			if findErr == nil && copyDir != "" {
				fi, err = bh.Stat(ctx, copyDir)
			}
			if findErr == nil && copyDir != "" && err == nil && fi.IsDir() {
				setStore = copyDir
			} else if findErr == nil && (copyDir == "" || err == nil || errors.Is(err, fs.ErrNotExist)) {
				line := fmt.Sprintf("backup set %s holds no store copy: the store of %s is cleaned by the server (CleanStore), so drillbook does not touch its directory", set, node)
				out.Line(runbook.Info, line)
				return runbook.Result{ExitCode: -1, Summary: line, Vars: map[string]string{"path": "", "bytes": "0"}}, nil
			}
		}
		// With no set found, find-backup-set says so; the store is still
		// checked here.
	}
	dir, err := nodeStoreDir(cfg, node)
	if err != nil {
		return runbook.Result{}, err
	}
	sh, err := cfg.storeHost(node)
	if err != nil {
		return runbook.Result{}, err
	}
	fi, err := sh.Stat(ctx, dir)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("messagesight %s: store directory %s is not reachable on %s: %w: mount it there, or fix messagesight.nodes.%s.store_dir or store_host", node, dir, sh.Name(), err, node)
	}
	if !fi.IsDir() {
		return runbook.Result{}, fmt.Errorf("messagesight %s: store directory %s is not a directory: fix messagesight.nodes.%s.store_dir", node, dir, node)
	}
	n, files, err := treeSizeOn(ctx, sh, dir)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("messagesight %s: read store %s: %w: give this user read access to it", node, dir, err)
	}
	line := fmt.Sprintf("%s is reachable: %d files, %d bytes", storeObject(cfg, node), files, n)
	vars := map[string]string{"path": dir, "bytes": strconv.FormatInt(n, 10)}
	if setStore != "" {
		need, _, err := treeSizeOn(ctx, bh, setStore)
		if err != nil {
			return runbook.Result{}, fmt.Errorf("messagesight: read the store copy %s: %w", setStore, err)
		}
		parent := filepath.Dir(filepath.Clean(dir))
		if err := writableOn(ctx, sh, parent); err != nil {
			return runbook.Result{}, fmt.Errorf("messagesight %s: cannot write in %s, where the store copy is placed before it replaces the store: %w: give this user write access there", node, parent, err)
		}
		free, where, err := freeOn(ctx, sh, parent)
		if err != nil {
			return runbook.Result{}, fmt.Errorf("messagesight %s: free space beside the store %s: %w", node, dir, err)
		}
		line += fmt.Sprintf("; %d bytes free on the file system of %s for the store copy of %s (%d bytes)", free, where, filepath.Dir(setStore), need)
		if uint64(need)+uint64(need)/10 > free {
			out.Line(runbook.Info, line)
			return runbook.Result{}, fmt.Errorf("messagesight %s: %s has %d bytes free, the store copy needs %d and a margin (it is copied beside the store before it replaces it): free space there first", node, where, free, need)
		}
		vars["need_bytes"] = strconv.FormatInt(need, 10)
	}
	out.Line(runbook.Info, line)
	return runbook.Result{ExitCode: -1, Summary: line, Vars: vars}, nil
}

// newestSealedSet returns the newest sealed backup set of server under
// root, "" when there is none (or root cannot be read).
func newestSealedSet(ctx context.Context, h host.Host, root, server string) string {
	if root == "" {
		return ""
	}
	sets, err := listSets(ctx, h, root)
	if err != nil {
		return ""
	}
	for _, s := range sets {
		if s.Problem == "" && s.Manifest.Server == server {
			return s.Path
		}
	}
	return ""
}

// backupRoot is the root a backup writes under: the argument, else the
// target's backup_root.
func backupRoot(cfg Config, a runbook.Args) string {
	if r := a.String("root"); r != "" {
		return r
	}
	return cfg.BackupRoot
}

func rootArg() runbook.ArgSpec {
	return arg("root", runbook.ArgString, false, "directory that receives backup sets; empty means the target's messagesight.backup_root")
}

func checkBackupRootOp() *op {
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.check-backup-root", Summary: "check that the backup root can receive a new backup set (a directory, or missing under a writable one; never a file nor an earlier set) and has room for the store (changes nothing)",
			Args: []runbook.ArgSpec{rootArg(),
				arg("node", runbook.ArgString, false, "the server whose store the backup copies: its size is the room needed; empty means a configuration-only backup"),
				arg("need_bytes", runbook.ArgInt, false, "further bytes the backup needs"),
				arg("store_name", runbook.ArgString, false, "the name the operator gives the store backup: checked here (a single file name, not imaBackup...) so a bad one stops the run before anything changes; empty checks no name"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := "check backup root " + backupRoot(cfg, a) + " (a directory or missing, writable, not a file nor an earlier backup set) and its free space"
			if n := a.String("node"); n != "" {
				d += " for a copy of the " + storeObject(cfg, n)
			}
			return runbook.Plan{Host: cfg.backupHostLabel(), Detail: d}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			root := backupRoot(cfg, call.Args)
			if name := call.Args.String("store_name"); name != "" {
				if err := checkStoreName(name); err != nil {
					return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
				}
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			exists, err := checkBackupRoot(ctx, bh, root)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			free, where, err := freeOn(ctx, bh, root)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: free space at backup root %s: %w", root, err)
			}
			if err := writableOn(ctx, bh, where); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: backup root %s: cannot write in %s: %w: give this user write access or choose another backup_dir", root, where, err)
			}
			need := uint64(max(call.Args.Int("need_bytes", 0), 0))
			line := fmt.Sprintf("backup root %s: %d bytes free on the file system of %s", root, free, where)
			if node := call.Args.String("node"); node != "" {
				dir, err := nodeStoreDir(cfg, node)
				if err != nil {
					return runbook.Result{}, err
				}
				sh, err := cfg.storeHost(node)
				if err != nil {
					return runbook.Result{}, err
				}
				n, _, err := treeSizeOn(ctx, sh, dir)
				if err != nil {
					return runbook.Result{}, fmt.Errorf("messagesight %s: measure store %s on %s: %w: mount it there, or fix messagesight.nodes.%s.store_dir or store_host", node, dir, sh.Name(), err, node)
				}
				need += uint64(n)
				line += fmt.Sprintf("; the store of %s needs %d bytes", node, n)
			}
			if !exists {
				line += "; it does not exist yet and will be created as a directory"
			}
			out.Line(runbook.Info, line)
			if need > 0 && free < need+need/10 {
				return runbook.Result{}, fmt.Errorf("messagesight: backup root %s has %d bytes free, the backup needs %d and a margin: free space there or choose another backup_dir", root, free, need)
			}
			return runbook.Result{ExitCode: -1, Summary: line, Vars: map[string]string{"root": root, "free_bytes": strconv.FormatUint(free, 10), "need_bytes": strconv.FormatUint(need, 10)}}, nil
		},
	}
}

func newBackupSetOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.new-backup-set", Summary: "create a new, timestamped backup set under the backup root (never an existing one)",
			Args: []runbook.ArgSpec{nodeArgRequired(), rootArg(),
				arg("store_name", runbook.ArgString, true, "the name the operator gives the store backup: the directory of the set that receives the store copy (a single file name, not imaBackup...)")}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := fmt.Sprintf("create %s/%s-<UTC time>/ marked INCOMPLETE until sealed; its store backup, if taken, is named %s", backupRoot(cfg, a), a.String("node"), a.String("store_name"))
			if err := checkStoreName(a.String("store_name")); err != nil {
				d += " (refused: " + err.Error() + ")"
			}
			return runbook.Plan{Host: cfg.backupHostLabel(), Detail: d}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			name := call.Args.String("store_name")
			set, err := newBackupSet(ctx, bh, backupRoot(cfg, call.Args), call.Args.String("node"), name, time.Now())
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			line := "new backup set " + set + " (INCOMPLETE until sealed); store backup name " + name
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line},
				Vars: map[string]string{"path": set, "config_dir": filepath.Join(set, setConfigDir), "store": filepath.Join(set, name), "store_name": name}}, nil
		},
	}
}

func sealBackupSetOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.seal-backup-set", Summary: "write the set's manifest (names, sizes, SHA-256, identity) and seal it: only a sealed set is restored",
			Args: []runbook.ArgSpec{arg("set", runbook.ArgString, true, "the backup set directory"), arg("server", runbook.ArgString, true, "the server the backup was taken from")}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			return runbook.Plan{Host: cfg.backupHostLabel(), Detail: "write " + filepath.Join(a.String("set"), setManifest) + " and " + setSealed}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			m, err := sealBackupSet(ctx, bh, call.Args.String("set"), call.Args.String("server"), time.Now())
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			line := fmt.Sprintf("backup set %s sealed (id %s): config %s (%d bytes, sha256 %s)", m.Set, m.ID, m.Config.Name, m.Config.Size, m.Config.SHA256)
			if m.Store != nil {
				line += fmt.Sprintf(", store (%d files, %d bytes, sha256 %s)", m.Store.Files, m.Store.Bytes, m.Store.SHA256)
			}
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: map[string]string{"id": m.ID}}, nil
		},
	}
}

func findBackupSetOp() *op {
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.find-backup-set", Summary: "pick a backup set (the newest sealed one of a server, or the one given) and check it against its manifest (changes nothing)",
			Args: []runbook.ArgSpec{rootArg(),
				arg("set", runbook.ArgString, false, "the backup set directory; empty means the newest sealed set of server under the root"),
				arg("server", runbook.ArgString, true, "the server the backup was taken from"),
				arg("override_reason", runbook.ArgString, false, "accept an unsealed or mismatched set, for this reason (recorded); empty refuses it"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := "check backup set " + a.String("set")
			if a.String("set") == "" {
				d = fmt.Sprintf("pick the newest sealed backup set of %s under %s and check it", a.String("server"), backupRoot(cfg, a))
			}
			return runbook.Plan{Host: cfg.backupHostLabel(), Detail: d + " against its manifest (configuration and store of that very set)"}
		},
		run: runFindBackupSet,
	}
}

func runFindBackupSet(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	a := call.Args
	server, set, override := a.String("server"), a.String("set"), strings.TrimSpace(a.String("override_reason"))
	bh, err := cfg.backupHost()
	if err != nil {
		return runbook.Result{}, err
	}
	if set == "" {
		root := backupRoot(cfg, a)
		if root == "" {
			return runbook.Result{}, errors.New("messagesight: no backup root to look for backup sets in: give --param backup_set=DIR or set messagesight.backup_root in targets.yaml")
		}
		sets, err := listSets(ctx, bh, root)
		if errors.Is(err, fs.ErrNotExist) {
			return runbook.Result{}, fmt.Errorf("messagesight: no sealed backup set of %s under %s, which does not exist: take one with messagesight-backup, or give --param backup_set=DIR (or fix messagesight.backup_root)", server, root)
		}
		if err != nil {
			return runbook.Result{}, fmt.Errorf("messagesight: %w: give --param backup_set=DIR or set messagesight.backup_root", err)
		}
		for _, s := range sets {
			if s.Problem == "" && s.Manifest.Server == server {
				set = s.Path
				break
			}
		}
		if set == "" {
			return runbook.Result{}, fmt.Errorf("messagesight: no sealed backup set of %s under %s: take one with messagesight-backup, or give --param backup_set=DIR", server, root)
		}
		out.Line(runbook.Info, "newest sealed backup set of "+server+": "+set)
	}
	var warnings []string
	refuse := func(err error) (runbook.Result, error) {
		if override == "" {
			out.Line(runbook.Info, "REFUSED: "+err.Error())
			return runbook.Result{Summary: "backup set refused"}, fmt.Errorf("messagesight: %w: use another set, or accept this one with --param override_reason='WHY'", err)
		}
		w := fmt.Sprintf("accepted by the operator (%s) although %v", override, err)
		out.Line(runbook.Info, "OVERRIDDEN: "+w)
		warnings = append(warnings, w)
		return runbook.Result{}, nil
	}
	if !isDir(ctx, bh, set) {
		return runbook.Result{}, fmt.Errorf("messagesight: backup set %s is not a directory: give a set directory (drillbook backups TARGET lists them)", set)
	}
	m, problem := setState(ctx, bh, set)
	if problem != "" {
		if r, err := refuse(fmt.Errorf("%w: backup set %s is %s", ErrMismatch, set, problem)); err != nil {
			return r, err
		}
	}
	if m.Server != "" && m.Server != server {
		if r, err := refuse(fmt.Errorf("%w: backup set %s was taken from %s, not %s", ErrMismatch, set, m.Server, server)); err != nil {
			return r, err
		}
	}
	if m.Format == ManifestFormat {
		if err := verifySet(ctx, bh, set, m); err != nil {
			if r, err := refuse(err); err != nil {
				return r, err
			}
		}
	}
	cfgFile, err := setConfigFile(ctx, bh, set)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
	}
	vars := map[string]string{"path": set, "config": cfgFile, "config_name": filepath.Base(cfgFile), "server": m.Server,
		"created": m.Created.Format(time.RFC3339), "store": "", "store_sha256": "", "has_store": "false"}
	storeDir, err := findStoreCopy(ctx, bh, set, m)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
	}
	if _, err := bh.Stat(ctx, storeDir); storeDir != "" && err == nil {
		vars["store"], vars["has_store"] = storeDir, "true"
		if m.Store != nil {
			vars["store_sha256"] = m.Store.SHA256
		}
	}
	line := fmt.Sprintf("backup set %s of %s, sealed %s: config %s", filepath.Base(set), m.Server, m.Created.Format(time.RFC3339), m.Config.Name)
	if m.Store != nil {
		line += fmt.Sprintf(", store backup %s (%d files, sha256 %s)", m.Store.Name, m.Store.Files, m.Store.SHA256)
	} else {
		line += ", no store (it will be cleaned)"
	}
	out.Line(runbook.Info, line)
	return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: vars, Warnings: warnings}, nil
}

// copyStore copies src on sh to dest on dh with the target's command (run
// on this machine, as before hosts: existed) or with host.Transfer, and
// reports the copy's digest, taken on dh, when dest is readable there.
func copyStore(ctx context.Context, cfg Config, sh host.Host, src string, dh host.Host, dest string, replace bool, out runbook.Output) (TreeDigest, int, error) {
	if len(cfg.StoreCopy) > 0 {
		argv := expandArgv(cfg.StoreCopy, src, dest)
		oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Out: out})
		if err != nil {
			return TreeDigest{}, oc.ExitCode, fmt.Errorf("messagesight: store copy command: %w: check messagesight.store_copy in targets.yaml", err)
		}
		d, _ := digestOn(ctx, dh, dest) // the copy may be on a machine not in hosts:
		return d, oc.ExitCode, nil
	}
	d, err := copyTreeOn(ctx, sh, src, dh, dest, replace, out)
	if err != nil {
		return TreeDigest{}, -1, fmt.Errorf("messagesight: %w", err)
	}
	return d, -1, nil
}

func digestVars(d TreeDigest, path string) map[string]string {
	return map[string]string{"path": path, "files": strconv.Itoa(d.Files), "bytes": strconv.FormatInt(d.Bytes, 10), "sha256": d.SHA256}
}

// leftovers removes what an interrupted copy into dest left next to it:
// file.Copy's hidden staging directories (".BASE.drillbook-*", and
// "..BASE.restoring.drillbook-*" for a restore's copy) and the adapter's own
// (".BASE.restoring", ".BASE.replaced"). It returns what it
// removed.
//
// host.Transfer's staging directory (".BASE.drillbook-recv-*") matches the
// first pattern too.
func leftovers(ctx context.Context, h host.Host, dest string, out runbook.Output) ([]string, error) {
	dest = filepath.Clean(dest)
	parent, base := filepath.Dir(dest), filepath.Base(dest)
	var removed []string
	matches := glob(ctx, h, filepath.Join(parent, "."+base+".drillbook-*"))
	// An earlier version copied a restore into .BASE.restoring, which
	// file.Copy staged in "..BASE.restoring.drillbook-*".
	matches = append(matches, glob(ctx, h, filepath.Join(parent, ".."+base+".restoring.drillbook-*"))...)
	for _, n := range []string{"." + base + ".restoring", "." + base + ".replaced"} {
		if exists(ctx, h, filepath.Join(parent, n)) {
			matches = append(matches, filepath.Join(parent, n))
		}
	}
	for _, m := range matches {
		if err := h.RemoveAll(ctx, m); err != nil {
			return removed, fmt.Errorf("messagesight: remove %s, left by an interrupted copy: %w", m, err)
		}
		out.Line(runbook.Info, "removed "+m+", left by an interrupted copy")
		removed = append(removed, m)
	}
	return removed, nil
}

func backupStoreOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.backup-store", Summary: "copy a server's store directory (server in maintenance mode) into a backup set",
			Args: []runbook.ArgSpec{nodeArgRequired(), arg("dest", runbook.ArgString, true, "the store directory of the new backup set (new-backup-set's store)")}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			if len(cfg.StoreCopy) > 0 {
				dir, _ := nodeStoreDir(cfg, a.String("node"))
				return runbook.Plan{Host: "localhost", Argv: expandArgv(cfg.StoreCopy, dir, a.String("dest"))}
			}
			return runbook.Plan{Host: cfg.storeHostLabel(a.String("node")), Detail: fmt.Sprintf("copy %s -> %s on %s (hashed on each host; after checking the server is in maintenance, State 9)", storeObject(cfg, a.String("node")), a.String("dest"), cfg.backupHostLabel())}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			node, dest := call.Args.String("node"), call.Args.String("dest")
			src, err := nodeStoreDir(cfg, node)
			if err != nil {
				return runbook.Result{}, err
			}
			if err := requireMaintenance(ctx, cfg, node, out); err != nil {
				return runbook.Result{}, err
			}
			sh, err := cfg.storeHost(node)
			if err != nil {
				return runbook.Result{}, err
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			if !isDir(ctx, sh, src) {
				return runbook.Result{}, fmt.Errorf("messagesight %s: store directory %s is not a directory on %s: fix messagesight.nodes.%s.store_dir or store_host", node, src, sh.Name(), node)
			}
			before, err := digestOn(ctx, sh, src)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: read store %s on %s: %w", src, sh.Name(), err)
			}
			if _, err := leftovers(ctx, bh, dest, out); err != nil {
				return runbook.Result{}, err
			}
			if exists(ctx, bh, dest) {
				// An earlier attempt of this step placed its copy (the copy is
				// moved into place whole): keep it when it is the store as it
				// is now, else replace it; the set is ours and not sealed.
				if got, err := digestOn(ctx, bh, dest); err == nil && got == before {
					line := fmt.Sprintf("store already copied to %s by an earlier attempt: %d files, %d bytes, sha256 %s", dest, before.Files, before.Bytes, before.SHA256)
					out.Line(runbook.Info, line)
					return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: digestVars(before, dest)}, nil
				}
				if _, problem := setState(ctx, bh, filepath.Dir(dest)); !strings.HasPrefix(problem, "incomplete") {
					return runbook.Result{}, fmt.Errorf("messagesight: %s already exists and does not belong to an incomplete backup set: a backup never overwrites another; take a new set", dest)
				}
				out.Line(runbook.Info, "an earlier attempt's copy in "+dest+" differs from the store: copying again")
				if err := bh.RemoveAll(ctx, dest); err != nil {
					return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
				}
			}
			d, code, err := copyStore(ctx, cfg, sh, src, bh, dest, false, out)
			if err != nil {
				return runbook.Result{ExitCode: code}, err
			}
			if d.SHA256 != "" && d != before {
				return runbook.Result{ExitCode: code}, fmt.Errorf("messagesight: the copy in %s (%d files, sha256 %s) differs from the store (%d files, sha256 %s): was the server really in maintenance mode? copy again",
					dest, d.Files, short(d.SHA256), before.Files, short(before.SHA256))
			}
			line := fmt.Sprintf("store of %s copied to %s: %d files, %d bytes, sha256 %s", node, dest, before.Files, before.Bytes, before.SHA256)
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: code, Summary: line, Evidence: []string{line}, Vars: digestVars(before, dest)}, nil
		},
	}
}

func restoreStoreOp() *op {
	return &op{object: "node",
		spec: runbook.OpSpec{Name: "messagesight.restore-store", Destructive: true,
			Summary: "replace a server's store directory with a store backup (server in maintenance mode)",
			Args: []runbook.ArgSpec{nodeArgRequired(),
				arg("src", runbook.ArgString, true, "the store backup directory (find-backup-set's store)"),
				arg("sha256", runbook.ArgString, false, "refuse unless the backup's tree digest is this (from the set's manifest)"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			obj := storeObject(cfg, a.String("node"))
			if len(cfg.StoreCopy) > 0 {
				dir, _ := nodeStoreDir(cfg, a.String("node"))
				return runbook.Plan{Host: "localhost", Argv: expandArgv(cfg.StoreCopy, a.String("src"), dir), Detail: "replaces " + obj}
			}
			return runbook.Plan{Host: cfg.storeHostLabel(a.String("node")), Detail: fmt.Sprintf("replace %s with %s from %s (after checking server %s is in maintenance, State 9); the current store is removed", obj, a.String("src"), cfg.backupHostLabel(), a.String("node"))}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			node, src := call.Args.String("node"), call.Args.String("src")
			dest, err := nodeStoreDir(cfg, node)
			if err != nil {
				return runbook.Result{}, err
			}
			if err := requireMaintenance(ctx, cfg, node, out); err != nil {
				return runbook.Result{}, err
			}
			sh, err := cfg.storeHost(node)
			if err != nil {
				return runbook.Result{}, err
			}
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			want, err := digestOn(ctx, bh, src)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: read store backup %s: %w", src, err)
			}
			if sum := call.Args.String("sha256"); sum != "" && sum != want.SHA256 {
				return runbook.Result{}, fmt.Errorf("messagesight: %w: store backup %s has sha256 %s, the manifest says %s: use the store backup of this set",
					ErrMismatch, src, short(want.SHA256), short(sum))
			}
			if _, err := leftovers(ctx, sh, dest, out); err != nil {
				return runbook.Result{}, err
			}
			if got, err := digestOn(ctx, sh, dest); err == nil && got == want {
				line := fmt.Sprintf("%s already holds the backup (an earlier attempt finished the copy): %d files, %d bytes, sha256 %s", storeObject(cfg, node), want.Files, want.Bytes, want.SHA256)
				out.Line(runbook.Info, line)
				return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: digestVars(want, dest)}, nil
			}
			if len(cfg.StoreCopy) == 0 {
				// host.Transfer stages the copy beside the store on its host
				// (file.Copy there, or a stream checked file by file against
				// the SHA-256 the backup host computed) and swaps it in only
				// once complete, so a failed or killed copy leaves the old
				// store in place; a rerun removes the leftovers above.
				got, err := copyTreeOn(ctx, bh, src, sh, dest, true, out)
				if err != nil {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("messagesight: %w", err)
				}
				if got != want {
					return runbook.Result{ExitCode: -1}, fmt.Errorf("messagesight: the restored copy (sha256 %s) differs from the backup %s (sha256 %s), which changed while it was copied: restore again", short(got.SHA256), src, short(want.SHA256))
				}
				line := fmt.Sprintf("%s restored from %s: %d files, %d bytes, sha256 %s", storeObject(cfg, node), src, want.Files, want.Bytes, want.SHA256)
				out.Line(runbook.Info, line)
				return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: digestVars(want, dest)}, nil
			}
			// The target's store_copy command runs on this machine, so the
			// store is reached here (a mount): copy beside it first, then
			// swap, so a failed or killed copy leaves the old store in place.
			tmp := filepath.Join(filepath.Dir(filepath.Clean(dest)), "."+filepath.Base(filepath.Clean(dest))+".restoring")
			got, code, err := copyStore(ctx, cfg, bh, src, sh, tmp, false, out)
			if err != nil {
				sh.RemoveAll(ctx, tmp)
				return runbook.Result{ExitCode: code}, err
			}
			if got.SHA256 != "" && got != want {
				sh.RemoveAll(ctx, tmp)
				return runbook.Result{ExitCode: code}, fmt.Errorf("messagesight: the restored copy differs from the backup %s: restore again", src)
			}
			old := filepath.Join(filepath.Dir(filepath.Clean(dest)), "."+filepath.Base(filepath.Clean(dest))+".replaced")
			if err := os.Rename(dest, old); err != nil && !os.IsNotExist(err) {
				return runbook.Result{}, fmt.Errorf("messagesight: move the old store aside: %w", err)
			}
			if err := os.Rename(tmp, dest); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: put the restored store in place: %w (the old store is in %s)", err, old)
			}
			if err := os.RemoveAll(old); err != nil {
				out.Line(runbook.Info, "could not remove the replaced store "+old+": "+err.Error())
			}
			line := fmt.Sprintf("%s restored from %s: %d files, %d bytes, sha256 %s", storeObject(cfg, node), src, want.Files, want.Bytes, want.SHA256)
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: code, Summary: line, Evidence: []string{line}, Vars: digestVars(want, dest)}, nil
		},
	}
}

func haPairOp() *op {
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.ha-pair", Summary: "check an HA pair: the primary is PRIMARY, the standby is STANDBY and in sync, and not both primary (changes nothing)",
			Args: []runbook.ArgSpec{
				arg("primary", runbook.ArgString, true, "the primary, a name from messagesight.nodes"),
				arg("standby", runbook.ArgString, true, "the standby, a name from messagesight.nodes"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("primary"), "GET", "/ima/v1/service/status", nil)
			q := requestPlan(cfg, a.String("standby"), "GET", "/ima/v1/service/status", nil)
			p.Request += " and " + q.Request
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			var st [2]Status
			names := []string{call.Args.String("primary"), call.Args.String("standby")}
			for i, n := range names {
				c, err := newClient(cfg, n)
				if err != nil {
					return runbook.Result{}, err
				}
				if st[i], _, err = c.status(ctx); err != nil {
					return runbook.Result{}, err
				}
				out.Line(runbook.Info, describeState(n, st[i]))
			}
			p, s := st[0].HighAvailability, st[1].HighAvailability
			line := fmt.Sprintf("%s: %s (%d active, %d in sync); %s: %s (%d active, %d in sync)", names[0], p.NewRole, p.ActiveNodes, p.SyncNodes, names[1], s.NewRole, s.ActiveNodes, s.SyncNodes)
			if p.NewRole == "PRIMARY" && s.NewRole == "PRIMARY" {
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight: the pair is split: %s and %s are both PRIMARY (%d and %d active nodes): messages sent to each since the split are only there; stop and decide which node keeps its data, clean the other's store and start it as standby (reference §9.2); nothing after this step was run",
					names[0], names[1], p.ActiveNodes, s.ActiveNodes)
			}
			for i, f := range []string{haFailure(st[0]), haFailure(st[1])} {
				if f != "" {
					return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: %s, State %d, ErrorCode %d %q: %s", names[i], f, st[i].Server.State, st[i].Server.ErrorCode, st[i].Server.ErrorMessage, haAdvice(st[i].HighAvailability.ReasonCode))
				}
			}
			if p.NewRole != "PRIMARY" || s.NewRole != "STANDBY" && s.NewRole != "UNSYNC" {
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight: %s is %s and %s is %s: give the node that is PRIMARY as server and the STANDBY as standby", names[0], p.NewRole, names[1], s.NewRole)
			}
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}}, nil
		},
	}
}
