package messagesight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
	"github.com/drillbook/drillbook/runbook"
)

// Training is the simulated MessageSight estate of the built-in training
// target: standalone servers ms1 and ms2 and an HA pair ms-a (primary) and
// ms-b (standby), emulated on loopback ports, with a sealed backup set of
// ms1 and of ms-b so the restore runbook can run at once.
type Training struct {
	// Ops are the messagesight operations bound to the emulated servers.
	Ops []runbook.Operation
	// Params are working values for every parameter of the shipped
	// messagesight runbooks.
	Params map[string]string
	// Stop shuts the emulated servers down; their state stays in the
	// directory.
	Stop func() error
}

// Training credentials. They protect nothing real: the estate is simulated.
const (
	trainingAdminUser      = "admin"
	trainingAdminPassword  = "training-admin-pw"
	trainingBackupPassword = "training-backup-pw"
)

// trainingStoreName is the name of the store backup in the training
// estate's backup sets: the default of messagesight-backup's
// store_backup_name, as an operator who kept it would have them.
const trainingStoreName = "store-backup"

// DelayScaleEnv names the environment variable that scales the emulated
// servers' timing on the training target (default 0.2: a restart takes
// about 3 s instead of 15 s). Tests set it lower.
const DelayScaleEnv = "DRILLBOOK_MS_DELAY_SCALE"

// Scenarios lists the training scenarios:
//   - normal: everything works;
//   - slow-restart: restarts take three times as long and refuse connections meanwhile;
//   - wrong-password: the backup password offered is not the export's;
//   - standby-unsynced: the HA variant, with a standby slow to synchronise;
//   - mismatched-store: the backup set offered holds a store that is not the one its manifest names;
//   - applied-import: the restart after the import is slow to act, so the server shows State 9 with ErrorCode 145 meanwhile;
//   - primary-waits: the HA variant; the standby is slow to come back, so the restarted primary waits for it in State 11;
//   - standby-not-cleaned: the HA variant; the standby's store is not cleaned, so the pair cannot form (UNRESOLVED_STORE);
//   - slow-store-recovery: a store recovery that takes minutes (State 11);
//   - stuck-stopping: the server never leaves State 2 after a restart request;
//   - maintenance-error: the server comes back in maintenance with ErrorCode 501 instead of production;
//   - split-pair: the HA variant; the replication link is cut and both nodes are primary.
func Scenarios() []string {
	return []string{"normal", "slow-restart", "wrong-password", "standby-unsynced", "mismatched-store",
		"applied-import", "primary-waits", "standby-not-cleaned", "slow-store-recovery", "stuck-stopping",
		"maintenance-error", "split-pair"}
}

// haScenarios run the HA variant of the runbooks.
var haScenarios = []string{"standby-unsynced", "primary-waits", "standby-not-cleaned", "split-pair"}

