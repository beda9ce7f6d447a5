package runbook

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ArgKind is the type of one argument of an adapter operation. The validator
// checks each `with:` value of a runbook step against it without running
// anything.
type ArgKind int

// The argument kinds an operation may declare.
const (
	ArgString   ArgKind = iota + 1 // a templated string
	ArgBool                        // true or false (a template may render either)
	ArgInt                         // a whole number
	ArgDuration                    // a Go duration such as 30s or 5m
	ArgList                        // a list of templated strings (argv, file lists)
	ArgMap                         // a map of templated strings (environment)
)

// String returns the name used for the kind in runbooks and error messages.
func (k ArgKind) String() string {
	switch k {
	case ArgString:
		return "string"
	case ArgBool:
		return "bool"
	case ArgInt:
		return "int"
	case ArgDuration:
		return "duration"
	case ArgList:
		return "list"
	case ArgMap:
		return "map"
	}
	return fmt.Sprintf("ArgKind(%d)", int(k))
}

// ArgSpec describes one argument of an operation.
type ArgSpec struct {
	// Name is the key used under `with:`.
	Name string
	// Kind is the argument's type.
	Kind ArgKind
	// Required makes a missing argument a validation error.
	Required bool
	// Enum, when not empty, lists the only values a string argument may take
	// once rendered.
	Enum []string
	// Secret marks an argument whose rendered value must never be shown or
	// journaled (the plan shows "***" in its place).
	Secret bool
	// Doc is a one-line description shown by `drillbook list --ops`.
	Doc string
}

// OpSpec is what an operation declares about itself: its name, arguments and
// whether it destroys data. It needs no target, so `validate` can use it.
type OpSpec struct {
	// Name is the operation's full name, "adapter.operation" (shell.run).
	Name string
	// Summary is a one-line description.
	Summary string
	// Args lists every argument the operation accepts; any other key under
	// `with:` is an error.
	Args []ArgSpec
	// Destructive marks an operation that deletes or overwrites data, or
	// takes something out of service. A step that uses it must be marked
	// `destructive: true` with a `confirm:` token, or validation fails.
	Destructive bool
	// Object names the argument that identifies what a destructive
	// operation acts on (a server, an engine, a node, a vhost, a cell). A
	// step that calls the operation must write its `confirm:` exactly as
	// that argument, so the token the operator types is the name of the
	// object the call acts on. Empty means the operation does not say.
	Object string
	// ReadOnly marks an operation that changes nothing in the estate: a
	// status, a check, a listing. Only read-only operations may run in a
	// runbook's preflight, and `drillbook plan` runs only those.
	ReadOnly bool
}

// Arg returns the spec of the named argument.
func (s OpSpec) Arg(name string) (ArgSpec, bool) {
	for _, a := range s.Args {
		if a.Name == name {
			return a, true
		}
	}
	return ArgSpec{}, false
}

// Args holds the resolved arguments of one call: templates rendered, values
// converted to the kind their ArgSpec declares (string, bool, int64,
// time.Duration, []string or map[string]string).
type Args map[string]any

// String returns a string argument, or "" when it is absent.
func (a Args) String(name string) string {
	s, _ := a[name].(string)
	return s
}

// Bool returns a bool argument, or false when it is absent.
func (a Args) Bool(name string) bool {
	b, _ := a[name].(bool)
	return b
}

// Int returns an int argument, or def when it is absent.
func (a Args) Int(name string, def int64) int64 {
	if n, ok := a[name].(int64); ok {
		return n
	}
	return def
}

// Duration returns a duration argument, or def when it is absent.
func (a Args) Duration(name string, def time.Duration) time.Duration {
	if d, ok := a[name].(time.Duration); ok {
		return d
	}
	return def
}

// List returns a list argument, or nil when it is absent.
func (a Args) List(name string) []string {
	l, _ := a[name].([]string)
	return l
}

// Map returns a map argument, or nil when it is absent.
func (a Args) Map(name string) map[string]string {
	m, _ := a[name].(map[string]string)
	return m
}

// Has reports whether the argument was given.
func (a Args) Has(name string) bool {
	_, ok := a[name]
	return ok
}

// Phase says which part of a step a call belongs to.
type Phase string

// The phases of a step, in the order they run.
const (
	PhasePrecheck Phase = "precheck"
	PhaseAction   Phase = "action"
	PhaseVerify   Phase = "verify"
)

// Call is one invocation of an operation, as the engine asks for it.
type Call struct {
	// Op is the operation's full name.
	Op string
	// Args are the resolved arguments.
	Args Args
	// Step is the step instance's key ("per-item[2]").
	Step string
	// Phase is the part of the step the call belongs to.
	Phase Phase
	// Attempt counts from 1 and grows with each retry.
	Attempt int
	// Timeout is the step's timeout, zero for none; the runner also puts it
	// on the context.
	Timeout time.Duration
}

