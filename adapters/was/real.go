package was

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// wasxError matches a wsadmin error message id (WASX7017E and the like);
// any such line makes the call a failure, whatever the script printed.
var wasxError = regexp.MustCompile(`\bWASX\d{4}E\b`)

// RealBackend runs wsadmin.sh and the profile tools of a real cell.
type RealBackend struct {
	cfg Config
}

// NewRealBackend returns the backend for a configured target.
func NewRealBackend(cfg Config) *RealBackend { return &RealBackend{cfg: cfg} }

// Host names the connector wsadmin uses.
func (b *RealBackend) Host() string {
	ct := b.cfg.connType()
	if ct == "NONE" {
		return "local configuration (conntype NONE)"
	}
	host := b.cfg.Host
	if host == "" {
		host = "wsadmin.properties host"
	}
	if b.cfg.Port != 0 {
		host += ":" + strconv.Itoa(b.cfg.Port)
	}
	return host + " (" + ct + ")"
}

func (b *RealBackend) wsadminPath() string {
	if b.cfg.Wsadmin != "" {
		return b.cfg.Wsadmin
	}
	if b.cfg.ProfileRoot != "" {
		return filepath.Join(b.cfg.ProfileRoot, "bin", "wsadmin.sh")
	}
	return ""
}

func (b *RealBackend) toolPath(name string) string {
	return filepath.Join(b.cfg.ProfileRoot, "bin", name+".sh")
}

// wsadminArgv is the command line for a script: the script and the
// properties file are placeholders in a plan and real paths in a run.
func (b *RealBackend) wsadminArgv(script, props string, args []string) []string {
	argv := []string{b.wsadminPath(), "-lang", "jython", "-conntype", b.cfg.connType()}
	if b.cfg.connType() != "NONE" {
		if b.cfg.Host != "" {
			argv = append(argv, "-host", b.cfg.Host)
		}
		if b.cfg.Port != 0 {
			argv = append(argv, "-port", strconv.Itoa(b.cfg.Port))
		}
		if props != "" {
			argv = append(argv, "-p", props)
		}
	}
	argv = append(argv, "-f", script, argsMarker)
	return append(argv, args...)
}

func (b *RealBackend) toolArgv(req Request) ([]string, error) {
	if b.cfg.ProfileRoot == "" {
		return nil, fmt.Errorf("%s needs the profile directory: set was.profile_root in targets.yaml", req.Tool)
	}
	prof := func(argv []string) []string {
		if b.cfg.ProfileName != "" {
			argv = append(argv, "-profileName", b.cfg.ProfileName)
		}
		return argv
	}
	switch req.Tool {
	case ToolBackupConfig, ToolRestoreConfig:
		// args: file, nostop ("true"/"false"). No -username/-password: the
		// tools read ipc.client.props, and a password must never be on a
		// command line.
		if len(req.Args) != 2 {
			return nil, fmt.Errorf("%s needs a file and the nostop flag", req.Tool)
		}
		argv := prof(append([]string{b.toolPath(req.Tool)}, configToolArgs(req.Args)...))
		if req.Tool == ToolBackupConfig {
			return append(argv, b.cfg.BackupConfigOptions...), nil
		}
		return append(argv, b.cfg.RestoreConfigOptions...), nil
	case ToolRecoveryServer:
		// args: node, server. startServer.sh runs on the node's own host.
		if len(req.Args) != 2 {
			return nil, errors.New("a recovery start needs the node and the server")
		}
		bin := b.toolPath("startServer")
		if root, ok := b.cfg.NodeProfileRoots[req.Args[0]]; ok {
			bin = filepath.Join(root, "bin", "startServer.sh")
		}
		return prof([]string{bin, req.Args[1], "-recovery"}), nil
	}
	return nil, fmt.Errorf("unknown tool %q", req.Tool)
}

// configToolArgs turns a backupConfig or restoreConfig request's arguments
// (the archive, and "true" or "false" for nostop) into the tool's own: the
// archive, then -nostop when asked.
func configToolArgs(args []string) []string {
	if len(args) == 2 && args[1] == "true" {
		return []string{args[0], "-nostop"}
	}
	return args[:min(len(args), 1)]
}

