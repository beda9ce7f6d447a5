package was

import "testing"

// A server log is followed on the host of the profile that holds it: the
// longest profile_root wins (a node profile nested under the deployment
// manager's directory is the node's), a sibling directory sharing a prefix
// is not inside, and a log under no profile is on this machine.
func TestLogHostIsTheHostOfTheProfileHoldingTheLog(t *testing.T) {
	t.Parallel()
	c := Config{
		ProfileRoot: "/opt/was/profiles/Dmgr01", DmgrHost: "dmgrhost",
		Nodes: map[string]NodeProfile{
			"node01": {ProfileRoot: "/opt/was/profiles/AppSrv01", Host: "n1"},
			"node02": {ProfileRoot: "/opt/was/profiles/Dmgr01/nested/AppSrv02", Host: "n2"},
			"node03": {ProfileRoot: "/opt/was/profiles/AppSrv03"},
		},
	}
	for path, want := range map[string]string{
		"/opt/was/profiles/Dmgr01/logs/dmgr/SystemOut.log":                    "dmgrhost",
		"/opt/was/profiles/AppSrv01/logs/server1/SystemOut.log":               "n1",
		"/opt/was/profiles/AppSrv01/logs/server1/../server2/SystemOut.log":    "n1",
		"/opt/was/profiles/Dmgr01/nested/AppSrv02/logs/server2/SystemOut.log": "n2",
		"/opt/was/profiles/AppSrv010/logs/server9/SystemOut.log":              "",
		"/opt/was/profiles/AppSrv03/logs/server3/SystemOut.log":               "",
		"/var/log/other.log": "",
	} {
		if got := c.LogHost(path); got != want {
			t.Errorf("LogHost(%s) = %q, want %q", path, got, want)
		}
	}
}
