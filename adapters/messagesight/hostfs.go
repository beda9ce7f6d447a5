package messagesight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// This file is where the adapter reaches the files it works on: a server's
// store lies on its store_host, the backup sets on the section's
// backup_host, each a name under the target's hosts: (issue 14). Every
// read, hash and copy happens on the host where the files are (host.Host
// runs file.BuildManifest there), and a copy between two hosts is streamed
// with host.Transfer; nothing here touches the local file system directly.

// hostNamed returns the host a setting names; "" is this machine. Without
// a resolver (a configuration built in code, the training target) only
// this machine exists.
func (c Config) hostNamed(name, setting string) (host.Host, error) {
	if c.Hosts == nil {
		if name == "" || name == runbook.LocalHost {
			return host.NewLocal(runbook.LocalHost), nil
		}
		return nil, fmt.Errorf("messagesight: %s names host %q, but this target has only this machine: declare %s under hosts: in targets.yaml", setting, name, name)
	}
	h, err := c.Hosts.Get(name)
	if err != nil {
		return nil, fmt.Errorf("messagesight: %s: %w", setting, err)
	}
	return h, nil
}

// storeHost is the host on which node's store_dir lies.
func (c Config) storeHost(node string) (host.Host, error) {
	s, _ := c.Node(node)
	return c.hostNamed(s.StoreHost, "messagesight.nodes."+node+".store_host")
}

// backupHost is the host on which the backup sets lie.
func (c Config) backupHost() (host.Host, error) {
	return c.hostNamed(c.BackupHost, "messagesight.backup_host")
}

// describeHost says where a host setting points, without connecting, for
// plans: "localhost", "ms1store (ms@10.0.0.7:22)".
func (c Config) describeHost(name string) string {
	if c.Hosts == nil {
		if name == "" || name == runbook.LocalHost {
			return "localhost"
		}
		return name + " (unknown host)"
	}
	h, err := c.Hosts.Get(name)
	if err != nil {
		return name + " (unknown host)"
	}
	return h.String()
}

// storeHostLabel is where node's store lies, for plans.
func (c Config) storeHostLabel(node string) string {
	s, _ := c.Node(node)
	return c.describeHost(s.StoreHost)
}

// backupHostLabel is where the backup sets lie, for plans.
func (c Config) backupHostLabel() string { return c.describeHost(c.BackupHost) }

// exists reports whether p exists on h; an error other than "not there"
// counts as existing, so nothing is written over what cannot be read.
func exists(ctx context.Context, h host.Host, p string) bool {
	_, err := h.Stat(ctx, p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// isDir reports whether p is a directory on h.
func isDir(ctx context.Context, h host.Host, p string) bool {
	fi, err := h.Stat(ctx, p)
	return err == nil && fi.IsDir()
}

// glob returns the names in the directory of pattern that match its last
// element (filepath.Match), sorted, on h.
func glob(ctx context.Context, h host.Host, pattern string) []string {
	dir, base := filepath.Split(pattern)
	entries, err := h.ReadDir(ctx, filepath.Clean(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if ok, _ := filepath.Match(base, e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// treeSizeOn adds up the sizes of the regular files under dir on h and
// counts them, reading no content: a quick measure of a store for the
// checks that run before anything changes.
func treeSizeOn(ctx context.Context, h host.Host, dir string) (int64, int, error) {
	fi, err := h.Stat(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), 1, nil
	}
	var n int64
	files := 0
	var walk func(d string) error
	walk = func(d string) error {
		entries, err := h.ReadDir(ctx, d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			switch {
			case e.IsDir():
				if err := walk(filepath.Join(d, e.Name())); err != nil {
					return err
				}
			case e.Mode().IsRegular():
				n += e.Size()
				files++
			}
		}
		return nil
	}
	err = walk(dir)
	return n, files, err
}

// freeOn returns the space free for a non-root user under dir on h (or
// its nearest existing parent) and that parent.
func freeOn(ctx context.Context, h host.Host, dir string) (uint64, string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		sp, err := h.FreeSpace(ctx, d)
		if err == nil {
			return sp.Avail, d, nil
		} else if !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			return 0, d, err
		}
	}
}

// writableOn checks that this user may create files in dir on h, without
// creating one: test -w there (POSIX test(1), an argv, no shell; AIX has
// it too), which asks access(2) as the local check did.
func writableOn(ctx context.Context, h host.Host, dir string) error {
	_, err := h.Run(ctx, host.Command{Argv: []string{"test", "-w", dir, "-a", "-x", dir}})
	var ee *host.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s is not writable by this user on %s", dir, h.Name())
	}
	return err
}
