// Package file is drillbook's adapter for files on the local host: checking
// that a path exists, copying a file or a directory tree (a file store, a
// store backup, msg_stores) with a SHA-256 manifest, replacing a tree
// atomically, and verifying a tree against a manifest.
//
// The manifest format (Manifest, Entry) and its functions (Copy,
// BuildManifest, WriteManifest, ReadManifest, Verify) and WriteAtomic are
// also used by the broker adapters for their own backups.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// Config is the file adapter's section of targets.yaml. It has no fields:
// files are on the host drillbook runs on. It exists so that every adapter
// is wired the same way.
type Config struct{}

// Operations returns the file adapter's operations: file.exists, file.copy,
// file.replace (destructive), file.verify and file.manifest.
func Operations(cfg Config) []runbook.Operation {
	return []runbook.Operation{
		&existsOp{},
		&copyOp{replace: false},
		&copyOp{replace: true},
		&verifyOp{},
		&manifestOp{},
	}
}

func need(a runbook.Args, op string, names ...string) error {
	for _, n := range names {
		if a.String(n) == "" {
			return fmt.Errorf("%s needs %s: give it under with:", op, n)
		}
	}
	return nil
}

// inside returns path relative to root, with forward slashes, when path
// lies inside root; otherwise "".
func inside(root, path string) string {
	r, err1 := filepath.Abs(root)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(r, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.ToSlash(rel)
}

// --- file.exists

// existsOp is file.exists.
type existsOp struct{}

// Spec describes file.exists.
func (o *existsOp) Spec() runbook.OpSpec {
	return runbook.OpSpec{
		Name:     "file.exists",
		ReadOnly: true,
		Summary:  "check that a file or directory exists",
		Args: []runbook.ArgSpec{
			{Name: "path", Kind: runbook.ArgString, Required: true, Doc: "the path to check (a link is followed)"},
			{Name: "kind", Kind: runbook.ArgString, Enum: []string{"file", "dir"}, Doc: "what it must be: file or dir (default: either)"},
		},
	}
}

// Plan says which path is checked and for what.
func (o *existsOp) Plan(c runbook.Call) (runbook.Plan, error) {
	if err := need(c.Args, "file.exists", "path"); err != nil {
		return runbook.Plan{}, err
	}
	what := "exists"
	switch c.Args.String("kind") {
	case "file":
		what = "is a file"
	case "dir":
		what = "is a directory"
	}
	return runbook.Plan{Host: "localhost", Detail: fmt.Sprintf("check that %s %s", c.Args.String("path"), what)}, nil
}

// Run checks the path; a missing path or the wrong kind is an error.
func (o *existsOp) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	if err := need(c.Args, "file.exists", "path"); err != nil {
		return res, err
	}
	path, kind := c.Args.String("path"), c.Args.String("kind")
	if kind != "" && kind != "file" && kind != "dir" {
		return res, fmt.Errorf("file.exists kind %q: use file or dir", kind)
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("%s does not exist", path)
		}
		return res, fmt.Errorf("check %s: %w", path, err)
	}
	got := "file"
	detail := fmt.Sprintf("%s, %s", humanBytes(fi.Size()), PermOf(fi.Mode()))
	switch {
	case fi.IsDir():
		got = "dir"
		if ents, err := os.ReadDir(path); err == nil {
			detail = fmt.Sprintf("%d entries, %s", len(ents), PermOf(fi.Mode()))
		}
	case !fi.Mode().IsRegular():
		got = typeName(fi.Mode().Type())
	}
	if kind != "" && got != kind {
		return res, fmt.Errorf("%s exists but is a %s, not a %s", path, longKind(got), longKind(kind))
	}
	res.Summary = fmt.Sprintf("%s exists (%s, %s)", path, longKind(got), detail)
	res.Evidence = []string{fmt.Sprintf("%s %s modified %s", path, detail, fi.ModTime().UTC().Format(time.RFC3339))}
	res.Vars = map[string]string{"kind": got, "size": strconv.FormatInt(fi.Size(), 10)}
	if out != nil {
		out.Line(runbook.Info, res.Summary)
	}
	return res, nil
}

func longKind(k string) string {
	switch k {
	case "dir":
		return "directory"
	}
	return k
}

// --- file.copy and file.replace

// copyOp is file.copy, or file.replace when replace is set.
type copyOp struct{ replace bool }

func (o *copyOp) name() string {
	if o.replace {
		return "file.replace"
	}
	return "file.copy"
}