// Plan is what an operation will do, resolved, for display before it runs
// and for the journal. It must never contain a secret.
type Plan struct {
	// Host is where the call takes effect ("localhost", "dmgr01:8879 (SOAP)").
	Host string
	// Argv is the command line when the call runs a process, else nil.
	Argv []string
	// Request is the HTTP request line and body when the call is a request
	// ("POST https://ms1:9089/ima/v1/service/restart {...}"), else "".
	Request string
	// Detail is any other line the operator should see before it runs
	// (the files a copy touches, the script wsadmin will be given).
	Detail string
	// Object says in words what the call acts on and where ("store
	// /var/ms/ms2/store of server ms2 on host ms2host"); shown beside the
	// confirmation a destructive step asks for. Empty when the operation
	// does not say.
	Object string
}

// OnThisMachine reports whether the call takes effect on the machine
// drillbook runs on: Host is empty, "localhost" or LocalHost. The screen
// and the report name the host of every other call.
func (p Plan) OnThisMachine() bool {
	return p.Host == "" || p.Host == "localhost" || p.Host == LocalHost
}

// Summary renders the plan as one human-readable line.
func (p Plan) Summary() string {
	var b strings.Builder
	switch {
	case len(p.Argv) > 0:
		b.WriteString(QuoteArgv(p.Argv))
	case p.Request != "":
		b.WriteString(p.Request)
	default:
		b.WriteString(p.Detail)
	}
	if p.Host != "" {
		b.WriteString("  @ ")
		b.WriteString(p.Host)
	}
	return b.String()
}

// QuoteArgv renders an argv list the way a POSIX shell would need it typed,
// for display only: drillbook never hands this string to a shell.
func QuoteArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Stream names the source of an output line.
type Stream string

// The streams an operation may write to.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
	Info   Stream = "info" // progress written by drillbook itself
)

// Output receives the lines an operation produces while it runs. Calls may
// come from several goroutines; implementations must be safe for that.
type Output interface {
	Line(stream Stream, text string)
}

// OutputFunc adapts a function to the Output interface.
type OutputFunc func(stream Stream, text string)

// Line calls f(stream, text).
func (f OutputFunc) Line(stream Stream, text string) { f(stream, text) }

// Result is the structured outcome of a finished call.
type Result struct {
	// ExitCode is the process exit code, or -1 when the call ran no process.
	ExitCode int
	// Summary is one line saying what happened ("engine ME1 is Started").
	Summary string
	// Vars are values later steps may use in templates as
	// {{ .out.STEP.NAME }} (the server that hosts an engine, a file name).
	Vars map[string]string
	// Warnings are shown and journaled; they do not fail the step.
	Warnings []string
	// Evidence is the log line or response that proves the outcome, shown in
	// the report ("CWSIP0783I: Messaging engine: ME1 started, ...").
	Evidence []string
	// Session names the long-lived session the call's requests ran in
	// ("wsadmin session 2 on dmgr01:8879 (SOAP) (shared)"), shown in the
	// report; "" when the call used none.
	Session string `json:",omitempty"`
	// SessionStarts counts the session processes the call started (one
	// JVM each for wsadmin); zero when it reused a running one or used
	// none.
	SessionStarts int `json:",omitempty"`
}

// ErrOutcomeUnknown marks an error after which what a call or a watch did
// is not known: the connection to the host it ran on dropped while it ran.
// The runner then stops the run where it stands, as if drillbook itself
// had been interrupted, and leaves the step to be reconciled on resume
// instead of counting it as failed (a failure would let on_failure run it
// again, or move on).
var ErrOutcomeUnknown = errors.New("its outcome is not known")

// ErrUnreachable marks an error from a host that could not be reached at
// all (nothing accepts connections, no answer, no route): nothing was done
// there. A call that meets it fails as any call does; a log watch that
// meets it while being armed stops the run resumable, since its step's
// action has not started and every retry would meet the same host.
var ErrUnreachable = errors.New("the host cannot be reached")

// Operation is one thing an adapter can do. Implementations live in
// adapters/ and are handed to the runner in a Registry; runbook/ never
// imports them.
type Operation interface {
	// Spec describes the operation; it must work on a zero-configured value.
	Spec() OpSpec
	// Plan resolves what Run would do, without doing it.
	Plan(call Call) (Plan, error)
	// Run carries the call out, streaming lines to out. A non-nil error means
	// the step failed; wrap context.DeadlineExceeded when the call timed out.
	// Run must return promptly once ctx is done.
	Run(ctx context.Context, call Call, out Output) (Result, error)
}

// Simulator is implemented by an operation that acts on a simulated estate
// only (the training cell, the MessageSight emulator, the private RabbitMQ
// node). An operation that does not implement it, or answers false, touches
// real systems: a shell command, a file operation, a real server. It is an
// interface of its own, not a field of OpSpec, so that Spec keeps working on
// a zero-configured value and one operation can be bound to a real or a
// simulated estate.
type Simulator interface {
	// Simulated reports whether the operation acts on a simulated estate.
	Simulated() bool
}

