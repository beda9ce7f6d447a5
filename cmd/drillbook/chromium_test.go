package main

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/report-html.png from the HTML report test")

// chromiumPath finds Debian's chromium. The test fails, never skips, when
// it is missing: `make test` installs it, and an HTML report never drawn in
// a real browser is not tested.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatalf("chromium is not installed: the HTML report test renders the report in a real browser; install it (apt-get install chromium, or `make deps`)")
	return ""
}

// consoleLine is how chromium logs a page's console message with
// --enable-logging=stderr: [pid:tid:time:INFO:CONSOLE:1] "text", source: ...
var consoleLine = regexp.MustCompile(`:CONSOLE[:(]`)

// screenshot renders a page with headless chromium at a fixed size and
// returns the picture and the page's console messages. Chromium runs as
// root here, so without its sandbox, with a profile of its own, no network
// services and a deadline; its process group is killed when it overruns.
func screenshot(tb testing.TB, page string, w, h int) (image.Image, []string) {
	tb.Helper()
	dir := tb.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath(tb), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
		"--force-device-scale-factor=1", "--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--screenshot="+out, "file://"+page)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	var console []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if consoleLine.MatchString(l) {
			console = append(console, l)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		tb.Fatalf("chromium wrote no screenshot: %v\n%s", err, stderr.String())
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		tb.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if *updateScreenshot && strings.HasSuffix(page, "was-drill.html") {
		b, _ := os.ReadFile(out)
		if err := os.WriteFile("../../docs/report-html.png", b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return img, console
}

// TestHTMLReportInChromium renders the HTML report of a WebSphere drill on
// the training target (the journal of a real run, kept in
// runbook/testdata/reports) in headless Chromium at 1200x2200 and checks
// what a drill lead would see: a page that is not blank, with the
// timeline's work bars and the green mark of the log line that proved
// success drawn, and no console error (which its Content Security Policy
// would raise for anything loaded from elsewhere). A control page with a
// console error proves the console check sees one.
func TestHTMLReportInChromium(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	runID := "20261203-100845-was-sib-restore-me-000001"
	journal, err := os.ReadFile("../../runbook/testdata/reports/was-flush-fails.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "runs", runID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "runs", runID, "journal.jsonl"), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "was-drill.html")
	var stderr bytes.Buffer
	s := streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &stderr, Getenv: func(k string) string {
		if k == "DRILLBOOK_STATE_DIR" {
			return state
		}
		return ""
	}, Terminal: func() bool { return false }}
	if code := Main([]string{"report", runID, "--format", "html", "-o", page}, s); code != 0 {
		t.Fatalf("drillbook report --format html: exit %d: %s", code, stderr.String())
	}
	html, _ := os.ReadFile(page)
	for _, bad := range []string{"<script", "<link", "@import", "url(http", "src=\"http"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("the report is not self-contained: it has %q", bad)
		}
	}

	img, console := screenshot(t, page, 1200, 2200)
	if len(console) > 0 {
		t.Errorf("the page logged to the console:\n%s", strings.Join(console, "\n"))
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 2200 {
		t.Errorf("screenshot %v, want 1200x2200", b)
	}
	// Count what a reader sees: ink on the page, the timeline's work
	// blue (#2c6cb0), and the success green (#1e7b3c) of the badge and the
	// log line's mark.
	var ink, blue, green int
	colors := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
			if len(colors) < 1000 {
				colors[c] = true
			}
			if c.R < 200 || c.G < 200 || c.B < 200 {
				ink++
			}
			if near(c, color.RGBA{0x2c, 0x6c, 0xb0, 255}) {
				blue++
			}
			if near(c, color.RGBA{0x1e, 0x7b, 0x3c, 255}) {
				green++
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("ink %.1f%% of the page, %d colours, %d work-blue and %d success-green pixels", 100*float64(ink)/float64(total), len(colors), blue, green)
	if ink < total/50 || len(colors) < 20 {
		t.Errorf("the page looks blank: %d of %d pixels inked, %d colours", ink, total, len(colors))
	}
	if blue < 2000 {
		t.Errorf("only %d pixels of the timeline's work colour: the timeline was not drawn", blue)
	}
	if green < 200 {
		t.Errorf("only %d pixels of the success colour: the status badge and the CWSIP0783 mark were not drawn", green)
	}

	// The console check must see an error when there is one.
	control := filepath.Join(dir, "control.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><html><body><p>control</p><script>console.error("control-error")</script></body></html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, console := screenshot(t, control, 400, 300); len(console) == 0 || !strings.Contains(strings.Join(console, "\n"), "control-error") {
		t.Errorf("the console check did not see the control page's console error: %q", console)
	}
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R)+d(a.G, b.G)+d(a.B, b.B) <= 12
}
