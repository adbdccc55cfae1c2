// Package exposure is the contract between Firebreak's ingesters and its
// responders: the firebreak.exposure.v1 event, the subjects it travels on, and
// the small vocabularies (sources, providers, environments) both sides share.
//
// An Event never carries a raw secret: only its keyed fingerprint, a redacted
// hint, and (where the ingester held the secret) the secret sealed under the
// deployment's keyring.
package exposure

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schema is the value of Event.Schema for this version of the event.
const Schema = "firebreak.exposure.v1"

// Source kinds.
const (
	SourceGitHub        = "github"
	SourceGitHubPartner = "github_partner"
	SourceLogs          = "logs"
	SourceSplunkHEC     = "splunk_hec"
	SourceLoki          = "loki"
	SourceSyslog        = "syslog"
	SourceJira          = "jira"
	SourceTicket        = "ticket"
	SourceScan          = "scan"
)

// Environments.
const (
	EnvProd    = "prod"
	EnvStaging = "staging"
	EnvDev     = "dev"
	EnvUnknown = "unknown"
)

// Event is one exposure: a secret seen somewhere it should not be.
type Event struct {
	ID          string    `json:"id" expr:"id"`
	Schema      string    `json:"schema" expr:"schema"`
	Source      Source    `json:"source" expr:"source"`
	Secret      Secret    `json:"secret" expr:"secret"`
	Location    Location  `json:"location" expr:"location"`
	Environment string    `json:"environment" expr:"environment"`
	ObservedAt  time.Time `json:"observed_at" expr:"observed_at"`
	ReceivedAt  time.Time `json:"received_at" expr:"received_at"`
	// Correlation runs from the inbound request (a delivery id, a HEC request
	// id) through every step and notification.
	Correlation string `json:"correlation_id,omitempty" expr:"correlation_id"`
	// Count is how many sightings this exposure stands for (a log flood folds
	// many sightings of one secret into one exposure).
	Count int `json:"count,omitempty" expr:"count"`
	// Alert is set when the exposure is a GitHub secret-scanning alert whose
	// secret the responder fetches from GitHub's API.
	Alert *Alert `json:"alert,omitempty" expr:"alert"`
	// Blast is the secret's blast radius, filled by the responder when a
	// search ran (vault.find, or on receipt when configured); never set by
	// ingesters. Its zero value means "not searched".
	Blast Blast `json:"blast,omitzero" expr:"blast"`
}

// Source says where the exposure came from.
type Source struct {
	Kind       string `json:"kind" expr:"kind"`
	Ref        string `json:"ref,omitempty" expr:"ref"` // source-specific reference ("octo/app#42")
	URL        string `json:"url,omitempty" expr:"url"`
	DeliveryID string `json:"delivery_id,omitempty" expr:"delivery_id"`
}

// Secret describes the exposed secret without revealing it.
type Secret struct {
	Provider    string `json:"provider" expr:"provider"`
	Type        string `json:"type" expr:"type"`
	Fingerprint string `json:"fingerprint,omitempty" expr:"fingerprint"` // empty until the responder fetched an alert's secret
	Redacted    string `json:"redacted,omitempty" expr:"redacted"`
	Sealed      string `json:"sealed,omitempty" expr:"sealed"`
	KeyID       string `json:"key_id,omitempty" expr:"key_id"` // the provider's non-secret id, where the format carries one
}

// Location says where the secret was seen.
type Location struct {
	Repo    string            `json:"repo,omitempty" expr:"repo"`
	Path    string            `json:"path,omitempty" expr:"path"`
	Line    int               `json:"line,omitempty" expr:"line"`
	Commit  string            `json:"commit,omitempty" expr:"commit"`
	URL     string            `json:"url,omitempty" expr:"url"`
	Stream  string            `json:"stream,omitempty" expr:"stream"`
	Labels  map[string]string `json:"labels,omitempty" expr:"labels"`
	Ticket  string            `json:"ticket,omitempty" expr:"ticket"`
	Branch  string            `json:"branch,omitempty" expr:"branch"`
	Display string            `json:"display,omitempty" expr:"display"` // one human-readable line
}

// Alert identifies a GitHub secret-scanning alert.
type Alert struct {
	Repository string `json:"repository" expr:"repository"` // "owner/name"
	Number     int64  `json:"number" expr:"number"`
	Action     string `json:"action" expr:"action"` // created | reopened | publicly_leaked | validated | resolved
	Resolution string `json:"resolution,omitempty" expr:"resolution"`
	ResolvedBy string `json:"resolved_by,omitempty" expr:"resolved_by"`
	// Sender is the GitHub login whose action sent the webhook (who
	// reopened the alert, say).
	Sender string `json:"sender,omitempty" expr:"sender"`
}

// Owner returns the repository owner and name of an alert.
func (a *Alert) Owner() (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(a.Repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("alert repository %q is not owner/name", a.Repository)
	}
	return owner, repo, nil
}

// NewID returns a new exposure id: "exp_", ten characters of millisecond time
// (so ids sort by creation) and sixteen random characters (80 bits).
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	ms := uint64(now.UnixMilli())
	out := make([]byte, 0, 30)
	out = append(out, "exp_"...)
	for i := 9; i >= 0; i-- {
		out = append(out, alphabet[(ms>>(uint(i)*5))&31])
	}
	for _, c := range b {
		out = append(out, alphabet[c&31])
	}
	return string(out)
}

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("invalid exposure")

// Validate checks the fields every consumer relies on.
func (e *Event) Validate() error {
	var problems []string
	if e.ID == "" {
		problems = append(problems, "id is empty")
	}
	if e.Schema != Schema {
		problems = append(problems, fmt.Sprintf("schema is %q, want %q", e.Schema, Schema))
	}
	if !validToken(e.Source.Kind) {
		problems = append(problems, fmt.Sprintf("source.kind %q is not a subject token", e.Source.Kind))
	}
	if !validToken(e.Secret.Provider) {
		problems = append(problems, fmt.Sprintf("secret.provider %q is not a subject token", e.Secret.Provider))
	}
	if e.Alert == nil && (e.Secret.Fingerprint == "" || e.Secret.Sealed == "") {
		problems = append(problems, "secret.fingerprint and secret.sealed are required unless the exposure is a GitHub alert")
	}
	if e.Alert != nil {
		if _, _, err := e.Alert.Owner(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Decode parses and validates an event.
func Decode(b []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// validToken reports whether s can be a single NATS subject token: lowercase
// letters, digits, '_' and '-'.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
