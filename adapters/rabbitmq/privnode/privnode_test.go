package privnode

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func requireRabbit(t *testing.T) {
	t.Helper()
	if _, err := BinDirFor(""); err != nil {
		t.Fatalf("this test needs a real RabbitMQ: %v", err)
	}
}

// TestStartAttachStop starts a node, attaches to it from a second Start on
// the same directory (a restarted drillbook), stops it, and checks that
// nothing listens on its ports afterwards, epmd included.
func TestStartAttachStop(t *testing.T) {
	requireRabbit(t)
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Now()
	n, err := Start(ctx, Options{Dir: dir, Name: "pn1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	t.Logf("start: %v", time.Since(t0))

	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(n.AMQPPort)); err != nil {
		t.Fatalf("AMQP port %d not listening: %v", n.AMQPPort, err)
	} else {
		c.Close()
	}
	out, err := n.Ctl(ctx, "status", "--formatter", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), n.DataDir()) {
		t.Fatalf("status does not name data dir %s:\n%.500s", n.DataDir(), out)
	}

	again, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if again.Name != n.Name || again.AMQPPort != n.AMQPPort {
		t.Fatalf("attach gave %s:%d, want %s:%d", again.Name, again.AMQPPort, n.Name, n.AMQPPort)
	}
	if again.launcher != nil {
		t.Fatal("second Start launched a new server instead of attaching")
	}

	t1 := time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %v", time.Since(t1))
	for _, p := range []int{n.AMQPPort, n.EPMDPort, n.DistPort} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still listening after Stop", p)
		}
	}
	if err := n.Wipe(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.DataDir()); !os.IsNotExist(err) {
		t.Fatalf("data dir survived Wipe: %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "-a", n.Name).Output(); len(out) > 0 {
		t.Fatalf("processes left for %s:\n%s", n.Name, out)
	}
}

// TestMissingBinDir names the install command.
func TestMissingBinDir(t *testing.T) {
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y rabbitmq-server") {
		t.Fatalf("err = %v, want the install hint", err)
	}
}
