// Package was is drillbook's WebSphere Application Server adapter for the
// service integration bus: it starts, stops and inspects messaging engines
// through wsadmin, backs up and restores the configuration with
// backupConfig/restoreConfig, copies file stores with a manifest, and runs
// the data-store backup and restore commands a target defines. Operations
// talk to a Backend: the real one drives wsadmin.sh and the profile's tools,
// the simulated one (package simcell) is the training cell.
package was

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// Config is the `was:` section of a target in targets.yaml.
type Config struct {
	// Cell is the cell's name. Operations that act on the whole cell
	// (restoreConfig, stopping the deployment manager) are confirmed with
	// it and refuse an archive, a profile or a connected deployment manager
	// of another cell; empty means those operations refuse to run.
	Cell string `yaml:"cell"`
	// Training, on a target with simulated: true, makes the target's cell
	// the training cell (TrainingCell01, see docs/training.md) with its
	// profiles on the hosts dmgr_host and nodes.NODE.host name, so its log
	// waits go to those hosts; every other was: setting is then unused.
	// Default false: the cell is the one the other settings describe.
	Training bool `yaml:"training"`
	// Wsadmin is the path of wsadmin.sh; empty means ProfileRoot/bin/wsadmin.sh.
	Wsadmin string `yaml:"wsadmin"`
	// ProfileRoot is the deployment manager's profile directory
	// (…/profiles/Dmgr01), whose bin/ holds backupConfig.sh,
	// restoreConfig.sh, startManager.sh and stopManager.sh: on a Network
	// Deployment cell the configuration is backed up and restored in the
	// deployment manager's profile, which holds the master repository.
	ProfileRoot string `yaml:"profile_root"`
	// ProfileName is the deployment manager's profile name, passed as
	// -profileName to the tools run in ProfileRoot; empty passes none.
	ProfileName string `yaml:"profile_name"`
	// DmgrServer is the deployment manager's server name; empty means dmgr.
	DmgrServer string `yaml:"dmgr_server"`
	// DmgrHost names the host (under the target's hosts:) the deployment
	// manager's profile is on: wsadmin (its script and credentials file
	// written there), backupConfig, restoreConfig, startManager and
	// stopManager run there, its profile's files are read there, and the
	// backup root is there unless BackupHost says otherwise. Empty means
	// the machine drillbook runs on.
	DmgrHost string `yaml:"dmgr_host"`
	// Nodes gives each node's own profile, where its tools run
	// (startServer -recovery, startNode, stopNode, syncNode, serverStatus).
	// A node that is not listed has none of these operations: drillbook
	// never runs a node's tool in another profile.
	Nodes map[string]NodeProfile `yaml:"nodes"`
	// ConnType is SOAP, RMI or NONE; empty means SOAP.
	ConnType string `yaml:"conntype"`
	// Host and Port are the deployment manager's connector; empty and zero
	// leave them to wsadmin.properties. syncNode is given them too; it
	// needs both.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// User is the administrative user; empty means security is off or the
	// profile's soap.client.props already holds the credentials.
	User string `yaml:"user"`
	// Password is where the user's password comes from. It reaches wsadmin
	// only through a properties file readable by its owner alone.
	Password runbook.SecretRef `yaml:"password"`
	// UserProperty and PasswordProperty name the properties that carry the
	// credentials in that file. Empty means com.ibm.SOAP.loginUserid and
	// com.ibm.SOAP.loginPassword for SOAP, com.ibm.CORBA.loginUserid and
	// com.ibm.CORBA.loginPassword for RMI (the reference leaves the -p route
	// UNCONFIRMED, so a site can change them).
	UserProperty     string `yaml:"user_property"`
	PasswordProperty string `yaml:"password_property"`
	// CallTimeout bounds one wsadmin or tool run, and a recovery-mode start
	// with its polls, when the step sets no timeout; zero means 10 minutes
	// (a JVM start plus the work).
	CallTimeout runbook.Duration `yaml:"call_timeout"`
	// SessionIdle is how long the wsadmin session may wait for its next
	// call before it is ended; zero means 5 minutes. A session also ends
	// before anything that stops the deployment manager.
	SessionIdle runbook.Duration `yaml:"session_idle"`
	// NoSession runs every script in a wsadmin process of its own, as
	// before sessions: one JVM start per call (for a wsadmin wrapper that
	// cannot read its standard input, and for comparison). The zero value
	// uses one session per deployment-manager lifetime.
	NoSession bool `yaml:"no_session"`
	// JVMStart is a modelled JVM start for a stand-in wsadmin (the tests'
	// and the benchmark's, which read it from DRILLBOOK_WSADMIN_JVM_START);
	// a real wsadmin.sh ignores it, and pays its own (a new JVM per start,
	// IBM "wsadmin tool performance tips"; an older IBM technote on WAS
	// V4's admin client measured 3 to 60 seconds of JIT start alone). Zero
	// models none.
	JVMStart runbook.Duration `yaml:"jvm_start"`
	// StateWait is how long a script waits for an engine to reach the state
	// it asked for before it reports what it saw; zero means 2 minutes.
	StateWait runbook.Duration `yaml:"state_wait"`
	// InitialStateAttribute is the configuration attribute holding an
	// engine's Initial state. Empty means discover it at run time from
	// AdminConfig.attributes('SIBMessagingEngine') (the reference says
	// initialState is likely but UNCONFIRMED).
	InitialStateAttribute string `yaml:"initial_state_attribute"`
	// RecoveryPoll is how often a recovery-mode start checks whether the
	// server has stopped by itself; zero means 15 seconds.
	RecoveryPoll runbook.Duration `yaml:"recovery_poll"`
	// BackupConfigOptions and RestoreConfigOptions are extra options for
	// backupConfig.sh and restoreConfig.sh (the restoreConfig option list is
	// UNCONFIRMED, so drillbook adds none of its own beyond -nostop).
	BackupConfigOptions  []string `yaml:"backup_config_options"`
	RestoreConfigOptions []string `yaml:"restore_config_options"`
	// BackupRoot is the directory under which each backup writes a new
	// set (a directory named by its start time) and from which a restore
	// takes the newest sealed set by default. Empty means backups and the
	// default set are refused. It is on BackupHost: every set is made,
	// hashed, verified, sealed and listed there.
	BackupRoot string `yaml:"backup_root"`
	// BackupHost names the host (under the target's hosts:) the backup
	// root is on; empty means DmgrHost. backupConfig and restoreConfig run
	// in the deployment manager's profile and read or write the archive on
	// that machine (IBM rxml_backupconfig), so with a backup root on
	// another host the archive is staged in a new directory on the
	// deployment manager's host and copied between the two, checked by
	// SHA-256. File stores are copied between their node's host and this
	// one the same way.
	BackupHost string `yaml:"backup_host"`
	// DataStore holds the commands that back up and restore an engine's
	// data store; drillbook does not pretend to know the database.
	DataStore DataStoreConfig `yaml:"data_store"`

	// Hosts resolves DmgrHost and the nodes' Host to the machines they
	// name; cmd sets it from the target's hosts:. Nil means every profile
	// is on this machine.
	Hosts host.Resolver `yaml:"-"`
}

