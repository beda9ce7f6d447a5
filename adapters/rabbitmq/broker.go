package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// broker talks to one node: the CLI always works (Erlang distribution, even
// while drained), the HTTP API only while the node is up and not drained.
type broker struct {
	cfg Config

	pwMu sync.Mutex
	pw   string
	pwOK bool
}

// password resolves the target's password and keeps it once resolved, so a
// vault CLI is not run again for every HTTP or AMQP call; a failure is not
// kept.
func (b *broker) password(ctx context.Context) (string, error) {
	b.pwMu.Lock()
	defer b.pwMu.Unlock()
	if b.pwOK {
		return b.pw, nil
	}
	pw, err := b.cfg.password(ctx)
	if err != nil {
		return "", err
	}
	b.pw, b.pwOK = pw, true
	return pw, nil
}

// quietOut forwards drillbook's own lines and stderr but not stdout, for CLI
// calls whose stdout is JSON the adapter parses.
type quietOut struct{ out runbook.Output }

// Line forwards everything but standard output.
func (q quietOut) Line(s runbook.Stream, text string) {
	if q.out != nil && s != runbook.Stdout {
		q.out.Line(s, text)
	}
}

// ctl runs a CLI tool (rabbitmqctl, rabbitmq-upgrade, rabbitmq-diagnostics)
// against the node and returns its standard output.
func (b *broker) ctl(ctx context.Context, out runbook.Output, tool string, args ...string) (string, error) {
	if b.cfg.Node == "" {
		return "", errors.New("rabbitmq.node is not set: set node in the target's rabbitmq section of targets.yaml")
	}
	if len(args) == 0 {
		return "", errors.New("no CLI command given")
	}
	argv := b.cfg.ctlArgv(tool, args...)
	if _, err := os.Stat(argv[0]); err != nil {
		return "", fmt.Errorf("%s not found at %s: set rabbitmq.cli_dir in targets.yaml or %s", tool, argv[0], "apt-get install -y rabbitmq-server")
	}
	// The CLI's own --timeout bounds the call; this one catches a CLI that
	// hangs before it gets that far.
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout()+30*time.Second)
	defer cancel()
	oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Env: b.cfg.env(), Out: out, Capture: 256 << 20, TailLines: 8})
	if err != nil {
		var ee *proc.ExitError
		if errors.As(err, &ee) && ee.Code == 69 {
			return oc.Stdout, fmt.Errorf("node %s is unreachable: check rabbitmq.node and that rabbitmq.env has the HOME (cookie) and ERL_EPMD_PORT the node uses: %w", b.cfg.Node, err)
		}
		return oc.Stdout, fmt.Errorf("%s %s: %w", tool, args[0], err)
	}
	return oc.Stdout, nil
}

// ctlJSON runs a CLI call with --formatter json and decodes its output.
func (b *broker) ctlJSON(ctx context.Context, out runbook.Output, v any, tool string, args ...string) error {
	s, err := b.ctl(ctx, quietOut{out}, tool, append(args, "--formatter", "json")...)
	if err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		s = "[]"
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("%s %s: unexpected output %.200q: %w", tool, args[0], s, err)
	}
	return nil
}

// http returns a management API client, or nil when none is configured.
func (b *broker) http(ctx context.Context) (*rabbithole.Client, error) {
	if b.cfg.ManagementURL == "" {
		return nil, nil
	}
	pw, err := b.password(ctx)
	if err != nil {
		return nil, err
	}
	c, err := rabbithole.NewClient(b.cfg.ManagementURL, b.cfg.user(), pw)
	if err != nil {
		return nil, badURL("management_url", err)
	}
	c.SetTimeout(10 * time.Second)
	return c, nil
}

// viaHTTP runs f against the management API when it is configured and up.
// It reports false (and says so on out) when the CLI must be used instead:
// no URL configured, or the API down (maintenance mode suspends the HTTP
// listener too, reference §6).
func (b *broker) viaHTTP(ctx context.Context, out runbook.Output, what string, f func(*rabbithole.Client) error) (bool, error) {
	c, err := b.http(ctx)
	if err != nil || c == nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- f(c) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if err == nil {
		return true, nil
	}
	if errors.Is(err, errLive) {
		return false, nil
	}
	var he rabbithole.ErrorResponse
	if errors.As(err, &he) {
		return false, fmt.Errorf("management API %s: %w", what, err)
	}
	if out != nil {
		out.Line(runbook.Info, fmt.Sprintf("management API unavailable for %s (%v): using rabbitmqctl", what, err))
	}
	return false, nil
}

