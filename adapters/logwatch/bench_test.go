package logwatch

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

	"github.com/drillbook/drillbook/runbook"
)

// bigBench reports whether the long benchmark sizes were asked for.
func bigBench() bool { return os.Getenv("DRILLBOOK_BENCH_BIG") == "1" }

// filler returns the i-th line of a busy SystemOut.log: the messages a
// started server writes all day, none of them CWSIP0783.
func filler(i int) string {
	switch i % 5 {
	case 0:
		return fmt.Sprintf("[11/23/26 7:%02d:%02d:%03d UTC] %08x SibMessage    I   [Bus1:wasNode01.server1-Bus1] CWSIV0777I: A connection to messaging engine wasNode01.server1-Bus1 for destination Q%d on bus Bus1 has been successfully created.\n", i/60000%60, i/1000%60, i%1000, i%4096, i%97)
	case 1:
		return fmt.Sprintf("[11/23/26 7:%02d:%02d:%03d UTC] %08x WebContainer  I   SRVE0242I: [app] [/orders] [OrderServlet]: Initialization successful. request=%d\n", i/60000%60, i/1000%60, i%1000, i%4096, i)
	case 2:
		return fmt.Sprintf("[11/23/26 7:%02d:%02d:%03d UTC] %08x SystemOut     O   order %d processed in %d ms by worker-%d\n", i/60000%60, i/1000%60, i%1000, i%4096, i, i%300, i%16)
	case 3:
		return fmt.Sprintf("[11/23/26 7:%02d:%02d:%03d UTC] %08x SibMessage    W   [Bus1:wasNode01.server1-Bus1] CWSIP0785W: A message held on messaging engine wasNode01.server1-Bus1 for transmission to a remote destination or foreign bus B%d has remained in committing state for %d seconds.\n", i/60000%60, i/1000%60, i%1000, i%4096, i%7, i%90)
	}
	return fmt.Sprintf("[11/23/26 7:%02d:%02d:%03d UTC] %08x SibMessage    I   [Bus1:wasNode01.server1-Bus1] CWSID0016I: Messaging engine wasNode01.server1-Bus1 is in state Started.\n", i/60000%60, i/1000%60, i%1000, i%4096)
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100]
}

// BenchmarkAppendToMatch measures the time from the write(2) of a line to
// its delivery as a match, over 1000 lines written 2 ms apart, and the same
// for `tail -n0 -F FILE | grep --line-buffered PATTERN` in the same run.
func BenchmarkAppendToMatch(b *testing.B) {
	const n = 1000
	for b.Loop() {
		dir := b.TempDir()
		log := filepath.Join(dir, "SystemOut.log")
		appendTo(b, log, filler(0))

		// drillbook's watcher.
		wt := arm(b, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Warn: []string{`CWSIP0781I: seq (?P<n>\d+)`}, Timeout: time.Minute}, nil)
		sent := make([]time.Time, n)
		var lat []time.Duration
		f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		go func() {
			for i := range n {
				time.Sleep(2 * time.Millisecond)
				line := sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(i))
				sent[i] = time.Now()
				f.WriteString(line)
			}
			f.WriteString(flushDone("ME1"))
		}()
		recv := make([]time.Time, n)
		wt.Wait(context.Background(), func(l runbook.LogLine) {
			if l.Kind == runbook.MatchWarn {
				i, _ := strconv.Atoi(l.Vars["n"])
				recv[i] = time.Now()
			}
		})
		f.Close()
		for i := range n {
			if !recv[i].IsZero() {
				lat = append(lat, recv[i].Sub(sent[i]))
			}
		}
		if len(lat) != n {
			b.Fatalf("watcher delivered %d of %d lines", len(lat), n)
		}
		raw := append([]time.Duration(nil), lat...)
		p50, p99 := percentiles(lat)
		if p99 > 5*time.Millisecond {
			var slow []string
			for i, d := range raw {
				if d > 5*time.Millisecond {
					slow = append(slow, fmt.Sprintf("%d:%s", i, d.Round(100*time.Microsecond)))
				}
			}
			b.Logf("slow deliveries (line:latency): %s", strings.Join(slow, " "))
		}
		b.ReportMetric(float64(p50.Microseconds()), "watch-p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "watch-p99-µs")

		// tail -F | grep --line-buffered, started and warmed up first.
		tp50, tp99 := pipelineLatency(b, dir, n)
		b.ReportMetric(float64(tp50.Microseconds()), "tailgrep-p50-µs")
		b.ReportMetric(float64(tp99.Microseconds()), "tailgrep-p99-µs")
	}
}