// Spec describes file.copy, or file.replace (destructive).
func (o *copyOp) Spec() runbook.OpSpec {
	s := runbook.OpSpec{
		Name:    o.name(),
		Summary: "copy a file or directory tree, keeping modes, times and links; refuses to overwrite",
		Args: []runbook.ArgSpec{
			{Name: "src", Kind: runbook.ArgString, Required: true, Doc: "the file or directory to copy"},
			{Name: "dst", Kind: runbook.ArgString, Required: true, Doc: "where the copy goes; must not exist"},
			{Name: "manifest", Kind: runbook.ArgString, Doc: "write a JSON manifest (path, size, mode, time, SHA-256 of every file) here"},
		},
	}
	if o.replace {
		s.Summary = "replace a file or directory tree with a copy of another, atomically; the old content is deleted"
		s.Args[1].Doc = "what is replaced; its old content is deleted once the copy is in place"
		s.Destructive = true
	}
	return s
}

// Plan names the source, the destination and the manifest.
func (o *copyOp) Plan(c runbook.Call) (runbook.Plan, error) {
	if err := need(c.Args, o.name(), "src", "dst"); err != nil {
		return runbook.Plan{}, err
	}
	src, dst := c.Args.String("src"), c.Args.String("dst")
	d := fmt.Sprintf("copy %s to %s (must not exist)", src, dst)
	if o.replace {
		d = fmt.Sprintf("replace %s with a copy of %s (the current %s is deleted)", dst, src, dst)
	}
	if m := c.Args.String("manifest"); m != "" {
		d += "; manifest " + m
	}
	return runbook.Plan{Host: "localhost", Detail: d}, nil
}

// Run copies with Copy and writes the manifest when one is asked for.
func (o *copyOp) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	if err := need(c.Args, o.name(), "src", "dst"); err != nil {
		return res, err
	}
	src, dst, mpath := c.Args.String("src"), c.Args.String("dst"), c.Args.String("manifest")
	if out == nil {
		out = runbook.OutputFunc(func(runbook.Stream, string) {})
	}
	if mpath != "" && inside(src, mpath) != "" {
		return res, fmt.Errorf("%s: the manifest %s would be inside the source %s: write it elsewhere", o.name(), mpath, src)
	}
	start := time.Now()
	last := start
	m, err := Copy(ctx, src, dst, CopyOptions{
		Replace: o.replace,
		Progress: func(files int, bytes int64) {
			if now := time.Now(); now.Sub(last) >= time.Second {
				last = now
				out.Line(runbook.Info, fmt.Sprintf("copied %d files, %s", files, humanBytes(bytes)))
			}
		},
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return res, fmt.Errorf("%s timed out: %w", o.name(), err)
		}
		return res, fmt.Errorf("%s: %w", o.name(), err)
	}
	took := time.Since(start)
	verb := "copied"
	if o.replace {
		verb = "replaced " + dst + " with"
	}
	res.Summary = fmt.Sprintf("%s %d files (%s) from %s in %s", verb, m.Files, humanBytes(m.Bytes), src, took.Round(time.Millisecond))
	res.Vars = map[string]string{"files": strconv.Itoa(m.Files), "bytes": strconv.FormatInt(m.Bytes, 10)}
	if mpath != "" {
		m.Root = dst
		if err := WriteManifest(mpath, m); err != nil {
			return res, fmt.Errorf("%s: the copy is complete but %w", o.name(), err)
		}
		res.Vars["manifest"] = mpath
		res.Summary += "; manifest " + mpath
	}
	res.Evidence = []string{fmt.Sprintf("%d files, %d directories, %d links, %d bytes, hashed with SHA-256 while copying", m.Files, count(m, TypeDir), count(m, TypeSymlink), m.Bytes)}
	out.Line(runbook.Info, res.Summary)
	return res, nil
}

func count(m *Manifest, t EntryType) int {
	n := 0
	for _, e := range m.Entries {
		if e.Type == t {
			n++
		}
	}
	return n
}

// --- file.verify

// verifyOp is file.verify.
type verifyOp struct{}

// Spec describes file.verify.
func (o *verifyOp) Spec() runbook.OpSpec {
	return runbook.OpSpec{
		Name:     "file.verify",
		ReadOnly: true,
		Summary:  "check a file or directory tree against a manifest: size and SHA-256 of every file",
		Args: []runbook.ArgSpec{
			{Name: "dir", Kind: runbook.ArgString, Required: true, Doc: "the tree (or file) to check"},
			{Name: "manifest", Kind: runbook.ArgString, Required: true, Doc: "the manifest written by file.copy or file.manifest"},
		},
	}
}

// Plan names the tree and the manifest.
func (o *verifyOp) Plan(c runbook.Call) (runbook.Plan, error) {
	if err := need(c.Args, "file.verify", "dir", "manifest"); err != nil {
		return runbook.Plan{}, err
	}
	return runbook.Plan{Host: "localhost", Detail: fmt.Sprintf("verify %s against manifest %s (read only)", c.Args.String("dir"), c.Args.String("manifest"))}, nil
}

