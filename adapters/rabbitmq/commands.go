package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// commandOp runs a target-defined command; stop-consumers then waits until
// no consumer remains (a killed consumer takes up to a second to go,
// reference §7).
//
// A stop takes the application out of service: it is destructive and bound
// to the node whose application it is (the token names the node), so that
// the operator confirms before anything stops.
func (b *broker) commandOp(name, summary string, argv []string, field string, waitConsumers bool) *op {
	spec := runbook.OpSpec{Name: "rabbitmq." + name, Summary: summary}
	stop := strings.HasPrefix(name, "stop-")
	what := strings.TrimPrefix(strings.TrimPrefix(name, "stop-"), "start-")
	if stop {
		spec.Destructive, spec.Object = true, "node"
		spec.Args = []runbook.ArgSpec{{Name: "node", Kind: runbook.ArgString, Required: true,
			Doc: "the node whose application's " + what + " stop (rabbit@host): must be the target's rabbitmq.node; the confirmation token names it"}}
	}
	if waitConsumers {
		spec.Args = append(spec.Args, runbook.ArgSpec{Name: "wait", Kind: runbook.ArgDuration, Doc: "how long to wait for consumers to go (default 10s)"})
	}
	return &op{
		spec: spec,
		plan: func(c runbook.Call) (runbook.Plan, error) {
			p := runbook.Plan{Host: b.cfg.hostLabel(), Argv: argv}
			if len(argv) == 0 {
				p = runbook.Plan{Host: b.cfg.hostLabel(), Detail: "rabbitmq." + field + " is not set in targets.yaml"}
			}
			if stop {
				p.Object = fmt.Sprintf("the application's %s on node %s (rabbitmq.%s, run on %s); leaves them stopped until start-%s", what, nodeOrTarget(c, b.cfg), field, b.cfg.hostLabel(), what)
			}
			return p, nil
		},
		run: func(ctx context.Context, c runbook.Call, out runbook.Output) (runbook.Result, error) {
			if err := b.bindNode(c, stop); err != nil {
				return runbook.Result{}, err
			}
			oc, err := b.runCommand(ctx, out, argv, field)
			if err != nil {
				return runbook.Result{ExitCode: oc.ExitCode}, err
			}
			res := runbook.Result{ExitCode: oc.ExitCode, Summary: fmt.Sprintf("%s: exit %d", argv[0], oc.ExitCode)}
			if !waitConsumers {
				return res, nil
			}
			deadline := time.Now().Add(c.Args.Duration("wait", 10*time.Second))
			for {
				chans, err := b.consumerChannels(ctx, quietOut{out})
				if err != nil {
					return res, err
				}
				var busy []string
				for _, ch := range chans {
					busy = append(busy, fmt.Sprintf("%q (user %s, vhost %s): %d consumers", ch.Name, ch.User, ch.Vhost, ch.ConsumerCount))
				}
				if len(busy) == 0 {
					res.Summary = "consumers stopped: no channel has a consumer"
					res.Evidence = []string{"list_channels: 0 consumers"}
					return res, nil
				}
				if time.Now().After(deadline) {
					// Not a failure here: check-idle (with its override)
					// is the step that refuses.
					res.Summary = fmt.Sprintf("consumers remain after the stop command: %s", short(busy))
					res.Warnings = []string{"consumers remain after the stop command: " + short(busy) + ": stop them by hand"}
					return res, nil
				}
				select {
				case <-ctx.Done():
					return res, ctx.Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
}
