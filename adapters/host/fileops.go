package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/runbook"
)

// FileOps returns the file adapter's operations (file.exists, file.copy,
// file.replace, file.verify, file.manifest) with a host: argument: each
// runs, unchanged, on the host where its files are, so a manifest of a
// 300 MB store is hashed there and only the result crosses the network.
// file.copy and file.replace also take src_host: when the source is on
// another host, the tree is streamed from it through drillbook to the
// destination host, staged next to the destination there, checked against
// the SHA-256 of what was sent, and then placed by the file adapter's own
// copy on that host.
//
// hosts may be nil (validation, which needs only Spec): then only this
// machine is known.
func FileOps(hosts Resolver) []runbook.Operation {
	var out []runbook.Operation
	for _, op := range Ops() {
		out = append(out, &fileOp{inner: op, hosts: hosts})
	}
	return out
}

type fileOp struct {
	inner runbook.Operation
	hosts Resolver
}

func (o *fileOp) copies() bool {
	n := o.inner.Spec().Name
	return n == "file.copy" || n == "file.replace"
}

// Spec is the file operation's, with host: (and src_host: for copies).
func (o *fileOp) Spec() runbook.OpSpec {
	s := o.inner.Spec()
	s.Args = append([]runbook.ArgSpec(nil), s.Args...)
	s.Summary += " (on any host of the target)"
	s.Args = append(s.Args, runbook.ArgSpec{Name: "host", Kind: runbook.ArgString, Doc: "the host the files are on (a name under hosts: in targets.yaml; default: this machine)"})
	if o.copies() {
		s.Args[len(s.Args)-1].Doc = "the host the destination (and, without src_host, the source) is on (default: this machine)"
		s.Args = append(s.Args, runbook.ArgSpec{Name: "src_host", Kind: runbook.ArgString, Doc: "the host the source is on when it is another: the tree is streamed through drillbook"})
	}
	return s
}

// split returns the call without the host arguments, the host and the
// source host ("" when it is the same).
func (o *fileOp) split(c runbook.Call) (runbook.Call, string, string) {
	inner := c
	inner.Args = make(runbook.Args, len(c.Args))
	for k, v := range c.Args {
		if k != "host" && k != "src_host" {
			inner.Args[k] = v
		}
	}
	h, src := c.Args.String("host"), c.Args.String("src_host")
	if h == "" {
		h = runbook.LocalHost
	}
	if src == h {
		src = ""
	}
	return inner, h, src
}

func (o *fileOp) get(name string) (Host, func(), error) {
	if o.hosts != nil {
		h, err := o.hosts.Get(name)
		return h, func() {}, err
	}
	if name == "" || name == runbook.LocalHost {
		l := NewLocal("")
		return l, func() { l.Close() }, nil
	}
	return nil, nil, fmt.Errorf("no host %q: this target has only the local machine", name)
}

// Plan is the file operation's plan, with its host.
func (o *fileOp) Plan(c runbook.Call) (runbook.Plan, error) {
	inner, hn, srcName := o.split(c)
	p, err := o.inner.Plan(inner)
	if err != nil {
		return p, err
	}
	h, done, err := o.get(hn)
	if err != nil {
		return p, err
	}
	defer done()
	p.Host = h.String()
	if srcName != "" {
		sh, sdone, err := o.get(srcName)
		if err != nil {
			return p, err
		}
		defer sdone()
		p.Detail += fmt.Sprintf("; the source is on %s: streamed through drillbook to %s, staged next to the destination and checked by SHA-256", sh, h)
	}
	return p, nil
}

// Run runs the file operation on its host.
func (o *fileOp) Run(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
	inner, hn, srcName := o.split(c)
	h, done, err := o.get(hn)
	if err != nil {
		return runbook.Result{ExitCode: -1}, err
	}
	defer done()
	if out == nil {
		out = runbook.OutputFunc(func(runbook.Stream, string) {})
	}
	if hn != runbook.LocalHost {
		out.Line(runbook.Info, "on host "+h.String())
	}
	if srcName == "" {
		return h.Op(ctx, inner, out)
	}
	sh, sdone, err := o.get(srcName)
	if err != nil {
		return runbook.Result{ExitCode: -1}, err
	}
	defer sdone()
	return o.acrossHosts(ctx, inner, sh, h, out)
}

