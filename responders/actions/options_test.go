package actions_test

import (
	"context"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/responders/actions"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// fake is a provider that records how it was asked to revoke.
type fake struct {
	escalate bool
	opts     map[string]any
}

func (f *fake) Spec() providers.Spec {
	return providers.Spec{Name: "fake", DisplayName: "Fake", Verify: true, Revoke: !f.escalate, ConsoleURL: "https://fake.example/keys"}
}
func (f *fake) Verify(context.Context, providers.Credential) (providers.VerifyResult, error) {
	return providers.VerifyResult{Live: true}, nil
}
func (f *fake) Revoke(ctx context.Context, c providers.Credential) (providers.RevokeResult, error) {
	return f.RevokeWith(ctx, c, nil)
}
func (f *fake) RevokeWith(_ context.Context, _ providers.Credential, opts map[string]any) (providers.RevokeResult, error) {
	f.opts = opts
	if f.escalate {
		return providers.Escalation(f.Spec(), "k1", "delete it by hand"), nil
	}
	return providers.RevokeResult{Action: "deleted", KeyID: "k1"}, nil
}
func (f *fake) Plan(providers.Op, providers.Credential) []providers.Call { return nil }

func withInput(with map[string]any) *step.Input {
	return &step.Input{
		Exposure:   &exposure.Event{Secret: exposure.Secret{Provider: "fake", Redacted: "fk-…abcd"}},
		Incident:   &incident.Incident{ID: "inc_1"},
		Credential: providers.Credential{Provider: "fake", Secret: secret.New("fk-live-secret-value-abcd")},
		With:       with,
		Owner:      playbooks.Owner{Team: "payments", Email: "pay@example.com", Rule: "owners_file:payments"},
	}
}

func TestRevokePassesOptionsAndReportsEscalation(t *testing.T) {
	f := &fake{}
	ps := actions.NewProviders()
	ps.Add(f, "")
	res, err := actions.Revoke{Providers: ps}.Run(context.Background(), withInput(map[string]any{"delete": true}))
	if err != nil || f.opts["delete"] != true || res.Effect != step.EffectRevoked || res.Outputs["escalated"] != false {
		t.Fatalf("Run = %+v, %v (opts %v)", res, err, f.opts)
	}
	f.escalate = true
	res, err = actions.Revoke{Providers: ps}.Run(context.Background(), withInput(nil))
	if err != nil || res.Effect != step.EffectNone || res.Outputs["escalated"] != true || res.Outputs["revoked"] != false ||
		res.Outputs["console_url"] != "https://fake.example/keys" || res.Outputs["manual_action"] != "delete it by hand" {
		t.Fatalf("escalation = %+v, %v", res, err)
	}
}

type capture struct{ got []notify.Message }

func (c *capture) Notify(_ context.Context, m notify.Message) (bool, error) {
	c.got = append(c.got, m)
	return false, nil
}

func TestNotifyDestinationsAndOwner(t *testing.T) {
	c := &capture{}
	a := actions.Notify{Kind: "email", Notifiers: map[string]notify.Notifier{"default": c}}
	// An empty rendered notifier ('{{ .Owner.PagerDuty }}' for an owner without one) means default.
	if _, err := a.Run(context.Background(), withInput(map[string]any{"notifier": "", "to": "pay@example.com", "subject": "S", "title": "T"})); err != nil {
		t.Fatal(err)
	}
	m := c.got[0]
	if m.Channel != "pay@example.com" || m.Fields["subject"] != "S" || m.Title != "T" || m.Fields["owner"] != "payments" || m.Fields["owner_rule"] != "owners_file:payments" {
		t.Fatalf("message %+v", m)
	}
	pd := actions.Notify{Kind: "pagerduty", Notifiers: map[string]notify.Notifier{"default": c}}
	if _, err := pd.Run(context.Background(), withInput(map[string]any{"action": "resolve"})); err != nil || c.got[1].Fields["action"] != "resolve" {
		t.Fatalf("pagerduty action: %+v, %v", c.got, err)
	}
}
