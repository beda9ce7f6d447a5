package messagesight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

// op is one operation: its spec, how to plan it and how to run it.
type op struct {
	cfg  Config
	spec runbook.OpSpec
	plan func(cfg Config, a runbook.Args) runbook.Plan
	run  func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error)
	now  func() time.Time
}

// Spec returns the operation's declaration.
func (o *op) Spec() runbook.OpSpec { return o.spec }

// Plan resolves the request or copy the call would make; passwords show as ***.
func (o *op) Plan(call runbook.Call) (runbook.Plan, error) { return o.plan(o.cfg, call.Args), nil }

// Run carries the call out; ExitCode is -1 unless a process ran.
func (o *op) Run(ctx context.Context, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	if err := ctx.Err(); err != nil {
		return runbook.Result{ExitCode: -1}, err
	}
	res, err := o.run(ctx, o.cfg, call, out)
	if res.ExitCode == 0 && err != nil {
		res.ExitCode = -1
	}
	return res, err
}

// nodeArg is the node argument most operations take.
func nodeArg() runbook.ArgSpec {
	return runbook.ArgSpec{Name: "node", Kind: runbook.ArgString,
		Doc: "server to talk to: a name from messagesight.nodes; empty means the target's messagesight.url"}
}

func arg(name string, kind runbook.ArgKind, required bool, doc string, enum ...string) runbook.ArgSpec {
	return runbook.ArgSpec{Name: name, Kind: kind, Required: required, Doc: doc, Enum: enum}
}

func secretArg(name, doc string) runbook.ArgSpec {
	return runbook.ArgSpec{Name: name, Kind: runbook.ArgString, Required: true, Secret: true, Doc: doc}
}

// requestPlan shows an HTTP request with its body, passwords masked.
func requestPlan(cfg Config, node, method, path string, body map[string]any) runbook.Plan {
	u, host := cfg.planURL(node, path)
	line := method + " " + u
	if body != nil {
		line += " " + planBody(body)
	}
	return runbook.Plan{Host: host, Request: line}
}

// planBody renders a request body in a stable order with every password
// replaced by ***.
func planBody(body map[string]any) string {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		v := body[k]
		if strings.Contains(strings.ToLower(k), "password") {
			v = "***"
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

// Operations returns every messagesight operation bound to cfg. Spec works
// on a zero Config.
func Operations(cfg Config) []runbook.Operation {
	return operations(cfg, time.Now)
}

func operations(cfg Config, now func() time.Time) []runbook.Operation {
	ops := []*op{
		statusOp(), haStatusOp(), restartOp(), cleanStoreOp(), waitStateOp(),
		exportOp(), downloadOp(), uploadOp(), previewImportOp(), importOp(),
		backupStoreOp(), restoreStoreOp(), writeManifestOp(), checkManifestOp(),
	}
	out := make([]runbook.Operation, len(ops))
	for i, o := range ops {
		o.cfg, o.now = cfg, now
		out[i] = o
	}
	return out
}

// stateCode returns the server state a runbook's state name stands for, 0
// for an unknown name.
func stateCode(name string) int {
	switch name {
	case "production":
		return 1
	case "maintenance":
		return 9
	case "standby":
		return 10
	}
	return 0
}

func statusVars(st Status) map[string]string {
	return map[string]string{
		"name": st.Server.Name, "uid": st.Server.UID, "state": strconv.Itoa(st.Server.State),
		"state_description": st.Server.StateDescription, "status": st.Server.Status,
		"uptime_seconds": strconv.FormatInt(st.Server.UpTimeSeconds, 10),
		"error_code":     strconv.Itoa(st.Server.ErrorCode), "ha_enabled": strconv.FormatBool(st.HighAvailability.Enabled),
		"ha_role": st.HighAvailability.NewRole, "ha_sync_nodes": strconv.Itoa(st.HighAvailability.SyncNodes),
		"ha_active_nodes": strconv.Itoa(st.HighAvailability.ActiveNodes),
	}
}

func describeState(label string, st Status) string {
	s := fmt.Sprintf("%s (%s) is %s, state %d", label, st.Server.Name, st.Server.StateDescription, st.Server.State)
	if st.HighAvailability.Enabled {
		s += fmt.Sprintf(", HA %s with %d of %d nodes in sync", st.HighAvailability.NewRole, st.HighAvailability.SyncNodes, st.HighAvailability.ActiveNodes)
	}
	if st.Server.ErrorCode != 0 {
		s += fmt.Sprintf(", ErrorCode %d %q", st.Server.ErrorCode, st.Server.ErrorMessage)
	}
	return s
}

func statusEvidence(st Status) string {
	return fmt.Sprintf(`"State": %d, "StateDescription": %q, "UpTimeSeconds": %d, "ErrorCode": %d`, st.Server.State, st.Server.StateDescription, st.Server.UpTimeSeconds, st.Server.ErrorCode)
}

func statusOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.status", ReadOnly: true, Summary: "read the server's state (1 production, 9 maintenance, 10 standby) and HA role",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("expect_state", runbook.ArgString, false, "fail unless the server is in this state", "production", "maintenance", "standby"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			return requestPlan(cfg, a.String("node"), "GET", "/ima/v1/service/status", nil)
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			st, _, err := c.status(ctx)
			if err != nil {
				return runbook.Result{}, err
			}
			line := describeState(c.label, st)
			out.Line(runbook.Info, line)
			res := runbook.Result{ExitCode: -1, Summary: line, Vars: statusVars(st), Evidence: []string{statusEvidence(st)}}
			if want := call.Args.String("expect_state"); want != "" && st.Server.State != stateCode(want) {
				return res, fmt.Errorf("messagesight %s: the server is in state %d (%s), not %s (%d): bring it to %s first",
					c.label, st.Server.State, st.Server.StateDescription, want, stateCode(want), want)
			}
			if st.Server.ErrorCode != 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("ErrorCode %d: %s", st.Server.ErrorCode, st.Server.ErrorMessage))
			}
			return res, nil
		},
	}
}

func haStatusOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.ha-status", Summary: "read the HA role, active and synchronised nodes, and sync progress",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("expect_role", runbook.ArgString, false, "fail unless the node has this role", "PRIMARY", "STANDBY"),
				arg("expect_sync_nodes", runbook.ArgInt, false, "fail unless this many nodes are in sync"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			return requestPlan(cfg, a.String("node"), "GET", "/ima/v1/service/status/HighAvailability", nil)
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			r, err := c.do(ctx, http.MethodGet, "/ima/v1/service/status/HighAvailability", nil)
			if err != nil {
				return runbook.Result{}, err
			}
			var st Status
			if err := json.Unmarshal(r.body, &st); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight %s: HA status is not JSON: %w", c.label, err)
			}
			ha := st.HighAvailability
			line := fmt.Sprintf("%s: HA %s, role %s (was %s), %d active, %d in sync", c.label, ha.Status, ha.NewRole, ha.OldRole, ha.ActiveNodes, ha.SyncNodes)
			if ha.PctSyncCompletion >= 0 {
				line += fmt.Sprintf(", sync %d%% done", ha.PctSyncCompletion)
			}
			out.Line(runbook.Info, line)
			res := runbook.Result{ExitCode: -1, Summary: line, Vars: statusVars(st),
				Evidence: []string{fmt.Sprintf(`"NewRole": %q, "ActiveNodes": %d, "SyncNodes": %d, "PctSyncCompletion": %d`, ha.NewRole, ha.ActiveNodes, ha.SyncNodes, ha.PctSyncCompletion)}}
			if !ha.Enabled {
				return res, fmt.Errorf("messagesight %s: HA is not enabled on this server: run the single-server variant", c.label)
			}
			if want := call.Args.String("expect_role"); want != "" && ha.NewRole != want {
				return res, fmt.Errorf("messagesight %s: HA role is %s, not %s: pick the node that is %s", c.label, ha.NewRole, want, want)
			}
			if want := call.Args.Int("expect_sync_nodes", 0); want > 0 && int64(ha.SyncNodes) != want {
				return res, fmt.Errorf("messagesight %s: %d node(s) in sync, not %d: wait until the pair is in sync", c.label, ha.SyncNodes, want)
			}
			return res, nil
		},
	}
}

