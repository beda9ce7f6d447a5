package was

import (
	"strings"
	"testing"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// A file store is read and written on the host of the node its engine's
// name starts with (NODE.SERVER-BUS), whatever node the runbook passes; a
// cluster member's engine (CLUSTER.NNN-BUS) uses the node the runbook
// names, and is refused with the parameter to set when none is named and
// the profiles are on more than one host. Every file store operation plans
// on that host; nothing connects.
func TestFileStoreHostFollowsTheEngineName(t *testing.T) {
	t.Parallel()
	hostCfg := func(name string) *runbook.HostConfig {
		return &runbook.HostConfig{Name: name, Address: "192.0.2.1", Port: 2222, User: "was"}
	}
	spread := &runbook.Target{Name: "cell", Hosts: map[string]*runbook.HostConfig{"dmgr": hostCfg("dmgr"), "n1": hostCfg("n1"), "n2": hostCfg("n2")}}
	hosts := host.NewSet(spread, host.SSHOptions{UserConfig: "none", SystemConfig: "none"})
	t.Cleanup(func() { hosts.Close() })
	cfg := Config{
		Cell: "c1", ProfileRoot: "/opt/was/profiles/Dmgr01", DmgrHost: "dmgr", Hosts: hosts,
		Nodes: map[string]NodeProfile{
			"node01":      {ProfileRoot: "/opt/was/profiles/AppSrv01", Host: "n1"},
			"node02":      {ProfileRoot: "/opt/was/profiles/AppSrv02", Host: "n2"},
			"node02.east": {ProfileRoot: "/opt/was/profiles/AppSrv04", Host: "n1"},
		},
	}
	oneHost := cfg
	oneHost.Nodes = map[string]NodeProfile{"node01": {Host: "dmgr"}, "node02": {Host: "dmgr"}}

	cases := []struct {
		name         string
		cfg          Config
		engine, node string
		wantHost     string // the plan's host starts with it
		wantErr      string
	}{
		{"server engine, no node", cfg, "node02.server2-Bus1", "", "n2 (", ""},
		{"server engine, another node passed: the name wins", cfg, "node02.server2-Bus1", "node01", "n2 (", ""},
		{"node name with a dot", cfg, "node02.east.server9-Bus1", "node02.east", "n1 (", ""},
		{"two nodes prefix the name, none chosen", cfg, "node02.east.server9-Bus1", "", "", "starts with more than one node under was.nodes (node02, node02.east)"},
		{"cluster engine, node passed", cfg, "clu1.000-Bus1", "node01", "n1 (", ""},
		{"cluster engine, no node, profiles on several hosts", cfg, "clu1.000-Bus1", "", "", "cannot tell which host holds the file store of engine clu1.000-Bus1"},
		{"cluster engine, unknown node", cfg, "clu1.000-Bus1", "node09", "", "node node09 is not under was.nodes"},
		{"cluster engine, every profile on one host", oneHost, "clu1.000-Bus1", "", "dmgr (", ""},
	}
	for _, c := range cases {
		ops := opsByName(Operations(c.cfg))
		for _, op := range []string{"was.check-filestore", "was.backup-filestore", "was.restore-filestore"} {
			args := runbook.Args{"engine": c.engine, "node": c.node, "log_dir": "/fs/log", "store_dir": "/fs/store", "set": "/backups/s1"}
			plan, err := ops[op].Plan(runbook.Call{Args: args})
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("%s: %s planned %q, %v; want the error %q", c.name, op, plan.Host, err, c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), "filestore_node") && !strings.Contains(err.Error(), "was.nodes"):
				t.Errorf("%s: %s error %q does not say what to set", c.name, op, err)
			case c.wantErr == "" && err != nil:
				t.Errorf("%s: %s: %v", c.name, op, err)
			case c.wantErr == "" && op == "was.backup-filestore" && c.wantHost != "dmgr (" && !strings.Contains(plan.Detail, "from host "+c.wantHost):
				// A backup writes on the backup root's host, reading
				// from the file store's.
				t.Errorf("%s: %s plans %q, want a copy from host %s…", c.name, op, plan.Detail, c.wantHost)
			case c.wantErr == "" && op != "was.backup-filestore" && !strings.HasPrefix(plan.Host, c.wantHost):
				t.Errorf("%s: %s plans on %q, want %s…", c.name, op, plan.Host, c.wantHost)
			}
		}
	}
}
