// Package rabbitmq is drillbook's RabbitMQ adapter: the operations of the
// backup and restore runbooks (seed 004, corrected by reference/rabbitmq.md)
// carried out through rabbitmqctl and rabbitmq-upgrade, the management HTTP
// API (rabbit-hole) where it is up, AMQP (passive declares for exact counts,
// the routing-key exclusion) and file copies of the node's msg_stores with a
// SHA-256 manifest. Backups are sets under the target's backup root, never
// overwritten and sealed when complete. It also starts the training
// target's private node.
package rabbitmq

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// Config is the `rabbitmq:` section of a target in targets.yaml.
type Config struct {
	// Node is the node name (rabbit@host) every CLI call targets with -n.
	// A destructive step names it in its confirmation token, and the
	// adapter refuses a step whose node argument is another node.
	Node string `yaml:"node"`
	// CLIDir holds rabbitmqctl and rabbitmq-upgrade; empty means
	// /usr/lib/rabbitmq/bin. Not /usr/sbin: Debian's wrappers there `su` to
	// the rabbitmq user and so read the wrong cookie (reference §1).
	CLIDir string `yaml:"cli_dir"`
	// Env is added to every CLI call's environment: HOME (whose
	// .erlang.cookie the CLI reads) and ERL_EPMD_PORT at least, for a node
	// that does not use the defaults. A CLI call gets these and the
	// ordinary variables (PATH, HOME, LANG...) only: nothing else of
	// drillbook's environment, so no secret.
	Env map[string]string `yaml:"env"`
	// Timeout is passed to the CLI as --timeout; zero means 60s. Without it
	// an unreachable node costs the CLI's full default wait (pitfall 3).
	Timeout time.Duration `yaml:"timeout"`
	// DataDir is the node's data directory (it holds msg_stores); empty
	// means ask the node, through rabbit_mnesia:dir(). When set, it must be
	// the directory the node itself reports: the checks refuse another one.
	DataDir string `yaml:"data_dir"`
	// ManagementURL is the HTTP API (http://127.0.0.1:15672), without
	// credentials; empty means the adapter uses the CLI only.
	ManagementURL string `yaml:"management_url"`
	// AMQPURL is the AMQP listener without credentials and without a vhost
	// (amqp://127.0.0.1:5672); empty means amqp://127.0.0.1:5672. The
	// adapter connects to each vhost itself.
	AMQPURL string `yaml:"amqp_url"`
	// User is the user for HTTP and AMQP; empty means guest. It must not be
	// a user the application connects as: maintenance keeps the
	// application out by withdrawing every other user's permissions.
	User string `yaml:"user"`
	// Password is where the user's password comes from; zero means
	// "guest".
	Password runbook.SecretRef `yaml:"password"`
	// BackupDir is the backup root: each backup is a new set (a directory
	// named by its UTC time) under it, sealed when complete. It lies on the
	// node's host (Host), where rabbitmqctl export_definitions writes.
	BackupDir string `yaml:"backup_dir"`
	// Consumers are the commands that stop and start the application's
	// consumers (supervisorctl stop oro:*); argv lists, never shell strings.
	// They run with the ordinary variables only (PATH, HOME, LANG, USER,
	// SSH_AUTH_SOCK...), never a secret of drillbook's.
	Consumers Commands `yaml:"consumers"`
	// Producers are the commands that stop and start the application's
	// producers (its maintenance mode).
	Producers Commands `yaml:"producers"`

	// Host is the host, a name under the target's hosts:, on which the
	// node runs: rabbitmqctl, rabbitmq-diagnostics, rabbitmq-queues,
	// rabbitmq-upgrade and the consumers and producers commands run there,
	// with rabbitmq.env passed inside the connection, never on a remote
	// command line; the node's data directory and backup_dir lie there
	// (msg_stores is copied and hashed where it is). For example "mq1".
	// Empty means this machine. The management API and AMQP stay
	// connections from this machine.
	Host string `yaml:"host"`
	// Hosts resolves Host; cmd gives it the target's hosts. Nil means only
	// this machine exists.
	Hosts host.Resolver `yaml:"-"`

	// Pos is where the section is written in targets.yaml (filled in when
	// the target is decoded); zero for a configuration built in code.
	Pos runbook.Pos `yaml:"-"`

	// at records where each setting's value is written, by its key.
	at map[string]runbook.Pos
}

// UnmarshalYAML decodes the section and records where each setting is
// written, so that Validate can point at the line of the one to change.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	c.at = map[string]runbook.Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		c.at[n.Content[i].Value] = runbook.Pos{Line: v.Line, Col: v.Column}
	}
	return nil
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

