package drill

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/drillbook/drillbook/adapters/rabbitmq"
	"github.com/drillbook/drillbook/adapters/rabbitmq/privnode"
)

// Exit codes of drillbook (docs/exit-codes.md).
const (
	exitOK          = 0
	exitFailed      = 1
	exitNeedConfirm = 3
)

// TestRealBrokerDrill is the disaster drill of issue 7 on a real node:
// persistent messages in classic queues of two vhosts (bodies over 4 KB, a
// lazy queue) and a quorum queue; rabbitmq-backup through the built binary
// (refused first while a consumer is attached); the node stopped and its
// data wiped; a fresh node; rabbitmq-restore; every classic-queue message
// consumed and compared with what was published (0 lost, 0 duplicated); the
// quorum queue's warning in the journal; and a second restore onto the node,
// now holding newer messages, refused without confirmation.
func TestRealBrokerDrill(t *testing.T) {
	if _, err := privnode.BinDirFor(""); err != nil {
		t.Fatalf("the drill needs a real RabbitMQ: %v", err)
	}
	ctx := context.Background()
	// The binary builds while the node boots and is seeded.
	built := buildDrillbookAsync(t)
	work := t.TempDir()
	nodeDir := filepath.Join(work, "node")
	state := filepath.Join(work, "state")
	backups := filepath.Join(work, "backups")

	// Without the management plugin: the adapter then uses the CLI only,
	// and stop_app takes 0.75 s instead of 5.6 s (reference §2).
	n := startNode(t, nodeDir)
	sent, err := rabbitmq.Seed(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	targets := writeTargets(t, work, n, backups)
	bin := built()
	db := func(args ...string) (int, string) {
		return runDrillbook(t, bin, append([]string{"--state-dir", state, "--targets", targets}, args...)...)
	}

	// A consumer left attached: the backup is refused and copies nothing.
	conn := dial(t, n, "v1")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("cq.a", "left-behind", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	code, out := db("run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", "backup_dir="+filepath.Join(backups, "refused"))
	if code != exitFailed || !strings.Contains(out, "vhost v1) has 1 consumers") {
		t.Fatalf("backup with a consumer attached: exit %d, want %d and the consumer named:\n%s", code, exitFailed, out)
	}
	if _, err := os.Stat(filepath.Join(backups, "refused", "msg_stores")); !os.IsNotExist(err) {
		t.Fatalf("the refused backup copied msg_stores (stat: %v)", err)
	}
	conn.Close()

	b1 := filepath.Join(backups, "b1")
	t0 := time.Now()
	code, out = db("run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", "backup_dir="+b1)
	if code != exitOK {
		t.Fatalf("backup: exit %d:\n%s", code, out)
	}
	t.Logf("backup runbook: %v", time.Since(t0).Round(time.Millisecond))
	if j := journalMentioning(t, state, "rabbitmq-backup", "quorum queue v1/qq.1"); j == "" {
		t.Fatalf("no journal of rabbitmq-backup names quorum queue v1/qq.1")
	}

	// Disaster: the node is stopped and its data wiped; a fresh node with
	// the same name and ports starts on the empty directory.
	t1 := time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("node stop: %v", time.Since(t1).Round(time.Millisecond))
	if err := n.Wipe(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, nodeDir)
	if out, err := n.Ctl(ctx, "list_vhosts", "name"); err != nil || strings.Contains(string(out), "v1") {
		t.Fatalf("the fresh node is not empty: %s %v", out, err)
	}

	t2 := time.Now()
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "drill",
		"--param", "restore_from="+b1, "--param", "node="+n.Name, "--confirm", "replace-messages="+n.Name)
	if code != exitOK {
		t.Fatalf("restore: exit %d:\n%s", code, out)
	}
	t.Logf("restore runbook: %v", time.Since(t2).Round(time.Millisecond))
	if j := journalMentioning(t, state, "rabbitmq-restore", "quorum queue v1/qq.1 had 30 messages at backup time and has 0 now"); j == "" {
		t.Fatalf("no journal of rabbitmq-restore warns that quorum queue v1/qq.1 came back empty:\n%s", out)
	}

	// Every classic-queue message comes back exactly once.
	keys := make([]string, 0, len(sent))
	for k := range sent {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	totalSent, totalLost, totalDup := 0, 0, 0
	for _, k := range keys {
		vhost, q, _ := strings.Cut(k, "/")
		got := consumeAll(t, n, vhost, q)
		if strings.HasPrefix(q, "qq.") {
			if len(got) != 0 {
				t.Errorf("quorum queue %s came back with %d messages; the procedure cannot restore it, so 0 was expected", k, len(got))
			}
			continue
		}
		lost, dup, extra := compare(sent[k], got)
		totalSent += len(sent[k])
		totalLost += lost
		totalDup += dup
		t.Logf("%-12s sent %4d, consumed %4d, lost %d, duplicated %d", k, len(sent[k]), len(got), lost, dup)
		if lost != 0 || dup != 0 || extra != 0 {
			t.Errorf("%s: %d lost, %d duplicated, %d never published", k, lost, dup, extra)
		}
	}
	if totalSent != 260 {
		t.Fatalf("published %d classic-queue messages, want 260", totalSent)
	}
	t.Logf("classic-queue messages: %d published, %d lost, %d duplicated", totalSent, totalLost, totalDup)

	// The node now holds newer messages: a restore is refused without
	// confirmation and the newer messages stay. (Confirmed but without
	// replace_nonempty, the adapter refuses too: TestAdapterOnRealNode.)
	cfg := rabbitmq.NodeConfig(n)
	if _, err := rabbitmq.Publish(ctx, cfg, rabbitmq.SeedMessage{Vhost: "v1", Exchange: "oro.default", RoutingKey: "a", Count: 5, Size: 50}); err != nil {
		t.Fatal(err)
	}
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", "restore_from="+b1, "--param", "node="+n.Name)
	if code != exitNeedConfirm || !strings.Contains(out, "replace-messages") {
		t.Fatalf("unconfirmed restore onto newer messages: exit %d, want %d naming replace-messages:\n%s", code, exitNeedConfirm, out)
	}
	startApp(t, n)
	if c := count(t, n, "v1", "cq.a"); c != 5 {
		t.Fatalf("after the refused restore cq.a holds %d messages, want the 5 newer ones", c)
	}
}

func startNode(t *testing.T, dir string) *privnode.Node {
	t.Helper()
	t0 := time.Now()
	n, err := privnode.Start(context.Background(), privnode.Options{Dir: dir, Name: "drill"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node start: %v", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return n
}

func startApp(t *testing.T, n *privnode.Node) {
	t.Helper()
	if _, err := n.Ctl(context.Background(), "start_app"); err != nil {
		t.Fatal(err)
	}
}

// buildDrillbook builds cmd/drillbook into a temporary directory.
func buildDrillbook(t testing.TB) string {
	t.Helper()
	return buildDrillbookAsync(t)()
}

// buildDrillbookAsync starts building cmd/drillbook into a temporary
// directory and returns a function that waits for the build and gives the
// binary's path (failing the test when the build failed).
func buildDrillbookAsync(t testing.TB) func() string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("go.mod not found above the test directory")
		}
		root = parent
	}
	bin := filepath.Join(t.TempDir(), "drillbook")
	done := make(chan struct{})
	var out []byte
	var buildErr error
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/drillbook")
		cmd.Dir = root
		out, buildErr = cmd.CombinedOutput()
	}()
	// A test that fails before it waits still lets the build end before
	// its temporary directory is removed.
	t.Cleanup(func() { <-done })
	return func() string {
		t.Helper()
		<-done
		if buildErr != nil {
			t.Fatalf("go build ./cmd/drillbook: %v\n%s", buildErr, out)
		}
		return bin
	}
}

