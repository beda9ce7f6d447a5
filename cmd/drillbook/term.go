package main

import (
	"errors"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(f.Fd()) }

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
