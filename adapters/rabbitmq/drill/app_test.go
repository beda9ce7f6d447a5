package drill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/drillbook/drillbook/adapters/rabbitmq"
)

// The application of the drill: a real AMQP client the drill did not put
// into drillbook, run as its own process (this test binary, started with
// "drill-app"), connecting as the training application's user
// (rabbitmq.AppUser) to the default vhost "/" and to
// rabbitmq.TrainingVhost. It has a consumer and a producer, each started
// and stopped the way supervisorctl starts and stops an Oro consumer:
// "drill-appctl start|stop consumers|producers DIR" (the target's
// consumers and producers commands) creates or removes DIR/KIND.on, and a
// stop returns once the worker has disconnected. The application keeps
// trying to connect while its worker is on, whatever the broker does
// (stopped, wiped, in maintenance, refusing its user).
//
// Everything it does goes to DIR/app.log, one line per event, in order:
// "P BODY" once the broker confirmed a published message, "C BODY" once a
// delivered message was acked, "PSTOP"/"CSTOP" when a worker has stopped,
// "PSTART"/"CSTART" when it has connected. The drill reads the log to know
// exactly what the queues held when a backup was taken.

// appQueues are the application's queues, one per vhost, declared by the
// application itself.
func appQueues() map[string]string {
	return map[string]string{"/": "app.jobs", rabbitmq.TrainingVhost: "app jobs/ü 2%"}
}

