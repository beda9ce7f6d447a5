package was

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/runbook"
)

// The read-only wsadmin scripts behind the high availability prechecks
// (seed 003, "Configuration for high availability").
const (
	// ScriptStoreAccess reads an engine's message store from the cell's
	// configuration and, for a data store, which data source each cluster
	// member resolves its JNDI name to, then runs IBM's test connection
	// service on each of them.
	ScriptStoreAccess = "store-access"
	// ScriptHAPolicy reads the core group policy that governs an engine
	// (its type, preferred servers, preferred servers only, fail back),
	// its bus member's messaging engine policy assistance, and the servers
	// that hold a running instance of it.
	ScriptHAPolicy = "ha-policy"
)

// withCheckScripts adds the precheck scripts to the others.
func withCheckScripts(m map[string]string) map[string]string {
	m[ScriptStoreAccess] = jythonStoreAccess
	m[ScriptHAPolicy] = jythonHAPolicy
	return m
}

// jythonCheckHelpers are shared by the precheck scripts. A configuration
// list attribute reads as "[id1 id2]", an id holding a space is quoted
// ("Default SIBus Policy(cells/c1|coregroup.xml#OneOfNPolicy_1)"), so
// db_cfg_list splits on spaces outside quotes and parentheses. A
// configuration id names the document it is in ("(cells/c1/clusters/clu1|
// sib-engines.xml#...)"): db_scope returns that path, the object's scope.
const jythonCheckHelpers = `def db_attr(c, a):
    try:
        v = AdminConfig.showAttribute(c, a)
    except:
        return ''
    if v is None:
        return ''
    v = str(v)
    if v == 'null':
        return ''
    return v


def db_cfg_list(s):
    s = str(s).strip()
    if s[:1] == '[':
        s = s[1:]
    if s[-1:] == ']':
        s = s[:-1]
    out = []
    cur = ''
    quoted = 0
    depth = 0
    for ch in s:
        if ch == '"':
            quoted = 1 - quoted
            continue
        if ch == '(':
            depth = depth + 1
        if ch == ')':
            depth = depth - 1
        if ch == ' ' and quoted == 0 and depth == 0:
            if cur != '':
                out.append(cur)
            cur = ''
            continue
        cur = cur + ch
    if cur != '':
        out.append(cur)
    return out


def db_scope(cid):
    i = cid.find('(')
    j = cid.find('|')
    if i < 0 or j < i:
        return ''
    return cid[i + 1:j]


def db_engine_config(me):
    for c in db_lines(AdminConfig.list('SIBMessagingEngine')):
        if db_attr(c, 'name') == me:
            return c
    raise DbError('no messaging engine %s in the configuration of this cell: check the engine name' % me)


def db_cluster_of(c, me):
    parts = db_scope(c).split('/')
    if len(parts) >= 4 and parts[2] == 'clusters':
        return parts[3]
    raise DbError('messaging engine %s is not a cluster bus member (its configuration is in %s): the high availability checks apply to a cluster' % (me, db_scope(c)))
`

