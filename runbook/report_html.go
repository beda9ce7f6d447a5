package runbook

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

// The timeline's geometry, in SVG user units (the picture scales to the
// page's width).
const (
	tlWidth  = 1000
	tlLabel  = 300 // the step names' column
	tlRight  = 16
	tlRow    = 24
	tlBar    = 14
	tlTop    = 8
	tlAxis   = 30
	tlMarker = 5
)

// htmlView is what the page template reads: the report, and the timeline
// laid out.
type htmlView struct {
	R        *Report
	Heading  string
	Where    string
	Status   string // ok, bad or open: the status badge's colour
	Params   [][2]string
	Timeline timeline
	Steps    []htmlStep
	Build    string
}

type htmlStep struct {
	N       int
	S       ReportStep
	Mark    string
	Remarks []ReportNote
}

type timeline struct {
	Width, Height int
	PlotX, PlotW  int
	Rows          []timelineRow
	Ticks         []timelineTick
	Markers       []timelineMarker
	Legend        []timelineMarker // the numbered markers, listed under the picture
	AxisY         int
}

type timelineRow struct {
	Y, TextY int
	Label    string
	Title    string
	Class    string
	Bars     []timelineBar
	Alt      bool
}

type timelineBar struct {
	X, W, Y, H int
	Class      string
	Title      string
}

type timelineTick struct {
	X     int
	Label string
}

type timelineMarker struct {
	ID    string
	X, Y  int
	Class string // retry, deviation, log-success, log-failure, log-warn
	Title string
	Text  string // the legend's text
	Time  time.Time
	Shape string // the SVG path of the marker
	// LabelDY places the label above the marker, or below it when the
	// label of a marker just before it on the row stands above.
	LabelDY int
}

// WriteHTML writes the report as one self-contained HTML page: no script,
// no font, no image or style sheet from elsewhere (its Content Security
// Policy forbids them), readable on screen and printed. A timeline drawn as
// SVG shows a bar per step instance, its work and operator time told
// apart, retries and deviations marked, and the log lines that proved
// success or failure at the time drillbook saw them.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{R: r, Heading: r.Heading(), Where: r.Where(), Build: r.Drillbook.String()}
	switch {
	case r.Status == RunSucceeded:
		v.Status = "ok"
	case r.Status.Final():
		v.Status = "bad"
	default:
		v.Status = "open"
	}
	for _, k := range sortedKeys(r.Params) {
		v.Params = append(v.Params, [2]string{k, FormatValue(r.Params[k])})
	}
	for i, s := range r.Steps {
		hs := htmlStep{N: i + 1, S: s, Mark: stateMark(s.State)}
		hs.Remarks = append(hs.Remarks, s.Confirmations...)
		hs.Remarks = append(hs.Remarks, s.Acks...)
		for _, n := range s.Notes {
			hs.Remarks = append(hs.Remarks, ReportNote{Time: n.Time, Step: "note", Text: n.Text})
		}
		slices.SortStableFunc(hs.Remarks, func(a, b ReportNote) int { return a.Time.Compare(b.Time) })
		v.Steps = append(v.Steps, hs)
	}
	v.Timeline = r.layoutTimeline()
	if err := htmlPage().Execute(w, v); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

func stateMark(s StepState) string {
	switch s {
	case StateSucceeded:
		return "✓"
	case StateFailed:
		return "✗"
	case StateSkipped:
		return "↷"
	case StatePending:
		return "·"
	}
	return "▶"
}

