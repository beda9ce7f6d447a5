// Package runbooks holds the runbooks shipped with drillbook, embedded in the
// binary so that `drillbook run ID` works with no file on disk.
package runbooks

import "embed"

// FS holds every shipped runbook as ID.yaml.
//
//go:embed *.yaml
var FS embed.FS
