package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
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
	overrideArg := str("override_reason", "take the backup although consumers or connections remain; the reason is recorded", false)
	simple := func(name, summary, tool string, args ...string) *op {
		return &op{
			spec: runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary},
			plan: ctlPlan(tool, args...),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				s, err := b.ctl(ctx, out, tool, args...)
				if err != nil {
					return runbook.Result{}, err
				}
				ev := lastLine(s)
				if ev == "" {
					ev = tool + " " + strings.Join(args, " ") + ": exit 0"
				}
				return runbook.Result{Summary: fmt.Sprintf("%s %s done on %s", tool, strings.Join(args, " "), cfg.Node), Evidence: []string{ev}}, nil
			},
		}
	}
	return []runbook.Operation{
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.list-vhosts", Summary: "list the node's virtual hosts"},
			plan: ctlPlan("rabbitmqctl", "list_vhosts", "name", "--formatter", "json"),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				vs, err := b.vhosts(ctx, out)
				if err != nil {
					return runbook.Result{}, err
				}
				for _, v := range vs {
					out.Line(runbook.Stdout, v)
				}
				return runbook.Result{Summary: fmt.Sprintf("%d vhosts: %s", len(vs), strings.Join(vs, ", ")), Vars: map[string]string{"vhosts": strings.Join(vs, ",")}}, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.list-queues", Summary: "list queues with type, messages and consumers",
				Args: []runbook.ArgSpec{str("vhost", "only this vhost; empty means all", false)}},
			plan: ctlPlan("rabbitmqctl", "list_queues", "-p", "VHOST", "name", "type", "messages", "consumers", "--formatter", "json"),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				qs, err := b.queues(ctx, out, c.Args.String("vhost"))
				if err != nil {
					return runbook.Result{}, err
				}
				total := 0
				for _, q := range qs {
					out.Line(runbook.Stdout, fmt.Sprintf("%-40s %-8s messages=%d consumers=%d", q.key(), q.Type, q.Messages, q.Consumers))
					total += q.Messages
				}
				return runbook.Result{Summary: fmt.Sprintf("%d queues, %d messages", len(qs), total), Warnings: typeWarnings(qs)}, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.list-connections", Summary: "list client connections"},
			plan: ctlPlan("rabbitmqctl", "list_connections", "vhost", "name", "user", "--formatter", "json"),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				cs, err := b.connections(ctx, out, false)
				if err != nil {
					return runbook.Result{}, err
				}
				for _, x := range cs {
					out.Line(runbook.Stdout, fmt.Sprintf("%s vhost=%s user=%s", x.Name, x.Vhost, x.User))
				}
				return runbook.Result{Summary: fmt.Sprintf("%d client connections", len(cs)), Vars: map[string]string{"count": strconv.Itoa(len(cs))}}, nil
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.check-idle", Summary: "refuse while consumers or client (publishing) connections remain",
				Args: []runbook.ArgSpec{overrideArg}},
			plan: detail(func(runbook.Call) string {
				return "list queues (consumers, types) and connections; fail if any consumer or connection remains"
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.checkIdle(ctx, out, c.Args.String("override_reason"))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.export-definitions", Summary: "export definitions (users, vhosts, queues, exchanges, bindings) to a file",
				Args: []runbook.ArgSpec{str("file", "the file to write; must not exist", true)}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv("rabbitmqctl", "export_definitions", cfg.backupPath(c.Args.String("file")))}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.exportDefinitions(ctx, out, cfg.backupPath(c.Args.String("file")))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.import-definitions", Summary: "import definitions with rabbitmqctl, then wait until every queue of the file exists",
				Args: []runbook.ArgSpec{str("file", "the definitions file", true),
					{Name: "wait", Kind: runbook.ArgDuration, Doc: "how long to wait for the queues (default 2m)"}}},
			plan: func(c runbook.Call) (runbook.Plan, error) {
				return runbook.Plan{Host: cfg.host(), Argv: cfg.ctlArgv("rabbitmqctl", "import_definitions", cfg.backupPath(c.Args.String("file"))),
					Detail: "then poll list_queues until every queue of the file exists"}, nil
			},
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.importDefinitions(ctx, out, cfg.backupPath(c.Args.String("file")), c.Args.Duration("wait", 2*time.Minute))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.check-queues", Summary: "succeed when every queue of a definitions file exists on the node",
				Args: []runbook.ArgSpec{str("file", "the definitions file", true)}},
			plan: detail(func(c runbook.Call) string {
				return "list queues and compare with " + cfg.backupPath(c.Args.String("file"))
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				defs, err := readDefinitions(cfg.backupPath(c.Args.String("file")))
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
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.data-dir", Summary: "find the node's data directory (and whether it is in maintenance)"},
			plan: ctlPlan("rabbitmqctl", "status", "--formatter", "json"),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if cfg.DataDir != "" {
					return runbook.Result{Summary: "data directory " + cfg.DataDir + " (from targets.yaml)", Vars: map[string]string{"data_dir": cfg.DataDir}}, nil
				}
				st, err := b.status(ctx, out)
				if err != nil {
					return runbook.Result{}, err
				}
				return runbook.Result{
					Summary:  fmt.Sprintf("data directory %s (RabbitMQ %s, under maintenance: %t)", st.DataDirectory, st.Version, st.IsUnderMaintenance),
					Vars:     map[string]string{"data_dir": st.DataDirectory, "under_maintenance": strconv.FormatBool(st.IsUnderMaintenance), "version": st.Version},
					Evidence: []string{"data_directory: " + st.DataDirectory},
				}, nil
			},
		},
		simple("stop-app", "stop the RabbitMQ application (the Erlang node keeps running)", "rabbitmqctl", "stop_app"),
		simple("start-app", "start the RabbitMQ application; this also ends maintenance mode (reference §6)", "rabbitmqctl", "start_app"),
		simple("drain", "put the node in maintenance mode: closes client connections and suspends every listener, HTTP included", "rabbitmq-upgrade", "drain"),
		simple("revive", "take the node out of maintenance mode", "rabbitmq-upgrade", "revive"),
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.backup-messages", Summary: "copy the node's msg_stores into a fresh directory with a SHA-256 manifest and per-queue counts",
				Args: []runbook.ArgSpec{str("dir", "the backup directory (msg_stores, manifest.json and counts.json go in it)", true), overrideArg,
					str("definitions", "the definitions just exported: the queues to count are read from it instead of listed (one CLI call per vhost less)", false)}},
			plan: detail(func(c runbook.Call) string {
				return fmt.Sprintf("check consumers and connections; copy DATA_DIR/msg_stores to %s/msg_stores; write %s and %s", cfg.backupPath(c.Args.String("dir")), ManifestFile, CountsFile)
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.backupMessages(ctx, out, cfg.backupPath(c.Args.String("dir")), c.Args.String("override_reason"), cfg.backupPath(c.Args.String("definitions")))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.verify-backup", Summary: "check a backup's msg_stores against its manifest (sizes and SHA-256)",
				Args: []runbook.ArgSpec{str("dir", "the backup directory", true)}},
			plan: detail(func(c runbook.Call) string {
				return "hash every file of " + cfg.backupPath(c.Args.String("dir")) + "/msg_stores and compare with " + ManifestFile
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return verifyBackup(ctx, cfg.backupPath(c.Args.String("dir")))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.restore-messages", Destructive: true,
				Summary: "replace the node's msg_stores with a backup's (app stopped, definitions imported first), verifying the manifest",
				Args: []runbook.ArgSpec{str("dir", "the backup directory", true),
					str("data_dir", "the node's data directory; empty means ask the node", false),
					str("node", "when set, must be the target's node name (the name the operator confirmed)", false),
					{Name: "replace_nonempty", Kind: runbook.ArgBool, Doc: "replace a msg_stores that holds messages (newer ones are lost, consumed ones come back)"}}},
			plan: detail(func(c runbook.Call) string {
				d := c.Args.String("data_dir")
				if d == "" {
					d = "DATA_DIR"
				}
				return fmt.Sprintf("replace %s/msg_stores as a whole with a copy of %s/msg_stores (staged next to it, swapped in); verify against %s", d, cfg.backupPath(c.Args.String("dir")), ManifestFile)
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				if n := c.Args.String("node"); n != "" && n != cfg.Node {
					return runbook.Result{}, fmt.Errorf("the step names node %s but the target's node is %s: check the node parameter", n, cfg.Node)
				}
				return b.restoreMessages(ctx, out, cfg.backupPath(c.Args.String("dir")), c.Args.String("data_dir"), c.Args.Bool("replace_nonempty"))
			},
		},
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.count-messages", Summary: "count messages exactly (passive queue.declare); with a backup, compare with its counts",
				Args: []runbook.ArgSpec{str("vhost", "only this vhost; empty means all", false),
					str("backup", "a backup directory whose counts.json every classic queue must match", false),
					{Name: "excluded", Kind: runbook.ArgList, Doc: "vhost/queue entries whose count may be lower than the backup's (messages excluded on purpose)"}}},
			plan: detail(func(c runbook.Call) string {
				s := "passive queue.declare of every queue over " + redactURL(cfg.amqpURL())
				if c.Args.String("backup") != "" {
					s += "; compare with " + cfg.backupPath(c.Args.String("backup")) + "/" + CountsFile
				}
				return s
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.countMessages(ctx, out, c.Args.String("vhost"), cfg.backupPath(c.Args.String("backup")), c.Args.List("excluded"))
			},
		},
		b.commandOp("stop-consumers", "stop the application's consumers (target command), then wait until no consumer remains (a warning if some do)", cfg.Consumers.Stop, "consumers.stop", true),
		b.commandOp("start-consumers", "start the application's consumers (target command)", cfg.Consumers.Start, "consumers.start", false),
		b.commandOp("stop-producers", "stop the application's producers (target command)", cfg.Producers.Stop, "producers.stop", false),
		b.commandOp("start-producers", "start the application's producers (target command)", cfg.Producers.Start, "producers.start", false),
		&op{
			spec: runbook.OpSpec{Name: "rabbitmq.exclude-messages", Destructive: true,
				Summary: "move messages whose routing key matches into a separate queue, then delete that queue",
				Args: []runbook.ArgSpec{str("vhost", "the queue's vhost", true), str("queue", "the queue to filter", true),
					{Name: "routing_keys", Kind: runbook.ArgList, Required: true, Doc: "routing keys or topic patterns (*, #) of the messages to drop"},
					str("hold_queue", "the separate queue; empty means QUEUE.excluded", false)}},
			plan: detail(func(c runbook.Call) string {
				return fmt.Sprintf("move messages of %s/%s with routing key %s to %s, then delete it", c.Args.String("vhost"), c.Args.String("queue"),
					strings.Join(c.Args.List("routing_keys"), " or "), holdName(c))
			}),
			run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
				return b.excludeMessages(ctx, out, c.Args.String("vhost"), c.Args.String("queue"), holdName(c), c.Args.List("routing_keys"))
			},
		},
	}
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
			w = append(w, fmt.Sprintf("%s queue %s is not covered: its messages live outside msg_stores and will not be restored (drain it or shovel it into a classic queue before the backup)", q.Type, q.key()))
		}
	}
	return w
}

