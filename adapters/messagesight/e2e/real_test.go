package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/messagesight/emulator"
)

// A real target: the emulator runs as standalone servers over HTTPS with
// Basic authentication (a security profile with TLS, reference §2.2), and
// drillbook reaches them through a targets.yaml written as an
// administrator would, with no training shortcuts: no --yes, every outage
// confirmed by the server's name, secrets by reference.

// tlsFiles is a CA and a server certificate for 127.0.0.1 signed by it.
type tlsFiles struct {
	caFile string
	server *tls.Config
}

func newTLS(t *testing.T, dir string) tlsFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drillbook test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ms-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tlsFiles{caFile: caFile, server: &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}}
}

// realTiming is a real server's timing ten times faster, with the process
// down for over a second so a restart shows in the start time.
func realTiming() emulator.Timing {
	t := emulator.RealTiming().Scaled(0.1)
	t.Supervisor = 1100 * time.Millisecond
	return t
}

// estate is two standalone servers, ms1 and ms2, and the targets file that
// names them.
type estate struct {
	dir, targets, state, backups, caFile string
	ms1, ms2                             *emulator.Server
	adminPW, backupPW                    string
	// env is the environment drillbook runs with: the admin password's
	// variable (env form) and the backup password parameter.
	env []string
	// secretFiles hold a password on purpose (the file and command forms).
	secretFiles []string
}

// Planted passwords hold characters that URL encoding and base64 change.
const (
	plantedAdmin  = "PLANTED/adm+pw=7&Q"
	plantedBackup = "PLANTED/bkp+pw=9&Z"
)