// NodeProfile is a node's own profile.
type NodeProfile struct {
	// ProfileRoot is the profile directory (…/profiles/AppSrv01).
	ProfileRoot string `yaml:"profile_root"`
	// ProfileName is passed as -profileName to its tools; empty passes
	// none.
	ProfileName string `yaml:"profile_name"`
	// Host names the host (under the target's hosts:) the node's profile
	// is on: its tools (startServer -recovery, startNode, stopNode,
	// syncNode, serverStatus) run there, and the file store of an engine
	// named NODE.SERVER-BUS after it is read and written there. Empty means
	// the machine drillbook runs on.
	Host string `yaml:"host"`
}

// DataStoreConfig is how a target backs up and restores data stores. Each
// command is an argv whose elements are templates over .engine, .dir and
// .schema (missing keys are errors); no shell sees them.
type DataStoreConfig struct {
	// Backup writes the engine's data store into .dir.
	Backup []string `yaml:"backup"`
	// Restore reads it back from .dir.
	Restore []string `yaml:"restore"`
	// Schema is the default .schema value; empty means IBMWSSIB.
	Schema string `yaml:"schema"`
	// Env is added to the commands' environment (templates as above).
	Env map[string]string `yaml:"env"`
	// SecretEnv puts secrets (a database password) in the commands'
	// environment, never on their command line.
	SecretEnv map[string]runbook.SecretRef `yaml:"secret_env"`
	// Timeout bounds one command when the step sets none; zero means 1 hour.
	Timeout runbook.Duration `yaml:"timeout"`
	// Host names the host (under the target's hosts:) the commands run
	// on. They write and read .dir, a directory inside the backup set, so
	// it must be the backup root's host (targets.yaml validation refuses
	// another); empty means that host.
	Host string `yaml:"host"`
}

func (c Config) callTimeout() time.Duration {
	if c.CallTimeout.Duration > 0 {
		return c.CallTimeout.Duration
	}
	return 10 * time.Minute
}