// checkIdle fails while a client connection remains (consumers included:
// a consumer needs a channel on a connection), unless override is given.
// Any connection counts: a publisher has no consumers, and a backup taken
// while one publishes silently loses the tail of the large messages
// (reference §5.2). list_connections is live and covers every vhost in one
// CLI call; the channels are listed only to name the consumers.
func (b *broker) checkIdle(ctx context.Context, out runbook.Output, override string) (runbook.Result, error) {
	cs, err := b.connections(ctx, out, true)
	if err != nil {
		return runbook.Result{}, err
	}
	var res runbook.Result
	if len(cs) == 0 {
		res.Summary = "no client connection, so no consumer and no producer"
		res.Evidence = []string{"list_connections: 0 connections"}
		return res, nil
	}
	chans, err := b.consumerChannels(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	consumers := 0
	var busy []string
	for _, ch := range chans {
		consumers += ch.ConsumerCount
		busy = append(busy, fmt.Sprintf("channel %q (user %s, vhost %s) has %d consumers", ch.Name, ch.User, ch.Vhost, ch.ConsumerCount))
	}
	for _, c := range cs {
		busy = append(busy, fmt.Sprintf("connection %q (user %s, vhost %s)", c.Name, c.User, c.Vhost))
	}
	if strings.TrimSpace(override) == "" {
		return res, fmt.Errorf("%d consumers and %d client connections remain: %s: stop consumers and producers first (rabbitmq.stop-consumers, rabbitmq.stop-producers), or give override_reason", consumers, len(cs), short(busy))
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("override (%s): %d consumers and %d connections remain: %s", override, consumers, len(cs), short(busy)))
	res.Summary = fmt.Sprintf("%d consumers and %d connections remain, overridden: %s", consumers, len(cs), override)
	res.Evidence = []string{fmt.Sprintf("consumers=%d connections=%d", consumers, len(cs))}
	return res, nil
}

// definitions is the part of a definitions file the adapter reads.
type definitions struct {
	Vhosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Queues []struct {
		Name      string         `json:"name"`
		Vhost     string         `json:"vhost"`
		Type      string         `json:"type"`
		Arguments map[string]any `json:"arguments"`
	} `json:"queues"`
}

func (d definitions) list() []queue {
	qs := make([]queue, 0, len(d.Queues))
	for _, q := range d.Queues {
		qs = append(qs, queue{Vhost: q.Vhost, Name: q.Name, Type: queueType(q.Type, q.Arguments)})
	}
	return qs
}

func readDefinitions(path string) (definitions, error) {
	var d definitions
	if err := readJSON(path, &d); err != nil {
		return d, fmt.Errorf("read definitions: %w", err)
	}
	return d, nil
}

// exportDefinitions uses `rabbitmqctl export_definitions`, which works while
// the node is drained and records each queue's type. rabbit-hole's
// ExportedDefinitions is not used for the file: it tags runtime parameters
// "paramaters", so a round trip through it would drop shovels and
// federation links.
func (b *broker) exportDefinitions(ctx context.Context, out runbook.Output, file string) (runbook.Result, error) {
	if _, err := os.Stat(file); err == nil {
		return runbook.Result{}, fmt.Errorf("%s already exists: export into a fresh backup directory", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return runbook.Result{}, fmt.Errorf("create the backup directory: %w", err)
	}
	if _, err := b.ctl(ctx, out, "rabbitmqctl", "export_definitions", file); err != nil {
		return runbook.Result{}, err
	}
	defs, err := readDefinitions(file)
	if err != nil {
		return runbook.Result{}, err
	}
	qs := defs.list()
	sum, _ := fileSHA256(file)
	return runbook.Result{
		Summary:  fmt.Sprintf("exported %d vhosts and %d queues to %s", len(defs.Vhosts), len(qs), file),
		Vars:     map[string]string{"file": file, "queues": strconv.Itoa(len(qs))},
		Warnings: typeWarnings(qs),
		Evidence: []string{fmt.Sprintf("%s sha256=%s", file, sum)},
	}, nil
}

func fileSHA256(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func (b *broker) missingQueues(ctx context.Context, out runbook.Output, defs definitions) ([]string, error) {
	have := map[string]bool{}
	vhosts := map[string]bool{}
	for _, q := range defs.list() {
		vhosts[q.Vhost] = true
	}
	existing, err := b.vhosts(ctx, out)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, v := range existing {
		known[v] = true
	}
	var missing []string
	names := make([]string, 0, len(vhosts))
	for v := range vhosts {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		// list_queues on an unknown vhost succeeds with nothing listed
		// (pitfall 15), so check the vhost itself.
		if !known[v] {
			missing = append(missing, "vhost "+v)
			continue
		}
		qs, err := b.queues(ctx, quietOut{out}, v)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			have[q.key()] = true
		}
	}
	for _, q := range defs.list() {
		if known[q.Vhost] && !have[q.key()] {
			missing = append(missing, q.key())
		}
	}
	return missing, nil
}

func (b *broker) importDefinitions(ctx context.Context, out runbook.Output, file string, wait time.Duration) (runbook.Result, error) {
	defs, err := readDefinitions(file)
	if err != nil {
		return runbook.Result{}, err
	}
	s, err := b.ctl(ctx, out, "rabbitmqctl", "import_definitions", file)
	if err != nil {
		return runbook.Result{}, err
	}
	// The import is asynchronous: queues missing at start_app have their
	// restored data deleted (pitfall 7), so wait for every one of them.
	deadline := time.Now().Add(wait)
	var missing []string
	for {
		missing, err = b.missingQueues(ctx, quietOut{out}, defs)
		if err != nil {
			return runbook.Result{}, err
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return runbook.Result{}, fmt.Errorf("after %s, %d queues of %s still do not exist: %s: check the node's log", wait, len(missing), file, short(missing))
		}
		out.Line(runbook.Info, fmt.Sprintf("waiting for %d queues: %s", len(missing), short(missing)))
		select {
		case <-ctx.Done():
			return runbook.Result{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	qs := defs.list()
	dir, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	sum, _ := fileSHA256(file)
	m := marker{Node: b.cfg.Node, File: file, SHA256: sum, Imported: time.Now().UTC()}
	for _, q := range qs {
		m.Queues = append(m.Queues, q.key())
	}
	if err := writeJSON(filepath.Join(dir, MarkerFile), m); err != nil {
		return runbook.Result{}, fmt.Errorf("record the import in the data directory: %w", err)
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("imported %s: all %d queues in %d vhosts exist", file, len(qs), len(defs.Vhosts)),
		Warnings: typeWarnings(qs),
		Evidence: []string{lastLine(s)},
	}, nil
}

func (b *broker) backupMessages(ctx context.Context, out runbook.Output, dir, override, defsFile string) (runbook.Result, error) {
	if dir == "" {
		return runbook.Result{}, errors.New("no backup directory given")
	}
	idle, err := b.checkIdle(ctx, out, override)
	if err != nil {
		return idle, err
	}
	var qs []queue
	if defsFile != "" {
		// With producers and consumers stopped no queue appears between
		// the export and now.
		defs, err := readDefinitions(defsFile)
		if err != nil {
			return runbook.Result{}, err
		}
		qs = defs.list()
	} else if qs, err = b.queues(ctx, out, ""); err != nil {
		return runbook.Result{}, err
	}
	data, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	// Count before the copy; with producers and consumers stopped nothing
	// changes in between.
	counts, err := b.count(ctx, qs)
	if err != nil {
		return runbook.Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runbook.Result{}, fmt.Errorf("create the backup directory: %w", err)
	}
	src := filepath.Join(data, "msg_stores")
	dst := filepath.Join(dir, "msg_stores")
	if _, err := os.Lstat(dst); err == nil {
		// A second `cp -a src/ dst` would nest msg_stores/msg_stores
		// (pitfall 17); a backup always goes into a fresh directory.
		return runbook.Result{}, fmt.Errorf("%s already exists: back up into a fresh directory", dst)
	}
	out.Line(runbook.Info, fmt.Sprintf("copying %s to %s", src, dst))
	t0 := time.Now()
	m, err := file.Copy(ctx, src, dst, file.CopyOptions{})
	if err != nil {
		return runbook.Result{}, err
	}
	took := time.Since(t0)
	if err := file.WriteManifest(filepath.Join(dir, ManifestFile), m); err != nil {
		return runbook.Result{}, err
	}
	c := Counts{Node: b.cfg.Node, Taken: time.Now().UTC(), Override: override}
	total := 0
	for _, q := range qs {
		c.Queues = append(c.Queues, QueueCount{Vhost: q.Vhost, Name: q.Name, Type: q.Type, Messages: counts[q.key()]})
		if q.Type == "classic" {
			total += counts[q.key()]
		}
	}
	if err := writeJSON(filepath.Join(dir, CountsFile), c); err != nil {
		return runbook.Result{}, err
	}
	warn := append(idle.Warnings, typeWarnings(qs)...)
	for _, q := range c.Queues {
		if q.Type != "classic" && q.Messages > 0 {
			warn = append(warn, fmt.Sprintf("%s queue %s/%s holds %d messages that this backup does not contain", q.Type, q.Vhost, q.Name, q.Messages))
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("backed up %d classic-queue messages: %d files, %d bytes in %s", total, m.Files, m.Bytes, took.Round(time.Millisecond)),
		Vars:     map[string]string{"dir": dir, "messages": strconv.Itoa(total), "files": strconv.Itoa(m.Files), "bytes": strconv.FormatInt(m.Bytes, 10)},
		Warnings: warn,
		Evidence: []string{fmt.Sprintf("%s: %d files, %d bytes, SHA-256 of each", filepath.Join(dir, ManifestFile), m.Files, m.Bytes)},
	}, nil
}

func verifyBackup(ctx context.Context, dir string) (runbook.Result, error) {
	want, err := file.ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		return runbook.Result{}, fmt.Errorf("%w: is %s a drillbook backup?", err, dir)
	}
	rep, err := file.Verify(ctx, filepath.Join(dir, "msg_stores"), want)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("read the backup: %w", err)
	}
	if !rep.OK() {
		return runbook.Result{Evidence: rep.Details}, fmt.Errorf("the backup in %s does not match its manifest: %s", dir, rep.String())
	}
	return runbook.Result{Summary: fmt.Sprintf("%d files, %d bytes match the manifest", want.Files, rep.Bytes),
		Evidence: []string{fmt.Sprintf("%s: %s", filepath.Join(dir, ManifestFile), rep.String())}}, nil
}

func (b *broker) restoreMessages(ctx context.Context, out runbook.Output, dir, dataDir string, replaceNonempty bool) (runbook.Result, error) {
	want, err := file.ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		return runbook.Result{}, fmt.Errorf("%w: is %s a drillbook backup?", err, dir)
	}
	var counts Counts
	if err := readJSON(filepath.Join(dir, CountsFile), &counts); err != nil {
		return runbook.Result{}, fmt.Errorf("read the backup's counts: %w", err)
	}
	running, nodeDir, err := b.nodeState(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	if running {
		return runbook.Result{}, fmt.Errorf("the rabbit application is running on %s: run rabbitmq.stop-app first (the running node would overwrite the copy)", b.cfg.Node)
	}
	if dataDir == "" {
		dataDir = b.cfg.DataDir
	}
	if dataDir == "" {
		dataDir = nodeDir
	}
	// Definitions first (reference §5.2): data of queues the node does not
	// know is deleted at start_app, silently.
	var m marker
	if err := readJSON(filepath.Join(dataDir, MarkerFile), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return runbook.Result{}, fmt.Errorf("definitions were not imported on this node: run rabbitmq.import-definitions with %s first (messages of queues the node does not know are deleted at start_app)", filepath.Join(dir, "definitions.json"))
		}
		return runbook.Result{}, err
	}
	known := map[string]bool{}
	for _, q := range m.Queues {
		known[q] = true
	}
	var unknown []string
	for _, q := range counts.Queues {
		if !known[q.Vhost+"/"+q.Name] {
			unknown = append(unknown, q.Vhost+"/"+q.Name)
		}
	}
	if len(unknown) > 0 {
		return runbook.Result{}, fmt.Errorf("the imported definitions (%s) lack %d queues of this backup: %s: import the backup's own definitions.json first", m.File, len(unknown), short(unknown))
	}
	target := filepath.Join(dataDir, "msg_stores")
	sc, err := inspectStore(target)
	if err != nil {
		return runbook.Result{}, err
	}
	var warn []string
	if !sc.empty() {
		what := fmt.Sprintf("%s holds messages (%d queue directories: %s; %d bytes in message stores)", target, len(sc.QueueDirs), short(sc.QueueDirs), sc.RDQBytes)
		if !replaceNonempty {
			return runbook.Result{}, fmt.Errorf("%s: replacing it loses every message newer than the backup and brings back consumed ones (reference §5.2): restore onto a wiped node, or set replace_nonempty if that is what you want", what)
		}
		warn = append(warn, "replaced a non-empty msg_stores as asked: "+what)
	}
	owner, err := ownerOf(dataDir)
	if err != nil {
		return runbook.Result{}, err
	}
	// Replace, never merge: the documented `cp -a backup/* msg_stores/`
	// merges into live files (pitfall 9). The copy is staged next to the
	// target and swapped in whole, so a failed copy leaves it as it was.
	out.Line(runbook.Info, fmt.Sprintf("replacing %s with %s", target, filepath.Join(dir, "msg_stores")))
	t0 := time.Now()
	got, err := file.Copy(ctx, filepath.Join(dir, "msg_stores"), target, file.CopyOptions{Replace: true})
	if err != nil {
		return runbook.Result{Warnings: warn}, err
	}
	if owner != nil && os.Geteuid() == 0 {
		if err := chownTree(target, *owner); err != nil {
			return runbook.Result{Warnings: warn}, fmt.Errorf("give the restored files to the node's user: %w", err)
		}
	}
	if diffs := compareManifest(want, got); len(diffs) > 0 {
		return runbook.Result{Warnings: warn, Evidence: diffs}, fmt.Errorf("the restored files do not match the backup's manifest (%d differences): %s: the backup is damaged", len(diffs), short(diffs))
	}
	total := 0
	for _, q := range counts.Queues {
		if q.Type == "classic" {
			total += q.Messages
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("restored %d files, %d bytes (%d classic-queue messages at backup time) in %s; manifest verified", got.Files, got.Bytes, total, time.Since(t0).Round(time.Millisecond)),
		Vars:     map[string]string{"data_dir": dataDir, "files": strconv.Itoa(got.Files)},
		Warnings: warn,
		Evidence: []string{fmt.Sprintf("%d files match %s (sizes and SHA-256)", got.Files, filepath.Join(dir, ManifestFile))},
	}, nil
}

func (b *broker) countMessages(ctx context.Context, out runbook.Output, vhost, backup string, excluded []string) (runbook.Result, error) {
	var qs []queue
	var want Counts
	if backup != "" {
		// The backup's queues are the ones to compare; a passive declare
		// finds a missing one, so the node need not be listed.
		if err := readJSON(filepath.Join(backup, CountsFile), &want); err != nil {
			return runbook.Result{}, fmt.Errorf("read the backup's counts: %w", err)
		}
		for _, q := range want.Queues {
			if vhost == "" || vhost == q.Vhost {
				qs = append(qs, queue{Vhost: q.Vhost, Name: q.Name, Type: q.Type})
			}
		}
	} else {
		var err error
		if qs, err = b.queues(ctx, out, vhost); err != nil {
			return runbook.Result{}, err
		}
	}
	counts, err := b.count(ctx, qs)
	if err != nil {
		return runbook.Result{}, err
	}
	total := 0
	for _, q := range qs {
		out.Line(runbook.Stdout, fmt.Sprintf("%-40s %-8s %d", q.key(), q.Type, counts[q.key()]))
		if counts[q.key()] > 0 {
			total += counts[q.key()]
		}
	}
	res := runbook.Result{Summary: fmt.Sprintf("%d messages in %d queues", total, len(qs)), Vars: map[string]string{"messages": strconv.Itoa(total)}}
	if backup == "" {
		return res, nil
	}
	ex := map[string]bool{}
	for _, e := range excluded {
		ex[e] = true
	}
	var bad []string
	matched, expected := 0, 0
	for _, q := range want.Queues {
		k := q.Vhost + "/" + q.Name
		if vhost != "" && q.Vhost != vhost {
			continue
		}
		got := counts[k]
		if q.Type != "classic" {
			switch {
			case q.Messages > 0 && got < q.Messages:
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s queue %s had %d messages at backup time and has %d now: this procedure does not restore it", q.Type, k, q.Messages, max(got, 0)))
			case q.Messages > 0:
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s queue %s has %d messages (%d at backup time) only because this node kept its own quorum data: the backup does not contain them", q.Type, k, got, q.Messages))
			}
			continue
		}
		expected += q.Messages
		switch {
		case got == -1:
			bad = append(bad, k+" does not exist")
		case got == q.Messages:
			matched++
		case ex[k] && got < q.Messages:
			matched++
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %d of %d messages (%d excluded on purpose)", k, got, q.Messages, q.Messages-got))
		default:
			bad = append(bad, fmt.Sprintf("%s has %d messages, the backup had %d", k, got, q.Messages))
		}
	}
	if len(bad) > 0 {
		return res, fmt.Errorf("%d queues differ from the backup's counts: %s", len(bad), short(bad))
	}
	res.Summary = fmt.Sprintf("all %d classic queues match the backup (%d messages expected)", matched, expected)
	res.Evidence = []string{fmt.Sprintf("%d queues match %s", matched, filepath.Join(backup, CountsFile))}
	return res, nil
}

// commandOp runs a target-defined command; stop-consumers then waits until
// no consumer remains (a killed consumer takes up to a second to go,
// reference §7).
func (b *broker) commandOp(name, summary string, argv []string, field string, waitConsumers bool) *op {
	spec := runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary}
	if waitConsumers {
		spec.Args = []runbook.ArgSpec{{Name: "wait", Kind: runbook.ArgDuration, Doc: "how long to wait for consumers to go (default 10s)"}}
	}
	return &op{
		spec: spec,
		plan: func(runbook.Call) (runbook.Plan, error) {
			if len(argv) == 0 {
				return runbook.Plan{Host: "localhost", Detail: "rabbitmq." + field + " is not set in targets.yaml"}, nil
			}
			return runbook.Plan{Host: "localhost", Argv: argv}, nil
		},
		run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
			oc, err := runCommand(ctx, out, argv, field)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, err
			}
			res := runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("%s: exit %d", argv[0], oc.ExitCode)}
			if !waitConsumers {
				return res, nil
			}
			deadline := time.Now().Add(c.Args.Duration("wait", 10*time.Second))
			for {
				chans, err := b.consumerChannels(ctx, quietOut{out})
				if err != nil {
					return res, err
				}
				var busy []string
				for _, ch := range chans {
					busy = append(busy, fmt.Sprintf("%q (user %s, vhost %s): %d consumers", ch.Name, ch.User, ch.Vhost, ch.ConsumerCount))
				}
				if len(busy) == 0 {
					res.Summary = "consumers stopped: no channel has a consumer"
					res.Evidence = []string{"list_channels: 0 consumers"}
					return res, nil
				}
				if time.Now().After(deadline) {
					// Not a failure here: check-idle (with its override)
					// is the step that refuses.
					res.Summary = fmt.Sprintf("consumers remain after the stop command: %s", short(busy))
					res.Warnings = []string{"consumers remain after the stop command: " + short(busy) + ": stop them by hand"}
					return res, nil
				}
				select {
				case <-ctx.Done():
					return res, ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
}

func (b *broker) excludeMessages(ctx context.Context, out runbook.Output, vhost, queueName, hold string, patterns []string) (runbook.Result, error) {
	if len(patterns) == 0 {
		return runbook.Result{Summary: "no routing keys given: nothing excluded"}, nil
	}
	if hold == queueName {
		return runbook.Result{}, errors.New("hold_queue must differ from queue")
	}
	ex, err := b.exclude(ctx, vhost, queueName, hold, patterns, func(s string) { out.Line(runbook.Info, s) })
	if err != nil {
		return runbook.Result{}, err
	}
	out.Line(runbook.Info, fmt.Sprintf("moved %d messages to %s/%s, kept %d in %s", ex.Moved, vhost, hold, ex.Kept, queueName))
	if ex.Seen == 0 {
		return runbook.Result{Summary: fmt.Sprintf("%s/%s is empty: nothing excluded", vhost, queueName), Vars: map[string]string{"removed": "0"}}, nil
	}
	n, err := b.deleteQueue(ctx, vhost, hold)
	if err != nil {
		return runbook.Result{}, err
	}
	if n != ex.Moved {
		return runbook.Result{}, fmt.Errorf("deleted %s/%s with %d messages, but %d were moved into it: something else published to it", vhost, hold, n, ex.Moved)
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("excluded %d messages of %s/%s (routing keys %s); %d kept", ex.Moved, vhost, queueName, strings.Join(patterns, ", "), ex.Kept),
		Vars:     map[string]string{"removed": strconv.Itoa(ex.Moved), "kept": strconv.Itoa(ex.Kept)},
		Evidence: []string{fmt.Sprintf("queue %s/%s deleted with %d messages", vhost, hold, n)},
	}, nil
}