// newEstate starts ms1 and ms2 over HTTPS with Basic auth and writes a
// targets.yaml whose admin password comes in the given form: env, file or
// command.
func newEstate(t *testing.T, form string, extra string) *estate {
	t.Helper()
	dir := t.TempDir()
	e := &estate{dir: dir, targets: filepath.Join(dir, "etc", "targets.yaml"), state: filepath.Join(dir, "state"),
		backups: filepath.Join(dir, "backups"), adminPW: plantedAdmin + form, backupPW: plantedBackup}
	tf := newTLS(t, dir)
	e.caFile = tf.caFile
	for i, name := range []string{"ms1", "ms2"} {
		srv, err := emulator.Start(context.Background(), emulator.Options{Dir: filepath.Join(dir, "srv", name), Name: name,
			User: "msadmin", Password: e.adminPW, TLS: tf.server, Timing: realTiming()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		if i == 0 {
			e.ms1 = srv
		} else {
			e.ms2 = srv
		}
	}
	for _, s := range []*emulator.Server{e.ms1, e.ms2} {
		waitState(t, s, emulator.StateProduction)
	}
	var pw string
	switch form {
	case "env":
		pw = "{env: MS_ADMIN_PW}"
		e.env = append(e.env, "MS_ADMIN_PW="+e.adminPW)
	case "file":
		f := filepath.Join(dir, "etc", "ms-admin.pw")
		writeFile(t, f, e.adminPW+"\n", 0o600)
		e.secretFiles = append(e.secretFiles, f)
		pw = "{file: " + f + "}"
	case "command":
		// A vault CLI stand-in: prints the secret it keeps.
		f := filepath.Join(dir, "vault", "kv", "ms-admin")
		writeFile(t, f, e.adminPW, 0o600)
		e.secretFiles = append(e.secretFiles, f)
		pw = "{command: [cat, " + f + "]}"
	default:
		t.Fatalf("no password form %s", form)
	}
	e.env = append(e.env, "DRILLBOOK_PARAM_BACKUP_PASSWORD="+e.backupPW)
	writeFile(t, e.targets, fmt.Sprintf(`# MessageSight production servers, kept by the messaging team.
targets:
  prod-ms:
    description: MessageSight ms1 and ms2 (HTTPS admin endpoint, Basic auth)
    messagesight:
      user: msadmin
      password: %s
      ca_file: %s
      backup_root: %s
      timeout: 10s
%s      nodes:
        ms1:
          url: https://127.0.0.1:%d
          store_dir: %s
          host: ms1.example.com
        ms2:
          url: https://127.0.0.1:%d
          store_dir: %s
          host: ms2.example.com
`, pw, e.caFile, e.backups, extra, e.ms1.Port(), e.ms1.StoreDir(), e.ms2.Port(), e.ms2.StoreDir()), 0o644)
	return e
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func waitState(t *testing.T, s *emulator.Server, state int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.State() != state {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached state %d (it is in %d)", s.Name(), state, s.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// db runs drillbook on the estate's targets file and state directory with
// exactly the estate's environment (and what env adds or, with a "NAME="
// prefix and no value, removes).
func (e *estate) db(t *testing.T, env []string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--state-dir", e.state, "--targets", e.targets}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = e.environ(env)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("drillbook %s: no end within 4 minutes:\n%s", strings.Join(args, " "), out.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("drillbook: %v", err)
		}
		code = ee.ExitCode()
	}
	return run{code: code, output: out.String()}
}

func (e *estate) environ(extra []string) []string {
	set := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "MS_ADMIN_PW" || strings.HasPrefix(k, "DRILLBOOK_") {
			continue
		}
		set[k] = v
	}
	set["NO_COLOR"] = "1"
	for _, kv := range append(append([]string{}, e.env...), extra...) {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			delete(set, k)
		} else {
			set[k] = v
		}
	}
	out := make([]string, 0, len(set))
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// backupArgs and restoreArgs confirm every outage of ms1 by its name, as an
// operator would after reading the plan.
func backupArgs(extra ...string) []string {
	return append([]string{"run", "messagesight-backup", "--plain", "--target", "prod-ms", "--param", "server=ms1",
		"--confirm", "entermaint=ms1", "--confirm", "leavemaint=ms1", "--confirm", "endmaint=ms1"}, extra...)
}

func restoreArgs(extra ...string) []string {
	return append([]string{"run", "messagesight-restore", "--plain", "--target", "prod-ms", "--param", "server=ms1",
		"--confirm", "entermaint=ms1", "--confirm", "import=ms1", "--confirm", "restore-store=ms1", "--confirm", "cleanstore=ms1",
		"--confirm", "leavemaint=ms1", "--confirm", "consequences=done", "--confirm", "serverback=ms1"}, extra...)
}

// planArgs turns run arguments into the plan of the same run: the
// parameters and target stay, the confirmations and --plain go.
func planArgs(run []string) []string {
	out := []string{"plan"}
	for i := 1; i < len(run); i++ {
		switch run[i] {
		case "--plain":
		case "--confirm":
			i++
		default:
			out = append(out, run[i])
		}
	}
	return out
}

// changes is what a run did to the servers: the requests that change
// something, from each server's own request log.
func (e *estate) changes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range []*emulator.Server{e.ms1, e.ms2} {
		b, err := os.ReadFile(filepath.Join(s.Dir(), "requests.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, " POST ") || strings.Contains(l, " PUT ") || strings.Contains(l, " DELETE ") {
				out = append(out, s.Name()+": "+l)
			}
		}
	}
	return out
}

// tree lists every file under dir with its size and modification time, ""
// when dir does not exist: two listings are equal when nothing was written.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		b := []byte{}
		if fi.Mode().IsRegular() {
			b, _ = os.ReadFile(p)
		}
		lines = append(lines, fmt.Sprintf("%s %d %s %x", p, fi.Size(), fi.ModTime().Format(time.RFC3339Nano), b))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// unchanged checks that nothing was changed: no request that changes
// something reached either server, both are in production, and neither
// their stores nor the backup root were written.
func (e *estate) unchanged(t *testing.T, before map[string]string) {
	t.Helper()
	if c := e.changes(t); len(c) > 0 {
		t.Errorf("requests that change the servers were sent:\n%s", strings.Join(c, "\n"))
	}
	for _, s := range []*emulator.Server{e.ms1, e.ms2} {
		if st := s.State(); st != emulator.StateProduction {
			t.Errorf("%s is in state %d, not production", s.Name(), st)
		}
	}
	for name, want := range before {
		if got := tree(t, name); got != want {
			t.Errorf("%s was written:\nbefore:\n%s\nafter:\n%s", name, want, got)
		}
	}
}

func (e *estate) snapshot(t *testing.T) map[string]string {
	return map[string]string{e.ms1.StoreDir(): tree(t, e.ms1.StoreDir()), e.ms2.StoreDir(): tree(t, e.ms2.StoreDir()), e.backups: tree(t, e.backups)}
}

// secretForms are the ways a password could leak: as given, URL-encoded,
// base64 (alone and as a Basic authorization of the user).
func secretForms(user, pw string) []string {
	return []string{pw, url.QueryEscape(pw), url.PathEscape(pw), base64.StdEncoding.EncodeToString([]byte(pw)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))}
}

