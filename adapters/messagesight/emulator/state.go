package emulator

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
)

// persisted is what survives a restart of the server and of drillbook's
// process: the configured mode (AdminMode), the configuration objects, the
// port, the requests accepted but not yet carried out and the process that
// runs.
type persisted struct {
	Port      int    `json:"port"`
	UID       string `json:"uid"`
	AdminMode int    `json:"adminMode"`
	// Pending records restart requests accepted but not finished. A real
	// server finishes its restart whatever its clients do; the emulator
	// lives in drillbook's process, so when that process dies mid-restart
	// the next one finishes the restart on load.
	Pending []request `json:"pending,omitempty"`
	// CleanOnExit and ResetOnExit are the cleanStore and resetConfig flags
	// of main.c, acted on when the process ends.
	CleanOnExit bool `json:"cleanOnExit,omitempty"`
	ResetOnExit bool `json:"resetOnExit,omitempty"`
	// NextBoot is when the supervisor starts the next process, while none
	// runs.
	NextBoot time.Time `json:"nextBoot,omitempty"`
	// Run is the running process, for a reopened estate.
	Run *runState `json:"run,omitempty"`
	// Partitioned records a cut HA replication link (Server.Partition).
	Partitioned bool `json:"partitioned,omitempty"`
	// FailNextStart, when not zero, makes the next start in production fail
	// with this error code (Server.FailNextStart).
	FailNextStart int `json:"failNextStart,omitempty"`
	// HangNextStop and SkipNextClean are training faults (Server.HangNextStop,
	// Server.SkipNextClean), not product behaviour.
	HangNextStop  bool                       `json:"hangNextStop,omitempty"`
	SkipNextClean bool                       `json:"skipNextClean,omitempty"`
	Config        map[string]json.RawMessage `json:"config"`
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// defaultConfig is the configuration a new emulated server starts with: a
// few of the objects the seed lists (hubs, endpoints, queues, policies).
const defaultConfig = `{
  "MessageHub": {"DemoHub": {"Description": "Demo message hub"}},
  "Endpoint": {"DemoEndpoint": {"Port": 16102, "Enabled": true, "MessageHub": "DemoHub", "Interface": "All", "ConnectionPolicies": "DemoConnectionPolicy", "TopicPolicies": "DemoTopicPolicy"}},
  "ConnectionPolicy": {"DemoConnectionPolicy": {"Protocol": "MQTT,JMS"}},
  "TopicPolicy": {"DemoTopicPolicy": {"Topic": "*", "ActionList": "Publish,Subscribe"}},
  "Queue": {"ORDERS": {"MaxMessages": 5000}},
  "Syslog": {"Enabled": false}
}`

func loadState(dir string) (persisted, error) {
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		var st persisted
		if err := json.Unmarshal([]byte(`{"config":`+defaultConfig+`}`), &st); err != nil {
			return persisted{}, fmt.Errorf("emulator: default config: %w", err)
		}
		uid := make([]byte, 6)
		if _, err := rand.Read(uid); err != nil {
			return persisted{}, fmt.Errorf("emulator: %w", err)
		}
		st.UID = base64.RawURLEncoding.EncodeToString(uid)
		if err := st.save(dir); err != nil {
			return persisted{}, err
		}
		if err := seedStore(filepath.Join(dir, "store")); err != nil {
			return persisted{}, err
		}
		return st, nil
	}
	if err != nil {
		return persisted{}, fmt.Errorf("emulator: %w", err)
	}
	var st persisted
	if err := json.Unmarshal(b, &st); err != nil {
		return persisted{}, fmt.Errorf("emulator: %s is damaged: %w: delete the directory to start afresh", statePath(dir), err)
	}
	if st.Config == nil {
		st.Config = map[string]json.RawMessage{}
	}
	return st, nil
}

