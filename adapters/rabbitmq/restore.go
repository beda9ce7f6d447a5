package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/runbook"
)

// RedeliveredNote is what a restore tells about the flag every restored
// message carries. Checked on RabbitMQ 3.10.8: after a clean stop_app and
// start_app a message is delivered with redelivered=false; after msg_stores
// was replaced by a hot copy (the backup's), with redelivered=true, since
// the copy's recovery terms do not match and the node rebuilds the queue
// indices from scratch (reference §5.2, "Recovery after a hot copy").
const RedeliveredNote = "consumers will see redelivered=true on every restored message (RabbitMQ rebuilds the copied queue indices and marks their messages as delivered before): a consumer that treats the flag as \"already tried\" (a retry counter, dead-lettering on redelivery) must be told, or the messages go the wrong way"

// restorePrep is what restore-messages checked before it stops anything.
type restorePrep struct {
	set     setInfo
	dataDir string
	want    *file.Manifest
	counts  Counts
	node    nodeInfo
	warn    []string
}

// prepareRestore does every check restore-messages needs before it stops
// the application, changing nothing: the set sealed (or the reason given),
// its manifest and counts readable, the definitions imported on this node
// with every queue of the set, and msg_stores holding no message unless
// replaceNonempty.
func (b *broker) prepareRestore(ctx context.Context, out runbook.Output, dir string, replaceNonempty bool, reason string) (restorePrep, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return restorePrep{}, err
	}
	var p restorePrep
	p.set = inspectSet(ctx, h, dir)
	if info, err := statPath(ctx, h, dir); err != nil || !info.IsDir() {
		return p, fmt.Errorf("backup set %s does not exist: `drillbook backups TARGET` lists the sets", dir)
	}
	if !p.set.Sealed {
		if strings.TrimSpace(reason) == "" {
			return p, fmt.Errorf("backup set %s is %s: refused; restore it only with unsealed_reason saying why", dir, p.set.Problem)
		}
		p.warn = append(p.warn, fmt.Sprintf("restoring backup set %s although it is %s: %s", p.set.Name, p.set.Problem, reason))
	}
	want, err := h.ReadManifest(ctx, filepath.Join(dir, ManifestFile))
	if err != nil {
		return p, fmt.Errorf("%w: is %s a drillbook backup set?", err, dir)
	}
	p.want = want
	if err := readJSON(ctx, h, filepath.Join(dir, CountsFile), &p.counts); err != nil {
		return p, fmt.Errorf("read the backup's counts: %w", err)
	}
	ni, err := b.nodeState(ctx, out)
	if err != nil {
		return p, err
	}
	p.node = ni
	if p.dataDir, err = b.checkDataDirSetting(ctx, ni.DataDir); err != nil {
		return p, err
	}
	// Definitions first (reference §5.2): data of queues the node does not
	// know is deleted at start_app, silently.
	var m marker
	if err := readJSON(ctx, h, filepath.Join(p.dataDir, MarkerFile), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return p, fmt.Errorf("definitions were not imported on node %s: run rabbitmq.import-definitions with %s first (messages of queues the node does not know are deleted at start_app)", b.cfg.Node, filepath.Join(dir, DefinitionsFile))
		}
		return p, err
	}
	known := map[string]bool{}
	for _, q := range m.Queues {
		known[q] = true
	}
	var unknown []string
	for _, q := range p.counts.Queues {
		if !known[q.Vhost+"/"+q.Name] {
			unknown = append(unknown, q.Vhost+"/"+q.Name)
		}
	}
	if len(unknown) > 0 {
		return p, fmt.Errorf("the imported definitions (%s) lack %d queues of this backup: %s: import the backup's own %s first", m.File, len(unknown), short(unknown), DefinitionsFile)
	}
	warn, err := checkStoreEmpty(ctx, h, filepath.Join(p.dataDir, "msg_stores"), replaceNonempty)
	p.warn = append(p.warn, warn...)
	if err != nil {
		return p, err
	}
	return p, nil
}