// Validate checks the settings that can be checked without the node:
// URLs that parse, carry no credentials (a password in a URL would be
// printed by plan and written to the journal) and name no vhost, and
// absolute paths. It returns one problem per setting, each naming it and
// saying what to write instead, at the line and column of its value when
// the section was read from a file (the caller adds the file's name).
func (c Config) Validate() runbook.Problems {
	var probs runbook.Problems
	add := func(field, format string, args ...any) {
		pos := c.at[field]
		if pos.Line == 0 {
			pos = runbook.Pos{Line: c.Pos.Line, Col: c.Pos.Col}
		}
		probs = append(probs, runbook.Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
	}
	for _, u := range []struct {
		field, value string
		schemes      []string
	}{{"management_url", c.ManagementURL, []string{"http", "https"}}, {"amqp_url", c.AMQPURL, []string{"amqp", "amqps"}}} {
		if u.value == "" {
			continue
		}
		parsed, err := url.Parse(u.value)
		if err != nil {
			// The URL is never quoted: it may hold a password.
			add(u.field, "rabbitmq.%s is not a URL: write it as %s://HOST:PORT", u.field, u.schemes[0])
			continue
		}
		if parsed.User != nil {
			add(u.field, "rabbitmq.%s holds credentials: remove them from the URL and set rabbitmq.user and rabbitmq.password (a reference such as {env: RABBITMQ_PASSWORD}, never the password itself)", u.field)
		}
		if !contains(u.schemes, parsed.Scheme) || parsed.Host == "" {
			add(u.field, "rabbitmq.%s must be %s://HOST:PORT (%s)", u.field, strings.Join(u.schemes, " or "), redactURL(u.value))
		}
		if u.field == "amqp_url" && parsed.Path != "" && parsed.Path != "/" {
			add(u.field, "rabbitmq.amqp_url names vhost %q: drillbook connects to each vhost itself; give the listener only (%s://%s)", parsed.Path[1:], parsed.Scheme, parsed.Host)
		}
		if parsed.RawQuery != "" {
			add(u.field, "rabbitmq.%s has a query (?%s): drillbook sets timeouts and heartbeats itself; remove it", u.field, parsed.RawQuery)
		}
	}
	for _, p := range []struct{ field, value string }{{"cli_dir", c.CLIDir}, {"data_dir", c.DataDir}, {"backup_dir", c.BackupDir}} {
		if p.value != "" && !filepath.IsAbs(p.value) {
			add(p.field, "rabbitmq.%s must be an absolute path, not %q", p.field, p.value)
		}
	}
	if strings.Contains(c.User, ":") {
		add("user", "rabbitmq.user may not contain ':' (HTTP Basic authentication cannot carry it): use another user")
	}
	if _, ok := c.Env["RABBITMQ_ERLANG_COOKIE"]; ok {
		add("env", "rabbitmq.env sets RABBITMQ_ERLANG_COOKIE inline: the cookie is a secret; keep it in $HOME/.erlang.cookie (set HOME in rabbitmq.env)")
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Pos.Line < probs[j].Pos.Line })
	return probs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

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
	node := c.Node
	if node == "" {
		node = "(rabbitmq.node not set)"
	}
	if c.Host != "" {
		// The CLI runs on rabbitmq.host: name it, where the call runs.
		return node + " on " + c.hostLabel()
	}
	return node
}

// ordinaryEnv returns the variables of drillbook's own environment a child
// process may see: what a shell login gives, nothing that can hold a
// secret drillbook was handed.
func ordinaryEnv() []string {
	return []string{"HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"}
}

// baseEnv returns the ordinary variables of drillbook's environment (and
// LC_*), with PATH led by lead when it is not empty.
func baseEnv(lead string) []string {
	path := os.Getenv("PATH")
	if lead != "" {
		path = lead + string(os.PathListSeparator) + path
	}
	out := []string{"PATH=" + path}
	keep := ordinaryEnv()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if contains(keep, k) || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	return out
}

// env returns a CLI call's whole environment: the ordinary variables,
// PATH led by the CLI directory, then Config.Env in a stable order.
func (c Config) env() []string {
	out := baseEnv(c.cliDir())
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

// nodeHost returns the host the node runs on (Host); "" is this machine.
func (c Config) nodeHost() (host.Host, error) {
	if c.Hosts == nil {
		if c.Host == "" || c.Host == runbook.LocalHost {
			return host.NewLocal(runbook.LocalHost), nil
		}
		return nil, fmt.Errorf("rabbitmq.host names host %q, but this target has only this machine: declare %s under hosts: in targets.yaml", c.Host, c.Host)
	}
	h, err := c.Hosts.Get(c.Host)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq.host: %w", err)
	}
	return h, nil
}

// hostLabel says where the node's commands run, without connecting, for
// plans: "localhost", "mq1 (rabbitmq@10.0.0.9:22)".
func (c Config) hostLabel() string {
	h, err := c.nodeHost()
	if err != nil {
		return c.Host + " (unknown host)"
	}
	return h.String()
}
