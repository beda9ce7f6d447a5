package was

import (
	"fmt"
	"sort"
	"strings"
)

// ResultMarker starts the one line of a script's output that the adapter
// parses; everything else wsadmin prints is shown but never interpreted.
const ResultMarker = "DRILLBOOK-RESULT "

// argsMarker separates wsadmin's own view of sys.argv from the script's
// arguments. The reference leaves open whether sys.argv[0] is the script
// name, so the scripts look for this marker instead of counting.
const argsMarker = "--drillbook-args"

// The scripts are Jython for wsadmin -lang jython. They must run on the
// Jython 2.1 that older wsadmin releases ship and must also parse as Python
// 3 (the tests check): so no print statements, no True/False, no
// "except X, e", no "with", no conditional expressions. Values never appear
// in the text: every script reads them from sys.argv after argsMarker.

const jythonPrelude = `import sys
from java.lang import Thread


class DbError(Exception):
    pass


def db_quote(s):
    s = str(s)
    out = []
    for ch in s:
        if ch == '\\':
            out.append('\\\\')
        elif ch == '"':
            out.append('\\"')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\r':
            out.append('\\r')
        elif ch == '\t':
            out.append('\\t')
        elif ord(ch) < 32:
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    return '"' + ''.join(out) + '"'


def db_encode(v):
    if type(v) == type({}):
        keys = list(v.keys())
        keys.sort()
        parts = []
        for k in keys:
            parts.append(db_quote(k) + ':' + db_encode(v[k]))
        return '{' + ','.join(parts) + '}'
    if type(v) == type([]):
        parts = []
        for item in v:
            parts.append(db_encode(item))
        return '[' + ','.join(parts) + ']'
    return db_quote(v)


def db_result(d):
    d['ok'] = 'true'
    print('DRILLBOOK-RESULT ' + db_encode(d))


def db_fail(msg):
    print('DRILLBOOK-RESULT ' + db_encode({'ok': 'false', 'error': msg}))


def db_args():
    argv = list(sys.argv)
    for i in range(len(argv)):
        if argv[i] == '--drillbook-args':
            return argv[i + 1:]
    raise DbError('the script was started without its arguments')


def db_lines(s):
    out = []
    for line in str(s).splitlines():
        line = line.strip()
        if line != '':
            out.append(line)
    return out


def db_keys(on):
    props = {}
    rest = on.split(':', 1)[-1]
    for kv in rest.split(','):
        i = kv.find('=')
        if i > 0:
            props[kv[:i]] = kv[i + 1:]
    return props


def db_state(on):
    return str(AdminControl.invoke(on, 'state'))


def db_instances(me):
    out = []
    for on in db_lines(AdminControl.queryNames('type=SIBMessagingEngine,name=%s,*' % me)):
        keys = db_keys(on)
        out.append({'on': on, 'node': keys.get('node', ''), 'server': keys.get('process', ''), 'state': db_state(on)})
    return out


def db_public(insts):
    out = []
    for i in insts:
        out.append({'node': i['node'], 'server': i['server'], 'state': i['state']})
    return out


def db_describe(insts):
    parts = []
    for i in insts:
        parts.append('%s/%s %s' % (i['node'], i['server'], i['state']))
    return ', '.join(parts)


def db_pick(me, insts, server, prefer):
    if len(insts) == 0:
        raise DbError('messaging engine %s has no instance in a running server: start a server that hosts it, or check the engine name' % me)
    if server != '':
        for i in insts:
            if i['server'] == server:
                return i
        raise DbError('messaging engine %s has no instance in server %s (instances: %s)' % (me, server, db_describe(insts)))
    for i in insts:
        if i['state'] == 'Started':
            return i
    if len(insts) == 1:
        return insts[0]
    for p in prefer:
        for i in insts:
            if i['server'] == p:
                return i
    raise DbError('messaging engine %s has instances in several servers and none is Started (%s): name the server to use' % (me, db_describe(insts)))


def db_wait_state(on, wanted, secs):
    st = db_state(on)
    n = 0
    while n < secs and st not in wanted:
        Thread.sleep(1000)
        n = n + 1
        st = db_state(on)
    return st


def db_server_mbean(node, server):
    names = db_lines(AdminControl.queryNames('type=Server,process=%s,node=%s,*' % (server, node)))
    if len(names) == 0:
        return ''
    return names[0]


def db_server_config(node, server):
    return AdminConfig.getid('/Node:%s/Server:%s/' % (node, server))


def db_require_server(node, server):
    if db_server_config(node, server) == '':
        raise DbError('no server %s on node %s in this cell: check the node and server names' % (server, node))


def db_run():
    try:
        db_main(db_args())
    except DbError:
        db_fail(str(sys.exc_info()[1]))
    except:
        info = sys.exc_info()
        db_fail('%s: %s' % (info[0], info[1]))
`

