package drill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

// TestMain lets the test binary be the drill's application and its
// control command (app_test.go), as the targets.yaml of the drill names
// them.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "drill-app":
			os.Exit(appMain(os.Args[2], os.Args[3]))
		case "drill-appctl":
			os.Exit(appctlMain(os.Args[2], os.Args[3], os.Args[4]))
		}
	}
	os.Exit(m.Run())
}

// opsPassword is the operator's password the drill plants: drillbook gets
// it by reference (an environment variable) and it must appear nowhere it
// writes.
const opsPassword = "Planted-Ops-Pw-4711"

// opsUser is the operator's user drillbook works as: not the application's.
const opsUser = "ops/ü drill"

// TestRealBrokerDrill is the disaster drill of issues 7, 13 and 20 on a real
// node, through the built binary on a non-simulated target, with the
// application (app_test.go) running from start to end:
//   - persistent messages in classic queues of the default vhost "/" and of
//     a vhost whose name needs escaping (bodies over 4 KB, a lazy queue), a
//     quorum queue, and the application's own queues in both vhosts, fed
//     and drained by the application;
//   - a backup that fails after the application was stopped (a consumer
//     the stop command does not reach): the finally steps start the
//     application again, and the report says which ran;
//   - a backup that succeeds, in a new sealed set;
//   - the node stopped and wiped, a fresh node (provisioned with the
//     operator's user only), and rabbitmq-restore with an exclusion by
//     routing key, while a second client of the application tries to
//     connect and consume every 100 ms: it gets nothing from the drain to
//     the end of the exclusion, and gets in after;
//   - every classic-queue message of the backup comes back exactly once (0
//     lost, 0 duplicated, none from after the backup), flagged redelivered;
//     the quorum queue comes back empty, as the journal warns;
//   - restores that must stop before any change: no token given, a node
//     holding newer messages, another node named;
//   - the operator's password, given by reference, appears nowhere.
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
	appDir := filepath.Join(work, "app")
	for _, d := range []string{backups, appDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	n := startNode(t, nodeDir)
	sent, err := rabbitmq.Seed(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	provisionOps(t, n)
	targets := writeTargets(t, work, n, backups, appDir)
	bin := built()
	var outputs []string
	db := func(args ...string) (int, string) {
		code, out := runDrillbook(t, bin, append([]string{"--state-dir", state, "--targets", targets}, args...)...)
		outputs = append(outputs, out)
		return code, out
	}
	node := "node=" + n.Name
	tokens := func(steps ...string) []string {
		var out []string
		for _, s := range steps {
			out = append(out, "--confirm", s+"="+n.Name)
		}
		return out
	}

	// The application runs from here to the end.
	startApp(t, appDir, n)
	for _, kind := range []string{"consumers", "producers"} {
		if code, out := appctl("start", kind, appDir); code != 0 {
			t.Fatalf("start the application's %s: %s", kind, out)
		}
	}
	waitFor(t, "the application produces and consumes", func() bool {
		l := readAppLog(appDir)
		return len(l.bodies("P ", 0, len(l))) >= 40 && len(l.bodies("C ", 0, len(l))) >= 10
	})

	// A consumer that the stop command does not reach (a cron job of the
	// application): the backup stops the application, refuses at
	// check-idle, and the finally steps start the application again.
	left := leftBehind(t, n)
	code, out := db(append([]string{"run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", node}, tokens("stop-consumers", "stop-producers")...)...)
	if code != exitFailed || !strings.Contains(out, "step check-idle: FAILED") || !strings.Contains(out, `(user oro app/ü%, vhost /) has 1 consumers`) {
		t.Fatalf("backup with a consumer left: exit %d, want %d and the consumer named:\n%s", code, exitFailed, out)
	}
	if !strings.Contains(out, "finally step start-producers") || !strings.Contains(out, "finally step start-consumers") {
		t.Fatalf("the failed backup did not start the application again:\n%s", out)
	}
	left.Close()
	failedRun := runID(t, out)
	waitFor(t, "the application running again after the failed backup", func() bool { return appRunning(appDir) && appConsumers(t, n) == 2 })
	code, out = db("report", failedRun, "--format", "md")
	if code != exitOK || !strings.Contains(out, "then the finally steps ran: `start-producers` succeeded, `start-consumers` succeeded") {
		t.Fatalf("report of the failed backup: exit %d:\n%s", code, out)
	}
	sets, err := rabbitmq.Backups(ctx, rabbitmq.Config{BackupDir: backups})
	if err != nil || len(sets) != 1 || sets[0].Sealed || !strings.Contains(sets[0].Problem, "unsealed") {
		t.Fatalf("after the failed backup the root holds %+v (%v), want one unsealed set", sets, err)
	}

	// The backup.
	t0 := time.Now()
	code, out = db(append([]string{"run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", node}, tokens("stop-consumers", "stop-producers")...)...)
	if code != exitOK {
		t.Fatalf("backup: exit %d:\n%s", code, out)
	}
	t.Logf("backup runbook: %v", time.Since(t0).Round(time.Millisecond))
	if j := journalMentioning(t, state, "rabbitmq-backup", `quorum queue \"qq.1\" in vhost \"/\" holds 30 messages that this backup does not contain`); j == "" {
		t.Fatalf("no journal of rabbitmq-backup names the quorum queue qq.1 in /")
	}
	// What the application's queues held when the copy was taken: it was
	// stopped (consumers, then producers) and started after.
	atBackup := readAppLog(appDir)
	cstop, pstop := atBackup.last("CSTOP"), atBackup.last("PSTOP")
	expected := subtract(atBackup.bodies("P ", 0, pstop), atBackup.bodies("C ", 0, cstop))
	if len(expected) == 0 {
		t.Fatalf("the application's queues were empty at the backup: the drill proves nothing about them")
	}
	producedByBackup := len(atBackup.bodies("P ", 0, pstop))
	sets, _ = rabbitmq.Backups(ctx, rabbitmq.Config{BackupDir: backups})
	if len(sets) != 2 || !sets[0].Sealed || sets[1].Sealed {
		t.Fatalf("after the backup the root holds %+v, want a new sealed set beside the unsealed one", sets)
	}
	waitFor(t, "the application running again after the backup", func() bool { return appRunning(appDir) })
	waitFor(t, "the application producing after the backup", func() bool {
		l := readAppLog(appDir)
		return len(l.bodies("P ", 0, len(l))) >= producedByBackup+20
	})

	// Disaster: the node is stopped and its data wiped; a fresh node with
	// the same name and ports starts on the empty directory, provisioned
	// with the operator's user only. The application keeps trying.
	t1 := time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("node stop: %v", time.Since(t1).Round(time.Millisecond))
	if err := n.Wipe(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, nodeDir)
	provisionOps(t, n)

	// A restore aimed at another node is refused before any change.
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", "node=rabbit@elsewhere")
	if code != exitFailed || !strings.Contains(out, "step node-ready: FAILED") || !strings.Contains(out, "the step names node rabbit@elsewhere but the target's node is "+n.Name) {
		t.Fatalf("restore aimed at another node: exit %d:\n%s", code, out)
	}
	// So are a backup set that does not exist, a secret that is not set
	// and a mistyped target: the application's commands never ran (its
	// workers are still told to run) and no set appeared.
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", node, "--param", "restore_from=20990101T000000Z")
	if code != exitFailed || !strings.Contains(out, "step backup: FAILED") || !strings.Contains(out, "20990101T000000Z does not exist") {
		t.Fatalf("restore of a set that does not exist: exit %d:\n%s", code, out)
	}
	code, out = runDrillbookEnv(t, bin, []string{"DRILL_OPS_PASSWORD"}, "--state-dir", state, "--targets", targets, "run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", node)
	outputs = append(outputs, out)
	if code != exitFailed || !strings.Contains(out, "step node-ready: FAILED") || !strings.Contains(out, "rabbitmq.password: secret from env DRILL_OPS_PASSWORD: the variable is not set") {
		t.Fatalf("restore with the password's variable unset: exit %d:\n%s", code, out)
	}
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "dril", "--param", node)
	if code != 2 || !strings.Contains(out, `no target "dril"`) {
		t.Fatalf("restore on a mistyped target: exit %d:\n%s", code, out)
	}
	for _, kind := range []string{"consumers", "producers"} {
		if _, err := os.Stat(filepath.Join(appDir, kind+".on")); err != nil {
			t.Fatalf("a refused restore stopped the application's %s: %v", kind, err)
		}
	}
	if sets, _ := rabbitmq.Backups(ctx, rabbitmq.Config{BackupDir: backups}); len(sets) != 2 {
		t.Fatalf("the refused runs changed the backup root: %+v", sets)
	}

	// Without tokens the run stops at the first change, saying what state
	// the node is in, with nothing changed.
	code, out = db("run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", node)
	if code != exitNeedConfirm || !strings.Contains(out, "precheck ok: node "+n.Name+" now: application running, not in maintenance") ||
		!strings.Contains(out, "step stop-consumers is destructive and needs confirmation") {
		t.Fatalf("restore without tokens: exit %d, want %d stopping at stop-consumers:\n%s", code, exitNeedConfirm, out)
	}

	// The application cannot connect to the fresh node (its user is not
	// there yet): whatever it consumes from here on, it consumes from the
	// restored queues.
	restartAt := len(readAppLog(appDir))
	probe := startProbe(n)
	t2 := time.Now()
	code, out = db(append([]string{"run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", node,
		"--param", "exclude_vhost=/", "--param", "exclude_queue=cq.b", "--param", "exclude_routing_keys=b.drop",
		"--confirm", "exclude-messages=cq.b"}, tokens("stop-consumers", "stop-producers", "drain", "restore-messages")...)...)
	if code != exitOK {
		probe.stop()
		t.Fatalf("restore: exit %d:\n%s", code, out)
	}
	t.Logf("restore runbook: %v", time.Since(t2).Round(time.Millisecond))
	restoreRun := runID(t, out)
	if !strings.Contains(out, "redelivered=true") {
		t.Errorf("the restore does not tell that consumers will see redelivered=true:\n%s", out)
	}
	if j := journalMentioning(t, state, "rabbitmq-restore", `quorum queue \"qq.1\" in vhost \"/\" had 30 messages at backup time and has 0 now`); j == "" {
		t.Errorf("no journal of rabbitmq-restore warns that the quorum queue qq.1 came back empty")
	}

	// Maintenance held: from the drain to the end of the exclusion the
	// application could not get in; refused at connection.open after
	// start_app; let in once the finally steps gave its permissions back.
	from := eventTime(t, state, restoreRun, "call.start", "drain")
	restored := eventTime(t, state, restoreRun, "call.finished", "restore-messages")
	until := eventTime(t, state, restoreRun, "call.finished", "exclude-messages")
	waitFor(t, "the probing client gets in after the maintenance", func() bool { return probe.okAfter(until) })
	tries := probe.stop()
	inWindow, refusedOpen := 0, 0
	for _, tr := range tries {
		if tr.at.Before(from) || tr.at.After(until) {
			continue
		}
		inWindow++
		if tr.ok {
			t.Errorf("the application's client got in at %s, inside the maintenance (%s to %s): %s", tr.at.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), tr.what)
		}
		if tr.at.After(restored) && strings.Contains(tr.what, "NOT_ALLOWED") {
			refusedOpen++
		}
	}
	t.Logf("probing client: %d tries, %d inside the maintenance, %d refused at connection.open after start_app", len(tries), inWindow, refusedOpen)
	if refusedOpen == 0 {
		t.Errorf("no try of the application's client fell between start_app and the end of the exclusion with NOT_ALLOWED: the test did not see the window it is about")
	}

	// Every classic-queue message of the seed comes back exactly once (but
	// the excluded ones), flagged redelivered, and the quorum queue empty.
	totalSent, totalLost, totalDup := 0, 0, 0
	seen := map[string]bool{}
	for _, sm := range rabbitmq.SeedPlan() {
		vhost, q, k := sm.Vhost, sm.Queue, rabbitmq.QueueKey(sm.Vhost, sm.Queue)
		if seen[k] {
			continue
		}
		seen[k] = true
		want := sent[k]
		if q == "cq.b" {
			want = keepOnly(want, "|b.keep|")
		}
		got := consumeAll(t, n, vhost, q, true)
		if strings.HasPrefix(q, "qq.") {
			if len(got) != 0 {
				t.Errorf("quorum queue %s came back with %d messages; the procedure cannot restore it, so 0 was expected", k, len(got))
			}
			continue
		}
		lost, dup, extra := compare(want, got)
		totalSent += len(want)
		totalLost += lost
		totalDup += dup
		t.Logf("%-36s sent %4d, consumed %4d, lost %d, duplicated %d", fmt.Sprintf("%q in %q", q, vhost), len(want), len(got), lost, dup)
		if lost != 0 || dup != 0 || extra != 0 {
			t.Errorf("%s: %d lost, %d duplicated, %d never published", k, lost, dup, extra)
		}
	}
	if totalSent != 240 {
		t.Fatalf("compared %d seeded classic-queue messages, want 240 (260 less the 20 excluded)", totalSent)
	}

	// The application's queues: once the finally steps started it again,
	// it consumes exactly what its queues held at the backup, once each,
	// and nothing produced between the backup and the disaster.
	var after []string
	waitFor(t, "the application consuming every restored message", func() bool {
		l := readAppLog(appDir)
		after = l.bodies("C ", restartAt, len(l))
		return len(intersect(after, expected)) >= len(expected)
	})
	betweenBackupAndDisaster := readAppLog(appDir).bodies("P ", pstop, restartAt)
	lost, dup, extra := compare(toBytes(expected), toBytes(intersect(after, append(append([]string{}, expected...), betweenBackupAndDisaster...))))
	t.Logf("application's queues: %d messages at the backup, consumed again after the restore: %d lost, %d duplicated, %d from after the backup", len(expected), lost, dup, extra)
	if lost != 0 || dup != 0 || extra != 0 {
		t.Errorf("application's queues after the restore: %d lost, %d duplicated, %d that were not in the backup", lost, dup, extra)
	}
	t.Logf("classic-queue messages: %d seeded and %d of the application compared, %d lost, %d duplicated", totalSent, len(expected), totalLost+lost, totalDup+dup)

	// The node now holds newer messages (the application publishes): a
	// restore without replace_nonempty stops in preflight, nothing changed.
	code, out = db(append([]string{"run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", node}, tokens("stop-consumers", "stop-producers", "drain", "restore-messages")...)...)
	if code != exitFailed || !strings.Contains(out, "step data-dir: FAILED") || !strings.Contains(out, "set replace_nonempty if that is what you want") || strings.Contains(out, "step stop-consumers:") {
		t.Fatalf("restore onto newer messages: exit %d, want %d failing in preflight:\n%s", code, exitFailed, out)
	}
	if !appRunning(appDir) {
		t.Fatalf("a restore refused in preflight stopped the application")
	}

	// The password by file and by command (a vault CLI) reaches the
	// broker too: plan runs the read-only preflight, which logs in to the
	// management API and lists the node's queues with it.
	pwFile := filepath.Join(work, "ops.pw")
	if err := os.WriteFile(pwFile, []byte(opsPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(targets)
	if err != nil {
		t.Fatal(err)
	}
	for form, ref := range map[string]string{"file": fmt.Sprintf("{file: %s}", pwFile), "command": fmt.Sprintf("{command: [cat, %s]}", pwFile)} {
		alt := filepath.Join(work, form+"-targets.yaml")
		y := strings.Replace(string(body), "password: {env: DRILL_OPS_PASSWORD}", "password: "+ref, 1)
		if y == string(body) {
			t.Fatalf("the drill's targets file has no password by env to replace:\n%s", body)
		}
		if err := os.WriteFile(alt, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runDrillbookEnv(t, bin, []string{"DRILL_OPS_PASSWORD"}, "--state-dir", state, "--targets", alt, "plan", "rabbitmq-backup", "--target", "drill", "--param", node)
		outputs = append(outputs, out)
		if code != exitOK || !strings.Contains(out, "check passes now") || strings.Contains(out, "CHECK FAILS NOW") {
			t.Fatalf("plan with the password by %s: exit %d, want every preflight check passing:\n%s", form, code, out)
		}
	}

	// The planted password appears nowhere drillbook wrote.
	code, out = db("report", restoreRun, "--format", "json")
	if code != exitOK {
		t.Fatalf("report: exit %d", code)
	}
	for _, o := range outputs {
		if strings.Contains(o, opsPassword) {
			t.Fatalf("the operator's password appears in drillbook's output:\n%s", o)
		}
	}
	for _, root := range []string{state, backups} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(opsPassword)) {
					t.Errorf("the operator's password appears in %s", p)
				}
			}
			return nil
		})
	}
}

