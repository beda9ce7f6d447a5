package rabbitmq

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// op is one operation: its spec, plan and run.
type op struct {
	spec runbook.OpSpec
	plan func(runbook.Call) (runbook.Plan, error)
	run  func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)
}

// Spec describes the operation.
func (o *op) Spec() runbook.OpSpec { return o.spec }

// Plan says what Run would do.
func (o *op) Plan(c runbook.Call) (runbook.Plan, error) { return o.plan(c) }

// Run carries the call out; a failed call never reports exit code 0.
func (o *op) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res, err := o.run(ctx, c, out)
	if res.ExitCode == 0 && err != nil {
		res.ExitCode = -1
	}
	return res, err
}

// MarkerFile is written into the node's data directory by
// import-definitions once every queue of the imported file exists. A
// restore refuses to run without it: messages copied in for queues the node
// does not know are deleted at start_app (reference §5.2). It lives in the
// data directory so that wiping the node's data removes it too.
const MarkerFile = "drillbook-definitions.json"

type marker struct {
	Node     string    `json:"node"`
	File     string    `json:"file"`
	SHA256   string    `json:"sha256"`
	Queues   []string  `json:"queues"`
	Imported time.Time `json:"imported"`
}

// Counts is the content of a backup's counts.json.
type Counts struct {
	// Node is the node the backup was taken from.
	Node string `json:"node"`
	// Taken is when the count was taken (UTC).
	Taken time.Time `json:"taken"`
	// Queues lists every queue with its type and exact message count.
	Queues []QueueCount `json:"queues"`
	// Override is the operator's reason for taking the backup while
	// consumers or connections remained, "" when there were none.
	Override string `json:"override,omitempty"`
}

// QueueCount is one queue's count at backup time.
type QueueCount struct {
	// Vhost and Name identify the queue.
	Vhost string `json:"vhost"`
	Name  string `json:"name"`
	// Type is classic, quorum or stream; only classic queues are in the
	// backup's msg_stores.
	Type string `json:"type"`
	// Messages is the exact ready count (passive declare) at backup time.
	Messages int `json:"messages"`
}