// noSecrets looks for every form of the estate's passwords in the runs'
// output, every report (Markdown and JSON) of the state directory, and
// every file under the estate (journals, backup sets, request logs), but
// the files that hold a password on purpose.
func (e *estate) noSecrets(t *testing.T, runs ...run) {
	t.Helper()
	e.noSecretsSent(t, true, runs...)
}

// noSecretsSent is noSecrets; sent says a password was sent in a request
// body, so the journal must show it masked.
func (e *estate) noSecretsSent(t *testing.T, sent bool, runs ...run) {
	t.Helper()
	var all strings.Builder
	for _, r := range runs {
		all.WriteString(r.output)
	}
	list := e.db(t, nil, "runs")
	reports := 0
	for _, line := range strings.Split(list.output, "\n")[1:] {
		id, _, _ := strings.Cut(line, " ")
		if id == "" {
			continue
		}
		md := e.db(t, nil, "report", id)
		js := e.db(t, nil, "report", id, "--format", "json")
		all.WriteString(md.output + js.output)
		reports++
	}
	files := 0
	filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, f := range e.secretFiles {
			if p == f {
				return nil
			}
		}
		b, _ := os.ReadFile(p)
		all.Write(b)
		files++
		return nil
	})
	if reports == 0 || files < 5 || sent && !strings.Contains(all.String(), `"Password":"***"`) {
		t.Fatalf("%d reports and %d files read: nothing to prove the passwords are absent from", reports, files)
	}
	text := all.String()
	for _, pw := range []string{e.adminPW, e.backupPW} {
		for _, f := range secretForms("msadmin", pw) {
			if strings.Contains(text, f) {
				t.Errorf("password %q appears (as %q) in an output, a report, a journal, a backup set or a request log", pw, f)
			}
		}
	}
}

// TestRealTargetBackupAndRestore backs ms1 up twice and restores it, over
// HTTPS with Basic auth; with the admin password in each other supported
// form it plans and backs up once. No backup overwrites another, the
// restore brings the store back, and neither password appears anywhere in
// any form.
func TestRealTargetBackupAndRestore(t *testing.T) {
	for _, form := range []string{"env", "file", "command"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			e := newEstate(t, form, "")
			plan := e.db(t, nil, "plan", "messagesight-backup", "--target", "prod-ms", "--param", "server=ms1")
			if plan.code != 0 || strings.Count(plan.output, "check passes now") != 3 || strings.Contains(plan.output, "CHECK FAILS NOW") {
				t.Fatalf("plan exit %d, want its three preflight checks of a single server passing:\n%s", plan.code, plan.output)
			}
			if c := e.changes(t); len(c) > 0 {
				t.Fatalf("plan changed the servers:\n%s", strings.Join(c, "\n"))
			}
			b1 := e.db(t, nil, backupArgs()...)
			succeeded(t, "backup", b1)
			first, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*"))
			if len(first) != 1 {
				t.Fatalf("%d sets after one backup: %v", len(first), first)
			}
			if form != "env" {
				// Each secret form is proven by a plan that logs in and a
				// backup that exports with it; the second backup and the
				// restore below run once, with the password from the
				// environment, to keep make test short.
				e.noSecrets(t, plan, b1)
				return
			}
			sealed := tree(t, first[0])
			time.Sleep(1100 * time.Millisecond) // a new set's name has one-second resolution
			b2 := e.db(t, nil, backupArgs()...)
			succeeded(t, "second backup", b2)
			sets, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*", "SEALED"))
			if len(sets) != 2 || tree(t, first[0]) != sealed {
				t.Fatalf("after a second backup: %d sealed sets, first set unchanged: %v", len(sets), tree(t, first[0]) == sealed)
			}
			// Traffic after the backup: the restore brings the store back as
			// it was.
			before, _ := e.ms1.Store()
			if err := e.ms1.PutMessages("LATE", "late-1", "late-2"); err != nil {
				t.Fatal(err)
			}
			rplan := e.db(t, nil, "plan", "messagesight-restore", "--target", "prod-ms", "--param", "server=ms1")
			if rplan.code != 0 || strings.Contains(rplan.output, "CHECK FAILS NOW") {
				t.Fatalf("restore plan exit %d:\n%s", rplan.code, rplan.output)
			}
			r := e.db(t, nil, restoreArgs()...)
			succeeded(t, "restore", r)
			if after, _ := e.ms1.Store(); after != before {
				t.Errorf("after the restore ms1 holds %+v, want %+v", after, before)
			}
			if !strings.Contains(r.output, "step restore-store: succeeded") || !strings.Contains(r.output, "acts on: store "+e.ms1.StoreDir()+" of server ms1 on host ms1.example.com") {
				t.Errorf("the restore did not say which store it replaced:\n%s", r.output)
			}
			if e.ms2.State() != emulator.StateProduction || len(e.changesOf(t, e.ms2)) > 0 {
				t.Errorf("ms2 was changed by backups and a restore of ms1: %v", e.changesOf(t, e.ms2))
			}
			e.noSecrets(t, plan, b1, b2, rplan, r)
		})
	}
}

