package runbook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// EvRunInterrupted is written by the runner when a run stops before its end
// (the operator quit, a signal, or plain mode needing a flag): the run can be
// resumed.
const EvRunInterrupted EventType = "run.interrupted"

// OutputLine is one line of a call's output.
type OutputLine struct {
	Stream Stream `json:"stream"`
	Text   string `json:"text"`
}

// Batch is a run of output lines or log lines delivered together, about 30
// times a second at most.
type Batch struct {
	// ID is the call or watch the lines belong to; a screen drops batches of
	// calls it no longer shows.
	ID int
	// Step is the instance key.
	Step string
	// Output holds call output lines.
	Output []OutputLine
	// Log holds log records seen by a watch.
	Log []LogLine
}

// Update is what a frontend receives: an event, or a batch of lines, with
// the steps as they stand after it.
type Update struct {
	// Event is set for engine events and runner events.
	Event *Event
	// Batch is set for output and log lines.
	Batch *Batch
	// Steps is the state of every step after the event; nil with a Batch.
	Steps []StepView
	// Status is the run's status after the event.
	Status RunStatus
}

// Frontend shows a run: the terminal UI and plain mode both implement it.
// Update is called from the runner's goroutine, in order, and must not
// block for long; to answer, call Runner.Send.
type Frontend interface {
	Update(u Update)
}

// RunnerConfig wires a runner.
type RunnerConfig struct {
	// Engine is the run's state machine, already replayed when resuming.
	Engine *Engine
	// Registry holds the operations calls go to.
	Registry *Registry
	// Watcher arms log watches; nil fails any wait on a log.
	Watcher Watcher
	// Journal receives every input and event.
	Journal *Journal
	// Frontend shows the run.
	Frontend Frontend
	// Secrets are redacted from errors and lines before they leave the runner.
	Secrets []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FlushEvery is the output batching interval; zero means 33ms.
	FlushEvery time.Duration
	// SyncEvery bounds how long a running step's output may wait in memory
	// before it is synced to disk, so a crash loses at most that much of
	// it; zero means DefaultSyncEvery, a negative value never syncs between
	// inputs (benchmarks compare).
	SyncEvery time.Duration
}

// DefaultSyncEvery is how often the runner syncs the output of running
// steps at the least.
const DefaultSyncEvery = 250 * time.Millisecond

// Runner carries out an engine's effects: it runs calls through adapters,
// arms log watches, sets timers, and feeds what happens back to the engine,
// journaling every input and event and syncing the journal before each
// effect. It is the only goroutine that touches the engine.
type Runner struct {
	cfg RunnerConfig
	eng *Engine

	mu      sync.Mutex
	queue   []Input
	wake    chan struct{}
	stopped bool
	stopWhy string

	outMu     sync.Mutex
	outBuf    map[int]*Batch
	outIDs    []int
	lastBatch int // lines in the largest batch of the last flush

	calls   map[int]context.CancelFunc
	watches map[int]context.CancelFunc
	timers  map[int]*time.Timer
	wg      sync.WaitGroup
	done    chan struct{}
	waiting *Event

	// callWG counts the calls in flight; finished holds the inputs of
	// calls that ended and were not handled yet (WaitCalls).
	callWG   sync.WaitGroup
	finMu    sync.Mutex
	finished map[int]Input
}

// NewRunner returns a runner for one run.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 33 * time.Millisecond
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	return &Runner{
		cfg: cfg, eng: cfg.Engine,
		wake:     make(chan struct{}, 1),
		outBuf:   map[int]*Batch{},
		calls:    map[int]context.CancelFunc{},
		watches:  map[int]context.CancelFunc{},
		timers:   map[int]*time.Timer{},
		done:     make(chan struct{}),
		finished: map[int]Input{},
	}
}

