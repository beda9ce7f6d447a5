package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// fastTiming is RealTiming shortened about fifty times, the order of every
// phase kept; the discovery timeout of 600 s becomes 0.6 s.
func fastTiming() Timing {
	return Timing{RestartDelay: 60 * time.Millisecond, Shutdown: 40 * time.Millisecond, StartupStop: 200 * time.Millisecond,
		Supervisor: 100 * time.Millisecond, Init: 40 * time.Millisecond, StoreRecovery: 80 * time.Millisecond,
		EngineRecovery: 60 * time.Millisecond, Step: 20 * time.Millisecond, Sync: 150 * time.Millisecond, Scale: 0.001}
}

func fastOptions(dir string) Options {
	return Options{Dir: dir, Name: "TestSystem", Timing: fastTiming()}
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

// TestStatusDocumentAsAdminCWritesIt compares the status document with
// the format strings of admin.c ism_admin_getServerStatus, spaces included.
func TestStatusDocumentAsAdminCWritesIt(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	waitState(t, s, StateProduction)
	a := call(t, s, "GET", "/ima/v1/service/status", "")
	re := regexp.MustCompile(`(?s)^\{\n  "Version":"v1",\n  "Server": \{\n    "Name": "TestSystem",\n    "UID": "[A-Za-z0-9_-]+",\n    "Status": "Running",\n    "State": 1,\n    "StateDescription": "Running \(production\)",\n    "ServerTime": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",\n    "UpTimeSeconds": \d+,\n    "UpTimeDescription": "0 days 0 hours 0 minutes \d+ seconds",\n    "Version": "` + regexp.QuoteMeta(Version) + `",\n    "ErrorCode": 0,\n    "ErrorMessage": ""\n  \},\n  "HighAvailability": \{\n    "Status": "Inactive",\n    "Enabled": false\n  \},\n  "Cluster": \{\n    "Status": "Inactive",\n    "Enabled": false\n  \},\n  "Plugin": \{\n    "Status": "Inactive",\n    "Enabled": false\n  \},\n  "MQConnectivity": \{\n    "Status": "Active",\n    "Enabled": true\n  \},\n  "SNMP": \{\n    "Status": "Inactive",\n    "Enabled": false\n  \}\n\}\n$`)
	if !re.MatchString(a.body) {
		t.Errorf("status document:\n%s", a.body)
	}
	only := call(t, s, "GET", "/ima/v1/service/status/HighAvailability", "")
	if only.body != "{\n  \"Version\":\"v1\",\n  \"HighAvailability\": {\n    \"Status\": \"Inactive\",\n    \"Enabled\": false\n  }\n}\n" {
		t.Errorf("status/HighAvailability: %q", only.body)
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
	deadline := time.Now().Add(30 * time.Second)
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

// states polls status until the server is in state want, and returns every
// state seen on the way (0 for a refused connection), without repeats.
// restartCall sends a restart request and returns the time just before
// it: a process that booted after it is a new one.
func restartCall(t *testing.T, s *Server, body string) time.Time {
	t.Helper()
	since := time.Now()
	call(t, s, "POST", "/ima/v1/service/restart", body)
	return since
}

// down waits until the process that answered before since has gone: the
// admin endpoint refuses connections, or a process that booted after since
// answers. Under load a restart can come and go between two polls, so the
// new process's boot time (the supervisor's start, main.c) is as good a
// proof as the refused connection.
func down(t *testing.T, s *Server, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := try(s, "GET", "/ima/v1/service/status/Server", ""); err != nil {
			return
		}
		s.mu.Lock()
		var boot time.Time
		if s.p != nil {
			boot = s.p.boot
		}
		s.mu.Unlock()
		if boot.After(since) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: the process that answered before %s never went down", s.Name(), since.Format(time.RFC3339Nano))
}

func states(t *testing.T, s *Server, want int) []int {
	t.Helper()
	var seen []int
	add := func(st int) {
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		a, err := try(s, "GET", "/ima/v1/service/status/Server", "")
		if err != nil {
			add(0)
			if want == 0 {
				return seen
			}
		} else {
			var doc struct{ Server struct{ State int } }
			if json.Unmarshal([]byte(a.body), &doc) == nil {
				add(doc.Server.State)
				if doc.Server.State == want {
					return seen
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("state %d not reached; seen %v", want, seen)
	return nil
}

// TestRestartIsActedOnSecondsLater: the reply comes at once and the server
// reports Stopping (State 2) until its timer acts, then the port refuses
// connections, then a new process comes up through the start-up states.
func TestRestartIsActedOnSecondsLater(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.Timing.RestartDelay = time.Hour
	s := start(t, opts)
	waitState(t, s, StateProduction)
	if a := call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start"}`); a.status != 200 {
		t.Fatalf("restart: %d %s", a.status, a.body)
	}
	for i := 0; i < 3; i++ {
		if st, _ := state(t, s); st != StateStopping {
			t.Fatalf("before the restart timer the state is %d, want 2", st)
		}
	}
}

// TestStartupGoesThroughTheStoreAndEngineStates restarts a production
// server and sees, in order: 2, refused, 11, 6, 16, 17, 8, 1.
func TestStartupGoesThroughTheStoreAndEngineStates(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.Timing.Step = 60 * time.Millisecond
	s := start(t, opts)
	waitState(t, s, StateProduction)
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server"}`)
	got := states(t, s, StateProduction)
	want := []int{2, 0, 11, 6, 16, 17, 8, 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

// TestAppliedImportKeepsMaintenanceUntilTheProcessRestarts: after an
// applied import status says 9 with ErrorCode 145, and a restart request
// does not show State 2: it still says 9 until the process ends, so only
// the start time tells a restart happened.
func TestAppliedImportKeepsMaintenanceUntilTheProcessRestarts(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	call(t, s, "POST", "/ima/v1/service/export", `{"FileName":"c","Password":"p"}`)
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"start"}`)
	waitState(t, s, StateMaintenance)
	call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"c","Password":"p","ApplyConfig":true}`)
	up := func() (int, int, int) {
		var doc struct {
			Server struct{ State, ErrorCode, UpTimeSeconds int }
		}
		a, err := try(s, "GET", "/ima/v1/service/status/Server", "")
		if err != nil {
			return 0, 0, -1
		}
		json.Unmarshal([]byte(a.body), &doc)
		return doc.Server.State, doc.Server.ErrorCode, doc.Server.UpTimeSeconds
	}
	if st, code, _ := up(); st != 9 || code != 145 {
		t.Fatalf("after apply: %d %d", st, code)
	}
	since := restartCall(t, s, `{"Service":"Server","CleanStore":true}`)
	if st, code, _ := up(); st != 9 || code != 145 {
		t.Errorf("right after the clean-store request: state %d ErrorCode %d, want 9 and 145 (not 2)", st, code)
	}
	down(t, s, since)
	waitState(t, s, StateMaintenance)
	if st, code, _ := up(); st != 9 || code != 0 {
		t.Errorf("after the restart: state %d ErrorCode %d, want 9 and 0", st, code)
	}
}

// TestSecondRequestJoinsOrIsLost: a second restart request while one is
// pending is acted on only if its own timer fires before the process ends.
func TestSecondRequestJoinsOrIsLost(t *testing.T) {
	opts := fastOptions(t.TempDir())
	opts.Timing.RestartDelay = 300 * time.Millisecond
	opts.Timing.Shutdown = 500 * time.Millisecond
	s := start(t, opts)
	waitState(t, s, StateProduction)
	// The second request's timer (at +0.4 s) fires before the exit (+0.8 s).
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server"}`)
	time.Sleep(100 * time.Millisecond)
	down(t, s, restartCall(t, s, `{"Service":"Server","Maintenance":"start"}`))
	waitState(t, s, StateMaintenance)
	// Now one whose timer comes after the exit: lost.
	opts2 := fastOptions(t.TempDir())
	opts2.Timing.RestartDelay = 300 * time.Millisecond
	opts2.Timing.Shutdown = 50 * time.Millisecond
	s2 := start(t, opts2)
	waitState(t, s2, StateProduction)
	call(t, s2, "POST", "/ima/v1/service/restart", `{"Service":"Server"}`)
	time.Sleep(200 * time.Millisecond)
	down(t, s2, restartCall(t, s2, `{"Service":"Server","Maintenance":"start"}`))
	waitState(t, s2, StateProduction)
	time.Sleep(400 * time.Millisecond)
	if st, _ := state(t, s2); st != StateProduction {
		t.Errorf("a request made while the process was ending had an effect: state %d", st)
	}
	if log, _ := s2.RequestLog(); !strings.Contains(strings.Join(log, "\n"), "lost: the process ended before its timer") {
		t.Errorf("the lost request is not logged:\n%s", strings.Join(log, "\n"))
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
	waitState(t, s, StateProduction)
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

type haDoc struct {
	Server struct {
		State, ErrorCode int
		ErrorMessage     string
	}
	HighAvailability struct {
		NewRole, OldRole       string
		SyncNodes, ActiveNodes int
		ReasonCode             int
		ReasonString           string
		Group                  string
		PctSyncCompletion      int
	}
}

func haStatus(t *testing.T, s *Server) haDoc {
	t.Helper()
	var h haDoc
	if err := json.Unmarshal([]byte(call(t, s, "GET", "/ima/v1/service/status", "").body), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitFor polls status until ok says so.
func waitFor(t *testing.T, s *Server, ok func(haDoc) bool) haDoc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if a, err := try(s, "GET", "/ima/v1/service/status", ""); err == nil {
			var h haDoc
			if json.Unmarshal([]byte(a.body), &h) == nil && ok(h) {
				return h
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: condition not reached", s.Name())
	return haDoc{}
}

func startPair(t *testing.T, dir string) (*Server, *Server) {
	t.Helper()
	oa, ob := fastOptions(filepath.Join(dir, "a")), fastOptions(filepath.Join(dir, "b"))
	oa.Name, ob.Name = "ms-a", "ms-b"
	a, b, err := StartPair(context.Background(), "G1", oa, ob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestHAPairRolesAndSync(t *testing.T) {
	dir := t.TempDir()
	a, b := startPair(t, dir)
	// The standby synchronises in State 11 with role UNSYNC, then is 10.
	if got := states(t, b, StateStandby); got[0] != StateStoreStarting {
		t.Errorf("standby states %v", got)
	}
	waitState(t, a, StateProduction)
	if h := haStatus(t, b); h.HighAvailability.NewRole != "STANDBY" || h.HighAvailability.SyncNodes != 2 {
		t.Errorf("synced standby: %+v", h)
	}
	if h := haStatus(t, a); h.HighAvailability.NewRole != "PRIMARY" || h.HighAvailability.SyncNodes != 2 || h.HighAvailability.Group != "G1" {
		t.Errorf("primary: %+v", h)
	}
	// Messages on the primary are replicated to the standby.
	if err := a.PutMessages("ORDERS", "order-6"); err != nil {
		t.Fatal(err)
	}
	if sum, _ := b.Store(); sum.Messages != 6 {
		t.Errorf("standby store holds %d messages, want 6", sum.Messages)
	}
	// The standby goes to maintenance for a backup; the primary goes on.
	down(t, b, restartCall(t, b, `{"Service":"Server","Maintenance":"start"}`))
	waitState(t, b, StateMaintenance)
	if h := haStatus(t, b); h.HighAvailability.NewRole != "UNKNOWN" || h.HighAvailability.ActiveNodes != 0 {
		t.Errorf("standby in maintenance: %+v", h)
	}
	if h := haStatus(t, a); h.Server.State != StateProduction || h.HighAvailability.SyncNodes != 1 || h.HighAvailability.ActiveNodes != 1 {
		t.Errorf("primary while standby in maintenance: %+v", h)
	}
	down(t, b, restartCall(t, b, `{"Service":"Server","Maintenance":"stop"}`))
	waitState(t, b, StateStandby)
	if h := haStatus(t, a); h.HighAvailability.SyncNodes != 2 {
		t.Errorf("pair not back in sync: %+v", h)
	}
}

// TestPrimaryWaitsForItsStandby: a primary restarted out of maintenance
// while its partner stays in maintenance discovers nothing (State 11), and
// after DiscoveryTimeout comes up in maintenance with DISCOVERY_TIMEOUT. A
// partner started in time pairs with it.
func TestPrimaryWaitsForItsStandby(t *testing.T) {
	a, b := startPair(t, t.TempDir())
	waitState(t, b, StateStandby)
	for _, s := range []*Server{b, a} {
		down(t, s, restartCall(t, s, `{"Service":"Server","Maintenance":"start"}`))
		waitState(t, s, StateMaintenance)
	}
	down(t, a, restartCall(t, a, `{"Service":"Server","Maintenance":"stop"}`))
	waitState(t, a, StateStoreStarting)
	time.Sleep(200 * time.Millisecond)
	if h := haStatus(t, a); h.Server.State != StateStoreStarting || h.HighAvailability.NewRole != "UNSYNC" || h.HighAvailability.ActiveNodes != 0 {
		t.Errorf("primary discovering: %+v", h)
	}
	waitState(t, a, StateMaintenance)
	h := haStatus(t, a)
	if h.Server.ErrorCode != 509 || h.HighAvailability.NewRole != "UNSYNC_ERROR" || h.HighAvailability.ReasonCode != 2 || !strings.HasSuffix(h.HighAvailability.ReasonString, "DISCOVERY_TIMEOUT") {
		t.Errorf("after the discovery timeout: %+v", h)
	}
	// Restarted together, they pair.
	since := restartCall(t, a, `{"Service":"Server","Maintenance":"stop"}`)
	call(t, b, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	down(t, a, since)
	waitState(t, a, StateProduction)
	waitState(t, b, StateStandby)
}

// TestStandbyWithAnUncleanedStore: a primary given a restored store and a
// standby that kept its own data both hold data: they cannot pair and both
// come up in maintenance with UNRESOLVED_STORE; cleaned, the standby pairs.
func TestStandbyWithAnUncleanedStore(t *testing.T) {
	a, b := startPair(t, t.TempDir())
	waitState(t, b, StateStandby)
	for _, s := range []*Server{b, a} {
		down(t, s, restartCall(t, s, `{"Service":"Server","Maintenance":"start"}`))
		waitState(t, s, StateMaintenance)
	}
	// The restored store of the primary differs from the standby's.
	if err := os.WriteFile(filepath.Join(a.StoreDir(), "com.ibm.ism", "queues", "ORDERS.msg"), []byte("order-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{a, b} {
		call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	}
	for _, s := range []*Server{a, b} {
		h := waitFor(t, s, func(h haDoc) bool { return h.HighAvailability.ReasonCode != 0 })
		if h.Server.State != 9 || h.HighAvailability.ReasonCode != 5 || h.Server.ErrorCode != 509 || !strings.HasSuffix(h.HighAvailability.ReasonString, "UNRESOLVED_STORE") {
			t.Errorf("%s: %+v", s.Name(), h)
		}
	}
	since := time.Now()
	if r := call(t, b, "POST", "/ima/v1/service/restart", `{"Service":"Server","CleanStore":true}`); r.status != 200 {
		t.Fatalf("clean store: %d %s", r.status, r.body)
	}
	down(t, b, since)
	waitState(t, b, StateMaintenance)
	for _, s := range []*Server{a, b} {
		call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","Maintenance":"stop"}`)
	}
	waitState(t, a, StateProduction)
	waitState(t, b, StateStandby)
	if sum, _ := b.Store(); sum.Messages != 1 {
		t.Errorf("the standby holds %d messages, want the primary's 1", sum.Messages)
	}
}

// TestPartitionMakesBothPrimary cuts the replication link: both nodes are
// primary with one active node each.
func TestPartitionMakesBothPrimary(t *testing.T) {
	a, b := startPair(t, t.TempDir())
	waitState(t, b, StateStandby)
	a.Partition()
	waitState(t, b, StateProduction)
	for _, s := range []*Server{a, b} {
		if h := haStatus(t, s); h.HighAvailability.NewRole != "PRIMARY" || h.HighAvailability.ActiveNodes != 1 {
			t.Errorf("%s: %+v", s.Name(), h)
		}
	}
}

func TestResetStopAndCleanStoreKeepsTheMode(t *testing.T) {
	s := start(t, fastOptions(t.TempDir()))
	waitState(t, s, StateProduction)
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
	// A clean store keeps the configured mode (main.c does not touch
	// AdminMode): from production it comes back in production, from
	// maintenance in maintenance (tr00019_'s "set to Maintenance" follows
	// from its step 3).
	down(t, s, restartCall(t, s, `{"Service":"Server","CleanStore":true}`))
	waitState(t, s, StateProduction)
	down(t, s, restartCall(t, s, `{"Service":"Server","Maintenance":"start"}`))
	waitState(t, s, StateMaintenance)
	down(t, s, restartCall(t, s, `{"Service":"Server","CleanStore":true}`))
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
	a, b := startPair(t, t.TempDir())
	waitState(t, b, StateStandby)
	if a := call(t, b, "POST", "/ima/v1/configuration", `{"Queue":{"X":{}}}`); !strings.Contains(a.body, `CWLNA6121`) || !strings.Contains(a.body, `status is \"Standby\". Any actions to \"Queue\" are not allowed.`) {
		t.Errorf("config change on the standby: %s", a.body)
	}
	down(t, a, restartCall(t, a, `{"Service":"Server"}`))
	waitState(t, b, StateProduction)
	waitState(t, a, StateStandby)
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
	opts.Timing.RestartDelay = 10 * time.Second
	s := start(t, opts)
	waitState(t, s, StateProduction)
	call(t, s, "POST", "/ima/v1/service/export", `{"FileName":"c","Password":"p"}`)
	call(t, s, "POST", "/ima/v1/service/import", `{"FileName":"c","Password":"p","ApplyConfig":true}`)
	call(t, s, "POST", "/ima/v1/service/restart", `{"Service":"Server","CleanStore":true}`)
	s.Close()
	s2 := start(t, fastOptions(dir))
	waitState(t, s2, StateProduction)
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
