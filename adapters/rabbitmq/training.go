package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

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
	// directory for the next StartTraining.
	Stop func() error
	// Config is the adapter configuration that reaches the node, as a
	// targets.yaml `rabbitmq:` section would give it.
	Config Config
}

// scenarioDocs maps each training scenario to what it does to the estate.
func scenarioDocs() map[string]string {
	return map[string]string{
		"default":        "classic queues in two vhosts (small, >4 KB and lazy) plus a quorum queue; consumers stopped",
		"newer-messages": "as default, but the restore runbook will not replace a msg_stores that holds messages (the refusal is the lesson)",
		"consumer-left":  "as default, with a consumer left attached to v1/cq.a: the backup refuses until it is gone",
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

// StartTraining starts (or finds running) the training node whose state
// lives in dir, seeds it on first start, and returns its operations and
// parameters. It needs Debian's rabbitmq-server and says how to install it
// when it is missing.
func StartTraining(ctx context.Context, dir, scenario string) (*Training, error) {
	if scenario == "" {
		scenario = "default"
	}
	if _, ok := scenarioDocs()[scenario]; !ok {
		return nil, fmt.Errorf("unknown rabbitmq training scenario %q: known ones are %s", scenario, strings.Join(Scenarios(), ", "))
	}
	if _, err := privnode.BinDirFor(""); err != nil {
		return nil, fmt.Errorf("the rabbitmq training target runs a real node: %w", err)
	}
	n, err := privnode.Start(ctx, privnode.Options{Dir: filepath.Join(dir, "node"), Name: "training", Management: true})
	if err != nil {
		return nil, fmt.Errorf("start the training node: %w", err)
	}
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return n.Stop(ctx)
	}
	cfg := NodeConfig(n)
	cfg.BackupDir = filepath.Join(dir, "backups")
	cfg.Consumers = Commands{
		Stop:  []string{"rm", "-f", filepath.Join(dir, "consumers.running")},
		Start: []string{"touch", filepath.Join(dir, "consumers.running")},
	}
	cfg.Producers = Commands{
		Stop:  []string{"rm", "-f", filepath.Join(dir, "producers.running")},
		Start: []string{"touch", filepath.Join(dir, "producers.running")},
	}
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
	// A backup to restore from exists from the first start on, so the
	// restore runbook can be practised before the backup one.
	first := filepath.Join(cfg.BackupDir, "first")
	if _, err := os.Stat(filepath.Join(first, ManifestFile)); errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(first)
		if _, err := b.exportDefinitions(ctx, nil, filepath.Join(first, "definitions.json")); err != nil {
			stop()
			return nil, err
		}
		if _, err := b.backupMessages(ctx, runbook.OutputFunc(func(runbook.Stream, string) {}), first, "", filepath.Join(first, "definitions.json")); err != nil {
			stop()
			return nil, err
		}
	}
	t := &Training{Ops: Operations(cfg), Config: cfg, Stop: stop, Params: map[string]string{
		"backup_dir":           filepath.Join(cfg.BackupDir, time.Now().UTC().Format("20060102T150405Z")),
		"override_reason":      "",
		"restore_from":         first,
		"node":                 n.Name,
		"replace_nonempty":     "true",
		"exclude_vhost":        "v1",
		"exclude_queue":        "cq.b",
		"exclude_routing_keys": "",
	}}
	switch scenario {
	case "newer-messages":
		t.Params["replace_nonempty"] = "false"
	case "consumer-left":
		conn, err := (&broker{cfg: cfg}).dial(ctx, "v1")
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

// SeedDefinitions is the topology of the training estate and of the tests
// (reference §3, smaller): vhosts v1 and v2, classic queues with small,
// large (>4 KB, kept in msg_store_persistent) and lazy messages, and a
// quorum queue whose messages the procedure cannot carry.
const SeedDefinitions = `{
 "vhosts": [{"name": "v1"}, {"name": "v2"}],
 "permissions": [
  {"user": "guest", "vhost": "v1", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "guest", "vhost": "v2", "configure": ".*", "write": ".*", "read": ".*"}],
 "exchanges": [
  {"name": "oro.default", "vhost": "v1", "type": "topic", "durable": true, "auto_delete": false, "internal": false, "arguments": {}},
  {"name": "ex2", "vhost": "v2", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {}}],
 "queues": [
  {"name": "cq.a", "vhost": "v1", "durable": true, "auto_delete": false, "arguments": {}},
  {"name": "cq.b", "vhost": "v1", "durable": true, "auto_delete": false, "arguments": {}},
  {"name": "cq.big", "vhost": "v1", "durable": true, "auto_delete": false, "arguments": {}},
  {"name": "cq.lazy", "vhost": "v1", "durable": true, "auto_delete": false, "arguments": {"x-queue-mode": "lazy"}},
  {"name": "qq.1", "vhost": "v1", "durable": true, "auto_delete": false, "arguments": {"x-queue-type": "quorum"}},
  {"name": "cq.c", "vhost": "v2", "durable": true, "auto_delete": false, "arguments": {}}],
 "bindings": [
  {"source": "oro.default", "vhost": "v1", "destination": "cq.a", "destination_type": "queue", "routing_key": "a", "arguments": {}},
  {"source": "oro.default", "vhost": "v1", "destination": "cq.b", "destination_type": "queue", "routing_key": "b.*", "arguments": {}},
  {"source": "oro.default", "vhost": "v1", "destination": "cq.big", "destination_type": "queue", "routing_key": "big", "arguments": {}},
  {"source": "oro.default", "vhost": "v1", "destination": "cq.lazy", "destination_type": "queue", "routing_key": "lazy", "arguments": {}},
  {"source": "oro.default", "vhost": "v1", "destination": "qq.1", "destination_type": "queue", "routing_key": "qq", "arguments": {}},
  {"source": "ex2", "vhost": "v2", "destination": "cq.c", "destination_type": "queue", "routing_key": "c", "arguments": {}}]
}`

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
// starting with a unique id ("v1/a/17 ").
func SeedPlan() []SeedMessage {
	return []SeedMessage{
		{"v1", "oro.default", "a", "cq.a", 100, 100},
		{"v1", "oro.default", "b.keep", "cq.b", 30, 100},
		{"v1", "oro.default", "b.drop", "cq.b", 20, 100},
		{"v1", "oro.default", "big", "cq.big", 20, 20 << 10},
		{"v1", "oro.default", "lazy", "cq.lazy", 20, 300},
		{"v1", "oro.default", "qq", "qq.1", 30, 100},
		{"v2", "ex2", "c", "cq.c", 70, 100},
	}
}

// Seed imports SeedDefinitions into a private node, publishes SeedPlan with
// publisher confirms and returns the bodies published to each queue
// ("v1/cq.a"), in order.
func Seed(ctx context.Context, n *privnode.Node) (map[string][][]byte, error) {
	f := filepath.Join(n.Dir, "seed-definitions.json")
	if err := os.WriteFile(f, []byte(SeedDefinitions), 0o644); err != nil {
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
		k := s.Vhost + "/" + s.Queue
		sent[k] = append(sent[k], bodies...)
	}
	return sent, nil
}

// Publish sends s.Count persistent messages with confirms and returns their
// bodies. Each body starts with "VHOST/RK/I " and is padded to s.Size bytes.
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
		body := []byte(fmt.Sprintf("%s/%s/%d ", s.Vhost, s.RoutingKey, i))
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
