package was

import (
	"context"
	"errors"
	"fmt"

	"github.com/drillbook/drillbook/adapters/was/simcell"
	"github.com/drillbook/drillbook/runbook"
)

// doCheck answers the precheck scripts (ops_checks.go) on the simulated
// cell; ok is false for any other request.
func (b *SimBackend) doCheck(ctx context.Context, req Request, out runbook.Output) (rep Reply, ok bool, err error) {
	var read func(context.Context, string) (map[string]string, error)
	switch req.Script {
	case ScriptHAPolicy:
		read = b.cell.HAPolicy
	case ScriptStoreAccess:
		read = b.cell.StoreAccess
	default:
		return Reply{}, false, nil
	}
	facts, err := read(ctx, argAt(req.Args, 0))
	if errors.Is(err, simcell.ErrNotConnected) {
		return Reply{}, true, err
	}
	b.banner(out)
	if err != nil {
		return Reply{}, true, fmt.Errorf("wsadmin %s: %w", req.Script, err)
	}
	return Reply{OK: "true", Facts: facts}, true, nil
}
