package rabbitmq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/host"
	"github.com/drillbook/drillbook/runbook"
)

// checkIdle fails while a client connection remains (consumers included:
// a consumer needs a channel on a connection), unless override is given.
// Any connection counts: a publisher has no consumers, and a backup taken
// while one publishes silently loses the tail of the large messages
// (reference §5.2). list_connections is live and covers every vhost in one
// CLI call; the channels are listed only to name the consumers.
func (b *broker) checkIdle(ctx context.Context, out runbook.Output, override string) (runbook.Result, error) {
	cs, err := b.connections(ctx, out, true)
	if err != nil {
		return runbook.Result{}, err
	}
	var res runbook.Result
	if len(cs) == 0 {
		res.Summary = "no client connection, so no consumer and no producer"
		res.Evidence = []string{"list_connections: 0 connections"}
		return res, nil
	}
	chans, err := b.consumerChannels(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	consumers := 0
	var busy []string
	for _, ch := range chans {
		consumers += ch.ConsumerCount
		busy = append(busy, fmt.Sprintf("channel %q (user %s, vhost %s) has %d consumers", ch.Name, ch.User, ch.Vhost, ch.ConsumerCount))
	}
	for _, c := range cs {
		busy = append(busy, fmt.Sprintf("connection %q (user %s, vhost %s)", c.Name, c.User, c.Vhost))
	}
	if strings.TrimSpace(override) == "" {
		return res, fmt.Errorf("%d consumers and %d client connections remain: %s: stop consumers and producers first (rabbitmq.stop-consumers, rabbitmq.stop-producers), or give override_reason", consumers, len(cs), short(busy))
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("override (%s): %d consumers and %d connections remain: %s", override, consumers, len(cs), short(busy)))
	res.Summary = fmt.Sprintf("%d consumers and %d connections remain, overridden: %s", consumers, len(cs), override)
	res.Evidence = []string{fmt.Sprintf("consumers=%d connections=%d", consumers, len(cs))}
	return res, nil
}

// definitions is the part of a definitions file the adapter reads.
type definitions struct {
	Vhosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Users []struct {
		Name string `json:"name"`
	} `json:"users"`
	Permissions []permission `json:"permissions"`
	Queues      []struct {
		Name      string         `json:"name"`
		Vhost     string         `json:"vhost"`
		Type      string         `json:"type"`
		Arguments map[string]any `json:"arguments"`
	} `json:"queues"`
}

func (d definitions) list() []queue {
	qs := make([]queue, 0, len(d.Queues))
	for _, q := range d.Queues {
		qs = append(qs, queue{Vhost: q.Vhost, Name: q.Name, Type: queueType(q.Type, q.Arguments)})
	}
	return qs
}

func readDefinitions(ctx context.Context, h host.Host, path string) (definitions, error) {
	var d definitions
	if err := readJSON(ctx, h, path, &d); err != nil {
		return d, fmt.Errorf("read definitions: %w", err)
	}
	return d, nil
}

// exportDefinitions uses `rabbitmqctl export_definitions`, which works while
// the node is drained and records each queue's type. rabbit-hole's
// ExportedDefinitions is not used for the file: it tags runtime parameters
// "paramaters", so a round trip through it would drop shovels and
// federation links.
func (b *broker) exportDefinitions(ctx context.Context, out runbook.Output, file string) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	if _, err := statPath(ctx, h, file); err == nil {
		return runbook.Result{}, fmt.Errorf("%s already exists: export into a fresh backup directory", file)
	}
	if err := mkdirAll(ctx, h, filepath.Dir(file)); err != nil {
		return runbook.Result{}, fmt.Errorf("create the backup directory: %w", err)
	}
	if _, err := b.ctl(ctx, out, "rabbitmqctl", "export_definitions", file); err != nil {
		return runbook.Result{}, err
	}
	defs, err := readDefinitions(ctx, h, file)
	if err != nil {
		return runbook.Result{}, err
	}
	qs := defs.list()
	sum, _ := fileSHA256(ctx, h, file)
	return runbook.Result{
		Summary:  fmt.Sprintf("exported %d vhosts and %d queues to %s", len(defs.Vhosts), len(qs), file),
		Vars:     map[string]string{"file": file, "queues": strconv.Itoa(len(qs))},
		Warnings: typeWarnings(qs),
		Evidence: []string{fmt.Sprintf("%s sha256=%s", file, sum)},
	}, nil
}

