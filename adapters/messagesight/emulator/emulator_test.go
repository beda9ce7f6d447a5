package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fastOptions(dir string) Options {
	return Options{Dir: dir, Name: "TestSystem", StopDelay: 20 * time.Millisecond, DownWindow: 150 * time.Millisecond, SyncTime: 300 * time.Millisecond}
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, s *Server, method, path, body string, auth ...string) answer {
	t.Helper()
	a, err := try(s, method, path, body, auth...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func try(s *Server, method, path, body string, auth ...string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		return answer{}, err
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}, err
}

func env(code, msg string) string {
	return `{ "Version":"v1","Code":"` + code + `","Message":"` + msg + `" }` + "\n"
}

// TestBodiesQuotedInReference compares responses byte for byte with the
// bodies reference/messagesight.md quotes.
func TestBodiesQuotedInReference(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"backup endpoint does not exist", "POST", "/ima/v1/service/backup", `{"Password":"x"}`, 400, env("CWLNA0137", "The REST API call: /backup is not valid.")},
		{"restore endpoint does not exist", "POST", "/ima/v1/service/restore", `{}`, 400, env("CWLNA0137", "The REST API call: /restore is not valid.")},
		{"GET backup names the full path", "GET", "/ima/v1/service/backup", "", 400, env("CWLNA0137", "The REST API call: /ima/v1/service/backup is not valid.")},
		{"POST status", "POST", "/ima/v1/service/status", `{}`, 400, env("CWLNA0137", "The REST API call: /status is not valid.")},
		{"GET export", "GET", "/ima/v1/service/export", "", 400, env("CWLNA0137", "The REST API call: /ima/v1/service/export is not valid.")},
		{"case-sensitive Status", "GET", "/ima/v1/service/Status/", "", 400, env("CWLNA0137", "The REST API call: /ima/v1/service/Status/ is not valid.")},
		{"unknown status block", "GET", "/ima/v1/service/status/imaserver", "", 400, env("CWLNA0137", "The REST API call: imaserver is not valid.")},
		{"restart ok", "POST", "/ima/v1/service/restart", `{"Service":"MQConnectivity"}`, 200, env("CWLNA6011", "The requested configuration change has completed successfully.")},
		{"restart bad service", "POST", "/ima/v1/service/restart", `{"Service":"IMA"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: Service Value: IMA.")},
		{"restart HighAvailability service", "POST", "/ima/v1/service/restart", `{"Service":"HighAvailability"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: Service Value: HighAvailability.")},
		{"restart unknown key", "POST", "/ima/v1/service/restart", `{"Service":"Server","cleanstore":true}`, 400, env("CWLNA0115", "An argument is not valid: Name: cleanstore.")},
		{"restart Server key", "POST", "/ima/v1/service/restart", `{"Service":"Server","Server":"Server"}`, 400, env("CWLNA0115", "An argument is not valid: Name: Server.")},
		{"restart bool Maintenance", "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":true}`, 400, env("CWLNA0115", "An argument is not valid: Name: Maintenance.")},
		{"restart bad Maintenance", "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"later"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: Maintenance Value: later.")},
		{"restart Reset with Maintenance", "POST", "/ima/v1/service/restart", `{"Service":"Server","Reset":"config", "Maintenance":"start"}`, 400, env("CWLNA0137", `The REST API call: {\"Service\":\"Server\",\"Reset\":\"config\", \"Maintenance\":\"start\"} is not valid.`)},
		{"restart Maintenance with CleanStore", "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start","CleanStore":true}`, 400, env("CWLNA0137", `The REST API call: {\"Service\":\"Server\",\"Maintenance\":\"start\",\"CleanStore\":true} is not valid.`)},
		{"restart no Service", "POST", "/ima/v1/service/restart", `{"Maintenance":"start"}`, 400, env("CWLNA0137", `The REST API call: {\"Maintenance\":\"start\"} is not valid.`)},
		{"restart extra segment", "POST", "/ima/v1/service/restart/Server", `{"Service":"Server"}`, 400, env("CWLNA0137", "The REST API call: /ima/v1/service/restart/Server is not valid.")},
		{"stop without Service", "POST", "/ima/v1/service/stop", `{}`, 501, env("CWLNA0102", "The function is not implemented")},
		{"start Server", "POST", "/ima/v1/service/start", `{"Service":"Server"}`, 501, env("CWLNA0102", "The function is not implemented")},
		{"export without password", "POST", "/ima/v1/service/export", `{"FileName":"a"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: Password Value: null.")},
		{"export empty file name", "POST", "/ima/v1/service/export", `{"FileName":"","Password":"p"}`, 400, env("CWLNA0112", `The property value is not valid: Property: FileName Value: \"\".`)},
		{"export number file name", "POST", "/ima/v1/service/export", `{"FileName":5,"Password":"p"}`, 400, env("CWLNA0127", "The property type is not valid. Object: FileName  Name: null  Property: null  Type: JSON_INTEGER")},
		{"export unknown key", "POST", "/ima/v1/service/export", `{"Password":"p","Overwrite":"yes"}`, 400, env("CWLNA0115", "An argument is not valid: Name: Overwrite.")},
		{"export under configuration", "POST", "/ima/v1/configuration/export", `{"Password":"p"}`, 400, env("CWLNA0137", "The REST API call: /ima/v1/configuration/export is not valid.")},
		{"import without FileName", "POST", "/ima/v1/service/import", `{"Password":"p"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: FileName Value: null.")},
		{"import without Password", "POST", "/ima/v1/service/import", `{"FileName":"f"}`, 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: Password Value: null.")},
		{"import missing file", "POST", "/ima/v1/service/import", `{"FileName":"nothere","Password":"p"}`, 400, env("CWLNA6223", `Restore file \"nothere\" does not exist.`)},
		{"upload bad name", "PUT", "/ima/v1/file/..", "x", 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: filename Value: ...")},
		{"upload empty", "PUT", "/ima/v1/file/a.pem", "", 400, env("CWLNA0134", "The value specified for the required property is invalid or null. Property: upload file content, Value: null.")},
		{"download missing", "GET", "/ima/v1/service/file/none", "", 404, env("CWLNA0113", "The requested item is not found.")},
		{"delete missing", "DELETE", "/ima/v1/service/file/none", "", 404, env("CWLNA0113", "The requested item is not found.")},
		{"PUT on service", "PUT", "/ima/v1/service/status", "x", 400, env("CWLNA0137", "The REST API call: PUT is not valid.")},
		{"GET on file", "GET", "/ima/v1/file/x", "", 400, env("CWLNA0137", "The REST API call: GET is not valid.")},
		{"unknown domain", "GET", "/ima/v1/backup", "", 404, `{ "Code":"CWLNA0404", "Message":"The HTTP request is for an object which does not exist." }`},
		{"HA cannot be deleted", "DELETE", "/ima/v1/configuration/HighAvailability", "", 403, env("CWLNA0372", "Delete is not allowed for HighAvailability object.")},
		{"bad JSON", "POST", "/ima/v1/service/restart", `{"Service":`, 400, env("CWLNA6001", `Failed to parse administrative request {\"Service\":: RC=1.`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, s, c.method, c.path, c.body)
			if a.status != c.status || a.body != c.want {
				t.Errorf("got %d %q\nwant %d %q", a.status, a.body, c.status, c.want)
			}
			wantCT := "application/json"
			if !strings.HasPrefix(c.want, "{") {
				wantCT = "text/plain;charset=utf-8"
			}
			if got := a.header.Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type %q, want %q", got, wantCT)
			}
			if a.header.Get("Cache-Control") != "no-cache" || a.header.Get("Server") != ProductFull {
				t.Errorf("headers %v", a.header)
			}
		})
	}
}

func TestStatusDocumentKeyOrder(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	a := call(t, s, "GET", "/ima/v1/service/status", "")
	order := []string{`"Version": "v1"`, `"Server": {`, `"Name": "TestSystem"`, `"UID":`, `"Status": "Running"`, `"State": 1`,
		`"StateDescription": "Running (production)"`, `"ServerTime":`, `"UpTimeSeconds":`, `"UpTimeDescription": "0 days 0 hours 0 minutes`,
		`"Version": "` + Version + `"`, `"ErrorCode": 0`, `"ErrorMessage": ""`, `"HighAvailability": {`, `"Cluster": {`,
		`"Plugin": {`, `"MQConnectivity": {`, `"SNMP": {`}
	pos := 0
	for _, k := range order {
		i := strings.Index(a.body[pos:], k)
		if i < 0 {
			t.Fatalf("%s missing or out of order in\n%s", k, a.body)
		}
		pos += i
	}
	only := call(t, s, "GET", "/ima/v1/service/status/HighAvailability", "")
	if strings.Contains(only.body, `"Server"`) || !strings.Contains(only.body, `"Status": "Inactive"`) {
		t.Errorf("status/HighAvailability: %s", only.body)
	}
}

func state(t *testing.T, s *Server) (int, int) {
	t.Helper()
	var doc struct {
		Server struct{ State, ErrorCode int }
	}
	a := call(t, s, "GET", "/ima/v1/service/status/Server", "")
	if err := json.Unmarshal([]byte(a.body), &doc); err != nil {
		t.Fatalf("status: %v: %s", err, a.body)
	}
	return doc.Server.State, doc.Server.ErrorCode
}

// waitState polls until the server answers with the state; it records
// whether a connection was refused on the way.
func waitState(t *testing.T, s *Server, want int) (refused bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a, err := try(s, "GET", "/ima/v1/service/status/Server", "")
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused = true
		} else if err == nil && strings.Contains(a.body, `"State": `+itoa(want)+",") {
			return refused
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("state %d not reached", want)
	return
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRestartReplyLeavesServerStopping: between a restart's 200 reply and
// the port going away the server reports state 2. The stop delay is longer
// than the test, so the check does not race the restart.
func TestRestartReplyLeavesServerStopping(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.StopDelay = time.Hour
	s := start(t, opts)
	if a := call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start"}`); a.status != 200 {
		t.Fatalf("restart: %d %s", a.status, a.body)
	}
	if st, _ := state(t, s); st != StateStopping {
		t.Fatalf("right after the restart reply the state is %d, want 2", st)
	}
}

func TestMaintenanceModeRestartsAndPersists(t *testing.T) {
	dir := t.TempDir()
	s := start(t, fastOptions(dir))
	port := s.Port()
	if a := call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start"}`); a.status != 200 {
		t.Fatalf("restart: %d %s", a.status, a.body)
	}
	if refused := waitState(t, s, StateMaintenance); !refused {
		t.Error("the port never refused connections during the restart")
	}
	if s.Port() != port {
		t.Errorf("port changed from %d to %d", port, s.Port())
	}
	// A plain restart keeps maintenance mode.
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server"}`)
	waitState(t, s, StateMaintenance)
	// So does a new process on the same directory.
	s.Close()
	s2 := start(t, fastOptions(dir))
	if s2.Port() != port {
		t.Errorf("reopened on port %d, want %d", s2.Port(), port)
	}
	if st, _ := state(t, s2); st != StateMaintenance {
		t.Fatalf("reopened server in state %d, want 9", st)
	}
	call(t, s2, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	waitState(t, s2, StateProduction)
}

func TestCleanStoreWipesMessagesKeepsConfiguration(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	if err := s.PutMessages("ORDERS", "late-1"); err != nil {
		t.Fatal(err)
	}
	before, err := s.Store()
	if err != nil || before.Messages != 6 || before.Subscriptions != 2 || before.Clients != 3 {
		t.Fatalf("seeded store %+v %v", before, err)
	}
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","CleanStore":true}`)
	waitState(t, s, StateProduction)
	after, err := s.Store()
	if err != nil || after != (StoreSummary{}) {
		t.Fatalf("after clean store %+v %v", after, err)
	}
	if a := call(t, s, "GET", "/ima/v1/configuration/Queue", ""); a.status != 200 || !strings.Contains(a.body, "ORDERS") {
		t.Errorf("configuration lost: %d %s", a.status, a.body)
	}
}

func TestCleanStoreRefusedForClusterMember(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	call(t, s, "POST", "/ima/v1/configuration", `{"ClusterMembership":{"EnableClusterMembership":true,"ClusterName":"c"}}`)
	for _, body := range []string{`{"Service":"Server","CleanStore":true}`, `{"Service":"Server","CleanStore":false}`} {
		a := call(t, s, "POST", "/ima/v1/service/restart", body)
		if want := env("CWLNA0384", "You must disable the object ClusterMembership to update or set configuration item CleanStore."); a.status != 400 || a.body != want {
			t.Errorf("%s: %d %s", body, a.status, a.body)
		}
	}
}

func TestExportImportPreviewApply(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	if a := call(t, s, "POST", "/ima/v1/service/export", `{"FileName":"cfg.bak","Password":"s3cret-pw"}`); a.status != 200 {
		t.Fatalf("export %d %s", a.status, a.body)
	}
	file := call(t, s, "GET", "/ima/v1/service/file/cfg.bak", "")
	if !strings.HasPrefix(file.body, "U2FsdGVkX1") || file.header.Get("Content-Type") != "text/plain;charset=utf-8" {
		t.Fatalf("export file is not openssl-style base64: %.40q %v", file.body, file.header)
	}
	if strings.Contains(file.body, "ORDERS") {
		t.Error("export file is not encrypted")
	}
	list := call(t, s, "GET", "/ima/v1/service/fileList", "")
	if list.body != "List of files:\ncfg.bak\n" {
		t.Errorf("fileList %q", list.body)
	}
	wrong := call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"cfg.bak","Password":"nope"}`)
	if wrong.body != env("CWLNA6231", ProductShort+" restore file decryption failed due to the bad password.") {
		t.Errorf("wrong password: %d %s", wrong.status, wrong.body)
	}
	// Upload a copy under another name, damaged by a text-mode transfer.
	if a := call(t, s, "PUT", "/ima/v1/file/bad.bak", "garbage!"); a.status != 200 {
		t.Fatalf("upload %d %s", a.status, a.body)
	}
	if a := call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"bad.bak","Password":"s3cret-pw"}`); !strings.Contains(a.body, "CWLNA6214") {
		t.Errorf("damaged file: %s", a.body)
	}
	prev := call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"cfg.bak","Password":"s3cret-pw"}`)
	if prev.status != 200 || !strings.HasPrefix(prev.body, "{\n  \"Version\": \"v1\",") || !strings.Contains(prev.body, `"Enabled": false`) {
		t.Fatalf("preview %d %s", prev.status, prev.body)
	}
	if st, _ := state(t, s); st != StateProduction {
		t.Fatalf("preview changed the state to %d", st)
	}
	if a := call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"cfg.bak","Password":"s3cret-pw","DisableObjects":false,"ApplyConfig":true}`); a.status != 200 {
		t.Fatalf("apply %d %s", a.status, a.body)
	}
	st, code := state(t, s)
	if st != StateMaintenance || code != 145 {
		t.Fatalf("after apply: state %d ErrorCode %d, want 9 and 145", st, code)
	}
	if a := call(t, s, "POST", "/ima/v1/configuration", `{"Queue":{"X":{}}}`); a.body != env("CWLNA0145", "The "+ComponentName+" must be restarted to complete the configuration changes.") {
		t.Errorf("config change after apply: %s", a.body)
	}
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	waitState(t, s, StateProduction)
	if _, code := state(t, s); code != 0 {
		t.Errorf("ErrorCode %d after restart", code)
	}
	if a := call(t, s, "DELETE", "/ima/v1/service/file/cfg.bak", ""); a.status != 200 {
		t.Errorf("delete %d", a.status)
	}
}

