package rabbitmq

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/runbook"
)

// TestSpecsOnZeroConfig: every operation declares itself without a target,
// names follow adapter.verb-noun, and the ones that delete data say so.
func TestSpecsOnZeroConfig(t *testing.T) {
	ops := Operations(Config{})
	name := regexp.MustCompile(`^rabbitmq\.[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	destructive := map[string]bool{}
	for _, o := range ops {
		s := o.Spec()
		if !name.MatchString(s.Name) {
			t.Errorf("operation name %q is not rabbitmq.verb-noun", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("operation %s declared twice", s.Name)
		}
		seen[s.Name] = true
		if s.Destructive {
			destructive[s.Name] = true
		}
		if _, err := o.Plan(runbook.Call{Op: s.Name, Args: runbook.Args{}}); err != nil {
			t.Errorf("%s: Plan on a zero config: %v", s.Name, err)
		}
	}
	for _, want := range []string{"rabbitmq.list-vhosts", "rabbitmq.list-queues", "rabbitmq.list-connections", "rabbitmq.export-definitions",
		"rabbitmq.import-definitions", "rabbitmq.data-dir", "rabbitmq.stop-app", "rabbitmq.start-app", "rabbitmq.drain", "rabbitmq.revive",
		"rabbitmq.backup-messages", "rabbitmq.restore-messages", "rabbitmq.verify-backup", "rabbitmq.count-messages",
		"rabbitmq.stop-consumers", "rabbitmq.start-consumers", "rabbitmq.exclude-messages", "rabbitmq.check-idle"} {
		if !seen[want] {
			t.Errorf("missing operation %s", want)
		}
	}
	if len(destructive) != 2 || !destructive["rabbitmq.restore-messages"] || !destructive["rabbitmq.exclude-messages"] {
		t.Errorf("destructive operations = %v, want restore-messages and exclude-messages", destructive)
	}
}

// TestPlanShowsTargetAndNoSecret: the plan of a CLI call is the real argv,
// with the node, the --timeout and no password.
func TestPlanShowsTargetAndNoSecret(t *testing.T) {
	t.Setenv("RMQ_TEST_PW", "s3cret-pw")
	cfg := Config{Node: "rabbit@mq1", CLIDir: "/opt/rmq/bin", Timeout: 45e9, Password: runbook.SecretRef{Env: "RMQ_TEST_PW"}, ManagementURL: "http://127.0.0.1:1"}
	for _, o := range Operations(cfg) {
		p, err := o.Plan(runbook.Call{Op: o.Spec().Name, Args: runbook.Args{"file": "/b/definitions.json", "dir": "/b"}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.Summary(), "s3cret-pw") {
			t.Fatalf("%s plan shows the password: %s", o.Spec().Name, p.Summary())
		}
		if o.Spec().Name == "rabbitmq.import-definitions" {
			want := "/opt/rmq/bin/rabbitmqctl -n rabbit@mq1 -q import_definitions /b/definitions.json --timeout 45"
			if got := runbook.QuoteArgv(p.Argv); got != want {
				t.Fatalf("argv = %s, want %s", got, want)
			}
		}
	}
}

// TestMissingNodeAndCLI: a target without a node or CLI gets an error that
// says which setting to fix.
func TestMissingNodeAndCLI(t *testing.T) {
	ctx := context.Background()
	ops := byName(Operations(Config{}))
	_, err := ops["rabbitmq.stop-app"].Run(ctx, runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "rabbitmq.node is not set") {
		t.Fatalf("err = %v", err)
	}
	ops = byName(Operations(Config{Node: "x@y", CLIDir: t.TempDir()}))
	_, err = ops["rabbitmq.stop-app"].Run(ctx, runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "set rabbitmq.cli_dir") {
		t.Fatalf("err = %v", err)
	}
	_, err = ops["rabbitmq.stop-consumers"].Run(ctx, runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "set rabbitmq.consumers.stop") {
		t.Fatalf("err = %v", err)
	}
}

func TestTopicMatch(t *testing.T) {
	cases := []struct {
		p, rk string
		want  bool
	}{
		{"b.drop", "b.drop", true}, {"b.drop", "b.keep", false}, {"b.*", "b.drop", true}, {"b.*", "b.drop.x", false},
		{"b.#", "b", true}, {"b.#", "b.x.y", true}, {"#", "anything.at.all", true}, {"*.mail", "oro.mail", true},
		{"*.mail", "mail", false}, {"#.mail", "a.b.mail", true}, {"a.#.z", "a.z", true}, {"a.#.z", "a.b.c", false},
	}
	for _, c := range cases {
		if got := topicMatch(c.p, c.rk); got != c.want {
			t.Errorf("topicMatch(%q, %q) = %v, want %v", c.p, c.rk, got, c.want)
		}
	}
}

// TestVerifyBackupAndTamper: a backup copied with its manifest verifies; a
// changed and an extra file are both named; compareManifest names a file a
// restore copied differently.
func TestVerifyBackupAndTamper(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{"vhosts/A/.vhost": "v1", "vhosts/A/queues/Q/0.idx": strings.Repeat("x", 5000), "vhosts/A/msg_store_persistent/0.rdq": ""}
	for p, body := range files {
		full := filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	backup := t.TempDir()
	dst := filepath.Join(backup, "msg_stores")
	m, err := file.Copy(context.Background(), src, dst, file.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 3 || m.Bytes != 5002 {
		t.Fatalf("copied %d files, %d bytes; want 3, 5002", m.Files, m.Bytes)
	}
	if err := file.WriteManifest(filepath.Join(backup, ManifestFile), m); err != nil {
		t.Fatal(err)
	}
	res, err := verifyBackup(context.Background(), backup)
	if err != nil {
		t.Fatalf("fresh backup does not verify: %v", err)
	}
	if res.Summary != "3 files, 5002 bytes match the manifest" {
		t.Fatalf("summary = %q", res.Summary)
	}
	os.WriteFile(filepath.Join(dst, "vhosts/A/queues/Q/0.idx"), []byte(strings.Repeat("y", 5000)), 0o640)
	os.WriteFile(filepath.Join(dst, "vhosts/A/extra"), []byte("z"), 0o640)
	_, err = verifyBackup(context.Background(), backup)
	if err == nil || !strings.Contains(err.Error(), "vhosts/A/queues/Q/0.idx") || !strings.Contains(err.Error(), "vhosts/A/extra") {
		t.Fatalf("err = %v", err)
	}
	got, err := file.BuildManifest(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	diffs := compareManifest(m, got)
	if strings.Join(diffs, "|") != "extra file vhosts/A/extra|vhosts/A/queues/Q/0.idx: SHA-256 differs from the manifest" {
		t.Fatalf("diffs = %q", diffs)
	}
}

// TestInspectStore: a fresh node's store (empty rdq files, no queue data)
// is empty; queue data or a non-empty rdq file is not.
func TestInspectStore(t *testing.T) {
	root := t.TempDir()
	v := filepath.Join(root, "vhosts", "623HU0NNYWQQGCQ4COC8Y0UIN")
	os.MkdirAll(filepath.Join(v, "msg_store_persistent"), 0o755)
	os.WriteFile(filepath.Join(v, "msg_store_persistent", "0.rdq"), nil, 0o644)
	os.WriteFile(filepath.Join(v, "recovery.dets"), make([]byte, 5464), 0o644)
	if sc, err := inspectStore(root); err != nil || !sc.empty() {
		t.Fatalf("fresh store: %+v, %v", sc, err)
	}
	q := filepath.Join(v, "queues", "QHASH")
	os.MkdirAll(q, 0o755)
	os.WriteFile(filepath.Join(q, ".queue_name"), []byte("VHOST: v1 QUEUE: cq.a\n"), 0o644)
	os.WriteFile(filepath.Join(q, "journal.jif"), []byte("data"), 0o644)
	sc, err := inspectStore(root)
	if err != nil || sc.empty() || len(sc.QueueDirs) != 1 || sc.QueueDirs[0] != "VHOST: v1 QUEUE: cq.a" {
		t.Fatalf("store with queue data: %+v, %v", sc, err)
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := StartTraining(context.Background(), t.TempDir(), "nope")
	if err == nil || !strings.Contains(err.Error(), "consumer-left, default, newer-messages") {
		t.Fatalf("err = %v", err)
	}
}

func byName(ops []runbook.Operation) map[string]runbook.Operation {
	m := map[string]runbook.Operation{}
	for _, o := range ops {
		m[o.Spec().Name] = o
	}
	return m
}

func discard() runbook.Output { return runbook.OutputFunc(func(runbook.Stream, string) {}) }

// TestBadURLNeverShowsCredentials: a URL in targets.yaml that does not
// parse is reported by its setting and reason, never quoted (it may hold a
// password).
func TestBadURLNeverShowsCredentials(t *testing.T) {
	ctx := context.Background()
	b := &broker{cfg: Config{ManagementURL: "http://admin:s3cret-pw@127.0.0.1:port", AMQPURL: "amqp://admin:s3cret-pw@127.0.0.1:port"}}
	_, herr := b.http(ctx)
	_, aerr := b.dial(ctx, "v1")
	for _, c := range []struct {
		setting string
		err     error
	}{{"rabbitmq.management_url", herr}, {"rabbitmq.amqp_url", aerr}} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.setting+" is not a URL") || strings.Contains(c.err.Error(), "s3cret-pw") {
			t.Errorf("%s: err = %v, want it named without the password", c.setting, c.err)
		}
	}
}