// save writes the state atomically, so a server killed while saving
// restarts from the old state or the new one.
func (p persisted) save(dir string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if err := file.WriteAtomic(statePath(dir), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	// data/config/server_dynamic.json mirrors the configuration and the
	// AdminMode, as <DATA>/data/config does.
	doc := map[string]json.RawMessage{}
	for k, v := range p.Config {
		doc[k] = v
	}
	doc["AdminMode"] = json.RawMessage(fmt.Sprint(p.AdminMode))
	cfg, _ := json.MarshalIndent(doc, "", "  ")
	return os.WriteFile(filepath.Join(dir, "data", "server_dynamic.json"), append(cfg, '\n'), 0o644)
}

type haConfig struct {
	Group            string `json:"Group"`
	EnableHA         bool   `json:"EnableHA"`
	StartupMode      string `json:"StartupMode"`
	PreferredPrimary bool   `json:"PreferredPrimary"`
	// DiscoveryTimeout is in seconds; 0 means the default, 600
	// (server_dynamic.json, storeHighAvailability.c).
	DiscoveryTimeout int `json:"DiscoveryTimeout,omitempty"`
}

func (p persisted) ha() (haConfig, bool) {
	raw, ok := p.Config["HighAvailability"]
	if !ok {
		return haConfig{}, false
	}
	var h haConfig
	if json.Unmarshal(raw, &h) != nil {
		return haConfig{}, false
	}
	return h, true
}

func (p persisted) haConfigured() bool { _, ok := p.ha(); return ok }

func (p persisted) haEnabled() bool { h, ok := p.ha(); return ok && h.EnableHA }

func (p *persisted) setHA(group string, preferred bool) {
	b, _ := json.Marshal(haConfig{Group: group, EnableHA: true, StartupMode: "AutoDetect", PreferredPrimary: preferred, DiscoveryTimeout: 600})
	p.Config["HighAvailability"] = b
}

func (p persisted) clusterMember() bool {
	raw, ok := p.Config["ClusterMembership"]
	if !ok {
		return false
	}
	var c struct{ EnableClusterMembership bool }
	return json.Unmarshal(raw, &c) == nil && c.EnableClusterMembership
}

// The emulated store: <store>/com.ibm.ism/queues/NAME.msg (one message per
// line), subscriptions.txt and clients.txt (one name per line).
const storeRoot = "com.ibm.ism"

func seedStore(store string) error {
	root := filepath.Join(store, storeRoot)
	if err := os.MkdirAll(filepath.Join(root, "queues"), 0o755); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	files := map[string]string{
		"queues/ORDERS.msg": "order-1\norder-2\norder-3\norder-4\norder-5\n",
		"subscriptions.txt": "sensors/#@client-a\nalerts/+@client-b\n",
		"clients.txt":       "client-a\nclient-b\nclient-c\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("emulator: %w", err)
		}
	}
	return nil
}

func (s *Server) ensureStore() error {
	return os.MkdirAll(filepath.Join(s.StoreDir(), storeRoot, "queues"), 0o755)
}

// cleanStore deletes every message, subscription and client state and keeps
// the configuration (reference §7.1).
func (s *Server) cleanStore() error {
	root := filepath.Join(s.StoreDir(), storeRoot)
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("clean store: %w", err)
	}
	return os.MkdirAll(filepath.Join(root, "queues"), 0o755)
}

// resetConfigLocked returns the configuration to its defaults with
// AdminMode 0 and cleans the store (Reset:"config": resetServerConfig.sh 1
// removes data/config and store/com.ibm.ism and sets AdminMode 0).
func (s *Server) resetConfigLocked() error {
	var st persisted
	err := json.Unmarshal([]byte(`{"config":`+defaultConfig+`}`), &st)
	if err == nil {
		ha := s.st.Config["HighAvailability"]
		s.st.Config = st.Config
		if ha != nil {
			// The emulated pair keeps its pairing; a real reset would need
			// HA configured again (a simplification).
			s.st.Config["HighAvailability"] = ha
		}
		s.st.AdminMode = 0
		err = s.st.save(s.opts.Dir)
	}
	if err != nil {
		return err
	}
	return s.cleanStore()
}

// FailNextStart makes the next start of the server in production fail with
// an error code (501: "Store data is unrecoverable."): it comes up in
// maintenance mode with that ErrorCode, as main.c does when ism_store_start
// fails.
func (s *Server) FailNextStart(code int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.FailNextStart = code
	return s.st.save(s.opts.Dir)
}

// HangNextStop is a fault for training: the next restart request is
// answered but never acted on, so the server reports State 2 (Stopping)
// until it is restarted from its platform (a shutdown that hangs).
func (s *Server) HangNextStop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.HangNextStop = true
	return s.st.save(s.opts.Dir)
}

