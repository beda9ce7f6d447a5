package runbook

import (
	"strings"
	"time"
)

// SchemaV1 is the only runbook schema this version of drillbook reads.
const SchemaV1 = "drillbook/v1"

// Pos is a position in a source file, 1-based. The zero Pos means unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

// String renders the position as file:line:col.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + itoa(p.Line) + ":" + itoa(p.Col)
}

// Runbook is a parsed, not yet validated, runbook file.
type Runbook struct {
	// Schema must be SchemaV1.
	Schema string `yaml:"schema"`
	// ID names the runbook on the command line (`drillbook run ID`).
	ID string `yaml:"id"`
	// Title is the human name shown in the picker and the report.
	Title string `yaml:"title"`
	// Product is the broker the runbook is for (websphere, messagesight,
	// rabbitmq); empty for generic runbooks.
	Product string `yaml:"product"`
	// Description is free text shown before a run starts.
	Description string `yaml:"description"`
	// Source is the document the runbook as a whole comes from.
	Source Source `yaml:"source"`
	// Params are the facts the operator supplies.
	Params []Param `yaml:"params"`
	// Preflight steps run first, before anything in the estate changes:
	// each may call only read-only operations, and `drillbook plan` runs
	// them too. A run that ends during preflight changed nothing, so its
	// finally steps do not run.
	Preflight []Step `yaml:"preflight"`
	// Steps run in order, subject to when, foreach, next and on_failure.
	Steps []Step `yaml:"steps"`
	// Finally steps run when a run that got past preflight ends, whether it
	// succeeded, failed or was aborted (not when it is interrupted and can
	// be resumed): compensation that leaves the estate no worse than the
	// run found it.
	Finally []Step `yaml:"finally"`

	// Path is the file the runbook was read from ("embedded:NAME" for
	// shipped runbooks).
	Path string `yaml:"-"`
	// Digest is the SHA-256 of the file's bytes, recorded in the journal.
	Digest string `yaml:"-"`
	// Raw is the file's bytes, copied into the run directory for resume.
	Raw []byte `yaml:"-"`
	// Pos is where the document starts.
	Pos Pos `yaml:"-"`
	fields
}

// Source names the document and section a step or runbook comes from.
type Source struct {
	// Doc is the document (a seed file name, a URL, a reference section).
	Doc string `yaml:"doc"`
	// Section is the section or numbered step within it.
	Section string `yaml:"section"`
	// Ref is an extra reference that corrects or completes Doc.
	Ref string `yaml:"ref"`
}

// String renders the source for display.
func (s Source) String() string {
	out := s.Doc
	if s.Section != "" {
		if strings.HasPrefix(s.Section, "§") {
			out += " " + s.Section
		} else {
			out += " § " + s.Section
		}
	}
	if s.Ref != "" {
		out += " (see " + s.Ref + ")"
	}
	return out
}

// ParamType is the type of a runbook parameter.
type ParamType string

// The parameter types a runbook may declare.
const (
	TypeString ParamType = "string"
	TypeBool   ParamType = "bool"
	TypeInt    ParamType = "int"
	TypePath   ParamType = "path"
	TypeList   ParamType = "list"
	TypeSecret ParamType = "secret"
)

// Param declares one parameter.
type Param struct {
	// Name is how templates refer to it: {{ .name }}.
	Name string `yaml:"name"`
	// Type is one of the ParamType values; empty means string.
	Type ParamType `yaml:"type"`
	// Required makes a missing value an error before the run starts.
	Required bool `yaml:"required"`
	// Default is used when no value is given; a list for list parameters.
	Default Value `yaml:"default"`
	// Pattern is a regular expression every value (every item of a list)
	// must match in full.
	Pattern string `yaml:"pattern"`
	// Description is shown in the form and in `plan`.
	Description string `yaml:"description"`
	// Choices, when set, are the only values allowed.
	Choices []string `yaml:"choices"`

	// Pos is where the parameter is declared.
	Pos Pos `yaml:"-"`
	fields
}

// Section names the part of a runbook a step belongs to.
type Section string

// The sections of a runbook, in the order they run.
const (
	SectionPreflight Section = "preflight"
	SectionMain      Section = "steps"
	SectionFinally   Section = "finally"
)

