package was

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
	"github.com/drillbook/drillbook/adapters/was/simcell"
	"github.com/drillbook/drillbook/runbook"
)

// DelayScaleEnv names the environment variable that scales the training
// cell's delays when a new cell is made: 0 runs every step at once (tests,
// measurements), 1 (the default) gives realistic pauses.
const DelayScaleEnv = "DRILLBOOK_WAS_DELAY_SCALE"

// JVMStartEnv names the environment variable that sets the training
// cell's wsadmin start delay (a Go duration, "20s"), whatever the delay
// scale: for measuring what sessions save. Unset means the cell's own
// (3 s, scaled).
const JVMStartEnv = "DRILLBOOK_WAS_JVM_START"

// SessionEnv names the environment variable that, set to "off", makes the
// training cell's wsadmin start once per call as before sessions, for
// comparison.
const SessionEnv = "DRILLBOOK_WAS_SESSION"

// Training is the simulated WebSphere estate of the training target.
type Training struct {
	// Ops are the was.* operations, backed by the simulated cell.
	Ops []runbook.Operation
	// Params give a working value for every parameter of every shipped
	// WebSphere runbook.
	Params map[string]string
	// Stop releases the estate; the cell's state stays in its directory.
	Stop func() error
	// Cell is the simulated cell, for tests and reports.
	Cell *simcell.Cell
	// Config is the adapter configuration the training target uses (its
	// backup root, cell name, data store commands), for Backups.
	Config Config
}

// Scenarios returns the scenarios of the training cell, sorted: "normal"
// and the faults.
func Scenarios() []string { return simcell.Scenarios() }

// scenarioName maps "default" to the cell's normal scenario.
func scenarioName(s string) string {
	if s == "" || s == "default" {
		return simcell.ScenarioNormal
	}
	return s
}

// TrainingOptions tune StartTrainingWith.
type TrainingOptions struct {
	// Scenario is one of Scenarios(); empty means normal.
	Scenario string
	// DelayScale multiplies the cell's delays; nil means 1 (or the value
	// of DelayScaleEnv).
	DelayScale *float64
	// RotateBytes is the SystemOut.log roll size; zero means 1 MB.
	RotateBytes int64
	// JVMStart, when not nil, is the wsadmin start delay (unscaled); nil
	// means the value of JVMStartEnv, or the cell's own.
	JVMStart *time.Duration
	// NoSession starts a wsadmin for every call (or SessionEnv=off).
	NoSession bool
	// Hosts, when set, puts the cell's profiles on hosts of a target: the
	// deployment manager's on DmgrHost and each node's on NodeHosts[node]
	// (names Hosts resolves), so the log waits on its servers follow their
	// SystemOut.log on those hosts (over ssh and drillbook agent for a
	// remote one). The cell itself still lives in one directory of this
	// machine: a training host behind a loopback sshd sees the same file
	// system, which is what makes it a training estate. Nil keeps every
	// profile on this machine.
	Hosts host.Resolver
	// DmgrHost names the deployment manager's host; empty is this machine.
	DmgrHost string
	// NodeHosts names each node's host by node; a node not listed is on
	// this machine.
	NodeHosts map[string]string
}

// place puts the cell's profiles on the hosts o names (see
// TrainingOptions.Hosts).
func (o TrainingOptions) place(cfg Config, cell *simcell.Cell) Config {
	if o.Hosts == nil {
		return cfg
	}
	cfg.Hosts = o.Hosts
	cfg.DmgrHost = o.DmgrHost
	cfg.ProfileRoot = cell.ProfileDir("")
	cfg.Nodes = map[string]NodeProfile{}
	for _, n := range []string{"node01", "node02", "node03"} {
		cfg.Nodes[n] = NodeProfile{ProfileRoot: cell.ProfileDir(n), ProfileName: cell.ProfileName(n), Host: o.NodeHosts[n]}
	}
	return cfg
}

// StartTraining opens the training cell in dir, or builds it when dir holds
// none or a cell of another scenario. A cell found in dir is used as it is,
// so a drillbook that was killed and resumed finds the cell as it left it.
func StartTraining(ctx context.Context, dir, scenario string) (*Training, error) {
	return StartTrainingWith(ctx, dir, TrainingOptions{Scenario: scenario})
}

