package rabbitmq

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/rabbitmq/privnode"
	"github.com/drillbook/drillbook/runbook"
)

// Training is the training target's RabbitMQ estate: a private node on
// loopback seeded with queues and messages.
type Training struct {
	// Ops are the operations bound to the private node.
	Ops []runbook.Operation
	// Params give a working value for every parameter of the shipped
	// rabbitmq-backup and rabbitmq-restore runbooks.
	Params map[string]string
	// Stop shuts the node and its epmd down; the data stays in the
	// directory for the next StartTraining. It is never nil.
	Stop func() error
	// Config is the adapter configuration that reaches the node, as a
	// targets.yaml `rabbitmq:` section would give it.
	Config Config
}

// The training estate's names are the ones operators have (issue 13): its
// main vhost is the default vhost "/", the second one's name needs
// escaping in a URL and an HTTP path, and so do the application's user,
// a queue and an exchange.
const (
	// TrainingVhost is the training estate's second vhost.
	TrainingVhost = "shop/eu ü 5%"
	// TrainingQueue is the classic queue in TrainingVhost.
	TrainingQueue = "orders eu/ü 1%"
	// TrainingExchange is the direct exchange in TrainingVhost.
	TrainingExchange = "ex eu/ü"
	// AppUser is the training application's user: allowed on both vhosts,
	// kept out by maintenance.
	AppUser = "oro app/ü%"
	// AppPassword is AppUser's password on the training node only (a
	// loopback node of the training estate, not a secret of any estate).
	AppPassword = "oro-app-training"
)

// scenarioDocs maps each training scenario to what it does to the estate.
func scenarioDocs() map[string]string {
	return map[string]string{
		"default":        "classic queues in the default vhost / and in \"" + TrainingVhost + "\" (small, >4 KB and lazy) plus a quorum queue; consumers stopped",
		"newer-messages": "as default, but the restore runbook will not replace a msg_stores that holds messages (the refusal is the lesson)",
		"consumer-left":  "as default, with a consumer of the application left attached to /cq.a: the backup refuses until it is gone",
	}
}