// provisionOps gives a node the operator's user, with the planted
// password, as configuration management would on a fresh node: imported
// definitions carry only its password's hash (rabbit_password_hashing_sha256).
func provisionOps(t *testing.T, n *privnode.Node) {
	t.Helper()
	salt := []byte{1, 2, 3, 4}
	sum := sha256.Sum256(append(append([]byte{}, salt...), opsPassword...))
	defs := map[string]any{
		"users": []map[string]any{{"name": opsUser, "password_hash": base64.StdEncoding.EncodeToString(append(salt, sum[:]...)),
			"hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "administrator"}},
		"permissions": []map[string]any{{"user": opsUser, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}},
	}
	vhosts, _ := n.Ctl(context.Background(), "list_vhosts", "name")
	if strings.Contains(string(vhosts), rabbitmq.TrainingVhost) {
		defs["permissions"] = append(defs["permissions"].([]map[string]any), map[string]any{"user": opsUser, "vhost": rabbitmq.TrainingVhost, "configure": ".*", "write": ".*", "read": ".*"})
	}
	b, _ := json.Marshal(defs)
	f := filepath.Join(n.Dir, "ops.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Ctl(context.Background(), "import_definitions", f); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the operator's user on the node", func() bool {
		out, _ := n.Ctl(context.Background(), "list_user_permissions", opsUser)
		return strings.Count(string(out), "\n") >= len(defs["permissions"].([]map[string]any))
	})
}

// startApp starts the application process; it stops with the test.
func startApp(t *testing.T, dir string, n *privnode.Node) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "drill-app", dir, fmt.Sprintf("amqp://127.0.0.1:%d", n.AMQPPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	errs, err := os.Create(filepath.Join(dir, "app.err"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = errs, errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		errs.Close()
	})
}

// appctl runs the application's control command as the target does.
func appctl(what, kind, dir string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, os.Args[0], "drill-appctl", what, kind, dir).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, string(out)
}

// appRunning reports whether both workers of the application say they run.
func appRunning(dir string) bool {
	for _, kind := range []string{"consumers", "producers"} {
		if b, _ := os.ReadFile(filepath.Join(dir, kind+".state")); string(b) != "running" {
			return false
		}
	}
	return true
}

// appConsumers counts the consumers on the application's queues, as the
// broker sees them.
func appConsumers(t *testing.T, n *privnode.Node) int {
	total := 0
	for vhost, q := range appQueues() {
		conn := dialOps(t, n, vhost)
		ch, err := conn.Channel()
		if err == nil {
			var st amqp.Queue
			if st, err = ch.QueueDeclarePassive(q, true, false, false, false, nil); err == nil {
				total += st.Consumers
			}
		}
		conn.Close()
	}
	return total
}

// leftBehind is a consumer of the application the stop command does not
// reach, on a queue of its own that holds nothing.
func leftBehind(t *testing.T, n *privnode.Node) *amqp.Connection {
	t.Helper()
	conn, err := rabbitmq.AppConn(context.Background(), rabbitmq.NodeConfig(n), "/")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		_, err = ch.Consume(q.Name, "left-behind", false, true, false, false, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// probe is a second client of the application that tries, every 100 ms,
// to connect as the application's user and take a message from its queue
// (put back at once), in both vhosts in turn.
type probe struct {
	mu    sync.Mutex
	tries []try
	done  chan struct{}
	wg    sync.WaitGroup
}

// try is one attempt of the probing client.
type try struct {
	at   time.Time
	ok   bool
	what string
}

func startProbe(n *privnode.Node) *probe {
	p := &probe{done: make(chan struct{})}
	cfg := rabbitmq.NodeConfig(n)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		vhosts := []string{"/", rabbitmq.TrainingVhost}
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			vhost := vhosts[i%2]
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn, err := rabbitmq.AppConn(ctx, cfg, vhost)
			cancel()
			at := time.Now()
			tr := try{at: at}
			if err != nil {
				tr.what = err.Error()
			} else {
				tr.ok = true
				tr.what = "connected to " + vhost
				if ch, err := conn.Channel(); err == nil {
					if d, got, err := ch.Get(appQueues()[vhost], false); err == nil && got {
						tr.what += ", took a message: " + string(d.Body)
						d.Nack(false, true)
					}
				}
				conn.Close()
			}
			p.mu.Lock()
			p.tries = append(p.tries, tr)
			p.mu.Unlock()
		}
	}()
	return p
}

// okAfter reports whether a try after t got in.
func (p *probe) okAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.tries {
		if tr.ok && tr.at.After(t) {
			return true
		}
	}
	return false
}

