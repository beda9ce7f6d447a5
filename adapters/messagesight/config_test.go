package messagesight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

const targetsYAML = `targets:
  prod:
    description: production MessageSight pair
    params: {server: ms-a, standby: ms-b}
    messagesight:
      url: https://ms-a.example.com:9089
      user: sysadmin
      password: {env: MS_ADMIN_PW}
      ca_file: /etc/drillbook/ms-ca.pem
      timeout: 20s
      store_copy: [rsync, -a, "{src}/", "backup01:{dst}/"]
      nodes:
        ms-a: {url: "https://ms-a.example.com:9089", user: sysadmin, password: {env: MS_ADMIN_PW}}
        ms-b: {url: "https://ms-b.example.com:9089", user: sysadmin, password: {file: /etc/drillbook/ms-b.pw}, pin_sha256: "ab:cd"}
`

// TestTargetsSectionDecodes decodes a targets.yaml messagesight section the
// way cmd/ does, strictly.
func TestTargetsSectionDecodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml")
	os.WriteFile(path, []byte(targetsYAML), 0o644)
	ts, err := runbook.LoadTargets(path, []string{"was", "messagesight", "rabbitmq"})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := ts.Get("prod")
	var c Config
	if err := tg.Decode("messagesight", &c); err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://ms-a.example.com:9089" || c.User != "sysadmin" || c.Password.Env != "MS_ADMIN_PW" || c.Timeout != 20*time.Second ||
		len(c.StoreCopy) != 4 || c.Nodes["ms-b"].Password.File != "/etc/drillbook/ms-b.pw" || c.Nodes["ms-b"].PinSHA256 != "ab:cd" {
		t.Errorf("decoded %+v", c)
	}
	bad := strings.Replace(targetsYAML, "ca_file:", "cafile:", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	ts, err = runbook.LoadTargets(path, []string{"was", "messagesight", "rabbitmq"})
	if err == nil {
		tg, _ = ts.Get("prod")
		err = tg.Decode("messagesight", &Config{})
	}
	if err == nil || !strings.Contains(err.Error(), "cafile") {
		t.Errorf("unknown field: %v", err)
	}
}