func (e *estate) changesOf(t *testing.T, s *emulator.Server) []string {
	var out []string
	for _, c := range e.changes(t) {
		if strings.HasPrefix(c, s.Name()+": ") {
			out = append(out, c)
		}
	}
	return out
}

// outagesOf are the requests that take a server down or replace its
// configuration: restarts and applied imports.
func (e *estate) outagesOf(t *testing.T, s *emulator.Server) []string {
	var out []string
	for _, c := range e.changesOf(t, s) {
		if strings.Contains(c, "/service/restart") || strings.Contains(c, `"ApplyConfig":true`) {
			out = append(out, c)
		}
	}
	return out
}

// TestRealTargetStopsBeforeAnyChange: each mistake an administrator or an
// operator can make stops the run before anything changes: no request
// that changes a server, both still in production, no store and no backup
// root written, and the message says what to do.
func TestRealTargetStopsBeforeAnyChange(t *testing.T) {
	cases := []struct {
		name   string
		extra  string // added to the messagesight section
		env    []string
		args   func(e *estate) []string
		code   int
		step   string // the preflight step that stops it; "" for a usage error
		texts  []string
		noRoot bool // the backup root must not have been created
	}{
		{name: "no backup set", args: func(*estate) []string { return restoreArgs() }, code: 1, step: "findset",
			texts: []string{"no sealed backup set of ms1 under", "take one with messagesight-backup, or give --param backup_set=DIR"}},
		{name: "backup set that does not exist", args: func(e *estate) []string {
			return restoreArgs("--param", "backup_set="+filepath.Join(e.backups, "ms1-20250101T000000Z"))
		}, code: 1, step: "findset", texts: []string{"is not a directory: give a set directory"}},
		{name: "unreachable store (backup)", args: func(e *estate) []string {
			os.Rename(e.ms1.StoreDir(), e.ms1.StoreDir()+".unmounted")
			return backupArgs()
		}, code: 1, step: "checkstore", texts: []string{"store directory", "is not reachable", "fix messagesight.nodes.ms1.store_dir"}, noRoot: true},
		{name: "unset secret", env: []string{"MS_ADMIN_PW="}, args: func(*estate) []string { return backupArgs() }, code: 1, step: "check-server",
			texts: []string{"MS_ADMIN_PW"}, noRoot: true},
		{name: "mistyped target", args: func(*estate) []string {
			a := backupArgs()
			for i := range a {
				if a[i] == "prod-ms" {
					a[i] = "prod-sm"
				}
			}
			return a
		}, code: 2, texts: []string{"prod-sm", "prod-ms"}, noRoot: true},
		{name: "backup root is a file", args: func(e *estate) []string {
			writeFile(t, filepath.Join(e.dir, "rootfile"), "x", 0o644)
			return backupArgs("--param", "backup_dir="+filepath.Join(e.dir, "rootfile"))
		}, code: 1, step: "check-root", texts: []string{"is a file, not a directory"}, noRoot: true},
		{name: "no room for the store copy", args: func(e *estate) []string {
			// A real file system with no room: statfs reports no block
			// available in /proc.
			return backupArgs("--param", "backup_dir=/proc/drillbook-backups")
		}, code: 1, step: "check-root", texts: []string{"backup root /proc/drillbook-backups has 0 bytes free, the backup needs"}, noRoot: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEstate(t, "env", c.extra)
			args := c.args(e)
			snap := e.snapshot(t)
			if c.step != "" {
				// plan runs the preflight checks too and says which would fail.
				p := e.db(t, c.env, planArgs(args)...)
				if p.code != 0 || !strings.Contains(p.output, "CHECK FAILS NOW") {
					t.Errorf("plan exit %d, without the failing check:\n%s", p.code, p.output)
				}
			}
			r := e.db(t, c.env, args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, c.code, r.output)
			}
			if c.step != "" && !strings.Contains(r.output, "step "+c.step+": FAILED") {
				t.Errorf("not stopped by preflight step %s:\n%s", c.step, r.output)
			}
			for _, x := range c.texts {
				if !strings.Contains(r.output, x) {
					t.Errorf("%q not said:\n%s", x, r.output)
				}
			}
			for _, d := range []string{"newset", "export", "upload", "entermaint", "import", "restore-store"} {
				if strings.Contains(r.output, "step "+d+": ") {
					t.Errorf("step %s was reached:\n%s", d, r.output)
				}
			}
			if c.noRoot {
				if _, err := os.Stat(e.backups); err == nil {
					t.Error("the backup root was created")
				}
			}
			if c.name == "unreachable store (backup)" {
				os.Rename(e.ms1.StoreDir()+".unmounted", e.ms1.StoreDir())
				snap[e.ms1.StoreDir()] = tree(t, e.ms1.StoreDir())
			}
			e.unchanged(t, snap)
			if c.code == 2 {
				for _, f := range secretForms("msadmin", e.adminPW) {
					if strings.Contains(r.output, f) {
						t.Errorf("the password shows as %q:\n%s", f, r.output)
					}
				}
				return
			}
			e.noSecretsSent(t, false, r)
		})
	}
}

