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

	"github.com/drillbook/drillbook/adapters/file"
)

// persisted is what survives a restart of the server and of the process:
// the configured mode (AdminMode), an applied import waiting for a restart,
// the configuration objects and the port.
type persisted struct {
	Port           int    `json:"port"`
	UID            string `json:"uid"`
	AdminMode      int    `json:"adminMode"`
	PendingRestart bool   `json:"pendingRestart"`
	// Restarting records a restart accepted but not finished ("plain",
	// "clean", "reset"). A real server finishes its restart whatever its
	// clients do; the emulator lives in drillbook's process, so when that
	// process dies mid-restart the next one finishes the restart on load.
	Restarting string                     `json:"restarting,omitempty"`
	Config     map[string]json.RawMessage `json:"config"`
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
	// data/config mirrors the configuration, as <DATA>/data/config does.
	cfg, _ := json.MarshalIndent(p.Config, "", "  ")
	return os.WriteFile(filepath.Join(dir, "data", "server_dynamic.json"), append(cfg, '\n'), 0o644)
}

type haConfig struct {
	Group            string `json:"Group"`
	EnableHA         bool   `json:"EnableHA"`
	StartupMode      string `json:"StartupMode"`
	PreferredPrimary bool   `json:"PreferredPrimary"`
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
	b, _ := json.Marshal(haConfig{Group: group, EnableHA: true, StartupMode: "AutoDetect", PreferredPrimary: preferred})
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

// resetConfig returns the configuration to its defaults and cleans the store
// (Reset:"config", reference §5.1).
func (s *Server) resetConfig() error {
	s.mu.Lock()
	var st persisted
	err := json.Unmarshal([]byte(`{"config":`+defaultConfig+`}`), &st)
	if err == nil {
		s.st.Config = st.Config
		s.st.AdminMode = 0
		err = s.st.save(s.opts.Dir)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.cleanStore()
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
// to the server would.
func (s *Server) PutMessages(queue string, msgs ...string) error {
	if queue == "" || strings.ContainsAny(queue, `/\`) || strings.HasPrefix(queue, ".") {
		return fmt.Errorf("emulator: queue name %q is not valid", queue)
	}
	f, err := os.OpenFile(filepath.Join(s.StoreDir(), storeRoot, "queues", queue+".msg"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
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