func TestBasicAuthAndRequestLogHidePasswords(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.User, opts.Password = "admin", "adm1n-planted-pw"
	s := start(t, opts)
	none := call(t, s, "GET", "/ima/v1/service/status", "")
	if none.status != 401 || none.body != "Not authorized" || none.header.Get("WWW-Authenticate") != `Basic realm="TestSystem"` {
		t.Errorf("no credentials: %d %q %v", none.status, none.body, none.header)
	}
	bad := call(t, s, "GET", "/ima/v1/service/status", "", "admin", "wrong-planted-pw")
	if bad.status != 401 || bad.body != "Bad request" {
		t.Errorf("bad credentials: %d %q", bad.status, bad.body)
	}
	good := call(t, s, "POST", "/ima/v1/service/export", `{"FileName":"f","Password":"export-planted-pw"}`, "admin", "adm1n-planted-pw")
	if good.status != 200 {
		t.Fatalf("export %d %s", good.status, good.body)
	}
	call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"f","Password":"export-planted-pw"`, "admin", "adm1n-planted-pw")
	lines, err := s.RequestLog()
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Join(lines, "\n")
	for _, pw := range []string{"adm1n-planted-pw", "wrong-planted-pw", "export-planted-pw"} {
		if strings.Contains(log, pw) {
			t.Errorf("request log holds %s:\n%s", pw, log)
		}
	}
	if !regexp.MustCompile(`user=admin POST /ima/v1/service/export \{"FileName":"f","Password":"\*\*\*"\} -> 200 CWLNA6011`).MatchString(log) {
		t.Errorf("export not logged as expected:\n%s", log)
	}
	if len(lines) != 4 {
		t.Errorf("%d log lines, want 4", len(lines))
	}
}

func TestHAPairRolesAndSync(t *testing.T) {
	dir := t.TempDir()
	a, b, err := StartPair(context.Background(), "G1", fastOptions(filepath.Join(dir, "a")), fastOptions(filepath.Join(dir, "b")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	type ha struct {
		Server           struct{ State int }
		HighAvailability struct {
			NewRole                string
			SyncNodes, ActiveNodes int
			Group                  string
		}
	}
	get := func(s *Server) ha {
		var h ha
		if err := json.Unmarshal([]byte(call(t, s, "GET", "/ima/v1/service/status", "").body), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := get(b); h.Server.State != StateStandby || h.HighAvailability.NewRole != "UNSYNC" {
		t.Errorf("fresh standby: %+v", h)
	}
	time.Sleep(350 * time.Millisecond)
	if h := get(b); h.HighAvailability.NewRole != "STANDBY" || h.HighAvailability.SyncNodes != 2 {
		t.Errorf("synced standby: %+v", h)
	}
	if h := get(a); h.HighAvailability.NewRole != "PRIMARY" || h.HighAvailability.SyncNodes != 2 || h.HighAvailability.Group != "G1" {
		t.Errorf("primary: %+v", h)
	}
	// The standby goes to maintenance for a backup; the primary goes on.
	call(t, b, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start"}`)
	waitState(t, b, StateMaintenance)
	if h := get(b); h.HighAvailability.NewRole != "UNKNOWN" {
		t.Errorf("standby in maintenance: %+v", h)
	}
	if h := get(a); h.Server.State != StateProduction || h.HighAvailability.SyncNodes != 1 {
		t.Errorf("primary while standby in maintenance: %+v", h)
	}
	call(t, b, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	waitState(t, b, StateStandby)
	time.Sleep(350 * time.Millisecond)
	if h := get(a); h.HighAvailability.SyncNodes != 2 {
		t.Errorf("pair not back in sync: %+v", h)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "state.json")); err != nil {
		t.Error(err)
	}
}

