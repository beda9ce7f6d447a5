package simcell

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// The simulated cell's configuration of what the high availability
// prechecks read. IBM documents the attributes, not any cell's values, so
// the values are the simulation's choice (SILENT), each shaped as IBM's
// pages describe it:
//   - a clustered engine's data store names its data source by JNDI name,
//     jdbc/ENGINE-with-dots-as-dashes, defined at the cluster's scope
//     (IBM "Configuring a messaging engine data store to use a data
//     source", tjm0045_), with the default schema IBMWSSIB (IBM
//     SIBDatastore_DetailForm: "The default schema name is IBMWSSIB") and
//     an authentication alias CELL/ENGINE-alias;
//   - its core group policy is a One of N policy of its own, matched by
//     type=WSAF_SIB and WSAF_SIB_MESSAGING_ENGINE=ENGINE, with the preferred
//     servers and fail back of Engine.Preferred and Engine.Failback and
//     preferred servers only not set: seed 003's "If we do not use
//     messaging engine policy assistance ... specify one or more preferred
//     servers for the messaging engine";
//   - so its bus member does not use messaging engine policy assistance.
const simPolicySuffix = " One of N policy"

// HAPolicy answers the ha-policy script's questions on the simulated cell:
// the facts named in adapters/was/ops_checks.go (jythonHAPolicy). Like the
// script it reads configuration only and changes nothing.
func (c *Cell) HAPolicy(ctx context.Context, engine string) (map[string]string, error) {
	var facts map[string]string
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		e, err := a.engine(engine)
		if err != nil {
			return err
		}
		if e.Cluster == "" {
			return fmt.Errorf("messaging engine %s is not a cluster bus member (its configuration is in cells/%s/nodes/%s/servers/%s): the high availability checks apply to a cluster", engine, s.Cell, s.Servers[e.Servers[0]].Node, e.Servers[0])
		}
		var running []string
		for _, in := range a.instances(e) {
			running = append(running, in.Server)
		}
		facts = map[string]string{
			"cluster": e.Cluster, "bus": e.Bus, "assistance": "false", "assistance_policy": "",
			"policy": e.Name + simPolicySuffix, "policy_type": "OneOfNPolicy", "matches": "1",
			"failback": fmt.Sprint(e.Failback), "preferred_only": "false",
			"preferred": strings.Join(e.Preferred, ","), "running": strings.Join(running, ","),
		}
		return nil
	})
	return facts, err
}

// StoreAccess answers the store-access script's questions on the simulated
// cell: where each member resolves the engine's data source, and IBM's
// test connection service on it. A cluster-scoped data source is tested
// "in the node agent for each node that contains a cluster member" (IBM
// "Test connection service", cdat_testcon, scope table), so the test fails
// when one of those node agents is stopped (what a real cell prints then
// is not documented: SILENT) or when the store's database (the simulated
// data store file) is gone, with the exception text of IBM's example
// failure (txml_testconnection: "java.sql.SQLRecoverableException: Io
// exception: The Network Adapter could not establish the connection
// DSRA0010E: SQL State = 08006, Error Code = 17,002").
func (c *Cell) StoreAccess(ctx context.Context, engine string) (map[string]string, error) {
	var facts map[string]string
	err := c.update(ctx, func(s *State, a *actor) error {
		if err := c.connect(s); err != nil {
			return err
		}
		e, err := a.engine(engine)
		if err != nil {
			return err
		}
		if e.Cluster == "" {
			return fmt.Errorf("messaging engine %s is not a cluster bus member: the high availability checks apply to a cluster", engine)
		}
		var members []string
		for _, srv := range e.Servers {
			members = append(members, s.Servers[srv].Node+"/"+srv)
		}
		facts = map[string]string{"cluster": e.Cluster, "members": strings.Join(members, ",")}
		if e.Store == "file" {
			logDir, storeDir := c.FileStoreDirs(engine)
			facts["store"], facts["log_dir"], facts["store_dir"] = "file", logDir, storeDir
			return nil
		}
		scope := "cells/" + s.Cell + "/clusters/" + e.Cluster
		facts["store"] = "data"
		facts["jndi"] = "jdbc/" + strings.ReplaceAll(engine, ".", "-")
		facts["auth_alias"] = s.Cell + "/" + engine + "-alias"
		facts["schema"] = "IBMWSSIB"
		for _, m := range members {
			facts["resolve."+m] = scope
		}
		test := "ok: WASX7217I: Connection to provided datasource was successful."
		for _, srv := range e.Servers {
			if n := s.Servers[srv].Node; !s.NodeAgents[n] {
				test = fmt.Sprintf("failed: the node agent of %s is not running, so the test connection service cannot run there", n)
				break
			}
		}
		if _, err := os.Stat(c.DataStorePath(engine)); err != nil {
			test = "failed: com.ibm.websphere.management.exception.AdminException javax.management.MBeanException java.sql.SQLRecoverableException: Io exception: The Network Adapter could not establish the connectionDSRA0010E: SQL State = 08006, Error Code = 17,002"
		}
		facts["test."+scope] = test
		return nil
	})
	return facts, err
}