// Plan shows the command line, with the script and properties file named
// by what they are.
func (b *RealBackend) Plan(req Request) runbook.Plan {
	if req.Script != "" {
		return runbook.Plan{
			Host:   b.Host(),
			Argv:   b.wsadminArgv("<"+req.Script+".py>", b.propsPlaceholder(), req.Args),
			Detail: "runs the generated Jython script " + req.Script + ".py; the values are its arguments, never part of its text",
		}
	}
	argv, err := b.toolArgv(req)
	if err != nil {
		return runbook.Plan{Host: "localhost", Detail: err.Error()}
	}
	p := runbook.Plan{Host: "localhost", Argv: argv}
	if req.Tool == ToolRecoveryServer {
		p.Detail = fmt.Sprintf("then ask wsadmin every %s until server %s has stopped by itself", b.cfg.recoveryPoll(), req.Args[1])
	}
	return p
}

func (b *RealBackend) propsPlaceholder() string {
	if b.cfg.User == "" {
		return ""
	}
	return "<credentials.properties, mode 0600>"
}

// Do runs a script through wsadmin or a profile tool.
func (b *RealBackend) Do(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	if req.Tool == ToolRecoveryServer {
		return b.recoveryStart(ctx, req, out)
	}
	if req.Tool != "" {
		return b.runTool(ctx, req, out)
	}
	return b.runScript(ctx, req, out)
}

// withTimeout bounds ctx by d when it has no deadline: a step's own
// timeout is the operator's word and wins over the target's default, even
// when it is longer (a two-hour data store restore is not cut at one).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// scanOutput passes lines on and remembers the ones the adapter judges by.
type scanOutput struct {
	out     runbook.Output
	mu      sync.Mutex
	errs    []string
	markers []string
	tail    []string
}

// Line passes a line on, noting markers and error ids.
func (s *scanOutput) Line(stream runbook.Stream, text string) {
	s.mu.Lock()
	if stream != runbook.Info {
		line := strings.TrimRight(text, "\r\n")
		switch {
		case strings.HasPrefix(line, ResultMarker):
			s.markers = append(s.markers, strings.TrimPrefix(line, ResultMarker))
		case strings.HasPrefix(line, "WASX7209I"):
			// The connection banner: shown, never interpreted.
		case wasxError.MatchString(line):
			s.errs = append(s.errs, line)
		}
		if len(s.tail) == 5 {
			s.tail = s.tail[1:]
		}
		s.tail = append(s.tail, line)
	}
	s.mu.Unlock()
	if s.out != nil {
		s.out.Line(stream, text)
	}
}

func (b *RealBackend) runScript(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	text, err := GenerateScript(req.Script)
	if err != nil {
		return Reply{}, err
	}
	wsadmin := b.wsadminPath()
	if wsadmin == "" {
		return Reply{}, errors.New("no wsadmin configured: set was.wsadmin or was.profile_root in targets.yaml")
	}
	if st, err := os.Stat(wsadmin); err != nil || st.IsDir() {
		return Reply{}, fmt.Errorf("wsadmin not found at %s: set was.wsadmin in targets.yaml", wsadmin)
	}
	dir, err := os.MkdirTemp("", "drillbook-wsadmin-")
	if err != nil {
		return Reply{}, fmt.Errorf("make a directory for the wsadmin script: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, req.Script+".py")
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		return Reply{}, fmt.Errorf("write the wsadmin script: %w", err)
	}
	var secrets []string
	props := ""
	if b.cfg.User != "" && b.cfg.connType() != "NONE" {
		pw, err := b.cfg.Password.Resolve(ctx)
		if err != nil {
			return Reply{}, fmt.Errorf("was.password: %w", err)
		}
		secrets = append(secrets, pw)
		props = filepath.Join(dir, "credentials.properties")
		if err := writeCredentials(props, b.cfg, pw); err != nil {
			return Reply{}, err
		}
	}
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	scan := &scanOutput{out: out}
	_, runErr := proc.Run(ctx, proc.Spec{
		Argv:    b.wsadminArgv(script, props, req.Args),
		Out:     scan,
		Secrets: secrets,
	})
	return judgeScript(ctx, req, scan, runErr, b.Host())
}

// judgeScript decides a wsadmin run's outcome from its marker, its error
// lines and its exit.
func judgeScript(ctx context.Context, req Request, scan *scanOutput, runErr error, host string) (Reply, error) {
	scan.mu.Lock()
	defer scan.mu.Unlock()
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("wsadmin %s did not finish in time and was stopped: check that %s answers (a hung wsadmin often waits for a certificate or password prompt): %w", req.Script, host, ctx.Err())
	}
	var reply Reply
	if n := len(scan.markers); n > 0 {
		if err := json.Unmarshal([]byte(scan.markers[n-1]), &reply); err != nil {
			return Reply{}, fmt.Errorf("wsadmin %s printed a result drillbook cannot read: %w", req.Script, err)
		}
	}
	if len(scan.errs) > 0 {
		return reply, fmt.Errorf("wsadmin %s failed: %s", req.Script, scan.errs[0])
	}
	if len(scan.markers) == 0 {
		if runErr != nil {
			return reply, fmt.Errorf("wsadmin %s printed no result, so it did not finish: %w", req.Script, runErr)
		}
		msg := fmt.Sprintf("wsadmin %s printed no result, so it did not finish", req.Script)
		if len(scan.tail) > 0 {
			msg += "; last output: " + strings.Join(scan.tail, " | ")
		}
		return reply, errors.New(msg)
	}
	reply.Evidence = append(reply.Evidence, ResultMarker+scan.markers[len(scan.markers)-1])
	if reply.OK != "true" {
		return reply, fmt.Errorf("wsadmin %s: %s", req.Script, reply.Error)
	}
	if runErr != nil {
		return reply, fmt.Errorf("wsadmin %s reported success but %w", req.Script, runErr)
	}
	return reply, nil
}

