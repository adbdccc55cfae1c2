// Package playbooks is Firebreak's playbook language: it loads YAML playbooks
// (the built-ins embedded in the binary and a configured directory), validates
// them against the catalog of step actions with file:line:col errors, decides
// which playbooks match an exposure, and evaluates step conditions and
// parameter templates.
//
// Playbooks are parsed from yaml.v3 nodes, so every error names the file, the
// line and column, and the field path; unknown keys are errors; all errors of a
// file are reported at once. Startup, `firebreak playbook lint` and reloads share
// one validator (Parse).
package playbooks

import (
	"text/template"
	"time"

	"github.com/expr-lang/expr/vm"
)

// APIVersion and Kind of a playbook document.
const (
	APIVersion = "firebreak/v1"
	Kind       = "Playbook"
)

// ApprovalAction is the `uses:` name of approval steps, which may say
// `when:` approval is required (an alias of `if:`).
const ApprovalAction = "approval"

// Pos is a position in a playbook file.
type Pos struct {
	File string
	Line int
	Col  int
}

// Playbook is a validated playbook.
type Playbook struct {
	Name        string
	Description string
	Match       Match
	Steps       []*Step
	OnFailure   []*Step
	Pos         Pos
	Builtin     bool // embedded in the binary
}

// Match selects the exposures a playbook runs on. Every non-empty criterion
// must hold; an empty list matches anything.
type Match struct {
	Providers    []string
	Sources      []string
	Environments []string
	SecretTypes  []string
	When         string // an expression over `exposure`; empty is true

	when *vm.Program
}

// Step is one step of a playbook.
type Step struct {
	ID      string
	Name    string // display name; defaults to ID
	Uses    string
	With    map[string]any // literal values and parsed templates (*Template)
	If      string         // an expression over exposure, steps and incident
	Retry   Retry
	Timeout time.Duration
	Pos     Pos

	cond *vm.Program
}

// Retry is a step's in-process retry policy for retryable failures. When the
// attempts are used up the message is redelivered later and the playbook
// resumes at this step.
type Retry struct {
	Attempts int           // total attempts, at least 1
	Backoff  string        // "constant" or "exponential"
	Initial  time.Duration // first delay
	Max      time.Duration // delay cap
}

// Delay returns the wait before attempt n+1 (n ≥ 1), at least retryAfter.
func (r Retry) Delay(n int, retryAfter time.Duration) time.Duration {
	d := r.Initial
	if r.Backoff == "exponential" {
		for i := 1; i < n && d < r.Max; i++ {
			d *= 2
		}
	}
	if r.Max > 0 && d > r.Max {
		d = r.Max
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// Template is a parsed `with` value template.
type Template struct {
	Source string
	t      *template.Template
}

// Defaults for step policies.
const (
	DefaultTimeout = 30 * time.Second
	MaxTimeout     = 10 * time.Minute
	MaxAttempts    = 20
)

// DefaultRetry is used when a step sets no retry: one attempt in-process,
// further attempts by redelivery.
func DefaultRetry() Retry {
	return Retry{Attempts: 1, Backoff: "exponential", Initial: time.Second, Max: time.Minute}
}
