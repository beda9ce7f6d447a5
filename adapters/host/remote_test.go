package host

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Line(s runbook.Stream, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, string(s)+": "+text)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func TestRemoteArgvArrivesLiterally(t *testing.T) {
	s, _ := remoteSet(t)
	h, err := s.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := "x; rm -rf / $(id) `id` \"'\nline two\n\\ * ~ && || > /tmp/x"
	file := filepath.Join(t.TempDir(), "argv")
	out := &lines{}
	oc, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", `printf '%s\0' "$@" > "$0"; echo done`, file, value, "last"}, Out: out})
	if err != nil {
		t.Fatalf("run: %v (lines %q)", err, out.all())
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte(value + "\x00last\x00"); !bytes.Equal(got, want) {
		t.Fatalf("remote child got %q, want %q", got, want)
	}
	if oc.ExitCode != 0 || !strings.Contains(strings.Join(out.all(), "\n"), "stdout: done") {
		t.Fatalf("outcome %+v lines %q", oc, out.all())
	}
}

func TestRemoteShowLines(t *testing.T) {
	s, _ := remoteSet(t)
	h, _ := s.Get("far")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &lines{}
	oc, err := h.Run(ctx, Command{Argv: []string{"sh", "-c", "echo hi; echo err >&2; exit 3"}, Out: out})
	t.Logf("oc=%+v err=%v", oc, err)
	for _, l := range out.all() {
		t.Log(l)
	}
	fi, err := h.Stat(ctx, "/etc/passwd")
	t.Logf("%v %v", fi, err)
	_, err = h.Stat(ctx, "/nonexistent")
	t.Logf("%v", err)
}
