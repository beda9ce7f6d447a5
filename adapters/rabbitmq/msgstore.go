package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
)

// ManifestFile is the name of the manifest (adapters/file format) written
// next to a backup's msg_stores copy.
const ManifestFile = "manifest.json"

// CountsFile records, per queue, the message count at backup time; the
// restore runbook verifies the restored node against it.
const CountsFile = "counts.json"

// compareManifest checks got (what a restore copied) against want (the
// backup's manifest): the same files with the same sizes and digests. It
// returns one line per difference, at most 20.
func compareManifest(want, got *file.Manifest) []string {
	files := func(m *file.Manifest) map[string]file.Entry {
		out := make(map[string]file.Entry, len(m.Entries))
		for _, e := range m.Entries {
			if e.Type == file.TypeFile {
				out[e.Path] = e
			}
		}
		return out
	}
	w, g := files(want), files(got)
	var diffs []string
	for p, e := range g {
		x, ok := w[p]
		switch {
		case !ok:
			diffs = append(diffs, "extra file "+p)
		case x.Size != e.Size:
			diffs = append(diffs, fmt.Sprintf("%s: size %d, manifest says %d", p, e.Size, x.Size))
		case x.SHA256 != e.SHA256:
			diffs = append(diffs, p+": SHA-256 differs from the manifest")
		}
	}
	for p := range w {
		if _, ok := g[p]; !ok {
			diffs = append(diffs, "missing file "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 20 {
		diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
	}
	return diffs
}

// storeContent summarises the message data a msg_stores tree holds: queue
// directories with any non-empty file, and non-empty .rdq files. A node
// whose queues are all empty (fresh, definitions imported) holds none.
type storeContent struct {
	QueueDirs []string // "v1: cq.a" from .queue_name, or the directory
	RDQBytes  int64
}

func (s storeContent) empty() bool { return len(s.QueueDirs) == 0 && s.RDQBytes == 0 }

func inspectStore(ctx context.Context, h host.Host, root string) (storeContent, error) {
	var sc storeContent
	vhosts, err := readDir(ctx, h, filepath.Join(root, "vhosts"))
	if errors.Is(err, os.ErrNotExist) {
		return sc, nil
	}
	if err != nil {
		return sc, err
	}
	for _, v := range vhosts {
		vdir := filepath.Join(root, "vhosts", v.Name())
		for _, sub := range []string{"msg_store_persistent", "msg_store_transient"} {
			fs, _ := readDir(ctx, h, filepath.Join(vdir, sub))
			for _, f := range fs {
				if info := f; strings.HasSuffix(f.Name(), ".rdq") {
					sc.RDQBytes += info.Size()
				}
			}
		}
		qs, _ := readDir(ctx, h, filepath.Join(vdir, "queues"))
		for _, q := range qs {
			qdir := filepath.Join(vdir, "queues", q.Name())
			fs, _ := readDir(ctx, h, qdir)
			var size int64
			for _, f := range fs {
				if info := f; f.Name() != ".queue_name" && info.Mode().IsRegular() {
					size += info.Size()
				}
			}
			if size == 0 {
				continue
			}
			name := q.Name()
			if b, err := readFile(ctx, h, filepath.Join(qdir, ".queue_name")); err == nil {
				name = strings.Join(strings.Fields(string(b)), " ")
			}
			sc.QueueDirs = append(sc.QueueDirs, name)
		}
	}
	sort.Strings(sc.QueueDirs)
	return sc, nil
}
