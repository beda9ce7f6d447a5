package was

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// wasxError matches a wsadmin error message id (WASX7017E and the like);
// any such line makes the call a failure, whatever the script printed.
var wasxError = regexp.MustCompile(`\bWASX\d{4}E\b`)

// RealBackend runs wsadmin.sh and the profile tools of a real cell.
type RealBackend struct {
	cfg  Config
	sess *session
}

// NewRealBackend returns the backend for a configured target.
func NewRealBackend(cfg Config) *RealBackend { return &RealBackend{cfg: cfg, sess: newSession()} }

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

// Cell returns the target's cell name.
func (b *RealBackend) Cell() string { return b.cfg.Cell }

// Profile resolves a node's profile from the target: the deployment
// manager's for "", the node's own entry under was.nodes otherwise. A node
// without an entry has no profile: its tools are never run in another.
func (b *RealBackend) Profile(node string) (Profile, error) {
	if node == "" {
		if b.cfg.ProfileRoot == "" {
			return Profile{}, errors.New("the deployment manager's profile is not configured: set was.profile_root in targets.yaml")
		}
		name := b.cfg.ProfileName
		if name == "" {
			name = filepath.Base(b.cfg.ProfileRoot)
		}
		return Profile{Name: name, Root: b.cfg.ProfileRoot, Host: b.cfg.describeHost("")}, nil
	}
	np, ok := b.cfg.Nodes[node]
	if !ok || np.ProfileRoot == "" {
		return Profile{}, fmt.Errorf("node %s has no profile in this target: add was.nodes.%s.profile_root (and profile_name) to targets.yaml; drillbook never runs a node's tool in another profile", node, node)
	}
	name := np.ProfileName
	if name == "" {
		name = filepath.Base(np.ProfileRoot)
	}
	return Profile{Name: name, Root: np.ProfileRoot, Node: node, Host: b.cfg.describeHost(node)}, nil
}