// Run checks the tree; any missing, extra or changed entry is an error
// naming them.
func (o *verifyOp) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	if err := need(c.Args, "file.verify", "dir", "manifest"); err != nil {
		return res, err
	}
	dir, mpath := c.Args.String("dir"), c.Args.String("manifest")
	m, err := ReadManifest(mpath)
	if err != nil {
		return res, fmt.Errorf("file.verify: %w", err)
	}
	var ignore []string
	if rel := inside(dir, mpath); rel != "" {
		ignore = append(ignore, rel)
	}
	r, err := Verify(ctx, dir, m, ignore...)
	if err != nil {
		return res, fmt.Errorf("file.verify: %w", err)
	}
	if out != nil {
		for _, d := range r.Details {
			out.Line(runbook.Stderr, "changed: "+d)
		}
		for _, p := range r.Missing {
			out.Line(runbook.Stderr, "missing: "+p)
		}
		for _, p := range r.Extra {
			out.Line(runbook.Stderr, "extra: "+p)
		}
		for _, n := range r.Notes {
			out.Line(runbook.Info, "note: "+n)
		}
	}
	res.Warnings = r.Notes
	res.Vars = map[string]string{
		"checked": strconv.Itoa(r.Checked),
		"missing": strconv.Itoa(len(r.Missing)),
		"extra":   strconv.Itoa(len(r.Extra)),
		"changed": strconv.Itoa(len(r.Changed)),
	}
	taken := m.Taken.UTC().Format(time.RFC3339)
	if !r.OK() {
		res.Summary = fmt.Sprintf("%s does not match manifest %s: %s", dir, mpath, r)
		res.Evidence = append(append([]string(nil), r.Details...), prefixed("missing: ", r.Missing)...)
		res.Evidence = append(res.Evidence, prefixed("extra: ", r.Extra)...)
		return res, fmt.Errorf("%s does not match the manifest taken %s: %s", dir, taken, r)
	}
	res.Summary = fmt.Sprintf("%s matches manifest %s: %s", dir, mpath, r)
	res.Evidence = []string{fmt.Sprintf("%d entries, %d files, %d bytes match the manifest taken %s", r.Checked, m.Files, m.Bytes, taken)}
	if out != nil {
		out.Line(runbook.Info, res.Summary)
	}
	return res, nil
}

func prefixed(p string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = p + s
	}
	return out
}

// --- file.manifest

// manifestOp is file.manifest.
type manifestOp struct{}

// Spec describes file.manifest.
func (o *manifestOp) Spec() runbook.OpSpec {
	return runbook.OpSpec{
		Name:    "file.manifest",
		Summary: "write a manifest of a file or directory tree (path, size, mode, time, SHA-256) without copying it",
		Args: []runbook.ArgSpec{
			{Name: "dir", Kind: runbook.ArgString, Required: true, Doc: "the tree (or file) to describe"},
			{Name: "out", Kind: runbook.ArgString, Required: true, Doc: "where to write the manifest (JSON)"},
		},
	}
}

// Plan names the tree and where the manifest goes.
func (o *manifestOp) Plan(c runbook.Call) (runbook.Plan, error) {
	if err := need(c.Args, "file.manifest", "dir", "out"); err != nil {
		return runbook.Plan{}, err
	}
	return runbook.Plan{Host: "localhost", Detail: fmt.Sprintf("hash every file under %s and write the manifest to %s", c.Args.String("dir"), c.Args.String("out"))}, nil
}

// Run hashes the tree and writes the manifest.
func (o *manifestOp) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	if err := need(c.Args, "file.manifest", "dir", "out"); err != nil {
		return res, err
	}
	dir, mpath := c.Args.String("dir"), c.Args.String("out")
	var ignore []string
	if rel := inside(dir, mpath); rel != "" {
		ignore = append(ignore, rel)
	}
	m, err := BuildManifest(ctx, dir, ignore...)
	if err != nil {
		return res, fmt.Errorf("file.manifest: %w", err)
	}
	if err := WriteManifest(mpath, m); err != nil {
		return res, fmt.Errorf("file.manifest: %w", err)
	}
	res.Summary = fmt.Sprintf("manifest of %s written to %s: %d files, %s", dir, mpath, m.Files, humanBytes(m.Bytes))
	res.Evidence = []string{fmt.Sprintf("%d entries, %d files, %d bytes, taken %s", len(m.Entries), m.Files, m.Bytes, m.Taken.Format(time.RFC3339))}
	res.Vars = map[string]string{"files": strconv.Itoa(m.Files), "bytes": strconv.FormatInt(m.Bytes, 10), "manifest": mpath}
	if out != nil {
		out.Line(runbook.Info, res.Summary)
	}
	return res, nil
}
