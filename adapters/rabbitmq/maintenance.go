package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/drillbook/drillbook/runbook"
)

// Maintenance that holds (issue 13). On RabbitMQ 3.10 `rabbitmq-upgrade
// drain` closes every client connection and suspends every listener, but
// `start_app`, which the restore needs after copying msg_stores, resets
// maintenance mode and opens the listeners again (reference §6, pitfall
// 13): the application could reconnect and consume the very messages the
// operator is about to exclude. Draining again after start_app leaves a
// window of its own and shuts drillbook's AMQP exclusion out as well.
// So, while the node is drained, every user but the operator's
// (rabbitmq.user) loses its permissions on every vhost: a client of the
// application is then refused at connection.open ("NOT_ALLOWED - access
// to vhost '/' refused for user ...", checked on 3.10.8) for as long as
// they stay withdrawn, through stop_app and start_app (permissions live in
// Mnesia), while drillbook's own connections work. The withdrawn
// permissions are written to BlockedFile in the node's data directory
// before any is cleared, so a crashed run, a resume or a later run gives
// them back exactly.

// BlockedFile holds the permissions block-clients withdrew, in the node's
// data directory, until unblock-clients gives them back.
const BlockedFile = "drillbook-blocked-permissions.json"

// permission is one user's permissions on one vhost.
type permission struct {
	User      string `json:"user"`
	Vhost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

func (p permission) key() string { return p.User + "\x00" + p.Vhost }

// blocked is the content of BlockedFile.
type blocked struct {
	Node        string       `json:"node"`
	Permissions []permission `json:"permissions"`
}

// permissions lists every user's permissions on every vhost through the CLI
// (the HTTP API is down while the node is drained).
func (b *broker) permissions(ctx context.Context, out runbook.Output) ([]permission, error) {
	vhosts, err := b.vhosts(ctx, out)
	if err != nil {
		return nil, err
	}
	// One listing per vhost, a few at a time: each is a CLI call of about
	// half a second.
	lists := make([][]permission, len(vhosts))
	errs := make([]error, len(vhosts))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i, v := range vhosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = b.ctlJSON(ctx, out, &lists[i], "rabbitmqctl", "list_permissions", "-p", v)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []permission
	for i, rows := range lists {
		for _, r := range rows {
			r.Vhost = vhosts[i]
			all = append(all, r)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].key() < all[j].key() })
	return all, nil
}

func (b *broker) readBlocked(ctx context.Context, dataDir string) (blocked, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return blocked{}, err
	}
	var bl blocked
	err = readJSON(ctx, h, filepath.Join(dataDir, BlockedFile), &bl)
	if errors.Is(err, fs.ErrNotExist) {
		return blocked{Node: b.cfg.Node}, nil
	}
	return bl, err
}

// blockClients withdraws the permissions of every user but the operator's
// on every vhost, recording them first.
func (b *broker) blockClients(ctx context.Context, out runbook.Output) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	dir, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	bl, err := b.readBlocked(ctx, dir)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("read the permissions an earlier run withdrew: %w", err)
	}
	perms, err := b.permissions(ctx, out)
	if err != nil {
		return runbook.Result{}, err
	}
	saved := map[string]bool{}
	for _, p := range bl.Permissions {
		saved[p.key()] = true
	}
	var todo []permission
	for _, p := range perms {
		if p.User == b.cfg.user() {
			continue
		}
		todo = append(todo, p)
		if !saved[p.key()] {
			// Kept from an earlier block when there was one: those are the
			// permissions the application had before any run.
			bl.Permissions = append(bl.Permissions, p)
			saved[p.key()] = true
		}
	}
	var ops bool
	for _, p := range perms {
		ops = ops || p.User == b.cfg.user()
	}
	if !ops {
		return runbook.Result{}, fmt.Errorf("user %s (rabbitmq.user) has no permissions on any vhost of node %s: blocking the others would shut drillbook out too: grant it permissions or set rabbitmq.user", b.cfg.user(), b.cfg.Node)
	}
	if len(bl.Permissions) == 0 {
		return runbook.Result{Summary: fmt.Sprintf("no user but %s has permissions on node %s: nothing to withdraw", b.cfg.user(), b.cfg.Node)}, nil
	}
	// Written before anything is cleared: a crash in between leaves the
	// record, never permissions lost.
	if err := writeJSON(ctx, h, filepath.Join(dir, BlockedFile), bl); err != nil {
		return runbook.Result{}, fmt.Errorf("record the permissions before withdrawing them: %w", err)
	}
	for _, p := range todo {
		if _, err := b.ctl(ctx, out, "rabbitmqctl", "clear_permissions", "-p", p.Vhost, p.User); err != nil {
			return runbook.Result{}, fmt.Errorf("withdraw the permissions of %q on vhost %q: %w (the ones withdrawn so far are in %s; unblock-clients gives them back)", p.User, p.Vhost, err, filepath.Join(dir, BlockedFile))
		}
	}
	return runbook.Result{
		Summary:  fmt.Sprintf("withdrew the permissions of %s: they cannot connect until unblock-clients gives them back", describePerms(bl.Permissions)),
		Vars:     map[string]string{"blocked": fmt.Sprint(len(bl.Permissions))},
		Evidence: []string{fmt.Sprintf("%s: %d permissions recorded", filepath.Join(dir, BlockedFile), len(bl.Permissions))},
	}, nil
}

