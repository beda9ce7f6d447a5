package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// broker talks to one node: the CLI always works (Erlang distribution, even
// while drained), the HTTP API only while the node is up and not drained.
type broker struct {
	cfg Config

	pwMu sync.Mutex
	pw   string
	pwOK bool

	// dd is the node's data directory once the node has named it and it
	// passed the rabbitmq.data_dir check: it does not change while the
	// node runs, and asking costs a CLI call.
	ddMu sync.Mutex
	dd   string
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
// against the node and returns its standard output. The tool gets the
// ordinary variables and rabbitmq.env only (Config.env): no secret of
// drillbook's reaches it.
func (b *broker) ctl(ctx context.Context, out runbook.Output, tool string, args ...string) (string, error) {
	if b.cfg.Node == "" {
		return "", errors.New("rabbitmq.node is not set: set node in the target's rabbitmq section of targets.yaml")
	}
	if len(args) == 0 {
		return "", errors.New("no CLI command given")
	}
	argv := b.cfg.ctlArgv(tool, args...)
	h, err := b.cfg.nodeHost()
	if err != nil {
		return "", err
	}
	if _, err := h.Stat(ctx, argv[0]); err != nil {
		where := ""
		if b.cfg.Host != "" {
			where = " on " + b.cfg.Host
		}
		return "", fmt.Errorf("%s not found at %s%s: set rabbitmq.cli_dir in targets.yaml or %s", tool, argv[0], where, "apt-get install -y rabbitmq-server")
	}
	// The CLI's own --timeout bounds the call; this one catches a CLI that
	// hangs before it gets that far.
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout()+30*time.Second)
	defer cancel()
	se := &stderrLines{out: out}
	// On a remote host the environment travels inside the agent's
	// channel, never on the remote command line (host.Host.Run).
	oc, err := h.Run(ctx, host.Command{Argv: argv, Env: b.cfg.env(), OnlyEnv: true, Out: se, Capture: 256 << 20, TailLines: 8})
	if err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) {
			first := se.first()
			switch {
			case strings.Contains(first, "unable to perform an operation on node"):
				return oc.Stdout, fmt.Errorf("node %s is unreachable: check rabbitmq.node, that the node runs, and that rabbitmq.env has the HOME (cookie) and ERL_EPMD_PORT the node uses: %w", b.cfg.Node, err)
			case first != "":
				return oc.Stdout, fmt.Errorf("%s %s: %s (exit %d)", tool, args[0], first, ee.Code)
			}
		}
		return oc.Stdout, fmt.Errorf("%s %s: %w", tool, args[0], err)
	}
	return oc.Stdout, nil
}

// stderrLines forwards every line and keeps the first lines of standard
// error: the CLI says what went wrong at the top ("Virtual host 'x' does
// not exist", "unable to perform an operation on node") and its
// diagnostics below, so the tail alone does not tell.
type stderrLines struct {
	out runbook.Output
	mu  sync.Mutex
	buf []string
}

