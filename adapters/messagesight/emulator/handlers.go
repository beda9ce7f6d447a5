package emulator

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Product names the server's messages substitute for their placeholders
// (reference: IBM builds resolve ${IMA_PRODUCTNAME_SHORT},
// ${IMA_SVR_COMPONENT_NAME} and the full name to these).
const (
	ProductShort  = "Message Gateway"
	ComponentName = "IBM WIoTP Message Gateway"
	ProductFull   = "IBM IoT MessageSight"
	// Version is the build string status reports.
	Version = "5.0 20180820-0334"
)

// Message texts of the codes the emulator answers with (reference §12, §6.4).
const (
	msgOK           = "The requested configuration change has completed successfully."
	msgNotImpl      = "The function is not implemented"
	msgNotFound     = "The requested item is not found."
	msgRestartNeeds = "The " + ComponentName + " must be restarted to complete the configuration changes."
)

// reply is a response the handler decided on.
type reply struct {
	status int
	body   []byte
	header map[string]string
}

// envelope renders the Code/Message document every success and error uses:
// `{ "Version":"v1","Code":"CWLNAnnnn","Message":"<text>" }` and a newline,
// spaces exactly as the server writes them (reference §1.2).
func envelope(status int, code, message string) reply {
	var m bytes.Buffer
	enc := json.NewEncoder(&m)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(message)
	text := bytes.TrimRight(m.Bytes(), "\n")
	body := fmt.Sprintf(`{ "Version":"v1","Code":"%s","Message":%s }`+"\n", code, text)
	return reply{status: status, body: []byte(body)}
}

func ok() reply { return envelope(200, "CWLNA6011", msgOK) }

func badCall(what string) reply {
	return envelope(400, "CWLNA0137", "The REST API call: "+what+" is not valid.")
}

func badArg(name string) reply {
	return envelope(400, "CWLNA0115", "An argument is not valid: Name: "+name+".")
}

func badRequired(prop, value string) reply {
	return envelope(400, "CWLNA0134", "The value specified for the required property is invalid or null. Property: "+prop+" Value: "+value+".")
}

func badType(obj, typ string) reply {
	return envelope(400, "CWLNA0127", "The property type is not valid. Object: "+obj+"  Name: null  Property: null  Type: "+typ)
}

func badValue(prop, value string) reply {
	return envelope(400, "CWLNA0112", `The property value is not valid: Property: `+prop+` Value: "`+value+`".`)
}

func parseFailed(body []byte) reply {
	// The RC the server prints here is not documented; 1 stands in for it.
	return envelope(400, "CWLNA6001", "Failed to parse administrative request "+string(body)+": RC=1.")
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, "Bad request", http.StatusBadRequest)
		return
	}
	user, rep := s.authorize(r)
	if rep.status == 0 {
		s.mu.Lock()
		s.advanceLocked(time.Now())
		rep = s.route(r.Method, r.URL.Path, body)
		s.mu.Unlock()
	}
	h := w.Header()
	ct := "text/plain;charset=utf-8"
	if len(rep.body) > 0 && (rep.body[0] == '{' || rep.body[0] == '[') {
		ct = "application/json"
	}
	h.Set("Content-Type", ct)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache")
	h.Set("Keep-Alive", "timeout=60")
	h.Set("Server", ProductFull)
	for k, v := range rep.header {
		h.Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)

	logBody := maskJSON(body)
	if r.Method == http.MethodPut {
		logBody = fmt.Sprintf("<%d bytes>", len(body))
	}
	code := ""
	var env struct{ Code string }
	if json.Unmarshal(rep.body, &env) == nil && env.Code != "" {
		code = " " + env.Code
	}
	if user == "" {
		user = "-"
	}
	s.logLine(fmt.Sprintf("%s user=%s %s %s %s -> %d%s", r.RemoteAddr, user, r.Method, r.URL.Path, logBody, rep.status, code))
}