func checkScenario(s string) error {
	if s != "default" && !slices.Contains(Scenarios(), s) {
		return fmt.Errorf("unknown WebSphere training scenario %q: choose one of %s", s, strings.Join(Scenarios(), ", "))
	}
	return nil
}

// trainingConfig is the adapter configuration of the training cell in dir.
func trainingConfig(dir string, cell *simcell.Cell) Config {
	cellDir := cell.Dir()
	return Config{
		Cell:       simcellName,
		StateWait:  runbook.Duration{Duration: simcellStateWait},
		BackupRoot: filepath.Join(dir, "backups"),
		DataStore: DataStoreConfig{
			Backup:  []string{"cp", "--", filepath.Join(cellDir, "datastores", "{{ .engine }}.db"), "{{ .dir }}/{{ .engine }}.db"},
			Restore: []string{"cp", "--", "{{ .dir }}/{{ .engine }}.db", filepath.Join(cellDir, "datastores", "{{ .engine }}.db")},
		},
	}
}

// trainingParams are the parameter values of the training cell in dir; they
// are paths and names only, the same whether the cell runs or not.
func trainingParams(cell *simcell.Cell) map[string]string {
	servers := []string{"server1", "server2", "server3", "appsrv1"}
	var logs, clusterLogs []string
	for _, s := range servers {
		logs = append(logs, cell.LogPath(s))
		if s != "appsrv1" {
			clusterLogs = append(clusterLogs, cell.LogPath(s))
		}
	}
	return map[string]string{
		"cell":              simcellName,
		"bus":               "Bus1",
		"engines":           "clu1.000-Bus1,node01.appsrv1-Bus1",
		"engine":            "clu1.000-Bus1",
		"datastore_engines": "clu1.000-Bus1",
		"filestore_engines": "node01.appsrv1-Bus1",
		"filestore_root":    filepath.Join(cell.Dir(), "filestores"),
		"nodes":             "node01,node02,node03",
		"servers":           "node01/server1,node02/server2,node03/server3,node01/appsrv1",
		"preferred_servers": "server1,server2,server3",
		"server_logs":       strings.Join(logs, ","),
		"cluster_logs":      strings.Join(clusterLogs, ","),
		"dmgr_log":          cell.LogPath(simcell.DmgrServer),
		"backup_datastores": "true",
		"backup_filestores": "true",
		"recovery":          "false",
		"max_skew":          "10m",
	}
}

// StartTrainingWith is StartTraining with options.
func StartTrainingWith(ctx context.Context, dir string, o TrainingOptions) (*Training, error) {
	if o.Scenario == "" {
		o.Scenario = simcell.ScenarioNormal
	}
	if err := checkScenario(o.Scenario); err != nil {
		return nil, err
	}
	scenario := scenarioName(o.Scenario)
	scale := 1.0
	if o.DelayScale != nil {
		scale = *o.DelayScale
	} else if v := os.Getenv(DelayScaleEnv); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("%s=%q is not a non-negative number", DelayScaleEnv, v)
		}
		scale = f
	}
	cellDir := filepath.Join(dir, "cell")
	cell, err := simcell.Open(cellDir)
	if err == nil {
		s, lerr := cell.Load()
		if lerr != nil || s.Options.Scenario != scenario {
			cell = nil
		}
	} else {
		cell = nil
	}
	fresh := cell == nil
	if fresh {
		cell, err = simcell.Create(ctx, cellDir, simcell.Options{
			Scenario: scenario, Delays: simcell.DefaultDelays(), DelayScale: scale,
			RotateBytes: o.RotateBytes, MaxBackups: 5,
		})
		if err != nil {
			return nil, fmt.Errorf("build the training cell: %w", err)
		}
	}
	cfg := o.place(trainingConfig(dir, cell), cell)
	sb := NewSimBackend(cell)
	switch {
	case o.JVMStart != nil:
		sb.sess.jvmStart = *o.JVMStart
	case os.Getenv(JVMStartEnv) != "":
		d, err := time.ParseDuration(os.Getenv(JVMStartEnv))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s=%q is not a duration such as 20s", JVMStartEnv, os.Getenv(JVMStartEnv))
		}
		sb.sess.jvmStart = d
	}
	switch v := os.Getenv(SessionEnv); {
	case o.NoSession || v == "off":
		sb.sess.noSession = true
	case v != "" && v != "on":
		return nil, fmt.Errorf("%s=%q: use on or off", SessionEnv, v)
	}
	ops := OperationsWith(sb, cfg)
	if fresh {
		if err := os.RemoveAll(cfg.BackupRoot); err != nil {
			return nil, fmt.Errorf("clear the training backups: %w", err)
		}
		if err := os.MkdirAll(cfg.BackupRoot, 0o755); err != nil {
			return nil, fmt.Errorf("training backup root: %w", err)
		}
		if err := takeInitialBackup(ctx, ops, cell); err != nil {
			return nil, fmt.Errorf("take the training cell's backup: %w", err)
		}
		if err := cell.Advance(ctx); err != nil {
			return nil, fmt.Errorf("advance the training cell past its backup: %w", err)
		}
	}
	return &Training{Ops: ops, Params: trainingParams(cell), Stop: func() error { return nil }, Cell: cell, Config: cfg}, nil
}