// writeTargets writes a targets.yaml whose target "drill" points the
// rabbitmq adapter at the private node, as an operator would.
func writeTargets(t testing.TB, dir string, n *privnode.Node, backups string) string {
	t.Helper()
	env := n.Env()
	y := fmt.Sprintf(`targets:
  drill:
    description: private RabbitMQ node of the real-broker drill
    rabbitmq:
      node: %s
      cli_dir: %s
      env:
        HOME: %s
        ERL_EPMD_PORT: "%s"
      timeout: 30s
      amqp_url: amqp://127.0.0.1:%d
      user: guest
      password: {env: DRILL_RABBITMQ_PASSWORD}
      backup_dir: %s
      consumers: {stop: ["true"], start: ["true"]}
      producers: {stop: ["true"], start: ["true"]}
`, n.Name, n.BinDir, env["HOME"], env["ERL_EPMD_PORT"], n.AMQPPort, backups)
	p := filepath.Join(dir, "targets.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runDrillbook runs the binary in its own process group with a timeout and
// returns its exit code and combined output.
func runDrillbook(t testing.TB, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DRILL_RABBITMQ_PASSWORD=guest", "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("drillbook %s: no end within 5 minutes:\n%s", strings.Join(args, " "), out.String())
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		t.Fatalf("drillbook: %v", err)
	}
	return 0, out.String()
}

// journalMentioning returns the path of a journal of the given runbook that
// contains text, or "".
func journalMentioning(t *testing.T, state, runbookID, text string) string {
	t.Helper()
	var found string
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "journal.jsonl" || !strings.Contains(p, runbookID) {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(text)) {
			found = p
		}
		return nil
	})
	return found
}

