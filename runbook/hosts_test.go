package runbook

import (
	"strings"
	"testing"
	"time"
)

func TestTargetHosts(t *testing.T) {
	p := writeTargets(t, `targets:
  prod:
    hosts:
      dmgr:
        address: was-dmgr01.example.com
        user: wasadmin
        jump: [bastion]
        identity_file: ~/.ssh/drillbook_ed25519
        known_hosts: /etc/drillbook/known_hosts
        agent: /opt/drillbook/bin/drillbook
        connect_timeout: 20s
      bastion:
        address: 10.0.0.1
        port: 2222
      here:
  old:
    params: {bus: B}
`)
	ts, err := LoadTargets(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := ts.Get("prod")
	if got := strings.Join(tg.HostNames(), ","); got != "bastion,dmgr,here" {
		t.Fatalf("hosts %q", got)
	}
	d, err := tg.Host("dmgr")
	if err != nil || !d.Remote() || d.Describe() != "wasadmin@was-dmgr01.example.com via bastion" || d.Timeout() != 20*time.Second || d.Agent != "/opt/drillbook/bin/drillbook" {
		t.Fatalf("dmgr: %+v %v", d, err)
	}
	if d.Pos.Line != 4 || d.Pos.File != p {
		t.Fatalf("dmgr declared at %v", d.Pos)
	}
	b, _ := tg.Host("bastion")
	if b.Describe() != "10.0.0.1:2222" || b.Timeout() != DefaultConnectTimeout {
		t.Fatalf("bastion: %q %s", b.Describe(), b.Timeout())
	}
	for _, name := range []string{"here", "", LocalHost} {
		h, err := tg.Host(name)
		if err != nil || h.Remote() || h.Describe() != "localhost" {
			t.Fatalf("host %q: %+v %v: want the local machine", name, h, err)
		}
	}
	if _, err := tg.Host("db"); err == nil || !strings.Contains(err.Error(), `target prod has no host "db" (its hosts are bastion, dmgr, here): add it under hosts: in `+p) {
		t.Fatalf("unknown host: %v", err)
	}
	// A target written before hosts existed: every host setting that is
	// empty or "local" is this machine; any other name is an error.
	old, _ := ts.Get("old")
	if h, err := old.Host(""); err != nil || h.Remote() {
		t.Fatalf("old target, local host: %+v %v", h, err)
	}
	if _, err := old.Host("dmgr"); err == nil || !strings.Contains(err.Error(), "the target declares no hosts") {
		t.Fatalf("old target, named host: %v", err)
	}
}

func TestTargetHostsBadInput(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"unknown field", "      dmgr: {address: a, adress: b}\n", `targets.yaml:4:26: unknown field "adress" in host dmgr`},
		{"option as address", "      dmgr: {address: -oProxyCommand=evil}\n", `targets.yaml:4:23: host dmgr: address "-oProxyCommand=evil" is not a host name or IP address`},
		{"spaces in address", "      dmgr: {address: 'a b'}\n", `host dmgr: address "a b" is not a host name`},
		{"bad port", "      dmgr: {address: a, port: 70000}\n", `targets.yaml:4:32: host dmgr: port 70000 is not between 1 and 65535`},
		{"port not a number", "      dmgr: {address: a, port: ssh}\n", `targets.yaml:4:13: expected a whole number here, found a string`},
		{"user with @", "      dmgr: {address: a, user: 'root@b'}\n", `host dmgr: user "root@b" is not a login name`},
		{"inline key", "      dmgr: {address: a, identity_file: '-----BEGIN OPENSSH PRIVATE KEY-----'}\n", "host dmgr: identity_file holds a key, not a path: a key is never written in targets.yaml"},
		{"relative key", "      dmgr: {address: a, identity_file: id_ed25519}\n", `host dmgr: identity_file "id_ed25519" must be an absolute path or start with ~/`},
		{"percent", "      dmgr: {address: a, known_hosts: /etc/%h}\n", `host dmgr: known_hosts "/etc/%h" has a quote, a newline or a %`},
		{"settings without address", "      dmgr: {user: ops, port: 22}\n", "host dmgr has port but no address"},
		{"missing jump", "      dmgr: {address: a, jump: [bastion]}\n", `host dmgr: jump host "bastion" is not declared under hosts: (declared: dmgr)`},
		{"local jump", "      dmgr: {address: a, jump: [here]}\n      here: {}\n", `host dmgr: jump host "here" has no address`},
		{"self jump", "      dmgr: {address: a, jump: [dmgr]}\n", `jump host "dmgr" appears twice in the chain (or is the host itself)`},
		{"nested jump", "      dmgr: {address: a, jump: [b]}\n      b: {address: b, jump: [c]}\n      c: {address: c}\n", `host dmgr: jump host "b" has a jump chain of its own: list the whole chain, in order, in dmgr's jump:`},
		{"local with address", "      local: {address: a}\n", `the host name "local" means the machine drillbook runs on`},
		{"short timeout", "      dmgr: {address: a, connect_timeout: 10ms}\n", "host dmgr: connect_timeout 10ms: give a duration between 1s and 5m"},
		{"not a map", "      dmgr: [a]\n", "host dmgr must be a map of settings"},
		{"bad name", "      'my host': {address: a}\n", `host name "my host": use letters, digits, dots, dashes and underscores`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeTargets(t, "targets:\n  prod:\n    hosts:\n"+c.body)
			_, err := LoadTargets(p, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %q", err, c.want)
			}
		})
	}
	p := writeTargets(t, "targets:\n  prod:\n    hosts: [a, b]\n")
	if _, err := LoadTargets(p, nil); err == nil || !strings.Contains(err.Error(), "targets.yaml:3:12: hosts: is a map of host names to their settings") {
		t.Fatalf("hosts as a list: %v", err)
	}
}
