// Package shell is drillbook's adapter for plain commands: the shell.run
// operation runs an argv list on a host of the target (host:, the local
// machine by default). Despite the name no shell is involved unless the
// runbook's argv starts one itself; templated values stay single
// arguments, whatever characters they hold, on every host.
package shell

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// Config configures the shell adapter. targets.yaml has no section for it:
// a step names its host, one of the target's hosts:.
type Config struct {
	// Hosts resolves a step's host: argument; nil knows only this machine
	// (enough for validation, which needs only the spec).
	Hosts host.Resolver
}

// Operations returns the shell adapter's operations: shell.run.
func Operations(cfg Config) []runbook.Operation {
	return []runbook.Operation{&Run{Hosts: cfg.Hosts}}
}

// captureBytes is how much standard output is kept for {{ .out.STEP.stdout }}.
const captureBytes = 4096

// evidenceLines is how many of the last output lines become the Result's
// evidence.
const evidenceLines = 3

// Run is the shell.run operation.
type Run struct {
	// WaitDelay is how long a cancelled command has to exit after SIGINT
	// before its process group is killed; zero means proc.DefaultWaitDelay.
	WaitDelay time.Duration
	// Hosts resolves the host: argument; nil knows only this machine.
	Hosts host.Resolver
}

// host returns the host a call runs on and a function to release it.
func (r *Run) host(name string) (host.Host, func(), error) {
	if r.Hosts != nil {
		h, err := r.Hosts.Get(name)
		if err != nil {
			return nil, nil, fmt.Errorf("shell.run host: %w", err)
		}
		return h, func() {}, nil
	}
	if name != "" && name != runbook.LocalHost {
		return nil, nil, fmt.Errorf("shell.run host %q: this target has only the local machine; declare the host under hosts: in targets.yaml", name)
	}
	l := host.NewLocal("")
	return l, func() { l.Close() }, nil
}

// Spec describes shell.run.
func (r *Run) Spec() runbook.OpSpec {
	return runbook.OpSpec{
		Name:    "shell.run",
		Summary: "run a command on a host of the target (an argv list, never a shell string)",
		Args: []runbook.ArgSpec{
			{Name: "argv", Kind: runbook.ArgList, Required: true, Doc: "the program and its arguments, each one argument whatever it contains"},
			{Name: "env", Kind: runbook.ArgMap, Doc: "environment variables added to drillbook's own"},
			{Name: "secret_env", Kind: runbook.ArgList, Doc: "names of env entries whose values are secret: never shown, masked in output"},
			{Name: "dir", Kind: runbook.ArgString, Doc: "working directory (default: drillbook's own)"},
			{Name: "timeout", Kind: runbook.ArgDuration, Doc: "stop the command after this long (SIGINT to its process group, then SIGKILL)"},
			{Name: "interactive", Kind: runbook.ArgBool, Doc: "give the command the terminal; its output is not captured (this machine only)"},
			{Name: "host", Kind: runbook.ArgString, Doc: "the host to run it on, a name under hosts: in targets.yaml (default: this machine)"},
		},
	}
}

// call is a shell.run call checked and taken apart.
type call struct {
	host        string
	argv        []string
	env         []string // KEY=value, sorted by key
	shownEnv    []string // KEY=value or KEY=*** for secret keys
	secrets     []string
	dir         string
	timeout     time.Duration
	interactive bool
}