func dial(t testing.TB, n *privnode.Node, vhost string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", n.AMQPPort, vhost))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func count(t testing.TB, n *privnode.Node, vhost, q string) int {
	t.Helper()
	conn := dial(t, n, vhost)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Messages
}

// consumeAll consumes and acks every message of a queue.
func consumeAll(t *testing.T, n *privnode.Node, vhost, q string) [][]byte {
	t.Helper()
	conn := dial(t, n, vhost)
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for {
		d, ok, err := ch.Get(q, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		got = append(got, d.Body)
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}

// compare counts the published bodies never consumed (lost), the bodies
// consumed more than once (duplicated) and the consumed ones never
// published (extra).
func compare(sent, got [][]byte) (lost, dup, extra int) {
	want := map[string]int{}
	for _, b := range sent {
		want[string(b)]++
	}
	seen := map[string]int{}
	for _, b := range got {
		seen[string(b)]++
	}
	for b, n := range want {
		if seen[b] < n {
			lost += n - seen[b]
		}
	}
	for b, n := range seen {
		switch {
		case want[b] == 0:
			extra += n
		case n > want[b]:
			dup += n - want[b]
		}
	}
	return lost, dup, extra
}

// BenchmarkBackupRestore100k backs up and restores 100,000 persistent
// messages (90,000 of 1 KB in the queue index, 10,000 of 20 KB in the
// message store: about 290 MB) twice on one private node: once with the
// reference's commands run bare by testdata/bare-backup-restore.sh, once
// with drillbook's runbooks through the built binary (checks, counts,
// manifest and its verification included). It reports both times and their
// ratio (goal: at most 1.25), plus the node's start and stop times.
func BenchmarkBackupRestore100k(b *testing.B) {
	if _, err := privnode.BinDirFor(""); err != nil {
		b.Fatalf("the benchmark needs a real RabbitMQ: %v", err)
	}
	ctx := context.Background()
	bin := buildDrillbook(b)
	work := b.TempDir()
	t0 := time.Now()
	n, err := privnode.Start(ctx, privnode.Options{Dir: filepath.Join(work, "node"), Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	startTime := time.Since(t0)
	stopped := false
	defer func() {
		if !stopped {
			n.Stop(context.Background())
		}
	}()
	cfg := rabbitmq.NodeConfig(n)
	defs := filepath.Join(work, "defs.json")
	os.WriteFile(defs, []byte(`{"vhosts":[{"name":"v1"}],"permissions":[{"user":"guest","vhost":"v1","configure":".*","write":".*","read":".*"}],
 "queues":[{"name":"cq.scale","vhost":"v1","durable":true,"auto_delete":false,"arguments":{}}]}`), 0o644)
	if _, err := n.Ctl(ctx, "import_definitions", defs); err != nil {
		b.Fatal(err)
	}
	for range 60 {
		if out, _ := n.Ctl(ctx, "list_queues", "-p", "v1", "name"); strings.Contains(string(out), "cq.scale") {
			break
		}
		time.Sleep(time.Second)
	}
	tp := time.Now()
	for _, m := range []rabbitmq.SeedMessage{{Vhost: "v1", RoutingKey: "cq.scale", Count: 90000, Size: 1 << 10}, {Vhost: "v1", RoutingKey: "cq.scale", Count: 10000, Size: 20 << 10}} {
		if _, err := rabbitmq.Publish(ctx, cfg, m); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("published 100,000 messages in %v", time.Since(tp).Round(time.Millisecond))

	env := n.Env()
	targets := writeTargets(b, work, n, filepath.Join(work, "backups"))
	script, _ := filepath.Abs("../testdata/bare-backup-restore.sh")
	bare := func(what, dir string) time.Duration {
		cmd := exec.Command(script, what, n.Name, dir)
		cmd.Env = append(os.Environ(), "PATH="+n.BinDir+":"+os.Getenv("PATH"), "HOME="+env["HOME"], "ERL_EPMD_PORT="+env["ERL_EPMD_PORT"])
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("bare %s: %v\n%s", what, err, out)
		}
		return time.Since(t0)
	}
	db := func(args ...string) time.Duration {
		t0 := time.Now()
		code, out := runDrillbook(b, bin, append([]string{"--state-dir", filepath.Join(work, "state"), "--targets", targets}, args...)...)
		if code != 0 {
			b.Fatalf("drillbook %s: exit %d\n%s", args[1], code, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "step ") && strings.Contains(l, " in ") || strings.Contains(l, "action ok: backed up") || strings.Contains(l, "action ok: restored") {
				b.Log(args[1], l)
			}
		}
		return time.Since(t0)
	}
	var bareB, bareR, dbB, dbR time.Duration
	i := 0
	for b.Loop() {
		i++
		bareDir := filepath.Join(work, fmt.Sprintf("bare%d", i))
		dbDir := filepath.Join(work, fmt.Sprintf("db%d", i))
		bareB += bare("backup", bareDir)
		bareR += bare("restore", bareDir)
		dbB += db("run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", "backup_dir="+dbDir)
		dbR += db("run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", "restore_from="+dbDir,
			"--param", "node="+n.Name, "--param", "replace_nonempty=true", "--confirm", "replace-messages="+n.Name)
		if c := count(b, n, "v1", "cq.scale"); c != 100000 {
			b.Fatalf("cq.scale holds %d messages after the restores, want 100000", c)
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(i) }
	b.ReportMetric(per(bareB), "s-bare-backup")
	b.ReportMetric(per(bareR), "s-bare-restore")
	b.ReportMetric(per(dbB), "s-drillbook-backup")
	b.ReportMetric(per(dbR), "s-drillbook-restore")
	b.ReportMetric(float64(dbB+dbR)/float64(bareB+bareR), "x-bare")
	b.ReportMetric(startTime.Seconds(), "s-node-start")
	t1 := time.Now()
	if err := n.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	stopped = true
	b.ReportMetric(time.Since(t1).Seconds(), "s-node-stop")
}
