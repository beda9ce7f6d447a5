package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// The checks below change nothing in the estate (OpSpec.ReadOnly): they
// run in a runbook's preflight, before the first step that stops
// anything, and `drillbook plan` runs them on a real target. Each failure
// names the setting or parameter to change.

// spaceMargin is what a copy needs beyond its bytes: a tenth for the file
// system's own blocks, and 16 MB for the small files beside it.
func spaceMargin(n int64) int64 { return n + n/10 + 16<<20 }

// checkNode checks that the node answers, runs its application, is not in
// maintenance, that its management API (when set) and an AMQP login work,
// and that rabbitmq.user is allowed on every vhost in scope (all of them
// when vhosts is empty). With exclusiveUser it also fails when a client
// connects as rabbitmq.user: maintenance keeps the application out by
// every other user's permissions, so the application must use another.
func (b *broker) checkNode(ctx context.Context, out runbook.Output, vhosts []string, exclusiveUser bool) (runbook.Result, error) {
	ni, err := b.nodeState(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	if !ni.Running {
		return runbook.Result{}, fmt.Errorf("the RabbitMQ application is stopped on node %s (the Erlang node answers): start it with `rabbitmqctl -n %s start_app` (a failed restore may have left it so) and run again", b.cfg.Node, b.cfg.Node)
	}
	if ni.Drained {
		return runbook.Result{}, fmt.Errorf("node %s is in maintenance mode: no client can connect and its management API is down: end it with `rabbitmq-upgrade -n %s revive` (a failed restore may have left it so) and run again", b.cfg.Node, b.cfg.Node)
	}
	if _, err := b.checkDataDirSetting(ctx, ni.DataDir); err != nil {
		return runbook.Result{}, err
	}
	var notes []string
	if b.cfg.ManagementURL != "" {
		c, err := b.http(ctx)
		if err != nil {
			return runbook.Result{}, err
		}
		var ov *rabbithole.Overview
		done := make(chan error, 1)
		go func() {
			var err error
			ov, err = c.Overview()
			done <- err
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			return runbook.Result{}, ctx.Err()
		}
		var he rabbithole.ErrorResponse
		switch {
		case errors.As(err, &he) && he.StatusCode == 401:
			return runbook.Result{}, fmt.Errorf("the management API at %s refused user %s: check rabbitmq.user and rabbitmq.password", redactURL(b.cfg.ManagementURL), b.cfg.user())
		case err != nil:
			return runbook.Result{}, fmt.Errorf("the management API at %s does not answer (%v): check rabbitmq.management_url (host, port, http or https) and that the management plugin is enabled, or remove the setting to use rabbitmqctl only", redactURL(b.cfg.ManagementURL), err)
		}
		notes = append(notes, "management API answers (RabbitMQ "+ov.RabbitMQVersion+")")
	}
	all, err := b.vhosts(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	scope := vhosts
	if len(scope) == 0 {
		scope = all
	}
	var missing []string
	for _, v := range scope {
		if !contains(all, v) {
			missing = append(missing, strconv.Quote(v))
		}
	}
	if len(missing) > 0 {
		return runbook.Result{}, fmt.Errorf("node %s has no vhost %s: its vhosts are %s: check the vhost's name", b.cfg.Node, strings.Join(missing, ", "), quoteAll(all))
	}
	allowed, err := b.userVhosts(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	var denied []string
	for _, v := range scope {
		if !allowed[v] {
			denied = append(denied, strconv.Quote(v))
		}
	}
	if len(denied) > 0 {
		return runbook.Result{}, fmt.Errorf("user %s (rabbitmq.user) has no permissions on vhost %s of node %s: the counts and the exclusion connect there: grant them (rabbitmqctl set_permissions -p VHOST %s '.*' '.*' '.*') or set rabbitmq.user to a user that has them",
			b.cfg.user(), strings.Join(denied, ", "), b.cfg.Node, b.cfg.user())
	}
	if len(scope) > 0 {
		conn, err := b.dial(ctx, scope[0])
		if err != nil {
			return runbook.Result{}, err
		}
		conn.Close()
		notes = append(notes, "AMQP login as "+b.cfg.user()+" works")
	}
	if exclusiveUser {
		// The management API's list when it is configured: the
		// application's connections are long-lived, so statistics a few
		// seconds old show them, and it costs no CLI call.
		cs, err := b.connections(ctx, quietOut{out}, false)
		if err != nil {
			return runbook.Result{}, err
		}
		n := 0
		for _, c := range cs {
			if c.User == b.cfg.user() {
				n++
			}
		}
		if n > 0 {
			return runbook.Result{}, fmt.Errorf("%d client connections use %s, the user drillbook works as: maintenance keeps the application out by withdrawing every other user's permissions, so it would not keep these out: set rabbitmq.user to an operator user the application does not use", n, b.cfg.user())
		}
	}
	var warn []string
	if bl, err := b.readBlocked(ctx, ni.DataDir); err == nil && len(bl.Permissions) > 0 {
		warn = append(warn, fmt.Sprintf("the permissions of %s are still withdrawn by a restore that did not finish (%s): the application cannot connect until rabbitmq.unblock-clients gives them back, or that restore is resumed", describePerms(bl.Permissions), filepath.Join(ni.DataDir, BlockedFile)))
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("node %s answers: application running, not in maintenance; %s; user %s allowed on %d vhosts (%s)", b.cfg.Node, strings.Join(append(notes, "data directory "+ni.DataDir), "; "), b.cfg.user(), len(scope), quoteAll(scope)),
		Vars:     map[string]string{"data_dir": ni.DataDir},
		Warnings: warn,
	}, nil
}

// userVhosts returns the vhosts rabbitmq.user has permissions on; a user
// the node does not know is an error naming the setting.
func (b *broker) userVhosts(ctx context.Context, out runbook.Output) (map[string]bool, error) {
	m := map[string]bool{}
	ok, err := b.viaHTTP(ctx, out, "list the user's permissions", func(c *rabbithole.Client) error {
		ps, err := c.ListPermissionsOf(b.cfg.user())
		for _, p := range ps {
			m[p.Vhost] = true
		}
		return err
	})
	var he rabbithole.ErrorResponse
	switch {
	case errors.As(err, &he) && he.StatusCode == 404:
		return nil, fmt.Errorf("user %s (rabbitmq.user) does not exist on node %s: set rabbitmq.user to an existing user, or create it", b.cfg.user(), b.cfg.Node)
	case err != nil:
		return nil, err
	case ok:
		return m, nil
	}
	var rows []struct {
		Vhost string `json:"vhost"`
	}
	if err := b.ctlJSON(ctx, out, &rows, "rabbitmqctl", "list_user_permissions", b.cfg.user()); err != nil {
		if strings.Contains(err.Error(), "no_such_user") {
			return nil, fmt.Errorf("user %s (rabbitmq.user) does not exist on node %s: set rabbitmq.user to an existing user, or create it", b.cfg.user(), b.cfg.Node)
		}
		return nil, err
	}
	m = map[string]bool{}
	for _, r := range rows {
		m[r.Vhost] = true
	}
	return m, nil
}

// requireVhosts fails when vhost (a step's argument named setting) is set
// and the node has no such vhost: list_queues on an unknown vhost succeeds
// with nothing listed (pitfall 15), which would read as "no messages".
func (b *broker) requireVhosts(ctx context.Context, out runbook.Output, setting, vhost string) error {
	if vhost == "" {
		return nil
	}
	all, err := b.vhosts(ctx, quietOut{out})
	if err != nil {
		return err
	}
	if !contains(all, vhost) {
		return fmt.Errorf("%s %q: node %s has no such vhost; its vhosts are %s", setting, vhost, b.cfg.Node, quoteAll(all))
	}
	return nil
}

// checkCommands checks that the target's consumer and producer commands
// are set and their programs found.
func checkCommands(ctx context.Context, cfg Config) (runbook.Result, error) {
	h, err := cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	where := ""
	if cfg.Host != "" {
		where = " on " + cfg.Host
	}
	var probs, have []string
	for _, c := range []struct {
		field string
		argv  []string
	}{{"consumers.stop", cfg.Consumers.Stop}, {"consumers.start", cfg.Consumers.Start}, {"producers.stop", cfg.Producers.Stop}, {"producers.start", cfg.Producers.Start}} {
		switch {
		case len(c.argv) == 0:
			probs = append(probs, fmt.Sprintf("rabbitmq.%s is not set (an argv list, e.g. [supervisorctl, stop, \"oro:*\"])", c.field))
		default:
			if err := lookProgram(ctx, h, c.argv[0]); err != nil {
				probs = append(probs, fmt.Sprintf("rabbitmq.%s: %s is not found%s (%v)", c.field, c.argv[0], where, err))
				continue
			}
			have = append(have, c.field+": "+runbook.QuoteArgv(c.argv))
		}
	}
	if len(probs) > 0 {
		return runbook.Result{}, fmt.Errorf("%s: set them in the target's rabbitmq section of targets.yaml", strings.Join(probs, "; "))
	}
	return runbook.Result{Summary: "commands found: " + strings.Join(have, "; ")}, nil
}

// lookProgram checks that the program prog can be started on h, where
// runCommand starts it: a path is looked at there (a regular file with an
// execute bit); a bare name is looked up in the PATH the command gets
// (baseEnv) by POSIX `command -v`, a shell builtin, so through sh with a
// fixed script and the name as its argument ($1), never a shell string
// built from the value.
func lookProgram(ctx context.Context, h host.Host, prog string) error {
	if strings.ContainsRune(prog, '/') {
		fi, err := h.Stat(ctx, prog)
		switch {
		case err != nil:
			return err
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("%s is not an executable file", prog)
		}
		return nil
	}
	_, err := h.Run(ctx, host.Command{Argv: []string{"sh", "-c", `command -v -- "$1"`, "sh", prog}, Env: baseEnv(""), OnlyEnv: true})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return errors.New("not in PATH")
	}
	return err
}

// checkDataDirSetting checks rabbitmq.data_dir, when set, against the
// directory the node reports: everything the restore touches comes from
// the node, and a setting that names another directory (a copy, another
// mount) is a mistake to stop on.
func (b *broker) checkDataDirSetting(ctx context.Context, nodeDir string) (string, error) {
	if nodeDir == "" {
		return "", fmt.Errorf("node %s reported no data directory: check the node", b.cfg.Node)
	}
	if b.cfg.DataDir == "" || filepath.Clean(b.cfg.DataDir) == filepath.Clean(nodeDir) {
		return nodeDir, nil
	}
	h, err := b.cfg.nodeHost()
	if err != nil {
		return "", err
	}
	same, err := sameFile(ctx, h, b.cfg.DataDir, nodeDir)
	if err != nil || !same {
		return "", fmt.Errorf("rabbitmq.data_dir is %s but node %s uses %s: fix rabbitmq.data_dir or remove it (the node's own answer is used then)", b.cfg.DataDir, b.cfg.Node, nodeDir)
	}
	return nodeDir, nil
}

// localDataDir finds the node's data directory and checks that it is a
// directory on this host.
func (b *broker) localDataDir(ctx context.Context, out runbook.Output) (string, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return "", err
	}
	dir, err := b.dataDir(ctx, out)
	if err != nil {
		return "", err
	}
	info, err := statPath(ctx, h, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("node %s keeps its data in %s, which is not on %s: set rabbitmq.host to the node's host (%s)", b.cfg.Node, dir, h.String(), nodeHost(b.cfg.Node))
	case err != nil:
		return "", fmt.Errorf("node %s's data directory %s: %w", b.cfg.Node, dir, err)
	case !info.IsDir():
		return "", fmt.Errorf("node %s's data directory %s is not a directory: check rabbitmq.data_dir", b.cfg.Node, dir)
	}
	return dir, nil
}

// checkBackupSpace checks the backup root: set, a writable directory not
// inside the data directory, with room for a copy of the node's msg_stores.
func (b *broker) checkBackupSpace(ctx context.Context, out runbook.Output) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	root := b.cfg.BackupDir
	if root == "" {
		return runbook.Result{}, errors.New("rabbitmq.backup_dir is not set: set it to the directory under which each backup gets its own set")
	}
	info, err := statPath(ctx, h, root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return runbook.Result{}, fmt.Errorf("backup root %s (rabbitmq.backup_dir) does not exist: create it or fix the setting", root)
	case err != nil:
		return runbook.Result{}, fmt.Errorf("backup root %s (rabbitmq.backup_dir): %w", root, err)
	case !info.IsDir():
		return runbook.Result{}, fmt.Errorf("backup root %s (rabbitmq.backup_dir) is not a directory: point the setting at a directory", root)
	}
	data, err := b.localDataDir(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	return checkBackupRoom(ctx, h, root, data, b.cfg.Node)
}

// checkBackupRoom checks that root, an existing directory, may hold a new
// set, is not inside the data directory, and has room for a copy of its
// msg_stores.
func checkBackupRoom(ctx context.Context, h host.Host, root, data, node string) (runbook.Result, error) {
	if err := writable(ctx, h, root); err != nil {
		return runbook.Result{}, fmt.Errorf("drillbook may not create sets in %s (rabbitmq.backup_dir): %w: run as a user that may, or change the setting", root, err)
	}
	if r, _ := filepath.Abs(root); r == data || strings.HasPrefix(r, data+string(filepath.Separator)) {
		return runbook.Result{}, fmt.Errorf("backup root %s (rabbitmq.backup_dir) is inside the node's data directory %s: keep backups elsewhere", root, data)
	}
	files, bytes, err := treeSize(ctx, h, filepath.Join(data, "msg_stores"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return runbook.Result{}, fmt.Errorf("size of %s: %w", filepath.Join(data, "msg_stores"), err)
	}
	sp, err := spaceAt(ctx, h, root)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("free space of %s: %w", root, err)
	}
	need := spaceMargin(bytes)
	if sp.Free < need {
		return runbook.Result{}, fmt.Errorf("backup root %s (rabbitmq.backup_dir) has %s free, and the copy of msg_stores (%s in %d files) needs about %s: free space there or point rabbitmq.backup_dir at a larger file system",
			root, humanBytes(sp.Free), humanBytes(bytes), files, humanBytes(need))
	}
	return runbook.Result{
		Summary: fmt.Sprintf("backup root %s: %s free; msg_stores of node %s holds %s in %d files", root, humanBytes(sp.Free), node, humanBytes(bytes), files),
		Vars:    map[string]string{"bytes": strconv.FormatInt(bytes, 10), "free": strconv.FormatInt(sp.Free, 10)},
	}, nil
}

// checkDataDir checks, for a restore of the set in dir, that the node's
// data directory is here and writable, that msg_stores is on its file
// system (the copy is staged next to it and swapped in, which cannot cross
// file systems), and that there is room for the staged copy.
func (b *broker) checkDataDir(ctx context.Context, out runbook.Output, dir string, replaceNonempty bool) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	data, err := b.localDataDir(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	m, err := h.ReadManifest(ctx, filepath.Join(dir, ManifestFile))
	if err != nil {
		return runbook.Result{}, fmt.Errorf("%w: is %s a drillbook backup set?", err, dir)
	}
	res, err := checkRestoreRoom(ctx, h, data, b.cfg.Node, m.Bytes)
	if err != nil {
		return res, err
	}
	warn, err := checkStoreEmpty(ctx, h, filepath.Join(data, "msg_stores"), replaceNonempty)
	res.Warnings = append(res.Warnings, warn...)
	return res, err
}

// checkStoreEmpty refuses a msg_stores that holds messages unless
// replaceNonempty: replacing it loses the newer messages and brings back
// consumed ones.
func checkStoreEmpty(ctx context.Context, h host.Host, stores string, replaceNonempty bool) ([]string, error) {
	sc, err := inspectStore(ctx, h, stores)
	if err != nil {
		return nil, err
	}
	if sc.empty() {
		return nil, nil
	}
	what := fmt.Sprintf("%s holds messages (%d queue directories: %s; %d bytes in message stores)", stores, len(sc.QueueDirs), short(sc.QueueDirs), sc.RDQBytes)
	if !replaceNonempty {
		return nil, fmt.Errorf("%s: replacing it loses every message newer than the backup and brings back consumed ones (reference §5.2): restore onto a wiped node, or set replace_nonempty if that is what you want", what)
	}
	return []string{"replacing a non-empty msg_stores as asked: " + what}, nil
}

// checkRestoreRoom checks that the data directory data is writable, that
// its msg_stores is a directory on its file system (the copy is staged
// next to it and swapped in, which cannot cross file systems nor replace
// a link's target), and that it has room for bytes more.
func checkRestoreRoom(ctx context.Context, h host.Host, data, node string, bytes int64) (runbook.Result, error) {
	if err := writable(ctx, h, data); err != nil {
		return runbook.Result{}, fmt.Errorf("drillbook may not write into the data directory %s of node %s: %w: run it as the node's user or as root", data, node, err)
	}
	stores := filepath.Join(data, "msg_stores")
	if info, err := lstatPath(ctx, h, stores); err == nil {
		if info.Mode()&fs.ModeSymlink != 0 {
			return runbook.Result{}, fmt.Errorf("%s is a link to another place: the restore stages its copy next to msg_stores and swaps it in, which replaces the link, not its target: point the node's data directory at the real place, or restore by hand", stores)
		}
		dd, err1 := deviceOf(ctx, h, data)
		sd, err2 := deviceOf(ctx, h, stores)
		if err1 != nil || err2 != nil {
			return runbook.Result{}, fmt.Errorf("file systems of %s: %w", stores, errors.Join(err1, err2))
		}
		if dd != sd {
			return runbook.Result{}, fmt.Errorf("%s is on another file system than its data directory %s (a mount point): the restore stages the copy in %s and swaps it in, which cannot cross file systems: mount the data directory itself, or restore by hand", stores, data, data)
		}
	}
	sp, err := spaceAt(ctx, h, data)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("free space of %s: %w", data, err)
	}
	need := spaceMargin(bytes)
	if sp.Free < need {
		return runbook.Result{}, fmt.Errorf("the file system of %s (node %s's data directory) has %s free, and the restore stages a copy of the backup's msg_stores (%s) next to the node's before swapping them: it needs about %s: free space there",
			data, node, humanBytes(sp.Free), humanBytes(bytes), humanBytes(need))
	}
	return runbook.Result{
		Summary: fmt.Sprintf("data directory %s of node %s: writable, msg_stores on its file system, %s free for the backup's %s", data, node, humanBytes(sp.Free), humanBytes(bytes)),
		Vars:    map[string]string{"data_dir": data},
	}, nil
}