// jythonStoreAccess: a: engine. For a data store, the data source an
// engine uses is named by its JNDI name (IBM SIBDatastore_DetailForm:
// "Data source JNDI name ... the data source that the messaging engine uses
// to access the relational database management system"); a member
// resolves it at its own server, its cluster, its node or the cell, in
// that order (IBM "Test connection service", cdat_testcon: server, cluster,
// node, cell). AdminControl.testConnection runs IBM's test connection
// service on each data source found (txml_testconnection), which for a
// cluster scope runs "in the node agent for each node that contains a
// cluster member" and for a cell scope in the deployment manager
// (cdat_testcon, scope table). A failed test raises, and its message
// (WASX7015E ... DSRA0010E) is kept.
const jythonStoreAccess = `# a: engine. Facts: store (data or file), jndi, auth_alias, schema, cluster,
# members, resolve.NODE/SERVER (the scope that member resolves the JNDI name
# at), test.SCOPE (ok: message, or failed: message), log_dir, store_dir.
` + jythonCheckHelpers + `

def db_main(a):
    me = a[0]
    c = db_engine_config(me)
    cluster = db_cluster_of(c, me)
    facts = {'cluster': cluster}
    members = []
    cl = AdminConfig.getid('/ServerCluster:%s/' % cluster)
    if cl == '':
        raise DbError('cluster %s of messaging engine %s is not in the configuration' % (cluster, me))
    for m in db_cfg_list(db_attr(cl, 'members')):
        members.append([db_attr(m, 'nodeName'), db_attr(m, 'memberName')])
    names = []
    for m in members:
        names.append('%s/%s' % (m[0], m[1]))
    facts['members'] = ','.join(names)
    ds = db_attr(c, 'dataStore')
    if ds == '':
        fs = db_attr(c, 'fileStore')
        facts['store'] = 'file'
        facts['log_dir'] = db_attr(fs, 'logDirectory')
        facts['store_dir'] = db_attr(fs, 'permanentStoreDirectory')
        db_result({'facts': facts})
        return
    facts['store'] = 'data'
    jndi = db_attr(ds, 'dataSourceName')
    facts['jndi'] = jndi
    facts['auth_alias'] = db_attr(ds, 'authAlias')
    facts['schema'] = db_attr(ds, 'schemaName')
    scoped = {}
    for d in db_lines(AdminConfig.list('DataSource')):
        if db_attr(d, 'jndiName') == jndi:
            scoped[db_scope(d)] = d
    cell = str(AdminControl.getCell())
    used = []
    for m in members:
        found = ''
        for sc in ['cells/%s/nodes/%s/servers/%s' % (cell, m[0], m[1]), 'cells/%s/clusters/%s' % (cell, cluster), 'cells/%s/nodes/%s' % (cell, m[0]), 'cells/%s' % cell]:
            if found == '' and sc in scoped.keys():
                found = sc
        facts['resolve.%s/%s' % (m[0], m[1])] = found
        if found != '' and found not in used:
            used.append(found)
    for sc in used:
        try:
            facts['test.' + sc] = 'ok: ' + ' '.join(db_lines(AdminControl.testConnection(scoped[sc])))
        except:
            facts['test.' + sc] = 'failed: %s' % sys.exc_info()[1]
    db_result({'facts': facts})
`

// jythonHAPolicy: a: engine. A messaging engine's HA group has the
// properties type=WSAF_SIB, WSAF_SIB_MESSAGING_ENGINE, WSAF_SIB_BUS and
// IBM_hc (reference/was-sib.md §7.2, "Match criteria"); the core group
// policy whose match criteria all hold and are the most governs it ("The
// policy with the strongest match will be assigned to the HA group").
// Only Static, One of N and No operation policies may govern an engine
// (IBM "Configuring a core group policy for messaging engines"). A One of
// N policy has preferredServers (CoreGroupServer: nodeName, serverName),
// preferredOnly and failback. A cluster bus member says whether it uses
// messaging engine policy assistance and which policy type
// (assistanceEnabled, policyName: HA, SCALABILITY, SCALABILITY_HA, CUSTOM,
// as addSIBusMember's -enableAssistance and -policyName); before
// WebSphere 7 the attributes do not exist and read as ”.
const jythonHAPolicy = `# a: engine. Facts: cluster, bus, policy, policy_type, matches (how many
# policies match as strongly), failback, preferred_only, preferred (server
# names in order), assistance, assistance_policy, running (the servers that hold an
# instance of the engine).
` + jythonCheckHelpers + `

def db_main(a):
    me = a[0]
    c = db_engine_config(me)
    cluster = db_cluster_of(c, me)
    bus = db_attr(c, 'busName')
    props = {'type': 'WSAF_SIB', 'WSAF_SIB_MESSAGING_ENGINE': me, 'WSAF_SIB_BUS': bus, 'IBM_hc': cluster}
    facts = {'cluster': cluster, 'bus': bus, 'assistance': '', 'assistance_policy': ''}
    for m in db_lines(AdminConfig.list('SIBusMember')):
        if db_attr(m, 'cluster') == cluster:
            facts['assistance'] = db_attr(m, 'assistanceEnabled')
            facts['assistance_policy'] = db_attr(m, 'policyName')
    best = ''
    strength = 0
    matches = 0
    for cg in db_lines(AdminConfig.list('CoreGroup')):
        for p in db_cfg_list(db_attr(cg, 'policies')):
            crit = db_cfg_list(db_attr(p, 'matchCriteria'))
            ok = len(crit) > 0
            for mc in crit:
                n = db_attr(mc, 'name')
                if n not in props.keys() or props[n] != db_attr(mc, 'value'):
                    ok = 0
            if ok and len(crit) > strength:
                best = p
                strength = len(crit)
                matches = 1
            elif ok and len(crit) == strength:
                matches = matches + 1
    if best == '':
        raise DbError('no core group policy matches messaging engine %s: its HA group has no policy, so it has no failover' % me)
    facts['policy'] = db_attr(best, 'name')
    facts['policy_type'] = str(AdminConfig.getObjectType(best))
    facts['matches'] = str(matches)
    facts['failback'] = db_attr(best, 'failback')
    facts['preferred_only'] = db_attr(best, 'preferredOnly')
    pref = []
    for s in db_cfg_list(db_attr(best, 'preferredServers')):
        pref.append(db_attr(s, 'serverName'))
    facts['preferred'] = ','.join(pref)
    running = []
    for i in db_instances(me):
        running.append(i['server'])
    facts['running'] = ','.join(running)
    db_result({'facts': facts})
`