// Operations returns the RabbitMQ operations for one target. Spec works on
// a zero Config.
func Operations(cfg Config) []runbook.Operation {
	b := &broker{cfg: cfg}
	ctlPlan := func(tool string, args ...string) func(runbook.Call) (runbook.Plan, error) {
		return func(runbook.Call) (runbook.Plan, error) {
			return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv(tool, args...)}, nil
		}
	}
	detail := func(f func(runbook.Call) string) func(runbook.Call) (runbook.Plan, error) {
		return func(c runbook.Call) (runbook.Plan, error) {
			return runbook.Plan{Host: cfg.host(), Detail: f(c)}, nil
		}
	}
	str := func(name, doc string, required bool) runbook.ArgSpec {
		return runbook.ArgSpec{Name: name, Kind: runbook.ArgString, Required: required, Doc: doc}
	}
	nodeArg := func(required bool) runbook.ArgSpec {
		return str("node", "the node this step acts on (rabbit@host): must be the target's rabbitmq.node; the confirmation token names it", required)
	}
	overrideArg := str("override_reason", "take the backup although consumers or connections remain; the reason is recorded", false)
	unsealedArg := str("unsealed_reason", "use a set that is not sealed (unfinished or changed since); the reason is recorded", false)
	setArg := str("set", "a backup set's name under rabbitmq.backup_dir, or its absolute path; empty means the newest sealed set", false)
	readOnly := func(name, summary string, args []runbook.ArgSpec, plan func(runbook.Call) (runbook.Plan, error),
		run func(context.Context, runbook.Call, runbook.Output) (runbook.Result, error)) *op {
		return &op{spec: runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary, Args: args, ReadOnly: true}, plan: plan, run: run}
	}
	// outage is a CLI call that takes the node or its application out of
	// service: destructive, bound to the node the token names.
	outage := func(name, summary, leaves, tool string, args ...string) *op {
		return &op{
			spec: runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary, Destructive: true, Object: "node", Args: []runbook.ArgSpec{nodeArg(true)}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv(tool, args...), Object: b.nodeObject(c, leaves)}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, true); err != nil {
					return runbook.Result{}, err
				}
				return b.simple(ctx, out, tool, args...)
			},
		}
	}
	// service is a CLI call that brings service back: not destructive, but
	// bound to the target's node when the step names one.
	service := func(name, summary, tool string, args ...string) *op {
		return &op{
			spec: runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary, Args: []runbook.ArgSpec{nodeArg(false)}},
			plan: ctlPlan(tool, args...),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				return b.simple(ctx, out, tool, args...)
			},
		}
	}
	setDir := func(c runbook.Call, name string) string { return cfg.setPath(c.Args.String(name)) }
	return []runbook.Operation{
		readOnly("list-vhosts", "list the node's virtual hosts", nil,
			ctlPlan("rabbitmqctl", "list_vhosts", "name", "--formatter", "json"),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				vs, err := b.vhosts(ctx, out)
				if err != nil {
					return runbook.Result{}, err
				}
				for _, v := range vs {
					out.Line(runbook.Stdout, v)
				}
				return runbook.Result{Summary: fmt.Sprintf("%d vhosts: %s", len(vs), quoteAll(vs)), Vars: map[string]string{"vhosts": strings.Join(vs, ",")}}, nil
			}),
		readOnly("list-queues", "list queues with type, messages and consumers",
			[]runbook.ArgSpec{str("vhost", "only this vhost; empty means all", false)},
			func(c runbook.Call) (runbook.Plan, error) {
				v := c.Args.String("vhost")
				if v == "" {
					v = "VHOST"
				}
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv("rabbitmqctl", "list_queues", "-p", v, "name", "type", "messages", "consumers", "--formatter", "json")}, nil
			},
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				v := c.Args.String("vhost")
				if err := b.requireVhosts(ctx, out, "vhost", v); err != nil {
					return runbook.Result{}, err
				}
				qs, err := b.queues(ctx, out, v)
				if err != nil {
					return runbook.Result{}, err
				}
				total := 0
				for _, q := range qs {
					out.Line(runbook.Stdout, fmt.Sprintf("%-8s messages=%d consumers=%d  %s", q.Type, q.Messages, q.Consumers, q.label()))
					total += q.Messages
				}
				return runbook.Result{Summary: fmt.Sprintf("%d queues, %d messages", len(qs), total), Warnings: typeWarnings(qs)}, nil
			}),
		readOnly("list-connections", "list client connections", nil,
			ctlPlan("rabbitmqctl", "list_connections", "vhost", "name", "user", "--formatter", "json"),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				cs, err := b.connections(ctx, out, false)
				if err != nil {
					return runbook.Result{}, err
				}
				for _, x := range cs {
					out.Line(runbook.Stdout, fmt.Sprintf("%s vhost=%q user=%q", x.Name, x.Vhost, x.User))
				}
				return runbook.Result{Summary: fmt.Sprintf("%d client connections", len(cs)), Vars: map[string]string{"count": strconv.Itoa(len(cs))}}, nil
			}),
		readOnly("check-idle", "refuse while consumers or client (publishing) connections remain",
			[]runbook.ArgSpec{overrideArg},
			detail(func(runbook.Call) string {
				return "list connections and channels with consumers; fail if any remains"
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.checkIdle(ctx, out, c.Args.String("override_reason"))
			}),
		readOnly("check-node", "check, changing nothing, that the node answers and can be worked on: application running, not in maintenance, management API and AMQP login working, the user allowed on every vhost",
			[]runbook.ArgSpec{nodeArg(false),
				{Name: "vhosts", Kind: runbook.ArgList, Doc: "vhosts that must exist and that the user must be allowed on; empty means every vhost of the node"},
				{Name: "exclusive_user", Kind: runbook.ArgBool, Doc: "also fail when the application connects as rabbitmq.user (maintenance keeps the application out by the other users' permissions)"}},
			detail(func(c runbook.Call) string {
				return fmt.Sprintf("rabbitmqctl eval (app running, maintenance, data directory), list vhosts and the permissions of user %s, GET %s/api/overview, an AMQP login", cfg.user(), orNone(redactURL(cfg.ManagementURL), cfg.ManagementURL))
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				return b.checkNode(ctx, out, c.Args.List("vhosts"), c.Args.Bool("exclusive_user"))
			}),
		readOnly("check-commands", "check that the target's consumer and producer commands are set and can be found", nil,
			detail(func(runbook.Call) string {
				return "look up rabbitmq.consumers.stop/start and rabbitmq.producers.stop/start in PATH on " + cfg.hostLabel()
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return checkCommands(ctx, cfg)
			}),
		readOnly("check-backup-space", "check, changing nothing, that the backup root is a writable directory with room for a copy of the node's msg_stores", nil,
			detail(func(runbook.Call) string {
				return fmt.Sprintf("stat %s (rabbitmq.backup_dir); size of DATA_DIR/msg_stores against its free space", orNone(cfg.BackupDir, cfg.BackupDir))
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.checkBackupSpace(ctx, out)
			}),
		readOnly("find-backup", "find the backup set to restore (the one named, else the newest sealed set under the backup root; an unsealed one only with a reason) and check it whole: seal, manifest (every file hashed), definitions and counts",
			[]runbook.ArgSpec{setArg, unsealedArg},
			detail(func(c runbook.Call) string {
				return fmt.Sprintf("%s; read its seal, definitions and counts; hash every file of its msg_stores against its manifest", describeSetArg(cfg, c))
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return findBackup(ctx, cfg, c.Args.String("set"), c.Args.String("unsealed_reason"))
			}),
		readOnly("check-data-dir", "check, changing nothing, that the node's data directory is on this host, is the configured one, and has room for the backup's msg_stores next to its own",
			[]runbook.ArgSpec{nodeArg(false), setArg, unsealedArg, {Name: "replace_nonempty", Kind: runbook.ArgBool, Doc: "as restore-messages: without it a msg_stores that holds messages is refused here"}},
			detail(func(c runbook.Call) string {
				return fmt.Sprintf("rabbit_mnesia:dir() of %s against rabbitmq.data_dir; msg_stores on the same file system and holding no message; its free space against the size of the msg_stores of %s", cfg.host(), describeSetArg(cfg, c))
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				si, _, err := resolveSet(ctx, h, cfg.BackupDir, c.Args.String("set"), c.Args.String("unsealed_reason"))
				if err != nil {
					return runbook.Result{}, err
				}
				return b.checkDataDir(ctx, out, si.Path, c.Args.Bool("replace_nonempty"))
			}),
		readOnly("check-definitions", "check, changing nothing, a backup set's definitions: they read, name their queues, let rabbitmq.user in to every vhost, and hold the queue to exclude from",
			[]runbook.ArgSpec{setArg, unsealedArg, str("exclude_vhost", "a vhost messages will be excluded from (must be in the definitions)", false),
				str("exclude_queue", "a queue of exclude_vhost messages will be excluded from (must be a classic queue of the definitions)", false)},
			detail(func(c runbook.Call) string { return "read " + DefinitionsFile + " of " + describeSetArg(cfg, c) }),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				si, _, err := resolveSet(ctx, h, cfg.BackupDir, c.Args.String("set"), c.Args.String("unsealed_reason"))
				if err != nil {
					return runbook.Result{}, err
				}
				return b.checkDefinitions(ctx, out, filepath.Join(si.Path, DefinitionsFile), c.Args.String("exclude_vhost"), c.Args.String("exclude_queue"))
			}),
		readOnly("node-state", "say what state the node is in (application, maintenance, withdrawn permissions, connections, msg_stores), changing nothing",
			[]runbook.ArgSpec{nodeArg(false)},
			detail(func(runbook.Call) string { return "rabbitmqctl eval, list_connections; read DATA_DIR" }),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				return b.describeState(ctx, out)
			}),
		readOnly("check-queues", "succeed when every queue of a definitions file exists on the node",
			[]runbook.ArgSpec{str("file", "the definitions file", true)},
			detail(func(c runbook.Call) string {
				return "list queues and compare with " + cfg.setPath(c.Args.String("file"))
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				defs, err := readDefinitions(ctx, h, cfg.setPath(c.Args.String("file")))
				if err != nil {
					return runbook.Result{}, err
				}
				missing, err := b.missingQueues(ctx, out, defs)
				if err != nil {
					return runbook.Result{}, err
				}
				if len(missing) > 0 {
					return runbook.Result{}, fmt.Errorf("%d queues of the definitions are missing: %s", len(missing), short(missing))
				}
				return runbook.Result{Summary: fmt.Sprintf("all %d queues exist", len(defs.Queues))}, nil
			}),
		readOnly("data-dir", "find the node's data directory (and whether it is in maintenance)", nil,
			ctlPlan("rabbitmqctl", "status", "--formatter", "json"),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				st, err := b.status(ctx, out)
				if err != nil {
					return runbook.Result{}, err
				}
				dir, err := b.dataDir(ctx, out)
				if err != nil {
					return runbook.Result{}, err
				}
				return runbook.Result{
					Summary:  fmt.Sprintf("data directory %s (RabbitMQ %s, under maintenance: %t)", dir, st.Version, st.IsUnderMaintenance),
					Vars:     map[string]string{"data_dir": dir, "under_maintenance": strconv.FormatBool(st.IsUnderMaintenance), "version": st.Version},
					Evidence: []string{"data_directory: " + st.DataDirectory},
				}, nil
			}),
		readOnly("verify-backup", "check a backup's msg_stores against its manifest (sizes and SHA-256)",
			[]runbook.ArgSpec{str("dir", "the backup set", true)},
			detail(func(c runbook.Call) string {
				return "hash every file of " + setDir(c, "dir") + "/msg_stores and compare with " + ManifestFile
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				return verifyBackup(ctx, h, setDir(c, "dir"))
			}),
		readOnly("count-messages", "count messages exactly (passive queue.declare); with a backup, compare with its counts",
			[]runbook.ArgSpec{str("vhost", "only this vhost; empty means all", false),
				str("backup", "a backup set whose counts.json every classic queue must match", false),
				{Name: "excluded", Kind: runbook.ArgList, Doc: "vhost/queue entries whose count may be lower than the backup's (messages excluded on purpose)"}},
			detail(func(c runbook.Call) string {
				s := "passive queue.declare of every queue over " + redactURL(cfg.amqpURL())
				if c.Args.String("backup") != "" {
					s += "; compare with " + setDir(c, "backup") + "/" + CountsFile
				}
				return s
			}),
			func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				v := c.Args.String("vhost")
				if err := b.requireVhosts(ctx, out, "vhost", v); err != nil {
					return runbook.Result{}, err
				}
				return b.countMessages(ctx, out, v, setDir(c, "backup"), c.Args.List("excluded"))
			}),
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.new-backup-set", Summary: "create a new backup set (a directory named by the UTC time) under the backup root; an existing set is never reused"},
			plan: detail(func(runbook.Call) string {
				return fmt.Sprintf("mkdir %s/YYYYMMDDTHHMMSSZ, named by the UTC time (a new directory; %s is written only when the backup is complete)", orNone(cfg.BackupDir, cfg.BackupDir), SealFile)
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				dir, err := newSet(ctx, h, cfg.BackupDir, time.Now())
				if err != nil {
					return runbook.Result{}, err
				}
				return runbook.Result{Summary: "new backup set " + dir + " (unsealed until complete)", Vars: map[string]string{"dir": dir, "name": filepath.Base(dir)}}, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.export-definitions", Summary: "export definitions (users, vhosts, queues, exchanges, bindings) to a file",
				Args: []runbook.ArgSpec{str("file", "the file to write; must not exist", true)}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv("rabbitmqctl", "export_definitions", cfg.setPath(c.Args.String("file")))}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.exportDefinitions(ctx, out, cfg.setPath(c.Args.String("file")))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.backup-messages", Summary: "copy the node's msg_stores into a backup set with a SHA-256 manifest and per-queue counts",
				Args: []runbook.ArgSpec{str("dir", "the backup set (msg_stores, manifest.json and counts.json go in it)", true), overrideArg,
					str("definitions", "the definitions just exported: the queues to count are read from it instead of listed (one CLI call per vhost less)", false)}},
			plan: detail(func(c runbook.Call) string {
				return fmt.Sprintf("check consumers and connections; copy DATA_DIR/msg_stores to %s/msg_stores; write %s and %s", setDir(c, "dir"), ManifestFile, CountsFile)
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.backupMessages(ctx, out, setDir(c, "dir"), c.Args.String("override_reason"), cfg.setPath(c.Args.String("definitions")))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.seal-backup", Summary: "seal a complete backup set: record every part's size and SHA-256 so the restore can tell it is whole and unchanged",
				Args: []runbook.ArgSpec{str("dir", "the backup set", true)}},
			plan: detail(func(c runbook.Call) string {
				return fmt.Sprintf("write %s/%s (%s)", setDir(c, "dir"), SealFile, strings.Join(sealedParts(), ", "))
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				dir := setDir(c, "dir")
				h, err := cfg.nodeHost()
				if err != nil {
					return runbook.Result{}, err
				}
				s, err := sealSet(ctx, h, dir, cfg.Node, time.Now())
				if err != nil {
					return runbook.Result{}, err
				}
				return runbook.Result{Summary: fmt.Sprintf("sealed %s (%d parts)", dir, len(s.Parts)), Vars: map[string]string{"dir": dir},
					Evidence: []string{fmt.Sprintf("%s: sealed %s", filepath.Join(dir, SealFile), s.Sealed.Format(time.RFC3339))}}, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.import-definitions", Summary: "import definitions with rabbitmqctl, then wait until every queue of the file exists",
				Args: []runbook.ArgSpec{str("file", "the definitions file", true),
					{Name: "wait", Kind: runbook.ArgDuration, Doc: "how long to wait for the queues (default 2m)"}}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv("rabbitmqctl", "import_definitions", cfg.setPath(c.Args.String("file"))),
					Detail: "then poll list_queues until every queue of the file exists"}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.importDefinitions(ctx, out, cfg.setPath(c.Args.String("file")), c.Args.Duration("wait", 2*time.Minute))
			},
		},
		outage("stop-app", "stop the RabbitMQ application (the Erlang node keeps running): every client is cut off", "the application stopped: no client can connect; start-app brings it back", "rabbitmqctl", "stop_app"),
		service("start-app", "start the RabbitMQ application; this also ends maintenance mode (reference §6)", "rabbitmqctl", "start_app"),
		outage("drain", "put the node in maintenance mode: closes every client connection and suspends every listener, HTTP included",
			"in maintenance: every client connection closed, listeners (AMQP, HTTP) suspended; revive or start_app ends it", "rabbitmq-upgrade", "drain"),
		service("revive", "take the node out of maintenance mode", "rabbitmq-upgrade", "revive"),
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.block-clients", Summary: "withdraw every user's permissions but rabbitmq.user's, recorded in the data directory, so the application cannot connect even after start_app",
				Args: []runbook.ArgSpec{nodeArg(true)}, Object: "node"},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Object: b.nodeObject(c, "every user but "+cfg.user()+" without permissions until unblock-clients"),
					Detail: fmt.Sprintf("list_permissions of every vhost; record them in DATA_DIR/%s; clear_permissions of every user but %s", BlockedFile, cfg.user())}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, true); err != nil {
					return runbook.Result{}, err
				}
				return b.blockClients(ctx, out)
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.unblock-clients", Summary: "give back the permissions block-clients withdrew",
				Args: []runbook.ArgSpec{nodeArg(false)}},
			plan: detail(func(runbook.Call) string {
				return fmt.Sprintf("set_permissions of every entry of DATA_DIR/%s, then remove it", BlockedFile)
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				return b.unblockClients(ctx, out)
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.check-restore", ReadOnly: true,
				Summary: "check, changing nothing, what restore-messages checks before it stops anything, and say what state the node is in",
				Args:    []runbook.ArgSpec{nodeArg(false), str("dir", "the backup set", true), {Name: "replace_nonempty", Kind: runbook.ArgBool, Doc: "as restore-messages"}, unsealedArg}},
			plan: detail(func(c runbook.Call) string {
				return "read the set's seal and counts, the import record and msg_stores of DATA_DIR; rabbitmqctl eval"
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, false); err != nil {
					return runbook.Result{}, err
				}
				pre, err := b.prepareRestore(ctx, out, setDir(c, "dir"), c.Args.Bool("replace_nonempty"), c.Args.String("unsealed_reason"))
				if err != nil {
					return runbook.Result{}, err
				}
				st, err := b.describeNode(ctx, out, pre.node)
				if err != nil {
					return runbook.Result{}, err
				}
				st.Warnings = append(pre.warn, st.Warnings...)
				return st, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.restore-messages", Destructive: true, Object: "node",
				Summary: "stop the application, replace the node's msg_stores with a backup set's (definitions imported first), start the application again; verified against the manifest",
				Args: []runbook.ArgSpec{str("dir", "the backup set", true), nodeArg(true),
					{Name: "replace_nonempty", Kind: runbook.ArgBool, Doc: "replace a msg_stores that holds messages (newer ones are lost, consumed ones come back)"}, unsealedArg}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				dd := cfg.DataDir
				if dd == "" {
					dd = "DATA_DIR (as the node reports it)"
				}
				return runbook.Plan{Host: cfg.host(), Object: b.nodeObject(c, "its msg_stores replaced; the application stopped while it is"),
					Detail: fmt.Sprintf("%s; replace %s/msg_stores as a whole with a copy of %s/msg_stores (staged next to it, swapped in) and verify it against %s; %s",
						runbook.QuoteArgv(cfg.ctlArgv("rabbitmqctl", "stop_app")), dd, setDir(c, "dir"), ManifestFile, runbook.QuoteArgv(cfg.ctlArgv("rabbitmqctl", "start_app")))}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if err := b.bindNode(c, true); err != nil {
					return runbook.Result{}, err
				}
				return b.restoreMessages(ctx, out, setDir(c, "dir"), c.Args.Bool("replace_nonempty"), c.Args.String("unsealed_reason"))
			},
		},
		b.commandOp("stop-consumers", "stop the application's consumers (target command), then wait until no consumer remains (a warning if some do)", cfg.Consumers.Stop, "consumers.stop", true),
		b.commandOp("start-consumers", "start the application's consumers (target command)", cfg.Consumers.Start, "consumers.start", false),
		b.commandOp("stop-producers", "stop the application's producers (target command)", cfg.Producers.Stop, "producers.stop", false),
		b.commandOp("start-producers", "start the application's producers (target command)", cfg.Producers.Start, "producers.start", false),
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.exclude-messages", Destructive: true, Object: "queue",
				Summary: "move messages whose routing key matches into a separate new queue, then delete that queue",
				Args: []runbook.ArgSpec{str("vhost", "the queue's vhost", true), str("queue", "the queue to filter; the confirmation token names it", true),
					{Name: "routing_keys", Kind: runbook.ArgList, Required: true, Doc: "routing keys or topic patterns (*, #) of the messages to drop"},
					str("hold_queue", "the separate queue, which must not exist; empty means QUEUE.excluded", false)}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(),
					Object: fmt.Sprintf("queue %q in vhost %q of node %s", c.Args.String("queue"), c.Args.String("vhost"), cfg.host()),
					Detail: fmt.Sprintf("move the messages of %q in vhost %q with routing key %s to the new queue %q, then delete it", c.Args.String("queue"), c.Args.String("vhost"),
						strings.Join(c.Args.List("routing_keys"), " or "), holdName(c))}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.excludeMessages(ctx, out, c.Args.String("vhost"), c.Args.String("queue"), holdName(c), c.Args.List("routing_keys"))
			},
		},
	}
}

