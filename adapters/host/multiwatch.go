package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/drillbook/drillbook/runbook"
)

// Locator says which host a log file is on when a wait does not name one
// (a WebSphere server's SystemOut.log is on the host of the profile that
// holds it): the host's name, or "" when it has no opinion (the file is
// then followed on this machine).
type Locator func(path string) string

// hostGroup is the part of a watch that is armed on one host: its files,
// with their indexes in the spec, and where a resumed watch starts in them.
type hostGroup struct {
	host  string
	files []string
	index []int
	from  []runbook.LogPosition
}

// groupByHost splits spec's files by the host locate puts them on, in the
// order the files are first named; a spec that names its host keeps every
// file there.
func groupByHost(spec runbook.WatchSpec, from []runbook.LogPosition, locate Locator) []*hostGroup {
	hostOf := func(path string) string {
		if spec.Host != "" || locate == nil {
			return spec.Host
		}
		return locate(path)
	}
	var groups []*hostGroup
	byHost := map[string]*hostGroup{}
	for i, f := range spec.Files {
		h := hostOf(f)
		g, ok := byHost[h]
		if !ok {
			g = &hostGroup{host: h}
			byHost[h] = g
			groups = append(groups, g)
		}
		g.files = append(g.files, f)
		g.index = append(g.index, i)
	}
	// A resumed watch's positions go to the host of their file (a rotated
	// file's position keeps the path the watch was armed on).
	for _, p := range from {
		if g, ok := byHost[hostOf(p.Path)]; ok {
			g.from = append(g.from, p)
		}
	}
	if from != nil {
		for _, g := range groups {
			if g.from == nil {
				g.from = []runbook.LogPosition{}
			}
		}
	}
	return groups
}

// armEach arms one watch per host and merges them; with a single host it
// is that host's watch.
func armEach(hosts Resolver, spec runbook.WatchSpec, from []runbook.LogPosition, groups []*hostGroup) (runbook.Watch, error) {
	if len(groups) <= 1 {
		name := spec.Host
		if len(groups) == 1 {
			name = groups[0].host
		}
		h, err := hosts.Get(name)
		if err != nil {
			return nil, err
		}
		spec.Host = name
		return h.Arm(spec, from)
	}
	m := &multiWatch{}
	for _, g := range groups {
		h, err := hosts.Get(g.host)
		if err != nil {
			m.Close()
			return nil, err
		}
		sub := spec
		sub.Host = g.host
		sub.Files = g.files
		w, err := h.Arm(sub, g.from)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("log watch on %s: %w", strings.Join(g.files, ", "), err)
		}
		m.parts = append(m.parts, multiPart{group: g, w: w})
	}
	return m, nil
}

// multiPart is one host's watch within a multiWatch.
type multiPart struct {
	group *hostGroup
	w     runbook.Watch
}

// multiWatch follows the files of one wait that sit on several hosts: one
// watch per host, each armed (its start positions taken) before Arm
// returns, merged so the first success or failure on any host ends them
// all, as one local watch over every file would.
type multiWatch struct {
	parts []multiPart
}

// Positions returns where the watch started in each file, in the order
// the spec names the files.
func (m *multiWatch) Positions() []runbook.LogPosition {
	var all []runbook.LogPosition
	for _, p := range m.parts {
		all = append(all, p.w.Positions()...)
	}
	return m.ordered(all)
}

// ordered sorts positions by their file's place in the spec; positions of
// files the spec does not name (none today) go last, as they came.
func (m *multiWatch) ordered(ps []runbook.LogPosition) []runbook.LogPosition {
	place := map[string]int{}
	for _, p := range m.parts {
		for i, f := range p.group.files {
			place[f] = p.group.index[i]
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		pi, oki := place[ps[i].Path]
		pj, okj := place[ps[j].Path]
		if oki != okj {
			return oki
		}
		return pi < pj
	})
	return ps
}

// multiEvent is a record from one host's watch, or its end.
type multiEvent struct {
	part int
	line *runbook.LogLine
	done bool
	oc   runbook.WatchOutcome
	err  error
}

// Wait follows every host's files at once; records reach lines from the
// calling goroutine. The first success, failure or error (a host whose
// connection dropped: its error names it) ends the others; the watch
// times out when every host's watch has.
func (m *multiWatch) Wait(ctx context.Context, lines func(runbook.LogLine)) (runbook.WatchOutcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan multiEvent)
	for i, p := range m.parts {
		go func(i int, w runbook.Watch) {
			oc, err := w.Wait(ctx, func(ll runbook.LogLine) {
				select {
				case events <- multiEvent{part: i, line: &ll}:
				case <-ctx.Done():
				}
			})
			// The end is always delivered: Wait below reads until every
			// part has ended.
			events <- multiEvent{part: i, done: true, oc: oc, err: err}
		}(i, p.w)
	}
	last := make([][]runbook.LogPosition, len(m.parts))
	seen := make([]map[string]runbook.LogPosition, len(m.parts))
	for i, p := range m.parts {
		last[i] = p.w.Positions()
		seen[i] = map[string]runbook.LogPosition{}
	}
	var (
		final    runbook.WatchOutcome
		finalErr error
		decided  bool
		timedOut int
	)
	for running := len(m.parts); running > 0; {
		ev := <-events
		if !ev.done {
			if ev.line.Position.Path != "" {
				seen[ev.part][ev.line.Position.Path] = ev.line.Position
			}
			if lines != nil && !decided {
				lines(*ev.line)
			}
			continue
		}
		running--
		if len(ev.oc.Positions) > 0 {
			last[ev.part] = ev.oc.Positions
		} else {
			last[ev.part] = merged(last[ev.part], seen[ev.part])
		}
		if decided {
			continue
		}
		switch {
		case ev.err != nil && ctx.Err() == nil:
			final, finalErr, decided = ev.oc, ev.err, true
			cancel()
		case ev.err != nil:
			// Ended by the caller's context: the caller's error below.
		case ev.oc.Kind == runbook.MatchSuccess || ev.oc.Kind == runbook.MatchFailure:
			final, decided = ev.oc, true
			cancel()
		default:
			timedOut++
		}
	}
	var all []runbook.LogPosition
	for _, ps := range last {
		all = append(all, ps...)
	}
	final.Positions = m.ordered(all)
	if decided {
		return final, finalErr
	}
	if timedOut == len(m.parts) {
		return final, nil
	}
	return final, context.Cause(ctx)
}

// merged updates the start positions ps with the later positions a watch's
// records reported.
func merged(ps []runbook.LogPosition, seen map[string]runbook.LogPosition) []runbook.LogPosition {
	out := append([]runbook.LogPosition(nil), ps...)
	for i, p := range out {
		if s, ok := seen[p.Path]; ok {
			out[i] = s
		}
	}
	return out
}

// Close closes every host's watch.
func (m *multiWatch) Close() error {
	var errs []error
	for _, p := range m.parts {
		errs = append(errs, p.w.Close())
	}
	return errors.Join(errs...)
}