// checkDefinitions checks a set's definitions file: it reads, rabbitmq.user
// will be allowed on every vhost with queues (from the file or already on
// the node), and the queue to exclude from is a classic queue of it.
func (b *broker) checkDefinitions(ctx context.Context, out runbook.Output, path, exVhost, exQueue string) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	defs, err := readDefinitions(ctx, h, path)
	if err != nil {
		return runbook.Result{}, err
	}
	qs := defs.list()
	if len(qs) == 0 {
		return runbook.Result{}, fmt.Errorf("%s declares no queue: there is nothing to restore messages into; is it the right set?", path)
	}
	byVhost := map[string][]string{}
	var vhosts []string
	for _, q := range qs {
		if _, ok := byVhost[q.Vhost]; !ok {
			vhosts = append(vhosts, q.Vhost)
		}
		byVhost[q.Vhost] = append(byVhost[q.Vhost], q.Name)
	}
	sort.Strings(vhosts)
	allowed := map[string]bool{}
	userKnown := false
	for _, u := range defs.Users {
		userKnown = userKnown || u.Name == b.cfg.user()
	}
	for _, p := range defs.Permissions {
		if p.User == b.cfg.user() {
			allowed[p.Vhost] = true
		}
	}
	var denied []string
	for _, v := range vhosts {
		if !allowed[v] {
			denied = append(denied, v)
		}
	}
	if len(denied) > 0 || !userKnown {
		// The node may already know the user and allow it there.
		onNode, err := b.userVhosts(ctx, quietOut{out})
		if err != nil && !userKnown {
			return runbook.Result{}, fmt.Errorf("user %s (rabbitmq.user) is neither in %s nor on node %s (%v): set rabbitmq.user to a user the definitions or the node have", b.cfg.user(), path, b.cfg.Node, err)
		}
		var still []string
		for _, v := range denied {
			if !onNode[v] {
				still = append(still, strconv.Quote(v))
			}
		}
		if len(still) > 0 {
			return runbook.Result{}, fmt.Errorf("user %s (rabbitmq.user) gets no permissions on vhost %s, neither from %s nor on node %s: the counts and the exclusion connect there: set rabbitmq.user to a user the definitions allow there",
				b.cfg.user(), strings.Join(still, ", "), path, b.cfg.Node)
		}
	}
	if exVhost != "" || exQueue != "" {
		if exVhost == "" || exQueue == "" {
			return runbook.Result{}, fmt.Errorf("exclude_vhost %q and exclude_queue %q: give both, or neither", exVhost, exQueue)
		}
		names, ok := byVhost[exVhost]
		if !ok {
			return runbook.Result{}, fmt.Errorf("exclude_vhost %q is not a vhost of the backup (its vhosts with queues are %s): set exclude_vhost", exVhost, quoteAll(vhosts))
		}
		if !contains(names, exQueue) {
			return runbook.Result{}, fmt.Errorf("exclude_queue %q is not a queue of vhost %q in the backup (its queues are %s): set exclude_queue", exQueue, exVhost, quoteAll(names))
		}
		for _, q := range qs {
			if q.Vhost == exVhost && q.Name == exQueue && q.Type != "classic" {
				return runbook.Result{}, fmt.Errorf("exclude_queue %q is a %s queue: its messages are not restored, so there is nothing to exclude: choose a classic queue", exQueue, q.Type)
			}
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("%s: %d queues in %d vhosts (%s); user %s allowed on each", path, len(qs), len(vhosts), quoteAll(vhosts), b.cfg.user()),
		Warnings: typeWarnings(qs),
	}, nil
}

