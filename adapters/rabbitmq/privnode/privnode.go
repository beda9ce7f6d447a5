// Package privnode starts and stops a private RabbitMQ node on loopback: its
// own node name, ports, data directory, Erlang cookie, HOME and epmd port, so
// that it never touches a default node (rabbit@host, 5672, 4369). Tests and
// the training target use it; the recipe is reference/rabbitmq.md §2.
package privnode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultBinDir is where Debian keeps the real RabbitMQ scripts. The
// wrappers in /usr/sbin `su` to the rabbitmq user, which brings the wrong HOME
// and cookie (reference §1, "the Debian wrapper scripts").
const DefaultBinDir = "/usr/lib/rabbitmq/bin"

// InstallHint is the remedy shown when RabbitMQ is not installed.
const InstallHint = "install it with: apt-get install -y rabbitmq-server"

// Options configures Start.
type Options struct {
	// Dir holds everything the node owns; it is created when missing and
	// keeps the node's state (ports, name, data) across restarts of the
	// calling program.
	Dir string
	// Name is the short node name; empty means "drillbook". The full name
	// is Name@localhost.
	Name string
	// Management enables the management plugin (HTTP API). Without it a
	// stop is about 5 s faster (reference §2).
	Management bool
	// BinDir holds rabbitmq-server and rabbitmqctl; empty means DefaultBinDir.
	BinDir string
	// StartTimeout bounds the boot; zero means 120s.
	StartTimeout time.Duration
}

// Node is a running private node.
type Node struct {
	// Name is the full node name (drill@localhost).
	Name string `json:"name"`
	// Dir is the node's base directory.
	Dir string `json:"dir"`
	// BinDir holds the RabbitMQ scripts.
	BinDir string `json:"bin_dir"`
	// AMQPPort, MgmtPort, DistPort and EPMDPort are the node's loopback
	// ports; MgmtPort is 0 without the management plugin.
	AMQPPort int `json:"amqp_port"`
	MgmtPort int `json:"mgmt_port"`
	DistPort int `json:"dist_port"`
	EPMDPort int `json:"epmd_port"`
	// Management says whether the management plugin is enabled.
	Management bool `json:"management"`

	launcher *exec.Cmd
	exited   chan struct{}
}

// stateFile records the node's name and ports so a restarted program finds
// the node it left running, or restarts it on the same ports and data.
const stateFile = "node.json"

// BinDirFor returns the directory holding the RabbitMQ scripts, or an error
// saying how to install them.
func BinDirFor(dir string) (string, error) {
	if dir == "" {
		dir = DefaultBinDir
	}
	if _, err := os.Stat(filepath.Join(dir, "rabbitmq-server")); err != nil {
		return "", fmt.Errorf("rabbitmq-server not found in %s: %s", dir, InstallHint)
	}
	return dir, nil
}

