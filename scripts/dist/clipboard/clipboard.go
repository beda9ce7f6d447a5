// Package clipboard stands in for github.com/atotto/clipboard in the AIX
// release build only (scripts/dist.sh builds it with -modfile and a
// replace). That library, which the screen's text fields use for ctrl+v,
// has no AIX implementation and does not compile there. Here the clipboard
// is unsupported, as the library reports on any system without a clipboard
// tool: ctrl+v does nothing and pasting through the terminal works as
// everywhere. Every other build uses the library itself.
package clipboard

import "errors"

// Unsupported is true: there is no clipboard to reach.
var Unsupported = true

// errUnsupported is what every call returns.
var errUnsupported = errors.New("no clipboard on this system")

// ReadAll returns an error: there is no clipboard to read.
func ReadAll() (string, error) { return "", errUnsupported }

// WriteAll returns an error: there is no clipboard to write.
func WriteAll(text string) error { return errUnsupported }
