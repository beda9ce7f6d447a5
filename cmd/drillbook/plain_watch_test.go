package main

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/was"
	"github.com/drillbook/drillbook/runbook"
)

// Plain mode names the host of each watched file that is not this machine:
// a WebSphere wait whose spec names no host still says that server1's log
// is followed on n1 and server2's on n2, one line per host, and says
// nothing of a log on this machine; a wait that names its host says it
// with its files.
func TestPlainWatchLineNamesEachFilesHost(t *testing.T) {
	t.Parallel()
	cfg := was.Config{DmgrHost: "dmgr", ProfileRoot: "/opt/was/profiles/Dmgr01", Nodes: map[string]was.NodeProfile{
		"node01": {ProfileRoot: "/opt/was/profiles/AppSrv01", Host: "n1"},
		"node02": {ProfileRoot: "/opt/was/profiles/AppSrv02", Host: "n2"},
	}}
	located := host.Watcher{Locate: cfg.LogHost}
	s1, s2, local := "/opt/was/profiles/AppSrv01/logs/server1/SystemOut.log", "/opt/was/profiles/AppSrv02/logs/server2/SystemOut.log", "/var/log/app.log"
	a1 := "/opt/was/profiles/AppSrv01/logs/appsrv1/SystemOut.log"
	cases := []struct {
		name      string
		fileHosts func(runbook.WatchSpec) []string
		spec      runbook.WatchSpec
		want      string
	}{
		{"located by profile", located.HostsOf, runbook.WatchSpec{Files: []string{s1, s2, local, a1}},
			"  log watch on host n1: " + s1 + ", " + a1 + "\n  log watch on host n2: " + s2 + "\n"},
		{"named by the wait", nil, runbook.WatchSpec{Host: "far", Files: []string{"/a.log", "/b.log"}},
			"  log watch on host far: /a.log, /b.log\n"},
		{"this machine", located.HostsOf, runbook.WatchSpec{Files: []string{local}}, ""},
	}
	for _, c := range cases {
		var b bytes.Buffer
		p := &plainUI{w: bufio.NewWriter(&b), fileHosts: c.fileHosts}
		spec := c.spec
		p.Update(runbook.Update{Event: &runbook.Event{Type: runbook.EvWatchArm, Step: "flush", Watch: &spec}})
		if b.String() != c.want {
			t.Errorf("%s: plain mode printed\n%q\nwant\n%q", c.name, b.String(), c.want)
		}
	}
}
