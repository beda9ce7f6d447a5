// Package rabbitmq is drillbook's RabbitMQ adapter: the operations of the
// backup and restore runbooks (seed 004, corrected by reference/rabbitmq.md)
// carried out through rabbitmqctl and rabbitmq-upgrade, the management HTTP
// API (rabbit-hole) where it is up, AMQP (passive declares for exact counts,
// the routing-key exclusion) and file copies of the node's msg_stores with a
// SHA-256 manifest. It also starts the training target's private node.
package rabbitmq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// Config is the `rabbitmq:` section of a target in targets.yaml.
type Config struct {
	// Node is the node name (rabbit@host) every CLI call targets with -n.
	Node string `yaml:"node"`
	// CLIDir holds rabbitmqctl and rabbitmq-upgrade; empty means
	// /usr/lib/rabbitmq/bin. Not /usr/sbin: Debian's wrappers there `su` to
	// the rabbitmq user and so read the wrong cookie (reference §1).
	CLIDir string `yaml:"cli_dir"`
	// Env is added to every CLI call's environment: HOME (whose
	// .erlang.cookie the CLI reads) and ERL_EPMD_PORT at least, for a node
	// that does not use the defaults.
	Env map[string]string `yaml:"env"`
	// Timeout is passed to the CLI as --timeout; zero means 60s. Without it
	// an unreachable node costs the CLI's full default wait (pitfall 3).
	Timeout time.Duration `yaml:"timeout"`
	// DataDir overrides the data directory the node reports; empty means
	// ask the node (status --formatter json, data_directory).
	DataDir string `yaml:"data_dir"`
	// ManagementURL is the HTTP API (http://127.0.0.1:15672); empty means
	// the adapter uses the CLI only.
	ManagementURL string `yaml:"management_url"`
	// AMQPURL is the AMQP listener without credentials
	// (amqp://127.0.0.1:5672); empty means amqp://127.0.0.1:5672.
	AMQPURL string `yaml:"amqp_url"`
	// User is the user for HTTP and AMQP; empty means guest.
	User string `yaml:"user"`
	// Password is where the user's password comes from; zero means
	// "guest".
	Password runbook.SecretRef `yaml:"password"`
	// BackupDir is where relative backup directories are created.
	BackupDir string `yaml:"backup_dir"`
	// Consumers are the commands that stop and start the application's
	// consumers (supervisorctl stop oro:*); argv lists, never shell strings.
	Consumers Commands `yaml:"consumers"`
	// Producers are the commands that stop and start the application's
	// producers (its maintenance mode).
	Producers Commands `yaml:"producers"`
}

// Commands are a stop and a start command, each an argv list.
type Commands struct {
	// Stop stops the processes; empty means not configured.
	Stop []string `yaml:"stop"`
	// Start starts them again; empty means not configured.
	Start []string `yaml:"start"`
}

// DefaultCLIDir is where Debian keeps the real RabbitMQ CLI scripts.
const DefaultCLIDir = "/usr/lib/rabbitmq/bin"

func (c Config) cliDir() string {
	if c.CLIDir == "" {
		return DefaultCLIDir
	}
	return c.CLIDir
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 60 * time.Second
	}
	return c.Timeout
}

func (c Config) user() string {
	if c.User == "" {
		return "guest"
	}
	return c.User
}

func (c Config) password(ctx context.Context) (string, error) {
	if c.Password.IsZero() {
		return "guest", nil
	}
	p, err := c.Password.Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("rabbitmq.password: %w", err)
	}
	return p, nil
}

func (c Config) amqpURL() string {
	if c.AMQPURL == "" {
		return "amqp://127.0.0.1:5672"
	}
	return c.AMQPURL
}

// host names where calls take effect, for plans.
func (c Config) host() string {
	if c.Node == "" {
		return "(rabbitmq.node not set)"
	}
	return c.Node
}

// env returns the CLI environment: PATH led by the CLI directory, then
// Config.Env in a stable order.
func (c Config) env() []string {
	out := []string{"PATH=" + c.cliDir() + string(os.PathListSeparator) + os.Getenv("PATH")}
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+c.Env[k])
	}
	return out
}

// ctlArgv builds `TOOL -n NODE -q ARGS... --timeout N`.
func (c Config) ctlArgv(tool string, args ...string) []string {
	argv := []string{filepath.Join(c.cliDir(), tool), "-n", c.Node, "-q"}
	argv = append(argv, args...)
	return append(argv, "--timeout", strconv.Itoa(int(c.timeout().Seconds())))
}

// backupPath resolves a backup directory argument against BackupDir.
func (c Config) backupPath(p string) string {
	if p == "" || filepath.IsAbs(p) || c.BackupDir == "" {
		return p
	}
	return filepath.Join(c.BackupDir, p)
}