// authorize checks Basic credentials when the server asks for them
// (reference §2.3): none gives 401 "Not authorized", wrong ones 401 "Bad
// request", both with a WWW-Authenticate challenge. It returns the user
// name for the request log.
func (s *Server) authorize(r *http.Request) (string, reply) {
	if s.opts.User == "" {
		return "", reply{}
	}
	challenge := map[string]string{"WWW-Authenticate": `Basic realm="` + s.Name() + `"`}
	u, p, has := r.BasicAuth()
	if !has {
		return "", reply{status: 401, body: []byte("Not authorized"), header: challenge}
	}
	if subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.User)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) != 1 {
		return u, reply{status: 401, body: []byte("Bad request"), header: challenge}
	}
	return u, reply{}
}

// route dispatches /ima/<version>/<domain>/... (reference §1.1).
func (s *Server) route(method, path string, body []byte) reply {
	rest, found := strings.CutPrefix(path, "/ima/")
	if !found {
		return notExist()
	}
	segs := strings.SplitN(rest, "/", 2)
	if strings.HasPrefix(segs[0], "v") {
		if len(segs) < 2 {
			return notExist()
		}
		segs = strings.SplitN(segs[1], "/", 2)
	}
	domain, sub := segs[0], ""
	if len(segs) == 2 {
		sub = segs[1]
	}
	allowed := map[string][]string{
		"configuration": {"GET", "POST", "DELETE"},
		"service":       {"GET", "POST", "DELETE"},
		"monitor":       {"GET"},
		"file":          {"PUT"},
	}
	methods, known := allowed[domain]
	if !known {
		return notExist()
	}
	okMethod := false
	for _, m := range methods {
		okMethod = okMethod || m == method
	}
	if !okMethod {
		return badCall(method)
	}
	switch domain {
	case "service":
		return s.service(method, path, sub, body)
	case "file":
		return s.upload(sub, body)
	case "configuration":
		return s.configuration(method, path, sub, body)
	}
	// The monitoring domain is outside what the emulator models.
	return envelope(501, "CWLNA0102", msgNotImpl)
}

// notExist is the transport's 404 for a path outside the known domains. Its
// body has no Version, as quoted in reference §1.1.
func notExist() reply {
	return reply{status: 404, body: []byte(`{ "Code":"CWLNA0404", "Message":"The HTTP request is for an object which does not exist." }`)}
}

func (s *Server) service(method, path, sub string, body []byte) reply {
	switch method {
	case "GET":
		switch {
		case sub == "status" || sub == "status/":
			return s.status("")
		case strings.HasPrefix(sub, "status/"):
			name := strings.TrimPrefix(sub, "status/")
			if strings.Contains(name, "/") {
				return badCall(path)
			}
			switch name {
			case "Server", "HighAvailability", "Cluster", "Plugin", "MQConnectivity", "SNMP":
				return s.status(name)
			}
			return badCall(name)
		case strings.HasPrefix(sub, "file/"):
			return s.download(path, strings.TrimPrefix(sub, "file/"))
		case sub == "fileList":
			return s.fileList()
		}
		return badCall(path)
	case "DELETE":
		if name, ok := strings.CutPrefix(sub, "file/"); ok && name != "" {
			return s.deleteFile(path, name)
		}
		return badCall(path)
	}
	verb, extra, _ := strings.Cut(sub, "/")
	switch verb {
	case "restart", "stop", "start", "export", "import":
		if extra == "ClientSet" && (verb == "export" || verb == "import") {
			// ClientSet export/import moves part of the store asynchronously;
			// the emulator does not model it.
			return envelope(501, "CWLNA0102", msgNotImpl)
		}
		if extra != "" {
			return badCall(path)
		}
	case "commit", "rollback", "forget", "remove", "close", "trace", "diagnostics":
		// Real calls outside the emulator's scope (transactions, traces).
		return envelope(501, "CWLNA0102", msgNotImpl)
	default:
		// Includes /service/backup and /service/restore, which do not exist
		// (reference §0): the message names the path after /service.
		return badCall("/" + sub)
	}
	switch verb {
	case "restart":
		return s.restart(body)
	case "stop":
		return s.stop(body)
	case "start":
		return s.start(body)
	case "export":
		return s.export(body)
	}
	return s.importConfig(body)
}