func fileSHA256(ctx context.Context, h host.Host, p string) (string, error) {
	b, err := readFile(ctx, h, p)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

func (b *broker) missingQueues(ctx context.Context, out runbook.Output, defs definitions) ([]string, error) {
	have := map[string]bool{}
	vhosts := map[string]bool{}
	for _, q := range defs.list() {
		vhosts[q.Vhost] = true
	}
	existing, err := b.vhosts(ctx, out)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, v := range existing {
		known[v] = true
	}
	var missing []string
	names := make([]string, 0, len(vhosts))
	for v := range vhosts {
		names = append(names, v)
	}
	sort.Strings(names)
	// One listing per vhost, a few at a time: while the node is drained
	// each is a CLI call of about half a second.
	lists := make([][]queue, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i, v := range names {
		// list_queues on an unknown vhost succeeds with nothing listed
		// (pitfall 15), so check the vhost itself.
		if !known[v] {
			missing = append(missing, fmt.Sprintf("vhost %q", v))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			lists[i], errs[i] = b.queues(ctx, quietOut{out}, v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, qs := range lists {
		for _, q := range qs {
			have[q.key()] = true
		}
	}
	for _, q := range defs.list() {
		if known[q.Vhost] && !have[q.key()] {
			missing = append(missing, q.label())
		}
	}
	return missing, nil
}

func (b *broker) importDefinitions(ctx context.Context, out runbook.Output, file string, wait time.Duration) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	defs, err := readDefinitions(ctx, h, file)
	if err != nil {
		return runbook.Result{}, err
	}
	if _, err := b.ctl(ctx, out, "rabbitmqctl", "import_definitions", file); err != nil {
		return runbook.Result{}, err
	}
	// The import is asynchronous: queues missing at start_app have their
	// restored data deleted (pitfall 7), so wait for every one of them.
	deadline := time.Now().Add(wait)
	var missing []string
	for {
		missing, err = b.missingQueues(ctx, quietOut{out}, defs)
		if err != nil {
			return runbook.Result{}, err
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return runbook.Result{}, fmt.Errorf("after %s, %d queues of %s still do not exist: %s: check the node's log", wait, len(missing), file, short(missing))
		}
		out.Line(runbook.Info, fmt.Sprintf("waiting for %d queues: %s", len(missing), short(missing)))
		select {
		case <-ctx.Done():
			return runbook.Result{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	qs := defs.list()
	dir, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	sum, _ := fileSHA256(ctx, h, file)
	m := marker{Node: b.cfg.Node, File: file, SHA256: sum, Imported: time.Now().UTC()}
	for _, q := range qs {
		m.Queues = append(m.Queues, q.key())
	}
	if err := writeJSON(ctx, h, filepath.Join(dir, MarkerFile), m); err != nil {
		return runbook.Result{}, fmt.Errorf("record the import in the data directory: %w", err)
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("imported %s: all %d queues in %d vhosts exist", file, len(qs), len(defs.Vhosts)),
		Warnings: typeWarnings(qs),
		Evidence: []string{fmt.Sprintf("rabbitmqctl import_definitions %s, then list_queues: %d queues found", file, len(qs))},
	}, nil
}

func (b *broker) backupMessages(ctx context.Context, out runbook.Output, dir, override, defsFile string) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	if dir == "" {
		return runbook.Result{}, errors.New("no backup directory given")
	}
	idle, err := b.checkIdle(ctx, out, override)
	if err != nil {
		return idle, err
	}
	var qs []queue
	if defsFile != "" {
		// With producers and consumers stopped no queue appears between
		// the export and now.
		defs, err := readDefinitions(ctx, h, defsFile)
		if err != nil {
			return runbook.Result{}, err
		}
		qs = defs.list()
	} else if qs, err = b.queues(ctx, out, ""); err != nil {
		return runbook.Result{}, err
	}
	data, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	// Count before the copy; with producers and consumers stopped nothing
	// changes in between.
	counts, err := b.count(ctx, qs)
	if err != nil {
		return runbook.Result{}, err
	}
	if err := mkdirAll(ctx, h, dir); err != nil {
		return runbook.Result{}, fmt.Errorf("create the backup directory: %w", err)
	}
	src := filepath.Join(data, "msg_stores")
	dst := filepath.Join(dir, "msg_stores")
	if _, err := lstatPath(ctx, h, dst); err == nil {
		// A second `cp -a src/ dst` would nest msg_stores/msg_stores
		// (pitfall 17); a backup always goes into a fresh directory.
		return runbook.Result{}, fmt.Errorf("%s already exists: back up into a fresh directory", dst)
	}
	out.Line(runbook.Info, fmt.Sprintf("copying %s to %s", src, dst))
	t0 := time.Now()
	m, err := h.Copy(ctx, src, dst, file.CopyOptions{})
	if err != nil {
		return runbook.Result{}, err
	}
	took := time.Since(t0)
	if err := h.WriteManifest(ctx, filepath.Join(dir, ManifestFile), m); err != nil {
		return runbook.Result{}, err
	}
	c := Counts{Node: b.cfg.Node, Taken: time.Now().UTC(), Override: override}
	total := 0
	for _, q := range qs {
		c.Queues = append(c.Queues, QueueCount{Vhost: q.Vhost, Name: q.Name, Type: q.Type, Messages: counts[q.key()]})
		if q.Type == "classic" {
			total += counts[q.key()]
		}
	}
	if err := writeJSON(ctx, h, filepath.Join(dir, CountsFile), c); err != nil {
		return runbook.Result{}, err
	}
	warn := append(idle.Warnings, typeWarnings(qs)...)
	for _, q := range c.Queues {
		if q.Type != "classic" && q.Messages > 0 {
			warn = append(warn, fmt.Sprintf("%s %s holds %d messages that this backup does not contain", q.Type, qlabel(q.Vhost, q.Name), q.Messages))
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("backed up %d classic-queue messages: %d files, %d bytes in %s", total, m.Files, m.Bytes, took.Round(time.Millisecond)),
		Vars:     map[string]string{"dir": dir, "messages": strconv.Itoa(total), "files": strconv.Itoa(m.Files), "bytes": strconv.FormatInt(m.Bytes, 10)},
		Warnings: warn,
		Evidence: []string{fmt.Sprintf("%s: %d files, %d bytes, SHA-256 of each", filepath.Join(dir, ManifestFile), m.Files, m.Bytes)},
	}, nil
}

func verifyBackup(ctx context.Context, h host.Host, dir string) (runbook.Result, error) {
	want, err := h.ReadManifest(ctx, filepath.Join(dir, ManifestFile))
	if err != nil {
		return runbook.Result{}, fmt.Errorf("%w: is %s a drillbook backup?", err, dir)
	}
	rep, err := h.Verify(ctx, filepath.Join(dir, "msg_stores"), want)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("read the backup: %w", err)
	}
	if !rep.OK() {
		return runbook.Result{Evidence: rep.Details}, fmt.Errorf("the backup in %s does not match its manifest: %s", dir, rep.String())
	}
	return runbook.Result{Summary: fmt.Sprintf("%d files, %d bytes match the manifest", want.Files, rep.Bytes),
		Evidence: []string{fmt.Sprintf("%s: %s", filepath.Join(dir, ManifestFile), rep.String())}}, nil
}

func (b *broker) countMessages(ctx context.Context, out runbook.Output, vhost, backup string, excluded []string) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	var qs []queue
	var want Counts
	if backup != "" {
		// The backup's queues are the ones to compare; a passive declare
		// finds a missing one, so the node need not be listed.
		if err := readJSON(ctx, h, filepath.Join(backup, CountsFile), &want); err != nil {
			return runbook.Result{}, fmt.Errorf("read the backup's counts: %w", err)
		}
		for _, q := range want.Queues {
			if vhost == "" || vhost == q.Vhost {
				qs = append(qs, queue{Vhost: q.Vhost, Name: q.Name, Type: q.Type})
			}
		}
	} else {
		var err error
		if qs, err = b.queues(ctx, out, vhost); err != nil {
			return runbook.Result{}, err
		}
	}
	counts, err := b.count(ctx, qs)
	if err != nil {
		return runbook.Result{}, err
	}
	total := 0
	for _, q := range qs {
		out.Line(runbook.Stdout, fmt.Sprintf("%-8s %6d  %s", q.Type, counts[q.key()], q.label()))
		if counts[q.key()] > 0 {
			total += counts[q.key()]
		}
	}
	res := runbook.Result{Summary: fmt.Sprintf("%d messages in %d queues", total, len(qs)), Vars: map[string]string{"messages": strconv.Itoa(total)}}
	if backup == "" {
		return res, nil
	}
	ex := map[string]bool{}
	for _, e := range excluded {
		ex[e] = true
	}
	var bad []string
	matched, expected := 0, 0
	for _, q := range want.Queues {
		k := q.Vhost + "/" + q.Name
		lbl := qlabel(q.Vhost, q.Name)
		if vhost != "" && q.Vhost != vhost {
			continue
		}
		got := counts[k]
		if q.Type != "classic" {
			switch {
			case q.Messages > 0 && got < q.Messages:
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s had %d messages at backup time and has %d now: this procedure does not restore it", q.Type, lbl, q.Messages, max(got, 0)))
			case q.Messages > 0:
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s has %d messages (%d at backup time) only because this node kept its own quorum data: the backup does not contain them", q.Type, lbl, got, q.Messages))
			}
			continue
		}
		expected += q.Messages
		switch {
		case got == -1:
			bad = append(bad, lbl+" does not exist")
		case got == q.Messages:
			matched++
		case ex[k] && got < q.Messages:
			matched++
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %d of %d messages (%d excluded on purpose)", lbl, got, q.Messages, q.Messages-got))
		default:
			bad = append(bad, fmt.Sprintf("%s has %d messages, the backup had %d", lbl, got, q.Messages))
		}
	}
	if len(bad) > 0 {
		return res, fmt.Errorf("%d queues differ from the backup's counts: %s", len(bad), short(bad))
	}
	res.Summary = fmt.Sprintf("all %d classic queues match the backup (%d messages expected)", matched, expected)
	res.Evidence = []string{fmt.Sprintf("%d queues match %s", matched, filepath.Join(backup, CountsFile))}
	return res, nil
}