func (b *RealBackend) profileName(node string) string {
	if node == "" {
		return b.cfg.ProfileName
	}
	return b.cfg.Nodes[node].ProfileName
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

// toolArgv is a tool's command line in its profile. No tool is given
// -username or -password: those that need credentials read the profile's
// soap.client.props or ipc.client.props (IBM rxml_backupconfig: "This
// command uses the user ID and password information in the
// profile_root/properties/ipc.client.props file"), and a password never
// goes on a command line.
func (b *RealBackend) toolArgv(req Request) ([]string, Profile, error) {
	p, err := b.Profile(req.Node)
	if err != nil {
		return nil, p, fmt.Errorf("%s: %w", req.Tool, err)
	}
	if req.Node == "" && toolProfile(req.Tool) == "node" {
		return nil, p, fmt.Errorf("%s runs in a node's profile, and no node was given", req.Tool)
	}
	if req.Node != "" && toolProfile(req.Tool) == "dmgr" {
		return nil, p, fmt.Errorf("%s runs in the deployment manager's profile, not in node %s's", req.Tool, req.Node)
	}
	bin := func(name string) string { return filepath.Join(p.Root, "bin", name+".sh") }
	prof := func(argv []string) []string {
		if n := b.profileName(req.Node); n != "" {
			argv = append(argv, "-profileName", n)
		}
		return argv
	}
	switch req.Tool {
	case ToolBackupConfig, ToolRestoreConfig:
		// args: file, nostop ("true"/"false").
		if len(req.Args) != 2 {
			return nil, p, fmt.Errorf("%s needs a file and the nostop flag", req.Tool)
		}
		argv := prof(append([]string{bin(req.Tool)}, configToolArgs(req.Args)...))
		if req.Tool == ToolBackupConfig {
			return append(argv, b.cfg.BackupConfigOptions...), p, nil
		}
		return append(argv, b.cfg.RestoreConfigOptions...), p, nil
	case ToolRecoveryServer:
		// args: node, server. startServer.sh of the node's own profile.
		if len(req.Args) != 2 {
			return nil, p, errors.New("a recovery start needs the node and the server")
		}
		return prof([]string{bin("startServer"), req.Args[1], "-recovery"}), p, nil
	case ToolStartManager, ToolStopManager, ToolStartNode, ToolStopNode:
		return prof([]string{bin(req.Tool)}), p, nil
	case ToolSyncNode:
		// syncNode <deploymgr host> <deploymgr port> (IBM rxml_syncnode).
		if b.cfg.Host == "" || b.cfg.Port == 0 {
			return nil, p, errors.New("syncNode needs the deployment manager's host and SOAP port: set was.host and was.port in targets.yaml")
		}
		return prof([]string{bin(req.Tool), b.cfg.Host, strconv.Itoa(b.cfg.Port)}), p, nil
	case ToolServerStatus:
		// args: server.
		if len(req.Args) != 1 {
			return nil, p, errors.New("serverStatus needs the server")
		}
		return prof([]string{bin(req.Tool), req.Args[0]}), p, nil
	}
	return nil, p, fmt.Errorf("unknown tool %q", req.Tool)
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
// by what they are, and for a tool the profile it runs in.
func (b *RealBackend) Plan(req Request) runbook.Plan {
	if req.Script != "" {
		if why := b.noSession(); why != "" {
			return runbook.Plan{
				Host:   b.cfg.describeHost("") + ", connected to " + b.Host(),
				Argv:   b.wsadminArgv("<"+req.Script+".py>", b.propsPlaceholder(), req.Args),
				Detail: "runs the generated Jython script " + req.Script + ".py in a wsadmin of its own (" + why + "); the values are its arguments, never part of its text",
			}
		}
		return runbook.Plan{
			Host: b.cfg.describeHost("") + ", connected to " + b.Host(),
			Argv: append([]string{"<wsadmin session>", req.Script + ".py"}, req.Args...),
			Detail: fmt.Sprintf("runs the generated Jython script %s.py in the wsadmin session on the deployment manager (one JVM shared by the calls until the deployment manager stops or the session is idle for %s; started as %s); the values are its arguments, never part of its text",
				req.Script, b.cfg.sessionIdle(), runbook.QuoteArgv(b.wsadminArgv("<session-loop.py>", b.propsPlaceholder(), nil))),
		}
	}
	argv, p, err := b.toolArgv(req)
	if err != nil {
		return runbook.Plan{Host: b.cfg.describeHost(req.Node), Detail: err.Error()}
	}
	plan := runbook.Plan{Host: p.Host, Argv: argv, Detail: "runs in " + p.Describe()}
	if b.stopsManager(req) && !b.cfg.NoSession {
		plan.Detail += "; ends the wsadmin session first (the deployment manager stops)"
	}
	if req.Tool == ToolRecoveryServer {
		plan.Detail += fmt.Sprintf("; then runs serverStatus.sh every %s until server %s has stopped by itself", b.cfg.recoveryPoll(), req.Args[1])
	}
	return plan
}

func (b *RealBackend) propsPlaceholder() string {
	if b.cfg.User == "" {
		return ""
	}
	return "<credentials.properties, mode 0600>"
}

// Do runs a script through wsadmin or a profile tool.
func (b *RealBackend) Do(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	if b.stopsManager(req) {
		b.sess.sem <- struct{}{}
		b.endSession("the deployment manager is about to stop")
		<-b.sess.sem
	}
	if req.Tool == ToolRecoveryServer {
		return b.recoveryStart(ctx, req, out)
	}
	if req.Tool != "" {
		return b.runTool(ctx, req, out)
	}
	rep, err := b.runScript(ctx, req, out)
	if b.stopsManager(req) {
		// The session that stopped the deployment manager has lost it.
		b.sess.sem <- struct{}{}
		b.endSession("it stopped the deployment manager")
		<-b.sess.sem
	}
	return rep, err
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

// secretEnvNames are the environment variables the target's secrets are
// read from, and the secret parameters drillbook was given: no child
// process inherits them. Each command gets back only the secrets it needs,
// added to its Env after these.
func (b *RealBackend) secretEnvNames() []string {
	return secretEnvNames(b.cfg)
}

func secretEnvNames(cfg Config) []string {
	var names []string
	add := func(ref runbook.SecretRef) {
		if ref.Env != "" && !slices.Contains(names, ref.Env) {
			names = append(names, ref.Env)
		}
	}
	add(cfg.Password)
	for _, k := range sortedKeys(cfg.DataStore.SecretEnv) {
		add(cfg.DataStore.SecretEnv[k])
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DRILLBOOK_PARAM_") {
			names = append(names, k)
		}
	}
	return names
}

// scrubbedEnv blanks every secret variable for a child, then adds extra
// (the one secret this command needs, if any). proc.Run adds Env to the
// inherited environment, a later entry winning, so a blank entry leaves the
// child with the name and no value.
func scrubbedEnv(names []string, extra ...string) []string {
	env := make([]string, 0, len(names)+len(extra))
	for _, n := range names {
		env = append(env, n+"=")
	}
	return append(env, extra...)
}

// noSession says why script calls run in a wsadmin of their own, "" when
// they share the session: was.no_session, or a deployment manager on
// another host (the session's process is started on this machine only, by
// startWsadmin; adapters/host has no streaming start yet).
func (b *RealBackend) noSession() string {
	if b.cfg.NoSession {
		return "was.no_session"
	}
	if n := b.cfg.hostName(""); n != "" && n != runbook.LocalHost {
		return "the deployment manager is on host " + n + ", and sessions run on this machine only"
	}
	return ""
}

// stopsManager says whether a request stops the deployment manager, which
// ends the wsadmin session connected to it: stopManager, backupConfig or
// restoreConfig without -nostop in its profile ("By default, all servers
// on the node stop before the configuration restores", IBM
// rxml_restoreconfig; backupConfig likewise, rxml_backupconfig), a stop of
// the deployment manager's server, and startManager (a session from before
// cannot be connected to the new process).
func (b *RealBackend) stopsManager(req Request) bool {
	return stopsManager(req, b.cfg.dmgrServer())
}

func stopsManager(req Request, dmgrServer string) bool {
	switch req.Tool {
	case ToolStopManager, ToolStartManager:
		return true
	case ToolBackupConfig, ToolRestoreConfig:
		return req.Node == "" && (len(req.Args) < 2 || req.Args[1] != "true")
	}
	return req.Script == ScriptStopServer && len(req.Args) > 1 && req.Args[1] == dmgrServer
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
	// wsadmin runs on the deployment manager's host, with its script and
	// credentials file written there.
	h, err := b.cfg.hostOf("")
	if err != nil {
		return Reply{}, fmt.Errorf("wsadmin: the deployment manager's host (was.dmgr_host): %w", err)
	}
	if err := isFileOn(ctx, h, wsadmin); err != nil {
		return Reply{}, fmt.Errorf("wsadmin not found at %s: set was.wsadmin in targets.yaml (or was.dmgr_host, the host it is on); looked on host %s: %w", wsadmin, h.Name(), err)
	}
	if b.noSession() == "" {
		ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
		defer cancel()
		return b.runInSession(ctx, h, req, text, out)
	}
	noteSession(ctx, "wsadmin of its own", true)
	dir, err := h.MkdirTemp(ctx, "", "drillbook-wsadmin-")
	if err != nil {
		return Reply{}, fmt.Errorf("make a directory for the wsadmin script on %s: %w", h.Name(), err)
	}
	defer func() {
		// The directory holds the credentials: removed even when ctx ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		h.RemoveAll(rctx, dir)
	}()
	script := filepath.Join(dir, req.Script+".py")
	if err := h.WriteFile(ctx, script, []byte(text), 0o600); err != nil {
		return Reply{}, fmt.Errorf("write the wsadmin script on %s: %w", h.Name(), err)
	}
	var secrets []string
	props := ""
	if b.cfg.User != "" && b.cfg.connType() != "NONE" {
		pw, err := b.cfg.Password.Resolve(ctx)
		if err != nil {
			return Reply{}, fmt.Errorf("was.password: %w", err)
		}
		secrets = SecretForms(pw)
		props = filepath.Join(dir, "credentials.properties")
		if err := writeCredentials(ctx, h, props, b.cfg, pw); err != nil {
			return Reply{}, err
		}
	}
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	scan := &scanOutput{out: out}
	env := scrubbedEnv(b.secretEnvNames())
	if d := b.cfg.JVMStart.Duration; d > 0 {
		env = append(env, jvmStartEnv+"="+strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	}
	_, runErr := h.Run(ctx, host.Command{
		Argv:    b.wsadminArgv(script, props, req.Args),
		Env:     env,
		Out:     scan,
		Secrets: secrets,
	})
	return judgeScript(ctx, req, scan, runErr, b.Host())
}

// SecretForms returns a secret and every encoding of it the adapter
// produces or a tool may echo: the java.util.Properties escaping of the
// credentials file (\= \: \# \! \\ and \uXXXX). Each is masked in output.
func SecretForms(secret string) []string {
	if secret == "" {
		return nil
	}
	forms := []string{secret}
	if esc := escapeProp(secret, false); esc != secret {
		forms = append(forms, esc)
	}
	return forms
}

// passwordForms returns the administrative password's forms for masking
// in a tool's output: a tool never receives it from drillbook, but one that
// reads the profile's soap.client.props may print it, raw or escaped. Nil
// when the target has no password or it does not resolve.
func passwordForms(ctx context.Context, cfg Config) []string {
	if cfg.Password.IsZero() {
		return nil
	}
	pw, err := cfg.Password.Resolve(ctx)
	if err != nil {
		return nil
	}
	return SecretForms(pw)
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
		return reply, fmt.Errorf("wsadmin %s failed: %s%s", req.Script, scan.errs[0], wasxHint(scan.errs[0], host))
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

// wasxHint says what to do about a wsadmin error whose cause is known.
func wasxHint(line, host string) string {
	switch {
	case strings.HasPrefix(line, "WASX7023E"), strings.Contains(line, "ConnectorNotAvailableException"):
		return fmt.Sprintf(": the deployment manager at %s does not answer; if it was stopped (restoreConfig stops it), start it with was.start-manager and wait for WSVR0001I in its SystemOut.log", host)
	case strings.HasPrefix(line, "WASX7246E"):
		return ": the credentials were refused: check was.user and was.password in targets.yaml"
	}
	return ""
}

// writeCredentials writes the user and password for wsadmin's -p option to
// a file only its owner can read, created with that mode so that no other
// user ever sees it.
func writeCredentials(ctx context.Context, h host.Host, path string, cfg Config, password string) error {
	userKey, passKey := cfg.credentialProperties()
	body := propLine(userKey, cfg.User) + propLine(passKey, password)
	// WriteFile stages the file with mode 0600 (os.CreateTemp) before any
	// byte is written, in a directory only its owner can enter (MkdirTemp's
	// 0700), on the host where wsadmin reads it; the password travels inside the SSH
	// channel, never on a command line.
	if err := h.WriteFile(ctx, path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write the wsadmin credentials file on %s: %w", h.Name(), err)
	}
	return nil
}

// propLine renders key=value in java.util.Properties syntax.
func propLine(key, value string) string {
	return escapeProp(key, true) + "=" + escapeProp(value, false) + "\n"
}

// escapeProp escapes a key or value as java.util.Properties.store does.
func escapeProp(s string, isKey bool) string {
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

func (b *RealBackend) runTool(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	argv, p, err := b.toolArgv(req)
	if err != nil {
		return Reply{}, err
	}
	h, err := b.cfg.hostOf(req.Node)
	if err != nil {
		return Reply{}, fmt.Errorf("%s in %s: %w", req.Tool, p.Describe(), err)
	}
	if err := isFileOn(ctx, h, argv[0]); err != nil {
		return Reply{}, fmt.Errorf("%s not found at %s in %s: check its profile_root and host in targets.yaml: %w", req.Tool, argv[0], p.Describe(), err)
	}
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	oc, err := h.Run(ctx, host.Command{Argv: argv, Env: scrubbedEnv(b.secretEnvNames()), Out: out, TailLines: 5, Secrets: passwordForms(ctx, b.cfg)})
	reply := Reply{Evidence: oc.StdoutTail}
	if err != nil {
		if ctx.Err() != nil {
			return reply, fmt.Errorf("%s did not finish in time and was stopped: %w", req.Tool, ctx.Err())
		}
		return reply, fmt.Errorf("%s in %s failed: %w%s", req.Tool, p.Describe(), err, toolHint(req.Tool))
	}
	reply.OK = "true"
	return reply, nil
}

// toolHint says what to do when a tool fails and the cause is often the
// same.
func toolHint(tool string) string {
	switch tool {
	case ToolBackupConfig, ToolRestoreConfig:
		return ": if it asked for a password, put the credentials in the profile's properties/ipc.client.props"
	case ToolStopManager, ToolStopNode, ToolSyncNode, ToolServerStatus:
		return ": if it asked for a user name or password, put the credentials in the profile's properties/soap.client.props"
	case ToolStartManager:
		return ": read the deployment manager's startServer.log and SystemOut.log under the profile's logs/dmgr"
	}
	return ""
}

// serverStatus runs serverStatus.sh in a node's profile and reads whether
// the server answers: ADMU0508I "... is STARTED", ADMU0509I "... cannot be
// reached. It appears to be stopped." (ADMU0508I from a published
// deployment manager status; ADMU0509I wording from memory, so only its id
// is read).
func (b *RealBackend) serverStatus(ctx context.Context, node, server string, out runbook.Output) (string, Reply, error) {
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	scan := &scanOutput{out: out}
	rep, err := b.runTool(ctx, Request{Tool: ToolServerStatus, Node: node, Args: []string{server}}, scan)
	state := ""
	scan.mu.Lock()
	for _, l := range scan.tail {
		switch {
		case strings.Contains(l, "ADMU0508I") && strings.Contains(l, "STARTED"):
			state = "STARTED"
		case strings.Contains(l, "ADMU0509I"):
			state = "STOPPED"
		}
	}
	scan.mu.Unlock()
	if state == "" {
		if err == nil {
			err = fmt.Errorf("serverStatus printed neither ADMU0508I nor ADMU0509I for %s", server)
		}
		return "", rep, err
	}
	// serverStatus exits non-zero for a stopped server on some releases;
	// the message is what counts.
	return state, rep, nil
}

func (b *RealBackend) recoveryStart(ctx context.Context, req Request, out runbook.Output) (Reply, error) {
	// The polls below go on until the server stops: without a step
	// timeout, the target's call timeout bounds the whole recovery.
	ctx, cancel := withTimeout(ctx, b.cfg.callTimeout())
	defer cancel()
	node, server := req.Args[0], req.Args[1]
	st, _, err := b.serverStatus(ctx, node, server, out)
	if err != nil {
		return Reply{}, fmt.Errorf("before the recovery start of %s: %w", server, err)
	}
	if st != "STOPPED" {
		return Reply{}, fmt.Errorf("server %s on node %s is running: a recovery start needs it stopped, so nothing was started", server, node)
	}
	if _, err := b.runTool(ctx, req, out); err != nil {
		return Reply{}, err
	}
	out.Line(runbook.Info, fmt.Sprintf("waiting for %s to finish recovery and stop by itself", server))
	tick := time.NewTicker(b.cfg.recoveryPoll())
	defer tick.Stop()
	for {
		st, rep, err := b.serverStatus(ctx, node, server, out)
		if err != nil {
			return rep, fmt.Errorf("while waiting for the recovery start of %s to end: %w", server, err)
		}
		if st == "STOPPED" {
			rep.OK, rep.Node, rep.Server, rep.Before, rep.After = "true", node, server, "RECOVERY", "STOPPED"
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return Reply{}, fmt.Errorf("server %s was still running in recovery mode when the step's time ran out: %w", server, ctx.Err())
		case <-tick.C:
		}
	}
}