// PlanTraining is the training estate for drillbook plan: nothing is built
// or started. Its Ops plan as StartTraining's do, their Run refuses, and
// its Params are those StartTraining would give for dir.
func PlanTraining(dir, scenario string) (Training, error) {
	return PlanTrainingWith(dir, TrainingOptions{Scenario: scenario})
}

// PlanTrainingWith is PlanTraining with options (the cell's hosts).
func PlanTrainingWith(dir string, o TrainingOptions) (Training, error) {
	scenario := o.Scenario
	if scenario == "" {
		scenario = simcell.ScenarioNormal
	}
	if err := checkScenario(scenario); err != nil {
		return Training{}, err
	}
	cell := simcell.At(filepath.Join(dir, "cell"))
	cfg := o.place(trainingConfig(dir, cell), cell)
	ops := OperationsWith(&SimBackend{cell: cell, plan: true}, cfg)
	for i, o := range ops {
		ops[i] = planOnly{o}
	}
	return Training{Ops: ops, Params: trainingParams(cell), Stop: func() error { return nil }, Cell: cell, Config: cfg}, nil
}

// planOnly is an operation that plans and never runs.
type planOnly struct{ runbook.Operation }

// Run refuses: the estate was opened to plan.
func (p planOnly) Run(context.Context, runbook.Call, runbook.Output) (runbook.Result, error) {
	return runbook.Result{ExitCode: -1}, errors.New("the training cell was opened to plan only: run the runbook to start it")
}

// simcellStateWait is unused by the simulated cell (its calls return when
// their sequence is written) and kept short for the plan's display.
const simcellStateWait = 2 * time.Minute

// takeInitialBackup makes the backup set the restore runbook restores: a
// sealed set under the backup root with the configuration, the data store
// and the file store, through the same operations a drill uses.
func takeInitialBackup(ctx context.Context, ops []runbook.Operation, cell *simcell.Cell) error {
	byName := map[string]runbook.Operation{}
	for _, op := range ops {
		byName[op.Spec().Name] = op
	}
	quiet := runbook.OutputFunc(func(runbook.Stream, string) {})
	res, err := byName["was.new-backup-set"].Run(ctx, runbook.Call{Op: "was.new-backup-set", Args: runbook.Args{}}, quiet)
	if err != nil {
		return err
	}
	dir := res.Vars["dir"]
	logDir, storeDir := cell.FileStoreDirs("node01.appsrv1-Bus1")
	calls := []runbook.Call{
		{Op: "was.backup-config", Args: runbook.Args{"set": dir}},
		{Op: "was.backup-datastore", Args: runbook.Args{"engine": "clu1.000-Bus1", "set": dir}},
		{Op: "was.backup-filestore", Args: runbook.Args{"engine": "node01.appsrv1-Bus1", "log_dir": logDir, "store_dir": storeDir, "set": dir}},
		{Op: "was.seal-backup", Args: runbook.Args{"set": dir, "require": []string{"config", "datastore", "filestore"}}},
	}
	for _, c := range calls {
		op, ok := byName[c.Op]
		if !ok {
			return errors.New("missing operation " + c.Op)
		}
		if _, err := op.Run(ctx, c, quiet); err != nil {
			return fmt.Errorf("%s: %w", c.Op, err)
		}
	}
	return nil
}