// restoreMessages stops the application, replaces msg_stores with the
// set's and starts the application again, in one step, so the operator
// confirms before anything stops and the broker is never left stopped
// while a run waits for a token. A copy that fails leaves msg_stores as it
// was (staged, swapped in whole) and the application is started again; a
// copy that does not match the manifest leaves the application stopped.
func (b *broker) restoreMessages(ctx context.Context, out runbook.Output, dir string, replaceNonempty bool, reason string) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	p, err := b.prepareRestore(ctx, out, dir, replaceNonempty, reason)
	if err != nil {
		return runbook.Result{Warnings: p.warn}, err
	}
	warn := p.warn
	owner, err := ownerOf(ctx, h, p.dataDir)
	if err != nil {
		return runbook.Result{Warnings: warn}, err
	}
	if p.node.Running {
		if _, err := b.ctl(ctx, out, "rabbitmqctl", "stop_app"); err != nil {
			return runbook.Result{Warnings: warn}, fmt.Errorf("stop the application before the copy: %w", err)
		}
	}
	// startAgain brings the application back after a failure that left
	// msg_stores as it was; it runs even when ctx was cancelled, bounded.
	startAgain := func(cause error) error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.timeout()+30*time.Second)
		defer cancel()
		if _, err := b.ctl(sctx, out, "rabbitmqctl", "start_app"); err != nil {
			return fmt.Errorf("%w; msg_stores is as it was, but start_app failed too (%v): the application is STOPPED: start it with rabbitmqctl -n %s start_app", cause, err, b.cfg.Node)
		}
		return fmt.Errorf("%w; msg_stores is as it was and the application was started again", cause)
	}
	// Replace, never merge: the documented `cp -a backup/* msg_stores/`
	// merges into live files (pitfall 9). The copy is staged next to the
	// target and swapped in whole, so a failed copy leaves it as it was.
	target := filepath.Join(p.dataDir, "msg_stores")
	out.Line(runbook.Info, fmt.Sprintf("replacing %s with %s", target, filepath.Join(dir, "msg_stores")))
	t0 := time.Now()
	got, err := h.Copy(ctx, filepath.Join(dir, "msg_stores"), target, file.CopyOptions{Replace: true})
	if err != nil {
		return runbook.Result{Warnings: warn}, startAgain(err)
	}
	took := time.Since(t0)
	if owner != nil && runningAsRoot(ctx, h) {
		if err := chownTree(ctx, h, target, *owner); err != nil {
			return runbook.Result{Warnings: warn}, fmt.Errorf("give the restored files to the node's user: %w: the application is left STOPPED: fix the owner of %s, then rabbitmqctl -n %s start_app", err, target, b.cfg.Node)
		}
	}
	if diffs := compareManifest(p.want, got); len(diffs) > 0 {
		return runbook.Result{Warnings: warn, Evidence: diffs}, fmt.Errorf("the restored files do not match the backup's manifest (%d differences): %s: the backup is damaged; the application is left STOPPED so that nothing reads them", len(diffs), short(diffs))
	}
	if _, err := b.ctl(ctx, out, "rabbitmqctl", "start_app"); err != nil {
		return runbook.Result{Warnings: warn}, fmt.Errorf("msg_stores restored and verified, but start_app failed: %w: start it with rabbitmqctl -n %s start_app", err, b.cfg.Node)
	}
	total := 0
	for _, q := range p.counts.Queues {
		if q.Type == "classic" {
			total += q.Messages
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("restored backup set %s onto node %s: %d files, %d bytes (%d classic-queue messages at backup time) copied in %s, manifest verified; application started again", p.set.Name, b.cfg.Node, got.Files, got.Bytes, total, took.Round(time.Millisecond)),
		Vars:     map[string]string{"data_dir": p.dataDir, "files": strconv.Itoa(got.Files)},
		Warnings: append(warn, RedeliveredNote),
		Evidence: []string{fmt.Sprintf("%d files match %s (sizes and SHA-256)", got.Files, filepath.Join(dir, ManifestFile))},
	}, nil
}

func (b *broker) excludeMessages(ctx context.Context, out runbook.Output, vhost, queueName, hold string, patterns []string) (runbook.Result, error) {
	if len(patterns) == 0 {
		return runbook.Result{Summary: "no routing keys given: nothing excluded"}, nil
	}
	if hold == queueName {
		return runbook.Result{}, errors.New("hold_queue must differ from queue")
	}
	ex, err := b.exclude(ctx, vhost, queueName, hold, patterns, func(s string) { out.Line(runbook.Info, s) })
	if err != nil {
		return runbook.Result{}, err
	}
	out.Line(runbook.Info, fmt.Sprintf("moved %d messages to %s, kept %d in %q", ex.Moved, qlabel(vhost, hold), ex.Kept, queueName))
	if ex.Seen == 0 {
		return runbook.Result{Summary: fmt.Sprintf("%s is empty: nothing excluded", qlabel(vhost, queueName)), Vars: map[string]string{"removed": "0"}}, nil
	}
	n, err := b.deleteQueue(ctx, vhost, hold)
	if err != nil {
		return runbook.Result{}, err
	}
	if n != ex.Moved {
		return runbook.Result{}, fmt.Errorf("deleted %s with %d messages, but %d were moved into it: something else published to it", qlabel(vhost, hold), n, ex.Moved)
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("excluded %d messages of %s (routing keys %s); %d kept", ex.Moved, qlabel(vhost, queueName), strings.Join(patterns, ", "), ex.Kept),
		Vars:     map[string]string{"removed": strconv.Itoa(ex.Moved), "kept": strconv.Itoa(ex.Kept)},
		Evidence: []string{fmt.Sprintf("%s deleted with %d messages", qlabel(vhost, hold), n)},
	}, nil
}
