package actions_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// recorder is a provider double that records what the actions asked of it;
// the real providers are exercised against their emulators elsewhere, this
// checks the actions' own decisions.
type recorder struct {
	live      bool
	gone      bool // Revoke answers "already revoked"
	verifyErr error
	revokeErr error
	calls     []string
}

func (r *recorder) Spec() providers.Spec {
	return providers.Spec{Name: "fake", Verify: true, Revoke: true}
}
func (r *recorder) Verify(context.Context, providers.Credential) (providers.VerifyResult, error) {
	r.calls = append(r.calls, "verify")
	return providers.VerifyResult{Live: r.live}, r.verifyErr
}
func (r *recorder) Revoke(context.Context, providers.Credential) (providers.RevokeResult, error) {
	r.calls = append(r.calls, "revoke")
	if r.gone {
		return providers.RevokeResult{Action: "none", AlreadyRevoked: true}, r.revokeErr
	}
	return providers.RevokeResult{Action: "deleted", KeyID: "k1"}, r.revokeErr
}
func (r *recorder) Plan(op providers.Op, _ providers.Credential) []providers.Call {
	return []providers.Call{{Method: "DELETE", URL: "https://fake/keys/{id}", Note: string(op)}}
}

func input(resumed, dry bool, raw string) *step.Input {
	v := secret.New(raw)
	return &step.Input{
		Exposure:   &exposure.Event{Secret: exposure.Secret{Provider: "fake"}},
		Incident:   &incident.Incident{ID: "inc_1"},
		Credential: providers.Credential{Provider: "fake", Secret: v, Hint: secret.Hint(v)},
		Resumed:    resumed, DryRun: dry,
	}
}