// appMain is the application process.
func appMain(dir, amqpURL string) int {
	lf, err := os.OpenFile(filepath.Join(dir, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	a := &app{dir: dir, cfg: rabbitmq.Config{AMQPURL: amqpURL}, log: lf}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	for _, kind := range []string{"consumers", "producers"} {
		wg.Add(1)
		go func() { defer wg.Done(); a.worker(ctx, kind) }()
	}
	wg.Wait()
	return 0
}

type app struct {
	dir string
	cfg rabbitmq.Config
	seq atomic.Int64

	mu  sync.Mutex
	log *os.File
}

func (a *app) logf(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.log, format+"\n", args...)
}

func (a *app) on(kind string) bool {
	_, err := os.Stat(filepath.Join(a.dir, kind+".on"))
	return err == nil
}

func (a *app) setState(kind, state string) {
	os.WriteFile(filepath.Join(a.dir, kind+".state.tmp"), []byte(state), 0o644)
	os.Rename(filepath.Join(a.dir, kind+".state.tmp"), filepath.Join(a.dir, kind+".state"))
}

// worker runs the consumer or producer while KIND.on exists, reconnecting
// after every failure, and reports its state in KIND.state.
func (a *app) worker(ctx context.Context, kind string) {
	a.setState(kind, "stopped")
	tag := strings.ToUpper(kind[:1])
	for ctx.Err() == nil {
		if !a.on(kind) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			for wctx.Err() == nil && a.on(kind) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
		}()
		var err error
		if kind == "consumers" {
			err = a.consume(wctx, kind, tag)
		} else {
			err = a.produce(wctx, kind, tag)
		}
		cancel()
		if err != nil {
			a.logf("%sDROP %v", tag, err)
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// connect opens one connection per vhost and declares the application's
// queue in each.
func (a *app) connect(ctx context.Context) (map[string]*amqp.Connection, map[string]*amqp.Channel, error) {
	conns := map[string]*amqp.Connection{}
	chans := map[string]*amqp.Channel{}
	for vhost, q := range appQueues() {
		c, err := rabbitmq.AppConn(ctx, a.cfg, vhost)
		if err != nil {
			closeAll(conns)
			return nil, nil, err
		}
		conns[vhost] = c
		ch, err := c.Channel()
		if err == nil {
			_, err = ch.QueueDeclare(q, true, false, false, false, nil)
		}
		if err != nil {
			closeAll(conns)
			return nil, nil, err
		}
		chans[vhost] = ch
	}
	return conns, chans, nil
}

func closeAll(conns map[string]*amqp.Connection) {
	for _, c := range conns {
		c.Close()
	}
}

// consume acks and logs every delivery until ctx ends; messages delivered
// but not acked then are requeued by the broker (never logged).
func (a *app) consume(ctx context.Context, kind, tag string) error {
	conns, chans, err := a.connect(ctx)
	if err != nil {
		return err
	}
	deliveries := make(chan amqp.Delivery)
	var wg sync.WaitGroup
	for vhost, ch := range chans {
		if err := ch.Qos(10, 0, false); err != nil {
			closeAll(conns)
			return err
		}
		ds, err := ch.ConsumeWithContext(ctx, appQueues()[vhost], "drill-app", false, false, false, false, nil)
		if err != nil {
			closeAll(conns)
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read ds to its end, even after ctx ends: the client closes
			// a connection only once its consumers' deliveries are taken.
			// One dropped unacked is requeued by the broker.
			for d := range ds {
				select {
				case deliveries <- d:
				case <-ctx.Done():
				}
			}
		}()
	}
	a.setState(kind, "running")
	a.logf("%sSTART", tag)
	// One notification channel per connection: the client closes each
	// when its connection ends.
	dropped := make(chan *amqp.Error, len(conns))
	for _, c := range conns {
		nc := c.NotifyClose(make(chan *amqp.Error, 1))
		go func() {
			if e, ok := <-nc; ok {
				dropped <- e
			}
		}()
	}
	for {
		select {
		case d := <-deliveries:
			if err := d.Ack(false); err != nil {
				closeAll(conns)
				a.setState(kind, "stopped")
				return err
			}
			a.logf("C %s", d.Body)
		case e := <-dropped:
			closeAll(conns)
			a.setState(kind, "stopped")
			return fmt.Errorf("connection closed: %v", e)
		case <-ctx.Done():
			closeAll(conns)
			wg.Wait()
			a.logf("%sSTOP", tag)
			a.setState(kind, "stopped")
			return nil
		}
	}
}

// produce publishes a persistent message to each queue in turn every 20
// ms, each confirmed before it is logged, until ctx ends.
func (a *app) produce(ctx context.Context, kind, tag string) error {
	conns, chans, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	for _, ch := range chans {
		if err := ch.Confirm(false); err != nil {
			return err
		}
	}
	a.setState(kind, "running")
	a.logf("%sSTART", tag)
	for {
		for vhost, q := range appQueues() {
			if ctx.Err() != nil {
				a.logf("%sSTOP", tag)
				a.setState(kind, "stopped")
				return nil
			}
			body := fmt.Sprintf("app|%s|%d", vhost, a.seq.Add(1))
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			dc, err := chans[vhost].PublishWithDeferredConfirmWithContext(cctx, "", q, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
			ok := false
			if err == nil {
				ok, err = dc.WaitContext(cctx)
			}
			cancel()
			if err != nil || !ok {
				a.logf("PFAIL %s", body)
				a.setState(kind, "stopped")
				return fmt.Errorf("publish %s: confirmed %v: %v", body, ok, err)
			}
			a.logf("P %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appctlMain is the target's consumers and producers command: start
// returns once the worker is told to run, stop once it has disconnected.
func appctlMain(what, kind, dir string) int {
	on := filepath.Join(dir, kind+".on")
	switch what {
	case "start":
		if err := os.WriteFile(on, nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: started\n", kind)
		return 0
	case "stop":
		if err := os.Remove(on); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(filepath.Join(dir, kind+".state")); string(b) == "stopped" {
				fmt.Printf("%s: stopped\n", kind)
				return 0
			}
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "%s: still running after 30s\n", kind)
		return 1
	}
	fmt.Fprintf(os.Stderr, "usage: drill-appctl start|stop consumers|producers DIR\n")
	return 2
}

// appLog is the application's log as the drill reads it.
type appLog []string

func readAppLog(dir string) appLog {
	f, err := os.Open(filepath.Join(dir, "app.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var l appLog
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l = append(l, sc.Text())
	}
	return l
}

// last returns the index of the last line equal to mark, -1 when none.
func (l appLog) last(mark string) int {
	for i := len(l) - 1; i >= 0; i-- {
		if l[i] == mark {
			return i
		}
	}
	return -1
}

// bodies returns the bodies of the lines with the prefix ("P ", "C ")
// among lines[from:to].
func (l appLog) bodies(prefix string, from, to int) []string {
	var out []string
	for _, s := range l[max(from, 0):min(to, len(l))] {
		if b, ok := strings.CutPrefix(s, prefix); ok {
			out = append(out, b)
		}
	}
	return out
}