// restart implements POST /service/restart (reference §5).
func (s *Server) restart(body []byte) reply {
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	var service, maintenance, reset string
	var clean, cleanSeen, serviceSeen bool
	for _, m := range members {
		switch {
		case m.isBool() && m.Key == "CleanStore":
			cleanSeen = true
			clean = m.kind() == "JSON_TRUE"
		case !m.isString():
			return badArg(m.Key)
		case m.Key == "Service":
			v := m.str()
			if serviceSeen {
				return badRequired("Service", v)
			}
			serviceSeen = true
			switch v {
			case "Server", "Plugin", "SNMP", "MQConnectivity":
				service = v
			default:
				return badRequired("Service", v)
			}
		case m.Key == "Maintenance":
			v := strings.ToLower(m.str())
			if v != "start" && v != "stop" {
				return badRequired("Maintenance", m.str())
			}
			maintenance = v
		case m.Key == "Reset":
			if m.str() != "config" {
				return badRequired("Reset", m.str())
			}
			reset = "config"
		default:
			return badArg(m.Key)
		}
	}
	switch {
	case !serviceSeen:
		return badCall(string(body))
	case maintenance != "" && clean:
		return badCall(string(body))
	case reset != "" && maintenance != "":
		return badCall(string(body))
	case cleanSeen && s.st.clusterMember():
		return envelope(400, "CWLNA0384", "You must disable the object ClusterMembership to update or set configuration item CleanStore.")
	}
	if service != "Server" {
		return ok() // components restart synchronously (admin.c ism_admin_restartService)
	}
	// Reset implies a clean store and ignores CleanStore (FVT defect
	// 151664); the request is acted on by a timer 3 s later.
	m := -1
	switch maintenance {
	case "start":
		m = 1
	case "stop":
		m = 0
	}
	switch {
	case reset != "":
		s.requestLocked(time.Now(), "reset", -1)
	case clean:
		s.requestLocked(time.Now(), "clean", -1)
	default:
		s.requestLocked(time.Now(), "restart", m)
	}
	return ok()
}

// stop implements POST /service/stop. The emulator plays a server under a
// supervisor (Docker's restart policy) that starts it again after
// Timing.Supervisor; startServer.sh itself would not (a simplification).
func (s *Server) stop(body []byte) reply {
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	service := ""
	for _, m := range members {
		if !m.isString() {
			return badArg(m.Key)
		}
		if m.Key != "Service" {
			return badArg(m.Key)
		}
		switch v := m.str(); v {
		case "Server", "imaserver", "Plugin", "plugin", "SNMP", "snmp", "MQConnectivity", "mqconnectivity":
			service = v
		default:
			return badRequired("Service", v)
		}
	}
	if service == "" {
		return envelope(501, "CWLNA0102", msgNotImpl)
	}
	if service == "Server" || service == "imaserver" {
		s.requestLocked(time.Now(), "stop", -1)
	}
	return ok()
}

// start implements POST /service/start: components only; the Server itself
// is started by the platform (501).
func (s *Server) start(body []byte) reply {
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	for _, m := range members {
		if !m.isString() || m.Key != "Service" {
			return badArg(m.Key)
		}
		switch v := m.str(); v {
		case "Plugin", "SNMP", "MQConnectivity":
			return ok()
		case "Server":
			return envelope(501, "CWLNA0102", msgNotImpl)
		default:
			return badRequired("Service", v)
		}
	}
	return envelope(501, "CWLNA0102", msgNotImpl)
}