// findBackup resolves the set a restore uses and checks it whole: seal,
// every file of msg_stores against the manifest, definitions and counts.
func findBackup(ctx context.Context, cfg Config, want, reason string) (runbook.Result, error) {
	h, err := cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	si, warn, err := resolveSet(ctx, h, cfg.BackupDir, want, reason)
	if err != nil {
		return runbook.Result{}, err
	}
	vr, err := verifyBackup(ctx, h, si.Path)
	if err != nil {
		return runbook.Result{}, err
	}
	defs, err := readDefinitions(ctx, h, filepath.Join(si.Path, DefinitionsFile))
	if err != nil {
		return runbook.Result{}, err
	}
	var counts Counts
	if err := readJSON(ctx, h, filepath.Join(si.Path, CountsFile), &counts); err != nil {
		return runbook.Result{}, fmt.Errorf("read the set's counts: %w", err)
	}
	classic := 0
	for _, q := range counts.Queues {
		if q.Type == "classic" {
			classic += q.Messages
		}
	}
	if counts.Node != "" && counts.Node != cfg.Node {
		warn = append(warn, fmt.Sprintf("the set was taken from node %s, not %s: classic queues restore onto another node name, quorum queues never do", counts.Node, cfg.Node))
	}
	state := "sealed"
	if !si.Sealed {
		state = si.Problem
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("backup set %s (%s, taken %s from %s): %s; %d queues in %d vhosts, %d classic-queue messages", si.Name, state, si.Time.Format(time.RFC3339), counts.Node, vr.Summary, len(defs.Queues), len(defs.Vhosts), classic),
		Vars:     map[string]string{"dir": si.Path, "name": si.Name},
		Warnings: warn,
		Evidence: vr.Evidence,
	}, nil
}

