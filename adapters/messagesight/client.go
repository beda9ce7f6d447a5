// Package messagesight is drillbook's adapter for IBM IoT MessageSight
// (Eclipse Amlen): a REST admin client and the operations the backup and
// restore runbooks use (status, restart in and out of maintenance mode,
// clean store, export and import of the configuration, file transfer, the
// copy of the store directory, HA status, and a manifest that binds a
// configuration backup to its store backup).
//
// The REST API has no backup or restore endpoint (reference §0): a backup is
// an export of the configuration plus a copy of the store directory taken in
// maintenance mode, and cleaning the store is a restart option.
package messagesight

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// Server is how drillbook reaches one MessageSight server: its admin
// endpoint and where its store directory is. An entry under
// messagesight.nodes takes user, password and ca_file from the section when
// it leaves them out; it never takes the section's url or pin_sha256.
type Server struct {
	// URL is the server's admin endpoint, a string https://HOST:PORT; for
	// example "https://ms1.example.com:9089". It must not hold credentials:
	// a user or password in it is refused with its position. Required.
	URL string `yaml:"url"`
	// User is the admin user for Basic authentication, a string; for
	// example "sysadmin". Empty means the section's user, and no
	// authentication when that is empty too (the product's default admin
	// endpoint is not secured).
	User string `yaml:"user"`
	// Password is where the admin password comes from, a secret reference
	// ({env: NAME}, {file: PATH} or {command: [ARGV...]}), never the
	// password; for example {env: MS1_ADMIN_PW}. Empty means the section's
	// password.
	Password runbook.SecretRef `yaml:"password"`
	// CAFile is a PEM file of the CAs that signed the admin endpoint's
	// certificate, a path; for example "/etc/drillbook/ms1-ca.pem". Empty
	// means the section's ca_file, else the system's CAs.
	CAFile string `yaml:"ca_file"`
	// PinSHA256 is the SHA-256 fingerprint of this server's certificate, a
	// string of 64 hex digits (colons allowed); for example
	// "9C:4E:11:...:AD:E7". When set, exactly that certificate is accepted.
	// Empty means no pin; the section's pin is not taken, since a pin names
	// one server's certificate.
	PinSHA256 string `yaml:"pin_sha256"`
	// StoreDir is the server's store directory (<DATA>/store) as this
	// machine reaches it (a mount), a path; for example "/mnt/ms1/store".
	// A store backup copies it and a store restore replaces it. Empty means
	// the server's store cannot be backed up or restored (a warning when
	// the target is loaded).
	StoreDir string `yaml:"store_dir"`
	// Host names the machine the server runs on, a string shown in plans
	// and confirmation dialogs; for example "ms1.example.com". Empty means
	// the host of url. It is a label only: store_host says where the
	// store's files are reached.
	Host string `yaml:"host"`
	// StoreHost is the host, a name under the target's hosts:, on which
	// store_dir lies; for example "ms1". A store backup hashes the store
	// there and streams it to backup_host; a store restore writes it
	// there. Empty means this machine (store_dir is a local path or a
	// mount).
	StoreHost string `yaml:"store_host"`
}

// serverFields are the keys a node entry may have.
var serverFields = []string{"url", "user", "password", "ca_file", "pin_sha256", "store_dir", "host", "store_host"}

// UnmarshalYAML decodes a node entry strictly: a field the adapter does not
// know is an error with its line and column, as at the section level.
func (s *Server) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !slices.Contains(serverFields, k.Value) {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: unknown field %q in a messagesight node: known fields are %s", k.Line, k.Column, k.Value, strings.Join(serverFields, ", "))}}
			}
		}
	}
	if err := refuseURLCredentials(n, "messagesight node"); err != nil {
		return err
	}
	type plain Server
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = Server(p)
	return nil
}

// refuseURLCredentials refuses a url field that holds a user or password
// ("https://admin:PW@host"): printed by plan and journaled, it would leak
// the password. The error gives the position, never the URL.
func refuseURLCredentials(n *yaml.Node, where string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "url" || v.Kind != yaml.ScalarNode {
			continue
		}
		if u, err := url.Parse(v.Value); err == nil && u.User != nil {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: the url of a %s holds credentials, which would be shown and journaled: remove them from the url and put the user in user and the password in password {env|file|command}", v.Line, v.Column, where)}}
		}
	}
	return nil
}

