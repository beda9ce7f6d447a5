package messagesight

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/drillbook/drillbook/runbook"
)

// TestInheritedNamesWhatEachNodeTakes decodes a pair written once at the
// section level: each node reaches its server with the section's user,
// password and CA file unless it names its own, never with the section's
// certificate pin, and Inherited says which node took what.
func TestInheritedNamesWhatEachNodeTakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml")
	os.WriteFile(path, []byte(`targets:
  pair:
    messagesight:
      user: sysadmin
      password: {env: MS_ADMIN_PW}
      ca_file: /etc/drillbook/ms-ca.pem
      pin_sha256: "ab:cd"
      nodes:
        ms-a: {url: "https://ms-a:9089"}
        ms-b: {url: "https://ms-b:9089", user: other, ca_file: /etc/drillbook/b.pem}
`), 0o600)
	ts, err := runbook.LoadTargets(path, []string{"messagesight"})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := ts.Get("pair")
	var c Config
	if err := tg.Decode("messagesight", &c); err != nil {
		t.Fatal(err)
	}
	a, err := c.node("ms-a")
	if err != nil {
		t.Fatal(err)
	}
	if a.srv.User != "sysadmin" || a.srv.Password.Env != "MS_ADMIN_PW" || a.srv.CAFile != "/etc/drillbook/ms-ca.pem" || a.srv.PinSHA256 != "" {
		t.Errorf("ms-a reaches its server as %+v, want the section's user, password and CA file and no pin", a.srv)
	}
	b, _ := c.node("ms-b")
	if b.srv.User != "other" || b.srv.Password.Env != "MS_ADMIN_PW" || b.srv.CAFile != "/etc/drillbook/b.pem" {
		t.Errorf("ms-b reaches its server as %+v, want its own user and CA file and the section's password", b.srv)
	}
	var got []string
	for _, in := range c.Inherited() {
		got = append(got, in.Entry+" "+in.Setting+" from "+in.From+" = "+in.Value)
	}
	want := []string{
		"messagesight.nodes.ms-a user from messagesight.user = sysadmin",
		"messagesight.nodes.ms-a password from messagesight.password = env MS_ADMIN_PW",
		"messagesight.nodes.ms-a ca_file from messagesight.ca_file = /etc/drillbook/ms-ca.pem",
		"messagesight.nodes.ms-b password from messagesight.password = env MS_ADMIN_PW",
	}
	if len(got) != len(want) {
		t.Fatalf("Inherited:\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Inherited[%d] = %s, want %s", i, got[i], want[i])
		}
	}
}
