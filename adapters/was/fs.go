package was

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// The adapter's own looks at the file system (profiles, backup sets, file
// store directories) go through these few functions, each on the Host the
// path is on (see Config: a profile on its node's host, the backup root on
// the backup host, a file store on its node's host), and the copies and
// manifests through the Host too, so hashing happens where the files lie.
// An error from a remote host names it (host.RemoteError); onHost adds the
// name to the adapter's own errors.

// onHost is " on host NAME" for a remote host, "" for this machine.
func onHost(h host.Host) string {
	if h.Name() == runbook.LocalHost || h.Name() == "" {
		return ""
	}
	return " on host " + h.Name()
}

// statPath returns a path's information on h.
func statPath(ctx context.Context, h host.Host, path string) (fs.FileInfo, error) {
	return h.Stat(ctx, path)
}

// isDir reports whether path is a directory on h; the error says what it
// is instead.
func isDir(ctx context.Context, h host.Host, path string) error {
	fi, err := statPath(ctx, h, path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory%s", path, onHost(h))
	}
	return nil
}

// isFile reports whether path is a regular file on h.
func isFile(ctx context.Context, h host.Host, path string) error {
	fi, err := statPath(ctx, h, path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file%s", path, onHost(h))
	}
	return nil
}

// dirNames lists a directory's entries on h, sorted.
func dirNames(ctx context.Context, h host.Host, dir string) ([]string, error) {
	ents, err := h.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// makeNewDir creates path on h, which must not exist yet: a backup set is
// never written into an existing directory.
func makeNewDir(ctx context.Context, h host.Host, path string) error {
	if err := h.Mkdir(ctx, path, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists%s: a backup never writes into an existing set", path, onHost(h))
		}
		return err
	}
	return nil
}

// makeDirs creates a directory and its parents on h.
func makeDirs(ctx context.Context, h host.Host, path string) error {
	return h.MkdirAll(ctx, path, 0o755)
}

// writableDir checks that the user drillbook reaches h as may create files
// in dir there (access(2) on h: nothing is written to find out).
func writableDir(ctx context.Context, h host.Host, dir string) error {
	if err := isDir(ctx, h, dir); err != nil {
		return err
	}
	if err := h.Writable(ctx, dir); err != nil {
		return fmt.Errorf("%s is not writable by this user%s: %w", dir, onHost(h), err)
	}
	return nil
}

// freeBytes returns the space left for the user on dir's file system on h.
func freeBytes(ctx context.Context, h host.Host, dir string) (uint64, error) {
	sp, err := h.FreeSpace(ctx, dir)
	if err != nil {
		return 0, err
	}
	return sp.Avail, nil
}

// readSmallFile reads a file of at most max bytes on h.
func readSmallFile(ctx context.Context, h host.Host, path string, max int64) ([]byte, error) {
	return h.ReadFile(ctx, path, max)
}

// archiveCells returns the cells whose configuration a backupConfig
// archive holds, read from its entry names (…/cells/CELL/…): the archive
// is a zip of the profile's config directory (IBM rxml_backupconfig), whose
// cell documents live under cells/CELL. DERIVED: IBM does not document the
// entry names, so an archive with none gives no cell and the caller warns.
//
// On a remote host the archive is first brought to a temporary directory
// here (host.Transfer, checked by SHA-256): a zip's entry names are in its
// central directory at the end, which the Host reads only as a whole file.
func archiveCells(ctx context.Context, h host.Host, path string) ([]string, error) {
	local := path
	if onHost(h) != "" {
		tmp, err := os.MkdirTemp("", "drillbook-archive-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		local = filepath.Join(tmp, filepath.Base(path))
		if _, err := host.Transfer(ctx, h, path, host.NewLocal(runbook.LocalHost), local, file.CopyOptions{}); err != nil {
			return nil, fmt.Errorf("read the configuration archive %s%s: %w", path, onHost(h), err)
		}
	}
	zr, err := zip.OpenReader(local)
	if err != nil {
		return nil, fmt.Errorf("%s%s is not a zip archive as backupConfig writes: %w", path, onHost(h), err)
	}
	defer zr.Close()
	seen := map[string]bool{}
	for _, f := range zr.File {
		parts := strings.Split(filepath.ToSlash(f.Name), "/")
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == "cells" && parts[i+1] != "" {
				seen[parts[i+1]] = true
				break
			}
		}
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// profileIdentity reads which cell and node a profile belongs to from its
// bin/setupCmdLine.sh, where a profile sets WAS_CELL and WAS_NODE (DERIVED:
// the script every profile's tools source; IBM documents the variables but
// not the file's layout). Empty strings when the file does not say.
func profileIdentity(ctx context.Context, h host.Host, root string) (cell, node string, err error) {
	b, err := readSmallFile(ctx, h, filepath.Join(root, "bin", "setupCmdLine.sh"), 1<<20)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch strings.TrimSpace(k) {
		case "WAS_CELL":
			cell = v
		case "WAS_NODE":
			node = v
		}
	}
	return cell, node, nil
}

// profileKind tells a deployment manager's profile from a managed node's:
// under config/cells/CELL/nodes/NODE/servers (NODE the profile's own node),
// the first holds the deployment manager's server and the second the
// nodeagent (the layout of IBM's configuration documents,
// cells/CELL/nodes/NODE/servers/SERVER/server.xml). It returns "dmgr",
// "node" or "" with the profile's cell and node.
func profileKind(ctx context.Context, h host.Host, root, dmgrServer string) (kind, cell, node string, err error) {
	cell, node, err = profileIdentity(ctx, h, root)
	if err != nil {
		return "", "", "", fmt.Errorf("%s%s does not look like a WebSphere profile (no bin/setupCmdLine.sh): %w", root, onHost(h), err)
	}
	if cell == "" || node == "" {
		return "", cell, node, fmt.Errorf("%s/bin/setupCmdLine.sh%s names no WAS_CELL or WAS_NODE", root, onHost(h))
	}
	servers := filepath.Join(root, "config", "cells", cell, "nodes", node, "servers")
	switch {
	case isDir(ctx, h, filepath.Join(servers, dmgrServer)) == nil:
		return "dmgr", cell, node, nil
	case isDir(ctx, h, filepath.Join(servers, "nodeagent")) == nil:
		return "node", cell, node, nil
	}
	return "", cell, node, nil
}

// isFileOn reports whether path is a regular file on h, the host a tool
// or wsadmin runs on; the error names the host.
func isFileOn(ctx context.Context, h host.Host, path string) error {
	fi, err := h.Stat(ctx, path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file on host %s", path, h.Name())
	}
	return nil
}
