package messagesight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
	"github.com/drillbook/drillbook/runbook"
)

// Training is the simulated MessageSight estate of the built-in training
// target: a standalone server ms1 and an HA pair ms-a (primary) and ms-b
// (standby), emulated on loopback ports, with a prepared backup set so the
// restore runbook can run at once.
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

// scenarioTiming is how fast the emulated servers restart and sync.
type scenarioTiming struct {
	stop, down, sync time.Duration
}

// Scenarios lists the training scenarios:
//   - normal: everything works;
//   - slow-restart: restarts take seconds and refuse connections meanwhile;
//   - wrong-password: the backup password offered is not the export's;
//   - standby-unsynced: the HA variant, with a standby slow to synchronise;
//   - mismatched-store: the store backup offered belongs to another backup.
func Scenarios() []string {
	return []string{"normal", "slow-restart", "wrong-password", "standby-unsynced", "mismatched-store"}
}

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
	t := scenarioTiming{stop: 200 * time.Millisecond, down: 500 * time.Millisecond, sync: time.Second}
	switch scenario {
	case "slow-restart":
		t = scenarioTiming{stop: time.Second, down: 4 * time.Second, sync: 2 * time.Second}
	case "standby-unsynced":
		t.sync = 4 * time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	pwFile := filepath.Join(dir, "admin.pw")
	if err := os.WriteFile(pwFile, []byte(trainingAdminPassword+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	opts := func(name string) emulator.Options {
		return emulator.Options{Dir: filepath.Join(dir, name), Name: name, User: trainingAdminUser, Password: trainingAdminPassword,
			StopDelay: t.stop, DownWindow: t.down, SyncTime: t.sync}
	}
	ms1, err := emulator.Start(ctx, opts("ms1"))
	if err != nil {
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	msa, msb, err := emulator.StartPair(ctx, "TrainingHAGroup", opts("ms-a"), opts("ms-b"))
	if err != nil {
		ms1.Close()
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	stop := func() error {
		return errors.Join(ms1.Close(), msa.Close(), msb.Close())
	}
	node := func(s *emulator.Server) Server {
		return Server{URL: s.URL(), User: trainingAdminUser, Password: runbook.SecretRef{File: pwFile}}
	}
	m := node(ms1)
	cfg := Config{URL: m.URL, User: m.User, Password: m.Password, Nodes: map[string]Server{"ms1": node(ms1), "ms-a": node(msa), "ms-b": node(msb)}, Timeout: 10 * time.Second}

	single, err := prepareBackupSet(ctx, cfg, "ms1", filepath.Join(dir, "restore-set"), ms1.StoreDir())
	if err == nil {
		_, err = prepareOtherStore(ctx, filepath.Join(dir, "other-set"), ms1.StoreDir())
	}
	var pair backupSet
	if err == nil {
		pair, err = prepareBackupSet(ctx, cfg, "ms-b", filepath.Join(dir, "restore-set-ha"), msb.StoreDir())
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("messagesight training: prepare the backup set: %w", err)
	}
	backups := filepath.Join(dir, "backups")
	if err := os.MkdirAll(backups, 0o755); err != nil {
		stop()
		return nil, fmt.Errorf("messagesight training: %w", err)
	}
	p := map[string]string{
		"server":            "ms1",
		"standby":           "ms-b",
		"ha":                "false",
		"store_dir":         ms1.StoreDir(),
		"standby_store_dir": msb.StoreDir(),
		"backup_dir":        backups,
		"include_store":     "true",
		"backup_password":   trainingBackupPassword,
		"kind":              "same-server",
		"config_backup":     single.config,
		"store_backup":      single.store,
		"manifest":          single.manifest,
	}
	switch scenario {
	case "wrong-password":
		p["backup_password"] = "not-the-export-password"
	case "mismatched-store":
		p["store_backup"] = filepath.Join(dir, "other-set", "store")
	case "standby-unsynced":
		p["ha"] = "true"
		p["server"] = "ms-a"
		p["store_dir"] = msa.StoreDir()
		p["config_backup"], p["store_backup"], p["manifest"] = pair.config, pair.store, pair.manifest
	}
	return &Training{Ops: Operations(cfg), Params: p, Stop: stop}, nil
}

type backupSet struct{ config, store, manifest string }

// prepareBackupSet makes, once, a backup of a server as the backup runbook
// would: an export downloaded, a copy of the store, and their manifest.
func prepareBackupSet(ctx context.Context, cfg Config, node, dir, storeDir string) (backupSet, error) {
	set := backupSet{config: filepath.Join(dir, "imaBackup.training"), store: filepath.Join(dir, "store"),
		manifest: filepath.Join(dir, "imaBackup.training.manifest.json")}
	if _, err := os.Stat(set.manifest); err == nil {
		return set, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return set, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return set, err
	}
	c, err := newClient(cfg, node)
	if err != nil {
		return set, err
	}
	if _, _, err := c.post(ctx, "/ima/v1/service/export", map[string]any{"FileName": "imaBackup.training", "Password": trainingBackupPassword}); err != nil {
		return set, err
	}
	r, err := c.do(ctx, "GET", "/ima/v1/service/file/imaBackup.training", nil)
	if err != nil {
		return set, err
	}
	if err := file.WriteAtomic(set.config, r.body, 0o600); err != nil {
		return set, err
	}
	if _, err := copyTree(ctx, storeDir, set.store, runbook.OutputFunc(func(runbook.Stream, string) {})); err != nil {
		return set, err
	}
	_, err = WriteManifest(ctx, set.manifest, node, set.config, set.store, time.Now())
	return set, err
}

// prepareOtherStore makes a store backup that belongs to no configuration
// backup: a copy taken later, with more messages on a queue.
func prepareOtherStore(ctx context.Context, dir, storeDir string) (string, error) {
	store := filepath.Join(dir, "store")
	if _, err := os.Stat(store); err == nil {
		return store, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := copyTree(ctx, storeDir, store, runbook.OutputFunc(func(runbook.Stream, string) {})); err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(store, "com.ibm.ism", "queues", "ORDERS.msg"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString("order-6\norder-7\n")
	return store, errors.Join(err, f.Close())
}