// strictFields checks an export or import body: string and bool fields of
// the right type, no unknown key (reference §6.1, §6.2).
func strictFields(members []member, strs, bools []string, ignore string) (map[string]string, map[string]bool, *reply) {
	sv := map[string]string{}
	bv := map[string]bool{}
	for _, m := range members {
		switch {
		case m.Key == ignore:
		case contains(strs, m.Key):
			if !m.isString() {
				r := badType(m.Key, m.kind())
				return nil, nil, &r
			}
			if m.str() == "" {
				r := badValue(m.Key, "")
				return nil, nil, &r
			}
			sv[m.Key] = m.str()
		case contains(bools, m.Key):
			if !m.isBool() {
				r := badType(m.Key, m.kind())
				return nil, nil, &r
			}
			bv[m.Key] = m.kind() == "JSON_TRUE"
		default:
			r := badArg(m.Key)
			return nil, nil, &r
		}
	}
	return sv, bv, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// export implements POST /service/export: an encrypted, config-only backup
// written to userfiles (reference §6.1).
func (s *Server) export(body []byte) reply {
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	sv, _, bad := strictFields(members, []string{"FileName", "Password"}, nil, "Version")
	if bad != nil {
		return *bad
	}
	pw, has := sv["Password"]
	if !has {
		return badRequired("Password", "null")
	}
	name, has := sv["FileName"]
	if !has {
		name = "imaBackup." + s.st.UID + "." + time.Now().Format("150405-01022006")
	}
	if !validFileName(name) {
		return envelope(400, "CWLNA6221", ProductShort+" backup could not open an output file (typically the archive) for writing.")
	}
	cfg, err := json.Marshal(s.st.Config)
	if err != nil {
		return envelope(500, "CWLNA0100", "System error")
	}
	data, err := encryptExport(pw, cfg)
	if err != nil {
		return envelope(400, "CWLNA6220", ProductShort+" backup encountered an error writing to an output file (typically the archive); for example, the disk may be full.")
	}
	if err := os.WriteFile(filepath.Join(s.opts.Dir, "userfiles", name), data, 0o600); err != nil {
		return envelope(400, "CWLNA6221", ProductShort+" backup could not open an output file (typically the archive) for writing.")
	}
	return ok()
}

// importConfig implements POST /service/import: a preview returns the
// configuration document; ApplyConfig rewrites the configuration and leaves
// the server in maintenance with ErrorCode 145 until it restarts (§6.2).
func (s *Server) importConfig(body []byte) reply {
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	sv, bv, bad := strictFields(members, []string{"FileName", "Password"}, []string{"DisableObjects", "ApplyConfig", "CFGFile"}, "")
	if bad != nil {
		return *bad
	}
	name, has := sv["FileName"]
	if !has {
		return badRequired("FileName", "null")
	}
	pw, has := sv["Password"]
	if !has {
		return badRequired("Password", "null")
	}
	disable, has := bv["DisableObjects"]
	if !has {
		disable = true
	}
	apply := bv["ApplyConfig"] && !bv["CFGFile"]
	data, err := os.ReadFile(filepath.Join(s.opts.Dir, "userfiles", name))
	if err != nil || !validFileName(name) {
		return envelope(400, "CWLNA6223", `Restore file "`+name+`" does not exist.`)
	}
	raw, err := decryptExport(pw, data)
	var cfg map[string]json.RawMessage
	if err == nil {
		cfg, err = importedConfig(raw, disable)
	}
	switch err {
	case nil:
	case errDecrypt:
		return envelope(400, "CWLNA6231", ProductShort+" restore file decryption failed due to the bad password.")
	case errStructure:
		return envelope(400, "CWLNA6214", "The structure of the "+ProductShort+" backup file is invalid; for example, it may have been corrupted by a text-mode transfer.")
	default:
		return envelope(400, "CWLNA6232", name+" data integrity check failed.")
	}
	if !apply {
		return reply{status: 200, body: previewDocument(cfg)}
	}
	// importExport.c: ism_config_json_processObject applies each imported
	// object over the current configuration, as a POST would: instances
	// named in the backup are replaced or added, the others stay.
	merged := map[string]json.RawMessage{}
	for k, v := range s.st.Config {
		merged[k] = v
	}
	for k, v := range cfg {
		merged[k] = mergeObject(merged[k], v)
	}
	s.st.Config = merged
	if err := s.st.save(s.opts.Dir); err != nil {
		return envelope(400, "CWLNA6229", `Failed to update configuration with restore file "`+name+`".`)
	}
	// adminInitError = ISMRC_RestartNeeded: status shows State 9 with
	// ErrorCode 145 until the process restarts.
	s.p.initErr = codeRestartNeeded
	s.saveRunLocked()
	return ok()
}

func validFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/") &&
		strings.TrimSpace(name) == name && len(name) <= 1024
}

// upload implements PUT /file/<name> (reference §10).
func (s *Server) upload(name string, body []byte) reply {
	if !validFileName(name) {
		return badRequired("filename", name)
	}
	if len(body) == 0 {
		return envelope(400, "CWLNA0134", "The value specified for the required property is invalid or null. Property: upload file content, Value: null.")
	}
	if err := os.WriteFile(filepath.Join(s.opts.Dir, "userfiles", name), body, 0o600); err != nil {
		return envelope(400, "CWLNA0383", "The directory for the file could not be created.")
	}
	return ok()
}

