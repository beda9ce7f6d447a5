package main

import (
	"errors"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(f.Fd()) }

// asExitStatus reports whether err carries a chosen exit code.
func asExitStatus(err error, st *exitStatus) bool { return errors.As(err, st) }

// isFlagError recognises cobra's own argument errors, which are usage errors.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires exactly", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// readSecret asks for a secret on the terminal without echo.
func readSecret(prompt string) (string, error) {
	if !term.IsTerminal(os.Stdin.Fd()) {
		return "", errors.New("standard input is not a terminal")
	}
	os.Stderr.WriteString(prompt)
	b, err := term.ReadPassword(os.Stdin.Fd())
	os.Stderr.WriteString("\n")
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