// Scenarios returns the names of the training scenarios.
func Scenarios() []string {
	names := make([]string, 0, 3)
	for n := range scenarioDocs() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func checkScenario(scenario string) (string, error) {
	if scenario == "" {
		scenario = "default"
	}
	if _, ok := scenarioDocs()[scenario]; !ok {
		return "", fmt.Errorf("unknown rabbitmq training scenario %q: known ones are %s", scenario, strings.Join(Scenarios(), ", "))
	}
	return scenario, nil
}

func nodeOptions(dir string) privnode.Options {
	return privnode.Options{Dir: filepath.Join(dir, "node"), Name: "training", Management: true}
}

// trainingConfig is the adapter configuration of the training node whose
// state lives in dir.
func trainingConfig(dir string, n *privnode.Node) Config {
	cfg := NodeConfig(n)
	cfg.DataDir = n.DataDir()
	cfg.BackupDir = filepath.Join(dir, "backups")
	cfg.Consumers = Commands{
		Stop:  []string{"rm", "-f", filepath.Join(dir, "consumers.running")},
		Start: []string{"touch", filepath.Join(dir, "consumers.running")},
	}
	cfg.Producers = Commands{
		Stop:  []string{"rm", "-f", filepath.Join(dir, "producers.running")},
		Start: []string{"touch", filepath.Join(dir, "producers.running")},
	}
	return cfg
}

// trainingParams are the parameter values StartTraining and PlanTraining
// give: the newest sealed set is restored, onto the training node.
func trainingParams(scenario string, n *privnode.Node) map[string]string {
	p := map[string]string{
		"override_reason":      "",
		"restore_from":         "",
		"unsealed_reason":      "",
		"node":                 n.Name,
		"replace_nonempty":     "true",
		"exclude_vhost":        "/",
		"exclude_queue":        "cq.b",
		"exclude_routing_keys": "",
	}
	if scenario == "newer-messages" {
		p["replace_nonempty"] = "false"
	}
	return p
}

// PlanTraining returns the training estate StartTraining would give for
// dir and scenario, without starting the node or anything else: its
// operations plan (with the node's real name, ports and directories) but
// refuse to run, and its parameters are StartTraining's. The first call
// for a directory chooses the node's ports and records them, so the run
// uses those. It takes milliseconds and needs no RabbitMQ installed.
func PlanTraining(dir, scenario string) (Training, error) {
	scenario, err := checkScenario(scenario)
	if err != nil {
		return Training{}, err
	}
	n, err := privnode.Prepare(nodeOptions(dir))
	if err != nil {
		return Training{}, fmt.Errorf("the training node's state in %s: %w", dir, err)
	}
	cfg := trainingConfig(dir, n)
	var ops []runbook.Operation
	for _, o := range Operations(cfg) {
		ops = append(ops, planOnly{o})
	}
	return Training{Ops: ops, Config: cfg, Params: trainingParams(scenario, n), Stop: func() error { return nil }}, nil
}

// planOnly is an operation of an estate opened for planning: it plans,
// and refuses to run, since nothing was started.
type planOnly struct{ runbook.Operation }

// Run refuses: the estate was opened for plan only.
func (p planOnly) Run(context.Context, runbook.Call, runbook.Output) (runbook.Result, error) {
	return runbook.Result{ExitCode: -1}, errors.New("the training node was not started: this estate was opened to plan only (drillbook run starts it)")
}

// StartTraining starts (or finds running) the training node whose state
// lives in dir, seeds it on first start, makes sure a sealed backup set
// exists to restore from, and returns its operations and parameters. It
// needs Debian's rabbitmq-server and says how to install it when it is
// missing.
func StartTraining(ctx context.Context, dir, scenario string) (*Training, error) {
	scenario, err := checkScenario(scenario)
	if err != nil {
		return nil, err
	}
	if _, err := privnode.BinDirFor(""); err != nil {
		return nil, fmt.Errorf("the rabbitmq training target runs a real node: %w", err)
	}
	n, err := privnode.Start(ctx, nodeOptions(dir))
	if err != nil {
		return nil, fmt.Errorf("start the training node: %w", err)
	}
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return n.Stop(ctx)
	}
	cfg := trainingConfig(dir, n)
	b := &broker{cfg: cfg}
	seeded := filepath.Join(dir, "seeded")
	if _, err := os.Stat(seeded); errors.Is(err, os.ErrNotExist) {
		if _, err := Seed(ctx, n); err != nil {
			stop()
			return nil, fmt.Errorf("seed the training node: %w", err)
		}
		// Without the mark the next start would publish the seed again.
		if err := os.WriteFile(seeded, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			stop()
			return nil, fmt.Errorf("record the seeding of the training node: %w", err)
		}
	}
	// A sealed backup set to restore from exists from the first start on,
	// so the restore runbook can be practised before the backup one.
	if err := os.MkdirAll(cfg.BackupDir, 0o755); err != nil {
		stop()
		return nil, err
	}
	sets, err := listSets(ctx, host.NewLocal(runbook.LocalHost), cfg.BackupDir)
	if err != nil {
		stop()
		return nil, err
	}
	sealed := false
	for _, s := range sets {
		sealed = sealed || s.Sealed
	}
	if !sealed {
		if err := b.firstBackup(ctx); err != nil {
			stop()
			return nil, fmt.Errorf("take the training estate's first backup: %w", err)
		}
	}
	t := &Training{Ops: Operations(cfg), Config: cfg, Stop: stop, Params: trainingParams(scenario, n)}
	if scenario == "consumer-left" {
		conn, err := AppConn(ctx, cfg, "/")
		if err != nil {
			stop()
			return nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.Consume("cq.a", "training-left-behind", false, false, false, false, nil)
		}
		if err != nil {
			conn.Close()
			stop()
			return nil, err
		}
		t.Stop = func() error { conn.Close(); return stop() }
	}
	return t, nil
}

