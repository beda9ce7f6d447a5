package host

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"time"

	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/adapters/logwatch"
	"github.com/drillbook/drillbook/runbook"
)

// ProtocolVersion is the version of the request/response protocol the
// client and `drillbook agent` speak over the SSH channel. A client refuses
// an agent that greets with another version, naming the binary to install.
//
// The protocol, version 1. The agent first writes one greeting line,
//
//	DRILLBOOK-AGENT protocol=1 version=VERSION pid=PID
//
// (the client skips anything a login shell printed before it), then both
// sides exchange frames until the channel closes:
//
//	uint32 header length | uint32 payload length | header (JSON) | payload
//
// The header's "t" says what the frame is:
//
//	call    client -> agent   id, method, body: start a call
//	cancel  client -> agent   id: end the call (its process group, its watch wait)
//	res     agent -> client   id, body or error: the call is over
//	out     agent -> client   id, stream, text: one output line of a process
//	log     agent -> client   id, body: one record a watch saw
//	prog    agent -> client   id, body: copy progress
//	data    both ways         id, payload: a piece of a file tree in transit
//	eof     both ways         id: the tree in transit is complete
//	credit  both ways         id, n: the receiver consumed n more bytes
//
// Calls are multiplexed by id. out, log, prog and data frames count against
// a window per call (streamWindow bytes): a sender waits for credit before
// it sends more, so a slow consumer of one call (a copy to a far host)
// never stops the frames of another (a log watch) on the same connection.
const ProtocolVersion = 1

// greetingPrefix starts the agent's first line.
const greetingPrefix = "DRILLBOOK-AGENT "

// Frame size limits: a peer that sends more is broken or hostile.
const (
	maxHeader  = 16 << 20
	maxPayload = 1 << 20
	// dataChunk is how much of a tree goes into one data frame.
	dataChunk = 256 << 10
	// streamWindow is how many bytes of streamed frames of one call may be
	// in flight, unconsumed, at once.
	streamWindow = 4 << 20
)

// Frame types.
const (
	tCall   = "call"
	tCancel = "cancel"
	tRes    = "res"
	tOut    = "out"
	tLog    = "log"
	tProg   = "prog"
	tData   = "data"
	tEOF    = "eof"
	tCredit = "credit"
)

// frame is one message of the protocol.
type frame struct {
	T  string          `json:"t"`
	ID uint64          `json:"id,omitempty"`
	M  string          `json:"m,omitempty"`
	B  json.RawMessage `json:"b,omitempty"`
	E  *wireError      `json:"e,omitempty"`
	S  string          `json:"s,omitempty"`
	X  string          `json:"x,omitempty"`
	N  int64           `json:"n,omitempty"`
	// TimeoutMS is, on a call, how long the caller will wait for it, so
	// the agent ends it on time even if the cancel never arrives.
	TimeoutMS int64 `json:"to,omitempty"`

	payload []byte
}

// size is what the frame counts against a call's window.
func (f *frame) size() int64 {
	return int64(len(f.B) + len(f.X) + len(f.payload) + 16)
}

func writeFrame(w *bufio.Writer, f *frame) error {
	h, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.T, err)
	}
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], uint32(len(h)))
	binary.BigEndian.PutUint32(n[4:], uint32(len(f.payload)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err = w.Write(f.payload)
	return err
}

func readFrame(r *bufio.Reader) (*frame, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	hl, pl := binary.BigEndian.Uint32(n[:4]), binary.BigEndian.Uint32(n[4:])
	if hl > maxHeader || pl > maxPayload {
		return nil, fmt.Errorf("protocol error: a frame of %d+%d bytes is over the limit (%d+%d)", hl, pl, maxHeader, maxPayload)
	}
	buf := make([]byte, int(hl)+int(pl))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	f := &frame{}
	if err := json.Unmarshal(buf[:hl], f); err != nil {
		return nil, fmt.Errorf("protocol error: a frame header is not JSON: %w", err)
	}
	if pl > 0 {
		f.payload = buf[hl:]
	}
	return f, nil
}

// Error kinds carried over the wire, so that errors.Is and errors.As work
// on a remote error as on a local one.
const (
	kindNotExist   = "notexist"
	kindExist      = "exist"
	kindPermission = "permission"
	kindCanceled   = "canceled"
	kindDeadline   = "deadline"
	kindExit       = "exit"
	kindNotFound   = "notfound"
	kindClosed     = "closed"
)

// wireError is an error as it crosses the channel.
type wireError struct {
	Kind string `json:"kind,omitempty"`
	Msg  string `json:"msg"`
	// Exit describes a process that failed, for kindExit.
	Exit *proc.ExitError `json:"exit,omitempty"`
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error()}
	var ee *proc.ExitError
	switch {
	case errors.As(err, &ee):
		w.Kind, w.Exit = kindExit, ee
	case errors.Is(err, context.DeadlineExceeded):
		w.Kind = kindDeadline
	case errors.Is(err, context.Canceled):
		w.Kind = kindCanceled
	case errors.Is(err, exec.ErrNotFound):
		w.Kind = kindNotFound
	case errors.Is(err, logwatch.ErrClosed):
		w.Kind = kindClosed
	case errors.Is(err, fs.ErrNotExist):
		w.Kind = kindNotExist
	case errors.Is(err, fs.ErrExist):
		w.Kind = kindExist
	case errors.Is(err, fs.ErrPermission):
		w.Kind = kindPermission
	}
	return w
}