// Start starts the node described by opts, or attaches to it when a previous
// Start in the same Dir left it running. It returns once the node has fully
// booted (plugins included) or fails with the tail of the server's output.
func Start(ctx context.Context, opts Options) (*Node, error) {
	bin, err := BinDirFor(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("privnode: a directory is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 120 * time.Second
	}
	n, existed, err := loadOrCreate(dir, bin, opts)
	if err != nil {
		return nil, err
	}
	if existed && n.running() && n.Ping(ctx) == nil {
		return n, nil // left running by an earlier process
	}
	if err := n.writeFiles(); err != nil {
		return nil, err
	}
	if err := n.launch(ctx, opts.StartTimeout); err != nil {
		return nil, err
	}
	return n, nil
}

// Prepare returns the node Start would start in opts.Dir, with its name,
// ports and directories, without starting anything: the first call
// chooses the ports and records them, so a later Start uses the same ones.
// It needs no RabbitMQ installed (BinDir is then DefaultBinDir).
func Prepare(opts Options) (*Node, error) {
	if opts.Dir == "" {
		return nil, errors.New("privnode: a directory is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	bin := opts.BinDir
	if bin == "" {
		bin = DefaultBinDir
	}
	n, _, err := loadOrCreate(dir, bin, opts)
	return n, err
}

func loadOrCreate(dir, bin string, opts Options) (*Node, bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("create node directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err == nil {
		var n Node
		if err := json.Unmarshal(b, &n); err != nil {
			return nil, false, fmt.Errorf("read %s: %w: delete the directory to start afresh", filepath.Join(dir, stateFile), err)
		}
		n.Dir, n.BinDir = dir, bin
		return &n, true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	name := opts.Name
	if name == "" {
		name = "drillbook"
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, false, err
	}
	n := &Node{Name: name + "@localhost", Dir: dir, BinDir: bin, AMQPPort: ports[0], DistPort: ports[1], EPMDPort: ports[2], Management: opts.Management}
	if opts.Management {
		n.MgmtPort = ports[3]
	}
	b, _ = json.MarshalIndent(n, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o644); err != nil {
		return nil, false, err
	}
	return n, false, nil
}

// freePorts asks the kernel for distinct free loopback ports.
func freePorts(k int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// MnesiaBase is RABBITMQ_MNESIA_BASE; the data directory is under it.
func (n *Node) MnesiaBase() string { return filepath.Join(n.Dir, "mnesia") }

// DataDir is the node's data directory (it holds msg_stores).
func (n *Node) DataDir() string { return filepath.Join(n.MnesiaBase(), n.Name) }

func (n *Node) home() string    { return filepath.Join(n.Dir, "home") }
func (n *Node) pidFile() string { return filepath.Join(n.MnesiaBase(), n.Name+".pid") }

// ServerOutput is the file the server's standard output and error go to.
func (n *Node) ServerOutput() string { return filepath.Join(n.Dir, "server.out") }

// Env returns the environment the server and every CLI call need: the same
// HOME (for the cookie), epmd port, data and config locations.
func (n *Node) Env() map[string]string {
	return map[string]string{
		"HOME":                          n.home(),
		"RABBITMQ_NODENAME":             n.Name,
		"RABBITMQ_DIST_PORT":            strconv.Itoa(n.DistPort),
		"RABBITMQ_MNESIA_BASE":          n.MnesiaBase(),
		"RABBITMQ_LOG_BASE":             filepath.Join(n.Dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE": filepath.Join(n.Dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE":          filepath.Join(n.Dir, "rabbitmq.conf"),
		"RABBITMQ_CONF_ENV_FILE":        filepath.Join(n.Dir, "rabbitmq-env.conf"),
		"ERL_EPMD_PORT":                 strconv.Itoa(n.EPMDPort),
		"ERL_EPMD_ADDRESS":              "127.0.0.1",
	}
}

// environ returns os.Environ with PATH led by BinDir and Env applied.
func (n *Node) environ() []string {
	env := n.Env()
	out := make([]string, 0, len(os.Environ())+len(env)+1)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; ok || k == "PATH" || strings.HasPrefix(k, "RABBITMQ_") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "PATH="+n.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	// Bind distribution to loopback as well (reference §2, "verified").
	out = append(out, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
	return out
}

// AMQPURL is the node's AMQP URL for vhost "/" with the default guest user,
// which RabbitMQ admits from loopback only.
func (n *Node) AMQPURL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.AMQPPort) }

// ManagementURL is the HTTP API base URL, "" without the plugin.
func (n *Node) ManagementURL() string {
	if n.MgmtPort == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", n.MgmtPort)
}

func (n *Node) writeFiles() error {
	for _, d := range []string{n.home(), n.MnesiaBase(), filepath.Join(n.Dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\n", n.AMQPPort)
	plugins := "[].\n"
	if n.Management {
		conf += fmt.Sprintf("management.tcp.port = %d\nmanagement.tcp.ip = 127.0.0.1\n", n.MgmtPort)
		plugins = "[rabbitmq_management].\n"
	}
	files := map[string]string{"rabbitmq.conf": conf, "enabled_plugins": plugins, "rabbitmq-env.conf": ""}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	cookie := filepath.Join(n.home(), ".erlang.cookie")
	if _, err := os.Stat(cookie); errors.Is(err, os.ErrNotExist) {
		// The cookie is the node's only credential: whoever knows it runs
		// code in the node, so it is random, not derived from the time.
		c := "DRILL" + rand.Text()
		// The cookie MUST be owner-only or the CLI fails after ~8 s
		// (reference §8, pitfall 2).
		if err := os.WriteFile(cookie, []byte(c), 0o400); err != nil {
			return err
		}
	}
	// A stale pid file would make `rabbitmqctl wait` succeed too early.
	os.Remove(n.pidFile())
	return nil
}

func (n *Node) launch(ctx context.Context, timeout time.Duration) error {
	out, err := os.OpenFile(n.ServerOutput(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(filepath.Join(n.BinDir, "rabbitmq-server"))
	cmd.Env = n.environ()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a cancelled caller does not take the
	// node down with a terminal's SIGINT, and Stop can signal the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rabbitmq-server: %w", err)
	}
	n.launcher = cmd
	n.exited = make(chan struct{})
	go func() { cmd.Wait(); close(n.exited) }()

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	waitErr := make(chan error, 1)
	go func() {
		_, err := n.Ctl(wctx, "wait", n.pidFile(), "--timeout", strconv.Itoa(int(timeout.Seconds())))
		waitErr <- err
	}()
	select {
	case err := <-waitErr:
		if err == nil {
			return nil
		}
		n.killGroup()
		return fmt.Errorf("node %s did not boot: %w\n%s", n.Name, err, n.tail())
	case <-n.exited:
		cancel()
		<-waitErr
		return fmt.Errorf("node %s exited while booting:\n%s", n.Name, n.tail())
	}
}

func (n *Node) tail() string {
	b, _ := os.ReadFile(n.ServerOutput())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Ctl runs rabbitmqctl against the node (-n NAME -q ARGS...) and returns its
// standard output. Every call carries the node's environment.
func (n *Node) Ctl(ctx context.Context, args ...string) ([]byte, error) {
	return n.run(ctx, "rabbitmqctl", append([]string{"-n", n.Name, "-q"}, args...)...)
}

func (n *Node) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.BinDir, tool), args...)
	cmd.Env = n.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.Bytes(), nil
}

// running reports whether the node's pid file names a live process: the
// pid file is deleted on a clean shutdown, and checking it needs no CLI call
// (which costs ~0.5 s and may start an epmd).
func (n *Node) running() bool {
	b, err := os.ReadFile(n.pidFile())
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// Ping reports whether the node answers (the Erlang VM runs; the app may be
// stopped).
func (n *Node) Ping(ctx context.Context) error {
	_, err := n.Ctl(ctx, "ping", "--timeout", "5")
	return err
}

// Stop shuts the node down and kills its epmd. It is safe to call on a node
// that is not running.
func (n *Node) Stop(ctx context.Context) error {
	var errs []error
	// Without a launcher and a live pid the node is already down: a CLI
	// call would only spend a second finding that out.
	if n.launcher != nil || n.running() {
		if _, err := n.Ctl(ctx, "shutdown", "--timeout", "60"); err != nil && n.launcher != nil {
			errs = append(errs, err)
		}
	}
	if n.launcher != nil {
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			n.killGroup()
			<-n.exited
			errs = append(errs, fmt.Errorf("node %s did not exit within 30s of shutdown: killed", n.Name))
		}
		n.launcher = nil
	}
	// epmd is daemonised (ppid 1) and outlives the node (pitfall 5).
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kill := exec.CommandContext(ectx, "epmd", "-port", strconv.Itoa(n.EPMDPort), "-kill")
	kill.Env = n.environ()
	kill.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	kill.Run() // "no epmd" is the normal answer when it is already gone
	return errors.Join(errs...)
}

func (n *Node) killGroup() {
	if n.launcher != nil && n.launcher.Process != nil {
		syscall.Kill(-n.launcher.Process.Pid, syscall.SIGKILL)
	}
	// beam runs in the launcher's group; epmd does not.
}

// Wipe deletes the node's data (the MNESIA base); the node must be stopped.
func (n *Node) Wipe() error {
	if n.running() {
		return fmt.Errorf("node %s is running: stop it before wiping its data", n.Name)
	}
	return os.RemoveAll(n.MnesiaBase())
}
