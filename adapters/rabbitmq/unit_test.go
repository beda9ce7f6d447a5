package rabbitmq

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
	"github.com/drillbook/drillbook/runbooks"
)

// TestSpecsOnZeroConfig: every operation declares itself without a target,
// names follow adapter.verb-noun, the ones that delete data or take the
// node out of service say so and name the argument that identifies what
// they act on, and the checks are read-only.
func TestSpecsOnZeroConfig(t *testing.T) {
	ops := Operations(Config{})
	name := regexp.MustCompile(`^rabbitmq\.[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	var destructive, readOnly []string
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
			destructive = append(destructive, s.Name+"@"+s.Object)
			if a, ok := s.Arg(s.Object); !ok || !a.Required {
				t.Errorf("%s acts on argument %q, which it does not require", s.Name, s.Object)
			}
		}
		if s.ReadOnly {
			readOnly = append(readOnly, s.Name)
			if s.Destructive {
				t.Errorf("%s is both read-only and destructive", s.Name)
			}
		}
		if _, err := o.Plan(runbook.Call{Op: s.Name, Args: runbook.Args{}}); err != nil {
			t.Errorf("%s: Plan on a zero config: %v", s.Name, err)
		}
	}
	sort.Strings(destructive)
	if got := strings.Join(destructive, " "); got != "rabbitmq.drain@node rabbitmq.exclude-messages@queue rabbitmq.restore-messages@node rabbitmq.stop-app@node rabbitmq.stop-consumers@node rabbitmq.stop-producers@node" {
		t.Errorf("destructive operations = %s", got)
	}
	for _, want := range []string{"check-node", "check-commands", "check-backup-space", "check-data-dir", "check-definitions", "find-backup",
		"check-restore", "node-state", "check-idle", "verify-backup", "count-messages", "list-queues", "list-vhosts", "list-connections", "data-dir", "check-queues"} {
		found := false
		for _, r := range readOnly {
			found = found || r == "rabbitmq."+want
		}
		if !found {
			t.Errorf("rabbitmq.%s is not read-only", want)
		}
	}
	if len(readOnly) != 16 {
		t.Errorf("read-only operations = %v, want the 16 checks and listings", readOnly)
	}
}

// TestShippedRunbooksValidate: both shipped RabbitMQ runbooks validate
// against the adapter's operations, their preflight calls only read-only
// operations, and every outage asks for a token naming the node.
func TestShippedRunbooksValidate(t *testing.T) {
	specs := runbook.NewRegistry(Operations(Config{})...).Specs()
	for _, id := range []string{"rabbitmq-backup", "rabbitmq-restore"} {
		data, err := runbooks.FS.ReadFile(id + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		rb, err := runbook.Parse(id+".yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		if probs := runbook.Validate(rb, specs); probs != nil {
			t.Fatalf("%s: %v", id, probs)
		}
		if len(rb.Preflight) < 3 || len(rb.Finally) < 2 {
			t.Errorf("%s has %d preflight and %d finally steps", id, len(rb.Preflight), len(rb.Finally))
		}
	}
	data, _ := runbooks.FS.ReadFile("rabbitmq-restore.yaml")
	rb, _ := runbook.Parse("rabbitmq-restore.yaml", data)
	var tokens []string
	for _, st := range rb.Steps {
		if st.Destructive {
			tokens = append(tokens, st.ID+"="+st.Confirm)
		}
	}
	if got := strings.Join(tokens, " "); got != "stop-consumers={{ .node }} stop-producers={{ .node }} drain={{ .node }} restore-messages={{ .node }} exclude-messages={{ .exclude_queue }}" {
		t.Errorf("restore tokens = %s", got)
	}
}

// TestPlanShowsTargetAndNoSecret: the plan of a CLI call is the real argv,
// with the node, the --timeout and no password.
func TestPlanShowsTargetAndNoSecret(t *testing.T) {
	t.Setenv("RMQ_TEST_PW", "s3cret-pw")
	cfg := Config{Node: "rabbit@mq1", CLIDir: "/opt/rmq/bin", Timeout: 45e9, Password: runbook.SecretRef{Env: "RMQ_TEST_PW"}, ManagementURL: "http://127.0.0.1:1"}
	for _, o := range Operations(cfg) {
		p, err := o.Plan(runbook.Call{Op: o.Spec().Name, Args: runbook.Args{"file": "/b/definitions.json", "dir": "/b", "node": "rabbit@mq1"}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.Summary()+p.Object, "s3cret-pw") {
			t.Fatalf("%s plan shows the password: %s", o.Spec().Name, p.Summary())
		}
		switch o.Spec().Name {
		case "rabbitmq.import-definitions":
			want := "/opt/rmq/bin/rabbitmqctl -n rabbit@mq1 -q import_definitions /b/definitions.json --timeout 45"
			if got := runbook.QuoteArgv(p.Argv); got != want {
				t.Fatalf("argv = %s, want %s", got, want)
			}
		case "rabbitmq.drain", "rabbitmq.restore-messages", "rabbitmq.stop-app":
			if !strings.HasPrefix(p.Object, "node rabbit@mq1 (data directory as the node reports it) on host mq1; leaves it ") {
				t.Errorf("%s acts on %q", o.Spec().Name, p.Object)
			}
		}
	}
}

// standIn writes stand-ins for rabbitmqctl and rabbitmq-upgrade that record
// their arguments and environment, and answer eval as a running node would.
// Tests that need the real CLI use the real node (node_test.go); these
// check what reaches the CLI, or that nothing does.
func standIn(t *testing.T) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls.log")
	script := `#!/bin/sh
printf '%s\n' "$*" >> ` + calls + `
env >> ` + calls + `.env
case "$*" in *eval*) printf 'true\nfalse\n/nonexistent/data\nok\n' ;; esac
exit 0
`
	for _, tool := range []string{"rabbitmqctl", "rabbitmq-upgrade"} {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, calls
}

// TestDestructiveStepsRefuseAnotherNode: each operation that acts on a node
// refuses a call whose node is not the target's, before it runs anything.
func TestDestructiveStepsRefuseAnotherNode(t *testing.T) {
	cli, calls := standIn(t)
	ops := byName(Operations(Config{Node: "rabbit@mq1", CLIDir: cli, BackupDir: t.TempDir()}))
	for _, name := range []string{"rabbitmq.drain", "rabbitmq.stop-app", "rabbitmq.restore-messages", "rabbitmq.block-clients", "rabbitmq.stop-consumers", "rabbitmq.stop-producers",
		"rabbitmq.unblock-clients", "rabbitmq.start-app", "rabbitmq.revive", "rabbitmq.check-node", "rabbitmq.check-restore", "rabbitmq.node-state"} {
		_, err := ops[name].Run(context.Background(), runbook.Call{Op: name, Args: runbook.Args{"node": "rabbit@mq2", "dir": "/b"}}, discard())
		if err == nil || !strings.Contains(err.Error(), "names node rabbit@mq2 but the target's node is rabbit@mq1: refused") {
			t.Errorf("%s on rabbit@mq2: err = %v", name, err)
		}
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Fatalf("a refused call ran the CLI:\n%s", b)
	}
	// Without a node the outages are refused too: the token must name one.
	_, err := ops["rabbitmq.drain"].Run(context.Background(), runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "does not name the node") {
		t.Errorf("drain without a node: err = %v", err)
	}
}

// TestChildEnvironmentHoldsNoSecret: the CLI and the target's commands get
// the ordinary variables and rabbitmq.env, never a secret drillbook holds
// in its environment (the target's password variable, a secret parameter).
func TestChildEnvironmentHoldsNoSecret(t *testing.T) {
	t.Setenv("RMQ_PLANTED_PW", "Planted-Pw-9913")
	t.Setenv("DRILLBOOK_PARAM_DB_PASSWORD", "Planted-Param-5521")
	cli, calls := standIn(t)
	cmdEnv := filepath.Join(t.TempDir(), "cmd.env")
	cfg := Config{Node: "rabbit@mq1", CLIDir: cli, Env: map[string]string{"ERL_EPMD_PORT": "14999"},
		Password: runbook.SecretRef{Env: "RMQ_PLANTED_PW"}, Consumers: Commands{Start: []string{"sh", "-c", "env > " + cmdEnv}}}
	ops := byName(Operations(cfg))
	if _, err := ops["rabbitmq.revive"].Run(context.Background(), runbook.Call{Args: runbook.Args{}}, discard()); err != nil {
		t.Fatal(err)
	}
	if _, err := ops["rabbitmq.start-consumers"].Run(context.Background(), runbook.Call{Args: runbook.Args{}}, discard()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{calls + ".env", cmdEnv} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		env := string(b)
		if strings.Contains(env, "Planted") {
			t.Errorf("%s holds a planted secret:\n%s", f, env)
		}
		if !strings.Contains(env, "PATH=") {
			t.Errorf("%s has no PATH:\n%s", f, env)
		}
	}
	if b, _ := os.ReadFile(calls + ".env"); !strings.Contains(string(b), "ERL_EPMD_PORT=14999") || !strings.Contains(string(b), "PATH="+cli+":") {
		t.Errorf("the CLI did not get rabbitmq.env and its directory first in PATH:\n%s", b)
	}
}

// TestMissingNodeAndCLI: a target without a node or CLI gets an error that
// says which setting to fix.
func TestMissingNodeAndCLI(t *testing.T) {
	ctx := context.Background()
	ops := byName(Operations(Config{}))
	_, err := ops["rabbitmq.revive"].Run(ctx, runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "rabbitmq.node is not set") {
		t.Fatalf("err = %v", err)
	}
	ops = byName(Operations(Config{Node: "x@y", CLIDir: t.TempDir()}))
	_, err = ops["rabbitmq.revive"].Run(ctx, runbook.Call{Args: runbook.Args{}}, discard())
	if err == nil || !strings.Contains(err.Error(), "set rabbitmq.cli_dir") {
		t.Fatalf("err = %v", err)
	}
	_, err = ops["rabbitmq.stop-consumers"].Run(ctx, runbook.Call{Args: runbook.Args{"node": "x@y"}}, discard())
	if err == nil || !strings.Contains(err.Error(), "set rabbitmq.consumers.stop") {
		t.Fatalf("err = %v", err)
	}
	res, err := checkCommands(ctx, Config{Consumers: Commands{Stop: []string{"true"}, Start: []string{"no-such-program-xyz"}}})
	if err == nil || !strings.Contains(err.Error(), "rabbitmq.consumers.start: no-such-program-xyz is not found") ||
		!strings.Contains(err.Error(), "rabbitmq.producers.stop is not set") {
		t.Fatalf("check-commands: %v %v", res, err)
	}
}

// TestValidateRefusesCredentialsInURLs: a URL holding a password is refused
// naming the setting and what to write instead, and the password is never
// quoted; so are a vhost in amqp_url and relative paths.
func TestValidateRefusesCredentialsInURLs(t *testing.T) {
	probs := Config{
		ManagementURL: "https://admin:Url-Pw-3317@mq1:15671",
		AMQPURL:       "amqp://app:Url-Pw-3317@mq1:5672/%2f",
		BackupDir:     "backups",
	}.Validate()
	all := probs.Error()
	if strings.Contains(all, "Url-Pw-3317") {
		t.Fatalf("a problem quotes the password:\n%s", all)
	}
	for _, want := range []string{
		"rabbitmq.management_url holds credentials: remove them from the URL and set rabbitmq.user and rabbitmq.password",
		"rabbitmq.amqp_url holds credentials",
		`rabbitmq.amqp_url names vhost "/": drillbook connects to each vhost itself; give the listener only (amqp://mq1:5672)`,
		`rabbitmq.backup_dir must be an absolute path, not "backups"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem says %q:\n%s", want, all)
		}
	}
	if p := (Config{ManagementURL: "http://127.0.0.1:15672", AMQPURL: "amqps://mq1:5671/"}).Validate(); len(p) != 0 {
		t.Errorf("good URLs refused: %q", p)
	}
}

// TestVhostURL: a vhost is one path segment escaped exactly once, so the
// default vhost is %2F (never %252f) and every name comes back unchanged
// through an AMQP client's URI parser.
func TestVhostURL(t *testing.T) {
	for _, c := range []struct{ vhost, path string }{
		{"/", "/%2F"},
		{TrainingVhost, "/shop%2Feu%20%C3%BC%205%25"},
		{"v1", "/v1"},
	} {
		u := VhostURL("amqp://127.0.0.1:5672", c.vhost)
		if !strings.HasSuffix(u, c.path) || strings.Contains(u, "%25") != strings.Contains(c.vhost, "%") {
			t.Errorf("VhostURL(%q) = %s, want the path %s", c.vhost, u, c.path)
		}
		p, err := amqp.ParseURI(u)
		if err != nil {
			t.Fatal(err)
		}
		if p.Vhost != c.vhost {
			t.Errorf("%s parses back to vhost %q, want %q", u, p.Vhost, c.vhost)
		}
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

// writeSet writes a complete backup set in dir: a msg_stores with one
// queue's file, its manifest, definitions and counts.
func writeSet(t *testing.T, dir string) {
	t.Helper()
	src := t.TempDir()
	full := filepath.Join(src, "vhosts/A/queues/Q/0.idx")
	os.MkdirAll(filepath.Dir(full), 0o755)
	if err := os.WriteFile(full, []byte(strings.Repeat("x", 5000)), 0o640); err != nil {
		t.Fatal(err)
	}
	m, err := file.Copy(context.Background(), src, filepath.Join(dir, "msg_stores"), file.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := file.WriteManifest(filepath.Join(dir, ManifestFile), m); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, DefinitionsFile), []byte(`{"vhosts":[{"name":"/"}],"queues":[{"name":"q","vhost":"/"}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, CountsFile), []byte(`{"node":"rabbit@mq1","queues":[{"vhost":"/","name":"q","type":"classic","messages":3}]}`), 0o644)
}

// TestBackupSetsNeverOverwrittenAndSealed: every backup gets a new set; a
// set is sealed only when complete; a part changed after sealing makes it
// mixed; the newest sealed set is chosen by default, an unsealed one only
// with a reason; Backups lists them all, newest first.
func TestBackupSetsNeverOverwrittenAndSealed(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	a, err := newSet(context.Background(), localHost(), root, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSet(context.Background(), localHost(), root, now) // the same second: a second set, not the first one again
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a) != "20261203T090000Z" || filepath.Base(b) != "20261203T090000Z-2" {
		t.Fatalf("sets %s and %s", a, b)
	}
	if _, err := sealSet(context.Background(), localHost(), a, "rabbit@mq1", now); err == nil || !strings.Contains(err.Error(), "definitions.json is missing") {
		t.Fatalf("sealing an empty set: %v", err)
	}
	writeSet(t, a)
	if _, err := sealSet(context.Background(), localHost(), a, "rabbit@mq1", now); err != nil {
		t.Fatal(err)
	}
	if _, err := sealSet(context.Background(), localHost(), a, "rabbit@mq1", now); err == nil || !strings.Contains(err.Error(), "sealed already") {
		t.Fatalf("sealing twice: %v", err)
	}
	writeSet(t, b) // complete but never sealed: a backup that stopped before its seal
	c, _ := newSet(context.Background(), localHost(), root, now.Add(time.Hour))

	si, warn, err := resolveSet(context.Background(), localHost(), root, "", "")
	if err != nil || si.Path != a || len(warn) != 1 || !strings.Contains(warn[0], "20261203T100000Z (unsealed") {
		t.Fatalf("newest sealed: %+v %q %v", si, warn, err)
	}
	if _, _, err := resolveSet(context.Background(), localHost(), root, filepath.Base(b), ""); err == nil || !strings.Contains(err.Error(), "is unsealed: the backup did not finish") || !strings.Contains(err.Error(), "unsealed_reason") {
		t.Fatalf("an unsealed set without a reason: %v", err)
	}
	if si, warn, err := resolveSet(context.Background(), localHost(), root, b, "the only copy of Tuesday"); err != nil || si.Path != b || !strings.Contains(strings.Join(warn, ""), "the only copy of Tuesday") {
		t.Fatalf("an unsealed set with a reason: %+v %q %v", si, warn, err)
	}
	if _, _, err := resolveSet(context.Background(), localHost(), root, "20990101T000000Z", ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a missing set: %v", err)
	}

	// A part replaced after sealing makes the set mixed, and refused.
	os.WriteFile(filepath.Join(a, DefinitionsFile), []byte(`{"vhosts":[],"queues":[]}`), 0o644)
	if _, _, err := resolveSet(context.Background(), localHost(), root, "", ""); err == nil || !strings.Contains(err.Error(), "no sealed backup set") || !strings.Contains(err.Error(), "mixed: definitions.json changed after the set was sealed") {
		t.Fatalf("after tampering: %v", err)
	}

	sets, err := Backups(context.Background(), Config{BackupDir: root})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sets {
		got = append(got, s.Name+":"+strings.Fields(s.Problem + " sealed")[0])
	}
	if strings.Join(got, " ") != "20261203T100000Z:unsealed: 20261203T090000Z-2:unsealed: 20261203T090000Z:mixed:" {
		t.Errorf("Backups = %s", got)
	}
	if len(sets[1].Parts) != 3 || sets[1].Parts[2].Size != 5000 {
		t.Errorf("parts of %s: %+v", sets[1].Name, sets[1].Parts)
	}
	if _, err := os.Stat(c); err != nil {
		t.Fatal(err)
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
	res, err := verifyBackup(context.Background(), localHost(), backup)
	if err != nil {
		t.Fatalf("fresh backup does not verify: %v", err)
	}
	if res.Summary != "3 files, 5002 bytes match the manifest" {
		t.Fatalf("summary = %q", res.Summary)
	}
	os.WriteFile(filepath.Join(dst, "vhosts/A/queues/Q/0.idx"), []byte(strings.Repeat("y", 5000)), 0o640)
	os.WriteFile(filepath.Join(dst, "vhosts/A/extra"), []byte("z"), 0o640)
	_, err = verifyBackup(context.Background(), localHost(), backup)
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
	v := filepath.Join(root, "vhosts", "628WB79CIFDYO9LJI6DKMI09L")
	os.MkdirAll(filepath.Join(v, "msg_store_persistent"), 0o755)
	os.WriteFile(filepath.Join(v, "msg_store_persistent", "0.rdq"), nil, 0o644)
	os.WriteFile(filepath.Join(v, "recovery.dets"), make([]byte, 5464), 0o644)
	if sc, err := inspectStore(context.Background(), localHost(), root); err != nil || !sc.empty() {
		t.Fatalf("fresh store: %+v, %v", sc, err)
	}
	q := filepath.Join(v, "queues", "QHASH")
	os.MkdirAll(q, 0o755)
	os.WriteFile(filepath.Join(q, ".queue_name"), []byte("VHOST: /\nQUEUE: cq.a\n"), 0o644)
	os.WriteFile(filepath.Join(q, "journal.jif"), []byte("data"), 0o644)
	sc, err := inspectStore(context.Background(), localHost(), root)
	if err != nil || sc.empty() || len(sc.QueueDirs) != 1 || sc.QueueDirs[0] != "VHOST: / QUEUE: cq.a" {
		t.Fatalf("store with queue data: %+v, %v", sc, err)
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := StartTraining(context.Background(), t.TempDir(), "nope")
	if err == nil || !strings.Contains(err.Error(), "consumer-left, default, newer-messages") {
		t.Fatalf("err = %v", err)
	}
	if _, err := PlanTraining(t.TempDir(), "nope"); err == nil || !strings.Contains(err.Error(), "consumer-left, default, newer-messages") {
		t.Fatalf("PlanTraining: err = %v", err)
	}
}

// TestPlanTrainingStartsNothing: planning on the training estate gives a
// value for every parameter of both runbooks and the node's real name and
// directories, starts no process, and its operations refuse to run.
func TestPlanTrainingStartsNothing(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now()
	tr, err := PlanTraining(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PlanTraining: %v", time.Since(t0))
	checkTrainingParams(t, tr.Params)
	if tr.Params["node"] != "training@localhost" || tr.Config.DataDir != filepath.Join(dir, "node", "mnesia", "training@localhost") {
		t.Fatalf("params %v, config %+v", tr.Params, tr.Config)
	}
	if _, err := os.Stat(filepath.Join(dir, "node", "mnesia")); !os.IsNotExist(err) {
		t.Fatalf("PlanTraining created the node's data (stat: %v)", err)
	}
	again, err := PlanTraining(dir, "newer-messages")
	if err != nil || again.Config.AMQPURL != tr.Config.AMQPURL || again.Params["replace_nonempty"] != "false" {
		t.Fatalf("second PlanTraining: %+v %v", again.Config, err)
	}
	ops := byName(tr.Ops)
	p, err := ops["rabbitmq.drain"].Plan(runbook.Call{Args: runbook.Args{"node": tr.Params["node"]}})
	if err != nil || !strings.Contains(p.Object, "node training@localhost (data directory "+tr.Config.DataDir+")") {
		t.Fatalf("plan of drain: %+v %v", p, err)
	}
	if _, err := ops["rabbitmq.list-vhosts"].Run(context.Background(), runbook.Call{Args: runbook.Args{}}, discard()); err == nil || !strings.Contains(err.Error(), "opened to plan only") {
		t.Fatalf("Run on a planned estate: %v", err)
	}
	if err := tr.Stop(); err != nil {
		t.Fatal(err)
	}
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
	probs := b.cfg.Validate().Error()
	if !strings.Contains(probs, "rabbitmq.amqp_url is not a URL") || strings.Contains(probs, "s3cret-pw") {
		t.Errorf("Validate: %s", probs)
	}
}

// mountTmpfs mounts a tmpfs of the given size at dir until the test ends: a
// real small file system, for the free-space and file-system checks.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("this test mounts small file systems (tmpfs) and needs root: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestRoomChecksOnRealFileSystems: the backup root and the data directory
// are judged on real file systems: a disk too small for the copy, a
// backup root inside the data directory, a msg_stores that is a mount
// point or a link are each refused, naming what to change.
func TestRoomChecksOnRealFileSystems(t *testing.T) {
	data := filepath.Join(t.TempDir(), "mnesia", "rabbit@mq1")
	stores := filepath.Join(data, "msg_stores", "vhosts", "A")
	if err := os.MkdirAll(stores, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(stores, "0.rdq")
	if err := os.WriteFile(big, make([]byte, 20<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(t.TempDir(), "small")
	mountTmpfs(t, small, "32m")

	// 20 MB to copy onto a 32 MB file system: refused (with the margin for
	// the small files); 4 MB fits.
	if _, err := checkBackupRoom(context.Background(), localHost(), small, data, "rabbit@mq1"); err == nil || !strings.Contains(err.Error(), "backup root "+small+" (rabbitmq.backup_dir) has 32.0 MB free, and the copy of msg_stores (20.0 MB in 1 files) needs about") {
		t.Fatalf("a backup root too small: %v", err)
	}
	if err := os.Truncate(big, 4<<20); err != nil {
		t.Fatal(err)
	}
	if res, err := checkBackupRoom(context.Background(), localHost(), small, data, "rabbit@mq1"); err != nil || !strings.Contains(res.Summary, "msg_stores of node rabbit@mq1 holds 4.0 MB in 1 files") {
		t.Fatalf("a backup root with room: %v %v", res, err)
	}
	if _, err := checkBackupRoom(context.Background(), localHost(), filepath.Join(data, "backups"), data, "rabbit@mq1"); err == nil {
		t.Fatal("a backup root that does not exist passed")
	}
	os.MkdirAll(filepath.Join(data, "backups"), 0o755)
	if _, err := checkBackupRoom(context.Background(), localHost(), filepath.Join(data, "backups"), data, "rabbit@mq1"); err == nil || !strings.Contains(err.Error(), "is inside the node's data directory") {
		t.Fatalf("a backup root inside the data directory: %v", err)
	}

	// The restore: room for the backup's msg_stores next to the node's.
	if res, err := checkRestoreRoom(context.Background(), localHost(), data, "rabbit@mq1", 4<<20); err != nil || !strings.Contains(res.Summary, "msg_stores on its file system") {
		t.Fatalf("a data directory with room: %v %v", res, err)
	}
	smallData := filepath.Join(small, "rabbit@mq1")
	os.MkdirAll(filepath.Join(smallData, "msg_stores"), 0o755)
	if _, err := checkRestoreRoom(context.Background(), localHost(), smallData, "rabbit@mq1", 20<<20); err == nil || !strings.Contains(err.Error(), "the restore stages a copy of the backup's msg_stores (20.0 MB)") {
		t.Fatalf("a data directory too small for the staged copy: %v", err)
	}
	mounted := filepath.Join(t.TempDir(), "rabbit@mq2")
	mountTmpfs(t, filepath.Join(mounted, "msg_stores"), "8m")
	if _, err := checkRestoreRoom(context.Background(), localHost(), mounted, "rabbit@mq2", 1); err == nil || !strings.Contains(err.Error(), "is on another file system than its data directory") {
		t.Fatalf("msg_stores as a mount point: %v", err)
	}
	linked := filepath.Join(t.TempDir(), "rabbit@mq3")
	os.MkdirAll(linked, 0o755)
	os.Symlink(filepath.Join(data, "msg_stores"), filepath.Join(linked, "msg_stores"))
	if _, err := checkRestoreRoom(context.Background(), localHost(), linked, "rabbit@mq3", 1); err == nil || !strings.Contains(err.Error(), "is a link to another place") {
		t.Fatalf("msg_stores as a link: %v", err)
	}
}

// localHost is this machine as the adapter reaches it.
func localHost() host.Host { return host.NewLocal(runbook.LocalHost) }