// splitList splits a comma-separated fact; "" is no element.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// scopeWords names a configuration scope for the operator: "cluster scope
// (clu1)". The second value says where IBM's test connection service
// tests a data source of that scope (cdat_testcon, scope table).
func scopeWords(scope string) (string, string) {
	p := strings.Split(scope, "/")
	switch {
	case len(p) >= 6 && p[4] == "servers":
		return "server scope (" + p[3] + "/" + p[5] + ")", "in server " + p[5]
	case len(p) >= 4 && p[2] == "clusters":
		return "cluster scope (" + p[3] + ")", "from the node agent of every node with a member of " + p[3]
	case len(p) >= 4 && p[2] == "nodes":
		return "node scope (" + p[3] + ")", "from the node agent of " + p[3]
	case len(p) == 2:
		return "cell scope (" + p[1] + ")", "in the deployment manager only"
	}
	return scope, "where the scope says"
}

func (s *opSet) haCheckOps() {
	// was.check-store-access: seed 003, "The message store for the
	// messaging engine must be accessible by all the servers in the
	// cluster ... you must ensure that the database server is accessible
	// from all servers in the cluster that might run the messaging engine."
	{
		p, r := s.script(ScriptStoreAccess,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				return storeAccessResult(a.String("engine"), rep.Facts)
			})
		s.add(runbook.OpSpec{
			Name:     "was.check-store-access",
			Summary:  "Check that every member of a clustered engine's cluster reaches its message store: the data source its JNDI name resolves to for each member, and IBM's test connection on it",
			ReadOnly: true,
			Args:     []runbook.ArgSpec{engineArg},
		}, p, r)
	}
	// was.read-ha-policy: seed 003, "Whenever a preferred server is
	// available, the high availability manager (HAManager) runs the
	// messaging engine in it ... If we use messaging engine policy
	// assistance and the high availability messaging engine policy, the
	// messaging engine is not set to fail back."
	{
		p, r := s.script(ScriptHAPolicy,
			func(a runbook.Args) ([]string, error) { return []string{a.String("engine")}, nil },
			func(_ context.Context, a runbook.Args, rep Reply) (runbook.Result, error) {
				return haPolicyResult(a.String("engine"), a.String("current"), a.String("assistance"), rep.Facts)
			})
		s.add(runbook.OpSpec{
			Name:     "was.read-ha-policy",
			Summary:  "Read the core group policy of a clustered engine (preferred servers, preferred servers only, fail back) and its policy assistance; say which server takes it over from the current one and whether it fails back",
			ReadOnly: true,
			Args: []runbook.ArgSpec{engineArg,
				arg("current", runbook.ArgString, true, "the server the engine runs in now, which the drill stops"),
				arg("assistance", runbook.ArgString, false, "the operator's answer (true or false) for a cell that does not say whether the bus member uses messaging engine policy assistance (before WebSphere 7)", "", "true", "false")},
		}, p, r)
	}
}