func (c Config) sessionIdle() time.Duration {
	if c.SessionIdle.Duration > 0 {
		return c.SessionIdle.Duration
	}
	return 5 * time.Minute
}

func (c Config) stateWait() time.Duration {
	if c.StateWait.Duration > 0 {
		return c.StateWait.Duration
	}
	return 2 * time.Minute
}

func (c Config) recoveryPoll() time.Duration {
	if c.RecoveryPoll.Duration > 0 {
		return c.RecoveryPoll.Duration
	}
	return 15 * time.Second
}

func (c Config) dmgrServer() string {
	if c.DmgrServer == "" {
		return "dmgr"
	}
	return c.DmgrServer
}

func (c Config) connType() string {
	if c.ConnType == "" {
		return "SOAP"
	}
	return c.ConnType
}

func (c Config) credentialProperties() (user, pass string) {
	user, pass = c.UserProperty, c.PasswordProperty
	if c.connType() == "RMI" {
		if user == "" {
			user = "com.ibm.CORBA.loginUserid"
		}
		if pass == "" {
			pass = "com.ibm.CORBA.loginPassword"
		}
		return user, pass
	}
	if user == "" {
		user = "com.ibm.SOAP.loginUserid"
	}
	if pass == "" {
		pass = "com.ibm.SOAP.loginPassword"
	}
	return user, pass
}

// hostName is the name of the host a profile is on: the node's Host, or
// DmgrHost for "" (the deployment manager's profile).
func (c Config) hostName(node string) string {
	if node == "" {
		return c.DmgrHost
	}
	return c.Nodes[node].Host
}

// backupHostName is the name of the host the backup root is on.
func (c Config) backupHostName() string {
	if c.BackupHost != "" {
		return c.BackupHost
	}
	return c.DmgrHost
}

// dataStoreHostName is the name of the host the data store commands run
// on: the backup root's, whose set directory they write.
func (c Config) dataStoreHostName() string {
	if c.DataStore.Host != "" {
		return c.DataStore.Host
	}
	return c.backupHostName()
}

// backupHost returns the host the backup root is on: every set is made,
// read, hashed and verified there.
func (c Config) backupHost() (host.Host, error) { return c.resolve(c.backupHostName()) }

// dataStoreHost returns the host the data store commands run on.
func (c Config) dataStoreHost() (host.Host, error) { return c.resolve(c.dataStoreHostName()) }

// hostOf returns the host a profile is on ("" is the deployment
// manager's): every process, file look and copy of that profile goes
// through it. A node's file stores are on its host too.
func (c Config) hostOf(node string) (host.Host, error) { return c.resolve(c.hostName(node)) }

// describe says where the named host is, without connecting, for plans.
func (c Config) describe(name string) string {
	h, err := c.resolve(name)
	if err != nil {
		return name + " (unknown host)"
	}
	return h.String()
}

// resolve returns the host of that name ("" is this machine).
func (c Config) resolve(name string) (host.Host, error) {
	if c.Hosts == nil {
		if name != "" && name != runbook.LocalHost {
			return nil, fmt.Errorf("host %s: this drillbook was given no hosts to reach it (a target without hosts: has only this machine)", name)
		}
		return host.NewLocal(runbook.LocalHost), nil
	}
	return c.Hosts.Get(name)
}

// describeHost says where a profile's host is, without connecting, for
// plans: "localhost", "node01 (was@10.0.0.5:22)".
func (c Config) describeHost(node string) string {
	h, err := c.hostOf(node)
	if err != nil {
		return c.hostName(node) + " (unknown host)"
	}
	return h.String()
}

// LogHost names the host a server log is on: the host of the profile whose
// directory holds it (PROFILE/logs/SERVER/SystemOut.log, or an HPEL
// repository under PROFILE/logs), the longest profile_root that is a
// parent of path winning, so a node profile nested in the deployment
// manager's directory still counts as the node's. A path under no profile
// gives "" (this machine). It is a host.Locator: cmd gives it to the log
// watcher so a wait on server logs is armed where the server writes them.
func (c Config) LogHost(path string) string {
	path = filepath.Clean(path)
	best, host := -1, ""
	try := func(root, h string) {
		if root == "" {
			return
		}
		root = filepath.Clean(root)
		if !strings.HasPrefix(path, root+string(filepath.Separator)) && path != root {
			return
		}
		if len(root) > best {
			best, host = len(root), h
		}
	}
	try(c.ProfileRoot, c.DmgrHost)
	for _, np := range c.Nodes {
		try(np.ProfileRoot, np.Host)
	}
	return host
}