// UnmarshalYAML decodes the section, refusing credentials written into its
// url (the field names are checked by the targets decoder).
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if err := refuseURLCredentials(n, "messagesight section"); err != nil {
		return err
	}
	type plain Config
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// Config is the messagesight section of a target in targets.yaml: the
// servers by name, and where backups go.
type Config struct {
	// URL is the admin endpoint of a default server, a string; for example
	// "https://ms1.example.com:9089". Only a step that names no node uses
	// it, and every step of the shipped runbooks names its server, so a url
	// here is warned about: declare servers under nodes. Empty means no
	// default server. It must not hold credentials.
	URL string `yaml:"url"`
	// User is the admin user for Basic authentication of every node that
	// sets none, a string; for example "sysadmin". Empty means none.
	User string `yaml:"user"`
	// Password is where the admin password of every node that sets none
	// comes from, a secret reference ({env: NAME}, {file: PATH} or
	// {command: [ARGV...]}); for example {env: MS_ADMIN_PW}. Empty means
	// none: a user without a password is an error at its first request.
	Password runbook.SecretRef `yaml:"password"`
	// CAFile is a PEM file of the CAs trusted for every node that sets
	// none, a path; for example "/etc/drillbook/ms-ca.pem". Empty means the
	// system's CAs.
	CAFile string `yaml:"ca_file"`
	// PinSHA256 is the SHA-256 fingerprint of the default server's
	// certificate (url), a string of 64 hex digits, colons allowed; for
	// example "5E:2B:7C:...:6A:90". Nodes do not take it. Empty means no
	// pin.
	PinSHA256 string `yaml:"pin_sha256"`
	// Nodes are the servers by name, a map of names to Server blocks (a
	// standalone server, or the two of an HA pair); a step picks one with
	// its node argument. For example nodes: {ms1: {url:
	// "https://ms1.example.com:9089", store_dir: /mnt/ms1/store}}. Empty
	// means none, and then no shipped runbook can run.
	Nodes map[string]Server `yaml:"nodes"`
	// Timeout bounds each HTTP request, a duration; for example 20s. Zero
	// means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// StoreCopy is the command that copies a store directory (rsync or scp
	// to another machine), a list of strings, an argv in which "{src}" and
	// "{dst}" are replaced, never run by a shell; for example [rsync, -a,
	// "{src}/", "backup01:{dst}/"]. Empty means a local copy.
	StoreCopy []string `yaml:"store_copy"`
	// BackupRoot is the directory under which every backup writes a new,
	// timestamped backup set (SERVER-YYYYMMDDTHHMMSSZ, sealed when
	// complete) and in which a restore looks for the newest sealed set, a
	// path as this machine reaches it; for example "/backup/messagesight".
	// The runbooks' backup_dir and backup_set parameters override it.
	// Empty means those parameters must be given.
	BackupRoot string `yaml:"backup_root"`
	// BackupHost is the host, a name under the target's hosts:, on which
	// backup_root lies: backup sets are created, sealed, checked and read
	// there, downloads are written and uploads read there. For example
	// "backup01". Empty means this machine.
	BackupHost string `yaml:"backup_host"`
	// Hosts resolves the host names of store_host and backup_host; cmd
	// gives it the target's hosts. Nil means only this machine exists.
	Hosts host.Resolver `yaml:"-"`
	// DelayScale, when not zero, multiplies the waits' timeouts and limits:
	// the training target's emulated servers run faster than real ones.
	// Plans say so. It cannot be set in targets.yaml.
	DelayScale float64 `yaml:"-"`
}

const defaultTimeout = 30 * time.Second

// main returns the default server.
func (c Config) main() Server {
	return Server{URL: c.URL, User: c.User, Password: c.Password, CAFile: c.CAFile, PinSHA256: c.PinSHA256}
}

// target is one resolved node.
type target struct {
	label string
	srv   Server
}