func TestResetStopAndCleanStoreToMaintenance(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.CleanStoreToMaintenance = true
	s := start(t, opts)
	call(t, s, "POST", "/ima/v1/configuration", `{"Queue":{"EXTRA":{"MaxMessages":1}}}`)
	// Reset with CleanStore answers 200 and ignores CleanStore (FVT defect 151664).
	if a := call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Reset":"config","CleanStore":true}`); a.status != 200 {
		t.Fatalf("reset: %d %s", a.status, a.body)
	}
	waitState(t, s, StateProduction)
	if a := call(t, s, "GET", "/ima/v1/configuration/Queue", ""); strings.Contains(a.body, "EXTRA") {
		t.Errorf("reset kept the added queue: %s", a.body)
	}
	if sum, _ := s.Store(); sum.Messages != 0 {
		t.Errorf("reset kept %d messages", sum.Messages)
	}
	// A stopped server is started again by its supervisor.
	if a := call(t, s, "POST", "/ima/v1/service/stop", `{"Service":"imaserver"}`); a.status != 200 {
		t.Fatalf("stop: %d %s", a.status, a.body)
	}
	if refused := waitState(t, s, StateProduction); !refused {
		t.Error("a stopped server kept answering")
	}
	// With the switch on, a clean store leaves the server in maintenance.
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","CleanStore":true}`)
	waitState(t, s, StateMaintenance)
}

