package messagesight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drillbook/drillbook/runbook"
)

// A restart request is answered at once and acted on seconds later; the
// server then goes down, refuses connections, and a new process starts
// (Amlen config_jsonutils.c, main.c, startServer.sh). So the adapter tells
// a restart happened the way Amlen's own operator does (operator
// server.py wait_for_restart): by the start time, ServerTime minus
// UpTimeSeconds, which moves forward only when a new process started.

// startTime is when the process that answered started, by the server's own
// clock (ServerTime - UpTimeSeconds); zero when ServerTime is unreadable.
func startTime(st Status, received time.Time) time.Time {
	t, err := time.Parse(time.RFC3339Nano, st.Server.ServerTime)
	if err != nil {
		t = received
	}
	return t.Add(-time.Duration(st.Server.UpTimeSeconds) * time.Second)
}

// restartedSince reports whether the process that answered started after
// the one whose start time was prev: more than a second later, since
// UpTimeSeconds counts whole seconds (Amlen's operator allows the same).
func restartedSince(st Status, received, prev time.Time) bool {
	return startTime(st, received).After(prev.Add(time.Second))
}

// refusedWindow is how long a request is retried while the connection is
// refused (a restart under way): the operator retries 10 times, 5 s apart.
const refusedWindow = 2 * time.Minute