// Send queues an input from the operator (or from the runner's own
// goroutines). It never blocks.
func (r *Runner) Send(in Input) {
	r.mu.Lock()
	r.queue = append(r.queue, in)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stop ends the run where it stands, leaving it resumable. Calls in flight
// are cancelled (their process groups get SIGINT, then SIGKILL) and their
// results are not recorded, so a resume reconciles them.
func (r *Runner) Stop(reason string) {
	r.mu.Lock()
	if !r.stopped {
		r.stopped, r.stopWhy = true, reason
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Outcome is how Run ended.
type Outcome struct {
	// Status is the run's status; RunInterrupted when stopped before its end.
	Status RunStatus
	// Waiting is the operator request the run stood at when it stopped, if
	// any (a confirmation, a manual step, a decision after a failure).
	Waiting *Event
	// Reason is why the run was stopped.
	Reason string
}

// Run handles the first inputs (InStart, or InResume for a replayed engine)
// and then everything that follows, until the run ends, Stop is called or
// ctx is done. A journal that cannot be written stops the run with an error:
// drillbook never acts without a record.
func (r *Runner) Run(ctx context.Context, first ...Input) (Outcome, error) {
	defer close(r.done)
	for _, in := range first {
		r.Send(in)
	}
	tick := time.NewTicker(r.cfg.FlushEvery)
	defer tick.Stop()
	for {
		r.mu.Lock()
		queue, stopped, why := r.queue, r.stopped, r.stopWhy
		r.queue = nil
		r.mu.Unlock()
		if stopped {
			return r.interrupt(why)
		}
		for len(queue) > 0 {
			in := queue[0]
			queue = queue[1:]
			more, err := r.handle(in)
			if err != nil {
				r.abandon()
				return Outcome{Status: RunInterrupted, Reason: err.Error()}, err
			}
			queue = append(queue, more...)
			if r.eng.Status().Final() {
				r.abandon()
				r.flushOutput()
				if err := r.cfg.Journal.Sync(); err != nil {
					return Outcome{Status: r.eng.Status()}, err
				}
				return Outcome{Status: r.eng.Status()}, nil
			}
		}
		if err := r.stalled(); err != nil {
			r.abandon()
			r.flushOutput()
			_ = r.cfg.Journal.Sync()
			return Outcome{Status: RunInterrupted, Reason: err.Error()}, err
		}
		select {
		case <-r.wake:
		case <-tick.C:
			r.flushOutput()
			if r.cfg.SyncEvery > 0 {
				if err := r.cfg.Journal.SyncIfOlder(r.cfg.SyncEvery); err != nil {
					r.abandon()
					return Outcome{Status: RunInterrupted, Reason: err.Error()}, err
				}
			}
		case <-ctx.Done():
			return r.interrupt("interrupted: " + context.Cause(ctx).Error())
		}
	}
}

// StalledError is a run that stands still: nothing runs, nothing waits on
// a timer or a log, and nobody is asked anything. It is a defect in
// drillbook; the runner stops instead of waiting forever.
type StalledError struct {
	// Step is the current step's key; State its state.
	Step  string
	State StepState
}

// Error says where the run stands and what to do.
func (e *StalledError) Error() string {
	return fmt.Sprintf("the run stands still at step %s (%s): nothing is running, nothing is awaited and nothing is asked, which is a defect in drillbook; the run is resumable (`drillbook resume`), and its report shows where it stood", e.Step, e.State)
}

// stalled reports a run that would wait forever: not ended, nothing queued,
// no call, watch or timer in flight, no question open.
func (r *Runner) stalled() error {
	r.mu.Lock()
	queued := len(r.queue) > 0 || r.stopped
	r.mu.Unlock()
	if queued || r.eng.Status().Final() || r.waiting != nil || len(r.calls)+len(r.watches)+len(r.timers) > 0 {
		return nil
	}
	e := &StalledError{Step: "-"}
	for _, s := range r.eng.Steps() {
		if s.Current {
			e.Step, e.State = s.Key, s.State
		}
	}
	return e
}

// WaitCalls waits, up to timeout, until every call in flight has returned,
// and gives the inputs that report them (not handled yet), by call id. The
// crash tests call it before they kill drillbook, to model a crash that the
// work already started outlives (a wsadmin or rabbitmqctl process, a
// request the server carries out) and to know what that work did. It must
// be called from the runner's goroutine (a Frontend's Update, the journal's
// SetBeforeWrite function).
func (r *Runner) WaitCalls(timeout time.Duration) map[int]Input {
	done := make(chan struct{})
	go func() {
		r.callWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
	r.finMu.Lock()
	defer r.finMu.Unlock()
	out := make(map[int]Input, len(r.finished))
	for id, in := range r.finished {
		out[id] = in
	}
	return out
}

// interrupt stops what is in flight, then records the last lines it
// printed while stopping and the interruption itself.
func (r *Runner) interrupt(why string) (Outcome, error) {
	r.abandon()
	r.flushOutput()
	ev := &Event{Time: r.cfg.Now(), Type: EvRunInterrupted, Reason: why}
	_, err := r.cfg.Journal.Append(Record{Time: ev.Time, Ev: ev}, true)
	r.cfg.Frontend.Update(Update{Event: ev, Status: RunInterrupted, Steps: r.eng.Steps()})
	return Outcome{Status: RunInterrupted, Waiting: r.waiting, Reason: why}, err
}

// abandon cancels everything in flight and waits for it to stop.
func (r *Runner) abandon() {
	for id, cancel := range r.calls {
		cancel()
		delete(r.calls, id)
	}
	for id, cancel := range r.watches {
		cancel()
		delete(r.watches, id)
	}
	for id, t := range r.timers {
		t.Stop()
		delete(r.timers, id)
	}
	r.wg.Wait()
}

// handle journals an input, feeds it to the engine, journals and shows the
// events, syncs, then carries out the effects. Inputs the effects produce at
// once (a watch armed) are returned to be handled next, in order.
func (r *Runner) handle(in Input) ([]Input, error) {
	r.flushOutput()
	in.Time = r.cfg.Now()
	switch in.Type {
	case InCallDone, InWatchDone:
		delete(r.calls, in.ID)
		delete(r.watches, in.ID)
		// Its last lines were flushed above; the sync below closes its file.
		r.cfg.Journal.CloseOutput(in.ID)
	case InTimer:
		delete(r.timers, in.ID) // it fired
	}
	if _, err := r.cfg.Journal.Append(Record{Time: in.Time, In: &in}, false); err != nil {
		return nil, err
	}

	evs := r.eng.Handle(in)
	for i := range evs {
		r.enrich(&evs[i])
		if _, err := r.cfg.Journal.Append(Record{Time: evs[i].Time, Ev: &evs[i]}, false); err != nil {
			return nil, err
		}
	}
	if err := r.cfg.Journal.Sync(); err != nil {
		return nil, err
	}
	if in.Type == InCallDone {
		// On disk: WaitCalls no longer reports it.
		r.finMu.Lock()
		delete(r.finished, in.ID)
		r.finMu.Unlock()
	}
	var more []Input
	for i := range evs {
		ev := &evs[i]
		show := shownEvent(ev, r.cfg.Secrets)
		switch ev.Type {
		case EvConfirmRequest, EvOperatorRequest:
			r.waiting = show
		case EvConfirmAccepted, EvOperatorAck, EvReconciled, EvStepStarted, EvDeviation:
			r.waiting = nil
		}
		r.cfg.Frontend.Update(Update{Event: show, Steps: r.eng.Steps(), Status: r.eng.Status()})
		if armed := r.effect(ev); armed != nil {
			more = append(more, *armed)
		}
	}
	return more, nil
}

// enrich adds the resolved plan to events that show or run a call.
func (r *Runner) enrich(ev *Event) {
	if ev.Op == "" || ev.Args == nil {
		return
	}
	switch ev.Type {
	case EvCallStart, EvStepStarted, EvConfirmRequest:
	default:
		return
	}
	op, ok := r.cfg.Registry.Lookup(ev.Op)
	if !ok {
		return
	}
	ev.Simulated = IsSimulated(op)
	p, err := op.Plan(Call{Op: ev.Op, Args: ev.Args, Step: ev.Step, Phase: ev.Phase, Attempt: ev.Attempt, Timeout: ev.Timeout})
	if err != nil {
		p = Plan{Detail: "cannot show the plan: " + err.Error()}
	}
	p.Argv = redactList(p.Argv, r.cfg.Secrets)
	p.Request = Redact(p.Request, r.cfg.Secrets)
	p.Detail = Redact(p.Detail, r.cfg.Secrets)
	p.Object = Redact(p.Object, r.cfg.Secrets)
	ev.Plan = &p
}

// shownEvent returns the event as a frontend may show it. The journal masks
// secrets in its own copy; the engine's texts (a skipped step's "would have
// run", a reason, an error) and arguments still hold them, so the screen and
// plain output get a copy with every secret masked. The confirmation token
// stays as it is: the validator keeps secrets out of it, and it is compared.
func shownEvent(ev *Event, secrets []string) *Event {
	if len(secrets) == 0 {
		return ev
	}
	c := *ev
	for _, s := range []*string{&c.Title, &c.Text, &c.Reason, &c.Error} {
		*s = Redact(*s, secrets)
	}
	if c.Args != nil {
		c.Args = make(Args, len(ev.Args))
		for k, v := range ev.Args {
			switch x := v.(type) {
			case string:
				v = Redact(x, secrets)
			case []string:
				v = redactList(x, secrets)
			}
			c.Args[k] = v
		}
	}
	if c.Line != nil {
		l := *c.Line
		l.Text = Redact(l.Text, secrets)
		c.Line = &l
	}
	return &c
}

func redactList(l []string, secrets []string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = Redact(s, secrets)
	}
	return out
}

// effect carries out one effect event. Arming a watch returns the
// InWatchArmed input at once: the watch's start position is taken before
// anything else happens.
func (r *Runner) effect(ev *Event) *Input {
	switch ev.Type {
	case EvCallStart:
		r.startCall(ev)
	case EvCallCancel:
		if cancel, ok := r.calls[ev.ID]; ok {
			cancel()
		}
	case EvWatchArm:
		return r.arm(ev)
	case EvWatchCancel:
		if cancel, ok := r.watches[ev.ID]; ok {
			cancel()
			delete(r.watches, ev.ID)
		}
	case EvTimerSet:
		id := ev.ID
		if t, ok := r.timers[id]; ok {
			t.Stop()
		}
		r.timers[id] = time.AfterFunc(ev.After, func() {
			select {
			case <-r.done:
			default:
				r.Send(Input{Type: InTimer, ID: id})
			}
		})
	case EvTimerCancel:
		if t, ok := r.timers[ev.ID]; ok {
			t.Stop()
			delete(r.timers, ev.ID)
		}
	}
	return nil
}

func (r *Runner) startCall(ev *Event) {
	id := ev.ID
	op, ok := r.cfg.Registry.Lookup(ev.Op)
	if !ok {
		r.Send(Input{Type: InCallDone, ID: id, Error: fmt.Sprintf("no adapter offers %s on this target", ev.Op)})
		return
	}
	call := Call{Op: ev.Op, Args: ev.Args, Step: ev.Step, Phase: ev.Phase, Attempt: ev.Attempt, Timeout: ev.Timeout}
	ctx, cancel := context.WithCancel(context.Background())
	if ev.Timeout > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, ev.Timeout)
		inner := cancel
		cancel = func() { c2(); inner() }
	}
	r.calls[id] = cancel
	out := OutputFunc(func(stream Stream, text string) { r.addOutput(id, ev.Step, stream, text) })
	r.wg.Add(1)
	r.callWG.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.callWG.Done()
		defer cancel()
		res, err := op.Run(ctx, call, out)
		if errors.Is(err, ErrOutcomeUnknown) && ctx.Err() == nil {
			// Not a failure: nobody knows what it did. Stop here; resume
			// reconciles the step.
			r.Stop(fmt.Sprintf("step %s stopped: %s", ev.Step, Redact(err.Error(), r.cfg.Secrets)))
			return
		}
		in := Input{Type: InCallDone, ID: id, Result: &res}
		if err != nil {
			in.Error = Redact(err.Error(), r.cfg.Secrets)
			in.TimedOut = errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
		}
		redactResult(&res, r.cfg.Secrets)
		r.finMu.Lock()
		r.finished[id] = in
		r.finMu.Unlock()
		select {
		case <-r.done:
		default:
			r.Send(in)
		}
	}()
}