func pipelineLatency(b *testing.B, dir string, n int) (p50, p99 time.Duration) {
	log := filepath.Join(dir, "pipe.log")
	appendTo(b, log, filler(0))
	tail := exec.Command("tail", "-n", "0", "-F", log)
	grep := exec.Command("grep", "--line-buffered", "CWSIP0781")
	for _, c := range []*exec.Cmd{tail, grep} {
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	tail.Stdout = pw
	grep.Stdin = pr
	out, err := grep.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		b.Fatal(err)
	}
	if err := grep.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	pr.Close()
	defer func() {
		tail.Process.Kill()
		tail.Wait()
		grep.Wait()
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
	// Warm up until tail has opened the file and grep answers.
	for ready := false; !ready; {
		f.WriteString(sib("ME1", "CWSIP0781I", "warmup"))
		select {
		case <-lines:
			ready = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(lines) > 0 {
		<-lines
	}
	var lat []time.Duration
	for i := range n {
		time.Sleep(2 * time.Millisecond)
		sent := time.Now()
		f.WriteString(sib("ME1", "CWSIP0781I", "seq "+strconv.Itoa(i)))
		select {
		case l := <-lines:
			if !strings.HasSuffix(l, "seq "+strconv.Itoa(i)) {
				b.Fatalf("pipeline gave %q for seq %d", l, i)
			}
			lat = append(lat, time.Since(sent))
		case <-time.After(5 * time.Second):
			b.Fatalf("pipeline lost seq %d", i)
		}
	}
	return percentiles(lat)
}

// writeBigLog writes size bytes of filler lines and one CWSIP0783I as the
// last line.
func writeBigLog(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	for i := 0; n < size; i++ {
		k, _ := w.WriteString(filler(i))
		n += int64(k)
	}
	w.WriteString(flushDone("wasNode01.server1-Bus1"))
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkScan scans a SystemOut.log from offset 0 for one message id (the
// last line), as a resumed watch or `drillbook watch --from start` does,
// against `grep -c` on the same file in the same run. 100 MB, or 1 GB with
// DRILLBOOK_BENCH_BIG=1.
func BenchmarkScan(b *testing.B) {
	size := int64(100 << 20)
	if bigBench() {
		size = 1 << 30
	}
	log := filepath.Join(b.TempDir(), "SystemOut.log")
	writeBigLog(b, log, size)
	st, _ := os.Stat(log)
	mb := float64(st.Size()) / 1e6
	from := []runbook.LogPosition{{Path: log, Inode: inodeOf(st)}}
	scan := func(lines func(runbook.LogLine)) time.Duration {
		start := time.Now()
		wt := arm(b, New(), runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Timeout: time.Minute}, from)
		out, err := wt.wait(context.Background(), lines, lines != nil)
		if err != nil || out.Kind != runbook.MatchSuccess {
			b.Fatalf("scan: %+v, %v", out, err)
		}
		wt.Close()
		return time.Since(start)
	}
	grepC := func() time.Duration {
		start := time.Now()
		out, err := exec.Command("grep", "-c", "CWSIP0783", log).Output()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			b.Fatalf("grep -c: %q, %v", out, err)
		}
		return time.Since(start)
	}
	grepC() // both read from the page cache
	for b.Loop() {
		g := grepC()
		w := scan(nil)
		records := 0
		wc := scan(func(runbook.LogLine) { records++ })
		b.ReportMetric(mb/g.Seconds(), "grep-MB/s")
		b.ReportMetric(mb/w.Seconds(), "watch-MB/s")
		b.ReportMetric(mb/wc.Seconds(), "watch+context-MB/s")
		b.ReportMetric(g.Seconds()/w.Seconds(), "watch/grep")
	}
}

// TestHelperFollowProcess is the follower of BenchmarkFollowRSS: it
// follows the file given in its environment until the success line and
// prints its peak RSS and the number of records it saw.
func TestHelperFollowProcess(t *testing.T) {
	log := os.Getenv("LOGWATCH_FOLLOW_FILE")
	if log == "" {
		return // only runs as the child of BenchmarkFollowRSS
	}
	wt, err := New().Arm(runbook.WatchSpec{Files: []string{log}, Success: []string{"CWSIP0783"}, Warn: []string{"CWSIP0784"}, Timeout: 5 * time.Minute}, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("armed")
	records := 0
	out, err := wt.Wait(context.Background(), func(runbook.LogLine) { records++ })
	if err != nil || out.Kind != runbook.MatchSuccess {
		fmt.Println("error:", out.Kind, err)
		os.Exit(4)
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Printf("%s records=%d\n", strings.Join(strings.Fields(l)[1:], ""), records)
		}
	}
	os.Exit(0)
}

// BenchmarkFollowRSS follows a log growing at 50 MB/s for 5 s (30 s with
// DRILLBOOK_BENCH_BIG=1) in a child process, and reports the child's peak
// RSS and how long after the last write the final line was matched.
func BenchmarkFollowRSS(b *testing.B) {
	dur := 5 * time.Second
	if bigBench() {
		dur = 30 * time.Second
	}
	const rate = 50 << 20
	for b.Loop() {
		log := filepath.Join(b.TempDir(), "SystemOut.log")
		appendTo(b, log, filler(0))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFollowProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LOGWATCH_FOLLOW_FILE="+log)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "armed" {
			b.Fatalf("child: %q", sc.Text())
		}
		f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		// Batches of lines every 10 ms, each line one write as WebSphere does
		// would take more CPU than the two cores have; a batch per write(2).
		var batch strings.Builder
		i := 0
		start := time.Now()
		var written int64
		for tick := 1; time.Since(start) < dur; tick++ {
			for written < int64(rate)*int64(tick)/100 {
				batch.Reset()
				for batch.Len() < 64<<10 {
					batch.WriteString(filler(i))
					i++
				}
				f.WriteString(batch.String())
				written += int64(batch.Len())
			}
			time.Sleep(time.Until(start.Add(time.Duration(tick) * 10 * time.Millisecond)))
		}
		elapsed := time.Since(start)
		f.WriteString(flushDone("ME1"))
		last := time.Now()
		f.Close()
		done := make(chan string, 1)
		go func() {
			sc.Scan()
			done <- sc.Text()
		}()
		var res string
		select {
		case res = <-done:
		case <-time.After(2 * time.Minute):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			b.Fatal("follower did not reach the final line")
		}
		lag := time.Since(last)
		cmd.Wait()
		var kb, records int
		if _, err := fmt.Sscanf(res, "%dkB records=%d", &kb, &records); err != nil {
			b.Fatalf("child said %q", res)
		}
		if records != i+1 {
			b.Fatalf("follower saw %d records, %d were written", records, i+1)
		}
		b.ReportMetric(float64(written)/1e6/elapsed.Seconds(), "write-MB/s")
		b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(lag.Milliseconds()), "final-match-lag-ms")
	}
}
