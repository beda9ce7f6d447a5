package runbook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeSection struct {
	URL      string    `yaml:"url"`
	User     string    `yaml:"user"`
	Password SecretRef `yaml:"password"`
	Timeout  Duration  `yaml:"timeout"`
}

func writeTargets(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTargetsDecodeStrictlyWithPositions(t *testing.T) {
	p := writeTargets(t, `targets:
  prod:
    description: production
    params: {engines: [ME1, ME2], bus: BUS1}
    fake:
      url: https://ms1:9089
      usr: admin
      password: {env: MS_PASSWORD}
  bad:
    colour: blue
`)
	_, err := LoadTargets(p, []string{"fake"})
	if err == nil || !strings.Contains(err.Error(), "targets.yaml:10:5: unknown field \"colour\" in target bad") {
		t.Fatalf("unknown target field: %v", err)
	}
	p = writeTargets(t, `targets:
  prod:
    params: {engines: [ME1, ME2], bus: BUS1}
    fake:
      url: https://ms1:9089
      usr: admin
      password: {env: MS_PASSWORD}
`)
	ts, err := LoadTargets(p, []string{"fake"})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := ts.Get("prod")
	if got := tg.ParamStrings(); got["engines"] != "ME1,ME2" || got["bus"] != "BUS1" {
		t.Fatalf("params: %v", got)
	}
	var sec fakeSection
	err = tg.Decode("fake", &sec)
	if err == nil || !strings.Contains(err.Error(), `targets.yaml:6:7: unknown field "usr" in prod.fake`) {
		t.Fatalf("section: %v", err)
	}
}

func TestTargetsRefuseInlineSecrets(t *testing.T) {
	p := writeTargets(t, "targets:\n  prod:\n    fake:\n      password: hunter2\n")
	ts, err := LoadTargets(p, []string{"fake"})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := ts.Get("prod")
	var sec fakeSection
	err = tg.Decode("fake", &sec)
	if err == nil || !strings.Contains(err.Error(), "targets.yaml:4:17: a secret is never written inline") {
		t.Fatalf("inline secret: %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatal("the error repeats the secret")
	}
}

func TestTargetDeclaredTwiceIsRefused(t *testing.T) {
	p := writeTargets(t, "targets:\n  prod:\n    description: a\n  prod:\n    description: b\n")
	_, err := LoadTargets(p, nil)
	if err == nil || !strings.Contains(err.Error(), `targets.yaml:4:3: target "prod" is declared twice (first at line 2)`) {
		t.Fatalf("got %v", err)
	}
}

func TestTrainingNameIsReserved(t *testing.T) {
	p := writeTargets(t, "targets:\n  training:\n    description: mine\n")
	if _, err := LoadTargets(p, nil); err == nil || !strings.Contains(err.Error(), "built-in simulated target") {
		t.Fatalf("got %v", err)
	}
}

func TestSecretRefSources(t *testing.T) {
	ctx := context.Background()
	t.Setenv("DB_TEST_SECRET", "from-env")
	if v, err := (SecretRef{Env: "DB_TEST_SECRET"}).Resolve(ctx); err != nil || v != "from-env" {
		t.Fatalf("env: %q %v", v, err)
	}
	if _, err := (SecretRef{Env: "DB_TEST_UNSET_VAR"}).Resolve(ctx); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Fatalf("unset env: %v", err)
	}
	f := filepath.Join(t.TempDir(), "s")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	if v, err := (SecretRef{File: f}).Resolve(ctx); err != nil || v != "from-file" {
		t.Fatalf("file: %q %v", v, err)
	}
	if v, err := (SecretRef{Command: []string{"printf", "from-command\n"}}).Resolve(ctx); err != nil || v != "from-command" {
		t.Fatalf("command: %q %v", v, err)
	}
	// A CLI that waits for input gets end of file at once instead of hanging.
	if _, err := (SecretRef{Command: []string{"sh", "-c", "read x && echo $x"}}).Resolve(ctx); err == nil {
		t.Fatal("a command reading a closed stdin must fail, not hang")
	}
}

// TestSecretCommandOwnGroup checks that a secret command runs as the leader
// of its own process group, so a cancel reaches everything it started, and
// that a cancel ends it at once with the cancel named in the error.
func TestSecretCommandOwnGroup(t *testing.T) {
	v, err := (SecretRef{Command: []string{"sh", "-c", `echo "$$ $(cut -d' ' -f5 /proc/$$/stat)"`}}).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid, pgid, _ := strings.Cut(v, " ")
	if pid == "" || pid != pgid {
		t.Fatalf("the secret command ran as pid %q in process group %q, want its own group", pid, pgid)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (SecretRef{Command: []string{"sleep", "30"}}).Resolve(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled resolve returned %v, want context.Canceled", err)
	}
}

func TestSecretCommandPrintingTooMuch(t *testing.T) {
	_, err := (SecretRef{Command: []string{"head", "-c", "100000", "/dev/zero"}}).Resolve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "must print the secret alone") {
		t.Fatalf("got %v, want a refusal of 100000 bytes of output", err)
	}
}
