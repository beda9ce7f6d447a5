package messagesight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// op is one operation: its spec, how to plan it and how to run it.
type op struct {
	cfg  Config
	spec runbook.OpSpec
	// readOnly marks an operation that changes nothing in the estate;
	// object names the argument a destructive operation acts on. They go
	// into the spec once runbook.OpSpec has ReadOnly and Object.
	readOnly bool
	object   string
	plan     func(cfg Config, a runbook.Args) runbook.Plan
	run      func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error)
	now      func() time.Time
}

// Spec returns the operation's declaration.
func (o *op) Spec() runbook.OpSpec { return o.spec }

// Plan resolves the request or copy the call would make; passwords show as ***.
func (o *op) Plan(call runbook.Call) (runbook.Plan, error) {
	p := o.plan(o.cfg, call.Args)
	if o.object == "node" {
		if o.spec.Name == "messagesight.restore-store" {
			p.Object = storeObject(o.cfg, call.Args.String("node"))
		} else {
			p.Object = objectOf(o.cfg, call.Args.String("node"))
		}
	}
	return p, nil
}

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
		b.Write(plainJSON(k))
		b.WriteByte(':')
		b.Write(plainJSON(v))
	}
	b.WriteByte('}')
	return b.String()
}

// plainJSON encodes v as JSON without escaping <, > and & (a plan shows
// "imaBackup.<ServerUID>", not "\u003cServerUID\u003e").
func plainJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// Operations returns every messagesight operation bound to cfg. Spec works
// on a zero Config.
func Operations(cfg Config) []runbook.Operation {
	return operations(cfg, time.Now)
}

func operations(cfg Config, now func() time.Time) []runbook.Operation {
	ops := []*op{
		statusOp(), haStatusOp(), haPairOp(), restartOp(), cleanStoreOp(), waitStateOp(),
		exportOp(), downloadOp(), uploadOp(), previewImportOp(), importOp(),
		checkStoreOp(), checkBackupRootOp(), newBackupSetOp(), backupStoreOp(), sealBackupSetOp(),
		findBackupSetOp(), restoreStoreOp(),
	}
	out := make([]runbook.Operation, len(ops))
	for i, o := range ops {
		o.spec.ReadOnly, o.spec.Object = o.readOnly, o.object
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
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.status", Summary: "read the server's state (1 production, 9 maintenance, 10 standby) and HA role",
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
	return &op{readOnly: true,
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
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			if isDir(ctx, bh, dest) {
				dest = filepath.Join(dest, name)
			}
			r, err := c.do(ctx, http.MethodGet, "/ima/v1/service/file/"+url.PathEscape(name), nil)
			if err != nil {
				return runbook.Result{}, err
			}
			if err := bh.MkdirAll(ctx, filepath.Dir(dest), 0o755); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: download: %w", err)
			}
			if err := bh.WriteFile(ctx, dest, r.body, 0o600); err != nil {
				return runbook.Result{}, fmt.Errorf("messagesight: download to %s on %s: %w", dest, bh.Name(), err)
			}
			fd, err := fileDigest(ctx, bh, dest)
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
			bh, err := cfg.backupHost()
			if err != nil {
				return runbook.Result{}, err
			}
			data, err := bh.ReadFile(ctx, src, 0)
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
	return &op{object: "node",
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