// layoutTimeline places every step instance on a row and its stretches of
// time on a common axis from the run's start to its end.
func (r *Report) layoutTimeline() timeline {
	t := timeline{Width: tlWidth, PlotX: tlLabel, PlotW: tlWidth - tlLabel - tlRight}
	start, end := r.Started, r.Started.Add(r.Total)
	for _, s := range r.Steps {
		for _, sp := range s.Spans {
			if sp.End.After(end) {
				end = sp.End
			}
		}
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	x := func(at time.Time) int {
		d := at.Sub(start)
		if d < 0 {
			d = 0
		}
		return t.PlotX + int(float64(t.PlotW)*float64(d)/float64(span)+0.5)
	}
	for i, s := range r.Steps {
		y := tlTop + i*tlRow
		row := timelineRow{Y: y, TextY: y + tlRow/2 + 4, Alt: i%2 == 1, Class: "st-" + string(s.State),
			Label: clip(stateMark(s.State)+" "+s.Key+" · "+s.Title, 44),
			Title: fmt.Sprintf("%s: %s (%s; work %s, operator %s)", s.Key, s.Title, s.State, fmtDur(s.Work), fmtDur(s.Operator))}
		for _, sp := range s.Spans {
			x0, x1 := x(sp.Start), x(sp.End)
			if x1-x0 < 2 {
				x1 = x0 + 2 // a stretch too short to see still shows
			}
			row.Bars = append(row.Bars, timelineBar{X: x0, W: x1 - x0, Y: y + (tlRow-tlBar)/2, H: tlBar, Class: "span-" + string(sp.Kind),
				Title: fmt.Sprintf("%s %s: %s to %s UTC (%s)", s.Key, sp.Kind, sp.Start.Format("15:04:05.000"), sp.End.Format("15:04:05.000"), fmtDur(sp.End.Sub(sp.Start)))})
		}
		t.Rows = append(t.Rows, row)
		mid := y + tlRow/2
		for _, a := range s.AttemptLog {
			if a.Attempt > 1 {
				t.Markers = append(t.Markers, timelineMarker{X: x(a.Started), Y: mid, Class: "retry", Time: a.Started,
					Title: fmt.Sprintf("%s attempt %d at %s UTC", s.Key, a.Attempt, a.Started.Format("15:04:05"))})
			}
		}
		for _, l := range s.LogMatches {
			t.Markers = append(t.Markers, timelineMarker{X: x(l.Time), Y: mid, Class: "log-" + string(l.Kind), Time: l.Time,
				Title: fmt.Sprintf("log %s at %s UTC: %s", l.Kind, l.Time.Format("15:04:05.000"), firstLine(l.Text)),
				Text:  fmt.Sprintf("%s, step %s, log %s in %s: %s", l.Time.Format("15:04:05.000"), s.Key, l.Kind, l.File, clip(firstLine(l.Text), 240))})
		}
	}
	rowOf := map[string]int{}
	for i, s := range r.Steps {
		rowOf[s.Key] = i
	}
	for _, d := range r.Deviations {
		i, ok := rowOf[d.Step]
		if !ok {
			continue
		}
		t.Markers = append(t.Markers, timelineMarker{X: x(d.Time), Y: tlTop + i*tlRow + tlRow/2, Class: "deviation", Time: d.Time,
			Title: fmt.Sprintf("%s: %s; %s", d.Step, d.Describe(), d.Reason),
			Text:  fmt.Sprintf("%s, step %s: %s. Reason: %s. Outcome: %s.", d.Time.Format("15:04:05"), d.Step, d.Describe(), strings.TrimSuffix(d.Reason, "."), strings.TrimSuffix(d.Outcome, "."))})
	}
	slices.SortStableFunc(t.Markers, func(a, b timelineMarker) int { return a.Time.Compare(b.Time) })
	n := map[string]int{}
	lastLabel := map[int]timelineMarker{} // by row: the last labelled marker
	for i := range t.Markers {
		m := &t.Markers[i]
		m.Shape = markerShape(m.Class, m.X, m.Y)
		if m.Text == "" {
			continue
		}
		m.LabelDY = -6
		if prev, ok := lastLabel[m.Y]; ok && m.X-prev.X < 26 && prev.LabelDY < 0 {
			m.LabelDY = 14
		}
		lastLabel[m.Y] = *m
		prefix := "D"
		if strings.HasPrefix(m.Class, "log-") {
			prefix = "L"
		}
		n[prefix]++
		m.ID = fmt.Sprintf("%s%d", prefix, n[prefix])
		t.Legend = append(t.Legend, *m)
	}
	t.AxisY = tlTop + len(r.Steps)*tlRow + 4
	t.Height = t.AxisY + tlAxis
	step := tickStep(span)
	for k := time.Duration(0); k <= span/step; k++ {
		// By count, not by adding: a span near the longest duration
		// would overflow.
		d := k * step
		t.Ticks = append(t.Ticks, timelineTick{X: x(start.Add(d)), Label: clockLabel(d, step)})
	}
	return t
}

// markerShape draws a marker centred on x, y: a diamond for a deviation, a
// circle for a log line, a triangle for a retry.
func markerShape(class string, x, y int) string {
	m := tlMarker
	switch {
	case class == "deviation":
		return fmt.Sprintf("M%d %dL%d %dL%d %dL%d %dZ", x, y-m-1, x+m+1, y, x, y+m+1, x-m-1, y)
	case class == "retry":
		return fmt.Sprintf("M%d %dL%d %dL%d %dZ", x, y-m-2, x+m, y+m, x-m, y+m)
	}
	return fmt.Sprintf("M%d %da%d %d 0 1 0 %d 0a%d %d 0 1 0 %d 0Z", x-m, y, m, m, 2*m, m, m, -2*m)
}

// tickStep picks an axis interval giving at most about ten ticks.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/s <= 10 {
			return s
		}
	}
	return span / 10
}

