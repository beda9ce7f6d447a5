package was

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// haObjects is the configuration the precheck scripts read on the fake
// cell: cluster clu1 of server1 and server2, the engine's data store on
// data source jdbc/meDS at cluster scope, the default SIBus policy and the
// engine's own One of N policy (its id holds spaces, so wsadmin quotes it
// in a list), and the cluster's bus member.
func haObjects() map[string]map[string]string {
	const (
		clu    = "clu1(cells/c1/clusters/clu1|cluster.xml#ServerCluster_1)"
		m1     = "server1(cells/c1/clusters/clu1|cluster.xml#ClusterMember_1)"
		m2     = "server2(cells/c1/clusters/clu1|cluster.xml#ClusterMember_2)"
		ds     = "(cells/c1/clusters/clu1|sib-engines.xml#SIBDatastore_1)"
		src    = "meDS(cells/c1/clusters/clu1|resources.xml#DataSource_1)"
		def    = "Default SIBus Policy(cells/c1/coregroups/DefaultCoreGroup|coregroup.xml#OneOfNPolicy_1)"
		own    = "ME clu1 policy(cells/c1/coregroups/DefaultCoreGroup|coregroup.xml#OneOfNPolicy_2)"
		member = "(cells/c1/buses/Bus1|sib-bus.xml#SIBusMember_1)"
	)
	return map[string]map[string]string{
		clu: {"_type": "ServerCluster", "_getid": "/ServerCluster:clu1/", "members": "[" + m1 + " " + m2 + "]"},
		m1:  {"_type": "ClusterMember", "memberName": "server1", "nodeName": "node01"},
		m2:  {"_type": "ClusterMember", "memberName": "server2", "nodeName": "node02"},
		ds:  {"_type": "SIBDatastore", "dataSourceName": "jdbc/meDS", "authAlias": "c1/meAlias", "schemaName": "IBMWSSIB"},
		src: {"_type": "DataSource", "jndiName": "jdbc/meDS"},
		"DefaultCoreGroup(cells/c1/coregroups/DefaultCoreGroup|coregroup.xml#CoreGroup_1)": {"_type": "CoreGroup", "policies": `["` + def + `" "` + own + `"]`},
		def:                          {"_type": "OneOfNPolicy", "name": "Default SIBus Policy", "matchCriteria": "[mc1(x|c#MatchCriteria_1)]", "failback": "false", "preferredOnly": "false", "preferredServers": "[]"},
		own:                          {"_type": "OneOfNPolicy", "name": "ME clu1 policy", "matchCriteria": "[mc1(x|c#MatchCriteria_1) mc2(x|c#MatchCriteria_2)]", "failback": "true", "preferredOnly": "false", "preferredServers": "[cs1(x|c#CoreGroupServer_1) cs2(x|c#CoreGroupServer_2)]"},
		"mc1(x|c#MatchCriteria_1)":   {"_type": "MatchCriteria", "name": "type", "value": "WSAF_SIB"},
		"mc2(x|c#MatchCriteria_2)":   {"_type": "MatchCriteria", "name": "WSAF_SIB_MESSAGING_ENGINE", "value": "clu1.000-Bus1"},
		"cs1(x|c#CoreGroupServer_1)": {"_type": "CoreGroupServer", "serverName": "server1", "nodeName": "node01"},
		"cs2(x|c#CoreGroupServer_2)": {"_type": "CoreGroupServer", "serverName": "server2", "nodeName": "node02"},
		member:                       {"_type": "SIBusMember", "cluster": "clu1", "assistanceEnabled": "false", "policyName": ""},
	}
}