// Line forwards the line and keeps it when it is among the first on stderr.
func (s *stderrLines) Line(st runbook.Stream, text string) {
	if s.out != nil {
		s.out.Line(st, text)
	}
	if st != runbook.Stderr && st != runbook.Stdout {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := strings.TrimSpace(text); t != "" && len(s.buf) < 20 && (st == runbook.Stderr || len(s.buf) == 0 && strings.HasPrefix(t, "Error")) {
		s.buf = append(s.buf, t)
	}
}

// first returns the first line that says what failed, "" when none did.
func (s *stderrLines) first() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.buf {
		if l == "Error:" && i+1 < len(s.buf) {
			return l + " " + s.buf[i+1]
		}
		if strings.HasPrefix(l, "Error") || !strings.HasPrefix(l, "[") {
			return l
		}
	}
	return ""
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
	// A 4xx is the API refusing what was asked (a vhost that does not exist,
	// a user without the right): that is the answer. A 5xx is the plugin
	// failing to answer, as it does for a moment while a node starts (500
	// "EOF" while its statistics are not ready): the CLI asks the node
	// itself instead.
	var he rabbithole.ErrorResponse
	if errors.As(err, &he) && he.StatusCode < 500 {
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

// label names the queue for the operator: `queue "cq.a" in vhost "/"`.
func (q queue) label() string { return qlabel(q.Vhost, q.Name) }

func qlabel(vhost, name string) string { return fmt.Sprintf("queue %q in vhost %q", name, vhost) }

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

// nodeInfo is what one eval call tells about the node.
type nodeInfo struct {
	// Running says whether the rabbit application runs.
	Running bool
	// Drained says whether the node is in maintenance mode (false while
	// the application is stopped: stop_app resets it, reference §6).
	Drained bool
	// DataDir is rabbit_mnesia:dir(), the node's data directory.
	DataDir string
}

// nodeState asks, in one CLI call, whether the rabbit application runs,
// whether the node is drained and where the data directory is.
// rabbit_mnesia:dir() answers with the app stopped too (status does not);
// io:format prints it without the quotes an Erlang string has (pitfall 14).
// The expression is fixed text: no value is ever written into it.
func (b *broker) nodeState(ctx context.Context, out runbook.Output) (nodeInfo, error) {
	s, err := b.ctl(ctx, quietOut{out}, "rabbitmqctl", "eval",
		`io:format("~s~n~s~n~s~n", [rabbit:is_running(), rabbit:is_running() andalso rabbit_maintenance:is_being_drained_local_read(node()), rabbit_mnesia:dir()]).`)
	if err != nil {
		return nodeInfo{}, err
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 3 || (lines[0] != "true" && lines[0] != "false") {
		return nodeInfo{}, fmt.Errorf("rabbitmqctl eval: unexpected answer %.200q", s)
	}
	ni := nodeInfo{Running: lines[0] == "true", Drained: lines[1] == "true", DataDir: strings.TrimSpace(lines[2])}
	if d, err := b.checkDataDirSetting(ctx, ni.DataDir); err == nil {
		b.ddMu.Lock()
		b.dd = d
		b.ddMu.Unlock()
	}
	return ni, nil
}

// appRunning reports whether the rabbit application runs on the node (the
// Erlang VM must answer either way).
func (b *broker) appRunning(ctx context.Context, out runbook.Output) (bool, error) {
	ni, err := b.nodeState(ctx, out)
	return ni.Running, err
}

// dataDir finds the node's data directory as the node names it
// (rabbit_mnesia:dir()), checked against rabbitmq.data_dir when that is set.
func (b *broker) dataDir(ctx context.Context, out runbook.Output) (string, error) {
	b.ddMu.Lock()
	d := b.dd
	b.ddMu.Unlock()
	if d != "" {
		return d, nil
	}
	ni, err := b.nodeState(ctx, out)
	if err != nil {
		return "", err
	}
	return b.checkDataDirSetting(ctx, ni.DataDir)
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

// runCommand runs a target-defined argv (consumer and producer control)
// with the ordinary variables of drillbook's environment only, never a
// secret.
//
// It runs on the node's host (rabbitmq.host), where the application's
// consumers run beside the node.
func (b *broker) runCommand(ctx context.Context, out runbook.Output, argv []string, field string) (host.Outcome, error) {
	if len(argv) == 0 {
		return host.Outcome{ExitCode: -1}, fmt.Errorf("no command configured: set rabbitmq.%s in targets.yaml (an argv list, e.g. [supervisorctl, stop, \"oro:*\"])", field)
	}
	h, err := b.cfg.nodeHost()
	if err != nil {
		return host.Outcome{ExitCode: -1}, err
	}
	oc, err := h.Run(ctx, host.Command{Argv: argv, Env: baseEnv(""), OnlyEnv: true, Out: out})
	var ee *host.ExitError
	if err != nil && !errors.As(err, &ee) && ctx.Err() == nil {
		where := ""
		if b.cfg.Host != "" {
			where = " on " + b.cfg.Host
		}
		return oc, fmt.Errorf("rabbitmq.%s: %s could not be started%s: %w", field, argv[0], where, err)
	}
	return oc, err
}