// node returns the server a step's node argument names.
func (c Config) node(name string) (target, error) {
	if name == "" {
		if c.URL == "" {
			return target{}, errors.New("messagesight: no admin URL: set messagesight.url in targets.yaml")
		}
		return target{label: hostOf(c.URL), srv: c.main()}, nil
	}
	s, ok := c.Node(name)
	if !ok {
		names := make([]string, 0, len(c.Nodes))
		for n := range c.Nodes {
			names = append(names, n)
		}
		return target{}, fmt.Errorf("messagesight: node %q is not in messagesight.nodes of the target (known: %s): add it to targets.yaml", name, strings.Join(names, ", "))
	}
	if s.URL == "" {
		return target{}, fmt.Errorf("messagesight: node %q has no url: set messagesight.nodes.%s.url in targets.yaml", name, name)
	}
	return target{label: name, srv: s}, nil
}

// inherit fills a node's unset user, password and ca_file from the
// section. A pin is not inherited: it names one server's certificate.
func (c Config) inherit(s Server) Server {
	if s.User == "" {
		s.User = c.User
	}
	if s.Password.IsZero() {
		s.Password = c.Password
	}
	if s.CAFile == "" {
		s.CAFile = c.CAFile
	}
	return s
}

// Node returns the settings of a node as the adapter uses them, with what
// it inherits from the section (for `drillbook targets check`).
func (c Config) Node(name string) (Server, bool) {
	s, ok := c.Nodes[name]
	if !ok {
		return Server{}, false
	}
	return c.inherit(s), true
}

// Warnings returns what is set in the section but can never be used by a
// shipped runbook, and what is missing for them, one sentence each; cmd/
// prints them when the target is loaded.
func Warnings(c Config) []string {
	// A section-level url that no runbook can use is warned about by cmd,
	// with its position, against the runbooks that can run on the target.
	var w []string
	names := make([]string, 0, len(c.Nodes))
	for n := range c.Nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := c.Nodes[n]
		if s.StoreDir == "" {
			w = append(w, fmt.Sprintf("messagesight.nodes.%s has no store_dir: its store cannot be backed up or restored; set it to the server's <DATA>/store as this machine reaches it", n))
		}
		if u, err := url.Parse(s.URL); err == nil && u.User != nil {
			w = append(w, fmt.Sprintf("messagesight.nodes.%s.url holds credentials: it is refused; put the user in user and the password in password {env|file|command}", n))
		}
	}
	return w
}

// planURL is the URL a plan shows; with no target it says where it comes
// from.
func (c Config) planURL(node, path string) (string, string) {
	t, err := c.node(node)
	if err != nil {
		if node == "" {
			return "<messagesight.url>" + path, "messagesight"
		}
		return "<messagesight.nodes." + node + ".url>" + path, node
	}
	return strings.TrimRight(redactURL(t.srv.URL), "/") + path, t.label
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}

// client talks to one node.
type client struct {
	label string
	base  string
	user  string
	pw    runbook.SecretRef
	http  *http.Client
	// secrets are redacted from anything the server says back.
	secrets []string
}

