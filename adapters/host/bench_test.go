package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drillbook/drillbook/adapters/file"
	"github.com/drillbook/drillbook/adapters/internal/proc"
	"github.com/drillbook/drillbook/runbook"
)

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100]
}

// BenchmarkRemoteAppendToMatch measures, over a real sshd on loopback, the
// time from the write(2) of a line on the host to its delivery here as a
// match, for 500 lines written 2 ms apart: drillbook's remote watch (the
// agent's watcher, frames over the SSH channel), and in the same run
// `ssh host 'tail -n0 -F FILE | grep --line-buffered PATTERN'`.
func BenchmarkRemoteAppendToMatch(b *testing.B) {
	const n = 500
	s, srv := remoteSet(b)
	for b.Loop() {
		dir := b.TempDir()
		log := filepath.Join(dir, "SystemOut.log")
		os.WriteFile(log, []byte(sibLine(0, "WSVR0001I", "ME1", "filler")), 0o644)
		wt, err := Watcher{Hosts: s}.Arm(runbook.WatchSpec{Host: "far", Files: []string{log}, Success: []string{"CWSIP0783"}, Warn: []string{`CWSIP0781I: seq (?P<n>\d+)`}, Timeout: time.Minute}, nil)
		if err != nil {
			b.Fatal(err)
		}
		sent, recv := make([]time.Time, n), make([]time.Time, n)
		done := make(chan struct{})
		go func() {
			defer close(done)
			wt.Wait(context.Background(), func(l runbook.LogLine) {
				if l.Kind == runbook.MatchWarn {
					i, _ := strconv.Atoi(l.Vars["n"])
					recv[i] = time.Now()
				}
			})
		}()
		time.Sleep(100 * time.Millisecond) // the wait request reaches the agent
		f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		for i := range n {
			time.Sleep(2 * time.Millisecond)
			line := sibLine(i, "CWSIP0781I", "ME1", "seq "+strconv.Itoa(i))
			sent[i] = time.Now()
			f.WriteString(line)
		}
		f.WriteString(sibLine(0, "CWSIP0783I", "ME1", "done"))
		f.Close()
		<-done
		wt.Close()
		var lat []time.Duration
		for i := range n {
			if !recv[i].IsZero() {
				lat = append(lat, recv[i].Sub(sent[i]))
			}
		}
		if len(lat) != n {
			b.Fatalf("the remote watch delivered %d of %d lines", len(lat), n)
		}
		raw := append([]time.Duration(nil), lat...)
		p50, p99 := percentiles(lat)
		if os.Getenv("DRILLBOOK_BENCH_DEBUG") != "" {
			var slow []string
			for i, d := range raw {
				if d > 20*time.Millisecond {
					slow = append(slow, fmt.Sprintf("%d:%s", i, d.Round(time.Millisecond)))
				}
			}
			b.Logf("slow: %s", strings.Join(slow, " "))
		}
		b.ReportMetric(float64(p50.Microseconds()), "watch-p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "watch-p99-µs")

		tp50, tp99 := sshTailGrep(b, srv.Host("far", testAgent(b)), dir, n)
		b.ReportMetric(float64(tp50.Microseconds()), "sshtailgrep-p50-µs")
		b.ReportMetric(float64(tp99.Microseconds()), "sshtailgrep-p99-µs")
	}
}

// sshTailGrep measures `ssh host 'tail -n0 -F LOG | grep --line-buffered
// CWSIP0781'` with the same ssh settings drillbook uses. The remote
// command is a fixed shell string: a benchmark's baseline, nothing more.
func sshTailGrep(b *testing.B, cfg *runbook.HostConfig, dir string, n int) (p50, p99 time.Duration) {
	log := filepath.Join(dir, "pipe.log")
	os.WriteFile(log, []byte(sibLine(0, "WSVR0001I", "ME1", "filler")), 0o644)
	t := &sshTransport{cfg: cfg, target: "bench", opts: SSHOptions{UserConfig: "none", SystemConfig: "none"}}
	t.configFile = filepath.Join(dir, "ssh_config")
	os.WriteFile(t.configFile, []byte(sshConfig("bench", nil, t.opts, cfg.Timeout(), t.keepAlive())), 0o600)
	argv := t.argv(nil, false)
	argv = append(argv[:len(argv)-1], "tail -n 0 -F "+log+" | grep --line-buffered CWSIP0781")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	lines := make(chan string, n+16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	defer f.Close()
	// Warm up: the pipeline is ready once a line comes through.
	for ready := false; !ready; {
		f.WriteString(sibLine(0, "CWSIP0781I", "ME1", "warm-up"))
		select {
		case <-lines:
			ready = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	for len(lines) > 0 {
		<-lines
	}
	var lat []time.Duration
	for i := range n {
		time.Sleep(2 * time.Millisecond)
		sent := time.Now()
		f.WriteString(sibLine(i, "CWSIP0781I", "ME1", "seq "+strconv.Itoa(i)))
		select {
		case l := <-lines:
			if !strings.Contains(l, "seq "+strconv.Itoa(i)) {
				b.Fatalf("tail|grep line %d: %q", i, l)
			}
			lat = append(lat, time.Since(sent))
		case <-time.After(10 * time.Second):
			b.Fatalf("tail|grep lost line %d", i)
		}
	}
	return percentiles(lat)
}

// BenchmarkRemoteRoundTrip is the cost of a trivial call over the SSH
// channel to a host's agent (a stat), once connected, against the same
// call on this machine; and of running `true` there, against proc.Run.
func BenchmarkRemoteRoundTrip(b *testing.B) {
	s, _ := remoteSet(b)
	h, _ := s.Get("far")
	ctx := context.Background()
	if _, err := h.Stat(ctx, "/"); err != nil { // connect first
		b.Fatal(err)
	}
	local := NewLocal("")
	defer local.Close()
	b.Run("stat/remote", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Stat(ctx, "/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stat/local", func(b *testing.B) {
		for b.Loop() {
			if _, err := local.Stat(ctx, "/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("run-true/remote", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Run(ctx, Command{Argv: []string{"true"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("run-true/local", func(b *testing.B) {
		for b.Loop() {
			if _, err := proc.Run(ctx, proc.Spec{Argv: []string{"true"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("connect", func(b *testing.B) {
		for b.Loop() {
			s2, _ := remoteSetOn(b, s.target.Hosts["far"])
			h2, _ := s2.Get("far")
			if _, err := h2.Stat(ctx, "/"); err != nil {
				b.Fatal(err)
			}
			s2.Close()
		}
	})
}

// remoteSetOn is a new Set (a new connection) to the same host.
func remoteSetOn(b testing.TB, cfg *runbook.HostConfig) (*Set, error) {
	return NewSet(&runbook.Target{Name: "test", Hosts: map[string]*runbook.HostConfig{"far": cfg}}, SSHOptions{Version: "test", UserConfig: "none", SystemConfig: "none"}), nil
}

// BenchmarkRemoteOutputLines measures how fast a remote command's output
// lines arrive here: 200 000 lines of `seq`.
func BenchmarkRemoteOutputLines(b *testing.B) {
	s, _ := remoteSet(b)
	h, _ := s.Get("far")
	ctx := context.Background()
	const n = 200000
	for b.Loop() {
		var got int
		start := time.Now()
		_, err := h.Run(ctx, Command{Argv: []string{"seq", strconv.Itoa(n)}, Out: runbook.OutputFunc(func(s runbook.Stream, _ string) {
			if s == runbook.Stdout {
				got++
			}
		})})
		if err != nil || got != n {
			b.Fatalf("%d of %d lines: %v", got, n, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "lines/s")
	}
}

// BenchmarkRemoteCopyAcrossHosts streams a 64 MiB tree from one host to
// another through drillbook (both behind the same sshd here), staged,
// checked and placed; and hashes it where it lies.
func BenchmarkRemoteCopyAcrossHosts(b *testing.B) {
	s, srv := remoteSet(b)
	s.target.Hosts["far2"] = srv.Host("far2", testAgent(b))
	dir := b.TempDir()
	src := filepath.Join(dir, "store")
	os.MkdirAll(src, 0o755)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for i := range 8 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("%d.dat", i)), data, 0o644)
	}
	cp := fileOpNamed(nil, s, "file.copy")
	h, _ := s.Get("far")
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(64 << 20)
		i := 0
		for b.Loop() {
			i++
			dst := filepath.Join(dir, "copy"+strconv.Itoa(i))
			_, err := cp.Run(context.Background(), runbook.Call{Op: "file.copy", Args: runbook.Args{"src": src, "dst": dst, "src_host": "far", "host": "far2"}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(dst)
		}
	})
	b.Run("manifest/remote", func(b *testing.B) {
		b.SetBytes(64 << 20)
		for b.Loop() {
			if _, err := h.Manifest(context.Background(), src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("manifest/local", func(b *testing.B) {
		b.SetBytes(64 << 20)
		for b.Loop() {
			if _, err := file.BuildManifest(context.Background(), src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