// errLive makes viaHTTP fall back to the CLI without a word: the caller
// needs live numbers, not statistics.
var errLive = errors.New("live numbers wanted")

// queue is one queue as listed.
type queue struct {
	Vhost     string `json:"vhost"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Messages  int    `json:"messages"`
	Consumers int    `json:"consumers"`
}

func (q queue) key() string { return q.Vhost + "/" + q.Name }

// connection is one client connection as listed.
type connection struct {
	Vhost string `json:"vhost"`
	Name  string `json:"name"`
	User  string `json:"user"`
}

func (b *broker) vhosts(ctx context.Context, out runbook.Output) ([]string, error) {
	var names []string
	ok, err := b.viaHTTP(ctx, out, "list vhosts", func(c *rabbithole.Client) error {
		vs, err := c.ListVhosts()
		for _, v := range vs {
			names = append(names, v.Name)
		}
		return err
	})
	if err != nil {
		// names is not read: after a cancel the request may still be
		// filling it in.
		return nil, err
	}
	if ok {
		sort.Strings(names)
		return names, nil
	}
	names = nil // a failed request may have listed some before it gave up
	var rows []struct {
		Name string `json:"name"`
	}
	if err := b.ctlJSON(ctx, out, &rows, "rabbitmqctl", "list_vhosts", "name"); err != nil {
		return nil, err
	}
	for _, r := range rows {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names, nil
}

// queues lists every queue of every vhost (or of the given vhost). Message
// counts here are the broker's statistics: use counts for exact numbers.
func (b *broker) queues(ctx context.Context, out runbook.Output, vhost string) ([]queue, error) {
	return b.listQueues(ctx, out, vhost, false)
}

// liveQueues lists queues through the CLI, which asks each queue process:
// the HTTP API's consumer counts are statistics refreshed every 5 s, so a
// consumer that attached a moment ago would not show there.
func (b *broker) liveQueues(ctx context.Context, out runbook.Output) ([]queue, error) {
	return b.listQueues(ctx, out, "", true)
}

func (b *broker) listQueues(ctx context.Context, out runbook.Output, vhost string, live bool) ([]queue, error) {
	var qs []queue
	ok, err := b.viaHTTP(ctx, out, "list queues", func(c *rabbithole.Client) error {
		if live {
			return errLive
		}
		var list []rabbithole.QueueInfo
		var err error
		if vhost != "" {
			list, err = c.ListQueuesIn(vhost)
		} else {
			list, err = c.ListQueues()
		}
		for _, q := range list {
			qs = append(qs, queue{Vhost: q.Vhost, Name: q.Name, Type: queueType(q.Type, q.Arguments), Messages: q.Messages, Consumers: q.Consumers})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		qs = nil
		vhosts := []string{vhost}
		if vhost == "" {
			if vhosts, err = b.vhosts(ctx, out); err != nil {
				return nil, err
			}
		}
		for _, v := range vhosts {
			var rows []queue
			if err := b.ctlJSON(ctx, out, &rows, "rabbitmqctl", "list_queues", "-p", v, "name", "type", "messages", "consumers"); err != nil {
				return nil, err
			}
			for _, r := range rows {
				r.Vhost = v
				r.Type = queueType(r.Type, nil)
				qs = append(qs, r)
			}
		}
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].key() < qs[j].key() })
	return qs, nil
}

func (b *broker) connections(ctx context.Context, out runbook.Output, live bool) ([]connection, error) {
	var cs []connection
	ok, err := b.viaHTTP(ctx, out, "list connections", func(c *rabbithole.Client) error {
		if live {
			return errLive
		}
		list, err := c.ListConnections()
		for _, x := range list {
			cs = append(cs, connection{Vhost: x.Vhost, Name: x.Name, User: x.User})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		cs = nil
		if err := b.ctlJSON(ctx, out, &cs, "rabbitmqctl", "list_connections", "vhost", "name", "user"); err != nil {
			return nil, err
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs, nil
}

// queueType normalises a queue's type; older listings leave it empty and
// carry x-queue-type in the arguments.
func queueType(t string, args map[string]any) string {
	if t != "" {
		return t
	}
	if s, ok := args["x-queue-type"].(string); ok && s != "" {
		return s
	}
	return "classic"
}

// status is the part of `rabbitmqctl status --formatter json` the adapter
// uses.
type status struct {
	DataDirectory      string `json:"data_directory"`
	IsUnderMaintenance bool   `json:"is_under_maintenance"`
	Pid                int    `json:"pid"`
	Version            string `json:"rabbitmq_version"`
}

func (b *broker) status(ctx context.Context, out runbook.Output) (status, error) {
	var st status
	s, err := b.ctl(ctx, quietOut{out}, "rabbitmqctl", "status", "--formatter", "json")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, fmt.Errorf("rabbitmqctl status: unexpected output: %w", err)
	}
	return st, nil
}

// nodeState asks, in one CLI call, whether the rabbit application runs and
// where the data directory is. rabbit_mnesia:dir() answers with the app
// stopped too (status does not); io:format prints it without the quotes
// an Erlang string has (pitfall 14).
func (b *broker) nodeState(ctx context.Context, out runbook.Output) (running bool, dataDir string, err error) {
	s, err := b.ctl(ctx, quietOut{out}, "rabbitmqctl", "eval", `io:format("~s~n~s~n", [rabbit:is_running(), rabbit_mnesia:dir()]).`)
	if err != nil {
		return false, "", err
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 2 || (lines[0] != "true" && lines[0] != "false") {
		return false, "", fmt.Errorf("rabbitmqctl eval: unexpected answer %.200q", s)
	}
	return lines[0] == "true", strings.TrimSpace(lines[1]), nil
}

// appRunning reports whether the rabbit application runs on the node (the
// Erlang VM must answer either way).
func (b *broker) appRunning(ctx context.Context, out runbook.Output) (bool, error) {
	running, _, err := b.nodeState(ctx, out)
	return running, err
}

// dataDir finds the node's data directory: the target's override, else the
// node's answer.
func (b *broker) dataDir(ctx context.Context, out runbook.Output) (string, error) {
	if b.cfg.DataDir != "" {
		return b.cfg.DataDir, nil
	}
	_, d, err := b.nodeState(ctx, out)
	if err != nil {
		return "", err
	}
	if d == "" {
		return "", errors.New("the node reported no data directory: set rabbitmq.data_dir in targets.yaml")
	}
	return d, nil
}

// channel is one AMQP channel as listed.
type channel struct {
	Name          string `json:"name"`
	Vhost         string `json:"vhost"`
	User          string `json:"user"`
	ConsumerCount int    `json:"consumer_count"`
}

// consumerChannels lists, in one live CLI call over every vhost, the
// channels that have consumers.
func (b *broker) consumerChannels(ctx context.Context, out runbook.Output) ([]channel, error) {
	var all []channel
	if err := b.ctlJSON(ctx, out, &all, "rabbitmqctl", "list_channels", "name", "vhost", "user", "consumer_count"); err != nil {
		return nil, err
	}
	var cs []channel
	for _, c := range all {
		if c.ConsumerCount > 0 {
			cs = append(cs, c)
		}
	}
	return cs, nil
}

// runCommand runs a target-defined argv (consumer and producer control).
func runCommand(ctx context.Context, out runbook.Output, argv []string, field string) (proc.Outcome, error) {
	if len(argv) == 0 {
		return proc.Outcome{ExitCode: -1}, fmt.Errorf("no command configured: set rabbitmq.%s in targets.yaml (an argv list, e.g. [supervisorctl, stop, \"oro:*\"])", field)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return proc.Outcome{ExitCode: -1}, fmt.Errorf("rabbitmq.%s: %s not found: %w", field, argv[0], err)
	}
	return proc.Run(ctx, proc.Spec{Argv: argv, Out: out})
}