// firstBackup takes a backup the way the backup runbook does: a new set,
// definitions, msg_stores with counts, sealed.
func (b *broker) firstBackup(ctx context.Context) error {
	quiet := runbook.OutputFunc(func(runbook.Stream, string) {})
	h, err := b.cfg.nodeHost()
	if err != nil {
		return err
	}
	dir, err := newSet(ctx, h, b.cfg.BackupDir, time.Now())
	if err != nil {
		return err
	}
	defs := filepath.Join(dir, DefinitionsFile)
	if _, err := b.exportDefinitions(ctx, quiet, defs); err != nil {
		return err
	}
	if _, err := b.backupMessages(ctx, quiet, dir, "", defs); err != nil {
		return err
	}
	_, err = sealSet(ctx, h, dir, b.cfg.Node, time.Now())
	return err
}

// AppConn connects to vhost of the node cfg reaches as the training
// application's user (AppUser), the way the application would.
func AppConn(ctx context.Context, cfg Config, vhost string) (*amqp.Connection, error) {
	cfg.User, cfg.Password = AppUser, runbook.SecretRef{}
	b := &broker{cfg: cfg, pw: AppPassword, pwOK: true}
	return b.dial(ctx, vhost)
}

// NodeConfig returns the adapter configuration that reaches a private node.
func NodeConfig(n *privnode.Node) Config {
	env := n.Env()
	return Config{
		Node:          n.Name,
		CLIDir:        n.BinDir,
		Env:           map[string]string{"HOME": env["HOME"], "ERL_EPMD_PORT": env["ERL_EPMD_PORT"], "RABBITMQ_MNESIA_BASE": env["RABBITMQ_MNESIA_BASE"]},
		Timeout:       30 * time.Second,
		ManagementURL: n.ManagementURL(),
		AMQPURL:       fmt.Sprintf("amqp://127.0.0.1:%d", n.AMQPPort),
	}
}

