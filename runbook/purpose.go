package runbook

import (
	"fmt"
	"strings"
)

// Purpose is why a run is made. It titles the report and is listed by
// `drillbook runs` and `drillbook history`, so a drill's record is never
// filed as an incident, nor a routine backup as either.
type Purpose string

// The purposes of a run.
const (
	// PurposeIncident is a recovery from a real failure.
	PurposeIncident Purpose = "incident"
	// PurposeDrill is a rehearsal: a disaster-recovery drill, or practice
	// on the training estate.
	PurposeDrill Purpose = "drill"
	// PurposeRoutine is planned maintenance: a scheduled backup, a
	// planned failover.
	PurposeRoutine Purpose = "routine"
)

// Purposes lists the purposes in the order a form offers them.
func Purposes() []Purpose { return []Purpose{PurposeIncident, PurposeDrill, PurposeRoutine} }

// ParsePurpose checks a purpose given by name.
func ParsePurpose(s string) (Purpose, error) {
	p := Purpose(strings.ToLower(strings.TrimSpace(s)))
	for _, q := range Purposes() {
		if p == q {
			return p, nil
		}
	}
	return "", fmt.Errorf("purpose %q: say incident, drill or routine", s)
}

// DefaultPurpose is the purpose of a run on t when none is given: the
// target's own purpose: setting, else drill on a simulated target (nothing
// real can be recovered there) and incident on a real one (an unplanned run
// against a real estate is most likely a recovery; a drill lead or a
// scheduled backup says otherwise with --purpose).
func DefaultPurpose(t *Target) Purpose {
	switch {
	case t == nil:
		return PurposeIncident
	case t.Purpose != "":
		return t.Purpose
	case t.Simulated:
		return PurposeDrill
	}
	return PurposeIncident
}

// RunPurpose returns the run's purpose; a journal written before purposes
// were recorded gets the default its target had: drill when simulated,
// incident otherwise.
func (m RunMeta) RunPurpose() Purpose {
	if m.Purpose != "" {
		return m.Purpose
	}
	if m.Simulated {
		return PurposeDrill
	}
	return PurposeIncident
}

// Title is how a report is titled for the purpose: "Incident recovery",
// "Drill", "Routine run".
func (p Purpose) Title() string {
	switch p {
	case PurposeIncident:
		return "Incident recovery"
	case PurposeDrill:
		return "Drill"
	case PurposeRoutine:
		return "Routine run"
	}
	return "Run"
}