// trainingScale reads DRILLBOOK_MS_DELAY_SCALE.
func trainingScale() (float64, error) {
	v := os.Getenv(DelayScaleEnv)
	if v == "" {
		return 0.2, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 10 {
		return 0, fmt.Errorf("messagesight training: %s=%q is not a number between 0 and 10: unset it or give e.g. 0.2", DelayScaleEnv, v)
	}
	return f, nil
}

// trainingTiming is the real timing scaled, with a restart never shorter
// than about 1.5 s in all: UpTimeSeconds counts whole seconds, and a client
// can tell a restart from none by the start time only when the old process
// ended a moment before the new one began. Real restarts take 10 s and more.
func trainingTiming(scale float64, scenario string) emulator.Timing {
	t := emulator.RealTiming().Scaled(scale)
	floor := func(d *time.Duration, min time.Duration) {
		if *d < min {
			*d = min
		}
	}
	floor(&t.RestartDelay, 300*time.Millisecond)
	floor(&t.Shutdown, 200*time.Millisecond)
	floor(&t.Supervisor, 800*time.Millisecond)
	floor(&t.Init, 200*time.Millisecond)
	switch scenario {
	case "slow-restart":
		t.RestartDelay, t.Shutdown, t.Supervisor, t.Init = 3*t.RestartDelay, 3*t.Shutdown, 3*t.Supervisor, 3*t.Init
	case "standby-unsynced":
		t.Sync *= 4
	case "applied-import":
		t.RestartDelay *= 4
	case "slow-store-recovery":
		// A large store: four minutes of recovery on a real server.
		t.StoreRecovery = time.Duration(float64(4*time.Minute) * scale)
	}
	return t
}

type trainingLayout struct {
	dir, pwFile, backups string
	names                []string
}

func layout(dir string) trainingLayout {
	return trainingLayout{dir: dir, pwFile: filepath.Join(dir, "admin.pw"), backups: filepath.Join(dir, "backups"),
		names: []string{"ms1", "ms2", "ms-a", "ms-b"}}
}

// config is the adapter configuration for the estate, with the servers'
// URLs as given (placeholders for a plan).
func (l trainingLayout) config(urls map[string]string, scale float64) Config {
	nodes := map[string]Server{}
	for _, n := range l.names {
		nodes[n] = Server{URL: urls[n], StoreDir: filepath.Join(l.dir, n, "store"), Host: "localhost (simulated " + n + ")"}
	}
	return Config{User: trainingAdminUser, Password: runbook.SecretRef{File: l.pwFile}, Nodes: nodes,
		Timeout: 10 * time.Second, BackupRoot: l.backups, DelayScale: scale}
}

// trainingParams are the parameter values for a scenario.
func trainingParams(l trainingLayout, scenario string) map[string]string {
	p := map[string]string{
		"server":            "ms1",
		"standby":           "ms-b",
		"ha":                "false",
		"backup_dir":        "",
		"include_store":     "true",
		"backup_password":   trainingBackupPassword,
		"store_backup_name": trainingStoreName,
		"kind":              "same-server",
		"backup_set":        "",
		"from_server":       "",
		"override_reason":   "",
	}
	if slices.Contains(haScenarios, scenario) {
		p["ha"] = "true"
		p["server"] = "ms-a"
	}
	switch scenario {
	case "wrong-password":
		p["backup_password"] = "not-the-export-password"
	case "mismatched-store":
		p["backup_set"] = filepath.Join(l.backups, mixedSetName)
	}
	return p
}

// mixedSetName is the training backup set whose store was swapped after it
// was sealed.
const mixedSetName = "ms1-20191231T000000Z-mixed"

// StartTraining starts (or reopens, from dir) the emulated servers for a
// scenario. State lives in dir, so a drillbook that was killed and resumed
// finds the servers as it left them.
func StartTraining(ctx context.Context, dir, scenario string) (*Training, error) {
	if scenario == "" {
		scenario = "normal"
	}
	if known := Scenarios(); !slices.Contains(known, scenario) {
		return nil, fmt.Errorf("messagesight training: unknown scenario %q: choose one of %s", scenario, strings.Join(known, ", "))
	}
	scale, err := trainingScale()
	if err != nil {
		return nil, err
	}
	l := layout(dir)
	if err := os.MkdirAll(l.backups, 0o755); err != nil {
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	if err := os.WriteFile(l.pwFile, []byte(trainingAdminPassword+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	tm := trainingTiming(scale, scenario)
	opts := func(name string) emulator.Options {
		o := emulator.Options{Dir: filepath.Join(dir, name), Name: name, User: trainingAdminUser, Password: trainingAdminPassword, Timing: tm}
		if scenario == "primary-waits" && name == "ms-b" {
			// A slow host: the standby takes a minute and a half to start.
			o.Timing.Supervisor += time.Duration(float64(90*time.Second) * scale)
		}
		return o
	}
	var servers []*emulator.Server
	stop := func() error {
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Close())
		}
		return errors.Join(errs...)
	}
	for _, n := range []string{"ms1", "ms2"} {
		s, err := emulator.Start(ctx, opts(n))
		if err != nil {
			stop()
			return nil, fmt.Errorf("messagesight training: %w", err)
		}
		servers = append(servers, s)
	}
	msa, msb, err := emulator.StartPair(ctx, "TrainingHAGroup", opts("ms-a"), opts("ms-b"))
	if err != nil {
		stop()
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	servers = append(servers, msa, msb)
	urls := map[string]string{}
	for _, s := range servers {
		urls[s.Name()] = s.URL()
	}
	cfg := l.config(urls, scale)
	if err := prepareTraining(ctx, cfg, l, servers, scenario); err != nil {
		stop()
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	return &Training{Ops: Operations(cfg), Params: trainingParams(l, scenario), Stop: stop}, nil
}

// PlanTraining returns the training estate as StartTraining would, without
// starting anything: its Ops can Plan but their Run refuses, and its Params
// are the ones StartTraining gives. The servers' ports are chosen at start,
// so plans show the URL http://127.0.0.1:<port chosen at start>.
func PlanTraining(dir, scenario string) (Training, error) {
	if scenario == "" {
		scenario = "normal"
	}
	if known := Scenarios(); !slices.Contains(known, scenario) {
		return Training{}, fmt.Errorf("messagesight training: unknown scenario %q: choose one of %s", scenario, strings.Join(known, ", "))
	}
	scale, err := trainingScale()
	if err != nil {
		return Training{}, err
	}
	l := layout(dir)
	urls := map[string]string{}
	for _, n := range l.names {
		urls[n] = "http://127.0.0.1:<port chosen at start>"
	}
	ops := Operations(l.config(urls, scale))
	for i, o := range ops {
		ops[i] = planOnly{o}
	}
	return Training{Ops: ops, Params: trainingParams(l, scenario), Stop: func() error { return nil }}, nil
}

// planOnly is an operation of a training estate that was not started.
type planOnly struct{ runbook.Operation }

// Run refuses: nothing was started.
func (o planOnly) Run(context.Context, runbook.Call, runbook.Output) (runbook.Result, error) {
	return runbook.Result{ExitCode: -1}, errors.New("messagesight training: the estate was only planned, not started: run the runbook to start it")
}

// prepareTraining makes, once, a sealed backup set of ms1 and of ms-b (as
// the backup runbook would), the mixed set of the mismatched-store
// scenario, and injects the scenario's fault the first time the scenario
// is used on this estate.
func prepareTraining(ctx context.Context, cfg Config, l trainingLayout, servers []*emulator.Server, scenario string) error {
	byName := map[string]*emulator.Server{}
	for _, s := range servers {
		byName[s.Name()] = s
	}
	// The estate is running when a runbook starts: a fresh one waits until
	// its servers are up and the pair has formed.
	if _, err := os.Stat(filepath.Join(l.dir, "prepared-ms-b")); err != nil {
		for n, st := range map[string]int{"ms1": emulator.StateProduction, "ms2": emulator.StateProduction, "ms-a": emulator.StateProduction, "ms-b": emulator.StateStandby} {
			if err := waitState(ctx, byName[n], st); err != nil {
				return err
			}
		}
	}
	for _, n := range []string{"ms1", "ms-b"} {
		marker := filepath.Join(l.dir, "prepared-"+n)
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		set, err := trainingBackup(ctx, cfg, n, l.backups, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return fmt.Errorf("prepare the backup set of %s: %w", n, err)
		}
		if n == "ms1" {
			if err := makeMixedSet(ctx, set, filepath.Join(l.backups, mixedSetName)); err != nil {
				return fmt.Errorf("prepare the mixed backup set: %w", err)
			}
		}
		if err := os.WriteFile(marker, []byte(set+"\n"), 0o644); err != nil {
			return err
		}
	}
	last := filepath.Join(l.dir, "scenario")
	if b, _ := os.ReadFile(last); strings.TrimSpace(string(b)) == scenario {
		return nil // a resumed (or repeated) run: the fault already fired
	}
	var err error
	switch scenario {
	case "standby-not-cleaned":
		// Messages sent after the backup reach the standby too, so its
		// store differs from the one the primary gets back.
		if err = waitState(ctx, byName["ms-b"], emulator.StateStandby); err == nil {
			err = byName["ms-a"].PutMessages("ORDERS", "order-after-backup")
		}
		if err == nil {
			err = byName["ms-b"].SkipNextClean()
		}
	case "stuck-stopping":
		err = byName["ms1"].HangNextStop()
	case "maintenance-error":
		err = byName["ms1"].FailNextStart(501)
	case "split-pair":
		if err = waitState(ctx, byName["ms-b"], emulator.StateStandby); err == nil {
			byName["ms-a"].Partition()
		}
	}
	if err != nil {
		return err
	}
	return os.WriteFile(last, []byte(scenario+"\n"), 0o644)
}

// trainingBackup takes a sealed backup set of a server in production
// without a maintenance restart (the emulated store is quiet at start).
func trainingBackup(ctx context.Context, cfg Config, node, root string, at time.Time) (string, error) {
	set, err := newBackupSet(ctx, host.NewLocal(""), root, node, trainingStoreName, at)
	if err != nil {
		return "", err
	}
	c, err := newClient(cfg, node)
	if err != nil {
		return "", err
	}
	name := "imaBackup.training"
	if _, _, err := c.post(ctx, "/ima/v1/service/export", map[string]any{"FileName": name, "Password": trainingBackupPassword}); err != nil {
		return "", err
	}
	r, err := c.do(ctx, "GET", "/ima/v1/service/file/"+name, nil)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(set, setConfigDir, name), r.body, 0o600); err != nil {
		return "", err
	}
	srv, _ := cfg.Node(node)
	if _, err := copyTree(ctx, srv.StoreDir, filepath.Join(set, trainingStoreName), runbook.OutputFunc(func(runbook.Stream, string) {})); err != nil {
		return "", err
	}
	if _, err := sealBackupSet(ctx, host.NewLocal(""), set, node, at); err != nil {
		return "", err
	}
	return set, nil
}

// makeMixedSet copies a sealed set and then changes its store (a later
// store copy put into an older set): the set still looks sealed, but its
// store is not the one its manifest names.
func makeMixedSet(ctx context.Context, from, to string) error {
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	if _, err := copyTree(ctx, from, to, runbook.OutputFunc(func(runbook.Stream, string) {})); err != nil {
		return err
	}
	if _, err := sealBackupSet(ctx, host.NewLocal(""), to, "ms1", time.Date(2019, 12, 31, 0, 0, 0, 0, time.UTC)); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(to, trainingStoreName, "com.ibm.ism", "queues", "ORDERS.msg"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString("order-6\norder-7\n")
	return errors.Join(err, f.Close())
}

// waitState waits (at most a minute) until an emulated server is in a
// state, for faults that need a settled pair.
func waitState(ctx context.Context, s *emulator.Server, state int) error {
	deadline := time.Now().Add(time.Minute)
	for s.State() != state {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not reach state %d in a minute", s.Name(), state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
