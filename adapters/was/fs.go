package was

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/drillbook/drillbook/adapters/host"
)

// The adapter's own looks at the file system (profiles, backup sets, file
// store directories) go through these few functions, and the copies and
// manifests through package file, so that when a target's hosts are
// reached over SSH the change is made here and nowhere else.

// statPath returns a path's information.
func statPath(path string) (fs.FileInfo, error) { return os.Stat(path) }

// isDir reports whether path is a directory; the error says what it is
// instead.
func isDir(path string) error {
	fi, err := statPath(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

// isFile reports whether path is a regular file.
func isFile(path string) error {
	fi, err := statPath(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// dirNames lists a directory's entries, sorted.
func dirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
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

// makeNewDir creates path, which must not exist yet: a backup set is never
// written into an existing directory.
func makeNewDir(path string) error {
	if err := os.Mkdir(path, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: a backup never writes into an existing set", path)
		}
		return err
	}
	return nil
}

// makeDirs creates a directory and its parents.
func makeDirs(path string) error { return os.MkdirAll(path, 0o755) }

// writableDir checks that drillbook's user may create files in dir.
func writableDir(dir string) error {
	if err := isDir(dir); err != nil {
		return err
	}
	if err := syscall.Access(dir, 0x2); err != nil { // W_OK
		return fmt.Errorf("%s is not writable by this user: %w", dir, err)
	}
	return nil
}

// freeBytes returns the space left for drillbook's user on dir's file
// system.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// readSmallFile reads a file of at most max bytes.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// archiveCells returns the cells whose configuration a backupConfig
// archive holds, read from its entry names (…/cells/CELL/…): the archive
// is a zip of the profile's config directory (IBM rxml_backupconfig), whose
// cell documents live under cells/CELL. DERIVED: IBM does not document the
// entry names, so an archive with none gives no cell and the caller warns.
func archiveCells(path string) ([]string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s is not a zip archive as backupConfig writes: %w", path, err)
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
func profileIdentity(root string) (cell, node string, err error) {
	b, err := readSmallFile(filepath.Join(root, "bin", "setupCmdLine.sh"), 1<<20)
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
func profileKind(root, dmgrServer string) (kind, cell, node string, err error) {
	cell, node, err = profileIdentity(root)
	if err != nil {
		return "", "", "", fmt.Errorf("%s does not look like a WebSphere profile (no bin/setupCmdLine.sh): %w", root, err)
	}
	if cell == "" || node == "" {
		return "", cell, node, fmt.Errorf("%s/bin/setupCmdLine.sh names no WAS_CELL or WAS_NODE", root)
	}
	servers := filepath.Join(root, "config", "cells", cell, "nodes", node, "servers")
	switch {
	case isDir(filepath.Join(servers, dmgrServer)) == nil:
		return "dmgr", cell, node, nil
	case isDir(filepath.Join(servers, "nodeagent")) == nil:
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