func (s *Server) download(path, name string) reply {
	if strings.Contains(name, "./") || strings.Contains(name, "../") || len(name) > 1024 || !validFileName(name) {
		return badCall(path)
	}
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, "userfiles", name))
	if err != nil {
		return envelope(404, "CWLNA0113", msgNotFound)
	}
	return reply{status: 200, body: b}
}

func (s *Server) deleteFile(path, name string) reply {
	if !validFileName(name) {
		return badCall(path)
	}
	if err := os.Remove(filepath.Join(s.opts.Dir, "userfiles", name)); err != nil {
		return envelope(404, "CWLNA0113", msgNotFound)
	}
	return ok()
}

func (s *Server) fileList() reply {
	entries, _ := os.ReadDir(filepath.Join(s.opts.Dir, "userfiles"))
	var b strings.Builder
	b.WriteString("List of files:\n")
	for _, e := range entries {
		if e.Type().IsRegular() {
			b.WriteString(e.Name())
			b.WriteByte('\n')
		}
	}
	return reply{status: 200, body: []byte(b.String())}
}

// configuration implements the parts of /configuration the procedures use:
// reading an object, updating objects (blocked after an applied import and
// on a standby), and the HighAvailability singleton that cannot be deleted.
func (s *Server) configuration(method, path, sub string, body []byte) reply {
	switch method {
	case "GET":
		if sub == "AdminEndpoint" {
			return reply{status: 200, body: []byte(`{ "Version": "v1", "AdminEndpoint": { "Port": ` + strconv.Itoa(s.port) + `, "Interface": "All", "SecurityProfile": "AdminDefaultSecProfile", "ConfigurationPolicies": "AdminDefaultConfigPolicy", "Description": "Admin Endpoint used for processing administrative and monitoring requests from clients using REST API." } }` + "\n")}
		}
		raw, found := s.st.Config[sub]
		if !found || strings.Contains(sub, "/") {
			return envelope(404, "CWLNA0113", msgNotFound)
		}
		var v bytes.Buffer
		_ = json.Indent(&v, raw, "  ", "  ")
		return reply{status: 200, body: []byte("{\n  \"Version\": \"v1\",\n  \"" + sub + "\": " + v.String() + "\n}\n")}
	case "DELETE":
		if sub == "HighAvailability" || sub == "AdminEndpoint" {
			return envelope(403, "CWLNA0372", "Delete is not allowed for "+sub+" object.")
		}
		typ, name, found := strings.Cut(sub, "/")
		if !found {
			return badCall(path)
		}
		var objs map[string]json.RawMessage
		if json.Unmarshal(s.st.Config[typ], &objs) != nil || objs[name] == nil {
			return envelope(404, "CWLNA0113", msgNotFound)
		}
		delete(objs, name)
		s.st.Config[typ], _ = json.Marshal(objs)
		_ = s.st.save(s.opts.Dir)
		return ok()
	}
	if sub != "" {
		return badCall(path)
	}
	members, err := parseObject(body)
	if err != nil {
		return parseFailed(body)
	}
	if s.p != nil && s.p.initErr == codeRestartNeeded {
		// janssonProcessPost.c: adminInitError == ISMRC_RestartNeeded after
		// an applied backup refuses every configuration change.
		return envelope(400, "CWLNA0145", msgRestartNeeds)
	}
	if st, _, _ := s.reportedStateLocked(time.Now()); st == StateStandby {
		for _, m := range members {
			if m.Key != "HighAvailability" && m.Key != "Server" && m.Key != "ClusterMembership" {
				return envelope(400, "CWLNA6121", `The `+ComponentName+` status is "Standby". Any actions to "`+m.Key+`" are not allowed.`)
			}
		}
	}
	for _, m := range members {
		if m.Key == "Version" {
			continue
		}
		if m.kind() != "JSON_OBJECT" {
			s.st.Config[m.Key] = m.Raw
			continue
		}
		var cur, upd map[string]json.RawMessage
		_ = json.Unmarshal(s.st.Config[m.Key], &cur)
		if cur == nil {
			cur = map[string]json.RawMessage{}
		}
		_ = json.Unmarshal(m.Raw, &upd)
		for k, v := range upd {
			cur[k] = v
		}
		s.st.Config[m.Key], _ = json.Marshal(cur)
	}
	if err := s.st.save(s.opts.Dir); err != nil {
		return envelope(500, "CWLNA0100", "System error")
	}
	return ok()
}