// IsSimulated reports whether op acts on a simulated estate only.
func IsSimulated(op Operation) bool {
	s, ok := op.(Simulator)
	return ok && s.Simulated()
}

// Registry holds the operations available to a run or to the validator.
type Registry struct {
	ops map[string]Operation
}

// NewRegistry returns a registry of the given operations. A later operation
// with the same name replaces an earlier one, so a simulated target can
// override a real adapter's operation.
func NewRegistry(ops ...Operation) *Registry {
	r := &Registry{ops: make(map[string]Operation, len(ops))}
	for _, op := range ops {
		r.ops[op.Spec().Name] = op
	}
	return r
}

// Add registers more operations.
func (r *Registry) Add(ops ...Operation) {
	for _, op := range ops {
		r.ops[op.Spec().Name] = op
	}
}

// Lookup returns the operation with the given full name.
func (r *Registry) Lookup(name string) (Operation, bool) {
	op, ok := r.ops[name]
	return op, ok
}

// Simulated reports whether the named operation acts on a simulated estate
// only; an unknown name is not simulated.
func (r *Registry) Simulated(name string) bool {
	op, ok := r.ops[name]
	return ok && IsSimulated(op)
}

// Specs returns every operation's spec, sorted by name.
func (r *Registry) Specs() []OpSpec {
	specs := make([]OpSpec, 0, len(r.ops))
	for _, op := range r.ops {
		specs = append(specs, op.Spec())
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs
}

// WatchSpec is a log watch as a `wait:` block asks for it, templates
// rendered.
type WatchSpec struct {
	// Host names the host the files are on (a name under the target's
	// hosts:); "" is the machine drillbook runs on.
	Host string `json:",omitempty"`
	// Files are the log files to follow, all at once (several servers).
	Files []string
	// Success patterns end the watch successfully on the first match.
	Success []string
	// Failure patterns end the watch with a failure on the first match.
	Failure []string
	// Warn patterns are shown and journaled; the watch goes on.
	Warn []string
	// Engine, when set, scopes matches to records of that messaging engine
	// (the ME in a WebSphere record's [BUS:ME] insert, or the engine name in
	// its text).
	Engine string
	// Timeout ends the watch with a timeout; it is always set.
	Timeout time.Duration
}

// LogPosition is where a watch stands in one file: enough to resume it
// after drillbook itself was restarted, through rotations.
type LogPosition struct {
	Path   string `json:"path"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// MatchKind classifies a log line against a watch's patterns.
type MatchKind string

// The kinds of match a log line can be.
const (
	MatchNone    MatchKind = ""
	MatchSuccess MatchKind = "success"
	MatchFailure MatchKind = "failure"
	MatchWarn    MatchKind = "warn"
	// MatchNote is drillbook's own word about the watch, not a record of
	// the log: a file that does not exist (yet), a file truncated while
	// the watch was stopped. Shown and journaled like a warning.
	MatchNote MatchKind = "note"
)

// LogLine is one record seen by a watch, for the log pane and the journal.
type LogLine struct {
	// File is the path the record was read from (a rotated file's own name).
	File string
	// Text is the record as written, continuation lines joined by "\n".
	Text string
	// Kind is the pattern class it matched, MatchNone for context lines.
	Kind MatchKind
	// Pattern is the pattern that matched, "" for MatchNone.
	Pattern string
	// Vars are the pattern's named capture groups.
	Vars map[string]string
	// Position is where the watch stands after this record.
	Position LogPosition
}

// WatchOutcome is how a watch ended.
type WatchOutcome struct {
	// Kind is MatchSuccess or MatchFailure; MatchNone means it timed out.
	Kind MatchKind
	// Line is the record that ended the watch, nil on timeout.
	Line *LogLine
	// Positions are where the watch stood in each file when it ended.
	Positions []LogPosition
}

// Watcher arms log watches. The log watcher in adapters/ implements it.
type Watcher interface {
	// Arm records the start position of every file synchronously, before
	// returning, so that a line written after Arm returns is seen and a line
	// written before it is not. When from is not nil the watch starts at those
	// positions instead (resume) and reads through any rotation since.
	Arm(spec WatchSpec, from []LogPosition) (Watch, error)
}

// Watch is an armed log watch.
type Watch interface {
	// Positions returns where the watch started in each file.
	Positions() []LogPosition
	// Wait follows the files until a success or failure match, the spec's
	// timeout, or ctx is done. Every record is passed to lines (context,
	// warnings and the final match included) from the calling goroutine.
	Wait(ctx context.Context, lines func(LogLine)) (WatchOutcome, error)
	// Close releases the files and watches; it is safe to call twice.
	Close() error
}