// simple runs one CLI call and says what it did.
func (b *broker) simple(ctx context.Context, out runbook.Output, tool string, args ...string) (runbook.Result, error) {
	s, err := b.ctl(ctx, out, tool, args...)
	if err != nil {
		return runbook.Result{}, err
	}
	ev := lastLine(s)
	if ev == "" {
		ev = tool + " " + strings.Join(args, " ") + ": exit 0"
	}
	return runbook.Result{Summary: fmt.Sprintf("%s %s done on %s", tool, strings.Join(args, " "), b.cfg.Node), Evidence: []string{ev}}, nil
}

// bindNode refuses a call whose node argument is not the target's node:
// the token the operator typed names the node the step acts on, and every
// CLI call goes to rabbitmq.node, so the two must be the same.
func (b *broker) bindNode(c runbook.Call, required bool) error {
	n := c.Args.String("node")
	switch {
	case n == "" && required:
		return fmt.Errorf("this step does not name the node it acts on: give it node: (the target's rabbitmq.node is %s)", b.cfg.host())
	case n != "" && b.cfg.Node == "":
		return fmt.Errorf("the step names node %s but the target sets no rabbitmq.node: set it in targets.yaml", n)
	case n != "" && n != b.cfg.Node:
		return fmt.Errorf("the step names node %s but the target's node is %s: refused, nothing was done: check the node parameter (--param node=%s) or the target", n, b.cfg.Node, b.cfg.Node)
	}
	return nil
}