// stateText returns the Status and StateDescription status reports for a
// state (adminInternal.c ism_admin_getStatusStr, ism_admin_getStateStr).
func stateText(state int) [2]string {
	switch state {
	case 0:
		return [2]string{"Initializing", "Initializing"}
	case StateProduction:
		return [2]string{"Running", "Running (production)"}
	case StateStopping:
		return [2]string{"Stopping", "Stopping"}
	case 3:
		return [2]string{"Initializing", "Initialized"}
	case 4:
		return [2]string{"Initializing", "TransportStarted"}
	case 5:
		return [2]string{"Initializing", "ProtocolStarted"}
	case StateStoreStarted:
		return [2]string{"EngineStarting", "StoreStarted"}
	case 7:
		return [2]string{"EngineStarting", "EngineStarted"}
	case StateMessagingStarted:
		return [2]string{"Running", "MessagingStarted"}
	case StateMaintenance:
		return [2]string{"Running", "Running (maintenance)"}
	case StateStandby:
		return [2]string{"Running", "Standby"}
	case StateStoreStarting:
		return [2]string{"StoreStarting", "StoreStarting"}
	case StateEngineStarting:
		return [2]string{"EngineStarting", "EngineStarting"}
	case StateTransportStarting:
		return [2]string{"TransportStarting", "TransportStarting"}
	}
	return [2]string{"Unknown", "Unknown"}
}

// jstr renders a JSON string the way ism_json_putEscapeBytes does.
func jstr(v string) string {
	var m bytes.Buffer
	enc := json.NewEncoder(&m)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return string(bytes.TrimRight(m.Bytes(), "\n"))
}

// status renders GET /service/status[/<only>] byte for byte as admin.c
// ism_admin_getServerStatus writes it: "Version":"v1" with no space, the
// other keys with one, "RemoteServerName": with none, two-space indent.
func (s *Server) status(only string) reply {
	now := time.Now()
	state, code, msg := s.reportedStateLocked(now)
	var b strings.Builder
	b.WriteString("{\n  \"Version\":\"v1\"")
	all := only == ""
	if all || only == "Server" {
		up := int64(0)
		if s.p != nil {
			up = int64(now.Sub(s.p.boot) / time.Second)
		}
		txt := stateText(state)
		b.WriteString(",\n  \"Server\": {\n")
		fmt.Fprintf(&b, "    \"Name\": %s,\n", jstr(s.nameLocked()))
		fmt.Fprintf(&b, "    \"UID\": %s,\n", jstr(s.st.UID))
		fmt.Fprintf(&b, "    \"Status\": \"%s\",\n", txt[0])
		fmt.Fprintf(&b, "    \"State\": %d,\n", state)
		fmt.Fprintf(&b, "    \"StateDescription\": \"%s\",\n", txt[1])
		fmt.Fprintf(&b, "    \"ServerTime\": \"%s\",\n", now.UTC().Format("2006-01-02T15:04:05.000Z"))
		fmt.Fprintf(&b, "    \"UpTimeSeconds\": %d,\n", up)
		fmt.Fprintf(&b, "    \"UpTimeDescription\": \"%d days %d hours %d minutes %d seconds\",\n", up/86400, up%86400/3600, up%3600/60, up%60)
		fmt.Fprintf(&b, "    \"Version\": \"%s\",\n", Version)
		fmt.Fprintf(&b, "    \"ErrorCode\": %d,\n", code)
		fmt.Fprintf(&b, "    \"ErrorMessage\": %s\n", jstr(msg))
		b.WriteString("  }")
	}
	if all || only == "HighAvailability" {
		b.WriteString(",\n  \"HighAvailability\": {\n")
		b.WriteString(s.haBlockLocked(now))
		b.WriteString("  }")
	}
	if all || only == "Cluster" {
		// ism_cluster_getStatistics answers ISMRC_ClusterDisabled.
		b.WriteString(",\n  \"Cluster\": {\n    \"Status\": \"Inactive\",\n    \"Enabled\": false\n  }")
	}
	if all || only == "Plugin" {
		b.WriteString(",\n  \"Plugin\": {\n    \"Status\": \"Inactive\",\n    \"Enabled\": false\n  }")
	}
	if all || only == "MQConnectivity" {
		// MQ Connectivity runs only in production (reference §8.1).
		mq := "Inactive"
		if state == StateProduction {
			mq = "Active"
		}
		fmt.Fprintf(&b, ",\n  \"MQConnectivity\": {\n    \"Status\": \"%s\",\n    \"Enabled\": true\n  }", mq)
	}
	if all || only == "SNMP" {
		b.WriteString(",\n  \"SNMP\": {\n    \"Status\": \"Inactive\",\n    \"Enabled\": false\n  }")
	}
	b.WriteString("\n}\n")
	return reply{status: 200, body: []byte(b.String())}
}