func TestRevokeAfterInterruptedAttemptChecksFirst(t *testing.T) {
	cases := []struct {
		name    string
		resumed bool
		live    bool
		calls   string
		already bool
	}{
		{"first attempt revokes at once", false, true, "revoke", false},
		{"resumed, key already dead: not revoked again", true, false, "verify", true},
		{"resumed, key still live: revoked", true, true, "verify,revoke", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &recorder{live: c.live}
			ps := actions.NewProviders()
			ps.Add(p, "")
			res, err := actions.Revoke{Providers: ps}.Run(context.Background(), input(c.resumed, false, "sk-proj-leaked-0000000000000000"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.calls, ","); got != c.calls {
				t.Fatalf("provider calls %q, want %q", got, c.calls)
			}
			if res.Outputs["already_revoked"] != c.already || res.Effect != step.EffectRevoked {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestAlreadyRevokedIsCheckedAgainstTheKey: a revocation that finds no key
// to revoke is believed only if the key no longer authenticates; a key still
// live (admin credential of another organization, a wrong base URL) is a
// retryable failure, never "contained".
func TestAlreadyRevokedIsCheckedAgainstTheKey(t *testing.T) {
	cases := []struct {
		name      string
		live      bool
		verifyErr error
		retried   bool // a retryable error; otherwise success, already revoked
	}{
		{name: "key dead: already revoked", live: false},
		{name: "key still live: not contained, retried", live: true, retried: true},
		{name: "verify unavailable: retried", verifyErr: &providers.Error{Provider: "fake", Op: providers.OpVerify, Class: providers.Retryable, Status: 503}, retried: true},
		{name: "verify refused for good: the provider's answer stands", verifyErr: &providers.Error{Provider: "fake", Op: providers.OpVerify, Class: providers.Permanent, Status: 403}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &recorder{live: c.live, gone: true, verifyErr: c.verifyErr}
			ps := actions.NewProviders()
			ps.Add(p, "")
			res, err := actions.Revoke{Providers: ps}.Run(context.Background(), input(false, false, "sk-proj-leaked-0000000000000000"))
			if got := strings.Join(p.calls, ","); got != "revoke,verify" {
				t.Fatalf("provider calls %q, want revoke,verify", got)
			}
			if !c.retried {
				if err != nil || res.Outputs["already_revoked"] != true || res.Effect != step.EffectRevoked {
					t.Fatalf("result %+v, err %v", res, err)
				}
				return
			}
			if class, _ := providers.Classify(err); err == nil || class != providers.Retryable {
				t.Fatalf("err %v (class %v), want a retryable error", err, class)
			}
			if c.live && !strings.Contains(err.Error(), "still authenticates") {
				t.Fatalf("err %q does not say the key still authenticates", err)
			}
		})
	}
}

func TestDryRunMakesNoCall(t *testing.T) {
	p := &recorder{live: true}
	ps := actions.NewProviders()
	ps.Add(p, "no admin key")
	for _, a := range []step.Action{actions.Verify{Providers: ps}, actions.Revoke{Providers: ps}} {
		res, err := a.Run(context.Background(), input(false, false, "sk-proj-x-000000000000000000000"))
		if err != nil || !res.DryRun || len(res.Calls) != 1 || !strings.Contains(res.Detail, "no admin key") {
			t.Fatalf("%s: %+v %v", a.Spec().Name, res, err)
		}
	}
	// A secret that could not be fetched is a dry-run too, whatever the provider.
	ps2 := actions.NewProviders()
	ps2.Add(p, "")
	res, err := actions.Revoke{Providers: ps2}.Run(context.Background(), input(false, false, ""))
	if err != nil || !res.DryRun {
		t.Fatalf("unfetched secret: %+v %v", res, err)
	}
	if len(p.calls) != 0 {
		t.Fatalf("dry-run called the provider: %v", p.calls)
	}
}

func TestProviderErrorsAreScrubbed(t *testing.T) {
	raw := "sk-proj-LEAKEDleakedLEAKEDleaked0123"
	p := &recorder{revokeErr: &providers.Error{Provider: "fake", Op: providers.OpRevoke, Class: providers.Permanent, Status: 403,
		Message: "key " + raw + " is locked"}}
	ps := actions.NewProviders()
	ps.Add(p, "")
	_, err := actions.Revoke{Providers: ps}.Run(context.Background(), input(false, false, raw))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Status != 403 {
		t.Fatalf("classification lost: %v", err)
	}
	if strings.Contains(err.Error(), "LEAKED") {
		t.Fatalf("the error carries the key: %v", err)
	}
}

func TestUnknownProviderIsPermanent(t *testing.T) {
	_, err := actions.Verify{Providers: actions.NewProviders()}.Run(context.Background(), input(false, false, "x"))
	if c, _ := providers.Classify(err); c != providers.Permanent || !strings.Contains(err.Error(), `no provider "fake"`) {
		t.Fatalf("%v", err)
	}
}

// TestResumedRevokeNeverActsBlind: when the check after an interrupted
// attempt gets no answer (a retryable error), the revoke is not sent — the
// earlier attempt may have revoked the key — and the step is retried; a
// permanent verify error (the provider cannot check) lets the revoke decide.
func TestResumedRevokeNeverActsBlind(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		calls string
	}{
		{"check unanswered: retried later", &providers.Error{Provider: "fake", Op: providers.OpVerify, Class: providers.Retryable, Status: 503}, "verify"},
		{"check impossible: the revoke decides", &providers.Error{Provider: "fake", Op: providers.OpVerify, Class: providers.Permanent, Status: 400}, "verify,revoke"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &recorder{live: true, verifyErr: c.err}
			ps := actions.NewProviders()
			ps.Add(p, "")
			_, err := actions.Revoke{Providers: ps}.Run(context.Background(), input(true, false, "sk-proj-leaked-0000000000000000"))
			if got := strings.Join(p.calls, ","); got != c.calls {
				t.Fatalf("provider calls %q, want %q", got, c.calls)
			}
			if c.calls == "verify" {
				if class, _ := providers.Classify(err); class != providers.Retryable {
					t.Fatalf("error %v (class %v), want retryable", err, class)
				}
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}