// TestRealTargetCredentialsInAURLRefused: a targets file with the admin
// password written into a node's URL is refused when it is read, by plan
// and run alike, without showing it, and no request reaches the server.
func TestRealTargetCredentialsInAURLRefused(t *testing.T) {
	t.Parallel()
	e := newEstate(t, "env", "")
	b, _ := os.ReadFile(e.targets)
	bad := strings.Replace(string(b), fmt.Sprintf("url: https://127.0.0.1:%d", e.ms1.Port()),
		fmt.Sprintf("url: https://msadmin:%s@127.0.0.1:%d", url.UserPassword("msadmin", e.adminPW).String()[len("msadmin:"):], e.ms1.Port()), 1)
	writeFile(t, e.targets, bad, 0o644)
	snap := e.snapshot(t)
	p := e.db(t, nil, "plan", "messagesight-backup", "--target", "prod-ms", "--param", "server=ms1")
	r := e.db(t, nil, backupArgs()...)
	for _, x := range []run{p, r} {
		if x.code != 2 || !strings.Contains(x.output, e.targets+":") || !strings.Contains(x.output, "holds credentials") {
			t.Errorf("exit %d, want 2 naming %s and the credentials:\n%s", x.code, e.targets, x.output)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(e.ms1.Dir(), "requests.log")); len(bytes.TrimSpace(log)) > 0 {
		t.Errorf("requests reached ms1:\n%s", log)
	}
	e.unchanged(t, snap)
	// The targets file holds the password on purpose here.
	e.secretFiles = append(e.secretFiles, e.targets)
	var all strings.Builder
	all.WriteString(p.output + r.output)
	filepath.WalkDir(e.state, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			all.Write(b)
		}
		return nil
	})
	for _, f := range secretForms("msadmin", e.adminPW) {
		if strings.Contains(all.String(), f) {
			t.Errorf("the password shows as %q", f)
		}
	}
}

