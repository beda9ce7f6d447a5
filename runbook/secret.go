package runbook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// SecretRef says where a secret comes from. Exactly one field is set:
// secrets are never written inline in a targets file and never taken from a
// flag.
type SecretRef struct {
	// Env names an environment variable holding the secret.
	Env string `yaml:"env"`
	// File is a file whose content (trailing newline removed) is the secret.
	File string `yaml:"file"`
	// Command is an argv (a vault CLI) whose standard output is the secret.
	Command []string `yaml:"command"`
}

// IsZero reports whether no source is set.
func (s SecretRef) IsZero() bool { return s.Env == "" && s.File == "" && len(s.Command) == 0 }

// String describes where the secret comes from, never the secret itself.
func (s SecretRef) String() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	case len(s.Command) > 0:
		return "command " + QuoteArgv(s.Command)
	}
	return "no source"
}

// secretCommandTimeout bounds a vault CLI that hangs on a prompt.
const secretCommandTimeout = 30 * time.Second

// Resolve reads the secret. A command runs with stdin closed and a timeout,
// so a CLI waiting for a password cannot hang the run.
func (s SecretRef) Resolve(ctx context.Context) (string, error) {
	n := 0
	for _, set := range []bool{s.Env != "", s.File != "", len(s.Command) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", errors.New("a secret needs exactly one of env, file or command")
	}
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("secret from env %s: the variable is not set: export it before running drillbook", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret from file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	default:
		return s.run(ctx)
	}
}

// secretCommandLimit bounds what a secret command may print: a password, a
// token, a key; not a log.
const secretCommandLimit = 64 << 10

// run runs the secret command in its own process group with stdin closed;
// a timeout or a cancel interrupts the whole group, then kills it.
func (s SecretRef) run(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, secretCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Command[0], s.Command[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 2 * time.Second
	stdout := &limitedBuffer{max: secretCommandLimit}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if cmd.Process != nil && ctx.Err() != nil {
		// Whatever the command left behind in its group goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "", fmt.Errorf("secret from command %s: no answer within %s: check that it runs without a prompt", s.Command[0], secretCommandTimeout)
	case ctx.Err() != nil:
		return "", fmt.Errorf("secret from command %s: %w", s.Command[0], ctx.Err())
	case err != nil:
		return "", fmt.Errorf("secret from command %s: %w: %s", s.Command[0], err, strings.TrimSpace(stderr.b.String()))
	case stdout.over:
		return "", fmt.Errorf("secret from command %s: it printed more than %d bytes: it must print the secret alone", s.Command[0], secretCommandLimit)
	}
	return strings.TrimRight(stdout.b.String(), "\r\n"), nil
}

// limitedBuffer keeps the first max bytes written to it and notes whether
// more came.
type limitedBuffer struct {
	b    bytes.Buffer
	max  int
	over bool
}

// Write keeps what fits and drops the rest, never failing the command.
func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); len(p) > room {
		l.over = true
		l.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.b.Write(p)
}
