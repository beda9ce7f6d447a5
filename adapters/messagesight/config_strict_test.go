package messagesight

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drillbook/drillbook/runbook"
)

// loadSection writes a targets.yaml and decodes its messagesight section
// as cmd/ does.
func loadSection(t *testing.T, yamlText string) (Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := runbook.LoadTargets(path, []string{"was", "messagesight", "rabbitmq"})
	if err != nil {
		return Config{}, path, err
	}
	tg, ok := ts.Get("prod")
	if !ok {
		t.Fatalf("no target prod in %s", path)
	}
	var c Config
	err = tg.Decode("messagesight", &c)
	return c, path, err
}

// TestUnknownNodeFieldNamesFileLineColumn: a misspelt field under
// messagesight.nodes.NAME is refused with the file, line and column of the
// field, as at the section level.
func TestUnknownNodeFieldNamesFileLineColumn(t *testing.T) {
	const text = `targets:
  prod:
    messagesight:
      user: sysadmin
      password: {env: MS_ADMIN_PW}
      nodes:
        ms1:
          url: https://ms1.example.com:9089
          stor_dir: /mnt/ms1/store
`
	_, path, err := loadSection(t, text)
	if err == nil {
		t.Fatal("a node with stor_dir was accepted")
	}
	msg := err.Error()
	for _, want := range []string{path + ":9:11", `"stor_dir"`, "store_dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// TestCredentialsInAURLAreRefused: a password written into a URL, of a
// node or of the section, is refused when targets.yaml is read, with the
// file, line and column and without the password; a configuration built
// otherwise is warned about, its plan masks the password and its first
// request is refused.
func TestCredentialsInAURLAreRefused(t *testing.T) {
	const secret = "PLANTED-url-pw-5e1d"
	for _, c := range []struct{ text, pos string }{
		{`targets:
  prod:
    messagesight:
      nodes:
        ms1: {url: "https://admin:` + secret + `@127.0.0.1:1/", store_dir: /tmp}
`, ":5:20:"},
		{`targets:
  prod:
    messagesight:
      url: https://admin:` + secret + `@127.0.0.1:1/
`, ":4:12:"},
	} {
		_, path, err := loadSection(t, c.text)
		if err == nil {
			t.Fatalf("credentials in a url accepted:\n%s", c.text)
		}
		if !strings.Contains(err.Error(), path+c.pos) || !strings.Contains(err.Error(), "holds credentials") || strings.Contains(err.Error(), secret) {
			t.Errorf("error %q: want %s%s, \"holds credentials\" and no password", err, path, c.pos)
		}
	}

	cfg := Config{Nodes: map[string]Server{"ms1": {URL: "https://admin:" + secret + "@127.0.0.1:1/", StoreDir: "/tmp"}}}
	w := strings.Join(Warnings(cfg), "\n")
	if !strings.Contains(w, "messagesight.nodes.ms1.url holds credentials") {
		t.Errorf("warnings: %q", w)
	}
	var o runbook.Operation
	for _, op := range Operations(cfg) {
		if op.Spec().Name == "messagesight.status" {
			o = op
		}
	}
	call := runbook.Call{Op: "messagesight.status", Args: runbook.Args{"node": "ms1"}}
	p, _ := o.Plan(call)
	_, err := o.Run(context.Background(), call, runbook.OutputFunc(func(runbook.Stream, string) {}))
	if err == nil || !strings.Contains(err.Error(), "the url holds credentials") {
		t.Fatalf("status with credentials in the url: %v", err)
	}
	for _, s := range []string{w, err.Error(), p.Summary(), p.Detail} {
		if strings.Contains(s, secret) {
			t.Errorf("the password shows in %q", s)
		}
	}
}

// TestNodesInheritUserPasswordAndCA: a node that sets none of user,
// password and ca_file takes the section's, but never its pin (a pin names
// one server's certificate); one that sets them keeps its own; Node shows
// the result, as `drillbook targets check` prints it.
func TestNodesInheritUserPasswordAndCA(t *testing.T) {
	const text = `targets:
  prod:
    messagesight:
      user: sysadmin
      password: {env: MS_ADMIN_PW}
      ca_file: /etc/drillbook/ms-ca.pem
      pin_sha256: "aa:bb"
      nodes:
        ms-a: {url: "https://ms-a.example.com:9089", store_dir: /mnt/a}
        ms-b: {url: "https://ms-b.example.com:9089", user: other, password: {file: /etc/drillbook/ms-b.pw}, ca_file: /etc/b-ca.pem, pin_sha256: "cc:dd"}
`
	c, _, err := loadSection(t, text)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := c.Node("ms-a")
	if !ok || a.User != "sysadmin" || a.Password.Env != "MS_ADMIN_PW" || a.CAFile != "/etc/drillbook/ms-ca.pem" || a.PinSHA256 != "" || a.StoreDir != "/mnt/a" {
		t.Errorf("ms-a as used: %+v", a)
	}
	b, _ := c.Node("ms-b")
	if b.User != "other" || b.Password.File != "/etc/drillbook/ms-b.pw" || b.Password.Env != "" || b.CAFile != "/etc/b-ca.pem" || b.PinSHA256 != "cc:dd" {
		t.Errorf("ms-b as used: %+v", b)
	}
	if _, ok := c.Node("ms-c"); ok {
		t.Error("a node that is not declared was found")
	}
	// The inherited CA file is the one the client reads: a missing one is
	// named in the error of the first request.
	var o runbook.Operation
	for _, op := range Operations(c) {
		if op.Spec().Name == "messagesight.status" {
			o = op
		}
	}
	t.Setenv("MS_ADMIN_PW", "x")
	_, err = o.Run(context.Background(), runbook.Call{Op: "messagesight.status", Args: runbook.Args{"node": "ms-a"}}, runbook.OutputFunc(func(runbook.Stream, string) {}))
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("ms-a with the section's missing ca_file: %v", err)
	}
}