func TestAdminEndpointDocument(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	a := call(t, s, "GET", "/ima/v1/configuration/AdminEndpoint", "")
	want := `{ "Version": "v1", "AdminEndpoint": { "Port": ` + itoa(s.Port()) + `, "Interface": "All", "SecurityProfile": "AdminDefaultSecProfile", "ConfigurationPolicies": "AdminDefaultConfigPolicy", "Description": "Admin Endpoint used for processing administrative and monitoring requests from clients using REST API." } }` + "\n"
	if a.status != 200 || a.body != want {
		t.Errorf("got %d %q", a.status, a.body)
	}
}

// TestPrimaryRestartFailsOver restarts the primary of a synchronised pair:
// the standby takes over and the old primary rejoins as standby.
func TestPrimaryRestartFailsOver(t *testing.T) {
	dir := t.TempDir()
	a, b, err := StartPair(context.Background(), "G1", fastOptions(filepath.Join(dir, "a")), fastOptions(filepath.Join(dir, "b")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	time.Sleep(350 * time.Millisecond)
	if a := call(t, b, "POST", "/ima/v1/configuration", `{"Queue":{"X":{}}}`); !strings.Contains(a.body, `CWLNA6121`) || !strings.Contains(a.body, `status is \"Standby\". Any actions to \"Queue\" are not allowed.`) {
		t.Errorf("config change on the standby: %s", a.body)
	}
	call(t, a, "POST", "/ima/v1/service/restart", `{"Service":"Server"}`)
	waitState(t, a, StateStandby)
	if b.State() != StateProduction {
		t.Errorf("standby did not take over: state %d", b.State())
	}
	if body := call(t, b, "GET", "/ima/v1/service/status/HighAvailability", "").body; !strings.Contains(body, `"NewRole": "PRIMARY"`) || !strings.Contains(body, `"OldRole": "STANDBY"`) {
		t.Errorf("new primary: %s", body)
	}
}

// TestRestartInterruptedByProcessDeathIsFinished closes the server (as a
// killed drillbook would) between the restart's reply and the restart: the
// next process on the directory finishes it, as the real server would have.
func TestRestartInterruptedByProcessDeathIsFinished(t *testing.T) {
	dir := t.TempDir()
	opts := fastOptions(dir)
	opts.StopDelay = 10 * time.Second
	s := start(t, opts)
	call(t, s, "POST", "/ima/v1/service/export", `{"FileName":"c","Password":"p"}`)
	call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"c","Password":"p","ApplyConfig":true}`)
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","CleanStore":true}`)
	s.Close()
	s2 := start(t, fastOptions(dir))
	if st, code := state(t, s2); st != StateProduction || code != 0 {
		t.Errorf("reopened in state %d ErrorCode %d, want 1 and 0", st, code)
	}
	if sum, _ := s2.Store(); sum.Messages != 0 {
		t.Errorf("the interrupted clean store left %d messages", sum.Messages)
	}
}

func TestSecondProcessOnTheSameDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := start(t, fastOptions(dir))
	if _, err := Start(context.Background(), fastOptions(dir)); err == nil || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("second server on %s: %v", dir, err)
	}
	s.Close()
	start(t, fastOptions(dir)) // free again once the first one is closed
}
