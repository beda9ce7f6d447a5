package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/adapters/shell"
	"github.com/drillbook/drillbook/runbook"
)

// hostCallTimeout bounds a single look at a remote file for `watch`,
// connection included.
const hostCallTimeout = time.Minute

// sshOptions are how this drillbook reaches remote hosts.
func sshOptions() host.SSHOptions {
	return host.SSHOptions{Version: version}
}

// useHosts gives the estate the hosts of t (nil: the training target,
// which has only this machine) and wires them into the operations and the
// watcher that reach a host by name: shell.run, the file operations and
// log watches.
func (e *estate) useHosts(t *runbook.Target) {
	e.hosts = host.NewSet(t, sshOptions())
	e.stops = append(e.stops, e.hosts.Close)
	e.watcher = host.Watcher{Hosts: e.hosts}
	e.registry.Add(shell.Operations(shell.Config{Hosts: e.hosts})...)
	e.registry.Add(host.FileOps(e.hosts)...)
}

// describeHost says where a host of the estate is, for the plan.
func (e *estate) describeHost(name string) string {
	if e.hosts == nil {
		return "localhost"
	}
	return e.hosts.Describe(name)
}

// describeWatch says which files a watch follows and the host of each,
// for the plan: "A, B  @ localhost", or when its files sit on several
// hosts (a WebSphere wait on the logs of servers of several nodes) each
// host's files in turn, "A  @ node01 (...); B  @ node02 (...)".
func (e *estate) describeWatch(w runbook.WatchSpec) string {
	hosts := make([]string, len(w.Files))
	if hw, ok := e.watcher.(host.Watcher); ok {
		hosts = hw.HostsOf(w)
	} else {
		for i := range hosts {
			hosts[i] = w.Host
		}
	}
	var parts []string
	for i := 0; i < len(w.Files); {
		j := i
		for j < len(w.Files) && hosts[j] == hosts[i] {
			j++
		}
		parts = append(parts, strings.Join(w.Files[i:j], ", ")+"  @ "+e.describeHost(hosts[i]))
		i = j
	}
	if len(parts) == 0 {
		return "  @ " + e.describeHost(w.Host)
	}
	return strings.Join(parts, "; ")
}

// watchOnHost points `drillbook watch` at a host of a target: the host's
// own watcher follows the files where they are written.
func watchOnHost(g *globalOptions, o *logwatch.CLIOptions, targetName, hostName string) (func() error, error) {
	if hostName == "" || hostName == runbook.LocalHost {
		return func() error { return nil }, nil
	}
	if targetName == "" || targetName == runbook.TrainingTarget {
		return nil, usagef("--host %s: the training target has only this machine; give --target NAME, a target in targets.yaml whose hosts: declare %s", hostName, hostName)
	}
	t, err := g.loadTarget(targetName)
	if err != nil {
		return nil, err
	}
	if _, err := t.Host(hostName); err != nil {
		return nil, usageError{err}
	}
	hosts := host.NewSet(t, sshOptions())
	h, err := hosts.Get(hostName)
	if err != nil {
		hosts.Close()
		return nil, usageError{err}
	}
	o.Host, o.Watcher = hostName, h
	o.Inode = func(path string) (uint64, bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), hostCallTimeout)
		defer cancel()
		fi, err := h.Stat(ctx, path)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", path, err)
		}
		if sys, ok := fi.Sys().(*host.Sys); ok {
			return sys.Inode, true, nil
		}
		return 0, true, nil
	}
	return hosts.Close, nil
}

// hostSettingProblems checks every adapter setting that names a host
// (messagesight.backup_host, messagesight.nodes.NAME.store_host,
// rabbitmq.host) against the target's hosts:, each problem at the line of
// the setting with the hosts the target declares.
func hostSettingProblems(t *runbook.Target, cfg *adapterConfigs) runbook.Problems {
	type setting struct {
		path  []string
		value string
	}
	var settings []setting
	if t.HasSection("messagesight") {
		mc := cfg.messagesight
		settings = append(settings, setting{[]string{"messagesight", "backup_host"}, mc.BackupHost})
		names := make([]string, 0, len(mc.Nodes))
		for n := range mc.Nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			settings = append(settings, setting{[]string{"messagesight", "nodes", n, "store_host"}, mc.Nodes[n].StoreHost})
		}
	}
	if t.HasSection("rabbitmq") {
		settings = append(settings, setting{[]string{"rabbitmq", "host"}, cfg.rabbitmq.Host})
	}
	var probs runbook.Problems
	for _, s := range settings {
		if s.value == "" {
			continue
		}
		if _, err := t.Host(s.value); err != nil {
			pos, _ := t.SettingPos(s.path[0], s.path[1:]...)
			if pos.File == "" {
				pos.File = t.File
			}
			probs = append(probs, runbook.Problem{Pos: pos, Msg: strings.Join(s.path, ".") + ": " + err.Error()})
		}
	}
	return probs
}