// writeCredentials writes the user and password for wsadmin's -p option to
// a file only its owner can read, created with that mode so that no other
// user ever sees it.
func writeCredentials(path string, cfg Config, password string) error {
	userKey, passKey := cfg.credentialProperties()
	body := propLine(userKey, cfg.User) + propLine(passKey, password)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the wsadmin credentials file: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return fmt.Errorf("write the wsadmin credentials file: %w", err)
	}
	return f.Close()
}

// propLine renders key=value in java.util.Properties syntax.
func propLine(key, value string) string {
	esc := func(s string, isKey bool) string {
		var b strings.Builder
		for i, r := range s {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '=' || r == ':' || r == '#' || r == '!':
				b.WriteRune('\\')
				b.WriteRune(r)
			case r == ' ' && (isKey || i == 0):
				b.WriteString(`\ `)
			case r > 0x7e || r < 0x20:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return esc(key, true) + "=" + esc(value, false) + "\n"
}

func (b *RealBackend) runTool(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	argv, err := b.toolArgv(req)
	if err != nil {
		return Reply{}, err
	}
	if _, err := os.Stat(argv[0]); err != nil {
		return Reply{}, fmt.Errorf("%s not found at %s: set was.profile_root in targets.yaml", req.Tool, argv[0])
	}
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Out: out, TailLines: 5})
	reply := Reply{Evidence: oc.StdoutTail}
	if err != nil {
		if ctx.Err() != nil {
			return reply, fmt.Errorf("%s did not finish in time and was stopped: %w", req.Tool, ctx.Err())
		}
		hint := ""
		if req.Tool == ToolBackupConfig || req.Tool == ToolRestoreConfig {
			hint = ": if it asked for a password, put the credentials in the profile's properties/ipc.client.props"
		}
		return reply, fmt.Errorf("%s failed: %w%s", req.Tool, err, hint)
	}
	reply.OK = "true"
	return reply, nil
}

func (b *RealBackend) recoveryStart(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	// The polls below go on until the server stops: without a step
	// timeout, the target's call timeout bounds the whole recovery.
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	if _, err := b.runTool(ctx, req, out); err != nil {
		return Reply{}, err
	}
	node, server := req.Args[0], req.Args[1]
	out.Line(runbook.Info, fmt.Sprintf("waiting for %s to finish recovery and stop by itself", server))
	tick := time.NewTicker(b.cfg.recoveryPoll())
	defer tick.Stop()
	for {
		st, err := b.runScript(ctx, Request{Script: ScriptServerStatus, Args: []string{node, server}}, out)
		if err != nil {
			return st, fmt.Errorf("while waiting for the recovery start of %s to end: %w", server, err)
		}
		if st.After == "STOPPED" {
			st.Before, st.After = "RECOVERY", "STOPPED"
			return st, nil
		}
		select {
		case <-ctx.Done():
			return Reply{}, fmt.Errorf("server %s was still running in recovery mode when the step's time ran out: %w", server, ctx.Err())
		case <-tick.C:
		}
	}
}
