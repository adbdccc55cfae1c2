package responders

import (
	"context"
	"fmt"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Alert is a GitHub secret-scanning alert as fetched from GitHub's API, with
// its secret in memory.
type Alert struct {
	Secret     secret.Value
	SecretType string
	State      string
	Resolution string
	HTMLURL    string
	Location   exposure.Location // the first location, when GitHub lists one
}

// AlertFetcher fetches an alert's secret and location. Implemented over
// go-github by providers/github.
type AlertFetcher interface {
	FetchAlert(ctx context.Context, owner, repo string, number int64) (Alert, error)
}

// Fingerprinter computes keyed fingerprints (secret.Keyring implements it).
type Fingerprinter interface {
	Fingerprint(v secret.Value) string
}

// Resolver turns an exposure into the credential its steps act on: it opens
// the sealed secret, or fetches a GitHub alert's secret, in memory, and
// completes the event's secret fields (fingerprint, hint, type).
type Resolver struct {
	Sealer        secret.Sealer
	Fingerprinter Fingerprinter
	// Alerts fetches GitHub alerts; nil means no GitHub token is configured:
	// the incident is keyed by the alert and its steps run in dry-run.
	Alerts AlertFetcher
}

// Resolve opens or fetches e's secret and fills e.Secret's derived fields.
// Errors are classified (*providers.Error or wrapping one).
func (r *Resolver) Resolve(ctx context.Context, e *exposure.Event) (providers.Credential, error) {
	switch {
	case e.Secret.Sealed != "":
		v, err := r.Sealer.Open(ctx, e.Secret.Sealed, []byte(e.Secret.Fingerprint))
		if err != nil {
			return providers.Credential{}, &providers.Error{Provider: "keyring", Op: "open", Class: providers.Permanent, Err: err}
		}
		if fp := r.Fingerprinter.Fingerprint(v); fp != e.Secret.Fingerprint {
			return providers.Credential{}, &providers.Error{Provider: "keyring", Op: "open", Class: providers.Permanent,
				Message: "sealed secret does not match the exposure's fingerprint"}
		}
		if e.Secret.Redacted == "" {
			e.Secret.Redacted = secret.Hint(v)
		}
		return credential(e, v), nil
	case e.Alert != nil:
		owner, repo, err := e.Alert.Owner()
		if err != nil {
			return providers.Credential{}, &providers.Error{Provider: "github", Op: "fetch_alert", Class: providers.Permanent, Err: err}
		}
		if r.Alerts == nil {
			// Key the incident by the alert so that repeats still merge.
			r.KeyByAlert(e)
			return credential(e, secret.Value{}), nil
		}
		a, err := r.Alerts.FetchAlert(ctx, owner, repo, e.Alert.Number)
		if err != nil {
			return providers.Credential{}, err
		}
		if a.Secret.IsZero() {
			return providers.Credential{}, &providers.Error{Provider: "github", Op: "fetch_alert", Class: providers.Permanent,
				Message: "GitHub returned the alert without its secret (the token needs the secret_scanning_alerts read permission)"}
		}
		e.Secret.Fingerprint = r.Fingerprinter.Fingerprint(a.Secret)
		e.Secret.Redacted = secret.Hint(a.Secret)
		if a.SecretType != "" {
			e.Secret.Type = a.SecretType
			e.Secret.Provider = exposure.ProviderForType(a.SecretType)
		}
		loc := e.Location // a location webhook already names its location
		if loc.Path == "" {
			loc = a.Location
		}
		if loc.Repo == "" {
			loc.Repo = e.Alert.Repository
		}
		if loc.URL == "" {
			loc.URL = a.HTMLURL
		}
		if loc.Display == "" {
			loc.Display = Display(loc)
		}
		e.Location = loc
		if e.Environment == "" || e.Environment == exposure.EnvUnknown {
			e.Environment = exposure.Environment(loc.Labels, loc.Branch, loc.Path, "")
		}
		return credential(e, a.Secret), nil
	}
	return providers.Credential{}, &providers.Error{Provider: "exposure", Op: "resolve", Class: providers.Permanent,
		Message: "exposure carries neither a sealed secret nor a GitHub alert"}
}

// KeyByAlert fills e's secret fields for an alert whose secret was not
// fetched (no token, or the fetch failed): the fingerprint is derived from
// the alert (AlertFingerprint), so its exposures share one incident, and the
// hint says "(not fetched)". e must carry an alert.
func (r *Resolver) KeyByAlert(e *exposure.Event) {
	e.Secret.Fingerprint = AlertFingerprint(r.Fingerprinter, e.Alert)
	if e.Secret.Redacted == "" {
		e.Secret.Redacted = "(not fetched)"
	}
	if e.Location.Display == "" {
		e.Location.Display = fmt.Sprintf("%s (alert #%d)", e.Alert.Repository, e.Alert.Number)
	}
}

// AlertFingerprint is the fingerprint of an alert whose secret is unknown:
// keyed like a secret's, from the repository and alert number, so that it is
// deterministic and distinct from every secret's.
func AlertFingerprint(f Fingerprinter, a *exposure.Alert) string {
	return f.Fingerprint(secret.New(fmt.Sprintf("github-alert:%s#%d", a.Repository, a.Number)))
}

func credential(e *exposure.Event, v secret.Value) providers.Credential {
	return providers.Credential{
		Provider: e.Secret.Provider, Type: e.Secret.Type, Secret: v, KeyID: e.Secret.KeyID,
		Fingerprint: e.Secret.Fingerprint, Hint: e.Secret.Redacted,
	}
}

// Display is a one-line description of a location: "octo/app: config/prod.env:12".
func Display(l exposure.Location) string {
	s := l.Repo
	if l.Path != "" {
		if s != "" {
			s += ": "
		}
		s += l.Path
		if l.Line > 0 {
			s += fmt.Sprintf(":%d", l.Line)
		}
	}
	if s == "" {
		s = l.Stream
	}
	if s == "" {
		s = l.Ticket
	}
	if s == "" {
		s = l.URL
	}
	return s
}