// clockLabel renders an offset from the run's start as m:ss or h:mm:ss,
// with fractions of a second when the ticks are closer than a second.
func clockLabel(d, step time.Duration) string {
	if step < time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func htmlPage() *template.Template {
	funcs := template.FuncMap{
		"dur":   fmtDur,
		"dur0":  fmtDur0,
		"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"ms":    func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
		"day":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
		"zero":  func(t time.Time) bool { return t.IsZero() },
		"short": short,
	}
	return template.Must(template.New("report").Funcs(funcs).Parse(htmlTemplate))
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="drillbook {{.Build}}">
<title>{{.Heading}} · {{.R.RunID}}</title>
<style>
:root { --ink: #1a202c; --dim: #5a6473; --rule: #d5dae1; --band: #f4f6f8; --work: #2c6cb0; --op: #c27c0e; --stop: #9aa3ae;
  --ok: #1e7b3c; --bad: #b42318; --open: #8a6d00; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px 28px 48px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 24px; margin: 4px 0 6px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--rule); }
h3 { font-size: 15px; margin: 18px 0 4px; }
.kind { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--dim); margin: 0; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); } .badge.open { background: var(--open); }
.summary { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 4px 18px; margin: 14px 0; }
.summary dt { color: var(--dim); } .summary dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--rule); }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--dim); }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--band); padding: 6px 8px; margin: 4px 0; border-radius: 4px; }
.over { color: var(--bad); font-weight: 600; }
.st-succeeded .mark { color: var(--ok); } .st-failed .mark, .fail { color: var(--bad); } .st-skipped .mark { color: var(--dim); }
.dim { color: var(--dim); }
.description, .caution { white-space: pre-line; }
.nowrap { white-space: nowrap; }
ul { margin: 4px 0; padding-left: 20px; }
.step { break-inside: avoid; border-left: 3px solid var(--rule); padding-left: 12px; margin-top: 14px; }
.step.st-failed { border-left-color: var(--bad); } .step.st-succeeded { border-left-color: var(--ok); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12.5px; color: var(--dim); margin: 4px 0 8px; }
.sw { display: inline-block; width: 22px; height: 10px; vertical-align: middle; margin-right: 4px; border: 1px solid #0003; }
.sw.work { background: var(--work); } .sw.operator { background: repeating-linear-gradient(45deg, var(--op) 0 3px, #f5d9a8 3px 6px); }
.sw.stopped { background: var(--stop); }
svg.timeline { width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: var(--ink); }
svg .band { fill: var(--band); }
svg .span-work { fill: var(--work); }
svg .span-operator { fill: url(#hatch); stroke: var(--op); stroke-width: 1; }
svg .span-stopped { fill: var(--stop); }
svg .grid { stroke: var(--rule); stroke-width: 1; }
svg .tick { fill: var(--dim); font-size: 11px; }
svg .st-failed text.label { fill: var(--bad); }
svg .st-skipped text.label { fill: var(--dim); }
svg .retry { fill: #fff; stroke: var(--ink); stroke-width: 1.5; }
svg .deviation { fill: var(--bad); stroke: #fff; stroke-width: 1; }
svg .log-success { fill: var(--ok); stroke: #fff; stroke-width: 1; }
svg .log-failure { fill: var(--bad); stroke: #fff; stroke-width: 1; }
svg .log-warn { fill: var(--open); stroke: #fff; stroke-width: 1; }
svg .mid { font-size: 10px; font-weight: 700; }
ol.marks { font-size: 12.5px; padding-left: 0; list-style: none; }
ol.marks li { margin: 2px 0; overflow-wrap: anywhere; }
ol.marks b { display: inline-block; min-width: 2.4em; }
footer { margin-top: 36px; font-size: 12px; color: var(--dim); border-top: 1px solid var(--rule); padding-top: 8px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; }
  .timeline-box, tr, .step { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@page { margin: 14mm; }
</style>
</head>
<body>
<header>
<p class="kind">{{.R.Purpose.Title}} {{.Where}}</p>
<h1>{{.Heading}}</h1>
<p><span class="badge {{.Status}}">{{.R.Status}}</span>{{if .R.Reason}} <span class="dim">{{.R.Reason}}</span>{{end}}</p>
{{- if .R.Description}}
<p class="description">{{.R.Description}}</p>
{{- end}}
</header>
<dl class="summary">
<dt>Run</dt><dd><code>{{.R.RunID}}</code></dd>
<dt>Runbook</dt><dd><code>{{.R.Runbook}}</code> <span class="dim">sha256 {{short .R.Digest}}</span></dd>
<dt>Purpose</dt><dd>{{.R.Purpose}}</dd>
<dt>Target</dt><dd>{{.R.Target}}{{if .R.Simulated}} (simulated{{if .R.Scenario}}, scenario {{.R.Scenario}}{{end}}){{end}}</dd>
<dt>Operator</dt><dd>{{.R.Operator}} on {{.R.Host}}</dd>
<dt>drillbook</dt><dd>{{.Build}}</dd>
<dt>Started</dt><dd>{{day .R.Started}}</dd>
<dt>Ended</dt><dd>{{if zero .R.Ended}}not ended ({{.R.Status}}){{else}}{{day .R.Ended}}{{end}}</dd>
<dt>Time to recover</dt><dd><b>{{dur .R.TimeToRecover}}</b></dd>
<dt>Total time</dt><dd>{{dur .R.Total}}</dd>
<dt>Work time</dt><dd>{{dur .R.WorkTime}}</dd>
<dt>Operator time</dt><dd>{{dur .R.OperatorTime}}</dd>
{{- if .R.StoppedTime}}
<dt>drillbook stopped</dt><dd>{{dur .R.StoppedTime}}</dd>
{{- end}}
<dt>Deviations</dt><dd>{{len .R.Deviations}}</dd>
{{- if .R.Simulated}}
<dt>Touched real systems</dt><dd>{{if .R.RealSteps}}{{range $i, $s := .R.RealSteps}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}} <span class="dim">(not simulated: they acted on this machine or a real system)</span>{{else}}none{{end}}</dd>
{{- end}}
</dl>
{{- with .R.Notes}}
<h2>Notes</h2>
<ul>{{range .}}<li><span class="dim">{{clock .Time}} UTC</span> {{.Text}}</li>{{end}}</ul>
{{- end}}

<h2>Timeline</h2>
<div class="timeline-box">
<div class="legend"><span><span class="sw work"></span>work</span><span><span class="sw operator"></span>waiting for the operator</span>{{if .R.StoppedTime}}<span><span class="sw stopped"></span>drillbook stopped</span>{{end}}<span>▲ retry</span><span><b class="fail">◆</b> deviation</span><span>● log line (green: success, red: failure, amber: warning)</span><span>axis: time from the run's start</span></div>
{{- with .Timeline}}
<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="Timeline of the run: one bar per step">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f5d9a8"/><rect width="3" height="6" fill="#c27c0e"/></pattern></defs>
{{- $axis := .AxisY}}
<line class="grid" x1="{{.PlotX}}" y1="{{.AxisY}}" x2="{{.Width}}" y2="{{.AxisY}}"/>
{{- range .Ticks}}
<line class="grid" x1="{{.X}}" y1="0" x2="{{.X}}" y2="{{$axis}}" stroke-dasharray="2 3"/><text class="tick" x="{{.X}}" y="{{$axis}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- range .Rows}}
<g class="{{.Class}}">{{if .Alt}}<rect class="band" x="0" y="{{.Y}}" width="1000" height="24"/>{{end}}<text class="label" x="4" y="{{.TextY}}"><title>{{.Title}}</title>{{.Label}}</text>
{{- range .Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="2"><title>{{.Title}}</title></rect>{{end}}</g>
{{- end}}
{{- range .Markers}}
<path class="{{.Class}}" d="{{.Shape}}"><title>{{.Title}}</title></path>{{if .ID}}<text class="mid" x="{{.X}}" y="{{.Y}}" dx="7" dy="{{.LabelDY}}">{{.ID}}</text>{{end}}
{{- end}}
</svg>
{{- if .Legend}}
<ol class="marks">{{range .Legend}}<li><b>{{.ID}}</b> {{.Text}}</li>{{end}}</ol>
{{- end}}
{{- end}}
</div>

{{- if .Params}}
<h2>Parameters</h2>
<table><tr><th>Name</th><th>Value</th></tr>
{{- range .Params}}<tr><td><code>{{index . 0}}</code></td><td>{{if index . 1}}<code>{{index . 1}}</code>{{else}}<span class="dim">(empty)</span>{{end}}</td></tr>{{end}}
</table>
{{- end}}

<h2>Steps</h2>
<p class="dim">Work is drillbook's time on a step (calls, polls, log watches, retry delays); operator time is the time it waited for a confirmation, a tick-off or a decision. Expected is compared with work.</p>
<table>
<tr><th class="num">#</th><th>Step</th><th>State</th><th class="num">Attempts</th><th class="num">Work</th><th class="num">Operator</th><th class="num">Expected</th></tr>
{{- range .Steps}}
<tr class="st-{{.S.State}}"><td class="num">{{.N}}</td><td>{{if .S.Section}}<span class="dim">{{.S.Section}}:</span> {{end}}{{.S.Title}} <code class="dim">{{.S.Key}}</code>{{if .S.Destructive}} <b class="fail">destructive</b>{{end}}</td><td class="nowrap"><span class="mark">{{.Mark}}</span> {{.S.State}}</td><td class="num">{{.S.Attempts}}</td><td class="num{{if .S.Over}} over{{end}}">{{dur .S.Work}}{{if .S.Over}} (over){{end}}</td><td class="num">{{dur .S.Operator}}</td><td class="num">{{dur .S.Expected}}</td></tr>
{{- end}}
</table>
{{- with .R.StepsEnded}}
<p>The steps ended <b>{{.Text}}</b> at {{clock .Time}} UTC; then the finally steps ran.</p>
{{- end}}

{{- range .Steps}}
<section class="step st-{{.S.State}}">
<h3>{{.N}}. {{.S.Title}} <code class="dim">{{.S.Key}}</code></h3>
{{- if .S.Source}}<div class="dim">Source: {{.S.Source}}</div>{{end}}
{{- if .S.Cautions}}<p class="caution">Runbook note: {{.S.Cautions}}</p>{{end}}
<div><span class="mark">{{.Mark}}</span> <b>{{.S.State}}</b>{{if not (zero .S.Started)}}, {{ms .S.Started}} to {{if zero .S.Ended}}-{{else}}{{ms .S.Ended}}{{end}} UTC; work {{dur0 .S.Work}}, operator {{dur0 .S.Operator}}{{if .S.Stopped}}, drillbook stopped {{dur .S.Stopped}}{{end}}{{end}}</div>
{{- if .S.Reason}}<p class="{{if eq .S.State "failed"}}fail{{else}}dim{{end}}">{{.S.Reason}}</p>{{end}}
{{- if gt (len .S.AttemptLog) 1}}
<ul>{{range .S.AttemptLog}}<li>attempt {{.Attempt}} at {{clock .Started}} UTC: {{.State}}{{if and .Reason (ne .State "succeeded")}}: {{.Reason}}{{end}}</li>{{end}}</ul>
{{- end}}
{{- if .Remarks}}
<ul>{{range .Remarks}}<li><span class="dim">{{clock .Time}} UTC</span> {{if eq .Step "note"}}<b>note:</b> {{end}}{{.Text}}</li>{{end}}</ul>
{{- end}}
{{- range .S.Calls}}
<div>{{.Phase}} <code>{{.Op}}</code>{{if .Host}} on <b>{{.Host}}</b>{{end}}{{if and $.R.Simulated (not .Simulated)}} <b>(real)</b>{{end}}{{if .ExitCode}}, exit {{.ExitCode}}{{end}}{{if not (zero .Ended)}} <span class="dim">({{ms .Started}} to {{ms .Ended}})</span>{{end}}{{if .Interrupted}} <b class="fail">interrupted</b>: {{.Outcome}}{{else if .Error}} <b class="fail">failed</b>: {{.Error}}{{else if .Summary}}: {{.Summary}}{{end}}</div>
<pre>{{.Command}}</pre>
{{- if .ActsOn}}<div class="dim">acts on: {{.ActsOn}}</div>{{end}}
{{- range .Evidence}}<div class="dim">evidence:</div><pre>{{.}}</pre>{{end}}
{{- end}}
{{- range .S.LogMatches}}
<div>log <b class="{{if eq .Kind "failure"}}fail{{end}}">{{.Kind}}</b> at {{ms .Time}} UTC in <code>{{.File}}</code></div><pre>{{.Text}}</pre>
{{- end}}
</section>
{{- end}}

<h2>Deviations</h2>
{{- if .R.Deviations}}
<table><tr><th>Time (UTC)</th><th>Step</th><th>What</th><th>Reason</th><th>Outcome</th></tr>
{{- range .R.Deviations}}<tr><td>{{clock .Time}}</td><td><code>{{.Step}}</code></td><td>{{.Describe}}</td><td>{{.Reason}}</td><td>{{.Outcome}}</td></tr>{{end}}
</table>
{{- else}}
<p>None.</p>
{{- end}}
{{- with .R.Interruptions}}
<h2>Interruptions</h2>
<ul>{{range .}}<li><span class="dim">{{clock .Time}} UTC</span> {{.Text}}</li>{{end}}</ul>
{{- end}}
{{- with .R.Warnings}}
<h2>Warnings</h2>
<ul>{{range .}}<li><span class="dim">{{clock .Time}} UTC</span> step <code>{{.Step}}</code>: {{.Text}}</li>{{end}}</ul>
{{- end}}
{{- with .R.Sources}}
<h2>Sources</h2>
<ul>{{range .}}<li>{{if .Publisher}}“{{.Title}}”, {{.Publisher}} <code class="dim">{{.File}}</code>{{else}}{{.File}}{{end}}</li>{{end}}</ul>
{{- end}}
<footer>Made by drillbook {{.Build}} from the journal of run {{.R.RunID}}. Times are UTC. Secrets are masked as ***.</footer>
</body>
</html>
`