func newClient(cfg Config, node string) (*client, error) {
	t, err := cfg.node(node)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(t.srv.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("messagesight %s: url %q is not an http or https URL: fix messagesight url in targets.yaml", t.label, redactURL(t.srv.URL))
	}
	if u.User != nil {
		return nil, fmt.Errorf("messagesight %s: the url holds credentials, which would be shown and journaled: remove them from the url and put the user in messagesight user and the password in messagesight password {env|file|command}", t.label)
	}
	if t.srv.User != "" && t.srv.Password.IsZero() {
		return nil, fmt.Errorf("messagesight %s: user %s has no password source: set messagesight password {env|file|command} in targets.yaml", t.label, t.srv.User)
	}
	tlsCfg, err := tlsConfig(t.label, t.srv)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	tr := &http.Transport{
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true, // the server restarts under us; never reuse a dead connection
		Proxy:                 nil,
	}
	return &client{
		label: t.label,
		base:  strings.TrimRight(t.srv.URL, "/"),
		user:  t.srv.User,
		pw:    t.srv.Password,
		http:  &http.Client{Transport: tr, Timeout: timeout},
	}, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// tlsConfig trusts the CA file, or exactly the pinned certificate.
func tlsConfig(label string, s Server) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("messagesight %s: read ca_file: %w: fix messagesight ca_file in targets.yaml", label, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("messagesight %s: ca_file %s holds no PEM certificate: point it at the CA that signed the admin endpoint's certificate", label, s.CAFile)
		}
		cfg.RootCAs = pool
	}
	if s.PinSHA256 != "" {
		want, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(s.PinSHA256), ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("messagesight %s: pin_sha256 is not a SHA-256 in hex: write the 64 hex digits of the certificate's fingerprint", label)
		}
		// The pin replaces chain verification: the one certificate pinned is
		// the trust decision, as for a self-signed admin certificate.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("certificate fingerprint %s does not match pin_sha256: if the certificate was renewed on purpose, update pin_sha256 in targets.yaml", hex.EncodeToString(got[:]))
			}
			return nil
		}
	}
	return cfg, nil
}

// response is a finished request.
type response struct {
	status int
	body   []byte
}

// APIError is a reply the server refused: its HTTP status and, when the body
// is the Code/Message envelope, the CWLNA code and text.
type APIError struct {
	// Node is the node's label.
	Node string
	// Method and Path are the request's.
	Method, Path string
	// Status is the HTTP status.
	Status int
	// Code is the CWLNAnnnn code, "" when the body had none.
	Code string
	// Message is the server's message (secrets redacted).
	Message string
}

// Error says what the server answered and what to do about it.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "messagesight %s: %s %s: HTTP %d", e.Node, e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " %q", e.Message)
	}
	if hint := Explain(e.Code, e.Status); hint != "" {
		b.WriteString(": " + hint)
	}
	return b.String()
}

// ErrUnreachable marks a request that got no answer (connection refused,
// reset or timed out): the server is down or restarting.
var ErrUnreachable = errors.New("the server is not answering")

// ErrRefused marks a connection refused: nothing listens on the port, so
// the request never reached a server and may be sent again.
var ErrRefused = errors.New("connection refused")

// ErrTLS marks a TLS handshake the adapter refused: the server answered,
// but its certificate is not trusted.
var ErrTLS = errors.New("the server's certificate is not trusted")

// describeTLSErr says why a certificate was refused and which setting
// decides it, or "" when err is not about trust.
func describeTLSErr(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return "it is signed by an authority this machine does not trust: set messagesight ca_file to the CA that signed it, or pin it with pin_sha256"
	case errors.As(err, &hn):
		return fmt.Sprintf("it is not valid for this host name (%v): use the name in the certificate in url, or pin it with pin_sha256", hn.Error())
	case errors.As(err, &ci):
		return fmt.Sprintf("it is not valid (%v): renew it, or pin the one in use with pin_sha256", ci.Error())
	case errors.As(err, &ve):
		return fmt.Sprintf("%v: check ca_file and pin_sha256", ve.Err)
	case errors.As(err, &rec):
		return "the server does not speak TLS on this port: use http:// in url, or the admin endpoint's https port"
	}
	if _, after, ok := strings.Cut(err.Error(), "certificate fingerprint"); ok {
		return "certificate fingerprint" + after
	}
	return ""
}

// maxBody is the largest answer the client reads: configuration backups
// and status documents are far smaller.
const maxBody = 256 << 20