// SkipNextClean is a fault for training: the next CleanStore restarts the
// server without cleaning its store (as if it had been cleaned on the wrong
// node), so a standby keeps its old data.
func (s *Server) SkipNextClean() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.SkipNextClean = true
	return s.st.save(s.opts.Dir)
}

// hasData reports whether the store holds anything (the HA_MSG_FLAG_HAVE_DATA
// of storeHighAvailability.c): a cleaned store holds nothing.
func (s *Server) hasData() bool {
	sum, err := ReadStore(s.StoreDir())
	return err == nil && sum != (StoreSummary{})
}

// sameStore reports whether two store directories hold the same files (the
// emulator's stand-in for equal shutdown tokens of a pair that stopped in
// sync).
func sameStore(a, b string) bool {
	da, err1 := storeDigest(a)
	db, err2 := storeDigest(b)
	return err1 == nil && err2 == nil && da == db
}

func storeDigest(dir string) (string, error) {
	h := sha256.New()
	root := filepath.Join(dir, storeRoot)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// copyStore replaces the store under dst with a copy of the one under src.
func copyStore(src, dst string) error {
	from := filepath.Join(src, storeRoot)
	to := filepath.Join(dst, storeRoot)
	tmp := to + ".sync"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(tmp, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, rel), b, 0o644)
	})
	if errors.Is(err, os.ErrNotExist) {
		err = os.MkdirAll(filepath.Join(tmp, "queues"), 0o755)
	}
	if err != nil {
		return err
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

// StoreSummary counts what the emulated store holds.
type StoreSummary struct {
	// Messages counts the messages on all queues.
	Messages int
	// Subscriptions counts durable subscriptions.
	Subscriptions int
	// Clients counts client states.
	Clients int
}

// Store reads the store directory and counts what it holds.
func (s *Server) Store() (StoreSummary, error) { return ReadStore(s.StoreDir()) }

// ReadStore counts what an emulated store directory (or a copy of one)
// holds.
func ReadStore(store string) (StoreSummary, error) {
	root := filepath.Join(store, storeRoot)
	var sum StoreSummary
	qs, err := os.ReadDir(filepath.Join(root, "queues"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return sum, err
	}
	for _, q := range qs {
		n, err := countLines(filepath.Join(root, "queues", q.Name()))
		if err != nil {
			return sum, err
		}
		sum.Messages += n
	}
	if sum.Subscriptions, err = countLines(filepath.Join(root, "subscriptions.txt")); err != nil {
		return sum, err
	}
	if sum.Clients, err = countLines(filepath.Join(root, "clients.txt")); err != nil {
		return sum, err
	}
	return sum, nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n, sc.Err()
}

// PutMessages appends messages to a queue of the store, as clients sending
// to the server would; a synchronised standby receives them too (the
// primary replicates every store update).
func (s *Server) PutMessages(queue string, msgs ...string) error {
	if queue == "" || strings.ContainsAny(queue, `/\`) || strings.HasPrefix(queue, ".") {
		return fmt.Errorf("emulator: queue name %q is not valid", queue)
	}
	s.mu.Lock()
	var standby *Server
	if s.p != nil && s.p.role == rolePrimary && s.p.synced == 2 && s.peer != nil && !s.partitioned {
		standby = s.peer
	}
	s.mu.Unlock()
	if err := appendMessages(s.StoreDir(), queue, msgs); err != nil {
		return err
	}
	if standby != nil {
		return appendMessages(standby.StoreDir(), queue, msgs)
	}
	return nil
}

func appendMessages(store, queue string, msgs []string) error {
	f, err := os.OpenFile(filepath.Join(store, storeRoot, "queues", queue+".msg"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	defer f.Close()
	for _, m := range msgs {
		if _, err := fmt.Fprintln(f, strings.ReplaceAll(m, "\n", " ")); err != nil {
			return fmt.Errorf("emulator: %w", err)
		}
	}
	return nil
}

// Export file format. The product encrypts a tar of data/config and
// data/certificates with `openssl enc -aes128 -salt -a` (base64 text
// starting "U2FsdGVkX1", "Salted__"). The emulator keeps the armour and the
// header, and encrypts the configuration document with AES-128-GCM so that a
// wrong password is detected for certain (CWLNA6231), with an MD5 of the
// content inside, as restore.sh checks one (CWLNA6232).
const internalKey = "emulated-internal-key"

type exportBody struct {
	MD5    string          `json:"md5"`
	Config json.RawMessage `json:"config"`
}

func encryptExport(password string, config []byte) ([]byte, error) {
	sum := md5.Sum(config)
	plain, err := json.Marshal(exportBody{MD5: hex.EncodeToString(sum[:]), Config: config})
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 8)
	nonce := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	gcm, err := exportCipher(password, salt)
	if err != nil {
		return nil, err
	}
	raw := append([]byte("Salted__"), salt...)
	raw = append(raw, nonce...)
	raw = gcm.Seal(raw, nonce, plain, nil)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	for len(enc) > 64 {
		b.WriteString(enc[:64])
		b.WriteByte('\n')
		enc = enc[64:]
	}
	b.WriteString(enc)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func exportCipher(password string, salt []byte) (cipher.AEAD, error) {
	h := sha256.Sum256(append([]byte(password+"-"+internalKey), salt...))
	block, err := aes.NewCipher(h[:16])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// errDecrypt and friends say which restore.sh failure a file produces.
var (
	errStructure = errors.New("structure") // CWLNA6214
	errDecrypt   = errors.New("decrypt")   // CWLNA6231
	errIntegrity = errors.New("md5")       // CWLNA6232
)

func decryptExport(password string, file []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(file)), ""))
	if err != nil || len(raw) < 8+8+12+16 || string(raw[:8]) != "Salted__" {
		return nil, errStructure
	}
	gcm, err := exportCipher(password, raw[8:16])
	if err != nil {
		return nil, errStructure
	}
	plain, err := gcm.Open(nil, raw[16:28], raw[28:], nil)
	if err != nil {
		return nil, errDecrypt
	}
	var body exportBody
	if err := json.Unmarshal(plain, &body); err != nil {
		return nil, errIntegrity
	}
	sum := md5.Sum(body.Config)
	if hex.EncodeToString(sum[:]) != body.MD5 {
		return nil, errIntegrity
	}
	return body.Config, nil
}

// serverSpecificKeys are stripped from an imported configuration before
// preview or apply (reference §6.2).
func serverSpecificKeys() []string {
	return []string{"AdminMode", "ServerUID", "ServerVersion", "AdminUserID", "AdminUserPassword",
		"AdminEndpoint", "AdminDefaultSecProfile", "AdminDefaultCertProf", "TraceLevel", "MemoryType",
		"BackupToDisk", "RestoreFromDisk", "InternalErrorCode"}
}

// importedConfig strips server-specific keys and, with disable, disables the
// objects tied to IP addresses (reference §6.2 DisableObjects).
func importedConfig(raw []byte, disable bool) (map[string]json.RawMessage, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, errIntegrity
	}
	for _, k := range serverSpecificKeys() {
		delete(cfg, k)
	}
	if !disable {
		return cfg, nil
	}
	if raw, ok := cfg["Endpoint"]; ok {
		var eps map[string]map[string]any
		if json.Unmarshal(raw, &eps) == nil {
			for _, ep := range eps {
				ep["Enabled"] = false
			}
			cfg["Endpoint"], _ = json.Marshal(eps)
		}
	}
	for obj, field := range map[string]string{"HighAvailability": "EnableHA", "ClusterMembership": "EnableClusterMembership", "Syslog": "Enabled"} {
		if raw, ok := cfg[obj]; ok {
			var m map[string]any
			if json.Unmarshal(raw, &m) == nil {
				m[field] = false
				cfg[obj], _ = json.Marshal(m)
			}
		}
	}
	return cfg, nil
}

// previewDocument renders a configuration the way import preview returns
// it: pretty-printed, "Version" first, then the objects by name.
func previewDocument(cfg map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("{\n  \"Version\": \"v1\"")
	for _, k := range keys {
		var v bytes.Buffer
		if err := json.Indent(&v, cfg[k], "  ", "  "); err != nil {
			v.Reset()
			v.Write(cfg[k])
		}
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&b, ",\n  %s: %s", kb, v.Bytes())
	}
	b.WriteString("\n}\n")
	return b.Bytes()
}