func parse(c runbook.Call) (call, error) {
	a := c.Args
	p := call{
		host:        a.String("host"),
		argv:        a.List("argv"),
		dir:         a.String("dir"),
		timeout:     a.Duration("timeout", 0),
		interactive: a.Bool("interactive"),
	}
	if len(p.argv) == 0 || p.argv[0] == "" {
		return p, errors.New("shell.run needs argv: a list whose first item is the program to run")
	}
	if p.timeout < 0 {
		return p, fmt.Errorf("shell.run timeout %s is negative: give a duration such as 30s", p.timeout)
	}
	env := a.Map("env")
	secret := make(map[string]bool)
	for _, k := range a.List("secret_env") {
		if _, ok := env[k]; !ok {
			return p, fmt.Errorf("shell.run secret_env names %q, which is not set under env: add it to env or remove it from secret_env", k)
		}
		secret[k] = true
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return p, fmt.Errorf("shell.run env name %q is not a valid variable name", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		p.env = append(p.env, k+"="+v)
		if secret[k] {
			p.shownEnv = append(p.shownEnv, k+"=***")
			if v != "" {
				p.secrets = append(p.secrets, v)
			}
		} else {
			p.shownEnv = append(p.shownEnv, k+"="+v)
		}
	}
	return p, nil
}

// Plan shows the command line, the working directory, the environment
// (secret values as ***), the timeout and whether it is interactive.
func (r *Run) Plan(c runbook.Call) (runbook.Plan, error) {
	p, err := parse(c)
	if err != nil {
		return runbook.Plan{}, err
	}
	argv := make([]string, len(p.argv))
	for i, s := range p.argv {
		argv[i] = proc.Redact(s, p.secrets)
	}
	h, done, err := r.host(p.host)
	if err != nil {
		return runbook.Plan{}, err
	}
	defer done()
	return runbook.Plan{Host: h.String(), Argv: argv, Detail: p.detail()}, nil
}

func (p call) detail() string {
	var parts []string
	if p.dir != "" {
		parts = append(parts, "in "+proc.Redact(p.dir, p.secrets))
	}
	if len(p.shownEnv) > 0 {
		env := make([]string, len(p.shownEnv))
		for i, e := range p.shownEnv {
			k, v, _ := strings.Cut(e, "=")
			env[i] = k + "=" + runbook.QuoteArgv([]string{proc.Redact(v, p.secrets)})
		}
		parts = append(parts, "env "+strings.Join(env, " "))
	}
	if p.timeout > 0 {
		parts = append(parts, "timeout "+p.timeout.String())
	}
	if p.interactive {
		parts = append(parts, "interactive: gets the terminal, output not captured")
	}
	return strings.Join(parts, "; ")
}

// Run runs the command and waits for it. A non-zero exit status is an
// error ("exited with status N", quoting the end of stderr); a timeout is
// an error wrapping context.DeadlineExceeded.
func (r *Run) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	p, err := parse(c)
	if err != nil {
		return res, err
	}
	h, done, err := r.host(p.host)
	if err != nil {
		return res, err
	}
	defer done()
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	if p.dir != "" {
		if fi, err := h.Stat(ctx, p.dir); err != nil || !fi.IsDir() {
			if errors.Is(err, host.ErrConnectionLost) {
				return res, fmt.Errorf("shell.run: %w", err)
			}
			on := ""
			if p.host != "" && p.host != runbook.LocalHost {
				on = " on host " + p.host
			}
			return res, fmt.Errorf("working directory %s does not exist%s or is not a directory: fix dir in the step", p.dir, on)
		}
	}
	if out != nil && p.host != "" && p.host != runbook.LocalHost {
		out.Line(runbook.Info, "on host "+h.String())
	}
	if d := p.detail(); d != "" && out != nil {
		out.Line(runbook.Info, d)
	}
	oc, err := h.Run(ctx, host.Command{
		Argv:        p.argv,
		Env:         p.env,
		Dir:         p.dir,
		Interactive: p.interactive,
		Secrets:     p.secrets,
		WaitDelay:   r.WaitDelay,
		Out:         out,
		TailLines:   evidenceLines,
		Capture:     captureBytes,
	})
	prog := p.argv[0]
	res.ExitCode = oc.ExitCode
	if !p.interactive {
		res.Evidence = oc.StdoutTail
		if len(res.Evidence) == 0 {
			res.Evidence = oc.StderrTail
		}
		res.Vars = map[string]string{
			"exit_code": strconv.Itoa(oc.ExitCode),
			"stdout":    strings.TrimSuffix(oc.Stdout, "\n"),
			"last_line": "",
		}
		if n := len(oc.StdoutTail); n > 0 {
			res.Vars["last_line"] = oc.StdoutTail[n-1]
		}
		// A long output is normal; {{ .out.STEP.stdout }} holds its first
		// captureBytes (the operation's doc says so) and the output file
		// keeps all of it, so a truncated capture is not worth a warning.
		res.Vars["stdout_truncated"] = strconv.FormatBool(oc.Truncated)
	} else {
		res.Evidence = []string{"interactive: the command had the terminal, its output was not captured"}
	}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		limit := c.Timeout
		if p.timeout > 0 && (limit == 0 || p.timeout < limit) {
			limit = p.timeout
		}
		res.Summary = fmt.Sprintf("%s timed out after %s and was stopped", prog, limit)
		if limit == 0 {
			return res, fmt.Errorf("%s timed out: %w", prog, err)
		}
		return res, fmt.Errorf("%s timed out after %s: raise the step's timeout if it needs longer: %w", prog, limit, err)
	case err != nil:
		res.Summary = firstLine(err.Error())
		return res, fmt.Errorf("shell.run: %w", err)
	}
	res.Summary = fmt.Sprintf("%s exited with status 0 after %s", prog, oc.Duration.Round(time.Millisecond))
	if p.interactive {
		res.Summary += " (interactive: output not captured)"
	} else {
		res.Summary += fmt.Sprintf(" (%d output lines)", oc.Lines)
	}
	return res, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
