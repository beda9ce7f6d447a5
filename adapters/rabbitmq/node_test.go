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
	"github.com/drillbook/drillbook/runbooks"
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

// checkTrainingParams: the training target gives a value for every
// parameter of every shipped rabbitmq runbook.
func checkTrainingParams(t *testing.T, params map[string]string) {
	t.Helper()
	for _, id := range []string{"rabbitmq-backup", "rabbitmq-restore"} {
		data, err := runbooks.FS.ReadFile(id + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		rb, err := runbook.Parse(id+".yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rb.Params {
			if _, ok := params[p.Name]; !ok {
				t.Errorf("training gives no value for parameter %s of %s", p.Name, id)
			}
		}
	}
}

// TestAdapterOnRealNode drives every operation against a private node:
// seeded queues, consumers refused, backup with manifest and counts, the
// restore's refusals (app running, no definitions imported, newer messages),
// a replace that brings back exactly the backup, exclusion by routing key,
// and the CLI fallback while the node is drained.
func TestAdapterOnRealNode(t *testing.T) {
	if _, err := privnode.BinDirFor(""); err != nil {
		t.Fatalf("this test needs a real RabbitMQ: %v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
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
	// A restarted drillbook finds the node as it left it: same node, no
	// second seeding, the first backup kept.
	again, err := StartTraining(ctx, dir, "default")
	if err != nil {
		t.Fatal(err)
	}
	if again.Config.Node != tr.Config.Node || again.Config.AMQPURL != tr.Config.AMQPURL || again.Params["restore_from"] != tr.Params["restore_from"] {
		t.Fatalf("second StartTraining found %+v, want the node of the first", again.Config)
	}
	cfg := tr.Config
	h := &harness{t: t, ops: byName(tr.Ops), cfg: cfg}
	backup := filepath.Join(t.TempDir(), "b1")

	res := h.must("rabbitmq.list-queues", nil)
	if res.Summary != "6 queues, 290 messages" && !strings.HasPrefix(res.Summary, "6 queues") {
		t.Fatalf("list-queues: %s", res.Summary)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "quorum queue v1/qq.1") {
		t.Fatalf("warnings = %q, want one naming quorum queue v1/qq.1", res.Warnings)
	}

	res = h.must("rabbitmq.count-messages", nil)
	if res.Vars["messages"] != "290" {
		t.Fatalf("count = %s, want 290 (100+50+20+20+30+70)", res.Vars["messages"])
	}

	// A consumer left attached: check-idle and the backup refuse, naming it.
	conn, err := (&broker{cfg: cfg}).dial(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := conn.Channel()
	if _, err := ch.Consume("cq.a", "left-behind", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run("rabbitmq.check-idle", nil); err == nil || !strings.Contains(err.Error(), "vhost v1) has 1 consumers") {
		t.Fatalf("check-idle with a consumer: err = %v", err)
	}
	if _, err, _ := h.run("rabbitmq.backup-messages", runbook.Args{"dir": backup}); err == nil || !strings.Contains(err.Error(), "consumers") {
		t.Fatalf("backup with a consumer: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(backup, "msg_stores")); !os.IsNotExist(err) {
		t.Fatalf("a refused backup copied msg_stores: %v", err)
	}
	res = h.must("rabbitmq.check-idle", runbook.Args{"override_reason": "drill says so"})
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "override (drill says so)") {
		t.Fatalf("override not recorded: %q", res.Warnings)
	}
	conn.Close()

	res = h.must("rabbitmq.stop-consumers", runbook.Args{"wait": 15 * time.Second})
	if res.Summary != "consumers stopped: no channel has a consumer" {
		t.Fatalf("stop-consumers: %s", res.Summary)
	}
	h.must("rabbitmq.export-definitions", runbook.Args{"file": filepath.Join(backup, "definitions.json")})
	if _, err, _ := h.run("rabbitmq.export-definitions", runbook.Args{"file": filepath.Join(backup, "definitions.json")}); err == nil {
		t.Fatal("a second export over the same file succeeded")
	}
	res = h.must("rabbitmq.backup-messages", runbook.Args{"dir": backup})
	if res.Vars["messages"] != "260" {
		t.Fatalf("backup counted %s classic messages, want 260: %s", res.Vars["messages"], res.Summary)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "quorum queue v1/qq.1 holds 30 messages that this backup does not contain") {
		t.Fatalf("no quorum warning: %q", res.Warnings)
	}
	h.must("rabbitmq.verify-backup", runbook.Args{"dir": backup})

	// Newer messages after the backup.
	if _, err := Publish(ctx, cfg, SeedMessage{Vhost: "v1", Exchange: "oro.default", RoutingKey: "a", Count: 5, Size: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": backup}); err == nil || !strings.Contains(err.Error(), "run rabbitmq.stop-app first") {
		t.Fatalf("restore with the app running: err = %v", err)
	}
	dd := h.must("rabbitmq.data-dir", nil).Vars["data_dir"]
	if want := filepath.Join(dir, "node", "mnesia", cfg.Node); dd != want {
		t.Fatalf("data-dir = %s, want %s", dd, want)
	}
	h.must("rabbitmq.stop-app", nil)
	mk := filepath.Join(dd, MarkerFile)
	os.Rename(mk, mk+".away")
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": backup}); err == nil || !strings.Contains(err.Error(), "definitions were not imported") {
		t.Fatalf("restore without imported definitions: err = %v", err)
	}
	os.Rename(mk+".away", mk)
	if _, err, _ := h.run("rabbitmq.restore-messages", runbook.Args{"dir": backup}); err == nil || !strings.Contains(err.Error(), "holds messages") {
		t.Fatalf("restore over newer messages: err = %v", err)
	}
	res = h.must("rabbitmq.restore-messages", runbook.Args{"dir": backup, "replace_nonempty": true})
	if !strings.Contains(res.Summary, "manifest verified") || len(res.Warnings) != 1 {
		t.Fatalf("restore: %s %q", res.Summary, res.Warnings)
	}
	h.must("rabbitmq.start-app", nil)
	res = h.must("rabbitmq.count-messages", runbook.Args{"backup": backup})
	if !strings.HasPrefix(res.Summary, "all 5 classic queues match the backup (260 messages expected)") {
		t.Fatalf("count after restore: %s", res.Summary)
	}

	// Exclusion by routing key keeps the others in order with their keys.
	res = h.must("rabbitmq.exclude-messages", runbook.Args{"vhost": "v1", "queue": "cq.b", "routing_keys": []string{"b.drop"}})
	if res.Vars["removed"] != "20" || res.Vars["kept"] != "30" {
		t.Fatalf("exclude: %s", res.Summary)
	}
	if _, err, _ := h.run("rabbitmq.count-messages", runbook.Args{"backup": backup}); err == nil || !strings.Contains(err.Error(), "v1/cq.b has 30 messages, the backup had 50") {
		t.Fatalf("count without excluded: err = %v", err)
	}
	h.must("rabbitmq.count-messages", runbook.Args{"backup": backup, "excluded": []string{"v1/cq.b"}})
	got := consumeAll(t, cfg, "v1", "cq.b")
	for i, d := range got {
		if want := fmt.Sprintf("v1/b.keep/%d ", i); !strings.HasPrefix(d, want) {
			t.Fatalf("message %d of cq.b = %.20q, want prefix %q", i, d, want)
		}
	}
	if len(got) != 30 {
		t.Fatalf("cq.b holds %d messages after exclusion, want 30", len(got))
	}

	// Drained: HTTP is down, the CLI still answers.
	h.must("rabbitmq.drain", nil)
	res, err, out := h.run("rabbitmq.list-queues", nil)
	if err != nil || !strings.HasPrefix(res.Summary, "6 queues") || !strings.Contains(out, "using rabbitmqctl") {
		t.Fatalf("list-queues while drained: %v %s\n%s", err, res.Summary, out)
	}
	if v := h.must("rabbitmq.data-dir", nil).Vars["under_maintenance"]; v != "true" {
		t.Fatalf("under_maintenance = %s while drained", v)
	}
	h.must("rabbitmq.revive", nil)

	// The consumer-left scenario attaches to the same node with a consumer
	// left on v1/cq.a: the backup's check refuses until Stop closes it.
	left, err := StartTraining(ctx, dir, "consumer-left")
	if err != nil {
		t.Fatal(err)
	}
	stop = left.Stop
	if _, err, _ := h.run("rabbitmq.check-idle", nil); err == nil || !strings.Contains(err.Error(), "1 consumers and 1 client connections remain") {
		t.Fatalf("check-idle in the consumer-left scenario: err = %v", err)
	}
}

// consumeAll reads every message of a queue (acking it) and returns the
// bodies with their routing keys checked to be the publish-time ones.
func consumeAll(t *testing.T, cfg Config, vhost, q string) []string {
	t.Helper()
	conn, err := (&broker{cfg: cfg}).dial(context.Background(), vhost)
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
		if rk := strings.Split(string(d.Body), "/")[1]; rk != d.RoutingKey {
			t.Fatalf("message %.20q has routing key %q", d.Body, d.RoutingKey)
		}
		bodies = append(bodies, string(d.Body))
		d.Ack(false)
	}
}