// haReasonNames are the ReasonString suffixes (adminHA.c haErrorReasonStr).
var haReasonNames = [...]string{" ", "CONFIG_ERROR", "DISCOVERY_TIMEOUT", "SPLIT_BRAIN", "SYNC_ERROR", "UNRESOLVED_STORE", "RESYNC_ERROR", "GROUP_MISMATCH", "UNKNOWN"}

// haBlockLocked renders the inside of the HighAvailability block as
// admin.c does: Inactive when HA is disabled and no node is active; roles
// UNKNOWN while the configured mode is maintenance; else the store's view.
func (s *Server) haBlockLocked(now time.Time) string {
	h, _ := s.st.ha()
	p := s.p
	var role, old string
	active, synced, reason, pct := 0, 0, 0, -1
	param := ""
	if p != nil {
		role, old, active, synced, reason, param = p.role, p.oldRole, p.active, p.synced, p.reason, p.reasonParam
		if !p.syncUntil.IsZero() && p.role == rolePrimary && p.syncUntil.After(now) {
			total := p.syncUntil.Sub(p.syncFrom)
			if total > 0 {
				pct = min(int(100*now.Sub(p.syncFrom)/total), 99)
			}
		}
	}
	if !h.EnableHA && active == 0 {
		return "    \"Status\": \"Inactive\",\n    \"Enabled\": false\n"
	}
	if role == "" {
		role, old = roleUnsync, roleUnsync
	}
	if old == "" {
		old = role
	}
	confMaint := s.st.AdminMode == 1 || p != nil && p.initErr != 0
	status := "Active"
	if confMaint {
		role, old = "UNKNOWN", "UNKNOWN"
	}
	group := h.Group
	last := ""
	if role == rolePrimary {
		last = now.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	remote := ""
	if active > 1 && s.peer != nil {
		remote = s.peer.nameLocked()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    \"Status\": \"%s\",\n    \"Enabled\": %t,\n    \"Group\": %s,\n    \"NewRole\": \"%s\",\n    \"OldRole\": \"%s\",\n", status, h.EnableHA, jstr(group), role, old)
	fmt.Fprintf(&b, "    \"ActiveNodes\": %d,\n    \"SyncNodes\": %d,\n    \"PrimaryLastTime\": \"%s\",\n    \"PctSyncCompletion\": %d,\n    \"ReasonCode\": %d,\n", active, synced, last, pct, reason)
	if reason != 0 {
		if reason < 0 || reason > 8 {
			reason = 8
		}
		fmt.Fprintf(&b, "    \"ReasonString\": %s,\n", jstr(param+" - "+haReasonNames[reason]))
	}
	fmt.Fprintf(&b, "    \"RemoteServerName\":%s\n", jstr(remote))
	return b.String()
}

// RequestLog returns the lines of the server's request log.
func (s *Server) RequestLog() ([]string, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, "requests.log"))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return lines, nil
}

// mergeObject applies an imported object over the current one: the
// instances (or fields) it names replace the current ones, the others stay;
// a value that is not an object replaces the current value.
func mergeObject(cur, upd json.RawMessage) json.RawMessage {
	var c, u map[string]json.RawMessage
	if json.Unmarshal(cur, &c) != nil || json.Unmarshal(upd, &u) != nil || c == nil || u == nil {
		return upd
	}
	for k, v := range u {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		return upd
	}
	return b
}