// jythonScripts maps a Script* name to the body that defines db_main(a).
// The comment on each says what a[...] holds.
func jythonScripts() map[string]string {
	return withCheckScripts(map[string]string{
		ScriptEngineState: `# a: engine. configured says whether the cell's configuration has it, so a
# mistyped name does not read as "not running".
def db_main(a):
    me = a[0]
    configured = 'false'
    for c in db_lines(AdminConfig.list('SIBMessagingEngine')):
        if AdminConfig.showAttribute(c, 'name') == me:
            configured = 'true'
    insts = db_instances(me)
    db_result({'instances': db_public(insts), 'configured': configured})
`,
		// The seed's example passes ["Flush"]; the MBean's mode strings are
		// DEFAULT and FLUSH (reference §3.3, IBM's JsConstants), and whether
		// it accepts other case is unconfirmed, so the script sends FLUSH.
		ScriptStartEngine: `# a: engine, mode (DEFAULT or FLUSH), server or '', preferred servers
# (comma-separated) or '', if_started (fail or ok), wait seconds
def db_main(a):
    me = a[0]
    mode = a[1]
    server = a[2]
    prefer = []
    for p in a[3].split(','):
        if p.strip() != '':
            prefer.append(p.strip())
    if_started = a[4]
    secs = int(a[5])
    if mode not in ['DEFAULT', 'FLUSH']:
        raise DbError('start mode %s is not DEFAULT or FLUSH' % mode)
    target = db_pick(me, db_instances(me), server, prefer)
    on = target['on']
    before = target['state']
    if before in ['Started', 'Starting']:
        if if_started == 'ok':
            db_result({'node': target['node'], 'server': target['server'], 'before': before, 'after': before})
            return
        raise DbError('messaging engine %s is already %s in %s/%s: it was started after the restore without Restart after restore mode; stop it and start it again in FLUSH mode' % (me, before, target['node'], target['server']))
    print('drillbook: starting %s in %s/%s in %s mode' % (me, target['node'], target['server'], mode))
    AdminControl.invoke(on, 'start', mode)
    after = db_wait_state(on, ['Started', 'Stopped', 'Failed!'], secs)
    if after not in ['Started', 'Starting']:
        raise DbError('messaging engine %s is %s after the %s start: look in SystemOut.log of %s for CWSIS1519E, CWSIS1535E or CWSIP0782E' % (me, after, mode, target['server']))
    db_result({'node': target['node'], 'server': target['server'], 'before': before, 'after': after})
`,
		ScriptStopEngine: `# a: engine, mode (IMMEDIATE or FORCE), server or '', wait seconds
def db_main(a):
    me = a[0]
    mode = a[1]
    server = a[2]
    secs = int(a[3])
    if mode not in ['IMMEDIATE', 'FORCE']:
        raise DbError('stop mode %s is not IMMEDIATE or FORCE' % mode)
    insts = db_instances(me)
    if server == '':
        active = []
        for i in insts:
            if i['state'] in ['Started', 'Starting', 'Stopping']:
                active.append(i)
        if len(active) == 0:
            db_result({'before': 'not active (%s)' % db_describe(insts), 'after': 'not active'})
            return
        insts = active
    target = db_pick(me, insts, server, [])
    on = target['on']
    before = target['state']
    if before in ['Stopped', 'Joined']:
        db_result({'node': target['node'], 'server': target['server'], 'before': before, 'after': before})
        return
    AdminControl.invoke(on, 'stop', mode)
    after = db_wait_state(on, ['Stopped', 'Joined'], secs)
    if after not in ['Stopped', 'Joined']:
        raise DbError('messaging engine %s is still %s %d seconds after a %s stop: escalate to FORCE or stop server %s' % (me, after, secs, mode, target['server']))
    db_result({'node': target['node'], 'server': target['server'], 'before': before, 'after': after})
`,
		ScriptSetInitialState: `# a: bus or '', engine, state (STARTED or STOPPED), attribute or '' to discover
def db_find_attr():
    lines = db_lines(AdminConfig.attributes('SIBMessagingEngine'))
    found = []
    for line in lines:
        parts = line.split(' ', 1)
        if len(parts) == 2 and parts[1].find('ENUM') >= 0 and parts[1].find('STARTED') >= 0 and parts[1].find('STOPPED') >= 0:
            found.append(parts[0])
    if 'initialState' in found:
        return 'initialState'
    if len(found) == 1:
        return found[0]
    raise DbError('cannot tell which SIBMessagingEngine attribute is the Initial state (candidates: %s): set was.initial_state_attribute in targets.yaml' % ', '.join(found))


def db_main(a):
    bus = a[0]
    me = a[1]
    state = a[2]
    attr = a[3]
    objs = []
    for c in db_lines(AdminConfig.list('SIBMessagingEngine')):
        if AdminConfig.showAttribute(c, 'name') != me:
            continue
        if bus != '':
            try:
                b = AdminConfig.showAttribute(c, 'busName')
            except:
                b = ''
            if b and b != bus:
                continue
        objs.append(c)
    if len(objs) == 0:
        raise DbError('no messaging engine %s in the configuration of bus %s' % (me, bus))
    if len(objs) > 1:
        raise DbError('%d configuration objects are named %s: give the bus to tell them apart' % (len(objs), me))
    if attr == '':
        attr = db_find_attr()
    prev = str(AdminConfig.showAttribute(objs[0], attr))
    AdminConfig.modify(objs[0], [[attr, state]])
    AdminConfig.save()
    now = str(AdminConfig.showAttribute(objs[0], attr))
    if now != state:
        raise DbError('%s of %s reads %s after the change to %s' % (attr, me, now, state))
    db_result({'attribute': attr, 'previous': prev, 'after': now})
`,
		ScriptSaveSync: `# a: (none)
def db_main(a):
    if AdminConfig.hasChanges():
        AdminConfig.save()
    nodes = []
    failed = []
    for ns in db_lines(AdminControl.queryNames('type=NodeSync,*')):
        node = db_keys(ns).get('node', '?')
        r = str(AdminControl.invoke(ns, 'sync'))
        nodes.append('%s=%s' % (node, r))
        if r == 'false':
            failed.append(node)
    if len(failed) > 0:
        raise DbError('synchronisation failed for node(s) %s: synchronise them offline by syncNode, their node agents stopped (was.stop-node, was.sync-node, was.start-node)' % ', '.join(failed))
    db_result({'nodes': nodes})
`,
		ScriptConnection: `# a: (none). Where is wsadmin connected? Fails like any session when it
# cannot connect (WASX7023E).
def db_main(a):
    cell = str(AdminControl.getCell())
    node = str(AdminControl.getNode())
    on = db_lines(AdminControl.queryNames('type=Server,node=%s,*' % node))
    proc = ''
    ptype = ''
    if len(on) > 0:
        keys = db_keys(on[0])
        proc = keys.get('process', '')
        ptype = str(AdminControl.getAttribute(on[0], 'processType'))
    db_result({'cell': cell, 'node': node, 'process': proc, 'type': ptype})
`,
		ScriptStartServer: `# a: node, server, wait seconds. Starts the server through its node agent
# (AdminControl.startServer); a running server is reported as it is.
def db_main(a):
    node = a[0]
    server = a[1]
    secs = int(a[2])
    db_require_server(node, server)
    if db_server_mbean(node, server) != '':
        db_result({'node': node, 'server': server, 'before': 'STARTED', 'after': 'STARTED'})
        return
    if len(db_lines(AdminControl.queryNames('type=NodeAgent,node=%s,*' % node))) == 0:
        raise DbError('no node agent runs on node %s, so server %s cannot be started through it: start the node agent (startNode) first' % (node, server))
    print(str(AdminControl.startServer(server, node)))
    n = 0
    while n < secs and db_server_mbean(node, server) == '':
        Thread.sleep(1000)
        n = n + 1
    on = db_server_mbean(node, server)
    if on == '':
        raise DbError('server %s on node %s did not come up within %d seconds: read its SystemOut.log and startServer.log' % (server, node, secs))
    db_result({'node': node, 'server': server, 'before': 'STOPPED', 'after': str(AdminControl.getAttribute(on, 'state'))})
`,
		ScriptStopServer: `# a: node or '', server or '', engine or '' (stop the server hosting it)
def db_main(a):
    node = a[0]
    server = a[1]
    me = a[2]
    if server == '':
        active = []
        for i in db_instances(me):
            if i['state'] in ['Started', 'Starting', 'Stopping']:
                active.append(i)
        if len(active) == 0:
            db_result({'before': 'engine %s not active' % me, 'after': 'nothing to stop'})
            return
        node = active[0]['node']
        server = active[0]['server']
        print('drillbook: messaging engine %s runs in %s/%s' % (me, node, server))
    db_require_server(node, server)
    if db_server_mbean(node, server) == '':
        db_result({'node': node, 'server': server, 'before': 'STOPPED', 'after': 'STOPPED'})
        return
    print(str(AdminControl.stopServer(server, node)))
    if db_server_mbean(node, server) != '':
        raise DbError('server %s on node %s still answers after the stop: use stopServer.sh on its host' % (server, node))
    db_result({'node': node, 'server': server, 'before': 'STARTED', 'after': 'STOPPED'})
`,
		ScriptServerStatus: `# a: node, server
def db_main(a):
    db_require_server(a[0], a[1])
    on = db_server_mbean(a[0], a[1])
    st = 'STOPPED'
    if on != '':
        st = str(AdminControl.getAttribute(on, 'state'))
    db_result({'node': a[0], 'server': a[1], 'after': st})
`,
	})
}