func restartBody(a runbook.Args) map[string]any {
	b := map[string]any{"Service": "Server"}
	if m := a.String("maintenance"); m != "" {
		b["Maintenance"] = m
	}
	return b
}

func restartOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.restart", Summary: "restart the server, entering (start) or leaving (stop) maintenance mode",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("maintenance", runbook.ArgString, false, "start: come back in maintenance mode; stop: come back in production; empty keeps the mode", "start", "stop"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			return requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/restart", restartBody(a))
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			return postRestart(ctx, cfg, call, out, restartBody(call.Args))
		},
	}
}

func postRestart(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output, body map[string]any) (runbook.Result, error) {
	c, err := newClient(cfg, call.Args.String("node"))
	if err != nil {
		return runbook.Result{}, err
	}
	out.Line(runbook.Info, "POST /ima/v1/service/restart "+planBody(body))
	env, r, err := c.post(ctx, "/ima/v1/service/restart", body)
	if err != nil {
		return runbook.Result{}, err
	}
	ev := strings.TrimSpace(string(r.body))
	out.Line(runbook.Info, ev)
	return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("%s: restart accepted (%s); the server goes down and comes back", c.label, env.Code),
		Evidence: []string{ev}}, nil
}

func cleanStoreOp() *op {
	body := map[string]any{"Service": "Server", "CleanStore": true}
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.clean-store", Destructive: true,
			Summary: "restart with CleanStore: deletes every persistent message, subscription and client state; keeps the configuration",
			Args:    []runbook.ArgSpec{nodeArg()}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/restart", body)
			p.Detail = "deletes all persistent data (messages, subscriptions, client states) on this server"
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			return postRestart(ctx, cfg, call, out, body)
		},
	}
}

func waitStateOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.wait-state", Summary: "poll status until the server is in a state (through the restart's refused connections)",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("state", runbook.ArgString, true, "state to wait for", "production", "maintenance", "standby"),
				arg("role", runbook.ArgString, false, "HA role to wait for as well", "PRIMARY", "STANDBY"),
				arg("sync_nodes", runbook.ArgInt, false, "number of HA nodes in sync to wait for"),
				arg("timeout", runbook.ArgDuration, false, "give up after this long; default 5m"),
				arg("every", runbook.ArgDuration, false, "polling interval; default 2s"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "GET", "/ima/v1/service/status", nil)
			p.Request += fmt.Sprintf(" polled (at most every %s) until State %d (%s)", a.Duration("every", 2*time.Second), stateCode(a.String("state")), a.String("state"))
			if r := a.String("role"); r != "" {
				p.Request += " and role " + r
			}
			p.Request += fmt.Sprintf(", timeout %s", a.Duration("timeout", 5*time.Minute))
			return p
		},
		run: runWaitState,
	}
}