func (r *Runner) arm(ev *Event) *Input {
	id := ev.ID
	if r.cfg.Watcher == nil || ev.Watch == nil {
		return &Input{Type: InWatchArmed, ID: id, Error: "no log watcher is available"}
	}
	w, err := r.cfg.Watcher.Arm(*ev.Watch, ev.Positions)
	if errors.Is(err, ErrOutcomeUnknown) {
		// The watch's host was lost while arming: nothing is armed and the
		// step's action has not started. Not a failure of the step, whose
		// retries would all meet the same lost host: stop here; resume
		// arms the watch again once the host answers.
		r.Stop(fmt.Sprintf("step %s stopped: %s", ev.Step, Redact(err.Error(), r.cfg.Secrets)))
		return nil
	}
	if err != nil {
		return &Input{Type: InWatchArmed, ID: id, Error: err.Error()}
	}
	// The watch's own timeout ends it; the context is a safety net.
	ctx, cancel := context.WithTimeout(context.Background(), ev.Watch.Timeout+10*time.Second)
	r.watches[id] = cancel
	step := ev.Step
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		defer w.Close()
		oc, err := w.Wait(ctx, func(l LogLine) { r.addLog(id, step, l) })
		in := Input{Type: InWatchDone, ID: id, Outcome: &oc}
		switch {
		case err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
			return // cancelled: the engine no longer waits for it
		case errors.Is(err, ErrOutcomeUnknown):
			// The watch lost its host: stop here; resume arms it again
			// at the position the journal holds.
			r.Stop(fmt.Sprintf("step %s stopped: %s", step, Redact(err.Error(), r.cfg.Secrets)))
			return
		case err != nil:
			in.Error = err.Error()
		case oc.Kind == MatchNone:
			in.TimedOut = true
		}
		select {
		case <-r.done:
		default:
			r.Send(in)
		}
	}()
	return &Input{Type: InWatchArmed, ID: id, Positions: w.Positions()}
}

