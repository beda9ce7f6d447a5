package runbook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
		ctx, cancel := context.WithTimeout(ctx, secretCommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.Command[0], s.Command[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if ctx.Err() != nil {
				return "", fmt.Errorf("secret from command %s: no answer within %s", s.Command[0], secretCommandTimeout)
			}
			return "", fmt.Errorf("secret from command %s: %w: %s", s.Command[0], err, msg)
		}
		return strings.TrimRight(string(out), "\r\n"), nil
	}
}