// stop ends the probing and returns every try.
func (p *probe) stop() []try {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]try(nil), p.tries...)
}

// waitFor waits, up to three minutes, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3 minutes", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var runIDRE = regexp.MustCompile(`(?m)^run: (\S+)$`)

func runID(t *testing.T, out string) string {
	t.Helper()
	m := runIDRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in:\n%s", out)
	}
	return m[1]
}

// eventTime returns when the journal of a run recorded the first event of
// a type for a step.
func eventTime(t *testing.T, state, run, typ, step string) time.Time {
	t.Helper()
	f, err := os.Open(filepath.Join(state, "runs", run, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec struct {
			Ev *struct {
				Time  time.Time `json:"time"`
				Type  string    `json:"type"`
				Step  string    `json:"step"`
				Phase string    `json:"phase"`
			} `json:"ev"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Ev == nil {
			continue
		}
		if rec.Ev.Type == typ && rec.Ev.Step == step && (rec.Ev.Phase == "" || rec.Ev.Phase == "action") {
			return rec.Ev.Time
		}
	}
	t.Fatalf("no %s of step %s in the journal of %s", typ, step, run)
	return time.Time{}
}

func keepOnly(bodies [][]byte, sub string) [][]byte {
	var out [][]byte
	for _, b := range bodies {
		if bytes.Contains(b, []byte(sub)) {
			out = append(out, b)
		}
	}
	return out
}

// subtract returns a without one occurrence of each item of b.
func subtract(a, b []string) []string {
	n := map[string]int{}
	for _, s := range b {
		n[s]++
	}
	var out []string
	for _, s := range a {
		if n[s] > 0 {
			n[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

// intersect returns the items of a (with repeats) that are in b.
func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if in[s] {
			out = append(out, s)
		}
	}
	return out
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func startNode(t *testing.T, dir string) *privnode.Node {
	t.Helper()
	t0 := time.Now()
	n, err := privnode.Start(context.Background(), privnode.Options{Dir: dir, Name: "drill", Management: true})
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
// rabbitmq adapter at the private node, as an operator would: the
// operator's user with its password by reference, the management API, the
// backup root, and the application's control commands (appDir) or,
// without an application, commands that do nothing.
func writeTargets(t testing.TB, dir string, n *privnode.Node, backups, appDir string) string {
	t.Helper()
	env := n.Env()
	user, pwEnv := "guest", "DRILL_RABBITMQ_PASSWORD"
	cmds := `consumers: {stop: ["true"], start: ["true"]}
      producers: {stop: ["true"], start: ["true"]}`
	if appDir != "" {
		user, pwEnv = opsUser, "DRILL_OPS_PASSWORD"
		ctl := func(what, kind string) string {
			return fmt.Sprintf("[%q, drill-appctl, %s, %s, %q]", os.Args[0], what, kind, appDir)
		}
		cmds = fmt.Sprintf("consumers: {stop: %s, start: %s}\n      producers: {stop: %s, start: %s}",
			ctl("stop", "consumers"), ctl("start", "consumers"), ctl("stop", "producers"), ctl("start", "producers"))
	}
	mgmt := ""
	if n.ManagementURL() != "" {
		mgmt = "management_url: " + n.ManagementURL()
	}
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
      %s
      user: %q
      password: {env: %s}
      backup_dir: %s
      %s
`, n.Name, n.BinDir, env["HOME"], env["ERL_EPMD_PORT"], n.AMQPPort, mgmt, user, pwEnv, backups, cmds)
	p := filepath.Join(dir, "targets.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runDrillbook runs the binary in its own process group with a timeout and
// returns its exit code and combined output.
func runDrillbook(t testing.TB, bin string, args ...string) (int, string) {
	return runDrillbookEnv(t, bin, nil, args...)
}

// runDrillbookEnv is runDrillbook without the variables named in unset.
func runDrillbookEnv(t testing.TB, bin string, unset []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	env := append(os.Environ(), "DRILL_RABBITMQ_PASSWORD=guest", "DRILL_OPS_PASSWORD="+opsPassword, "NO_COLOR=1")
	for _, u := range unset {
		for i, kv := range env {
			if strings.HasPrefix(kv, u+"=") {
				env[i] = "DRILL_UNSET_" + kv[:len(u)] + "=x"
			}
		}
	}
	cmd.Env = env
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
	return dialAs(t, n, vhost, "guest", "guest")
}

// dialOps connects as the operator's user.
func dialOps(t testing.TB, n *privnode.Node, vhost string) *amqp.Connection {
	return dialAs(t, n, vhost, opsUser, opsPassword)
}

func dialAs(t testing.TB, n *privnode.Node, vhost, user, pw string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(fmt.Sprintf("amqp://127.0.0.1:%d", n.AMQPPort), amqp.Config{
		SASL: []amqp.Authentication{&amqp.PlainAuth{Username: user, Password: pw}}, Vhost: vhost})
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

// consumeAll consumes and acks every message of a queue; restored says
// each must carry redelivered=true, as the restore tells consumers.
func consumeAll(t *testing.T, n *privnode.Node, vhost, q string, restored bool) [][]byte {
	t.Helper()
	conn := dialOps(t, n, vhost)
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
		if restored && !d.Redelivered {
			t.Errorf("restored message %.30q of %q came with redelivered=false", d.Body, q)
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
// messages (90,000 of 1 KB in the queue index of a queue in the default
// vhost "/", 10,000 of 20 KB in the message store of a queue in a vhost
// whose name needs escaping: about 290 MB) on one private node with the
// management plugin: with the reference's commands run bare by
// testdata/bare-backup-restore.sh, then with drillbook's runbooks through
// the built binary (preflight, checks, counts, manifest, its
// verification, the seal, maintenance that holds and the finally steps
// included). It reports both times and their ratio, plus the node's start
// and stop times.
func BenchmarkBackupRestore100k(b *testing.B) {
	if _, err := privnode.BinDirFor(""); err != nil {
		b.Fatalf("the benchmark needs a real RabbitMQ: %v", err)
	}
	ctx := context.Background()
	bin := buildDrillbook(b)
	work := b.TempDir()
	t0 := time.Now()
	n, err := privnode.Start(ctx, privnode.Options{Dir: filepath.Join(work, "node"), Name: "bench", Management: true})
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
	big := "big scale/ü"
	defs, _ := json.Marshal(map[string]any{
		"vhosts":      []map[string]any{{"name": "/"}, {"name": rabbitmq.TrainingVhost}},
		"permissions": []map[string]any{{"user": "guest", "vhost": rabbitmq.TrainingVhost, "configure": ".*", "write": ".*", "read": ".*"}},
		"queues": []map[string]any{{"name": "cq.scale", "vhost": "/", "durable": true, "auto_delete": false, "arguments": map[string]any{}},
			{"name": big, "vhost": rabbitmq.TrainingVhost, "durable": true, "auto_delete": false, "arguments": map[string]any{}}},
	})
	defsFile := filepath.Join(work, "defs.json")
	os.WriteFile(defsFile, defs, 0o644)
	if _, err := n.Ctl(ctx, "import_definitions", defsFile); err != nil {
		b.Fatal(err)
	}
	for range 60 {
		if out, _ := n.Ctl(ctx, "list_queues", "-p", rabbitmq.TrainingVhost, "name"); strings.Contains(string(out), big) {
			break
		}
		time.Sleep(time.Second)
	}
	tp := time.Now()
	for _, m := range []rabbitmq.SeedMessage{{Vhost: "/", RoutingKey: "cq.scale", Count: 90000, Size: 1 << 10}, {Vhost: rabbitmq.TrainingVhost, RoutingKey: big, Count: 10000, Size: 20 << 10}} {
		if _, err := rabbitmq.Publish(ctx, cfg, m); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("published 100,000 messages in %v", time.Since(tp).Round(time.Millisecond))

	env := n.Env()
	backups := filepath.Join(work, "backups")
	os.MkdirAll(backups, 0o755)
	targets := writeTargets(b, work, n, backups, "")
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
	confirm := func(steps ...string) []string {
		var out []string
		for _, s := range steps {
			out = append(out, "--confirm", s+"="+n.Name)
		}
		return out
	}
	var bareB, bareR, dbB, dbR time.Duration
	i := 0
	for b.Loop() {
		i++
		bareDir := filepath.Join(work, fmt.Sprintf("bare%d", i))
		bareB += bare("backup", bareDir)
		bareR += bare("restore", bareDir)
		dbB += db(append([]string{"run", "rabbitmq-backup", "--plain", "--target", "drill", "--param", "node=" + n.Name}, confirm("stop-consumers", "stop-producers")...)...)
		dbR += db(append([]string{"run", "rabbitmq-restore", "--plain", "--target", "drill", "--param", "node=" + n.Name, "--param", "replace_nonempty=true"},
			confirm("stop-consumers", "stop-producers", "drain", "restore-messages")...)...)
		if c, d := count(b, n, "/", "cq.scale"), count(b, n, rabbitmq.TrainingVhost, big); c != 90000 || d != 10000 {
			b.Fatalf("after the restores cq.scale holds %d messages and %q %d, want 90000 and 10000", c, big, d)
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