func runWaitState(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	c, err := newClient(cfg, call.Args.String("node"))
	if err != nil {
		return runbook.Result{}, err
	}
	want := stateCode(call.Args.String("state"))
	if want == 0 {
		return runbook.Result{}, fmt.Errorf("messagesight: wait-state: state %q is not production, maintenance or standby", call.Args.String("state"))
	}
	role := call.Args.String("role")
	syncNodes := int(call.Args.Int("sync_nodes", 0))
	timeout := call.Args.Duration("timeout", 5*time.Minute)
	every := call.Args.Duration("every", 2*time.Second)
	if every <= 0 {
		every = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	pause := min(250*time.Millisecond, every)
	last := ""
	lastErrorCode := 0
	tell := func(s string) {
		if s != last {
			out.Line(runbook.Info, fmt.Sprintf("%s +%s: %s", c.label, time.Since(start).Round(100*time.Millisecond), s))
			last = s
		}
	}
	for {
		st, _, err := c.status(ctx)
		var apiErr *APIError
		switch {
		case err == nil:
			lastErrorCode = st.Server.ErrorCode
			line := describeState(c.label, st)
			tell(line)
			if st.HighAvailability.NewRole == "UNSYNC_ERROR" {
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: HA synchronisation failed (UNSYNC_ERROR, reason %d %s): check both nodes' HA configuration and clean the standby's store", c.label, st.HighAvailability.ReasonCode, st.HighAvailability.ReasonString)
			}
			if st.Server.State == want && (role == "" || st.HighAvailability.NewRole == role) &&
				(syncNodes == 0 || st.HighAvailability.SyncNodes >= syncNodes) {
				return runbook.Result{ExitCode: -1, Summary: line + fmt.Sprintf(" after %s", time.Since(start).Round(100*time.Millisecond)),
					Vars: statusVars(st), Evidence: []string{statusEvidence(st)}}, nil
			}
		case errors.As(err, &apiErr):
			return runbook.Result{}, err // 401 and friends will not go away by waiting
		case errors.Is(err, ErrUnreachable):
			tell("not answering (restarting)")
		case ctx.Err() != nil:
		default:
			return runbook.Result{}, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				hint := ""
				if h := Explain(fmt.Sprintf("CWLNA%04d", lastErrorCode), 0); lastErrorCode != 0 && h != "" {
					hint = " (" + h + ")"
				}
				return runbook.Result{Summary: last}, fmt.Errorf("messagesight %s: not in state %d (%s) after %s; last seen: %s%s: %w",
					c.label, want, call.Args.String("state"), timeout, last, hint, context.DeadlineExceeded)
			}
			return runbook.Result{Summary: last}, ctx.Err()
		case <-time.After(pause):
		}
		// Poll quickly at first (a restart often takes under a second),
		// then settle at the interval asked for.
		pause = min(2*pause, every)
	}
}

func exportBody(a runbook.Args) map[string]any {
	return map[string]any{"FileName": a.String("file"), "Password": a.String("password")}
}

func exportOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.export-config", Summary: "export the configuration to an encrypted file in the server's userfiles",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("file", runbook.ArgString, false, "file name; empty means imaBackup.<ServerUID>.<HHMMSS-MMDDYYYY>"),
				secretArg("password", "password that protects the file; needed to import it"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			b := exportBody(a)
			if a.String("file") == "" {
				b["FileName"] = "imaBackup.<ServerUID>.<HHMMSS-MMDDYYYY>"
			}
			return requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/export", b)
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			pw := call.Args.String("password")
			if pw == "" {
				return runbook.Result{}, errors.New("messagesight: export-config: the password is empty: give the backup password parameter")
			}
			if pw != strings.TrimSpace(pw) {
				return runbook.Result{}, errors.New("messagesight: export-config: the password has leading or trailing spaces, which the server refuses: choose another")
			}
			c.secrets = appendSecret(c.secrets, pw)
			name := call.Args.String("file")
			if name == "" {
				// The server picks this name itself when none is given, but does
				// not say which: the adapter names it the same way so the next
				// steps know the file.
				st, _, err := c.status(ctx)
				if err != nil {
					return runbook.Result{}, err
				}
				name = "imaBackup." + st.Server.UID + "." + time.Now().Format("150405-01022006")
			}
			body := map[string]any{"FileName": name, "Password": pw}
			out.Line(runbook.Info, "POST /ima/v1/service/export "+planBody(body))
			_, r, err := c.post(ctx, "/ima/v1/service/export", body)
			if err != nil {
				return runbook.Result{}, err
			}
			ev := strings.TrimSpace(string(r.body))
			out.Line(runbook.Info, ev)
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("%s: configuration exported to userfiles/%s", c.label, name),
				Vars: map[string]string{"file": name}, Evidence: []string{ev}}, nil
		},
	}
}

func downloadOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.download", Summary: "download a file from the server's userfiles to a local path",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("file", runbook.ArgString, true, "name in userfiles"),
				arg("dest", runbook.ArgString, true, "local file, or a directory to put it in"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "GET", "/ima/v1/service/file/"+url.PathEscape(a.String("file")), nil)
			p.Request += " > " + a.String("dest")
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			name := call.Args.String("file")
			dest := call.Args.String("dest")
			if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
				dest = filepath.Join(dest, name)
			}
			r, err := c.do(ctx, http.MethodGet, "/ima/v1/service/file/"+url.PathEscape(name), nil)
			if err != nil {
				return runbook.Result{}, err
			}
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: download: %w", err)
			}
			if err := file.WriteAtomic(dest, r.body, 0o600); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: download to %s: %w", dest, err)
			}
			fd, err := fileDigest(ctx, dest)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: download: %w", err)
			}
			sum, n := fd.SHA256, fd.Size
			line := fmt.Sprintf("downloaded %s from %s to %s (%d bytes, sha256 %s)", name, c.label, dest, n, sum)
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line},
				Vars: map[string]string{"path": dest, "size": strconv.FormatInt(n, 10), "sha256": sum}}, nil
		},
	}
}

func uploadOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.upload", Summary: "upload a local file to the server's userfiles",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("src", runbook.ArgString, true, "local file"),
				arg("file", runbook.ArgString, false, "name in userfiles; empty means the local file's name"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			name := a.String("file")
			if name == "" {
				name = filepath.Base(a.String("src"))
			}
			p := requestPlan(cfg, a.String("node"), "PUT", "/ima/v1/file/"+url.PathEscape(name), nil)
			p.Request += " < " + a.String("src")
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			src := call.Args.String("src")
			name := call.Args.String("file")
			if name == "" {
				name = filepath.Base(src)
			}
			data, err := os.ReadFile(src)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: upload: %w", err)
			}
			if len(data) == 0 {
				return runbook.Result{}, fmt.Errorf("messagesight: upload: %s is empty: the server refuses empty files; check the backup", src)
			}
			r, err := c.do(ctx, http.MethodPut, "/ima/v1/file/"+url.PathEscape(name), data)
			if err != nil {
				return runbook.Result{}, err
			}
			ev := strings.TrimSpace(string(r.body))
			line := fmt.Sprintf("uploaded %s to %s userfiles/%s (%d bytes)", src, c.label, name, len(data))
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{ev},
				Vars: map[string]string{"file": name, "size": strconv.Itoa(len(data))}}, nil
		},
	}
}

func importBody(a runbook.Args, apply bool) map[string]any {
	disable := true
	if a.Has("disable_objects") {
		disable = a.Bool("disable_objects")
	}
	return map[string]any{"FileName": a.String("file"), "Password": a.String("password"),
		"DisableObjects": disable, "ApplyConfig": apply}
}

// importArgs are the arguments of preview-import and import-config.
func importArgs() []runbook.ArgSpec {
	return []runbook.ArgSpec{nodeArg(),
		arg("file", runbook.ArgString, true, "name of the backup in the server's userfiles (upload it first)"),
		secretArg("password", "password the configuration was exported with"),
		arg("disable_objects", runbook.ArgBool, false, "disable endpoints, HA, cluster membership and syslog of the import (another server); default true"),
	}
}

// preview asks the server to decode the backup and reports what it holds.
func preview(ctx context.Context, c *client, a runbook.Args, out runbook.Output) (string, error) {
	body := importBody(a, false)
	if a.String("password") == "" {
		return "", errors.New("messagesight: import: the password is empty: give the backup password parameter")
	}
	c.secrets = appendSecret(c.secrets, a.String("password"))
	out.Line(runbook.Info, "POST /ima/v1/service/import "+planBody(body))
	_, r, err := c.post(ctx, "/ima/v1/service/import", body)
	if err != nil {
		return "", err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return "", fmt.Errorf("messagesight %s: import preview is not JSON: %w", c.label, err)
	}
	// Only object types and names are shown: the document may hold user
	// entries and other values that have no place in a journal.
	var kinds []string
	for k, v := range doc {
		if k == "Version" {
			continue
		}
		var objs map[string]json.RawMessage
		if json.Unmarshal(v, &objs) == nil && len(objs) > 0 && allObjects(objs) {
			names := make([]string, 0, len(objs))
			for n := range objs {
				names = append(names, n)
			}
			sort.Strings(names)
			kinds = append(kinds, fmt.Sprintf("%s: %s", k, strings.Join(names, ", ")))
		} else {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		out.Line(runbook.Info, "  "+k)
	}
	return fmt.Sprintf("backup %s holds %d configuration object types", a.String("file"), len(kinds)), nil
}

// allObjects reports whether every value is a JSON object: a map of named
// objects (Endpoint, Queue) rather than a singleton (Syslog).
func allObjects(m map[string]json.RawMessage) bool {
	for _, v := range m {
		if t := strings.TrimSpace(string(v)); !strings.HasPrefix(t, "{") {
			return false
		}
	}
	return true
}

func previewImportOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.preview-import", Summary: "decode a configuration backup and show what it holds, changing nothing",
			Args: importArgs()},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			return requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/import", importBody(a, false))
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			sum, err := preview(ctx, c, call.Args, out)
			if err != nil {
				return runbook.Result{}, err
			}
			return runbook.Result{ExitCode: -1, Summary: c.label + ": " + sum, Evidence: []string{"HTTP 200 import preview"}}, nil
		},
	}
}

func importOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.import-config", Destructive: true,
			Summary: "preview, then apply a configuration backup (replaces the configuration; the server stays in maintenance until restarted)",
			Args:    importArgs()},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/import", importBody(a, true))
			p.Detail = "preview first (ApplyConfig false), then apply; replaces the server's configuration"
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			c, err := newClient(cfg, call.Args.String("node"))
			if err != nil {
				return runbook.Result{}, err
			}
			if _, err := preview(ctx, c, call.Args, out); err != nil {
				return runbook.Result{}, err
			}
			body := importBody(call.Args, true)
			out.Line(runbook.Info, "POST /ima/v1/service/import "+planBody(body))
			_, r, err := c.post(ctx, "/ima/v1/service/import", body)
			if err != nil {
				return runbook.Result{}, err
			}
			ev := strings.TrimSpace(string(r.body))
			out.Line(runbook.Info, ev)
			return runbook.Result{ExitCode: -1, Summary: fmt.Sprintf("%s: configuration from %s applied; the server is in maintenance until restarted", c.label, call.Args.String("file")),
				Evidence: []string{ev}}, nil
		},
	}
}

// requireMaintenance refuses to touch the store of a server that is not in
// maintenance mode (reference §8.2: copy only when State is 9).
func requireMaintenance(ctx context.Context, cfg Config, a runbook.Args, out runbook.Output) error {
	if a.String("node") == "" && cfg.URL == "" {
		out.Line(runbook.Info, "no messagesight.url on this target: maintenance mode not checked")
		return nil
	}
	c, err := newClient(cfg, a.String("node"))
	if err != nil {
		return err
	}
	st, _, err := c.status(ctx)
	if err != nil {
		return err
	}
	out.Line(runbook.Info, describeState(c.label, st))
	if st.Server.State != 9 {
		return fmt.Errorf("messagesight %s: the server is in state %d (%s), not maintenance (9): the store may only be copied in maintenance mode; restart it with maintenance start first",
			c.label, st.Server.State, st.Server.StateDescription)
	}
	return nil
}

func storeArgs(srcDoc, dstDoc string) []runbook.ArgSpec {
	return []runbook.ArgSpec{
		{Name: "node", Kind: runbook.ArgString, Doc: "server whose maintenance mode is checked first (a name from messagesight.nodes; empty means messagesight.url)"},
		arg("src", runbook.ArgString, true, srcDoc),
		arg("dest", runbook.ArgString, true, dstDoc),
	}
}

func copyPlan(cfg Config, a runbook.Args, verb string) runbook.Plan {
	if len(cfg.StoreCopy) > 0 {
		return runbook.Plan{Host: "localhost", Argv: expandArgv(cfg.StoreCopy, a.String("src"), a.String("dest"))}
	}
	return runbook.Plan{Host: "localhost", Detail: fmt.Sprintf("%s %s -> %s (after checking the server is in maintenance, State 9)", verb, a.String("src"), a.String("dest"))}
}

// copyStore copies src to dest with the target's command or locally, and
// reports the copy's digest when dest is readable here.
func copyStore(ctx context.Context, cfg Config, src, dest string, out runbook.Output) (TreeDigest, int, error) {
	if len(cfg.StoreCopy) > 0 {
		argv := expandArgv(cfg.StoreCopy, src, dest)
		oc, err := proc.Run(ctx, proc.Spec{Argv: argv, Out: out})
		if err != nil {
			return TreeDigest{}, oc.ExitCode, fmt.Errorf("messagesight: store copy command: %w: check messagesight.store_copy in targets.yaml", err)
		}
		d, _ := DigestTree(ctx, dest) // the copy may be on another machine
		return d, oc.ExitCode, nil
	}
	d, err := copyTree(ctx, src, dest, out)
	if err != nil {
		return TreeDigest{}, -1, fmt.Errorf("messagesight: %w", err)
	}
	return d, -1, nil
}