// RemoteError is an error that happened on a remote host, or on the way to
// it. It names the host; errors.Is and errors.As see the cause it had
// there (fs.ErrNotExist, context.DeadlineExceeded, a *proc.ExitError).
type RemoteError struct {
	// Host is the host's name in targets.yaml.
	Host string
	// Msg is the error as the host reported it.
	Msg string
	// Cause is what errors.Is and errors.As see; nil when the error has no
	// kind drillbook tells apart.
	Cause error
}

// Error names the host and quotes its error.
func (e *RemoteError) Error() string { return "host " + e.Host + ": " + e.Msg }

// Unwrap returns the cause.
func (e *RemoteError) Unwrap() error { return e.Cause }

// decodeError rebuilds a remote error. When the caller's own context is
// done, a cancellation is reported as that context's error, so a timeout
// reads as context.DeadlineExceeded as it does locally.
func decodeError(ctx context.Context, hostName string, w *wireError) error {
	if w == nil {
		return nil
	}
	e := &RemoteError{Host: hostName, Msg: w.Msg}
	switch w.Kind {
	case kindExit:
		if w.Exit != nil {
			e.Cause = w.Exit
		}
	case kindDeadline:
		e.Cause = context.DeadlineExceeded
	case kindCanceled:
		e.Cause = context.Canceled
		if err := ctx.Err(); err != nil {
			e.Cause = err
		}
	case kindNotFound:
		e.Cause = exec.ErrNotFound
	case kindClosed:
		e.Cause = logwatch.ErrClosed
	case kindNotExist:
		e.Cause = fs.ErrNotExist
	case kindExist:
		e.Cause = fs.ErrExist
	case kindPermission:
		e.Cause = fs.ErrPermission
	}
	return e
}

// wireValue is one resolved argument of an operation, with its kind, so
// that an int stays an int64 and a duration a time.Duration on the far
// side.
type wireValue struct {
	K string            `json:"k"`
	S string            `json:"s,omitempty"`
	B bool              `json:"b,omitempty"`
	I int64             `json:"i,omitempty"`
	L []string          `json:"l,omitempty"`
	M map[string]string `json:"m,omitempty"`
}

func encodeArgs(a runbook.Args) (map[string]wireValue, error) {
	out := make(map[string]wireValue, len(a))
	for k, v := range a {
		switch x := v.(type) {
		case string:
			out[k] = wireValue{K: "s", S: x}
		case bool:
			out[k] = wireValue{K: "b", B: x}
		case int64:
			out[k] = wireValue{K: "i", I: x}
		case time.Duration:
			out[k] = wireValue{K: "d", I: int64(x)}
		case []string:
			out[k] = wireValue{K: "l", L: x}
		case map[string]string:
			out[k] = wireValue{K: "m", M: x}
		default:
			return nil, fmt.Errorf("argument %s has a value of type %T that cannot be sent to another host", k, v)
		}
	}
	return out, nil
}

func decodeArgs(in map[string]wireValue) (runbook.Args, error) {
	a := make(runbook.Args, len(in))
	for k, v := range in {
		switch v.K {
		case "s":
			a[k] = v.S
		case "b":
			a[k] = v.B
		case "i":
			a[k] = v.I
		case "d":
			a[k] = time.Duration(v.I)
		case "l":
			a[k] = v.L
		case "m":
			a[k] = v.M
		default:
			return nil, fmt.Errorf("argument %s has unknown kind %q", k, v.K)
		}
	}
	return a, nil
}

// parseGreeting reads the agent's greeting line: its protocol, version and
// process id.
func parseGreeting(line string) (protocol int, version string, pid int, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(greetingPrefix))
	if !found {
		return 0, "", 0, false
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "protocol":
			fmt.Sscanf(v, "%d", &protocol)
		case "version":
			version = v
		case "pid":
			fmt.Sscanf(v, "%d", &pid)
		}
	}
	return protocol, version, pid, protocol > 0
}