func (r *Runner) batch(id int, step string) *Batch {
	b, ok := r.outBuf[id]
	if !ok {
		// Size the batch like the last one: a flood of output then fills
		// one allocation instead of growing (and copying) it a dozen times.
		b = &Batch{ID: id, Step: step, Output: make([]OutputLine, 0, r.lastBatch)}
		r.outBuf[id] = b
		r.outIDs = append(r.outIDs, id)
	}
	return b
}

func (r *Runner) addOutput(id int, step string, stream Stream, text string) {
	r.outMu.Lock()
	b := r.batch(id, step)
	b.Output = append(b.Output, OutputLine{Stream: stream, Text: text})
	r.outMu.Unlock()
}

func (r *Runner) addLog(id int, step string, l LogLine) {
	r.outMu.Lock()
	b := r.batch(id, step)
	b.Log = append(b.Log, l)
	r.outMu.Unlock()
}

// flushOutput journals and shows the lines gathered since the last flush.
func (r *Runner) flushOutput() {
	r.outMu.Lock()
	bufs, ids := r.outBuf, r.outIDs
	r.outBuf, r.outIDs = map[int]*Batch{}, nil
	r.lastBatch = 0
	for _, b := range bufs {
		r.lastBatch = max(r.lastBatch, len(b.Output))
	}
	r.outMu.Unlock()
	for _, id := range ids {
		b := bufs[id]
		if len(r.cfg.Secrets) > 0 {
			for i := range b.Output {
				b.Output[i].Text = Redact(b.Output[i].Text, r.cfg.Secrets)
			}
			for i := range b.Log {
				b.Log[i].Text = Redact(b.Log[i].Text, r.cfg.Secrets)
			}
		}
		now := r.cfg.Now()
		if len(b.Output) > 0 {
			// The lines go to the call's output file; the journal records
			// where and how many.
			file, err := r.cfg.Journal.AppendOutput(id, b.Output)
			if err == nil {
				ev := &Event{Time: now, Type: EvCallOutput, ID: id, Step: b.Step, File: file, Lines: len(b.Output)}
				_, _ = r.cfg.Journal.Append(Record{Time: now, Ev: ev}, false)
			}
		}
		// The screen shows every record a watch sees; the journal keeps the
		// ones that matched a pattern (the log file itself keeps the rest),
		// so a resumed watch reading a large backlog does not copy it.
		var matched []LogLine
		for _, l := range b.Log {
			if l.Kind != MatchNone {
				matched = append(matched, l)
			}
		}
		if len(matched) > 0 {
			ev := &Event{Time: now, Type: EvWatchLine, ID: id, Step: b.Step, Log: matched}
			_, _ = r.cfg.Journal.Append(Record{Time: now, Ev: ev}, false)
		}
		r.cfg.Frontend.Update(Update{Batch: b, Status: r.eng.Status()})
	}
}

// redactResult masks secrets in everything a result carries to the screen
// and the journal.
func redactResult(res *Result, secrets []string) {
	if len(secrets) == 0 {
		return
	}
	res.Summary = Redact(res.Summary, secrets)
	res.Evidence = redactList(res.Evidence, secrets)
	res.Warnings = redactList(res.Warnings, secrets)
	for k, v := range res.Vars {
		res.Vars[k] = Redact(v, secrets)
	}
}