// TestRealTargetWrongServerRefused: ms1's backup aimed at ms2 is refused
// however it is asked for, and a confirmation naming another server than
// the one that goes down runs nothing.
func TestRealTargetWrongServerRefused(t *testing.T) {
	t.Parallel()
	e := newEstate(t, "env", "")
	succeeded(t, "backup of ms1", e.db(t, nil, backupArgs()...))
	set, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*"))
	if len(set) != 1 {
		t.Fatalf("sets: %v", set)
	}
	logs := map[*emulator.Server]int{}
	for _, s := range []*emulator.Server{e.ms1, e.ms2} {
		logs[s] = len(e.outagesOf(t, s))
	}
	snap := e.snapshot(t)
	ms2 := func(extra ...string) []string {
		a := []string{"run", "messagesight-restore", "--plain", "--target", "prod-ms", "--param", "server=ms2",
			"--confirm", "consequences=done"}
		return append(a, extra...)
	}
	for _, c := range []struct {
		name  string
		args  []string
		texts []string
	}{
		{"newest set of ms2", ms2("--confirm", "entermaint=ms2"), []string{"no sealed backup set of ms2"}},
		{"ms1's set given for ms2", ms2("--param", "backup_set="+set[0], "--confirm", "entermaint=ms2"), []string{"was taken from ms1, not ms2"}},
		{"token naming ms1", ms2("--param", "from_server=ms1", "--confirm", "entermaint=ms1", "--confirm", "import=ms1", "--confirm", "restore-store=ms1"),
			[]string{"step entermaint: the --confirm token does not match: nothing was run"}},
	} {
		r := e.db(t, nil, c.args...)
		if r.code == 0 {
			t.Errorf("%s: exit 0:\n%s", c.name, r.output)
		}
		for _, x := range c.texts {
			if !strings.Contains(r.output, x) {
				t.Errorf("%s: %q not said:\n%s", c.name, x, r.output)
			}
		}
	}
	for _, s := range []*emulator.Server{e.ms1, e.ms2} {
		if n := len(e.outagesOf(t, s)); n != logs[s] || s.State() != emulator.StateProduction {
			t.Errorf("%s changed: %d restarts or applied imports (was %d), state %d", s.Name(), n, logs[s], s.State())
		}
	}
	for name, want := range snap {
		if got := tree(t, name); got != want {
			t.Errorf("%s was written", name)
		}
	}
}

// TestRealTargetWrongExportPassword: a restore given a backup password that
// is not the export's stops at the preview with the server's own code and
// message and the next action; no server went down and nothing destructive
// ran after it.
func TestRealTargetWrongExportPassword(t *testing.T) {
	t.Parallel()
	e := newEstate(t, "env", "")
	succeeded(t, "backup", e.db(t, nil, backupArgs()...))
	n := len(e.changes(t))
	r := e.db(t, []string{"DRILLBOOK_PARAM_BACKUP_PASSWORD=PLANTED-not-the-export-pw"}, restoreArgs()...)
	stoppedAt(t, r, "preview", "CWLNA6231", "the backup password is wrong: give the password the configuration was exported with")
	for _, c := range e.changes(t)[n:] {
		if strings.Contains(c, "/service/restart") || strings.Contains(c, `"ApplyConfig":true`) {
			t.Errorf("a change after the wrong password: %s", c)
		}
	}
	if e.ms1.State() != emulator.StateProduction {
		t.Errorf("ms1 is in state %d", e.ms1.State())
	}
	if strings.Contains(r.output, "PLANTED-not-the-export-pw") {
		t.Error("the wrong password is shown")
	}
}

// TestRealTargetFailedBackupEndsMaintenance: the store copy fails after ms1
// went into maintenance; the run aborts and its finally step brings ms1
// back into production; the set stays marked incomplete.
func TestRealTargetFailedBackupEndsMaintenance(t *testing.T) {
	t.Parallel()
	e := newEstate(t, "env", "      store_copy: [sh, -c, 'echo \"copy to $1 refused: no space left\" >&2; exit 3', sh, \"{dst}\"]\n")
	r := e.db(t, nil, backupArgs()...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", r.code, r.output)
	}
	for _, x := range []string{"step copystore: FAILED", "no space left", "step endmaint: succeeded", "step wait-endmaint: succeeded", "ms1 (ms1) is Running (production), state 1"} {
		if !strings.Contains(r.output, x) {
			t.Errorf("%q not said:\n%s", x, r.output)
		}
	}
	if i, j := strings.Index(r.output, "step copystore: FAILED"), strings.Index(r.output, "step leavemaint"); j >= 0 && j > i {
		t.Errorf("steps ran after the failed copy:\n%s", r.output)
	}
	if e.ms1.State() != emulator.StateProduction {
		t.Errorf("ms1 is left in state %d", e.ms1.State())
	}
	inc, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*", "INCOMPLETE"))
	sealed, _ := filepath.Glob(filepath.Join(e.backups, "ms1-*", "SEALED"))
	if len(inc) != 1 || len(sealed) != 0 {
		t.Errorf("%d incomplete and %d sealed sets, want 1 and 0", len(inc), len(sealed))
	}
	md := e.db(t, nil, "report", "last")
	if !strings.Contains(md.output, "endmaint") {
		t.Errorf("the report does not show the finally step:\n%s", md.output)
	}
}