// withRefusedRetries runs f until it gets an answer, retrying only while
// the connection is refused (the request then never reached a server, so
// sending it again cannot do anything twice).
func withRefusedRetries[T any](ctx context.Context, c *client, out runbook.Output, what string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(refusedWindow)
	pause := 250 * time.Millisecond
	told := false
	for {
		v, err := f()
		if err == nil || !errors.Is(err, ErrRefused) || time.Now().After(deadline) {
			return v, err
		}
		if !told {
			out.Line(runbook.Info, fmt.Sprintf("%s: connection refused (the server is restarting): %s again for up to %s", c.label, what, refusedWindow))
			told = true
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func restartBody(a runbook.Args) map[string]any {
	b := map[string]any{"Service": "Server"}
	if m := a.String("maintenance"); m != "" {
		b["Maintenance"] = m
	}
	return b
}

// outage says in words what a restart does to the server.
func outage(body map[string]any) string {
	switch {
	case body["CleanStore"] == true:
		return "restarts the server with CleanStore: it goes down and every persistent message, subscription and client state is deleted"
	case body["Maintenance"] == "start":
		return "restarts the server into maintenance mode: messaging stops until it is returned to production"
	case body["Maintenance"] == "stop":
		return "restarts the server into production: it goes down, recovers its store and starts messaging"
	}
	return "restarts the server in its configured mode: it goes down and comes back"
}

func restartOp() *op {
	return &op{object: "node",
		spec: runbook.OpSpec{Name: "messagesight.restart", Destructive: true,
			Summary: "restart the server (an outage), entering (start) or leaving (stop) maintenance mode",
			Args: []runbook.ArgSpec{nodeArgRequired(),
				arg("maintenance", runbook.ArgString, false, "start: come back in maintenance mode; stop: come back in production; empty keeps the mode", "start", "stop"),
				arg("require_state", runbook.ArgString, false, "restart only a server that is in this state now; in any other state nothing is sent and the step fails saying what the server is doing", "production", "maintenance", "standby"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			b := restartBody(a)
			p := requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/restart", b)
			p.Detail = objectOf(cfg, a.String("node")) + ": " + outage(b)
			if r := a.String("require_state"); r != "" {
				p.Detail += fmt.Sprintf("; only if it is in %s (State %d) now", r, stateCode(r))
			}
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			return postRestart(ctx, cfg, call, out, restartBody(call.Args))
		},
	}
}

func cleanStoreOp() *op {
	body := map[string]any{"Service": "Server", "CleanStore": true}
	return &op{object: "node",
		spec: runbook.OpSpec{Name: "messagesight.clean-store", Destructive: true,
			Summary: "restart with CleanStore: deletes every persistent message, subscription and client state; keeps the configuration",
			Args:    []runbook.ArgSpec{nodeArgRequired()}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "POST", "/ima/v1/service/restart", body)
			p.Detail = objectOf(cfg, a.String("node")) + ": " + outage(body)
			return p
		},
		run: func(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
			return postRestart(ctx, cfg, call, out, body)
		},
	}
}

// postRestart reads the server's start time, refuses to join a restart
// already under way, sends the request (again while the connection is
// refused), and returns the start time a wait compares against.
func postRestart(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output, body map[string]any) (runbook.Result, error) {
	c, err := newClient(cfg, call.Args.String("node"))
	if err != nil {
		return runbook.Result{}, err
	}
	type seen struct {
		st Status
		at time.Time
	}
	before, err := withRefusedRetries(ctx, c, out, "reading its status", func() (seen, error) {
		st, _, err := c.status(ctx)
		return seen{st, time.Now()}, err
	})
	if err != nil {
		return runbook.Result{}, err
	}
	out.Line(runbook.Info, describeState(c.label, before.st))
	if before.st.Server.State == 2 {
		// A restart is pending: a second request joins it or is lost if the
		// process ends before its timer (config_jsonutils.c, main.c).
		return runbook.Result{}, fmt.Errorf("messagesight %s: the server is already stopping (State 2): a restart is under way and a second request could be lost; wait for it (messagesight.wait-state) and then restart again if needed", c.label)
	}
	if want := call.Args.String("require_state"); want != "" && before.st.Server.State != stateCode(want) {
		return runbook.Result{}, fmt.Errorf("messagesight %s: not restarted: the server is in state %d (%s), not %s (%d)%s: check it (GET /ima/v1/service/status) and bring it back by hand",
			c.label, before.st.Server.State, before.st.Server.StateDescription, want, stateCode(want), errorCodeNote(before.st))
	}
	prev := startTime(before.st, before.at)
	out.Line(runbook.Info, "POST /ima/v1/service/restart "+planBody(body))
	type answer struct {
		env envelope
		r   response
	}
	a, err := withRefusedRetries(ctx, c, out, "sending the restart", func() (answer, error) {
		env, r, err := c.post(ctx, "/ima/v1/service/restart", body)
		return answer{env, r}, err
	})
	if err != nil {
		return runbook.Result{}, err
	}
	ev := strings.TrimSpace(string(a.r.body))
	out.Line(runbook.Info, ev)
	return runbook.Result{ExitCode: -1,
		Summary:  fmt.Sprintf("%s: restart accepted (%s); the server acts on it within seconds, goes down and comes back", c.label, a.env.Code),
		Evidence: []string{ev},
		Vars:     map[string]string{"previous_start": prev.UTC().Format(time.RFC3339Nano)}}, nil
}

// errorCodeNote is ", ErrorCode N "TEXT"" when the server reports one.
func errorCodeNote(st Status) string {
	if st.Server.ErrorCode == 0 {
		return ""
	}
	return fmt.Sprintf(", ErrorCode %d %q", st.Server.ErrorCode, st.Server.ErrorMessage)
}

// scaled applies the target's DelayScale to a duration.
func scaled(cfg Config, d time.Duration) time.Duration {
	if cfg.DelayScale > 0 {
		return time.Duration(float64(d) * cfg.DelayScale)
	}
	return d
}

func scaleNote(cfg Config) string {
	if cfg.DelayScale > 0 && cfg.DelayScale != 1 {
		return fmt.Sprintf(" (times %g on this simulated target)", cfg.DelayScale)
	}
	return ""
}

func waitStateOp() *op {
	return &op{readOnly: true,
		spec: runbook.OpSpec{Name: "messagesight.wait-state", Summary: "poll status until the server is in a state, reporting every state on the way (through the restart's refused connections)",
			Args: []runbook.ArgSpec{nodeArg(),
				arg("state", runbook.ArgString, true, "state to wait for", "production", "maintenance", "standby"),
				arg("role", runbook.ArgString, false, "HA role to wait for as well", "PRIMARY", "STANDBY"),
				arg("sync_nodes", runbook.ArgInt, false, "number of HA nodes in sync to wait for"),
				arg("restarted_from", runbook.ArgString, false, "the start time a restart step returned (previous_start): only a server started after it counts"),
				arg("timeout", runbook.ArgDuration, false, "give up after this long; default 15m (a store recovery can take minutes)"),
				arg("stopping_limit", runbook.ArgDuration, false, "fail when the server reports State 2 (Stopping) this long; default 3m"),
				arg("every", runbook.ArgDuration, false, "polling interval; default 2s"),
			}},
		plan: func(cfg Config, a runbook.Args) runbook.Plan {
			p := requestPlan(cfg, a.String("node"), "GET", "/ima/v1/service/status", nil)
			p.Request += fmt.Sprintf(" polled (at most every %s) until State %d (%s)", a.Duration("every", 2*time.Second), stateCode(a.String("state")), a.String("state"))
			if r := a.String("role"); r != "" {
				p.Request += " and role " + r
			}
			if a.String("restarted_from") != "" {
				p.Request += ", counting only a server started after the restart request"
			}
			p.Request += fmt.Sprintf(", timeout %s%s", a.Duration("timeout", 15*time.Minute), scaleNote(cfg))
			return p
		},
		run: runWaitState,
	}
}

// haFailure says why an HA view can never reach the wanted role, with the
// server's own reason, or "".
func haFailure(st Status) string {
	ha := st.HighAvailability
	if ha.NewRole == "UNSYNC_ERROR" || ha.ReasonCode != 0 {
		s := fmt.Sprintf("HA role %s, ReasonCode %d", ha.NewRole, ha.ReasonCode)
		if ha.ReasonString != "" {
			s += fmt.Sprintf(" %q", ha.ReasonString)
		}
		return s
	}
	return ""
}

// haAdvice is the next action for an HA reason code (ha.h).
func haAdvice(code int) string {
	switch code {
	case 2:
		return "the partner was not found within DiscoveryTimeout: start both nodes of the pair out of maintenance one right after the other (restore the primary first), or start this one with StartupMode StandAlone if its partner is gone"
	case 3, 8:
		return "both nodes acted as primary (split brain): keep the node with the newer data, clean the other's store and start it as standby"
	case 4:
		return "the nodes could not synchronise: clean the standby's store and restart it"
	case 5:
		return "both nodes hold data in their stores: clean the standby's store (CleanStore) and restart both, the restored primary first"
	case 7:
		return "the nodes have different HA groups: make Group the same on both"
	}
	return "look at both nodes' HighAvailability configuration"
}

func runWaitState(ctx context.Context, cfg Config, call runbook.Call, out runbook.Output) (runbook.Result, error) {
	c, err := newClient(cfg, call.Args.String("node"))
	if err != nil {
		return runbook.Result{}, err
	}
	stateName := call.Args.String("state")
	want := stateCode(stateName)
	if want == 0 {
		return runbook.Result{}, fmt.Errorf("messagesight: wait-state: state %q is not production, maintenance or standby", stateName)
	}
	var prev time.Time
	if s := call.Args.String("restarted_from"); s != "" {
		if prev, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return runbook.Result{}, fmt.Errorf("messagesight: wait-state: restarted_from %q is not a time: give the previous_start of the restart step", s)
		}
	}
	role := call.Args.String("role")
	syncNodes := int(call.Args.Int("sync_nodes", 0))
	timeout := scaled(cfg, call.Args.Duration("timeout", 15*time.Minute))
	stoppingLimit := scaled(cfg, call.Args.Duration("stopping_limit", 3*time.Minute))
	every := scaled(cfg, call.Args.Duration("every", 2*time.Second))
	if every <= 0 {
		every = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	pause := min(250*time.Millisecond, every)
	last := ""
	var stoppingSince time.Time
	sawDown := false
	tell := func(s string) {
		if s != last {
			out.Line(runbook.Info, fmt.Sprintf("%s +%s: %s", c.label, time.Since(start).Round(100*time.Millisecond), s))
			last = s
		}
	}
	for {
		st, _, err := c.status(ctx)
		received := time.Now()
		var apiErr *APIError
		switch {
		case err == nil:
			line := describeState(c.label, st)
			restarted := prev.IsZero() || sawDown && restartedSince(st, received, prev.Add(-time.Second)) || restartedSince(st, received, prev)
			if !restarted {
				line += " (the restart has not happened yet)"
			}
			tell(line)
			if st.Server.State == 2 {
				if stoppingSince.IsZero() {
					stoppingSince = received
				}
				if received.Sub(stoppingSince) > stoppingLimit {
					return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: the server has reported State 2 (Stopping) for %s and does not go down: its shutdown hangs; look at its trace and restart it from its platform (docker restart, systemctl restart), then retry this step; nothing after this step was run",
						c.label, received.Sub(stoppingSince).Round(time.Second))
				}
			} else {
				stoppingSince = time.Time{}
			}
			if !restarted {
				break
			}
			if f := haFailure(st); f != "" && (role != "" || want == 10) {
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: the pair cannot form: %s, State %d, ErrorCode %d %q: %s", c.label, f, st.Server.State, st.Server.ErrorCode, st.Server.ErrorMessage, haAdvice(st.HighAvailability.ReasonCode))
			}
			if st.Server.State == want && (role == "" || st.HighAvailability.NewRole == role) &&
				(syncNodes == 0 || st.HighAvailability.SyncNodes >= syncNodes) {
				res := runbook.Result{ExitCode: -1, Summary: line + fmt.Sprintf(" after %s", time.Since(start).Round(100*time.Millisecond)),
					Vars: statusVars(st), Evidence: []string{statusEvidence(st)}}
				if st.Server.ErrorCode != 0 {
					res.Warnings = append(res.Warnings, fmt.Sprintf("ErrorCode %d: %s", st.Server.ErrorCode, st.Server.ErrorMessage))
				}
				return res, nil
			}
			if st.Server.State == 9 && want != 9 && st.Server.ErrorCode != 0 {
				// It came back in maintenance because something failed: that
				// does not change by waiting.
				hint := Explain(fmt.Sprintf("CWLNA%04d", st.Server.ErrorCode), 0)
				if hint == "" {
					hint = "look at the server's trace and fix the cause, then restart it out of maintenance"
				}
				if f := haFailure(st); f != "" {
					hint = f + ": " + haAdvice(st.HighAvailability.ReasonCode)
				}
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: the server came back in maintenance (State 9) instead of %s: ErrorCode %d %q: %s; nothing after this step was run",
					c.label, stateName, st.Server.ErrorCode, st.Server.ErrorMessage, hint)
			}
			if role == "STANDBY" && st.HighAvailability.NewRole == "PRIMARY" && st.Server.State == 1 {
				return runbook.Result{Summary: line}, fmt.Errorf("messagesight %s: this node is PRIMARY (%d active, %d in sync), not the standby: the pair failed over or is split; check both nodes (messagesight.ha-pair) before going on",
					c.label, st.HighAvailability.ActiveNodes, st.HighAvailability.SyncNodes)
			}
		case errors.As(err, &apiErr):
			return runbook.Result{}, err // 401 and friends will not go away by waiting
		case errors.Is(err, ErrTLS):
			return runbook.Result{}, err
		case errors.Is(err, ErrUnreachable):
			sawDown = true
			tell("not answering (restarting)")
		case ctx.Err() != nil:
		default:
			return runbook.Result{}, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return runbook.Result{Summary: last}, fmt.Errorf("messagesight %s: not in state %d (%s) after %s; last seen: %s: look at the server's trace; if its store is large the recovery may need a longer timeout: %w",
					c.label, want, stateName, timeout, last, context.DeadlineExceeded)
			}
			return runbook.Result{Summary: last}, ctx.Err()
		case <-time.After(pause):
		}
		// Poll quickly at first (the down window may be short), then settle
		// at the interval asked for.
		pause = min(2*pause, every)
	}
}