// Sections returns the runbook's steps by section, in the order they run:
// preflight, steps, finally. Empty sections are left out.
func (rb *Runbook) Sections() []RunbookSection {
	var out []RunbookSection
	for _, s := range []RunbookSection{{SectionPreflight, rb.Preflight}, {SectionMain, rb.Steps}, {SectionFinally, rb.Finally}} {
		if len(s.Steps) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// RunbookSection is one section of a runbook and its steps.
type RunbookSection struct {
	// Name is the section.
	Name Section
	// Steps are the section's steps, in order (the runbook's own slice).
	Steps []Step
}

// AllSteps returns every step of the runbook, preflight first and finally
// last, each with the section it belongs to.
func (rb *Runbook) AllSteps() []SectionStep {
	var out []SectionStep
	for _, sec := range rb.Sections() {
		for i := range sec.Steps {
			out = append(out, SectionStep{Section: sec.Name, Step: &sec.Steps[i]})
		}
	}
	return out
}

// SectionStep is a step with the section it belongs to.
type SectionStep struct {
	Section Section
	Step    *Step
}

// Step is one step of a runbook.
type Step struct {
	// ID is unique in the runbook; goto, next and --confirm refer to it.
	ID string `yaml:"id"`
	// Title is a template; it may use the foreach variable.
	Title string `yaml:"title"`
	// Source is the document and section the step comes from.
	Source Source `yaml:"source"`
	// Notes are shown with the step (cautions, what to look for).
	Notes string `yaml:"notes"`

	// Manual is the text of a step the operator performs and ticks off.
	Manual string `yaml:"manual"`
	// Action is the operation a step runs ("shell.run").
	Action string `yaml:"action"`
	// With are the action's arguments; string values are templates.
	With map[string]Value `yaml:"with"`
	// Wait is a log watch or a polled condition. With Action it is armed
	// before the action runs and awaited after it.
	Wait *Wait `yaml:"wait"`

	// Precheck must succeed before the step's action runs.
	Precheck *Check `yaml:"precheck"`
	// Verify must succeed after the action for the step to succeed; on
	// resume it decides what happened to a step that was in flight.
	Verify *Check `yaml:"verify"`

	// Destructive steps run only after the operator types Confirm.
	Destructive bool `yaml:"destructive"`
	// Confirm is the token to type (a template: the engine or server name).
	Confirm string `yaml:"confirm"`
	// When is a template that must render "true" or "false"; false skips
	// the step, saying what would have run.
	When string `yaml:"when"`
	// Foreach repeats the step over a list parameter.
	Foreach *Foreach `yaml:"foreach"`
	// OnFailure says what happens when the step fails.
	OnFailure *OnFailure `yaml:"on_failure"`
	// Next is the step to go to after this one succeeds, instead of the
	// following one.
	Next string `yaml:"next"`
	// Timeout bounds the action (and verify); zero means the adapter's own.
	Timeout Duration `yaml:"timeout"`
	// Expected is how long the step usually takes; the screen warns past it
	// and the report compares against it.
	Expected Duration `yaml:"expected"`
	// Interactive steps get the real terminal; their output is not captured.
	Interactive bool `yaml:"interactive"`

	// Pos is where the step starts.
	Pos Pos `yaml:"-"`
	fields
}

// Kind says which of the three kinds of step s is.
func (s *Step) Kind() StepKind {
	switch {
	case s.Manual != "":
		return KindManual
	case s.Action != "":
		return KindAction
	case s.Wait != nil:
		return KindWait
	}
	return ""
}

// StepKind is manual, action or wait.
type StepKind string

// The three kinds of step.
const (
	KindManual StepKind = "manual"
	KindAction StepKind = "action"
	KindWait   StepKind = "wait"
)

// Check is a precheck or verify: an operation that must succeed.
type Check struct {
	// Action is the operation to run.
	Action string `yaml:"action"`
	// With are its arguments.
	With map[string]Value `yaml:"with"`

	// Pos is where the check starts.
	Pos Pos `yaml:"-"`
	fields
}

// Wait is a log watch (Log set) or a polled condition (Action set).
type Wait struct {
	// Log is the file or files to watch (templates).
	Log Value `yaml:"log"`
	// Success patterns end the wait successfully.
	Success []string `yaml:"success"`
	// Failure patterns end it with a failure.
	Failure []string `yaml:"failure"`
	// Warn patterns are shown and recorded; the wait goes on.
	Warn []string `yaml:"warn"`
	// Engine scopes log matches to one messaging engine (a template).
	Engine string `yaml:"engine"`
	// Host is the host the log files are on, a name under the target's
	// hosts: (a template); empty means the machine drillbook runs on.
	Host string `yaml:"host"`

	// Action is polled until it succeeds.
	Action string `yaml:"action"`
	// With are the polled action's arguments.
	With map[string]Value `yaml:"with"`
	// Every is the polling interval; zero means 2s.
	Every Duration `yaml:"every"`

	// Timeout ends the wait; it is required.
	Timeout Duration `yaml:"timeout"`

	// Pos is where the wait starts.
	Pos Pos `yaml:"-"`
	fields
}

// Foreach repeats a step once per item of a list parameter.
type Foreach struct {
	// Param is the list parameter.
	Param string `yaml:"param"`
	// As is the template variable that holds the item; empty means "item".
	As string `yaml:"as"`

	// Pos is where the foreach starts.
	Pos Pos `yaml:"-"`
	fields
}

// OnFailure says what happens after a step fails. Retries come first; once
// they are used up the run goes to Goto, aborts (Abort), or, when neither is
// set, stops and asks the operator (plain mode treats that as abort).
type OnFailure struct {
	// Retry re-runs the step.
	Retry *Retry `yaml:"retry"`
	// Goto is the step to go to when retries are used up.
	Goto string `yaml:"goto"`
	// Abort ends the run at once when retries are used up.
	Abort bool `yaml:"abort"`

	// Pos is where the block starts.
	Pos Pos `yaml:"-"`
	fields
}

// Retry is a bounded retry.
type Retry struct {
	// Count is how many times to retry after the first failure.
	Count int `yaml:"count"`
	// Delay is the pause before each retry.
	Delay Duration `yaml:"delay"`
	// Ask puts the operator in the loop: each retry waits for the operator
	// to say "retry" (plain mode: --confirm STEP=retry).
	Ask bool `yaml:"ask"`

	// Pos is where the block starts.
	Pos Pos `yaml:"-"`
	fields
}

// Duration is a time.Duration written as "30s" or "5m" in YAML.
type Duration struct {
	time.Duration
	// Pos is where the value is written.
	Pos Pos
}

// fields records where each key of a YAML mapping sits, for error messages.
type fields struct {
	keyPos map[string]Pos
}

// setKeyPos records where each key of the struct's mapping was written; the
// parser finds it on every struct that embeds fields.
func (f *fields) setKeyPos(m map[string]Pos) { f.keyPos = m }

// FieldPos returns the position of a mapping key's value, or def when the
// key was not written.
func (f fields) FieldPos(key string, def Pos) Pos {
	if p, ok := f.keyPos[key]; ok {
		return p
	}
	return def
}