// unblockClients gives back what blockClients withdrew, then removes the
// record.
func (b *broker) unblockClients(ctx context.Context, out runbook.Output) (runbook.Result, error) {
	h, err := b.cfg.nodeHost()
	if err != nil {
		return runbook.Result{}, err
	}
	dir, err := b.dataDir(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	bl, err := b.readBlocked(ctx, dir)
	if err != nil {
		return runbook.Result{}, fmt.Errorf("read the withdrawn permissions: %w: give them back by hand (rabbitmqctl set_permissions)", err)
	}
	if len(bl.Permissions) == 0 {
		return runbook.Result{Summary: "no permissions were withdrawn: nothing to give back"}, nil
	}
	vhosts, err := b.vhosts(ctx, quietOut{out})
	if err != nil {
		return runbook.Result{}, err
	}
	var gone []string
	for _, p := range bl.Permissions {
		if !contains(vhosts, p.Vhost) {
			gone = append(gone, fmt.Sprintf("%q on vhost %q (the vhost no longer exists)", p.User, p.Vhost))
			continue
		}
		if _, err := b.ctl(ctx, out, "rabbitmqctl", "set_permissions", "-p", p.Vhost, p.User, p.Configure, p.Write, p.Read); err != nil {
			return runbook.Result{}, fmt.Errorf("give back the permissions of %q on vhost %q: %w (%s still lists every withdrawn permission)", p.User, p.Vhost, err, filepath.Join(dir, BlockedFile))
		}
	}
	if err := removeFile(ctx, h, filepath.Join(dir, BlockedFile)); err != nil {
		return runbook.Result{}, fmt.Errorf("permissions given back, but %s stays: %w: remove it by hand", filepath.Join(dir, BlockedFile), err)
	}
	res := runbook.Result{
		Summary:  fmt.Sprintf("gave back the permissions of %s", describePerms(bl.Permissions)),
		Evidence: []string{fmt.Sprintf("%d permissions set again from %s", len(bl.Permissions)-len(gone), filepath.Join(dir, BlockedFile))},
	}
	if len(gone) > 0 {
		res.Warnings = []string{"not given back: " + strings.Join(gone, ", ")}
	}
	return res, nil
}

// describePerms says whose permissions on which vhosts: `"app" on "/",
// "oro/shop"`.
func describePerms(ps []permission) string {
	byUser := map[string][]string{}
	var users []string
	for _, p := range ps {
		if _, ok := byUser[p.User]; !ok {
			users = append(users, p.User)
		}
		byUser[p.User] = append(byUser[p.User], fmt.Sprintf("%q", p.Vhost))
	}
	sort.Strings(users)
	parts := make([]string, 0, len(users))
	for _, u := range users {
		parts = append(parts, fmt.Sprintf("%q on %s", u, strings.Join(byUser[u], ", ")))
	}
	return fmt.Sprintf("%d users (%s)", len(users), strings.Join(parts, "; "))
}