// storeAccessResult judges the store-access script's facts.
func storeAccessResult(engine string, f map[string]string) (runbook.Result, error) {
	members := splitList(f["members"])
	vars := map[string]string{"store": f["store"], "jndi": f["jndi"], "members": f["members"]}
	if f["store"] == "file" {
		return runbook.Result{
			Summary: fmt.Sprintf("engine %s has a file store (log %s, store %s) for the members %s", engine, f["log_dir"], f["store_dir"], strings.Join(members, ", ")),
			Vars:    vars,
			Warnings: []string{"wsadmin cannot tell whether every member's host sees the file store's directories (seed 003: a shared disk managed by an external high availability framework); " +
				"the failover step's watch proves it: another member must acquire the store's lock (CWSIS1563)"},
		}, nil
	}
	res := runbook.Result{Vars: vars}
	var unseen []string
	byScope := map[string][]string{}
	for _, m := range members {
		sc := f["resolve."+m]
		if sc == "" {
			unseen = append(unseen, m)
			continue
		}
		byScope[sc] = append(byScope[sc], m)
	}
	if len(unseen) > 0 {
		return res, fmt.Errorf("the data source %s of engine %s's data store is defined at no scope that %s sees (its own server, cluster %s, its node or the cell): define it at cluster or cell scope so that every member that might run the engine reaches the same database", f["jndi"], engine, strings.Join(unseen, ", "), f["cluster"])
	}
	scopes := make([]string, 0, len(byScope))
	for sc := range byScope {
		scopes = append(scopes, sc)
	}
	sort.Strings(scopes)
	var tested, failed []string
	for _, sc := range scopes {
		words, where := scopeWords(sc)
		t := f["test."+sc]
		switch {
		case strings.HasPrefix(t, "ok"):
			tested = append(tested, fmt.Sprintf("%s, tested %s", words, where))
			if strings.HasPrefix(words, "cell scope") {
				res.Warnings = append(res.Warnings, fmt.Sprintf("the data source %s is defined at cell scope, so IBM's test connection ran %s, not from the members' hosts: the failover step's watch proves that the next member reaches the database", f["jndi"], where))
			}
		default:
			failed = append(failed, fmt.Sprintf("%s (used by %s), tested %s: %s", words, strings.Join(byScope[sc], ", "), where, strings.TrimPrefix(t, "failed: ")))
		}
	}
	if len(scopes) > 1 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the members resolve %s at %d scopes (%s): each must name the same database, or a member taking the engine over finds another store", f["jndi"], len(scopes), strings.Join(scopes, ", ")))
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("the test connection of data source %s failed at %s: make sure the database server is reachable from every member's host and the authentication alias %s is right", f["jndi"], strings.Join(failed, "; "), orNone(splitList(f["auth_alias"])))
	}
	res.Summary = fmt.Sprintf("engine %s's data store: data source %s (authentication alias %s) seen by %s at %s", engine, f["jndi"], orNone(splitList(f["auth_alias"])), strings.Join(members, ", "), strings.Join(tested, "; "))
	return res, nil
}

