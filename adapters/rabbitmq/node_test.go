package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/rabbitmq/privnode"
	"github.com/drillbook/drillbook/runbook"
)

// lines collects an operation's output.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) Line(s runbook.Stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, string(s)+": "+text)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

type harness struct {
	t   *testing.T
	ops map[string]runbook.Operation
	cfg Config
}

func (h *harness) run(name string, args runbook.Args) (runbook.Result, error, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out lines
	if args == nil {
		args = runbook.Args{}
	}
	t0 := time.Now()
	res, err := h.ops[name].Run(ctx, runbook.Call{Op: name, Args: args}, &out)
	h.t.Logf("%s: %v", name, time.Since(t0).Round(10*time.Millisecond))
	return res, err, out.String()
}

func (h *harness) must(name string, args runbook.Args) runbook.Result {
	h.t.Helper()
	res, err, out := h.run(name, args)
	if err != nil {
		h.t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return res
}

// TestAdapterOnRealNode drives every operation against a private node whose
// queues live in the default vhost "/" and in a vhost whose name needs
// escaping (TrainingVhost), reached by every connection path: the HTTP API
// (vhost in the path), rabbitmqctl (-p), AMQP (connection.open). It covers
// the preflight checks and their refusals (a missing vhost, a user without
// permissions on one vhost, a management API that does not answer, a node
// in maintenance), a backup set sealed, the restore's refusals before
// anything stops (another node, definitions not imported, newer
// messages), the application kept out from block-clients to
// unblock-clients through stop_app and start_app, a replace that brings
// back exactly the backup with redelivered=true, and the exclusion's
// refusals of a queue that is not where it says and of a hold queue that
// exists.
func TestAdapterOnRealNode(t *testing.T) {
	if _, err := privnode.BinDirFor(""); err != nil {
		t.Fatalf("this test needs a real RabbitMQ: %v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	planned, err := PlanTraining(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := StartTraining(ctx, dir, "default")
	if err != nil {
		t.Fatal(err)
	}
	stop := tr.Stop
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop the training node: %v", err)
		}
	})
	checkTrainingParams(t, tr.Params)
	// Planning gave what the run uses: the same node, ports and values.
	if planned.Config.AMQPURL != tr.Config.AMQPURL || planned.Config.ManagementURL != tr.Config.ManagementURL || planned.Params["node"] != tr.Params["node"] {
		t.Fatalf("PlanTraining gave %+v, StartTraining %+v", planned.Config, tr.Config)
	}
	// A restarted drillbook finds the node as it left it: same node, no
	// second seeding, the first backup kept.
	again, err := StartTraining(ctx, dir, "default")
	if err != nil {
		t.Fatal(err)
	}
	if again.Config.Node != tr.Config.Node || again.Config.AMQPURL != tr.Config.AMQPURL {
		t.Fatalf("second StartTraining found %+v, want the node of the first", again.Config)
	}
	sets, err := Backups(ctx, tr.Config)
	if err != nil || len(sets) != 1 || !sets[0].Sealed {
		t.Fatalf("the training estate's first backup: %+v %v", sets, err)
	}
	cfg := tr.Config
	h := &harness{t: t, ops: byName(tr.Ops), cfg: cfg}
	node := runbook.Args{"node": cfg.Node}

	// Every connection path with "/" and TrainingVhost.
	res, _, out := h.run("rabbitmq.list-queues", runbook.Args{"vhost": TrainingVhost}) // HTTP: /api/queues/shop%2Feu%20%C3%BC%205%25
	if res.Summary != "1 queues, 70 messages" && res.Summary != "1 queues, 0 messages" || !strings.Contains(out, `queue "orders eu/ü 1%" in vhost "shop/eu ü 5%"`) || strings.Contains(out, "using rabbitmqctl") {
		t.Fatalf("list-queues over HTTP in %q: %s\n%s", TrainingVhost, res.Summary, out)
	}
	res = h.must("rabbitmq.count-messages", runbook.Args{"vhost": "/"}) // AMQP connection.open "/"
	if res.Vars["messages"] != "220" {
		t.Fatalf("count in / = %s, want 220 (100+50+20+20+30)", res.Vars["messages"])
	}
	res = h.must("rabbitmq.count-messages", runbook.Args{"vhost": TrainingVhost})
	if res.Vars["messages"] != "70" {
		t.Fatalf("count in %q = %s, want 70", TrainingVhost, res.Vars["messages"])
	}
	if _, err, _ := h.run("rabbitmq.count-messages", runbook.Args{"vhost": "shop/eu"}); err == nil || !strings.Contains(err.Error(), `vhost "shop/eu": node training@localhost has no such vhost; its vhosts are "/", "shop/eu ü 5%"`) {
		t.Fatalf("count in a vhost that does not exist: %v", err)
	}

	// Preflight: passes, then each bad input stops it naming what to change.
	res = h.must("rabbitmq.check-node", runbook.Args{"node": cfg.Node, "exclusive_user": true})
	if !strings.Contains(res.Summary, `user guest allowed on 2 vhosts ("/", "shop/eu ü 5%")`) || !strings.Contains(res.Summary, "management API answers") {
		t.Fatalf("check-node: %s", res.Summary)
	}
	if _, err, _ := h.run("rabbitmq.check-node", runbook.Args{"vhosts": []string{"/", "nope"}}); err == nil || !strings.Contains(err.Error(), `has no vhost "nope"`) {
		t.Fatalf("check-node with a vhost that does not exist: %v", err)
	}
	if _, err := tr.ctl(ctx, "clear_permissions", "-p", TrainingVhost, "guest"); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run("rabbitmq.check-node", nil); err == nil || !strings.Contains(err.Error(), `user guest (rabbitmq.user) has no permissions on vhost "shop/eu ü 5%"`) || !strings.Contains(err.Error(), "set rabbitmq.user") {
		t.Fatalf("check-node with guest not allowed on one vhost: %v", err)
	}
	if _, err := tr.ctl(ctx, "set_permissions", "-p", TrainingVhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	wrong := cfg
	wrong.ManagementURL = "http://127.0.0.1:1"
	if _, err := (&broker{cfg: wrong}).checkNode(ctx, discard(), nil, false); err == nil || !strings.Contains(err.Error(), "check rabbitmq.management_url") {
		t.Fatalf("check-node with a management API that does not answer: %v", err)
	}
	badDir := cfg
	badDir.DataDir = t.TempDir()
	if _, err := (&broker{cfg: badDir}).checkNode(ctx, discard(), nil, false); err == nil || !strings.Contains(err.Error(), "fix rabbitmq.data_dir") {
		t.Fatalf("check-node with rabbitmq.data_dir naming another directory: %v", err)
	}

	// The application left a consumer: check-idle refuses, naming it, and
	// the restore's preflight refuses an application using rabbitmq.user.
	app, err := AppConn(ctx, cfg, "/")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := app.Channel()
	if _, err := ch.Consume("cq.a", "left-behind", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run("rabbitmq.check-idle", nil); err == nil || !strings.Contains(err.Error(), `(user oro app/ü%, vhost /) has 1 consumers`) {
		t.Fatalf("check-idle with a consumer: err = %v", err)
	}
	res = h.must("rabbitmq.check-idle", runbook.Args{"override_reason": "drill says so"})
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "override (drill says so)") {
		t.Fatalf("override not recorded: %q", res.Warnings)
	}
	app.Close()
	guestConn, err := (&broker{cfg: cfg}).dial(ctx, TrainingVhost)
	if err != nil {
		t.Fatal(err)
	}
	// The check asks the management API, whose statistics follow within
	// seconds; an application's connections are long-lived.
	for deadline := time.Now().Add(time.Minute); h.must("rabbitmq.list-connections", nil).Vars["count"] == "0"; {
		if time.Now().After(deadline) {
			t.Fatal("the management API did not list the connection within a minute")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err, _ := h.run("rabbitmq.check-node", runbook.Args{"exclusive_user": true}); err == nil || !strings.Contains(err.Error(), "set rabbitmq.user to an operator user the application does not use") {
		t.Fatalf("check-node with a client using rabbitmq.user: %v", err)
	}
	guestConn.Close()

	// A backup set, sealed.
	set := h.must("rabbitmq.new-backup-set", nil).Vars["dir"]
	h.must("rabbitmq.export-definitions", runbook.Args{"file": filepath.Join(set, DefinitionsFile)})
	res = h.must("rabbitmq.backup-messages", runbook.Args{"dir": set, "definitions": filepath.Join(set, DefinitionsFile)})
	if res.Vars["messages"] != "260" {
		t.Fatalf("backup counted %s classic messages, want 260: %s", res.Vars["messages"], res.Summary)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), `quorum queue "qq.1" in vhost "/" holds 30 messages that this backup does not contain`) {
		t.Fatalf("no quorum warning: %q", res.Warnings)
	}
	h.must("rabbitmq.verify-backup", runbook.Args{"dir": set})
	if _, err, _ := h.run("rabbitmq.find-backup", runbook.Args{"set": filepath.Base(set)}); err == nil || !strings.Contains(err.Error(), "unsealed_reason") {
		t.Fatalf("find-backup of the unsealed set: %v", err)
	}
	h.must("rabbitmq.seal-backup", runbook.Args{"dir": set})
	res = h.must("rabbitmq.find-backup", nil)
	if res.Vars["dir"] != set || !strings.Contains(res.Summary, "6 queues in 2 vhosts, 260 classic-queue messages") {
		t.Fatalf("find-backup: %s %v", res.Summary, res.Vars)
	}
	if _, err, _ := h.run("rabbitmq.check-data-dir", runbook.Args{"node": cfg.Node}); err == nil || !strings.Contains(err.Error(), "set replace_nonempty if that is what you want") {
		t.Fatalf("check-data-dir of a node holding messages: %v", err)
	}
	h.must("rabbitmq.check-data-dir", runbook.Args{"node": cfg.Node, "replace_nonempty": true})
	res = h.must("rabbitmq.check-definitions", runbook.Args{"exclude_vhost": TrainingVhost, "exclude_queue": TrainingQueue})
	if _, err, _ := h.run("rabbitmq.check-definitions", runbook.Args{"exclude_vhost": "/", "exclude_queue": TrainingQueue}); err == nil || !strings.Contains(err.Error(), `exclude_queue "orders eu/ü 1%" is not a queue of vhost "/" in the backup`) {
		t.Fatalf("check-definitions with the queue in another vhost: %v", err)
	}

	// Newer messages after the backup; the restore refuses, before it
	// stops anything: another node, no import, msg_stores not empty.
	if _, err := Publish(ctx, cfg, SeedMessage{Vhost: "/", Exchange: "oro.default", RoutingKey: "a", Count: 5, Size: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": set, "node": "rabbit@elsewhere", "replace_nonempty": true}); err == nil || !strings.Contains(err.Error(), "refused, nothing was done") {
		t.Fatalf("restore aimed at another node: %v", err)
	}
	dd := h.must("rabbitmq.data-dir", nil).Vars["data_dir"]
	if want := filepath.Join(dir, "node", "mnesia", cfg.Node); dd != want {
		t.Fatalf("data-dir = %s, want %s", dd, want)
	}
	// The same node's CLI reached over SSH (rabbitmq.host), sharing it.
	checkRemoteCLI(t, cfg, dd)
	mk := filepath.Join(dd, MarkerFile)
	os.Remove(mk)
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": set, "node": cfg.Node, "replace_nonempty": true}); err == nil || !strings.Contains(err.Error(), "definitions were not imported") {
		t.Fatalf("restore without imported definitions: err = %v", err)
	}
	h.must("rabbitmq.import-definitions", runbook.Args{"file": filepath.Join(set, DefinitionsFile)})
	if _, err, _ := h.run("rabbitmq.check-restore", runbook.Args{"dir": set, "node": cfg.Node}); err == nil || !strings.Contains(err.Error(), "holds messages") {
		t.Fatalf("check-restore over newer messages: err = %v", err)
	}
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": set, "node": cfg.Node}); err == nil || !strings.Contains(err.Error(), "holds messages") {
		t.Fatalf("restore over newer messages: err = %v", err)
	}
	if st := h.must("rabbitmq.node-state", node); !strings.Contains(st.Summary, "application running, not in maintenance") {
		t.Fatalf("after the refusals: %s", st.Summary)
	}

	// Maintenance that holds: drained, the application's user blocked; it
	// stays out through stop_app and start_app; drillbook's user gets in.
	h.must("rabbitmq.drain", node)
	res, _, out = h.run("rabbitmq.list-queues", runbook.Args{"vhost": TrainingVhost})
	if !strings.HasPrefix(res.Summary, "1 queues") || !strings.Contains(out, "using rabbitmqctl") || !strings.Contains(out, `queue "orders eu/ü 1%"`) {
		t.Fatalf("list-queues while drained (rabbitmqctl -p %q): %s\n%s", TrainingVhost, res.Summary, out)
	}
	if _, err, _ := h.run("rabbitmq.check-node", nil); err == nil || !strings.Contains(err.Error(), "is in maintenance mode") || !strings.Contains(err.Error(), "rabbitmq-upgrade -n training@localhost revive") {
		t.Fatalf("check-node while drained: %v", err)
	}
	res = h.must("rabbitmq.block-clients", node)
	if !strings.Contains(res.Summary, `"oro app/ü%" on "/", "shop/eu ü 5%"`) {
		t.Fatalf("block-clients: %s", res.Summary)
	}
	res = h.must("rabbitmq.restore-messages", runbook.Args{"dir": set, "node": cfg.Node, "replace_nonempty": true})
	if !strings.Contains(res.Summary, "manifest verified; application started again") || !strings.Contains(strings.Join(res.Warnings, "\n"), "redelivered=true") {
		t.Fatalf("restore: %s %q", res.Summary, res.Warnings)
	}
	for _, v := range []string{"/", TrainingVhost} {
		if c, err := AppConn(ctx, cfg, v); err == nil {
			c.Close()
			t.Fatalf("the application connected to %q after start_app while blocked", v)
		} else if !strings.Contains(err.Error(), "NOT_ALLOWED") {
			t.Fatalf("the application's connection to %q: %v, want NOT_ALLOWED", v, err)
		}
	}
	if st := h.must("rabbitmq.node-state", node); !strings.Contains(st.Summary, "application running, not in maintenance; permissions withdrawn from 1 users") {
		t.Fatalf("node-state after the restore: %s", st.Summary)
	}
	if res := h.must("rabbitmq.check-node", nil); !strings.Contains(strings.Join(res.Warnings, "\n"), "are still withdrawn by a restore that did not finish") {
		t.Fatalf("check-node while the application is kept out: %q", res.Warnings)
	}
	res = h.must("rabbitmq.count-messages", runbook.Args{"backup": set})
	if !strings.HasPrefix(res.Summary, "all 5 classic queues match the backup (260 messages expected)") {
		t.Fatalf("count after restore: %s", res.Summary)
	}

	// The exclusion refuses a queue that is not in the vhost it names, and
	// a hold queue that exists, before it moves anything.
	if _, err, _ := h.run("rabbitmq.exclude-messages", runbook.Args{"vhost": "/", "queue": TrainingQueue, "routing_keys": []string{"c"}}); err == nil || !strings.Contains(err.Error(), `queue "orders eu/ü 1%" in vhost "/"`) {
		t.Fatalf("exclude from a queue of another vhost: %v", err)
	}
	if _, err, _ := h.run("rabbitmq.exclude-messages", runbook.Args{"vhost": "/", "queue": "cq.b", "routing_keys": []string{"b.drop"}, "hold_queue": "cq.a"}); err == nil || !strings.Contains(err.Error(), `queue "cq.a" already exists in vhost "/"`) {
		t.Fatalf("exclude into an existing hold queue: %v", err)
	}
	h.must("rabbitmq.count-messages", runbook.Args{"backup": set})
	res = h.must("rabbitmq.exclude-messages", runbook.Args{"vhost": "/", "queue": "cq.b", "routing_keys": []string{"b.drop"}})
	if res.Vars["removed"] != "20" || res.Vars["kept"] != "30" {
		t.Fatalf("exclude: %s", res.Summary)
	}
	if _, err, _ := h.run("rabbitmq.count-messages", runbook.Args{"backup": set}); err == nil || !strings.Contains(err.Error(), `queue "cq.b" in vhost "/" has 30 messages, the backup had 50`) {
		t.Fatalf("count without excluded: err = %v", err)
	}
	h.must("rabbitmq.count-messages", runbook.Args{"backup": set, "excluded": []string{"//cq.b"}})

	// End of maintenance: the application gets back in; every restored
	// message comes back once, flagged redelivered, with its routing key.
	res = h.must("rabbitmq.unblock-clients", node)
	if !strings.Contains(res.Summary, "gave back the permissions of 1 users") {
		t.Fatalf("unblock-clients: %s", res.Summary)
	}
	h.must("rabbitmq.revive", node)
	got := consumeAll(t, cfg, "/", "cq.b")
	for i, d := range got {
		if want := fmt.Sprintf("/|b.keep|%d ", i); !strings.HasPrefix(d, want) {
			t.Fatalf("message %d of cq.b = %.20q, want prefix %q", i, d, want)
		}
	}
	if len(got) != 30 {
		t.Fatalf("cq.b holds %d messages after exclusion, want 30", len(got))
	}
	if got := consumeAll(t, cfg, TrainingVhost, TrainingQueue); len(got) != 70 {
		t.Fatalf("%q holds %d messages after the restore, want 70", TrainingQueue, len(got))
	}

	// The consumer-left scenario attaches to the same node with the
	// application's consumer left on /cq.a: the backup's check refuses
	// until Stop closes it.
	left, err := StartTraining(ctx, dir, "consumer-left")
	if err != nil {
		t.Fatal(err)
	}
	stop = left.Stop
	if _, err, _ := h.run("rabbitmq.check-idle", nil); err == nil || !strings.Contains(err.Error(), "1 consumers and 1 client connections remain") {
		t.Fatalf("check-idle in the consumer-left scenario: err = %v", err)
	}
}

// ctl runs rabbitmqctl against the training node, as an administrator
// would by hand.
func (t *Training) ctl(ctx context.Context, args ...string) (string, error) {
	return (&broker{cfg: t.Config}).ctl(ctx, nil, "rabbitmqctl", args...)
}

// consumeAll reads every message of a queue as the application would
// (acking it) and returns the bodies, each checked to carry the routing
// key it was published with and, restored from a copied store, the
// redelivered flag.
func consumeAll(t *testing.T, cfg Config, vhost, q string) []string {
	t.Helper()
	conn, err := AppConn(context.Background(), cfg, vhost)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for {
		d, ok, err := ch.Get(q, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return bodies
		}
		if rk := strings.Split(string(d.Body), "|")[1]; rk != d.RoutingKey {
			t.Fatalf("message %.20q has routing key %q", d.Body, d.RoutingKey)
		}
		if !d.Redelivered {
			t.Fatalf("restored message %.20q has redelivered=false; the restore's note says true", d.Body)
		}
		bodies = append(bodies, string(d.Body))
		d.Ack(false)
	}
}