// SeedDefinitions returns the topology of the training estate and of the
// tests (reference §3, smaller) as a definitions file: the default vhost
// "/" with classic queues of small, large (>4 KB, kept in
// msg_store_persistent) and lazy messages and a quorum queue whose messages
// the procedure cannot carry; TrainingVhost with TrainingQueue; guest (the
// operator) and AppUser (the application) allowed on both.
func SeedDefinitions() []byte {
	type m = map[string]any
	perm := func(user, vhost string) m {
		return m{"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
	}
	queue := func(vhost, name string, args m) m {
		return m{"name": name, "vhost": vhost, "durable": true, "auto_delete": false, "arguments": args}
	}
	bind := func(vhost, ex, q, rk string) m {
		return m{"source": ex, "vhost": vhost, "destination": q, "destination_type": "queue", "routing_key": rk, "arguments": m{}}
	}
	defs := m{
		"vhosts":      []m{{"name": "/"}, {"name": TrainingVhost}},
		"users":       []m{{"name": AppUser, "password_hash": passwordHash(AppPassword), "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}},
		"permissions": []m{perm("guest", "/"), perm("guest", TrainingVhost), perm(AppUser, "/"), perm(AppUser, TrainingVhost)},
		"exchanges": []m{
			{"name": "oro.default", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false, "internal": false, "arguments": m{}},
			{"name": TrainingExchange, "vhost": TrainingVhost, "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": m{}}},
		"queues": []m{
			queue("/", "cq.a", m{}), queue("/", "cq.b", m{}), queue("/", "cq.big", m{}),
			queue("/", "cq.lazy", m{"x-queue-mode": "lazy"}), queue("/", "qq.1", m{"x-queue-type": "quorum"}),
			queue(TrainingVhost, TrainingQueue, m{})},
		"bindings": []m{
			bind("/", "oro.default", "cq.a", "a"), bind("/", "oro.default", "cq.b", "b.*"), bind("/", "oro.default", "cq.big", "big"),
			bind("/", "oro.default", "cq.lazy", "lazy"), bind("/", "oro.default", "qq.1", "qq"),
			bind(TrainingVhost, TrainingExchange, TrainingQueue, "c")},
	}
	out, _ := json.MarshalIndent(defs, "", " ")
	return out
}

// passwordHash is RabbitMQ's rabbit_password_hashing_sha256 of a password:
// base64 of a 4-byte salt followed by SHA-256(salt ++ password), as
// definitions files carry users (rabbit_password:hash/2).
func passwordHash(pw string) string {
	salt := make([]byte, 4)
	rand.Read(salt)
	sum := sha256.Sum256(append(append([]byte{}, salt...), pw...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
}

// SeedMessage is one batch of messages Seed publishes.
type SeedMessage struct {
	// Vhost, Exchange and RoutingKey say where the batch is published.
	Vhost, Exchange, RoutingKey string
	// Queue is the queue the routing key leads to ("" when Publish is used
	// on its own).
	Queue string
	// Count is the number of messages, Size each body's length in bytes.
	Count, Size int
}

// SeedPlan returns what Seed publishes: persistent messages, each body
// starting with a unique id ("/|a|17 ").
func SeedPlan() []SeedMessage {
	return []SeedMessage{
		{"/", "oro.default", "a", "cq.a", 100, 100},
		{"/", "oro.default", "b.keep", "cq.b", 30, 100},
		{"/", "oro.default", "b.drop", "cq.b", 20, 100},
		{"/", "oro.default", "big", "cq.big", 20, 20 << 10},
		{"/", "oro.default", "lazy", "cq.lazy", 20, 300},
		{"/", "oro.default", "qq", "qq.1", 30, 100},
		{TrainingVhost, TrainingExchange, "c", TrainingQueue, 70, 100},
	}
}

// QueueKey names a queue in a vhost as the adapter's counts and messages
// do: "VHOST/QUEUE" ("//cq.a" for the default vhost).
func QueueKey(vhost, name string) string { return vhost + "/" + name }

// Seed imports SeedDefinitions into a private node, publishes SeedPlan with
// publisher confirms and returns the bodies published to each queue (by
// QueueKey), in order.
func Seed(ctx context.Context, n *privnode.Node) (map[string][][]byte, error) {
	f := filepath.Join(n.Dir, "seed-definitions.json")
	if err := os.WriteFile(f, SeedDefinitions(), 0o644); err != nil {
		return nil, err
	}
	b := &broker{cfg: NodeConfig(n)}
	if _, err := b.importDefinitions(ctx, runbook.OutputFunc(func(runbook.Stream, string) {}), f, time.Minute); err != nil {
		return nil, err
	}
	sent := map[string][][]byte{}
	for _, s := range SeedPlan() {
		bodies, err := Publish(ctx, NodeConfig(n), s)
		if err != nil {
			return nil, err
		}
		k := QueueKey(s.Vhost, s.Queue)
		sent[k] = append(sent[k], bodies...)
	}
	return sent, nil
}

// Publish sends s.Count persistent messages with confirms and returns their
// bodies. Each body starts with "VHOST|RK|I " and is padded to s.Size
// bytes; "|" is in none of the names.
func Publish(ctx context.Context, cfg Config, s SeedMessage) ([][]byte, error) {
	b := &broker{cfg: cfg}
	conn, err := b.dial(ctx, s.Vhost)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		return nil, err
	}
	bodies := make([][]byte, 0, s.Count)
	var pending []*amqp.DeferredConfirmation
	for i := range s.Count {
		body := []byte(fmt.Sprintf("%s|%s|%d ", s.Vhost, s.RoutingKey, i))
		for len(body) < s.Size {
			body = append(body, byte('a'+len(body)%26))
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, s.Exchange, s.RoutingKey, true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			return nil, err
		}
		pending = append(pending, dc)
		bodies = append(bodies, body)
		if len(pending) >= 500 {
			if err := waitConfirms(ctx, pending); err != nil {
				return nil, err
			}
			pending = pending[:0]
		}
	}
	return bodies, waitConfirms(ctx, pending)
}

func waitConfirms(ctx context.Context, pending []*amqp.DeferredConfirmation) error {
	for _, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("the broker refused a published message (nack)")
		}
	}
	return nil
}