// nodeObject says in words what a node-bound step acts on and where.
func (b *broker) nodeObject(c runbook.Call, leaves string) string {
	n := c.Args.String("node")
	if n == "" {
		n = b.cfg.host()
	}
	where := "data directory as the node reports it"
	if b.cfg.DataDir != "" {
		where = "data directory " + b.cfg.DataDir
	}
	s := fmt.Sprintf("node %s (%s) on host %s", n, where, nodeHost(n))
	if n != b.cfg.Node && b.cfg.Node != "" {
		s += fmt.Sprintf(" — NOT the target's node %s: the step will be refused", b.cfg.Node)
	}
	if leaves != "" {
		s += "; leaves it " + leaves
	}
	return s
}

// nodeOrTarget is the node a call names, else the target's.
func nodeOrTarget(c runbook.Call, cfg Config) string {
	if n := c.Args.String("node"); n != "" {
		return n
	}
	return cfg.host()
}

// nodeHost is the host part of a node name (rabbit@mq1 runs on mq1).
func nodeHost(node string) string {
	if _, h, ok := strings.Cut(node, "@"); ok && h != "" {
		return h
	}
	return "(no host in the node name)"
}

// describeSetArg says which set a set argument names, for plans.
func describeSetArg(cfg Config, c runbook.Call) string {
	if s := c.Args.String("set"); s != "" {
		return "backup set " + cfg.setPath(s)
	}
	return fmt.Sprintf("the newest sealed backup set under %s", orNone(cfg.BackupDir, cfg.BackupDir))
}

func orNone(s, v string) string {
	if v == "" {
		return "(not set)"
	}
	return s
}

func quoteAll(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func holdName(c runbook.Call) string {
	if h := c.Args.String("hold_queue"); h != "" {
		return h
	}
	return c.Args.String("queue") + ".excluded"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func short(items []string) string {
	if len(items) > 10 {
		return strings.Join(items[:10], ", ") + fmt.Sprintf(" and %d more", len(items)-10)
	}
	return strings.Join(items, ", ")
}

// typeWarnings names every quorum queue and stream: their messages are not
// in msg_stores, so this procedure neither backs them up nor restores them
// (reference §5.2).
func typeWarnings(qs []queue) []string {
	var w []string
	for _, q := range qs {
		if q.Type == "quorum" || q.Type == "stream" {
			w = append(w, fmt.Sprintf("%s %s is not covered: its messages live outside msg_stores and will not be restored (drain it or shovel it into a classic queue before the backup)", q.Type, q.label()))
		}
	}
	return w
}