func digestVars(d TreeDigest, path string) map[string]string {
	return map[string]string{"path": path, "files": strconv.Itoa(d.Files), "bytes": strconv.FormatInt(d.Bytes, 10), "sha256": d.SHA256}
}

func backupStoreOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.backup-store", Summary: "copy the store directory (server in maintenance mode) to a new backup directory",
			Args: storeArgs("the server's store directory (<DATA>/store)", "new directory for the copy (on another machine's mount, or a store_copy command's destination)")},
		plan: func(cfg Config, a runbook.Args) runbook.Plan { return copyPlan(cfg, a, "copy store") },
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			if err := requireMaintenance(ctx, cfg, call.Args, out); err != nil {
				return runbook.Result{}, err
			}
			src, dest := call.Args.String("src"), call.Args.String("dest")
			if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
				return runbook.Result{}, fmt.Errorf("messagesight: store directory %s is not a directory: give the server's <DATA>/store", src)
			}
			before, err := DigestTree(ctx, src)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: read store %s: %w", src, err)
			}
			d, code, err := copyStore(ctx, cfg, src, dest, out)
			if err != nil {
				return runbook.Result{ExitCode: code}, err
			}
			if d.SHA256 != "" && d != before {
				return runbook.Result{ExitCode: code}, fmt.Errorf("messagesight: the copy in %s (%d files, sha256 %s) differs from the store (%d files, sha256 %s): was the server really in maintenance mode? copy again",
					dest, d.Files, short(d.SHA256), before.Files, short(before.SHA256))
			}
			line := fmt.Sprintf("store copied to %s: %d files, %d bytes, sha256 %s", dest, before.Files, before.Bytes, before.SHA256)
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: code, Summary: line, Evidence: []string{line}, Vars: digestVars(before, dest)}, nil
		},
	}
}

func restoreStoreOp() *op {
	args := append(storeArgs("the store backup directory", "the server's store directory (<DATA>/store), replaced"),
		arg("sha256", runbook.ArgString, false, "refuse unless the backup's tree digest is this (from the manifest)"))
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.restore-store", Destructive: true,
			Summary: "replace the server's store directory with a store backup (server in maintenance mode)",
			Args:    args},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := copyPlan(cfg, a, "replace store with")
			if p.Detail != "" {
				p.Detail += "; the current store is removed"
			}
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			if err := requireMaintenance(ctx, cfg, call.Args, out); err != nil {
				return runbook.Result{}, err
			}
			src, dest := call.Args.String("src"), call.Args.String("dest")
			want, err := DigestTree(ctx, src)
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: read store backup %s: %w", src, err)
			}
			if sum := call.Args.String("sha256"); sum != "" && sum != want.SHA256 {
				return runbook.Result{}, fmt.Errorf("messagesight: %w: store backup %s has sha256 %s, the manifest says %s: use the store backup taken with this configuration backup",
					ErrMismatch, src, short(want.SHA256), short(sum))
			}
			// Copy beside the store first, then swap, so a failed copy leaves
			// the old store in place.
			tmp := filepath.Clean(dest) + ".restoring"
			if err := os.RemoveAll(tmp); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			got, code, err := copyStore(ctx, cfg, src, tmp, out)
			if err != nil {
				os.RemoveAll(tmp)
				return runbook.Result{ExitCode: code}, err
			}
			if got.SHA256 != "" && got != want {
				os.RemoveAll(tmp)
				return runbook.Result{ExitCode: code}, fmt.Errorf("messagesight: the restored copy differs from the backup %s: restore again", src)
			}
			old := filepath.Clean(dest) + ".replaced"
			if err := os.RemoveAll(old); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			if err := os.Rename(dest, old); err != nil && !os.IsNotExist(err) {
				return runbook.Result{}, fmt.Errorf("messagesight: move the old store aside: %w", err)
			}
			if err := os.Rename(tmp, dest); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: put the restored store in place: %w (the old store is in %s)", err, old)
			}
			if err := os.RemoveAll(old); err != nil {
				out.Line(runbook.Info, "could not remove the replaced store "+old+": "+err.Error())
			}
			line := fmt.Sprintf("store %s restored from %s: %d files, %d bytes, sha256 %s", dest, src, want.Files, want.Bytes, want.SHA256)
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: code, Summary: line, Evidence: []string{line}, Vars: digestVars(want, dest)}, nil
		},
	}
}

func writeManifestOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.write-manifest", Summary: "write the manifest binding a configuration backup to its store backup (names, sizes, SHA-256, time)",
			Args: []runbook.ArgSpec{
				arg("manifest", runbook.ArgString, true, "manifest file to write"),
				arg("config", runbook.ArgString, true, "the downloaded configuration backup"),
				arg("store", runbook.ArgString, false, "the store backup directory; empty for a configuration-only backup"),
				arg("server", runbook.ArgString, false, "the server the backup was taken from"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := fmt.Sprintf("write %s binding %s", a.String("manifest"), a.String("config"))
			if s := a.String("store"); s != "" {
				d += " to store backup " + s
			}
			return runbook.Plan{Host: "localhost", Detail: d}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			o := call.Args
			m, err := WriteManifest(ctx, o.String("manifest"), o.String("server"), o.String("config"), o.String("store"), time.Now())
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			vars := map[string]string{"path": o.String("manifest"), "config_sha256": m.Config.SHA256, "store_sha256": ""}
			line := fmt.Sprintf("manifest %s: config %s (%d bytes, sha256 %s)", o.String("manifest"), m.Config.Name, m.Config.Size, m.Config.SHA256)
			if m.Store != nil {
				vars["store_sha256"] = m.Store.SHA256
				line += fmt.Sprintf(", store %s (%d files, %d bytes, sha256 %s)", m.Store.Name, m.Store.Files, m.Store.Bytes, m.Store.SHA256)
			}
			out.Line(runbook.Info, line)
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: vars}, nil
		},
	}
}

func checkManifestOp() *op {
	return &op{
		spec: runbook.OpSpec{Name: "messagesight.check-manifest", Summary: "refuse a configuration or store backup that is not the one its manifest names",
			Args: []runbook.ArgSpec{
				arg("manifest", runbook.ArgString, true, "manifest written with the backup"),
				arg("config", runbook.ArgString, true, "the configuration backup to restore"),
				arg("store", runbook.ArgString, false, "the store backup to restore; empty when the store will be cleaned"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			d := fmt.Sprintf("check %s against %s", a.String("config"), a.String("manifest"))
			if s := a.String("store"); s != "" {
				d += " and store backup " + s
			}
			return runbook.Plan{Host: "localhost", Detail: d}
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			o := call.Args
			m, err := ReadManifest(o.String("manifest"))
			if err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: %w", err)
			}
			if err := VerifyManifest(ctx, m, o.String("config"), o.String("store")); err != nil {
				out.Line(runbook.Info, "REFUSED: "+err.Error())
				return runbook.Result{Summary: "backup refused: it does not match its manifest"}, fmt.Errorf("messagesight: %w", err)
			}
			line := fmt.Sprintf("backup of %s taken %s matches manifest: config %s", m.Server, m.Created.Format(time.RFC3339), m.Config.Name)
			if o.String("store") != "" {
				line += fmt.Sprintf(", store %s (%d files, sha256 %s)", m.Store.Name, m.Store.Files, m.Store.SHA256)
			}
			out.Line(runbook.Info, line)
			vars := map[string]string{"server": m.Server, "created": m.Created.Format(time.RFC3339), "has_store": strconv.FormatBool(m.Store != nil), "store_sha256": ""}
			if m.Store != nil {
				vars["store_sha256"] = m.Store.SHA256
			}
			return runbook.Result{ExitCode: -1, Summary: line, Evidence: []string{line}, Vars: vars}, nil
		},
	}
}
