package runbook

import (
	"runtime/debug"
	"strings"
	"time"
)

// BuildInfo says which drillbook made a run: the module version and the
// version control state it was built from, as Go records them in the
// binary.
type BuildInfo struct {
	// Version is the module version ("v1.2.0"), or "(devel)" for a build
	// from a work tree; set at link time with -X main.version it wins.
	Version string `json:"version"`
	// Revision is the commit the binary was built from; empty when the
	// build had no version control information (go run, a test binary).
	Revision string `json:"revision,omitempty"`
	// Time is the commit's time; zero when unknown.
	Time time.Time `json:"time,omitzero"`
	// Dirty says the work tree had changes that are not in Revision.
	Dirty bool `json:"dirty,omitempty"`
	// Go is the Go version the binary was built with.
	Go string `json:"go,omitempty"`
}

// ReadBuildInfo returns the running binary's build information. linked is
// the version set at link time (-ldflags "-X main.version=..."); "" or
// "dev" means none was, and the module's own version is used.
func ReadBuildInfo(linked string) BuildInfo {
	b := BuildInfo{Version: linked}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	if b.Version == "" || b.Version == "dev" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	b.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			b.Dirty = s.Value == "true"
		}
	}
	return b
}

// String renders the build on one line: "v1.2.0 (3fa2c1d4e5f6, 2026-11-23
// 08:15 UTC, dirty)".
func (b BuildInfo) String() string {
	v := b.Version
	if v == "" {
		v = "unknown"
	}
	var parts []string
	if b.Revision != "" && !strings.HasSuffix(v, short(b.Revision)) {
		// A pseudo-version (v0.0.0-20261123081500-3fa2c1d4e5f6) already
		// ends with it.
		parts = append(parts, short(b.Revision))
	}
	if !b.Time.IsZero() {
		parts = append(parts, b.Time.UTC().Format("2006-01-02 15:04")+" UTC")
	}
	if b.Dirty {
		parts = append(parts, "dirty")
	}
	if len(parts) == 0 {
		return v
	}
	return v + " (" + strings.Join(parts, ", ") + ")"
}