// TestHAPrechecksReadTheCellThroughWsadmin runs the two prechecks' real
// scripts through the stand-in wsadmin, on configurations that must pass
// and that must stop the drill before anything changes.
func TestHAPrechecksReadTheCellThroughWsadmin(t *testing.T) {
	e := newFakeEstate(t, "ok")
	base := e.cell()
	base.Config["clu1.000-Bus1"]["_scope"] = "cells/c1/clusters/clu1"
	base.Config["clu1.000-Bus1"]["dataStore"] = "(cells/c1/clusters/clu1|sib-engines.xml#SIBDatastore_1)"
	const (
		src    = "meDS(cells/c1/clusters/clu1|resources.xml#DataSource_1)"
		own    = "ME clu1 policy(cells/c1/coregroups/DefaultCoreGroup|coregroup.xml#OneOfNPolicy_2)"
		member = "(cells/c1/buses/Bus1|sib-bus.xml#SIBusMember_1)"
	)
	setup := func(change func(o map[string]map[string]string, c *fakeCell)) {
		c := base
		raw, _ := json.Marshal(base)
		json.Unmarshal(raw, &c)
		o := haObjects()
		if change != nil {
			change(o, &c)
		}
		raw, _ = json.Marshal(c)
		var m map[string]any
		json.Unmarshal(raw, &m)
		m["objects"] = o
		raw, _ = json.Marshal(m)
		if err := os.WriteFile(e.cellPath, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store := runbook.Args{"engine": "clu1.000-Bus1"}
	policy := runbook.Args{"engine": "clu1.000-Bus1", "current": "server1"}

	t.Run("every member reaches the cluster-scoped data source", func(t *testing.T) {
		setup(nil)
		res := e.must("was.check-store-access", store)
		for _, want := range []string{"data source jdbc/meDS (authentication alias c1/meAlias) seen by node01/server1, node02/server2", "cluster scope (clu1), tested from the node agent of every node with a member of clu1"} {
			if !strings.Contains(res.Summary, want) {
				t.Errorf("summary %q lacks %q", res.Summary, want)
			}
		}
	})
	t.Run("a failed test connection stops the drill with IBM's message", func(t *testing.T) {
		setup(func(o map[string]map[string]string, _ *fakeCell) {
			o[src]["_fail"] = "java.sql.SQLRecoverableException: Io exception: The Network Adapter could not establish the connectionDSRA0010E: SQL State = 08006"
		})
		_, _, err := e.run("was.check-store-access", store, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "DSRA0010E") || !strings.Contains(err.Error(), "used by node01/server1, node02/server2") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a data source only node01 sees stops the drill naming server2", func(t *testing.T) {
		setup(func(o map[string]map[string]string, _ *fakeCell) {
			delete(o, src)
			o["meDS(cells/c1/nodes/node01|resources.xml#DataSource_1)"] = map[string]string{"_type": "DataSource", "jndiName": "jdbc/meDS"}
		})
		_, _, err := e.run("was.check-store-access", store, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "defined at no scope that node02/server2 sees") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the engine's own policy names server2 and fail back", func(t *testing.T) {
		setup(nil)
		res := e.must("was.read-ha-policy", policy)
		want := map[string]string{"policy": "ME clu1 policy", "next_server": "server2", "failback": "true", "failback_expected": "true", "assistance": "false"}
		for k, v := range want {
			if res.Vars[k] != v {
				t.Errorf("%s = %q, want %q (summary %q)", k, res.Vars[k], v, res.Summary)
			}
		}
	})
	t.Run("fail back with high availability policy assistance is refused", func(t *testing.T) {
		setup(func(o map[string]map[string]string, _ *fakeCell) {
			o[member]["assistanceEnabled"], o[member]["policyName"] = "true", "HA"
		})
		_, _, err := e.run("was.read-ha-policy", policy, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "policy ME clu1 policy of engine clu1.000-Bus1 has Fail back set") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a cell without policy assistance attributes needs the operator's answer", func(t *testing.T) {
		setup(func(o map[string]map[string]string, _ *fakeCell) {
			delete(o[member], "assistanceEnabled")
			delete(o[member], "policyName")
		})
		if _, _, err := e.run("was.read-ha-policy", policy, time.Minute); err == nil || !strings.Contains(err.Error(), "give the policy_assistance parameter") {
			t.Fatalf("without an answer: err = %v", err)
		}
		a := runbook.Args{"engine": "clu1.000-Bus1", "current": "server1", "assistance": "false"}
		res := e.must("was.read-ha-policy", a)
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "the operator's answer (false) is used") || res.Vars["failback_expected"] != "true" {
			t.Errorf("with an answer: %+v", res)
		}
	})
	t.Run("preferred servers only with no other preferred server running is refused", func(t *testing.T) {
		setup(func(o map[string]map[string]string, c *fakeCell) {
			o[own]["preferredOnly"] = "true"
			c.Servers["server2"]["running"] = false
		})
		_, _, err := e.run("was.read-ha-policy", policy, time.Minute)
		if err == nil || !strings.Contains(err.Error(), "it would not fail over") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestHAPrechecksOnTheSimulatedCell checks the simulated cell answers the
// same questions, and fails them as a real cell does.
func TestHAPrechecksOnTheSimulatedCell(t *testing.T) {
	t.Parallel()
	zero := 0.0
	ctx := context.Background()
	tr, err := StartTrainingWith(ctx, t.TempDir(), TrainingOptions{DelayScale: &zero})
	if err != nil {
		t.Fatal(err)
	}
	ops := opsByName(tr.Ops)
	run := func(name string, a runbook.Args) (runbook.Result, error) {
		return ops[name].Run(ctx, runbook.Call{Op: name, Args: a, Attempt: 1}, nil)
	}
	const me = "clu1.000-Bus1"
	res, err := run("was.read-ha-policy", runbook.Args{"engine": me, "current": "server1"})
	if err != nil || res.Vars["next_server"] != "server2" || res.Vars["failback_expected"] != "true" {
		t.Fatalf("policy: %+v, %v", res, err)
	}
	res, err = run("was.check-store-access", runbook.Args{"engine": me})
	if err != nil || !strings.Contains(res.Summary, "seen by node01/server1, node02/server2, node03/server3") {
		t.Fatalf("store access: %+v, %v", res, err)
	}
	if _, err := run("was.read-ha-policy", runbook.Args{"engine": "node01.appsrv1-Bus1", "current": "appsrv1"}); err == nil || !strings.Contains(err.Error(), "not a cluster bus member") {
		t.Errorf("server bus member: %v", err)
	}

	// Fail back off in the cell's policy: the drill must not expect it.
	st, err := tr.Cell.Load()
	if err != nil {
		t.Fatal(err)
	}
	st.Engines[me].Failback = false
	raw, _ := json.Marshal(st)
	if err := os.WriteFile(tr.Cell.Dir()+"/cell.json", raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := run("was.read-ha-policy", runbook.Args{"engine": me, "current": "server1"}); err != nil || res.Vars["failback_expected"] != "false" {
		t.Errorf("without fail back: %+v, %v", res, err)
	}

	// A node agent down: the cluster-scoped test cannot run on its node.
	if _, err := tr.Cell.StopNode(ctx, "node03", tr.Cell.ProfileName("node03")); err != nil {
		t.Fatal(err)
	}
	if _, err := run("was.check-store-access", runbook.Args{"engine": me}); err == nil || !strings.Contains(err.Error(), "the node agent of node03 is not running") {
		t.Errorf("node agent stopped: %v", err)
	}
	// The database gone: IBM's DSRA0010E.
	if err := os.Remove(tr.Cell.DataStorePath(me)); err != nil {
		t.Fatal(err)
	}
	if _, err := run("was.check-store-access", runbook.Args{"engine": me}); err == nil || !strings.Contains(err.Error(), "DSRA0010E") {
		t.Errorf("database gone: %v", err)
	}
}