// acrossHosts copies a tree from one host to another: streamed from src
// to a staging directory next to dst on the destination host, checked
// against what was sent, then placed there by the file adapter's own
// operation (file.copy or file.replace), whose result and manifest are the
// step's. The staging directory is removed whatever happens; the
// destination's file system holds the tree twice while the copy is placed.
func (o *fileOp) acrossHosts(ctx context.Context, c runbook.Call, sh, dh Host, out runbook.Output) (runbook.Result, error) {
	res := runbook.Result{ExitCode: -1}
	name := c.Op
	src, dst := c.Args.String("src"), c.Args.String("dst")
	if src == "" || dst == "" {
		return res, fmt.Errorf("%s needs src and dst: give them under with:", name)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	parent := filepath.Dir(filepath.Clean(dst))
	stage := filepath.Join(parent, "."+filepath.Base(filepath.Clean(dst))+".drillbook-recv-"+hex.EncodeToString(rnd[:]))
	if err := dh.MkdirAll(ctx, parent, 0o755); err != nil {
		return res, fmt.Errorf("%s: create %s on %s: %w", name, parent, dh.Name(), err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dh.RemoveAll(cctx, stage); err != nil {
			out.Line(runbook.Info, fmt.Sprintf("could not remove the staging directory %s on %s: %v", stage, dh.Name(), err))
		}
	}()
	out.Line(runbook.Info, fmt.Sprintf("streaming %s from %s to %s on %s", src, sh, stage, dh))
	start := time.Now()
	sent, got, err := streamTree(ctx, sh, src, dh, stage, out)
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	if d := sameContent(sent, got); d != "" {
		return res, fmt.Errorf("%s: what arrived on %s is not what %s sent (%s): nothing was placed at %s", name, dh.Name(), sh.Name(), d, dst)
	}
	out.Line(runbook.Info, fmt.Sprintf("streamed %d files, %s in %s; every file's SHA-256 on %s matches %s's", sent.Files, humanBytes(sent.Bytes), time.Since(start).Round(time.Millisecond), dh.Name(), sh.Name()))
	inner := c
	inner.Args = make(runbook.Args, len(c.Args))
	for k, v := range c.Args {
		inner.Args[k] = v
	}
	inner.Args["src"] = stage
	from := sh.Name() + ":" + src
	res, err = dh.Op(ctx, inner, runbook.OutputFunc(func(s runbook.Stream, text string) {
		out.Line(s, strings.ReplaceAll(text, stage, from))
	}))
	res.Summary = strings.ReplaceAll(res.Summary, stage, from)
	for i := range res.Evidence {
		res.Evidence[i] = strings.ReplaceAll(res.Evidence[i], stage, from)
	}
	if err != nil {
		return res, &renamedError{msg: strings.ReplaceAll(err.Error(), stage, from), err: err}
	}
	return res, nil
}

// renamedError is an error whose message names the source where the
// wrapped one names the staging directory.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// streamTree sends the tree at src on sh to dst on dh and returns the
// manifests each side took, reporting progress every second.
func streamTree(ctx context.Context, sh Host, src string, dh Host, dst string, out runbook.Output) (sent, got *file.Manifest, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var n atomic.Int64
	var sendErr error
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		sent, sendErr = sh.SendTree(ctx, src, countingWriter{pw, &n})
		pw.CloseWithError(sendErr)
		if sendErr != nil {
			cancel()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	recvDone := make(chan struct{})
	var recvErr error
	go func() {
		defer close(recvDone)
		got, recvErr = dh.ReceiveTree(ctx, dst, pr)
		pr.CloseWithError(errors.Join(recvErr, io.ErrClosedPipe))
		if recvErr != nil {
			cancel()
		}
	}()
	for running := true; running; {
		select {
		case <-tick.C:
			out.Line(runbook.Info, fmt.Sprintf("streamed %s so far", humanBytes(n.Load())))
		case <-recvDone:
			running = false
		}
	}
	<-sendDone
	switch {
	case sendErr != nil && !errors.Is(sendErr, io.ErrClosedPipe):
		return nil, nil, fmt.Errorf("read %s on %s: %w", src, sh.Name(), sendErr)
	case recvErr != nil:
		return nil, nil, fmt.Errorf("write %s on %s: %w", dst, dh.Name(), recvErr)
	case sendErr != nil:
		return nil, nil, fmt.Errorf("read %s on %s: %w", src, sh.Name(), sendErr)
	}
	return sent, got, nil
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

// humanBytes writes a byte count as people read it.
func humanBytes(n int64) string { return runbook.HumanSize(n) }

// Transfer copies the file or tree at src on host sh to dst on host dh and
// returns the manifest of the copy: within one host it is dh.Copy; between
// two it is streamed through drillbook to a staging directory next to dst,
// checked against the SHA-256 the source computed while sending, placed by
// dh.Copy (file.Copy there: atomic, synced, opts.Replace as given), and the
// staging directory removed. Adapters that move a store from one machine
// to another (a MessageSight store copy, a RabbitMQ msg_stores backup on a
// backup host) call it instead of file.Copy.
func Transfer(ctx context.Context, sh Host, src string, dh Host, dst string, opts file.CopyOptions) (*file.Manifest, error) {
	if sh.Name() == dh.Name() {
		return dh.Copy(ctx, src, dst, opts)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	parent := filepath.Dir(filepath.Clean(dst))
	stage := filepath.Join(parent, "."+filepath.Base(filepath.Clean(dst))+".drillbook-recv-"+hex.EncodeToString(rnd[:]))
	if err := dh.MkdirAll(ctx, parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s on %s: %w", parent, dh.Name(), err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = dh.RemoveAll(cctx, stage)
	}()
	quiet := runbook.OutputFunc(func(runbook.Stream, string) {})
	sent, got, err := streamTree(ctx, sh, src, dh, stage, quiet)
	if err != nil {
		return nil, err
	}
	if d := sameContent(sent, got); d != "" {
		return nil, fmt.Errorf("what arrived on %s is not what %s sent (%s): nothing was placed at %s", dh.Name(), sh.Name(), d, dst)
	}
	m, err := dh.Copy(ctx, stage, dst, opts)
	if err != nil {
		return nil, &renamedError{msg: strings.ReplaceAll(err.Error(), stage, sh.Name()+":"+src), err: err}
	}
	m.Root = sh.Name() + ":" + src
	return m, nil
}