// ScriptNames returns the names of every wsadmin script, sorted.
func ScriptNames() []string {
	scripts := jythonScripts()
	names := make([]string, 0, len(scripts))
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// GenerateScript returns the full Jython text wsadmin is given for the named
// script. The text is the same for every call: values are passed as
// arguments, so nothing an operator types can change the code that runs.
func GenerateScript(name string) (string, error) {
	body, ok := jythonScripts()[name]
	if !ok {
		return "", fmt.Errorf("no wsadmin script named %q", name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# drillbook wsadmin script: %s\n", name)
	b.WriteString("# Generated by drillbook; the values arrive in sys.argv after --drillbook-args.\n")
	b.WriteString(jythonPrelude)
	b.WriteString("\n\n")
	b.WriteString(body)
	b.WriteString("\n\ndb_run()\n")
	return b.String(), nil
}

// The session loop's protocol. drillbook writes a request as a header line
// "DRILLBOOK-REQUEST <id> <boundary>", then the script's text, then each
// argument, every block ended by a line "--<boundary>" and the last by
// "--<boundary>--" (the newline before a delimiter belongs to it, as in
// MIME multipart). The boundary is random and checked against the blocks,
// so a block may hold any text. The loop answers with what the script
// prints (its DRILLBOOK-RESULT line among it) and then "DRILLBOOK-END
// <id>". It prints "DRILLBOOK-READY" once, when wsadmin has run it (after
// connecting), and ends at the end of its input.
const (
	requestMarker = "DRILLBOOK-REQUEST "
	endMarker     = "DRILLBOOK-END "
	readyMarker   = "DRILLBOOK-READY"
)

// sessionLoopName names the session loop among the generated scripts
// (its golden file is testdata/scripts/session-loop.py).
const sessionLoopName = "session-loop"

// The loop runs each request in a fresh namespace holding only wsadmin's
// objects, so nothing one call defines is seen by the next. It runs the
// script with eval(compile(...)), which both Jython 2.1 and Python 3 parse
// (exec is a statement in one and a function in the other). A script that
// raises outside db_run (a syntax error) still gets a DRILLBOOK-RESULT
// failure line from the loop, and SystemExit is caught like the rest so
// that the session goes on. UNCONFIRMED on a real wsadmin: that a -f
// script's sys.stdin is the process's standard input (IBM documents no
// restriction, and scripts read it with raw_input, but no real run was
// seen here); a site where it is not sets was.no_session.
const jythonSessionLoop = `import sys


def db_read_request(boundary):
    blocks = []
    cur = []
    while 1:
        line = sys.stdin.readline()
        if line == '':
            return None
        s = line
        if s[-1:] == '\n':
            s = s[:-1]
        if s == '--' + boundary or s == '--' + boundary + '--':
            text = ''.join(cur)
            if text[-1:] == '\n':
                text = text[:-1]
            blocks.append(text)
            cur = []
            if s == '--' + boundary + '--':
                return blocks
        else:
            cur.append(line)


def db_namespace():
    ns = {'__name__': '__main__'}
    g = globals()
    for k in ['AdminControl', 'AdminConfig', 'AdminApp', 'AdminTask', 'Help']:
        if k in g.keys():
            ns[k] = g[k]
    return ns


def db_serve():
    print('DRILLBOOK-READY')
    sys.stdout.flush()
    while 1:
        line = sys.stdin.readline()
        if line == '':
            return
        parts = line.strip().split(' ')
        if len(parts) != 3 or parts[0] != 'DRILLBOOK-REQUEST':
            continue
        rid = parts[1]
        blocks = db_read_request(parts[2])
        if blocks is None:
            return
        sys.argv = ['drillbook-session', '--drillbook-args'] + blocks[1:]
        try:
            eval(compile(blocks[0], 'drillbook-request-' + rid, 'exec'), db_namespace())
        except:
            info = sys.exc_info()
            msg = str(info[1]).replace('\\', '\\\\').replace('"', '\\"').replace('\n', ' ')
            print('DRILLBOOK-RESULT {"error":"the script raised %s: %s","ok":"false"}' % (info[0], msg))
        sys.stdout.flush()
        sys.stderr.flush()
        print('DRILLBOOK-END ' + rid)
        sys.stdout.flush()


db_serve()
`

// GenerateSessionLoop returns the Jython text a wsadmin session is started
// with: the request loop. Like the scripts, it holds no value.
func GenerateSessionLoop() string {
	return "# drillbook wsadmin session: reads requests from standard input, answers each.\n" +
		"# Generated by drillbook.\n" + jythonSessionLoop
}

// generated returns a generated script's text by name, the session loop
// included.
func generated(name string) (string, error) {
	if name == sessionLoopName {
		return GenerateSessionLoop(), nil
	}
	return GenerateScript(name)
}
