// Package docs holds drillbook's documentation and the reference notes its
// runbooks cite, embedded in the binary so that `drillbook docs` can show
// them where only the binary is installed: a citation such as
// "reference/was-sib.md §3.3" is never a dead end.
package docs

import "embed"

// FS holds the documentation (*.md), the reference notes
// (reference/*.md) and the JSON Schemas (schema/*.json).
//
//go:embed *.md reference/*.md schema/*.json
var FS embed.FS