// describeState says what state the node is in, for the operator who must
// decide on a confirmation: application, maintenance, withdrawn
// permissions, client connections, and what msg_stores holds.
func (b *broker) describeState(ctx context.Context, out runbook.Output) (runbook.Result, error) {
	ni, err := b.nodeState(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	return b.describeNode(ctx, out, ni)
}

// describeNode is describeState for what nodeState just answered.
func (b *broker) describeNode(ctx context.Context, out runbook.Output, ni nodeInfo) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	var parts []string
	switch {
	case !ni.Running:
		parts = append(parts, "application STOPPED (no client can connect)")
	case ni.Drained:
		parts = append(parts, "application running, IN MAINTENANCE (every listener suspended, no client can connect)")
	default:
		parts = append(parts, "application running, not in maintenance")
	}
	bl, err := b.readBlocked(ctx, ni.DataDir)
	if err != nil {
		return runbook.Result{}, err
	}
	if len(bl.Permissions) > 0 {
		parts = append(parts, "permissions withdrawn from "+describePerms(bl.Permissions)+" (unblock-clients gives them back)")
	}
	switch {
	case ni.Drained:
		// Drained: every client connection was closed and no listener
		// accepts one (reference §6); listing them costs a CLI call.
	case ni.Running:
		// The management API's list (refreshed every 5 s) is good enough
		// to tell the operator, and costs no CLI call.
		cs, err := b.connections(ctx, quietOut{out}, false)
		if err != nil {
			return runbook.Result{}, err
		}
		parts = append(parts, fmt.Sprintf("%d client connections", len(cs)))
	}
	sc, err := inspectStore(ctx, h, filepath.Join(ni.DataDir, "msg_stores"))
	if err != nil {
		return runbook.Result{}, err
	}
	if sc.empty() {
		parts = append(parts, "msg_stores holds no message")
	} else {
		parts = append(parts, fmt.Sprintf("msg_stores holds messages of %d queues (%s in message stores)", len(sc.QueueDirs), humanBytes(sc.RDQBytes)))
	}
	return runbook.Result{
		Summary: fmt.Sprintf("node %s now: %s", b.cfg.Node, strings.Join(parts, "; ")),
		Vars:    map[string]string{"running": strconv.FormatBool(ni.Running), "drained": strconv.FormatBool(ni.Drained), "blocked": strconv.Itoa(len(bl.Permissions))},
	}, nil
}

// humanBytes renders a size for messages: 1.5 GB, 12 MB, 512 B.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