// haPolicyResult judges the ha-policy script's facts: which server takes
// the engine over when current stops, and whether it comes back.
func haPolicyResult(engine, current, operatorAssistance string, f map[string]string) (runbook.Result, error) {
	vars := map[string]string{"policy": f["policy"], "preferred": f["preferred"], "preferred_only": f["preferred_only"], "failback": "false", "assistance": "false", "ha_assisted": "false", "next_server": "", "failback_expected": "false"}
	res := runbook.Result{Vars: vars}
	if f["matches"] != "" && f["matches"] != "1" {
		return res, fmt.Errorf("%s core group policies match engine %s as strongly as %s: the HAManager cannot tell which governs it; give its own policy a WSAF_SIB_MESSAGING_ENGINE=%s match criterion", f["matches"], engine, f["policy"], engine)
	}
	switch f["policy_type"] {
	case "OneOfNPolicy":
	case "StaticPolicy", "NoOperationPolicy", "NoOpPolicy":
		return res, fmt.Errorf("engine %s is governed by the %s %s, which never moves it to another server: a failover drill needs a One of N policy", engine, f["policy_type"], f["policy"])
	default:
		return res, fmt.Errorf("engine %s is governed by policy %s of type %s, which IBM does not support for messaging engines (Static, One of N, No operation)", engine, f["policy"], f["policy_type"])
	}
	failback := f["failback"] == "true"
	assistance := f["assistance"] == "true"
	if f["assistance"] == "" {
		if operatorAssistance == "" {
			return res, fmt.Errorf("the cell does not say whether the bus member of cluster %s uses messaging engine policy assistance (no assistanceEnabled attribute): give the policy_assistance parameter", f["cluster"])
		}
		assistance = operatorAssistance == "true"
		res.Warnings = append(res.Warnings, fmt.Sprintf("the cell does not say whether cluster %s uses messaging engine policy assistance: the operator's answer (%s) is used", f["cluster"], operatorAssistance))
	}
	haAssisted := assistance && (f["assistance_policy"] == "" || f["assistance_policy"] == "HA")
	if haAssisted && failback {
		return res, fmt.Errorf("policy %s of engine %s has Fail back set, but cluster %s uses messaging engine policy assistance with the high availability policy, which is not set to fail back (seed 003): correct the policy under the bus member's Messaging engine policy maintenance, then run the drill", f["policy"], engine, f["cluster"])
	}
	vars["failback"] = fmt.Sprint(failback)
	vars["assistance"] = fmt.Sprint(assistance)
	vars["ha_assisted"] = fmt.Sprint(haAssisted)
	preferred := splitList(f["preferred"])
	running := splitList(f["running"])
	if !slices.Contains(running, current) {
		return res, fmt.Errorf("engine %s has no instance in server %s (instances in: %s): find where it runs again", engine, current, orNone(running))
	}
	next := ""
	for _, p := range preferred {
		if p != current && slices.Contains(running, p) {
			next = p
			break
		}
	}
	var others []string
	for _, r := range running {
		if r != current {
			others = append(others, r)
		}
	}
	switch {
	case next != "":
		vars["next_server"] = next
		res.Summary = fmt.Sprintf("policy %s: when %s stops, %s, the first running server of the preferred servers %s, takes engine %s over", f["policy"], current, next, strings.Join(preferred, ", "), engine)
	case f["preferred_only"] == "true":
		return res, fmt.Errorf("no preferred server of policy %s other than %s runs (preferred: %s; running: %s), and the policy runs engine %s only in preferred servers: it would not fail over; start one of them first", f["policy"], current, orNone(preferred), orNone(running), engine)
	case len(others) == 0:
		return res, fmt.Errorf("no other member of cluster %s runs an instance of engine %s: it has nowhere to fail over; start another member first", f["cluster"], engine)
	default:
		res.Summary = fmt.Sprintf("policy %s: no preferred server other than %s runs, so any other member (%s) may take engine %s over", f["policy"], current, strings.Join(others, ", "), engine)
	}
	// Fail back moves the engine to the most preferred server available
	// (reference/was-sib.md §7.2), so it returns to current only when
	// current ranks above the server that took it.
	back := failback && !haAssisted && slices.Contains(preferred, current) &&
		(next == "" || slices.Index(preferred, current) < slices.Index(preferred, next))
	vars["failback_expected"] = fmt.Sprint(back)
	switch {
	case haAssisted:
		res.Summary += "; policy assistance (high availability): no fail back"
	case back:
		res.Summary += fmt.Sprintf("; fail back: the engine returns to %s when it starts again", current)
	case failback:
		res.Summary += fmt.Sprintf("; fail back, but %s is not a more preferred server than %s: the engine stays", current, next)
	default:
		res.Summary += "; no fail back"
	}
	return res, nil
}