// do sends one request. Secrets are redacted from anything the server says.
func (c *client) do(ctx context.Context, method, path string, body []byte) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, fmt.Errorf("messagesight %s: %w", c.label, err)
	}
	if body != nil && method != http.MethodPut {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		pw, err := c.pw.Resolve(ctx)
		if err != nil {
			return response{}, fmt.Errorf("messagesight %s: admin password (%s): %w", c.label, c.pw, err)
		}
		c.addSecret(pw)
		// The Authorization header carries base64(user:password): mask that
		// form too, should a server or proxy ever echo it.
		c.secrets = appendSecret(c.secrets, base64.StdEncoding.EncodeToString([]byte(c.user+":"+pw)))
		req.SetBasicAuth(c.user, pw)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("messagesight %s: %s %s: %w", c.label, method, path, ctx.Err())
		}
		if tlsErr := describeTLSErr(err); tlsErr != "" {
			return response{}, fmt.Errorf("messagesight %s: %s %s: %w: %s", c.label, method, path, ErrTLS, tlsErr)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return response{}, fmt.Errorf("messagesight %s: %s %s: %w: %w (down or restarting)", c.label, method, path, ErrUnreachable, ErrRefused)
		}
		return response{}, fmt.Errorf("messagesight %s: %s %s: %w: %s", c.label, method, path, ErrUnreachable, describeNetErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return response{}, fmt.Errorf("messagesight %s: %s %s: reading the answer: %w: %s", c.label, method, path, ErrUnreachable, describeNetErr(err))
	}
	if len(b) > maxBody {
		// Cut short, a downloaded backup would be saved damaged.
		return response{}, fmt.Errorf("messagesight %s: %s %s: the answer is larger than %d MiB: copy the file from the server by other means", c.label, method, path, maxBody>>20)
	}
	r := response{status: resp.StatusCode, body: b}
	if resp.StatusCode >= 300 {
		return r, c.apiError(method, path, r)
	}
	return r, nil
}

// addSecret masks a secret in everything the server says, in the forms
// the adapter produces of it: as is, URL-encoded and JSON-escaped.
func (c *client) addSecret(s string) {
	c.secrets = appendSecret(c.secrets, s)
	c.secrets = appendSecret(c.secrets, url.QueryEscape(s))
	c.secrets = appendSecret(c.secrets, url.PathEscape(s))
	if b, err := json.Marshal(s); err == nil {
		c.secrets = appendSecret(c.secrets, strings.Trim(string(b), `"`))
	}
}

func appendSecret(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, e := range list {
		if e == s {
			return list
		}
	}
	return append(list, s)
}

func describeNetErr(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (down or restarting)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (restarting)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "no answer in time"
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// envelope is the Code/Message document of successes and errors.
type envelope struct {
	Version string `json:"Version"`
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (c *client) redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

func (c *client) apiError(method, path string, r response) error {
	e := &APIError{Node: c.label, Method: method, Path: path, Status: r.status}
	var env envelope
	if json.Unmarshal(r.body, &env) == nil && env.Code != "" {
		e.Code, e.Message = env.Code, c.redact(env.Message)
	} else {
		msg := strings.TrimSpace(string(r.body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		e.Message = c.redact(msg)
	}
	return e
}

// post sends a JSON body and returns the success envelope.
func (c *client) post(ctx context.Context, path string, payload any) (envelope, response, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return envelope{}, response{}, fmt.Errorf("messagesight %s: %w", c.label, err)
	}
	r, err := c.do(ctx, http.MethodPost, path, b)
	if err != nil {
		return envelope{}, r, err
	}
	var env envelope
	_ = json.Unmarshal(r.body, &env)
	return env, r, nil
}

// Status is the part of GET /ima/v1/service/status the adapter uses.
type Status struct {
	Server struct {
		Name              string
		UID               string
		Status            string
		State             int
		StateDescription  string
		ServerTime        string
		UpTimeSeconds     int64
		UpTimeDescription string
		Version           string
		ErrorCode         int
		ErrorMessage      string
	}
	HighAvailability struct {
		Status            string
		Enabled           bool
		Group             string
		NewRole           string
		OldRole           string
		ActiveNodes       int
		SyncNodes         int
		PctSyncCompletion int
		ReasonCode        int
		ReasonString      string
		RemoteServerName  string
	}
}

func (c *client) status(ctx context.Context) (Status, []byte, error) {
	r, err := c.do(ctx, http.MethodGet, "/ima/v1/service/status", nil)
	if err != nil {
		return Status{}, nil, err
	}
	var st Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		return Status{}, nil, fmt.Errorf("messagesight %s: status is not JSON: %w: is messagesight url the admin endpoint (port 9089)?", c.label, err)
	}
	return st, r.body, nil
}
