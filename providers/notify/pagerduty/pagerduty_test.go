package pagerduty_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/providers/notify/pagerduty"
	"github.com/firebreak-sec/firebreak/providers/notify/pagerduty/pagerdutyemu"
)

func setup(t *testing.T) (*pagerdutyemu.Emulator, string, *pagerduty.Notifier) {
	t.Helper()
	emu := pagerdutyemu.New()
	emu.Start()
	t.Cleanup(emu.Close)
	rk := emu.AddService("payments")
	n, err := pagerduty.New(pagerduty.Config{URL: emu.EnqueueURL(), RoutingKey: secret.Static(secret.New(rk))})
	if err != nil {
		t.Fatal(err)
	}
	return emu, rk, n
}

func msg(action string) notify.Message {
	m := notify.Message{Incident: "inc_01PD", Severity: "critical", Title: "Leaked xAI key", Text: "xAI key xai-…abcd leaked: delete it at https://console.x.ai",
		Provider: "xai", SecretType: "xai_api_key", Redacted: "xai-…abcd", WhereURL: "https://github.com/acme/api/blob/x/a.py#L1",
		Fields: map[string]string{}, At: time.Now()}
	if action != "" {
		m.Fields["action"] = action
	}
	return m
}

func TestTriggerThenResolveOneAlert(t *testing.T) {
	emu, _, n := setup(t)
	ctx := context.Background()
	for range 2 { // a repeated trigger dedups onto the same alert
		if retry, err := n.Notify(ctx, msg("")); err != nil || retry {
			t.Fatalf("trigger = %v, %v", retry, err)
		}
	}
	a, ok := emu.Alert("payments", "inc_01PD")
	if !ok || a.Status != "triggered" || a.Events != 2 || a.Severity != "critical" || !strings.Contains(a.Summary, "console.x.ai") || a.Details["key"] != "xai-…abcd" {
		t.Fatalf("alert %+v", a)
	}
	if _, err := n.Notify(ctx, msg("resolve")); err != nil {
		t.Fatal(err)
	}
	if a, _ := emu.Alert("payments", "inc_01PD"); a.Status != "resolved" {
		t.Fatalf("after resolve: %+v", a)
	}
	for _, r := range emu.Requests() {
		if !strings.Contains(string(r.Body), `"dedup_key":"inc_01PD"`) {
			t.Fatalf("event without the incident as dedup key: %s", r.Body)
		}
	}
}

func TestClassification(t *testing.T) {
	emu, _, n := setup(t)
	ctx := context.Background()
	emu.Inject(emulator.Fault{Count: 1, Status: 429})
	if retry, err := n.Notify(ctx, msg("")); !retry || err == nil {
		t.Fatalf("429 = %v, %v", retry, err)
	}
	emu.Inject(emulator.Fault{Count: 1, Status: 503, RetryAfter: "5"})
	retry, err := n.Notify(ctx, msg(""))
	if class, after := providers.Classify(err); !retry || class != providers.Retryable || after != 5*time.Second {
		t.Fatalf("503 = %v, %v", retry, err)
	}
	// An unknown routing key is a permanent 400 whose message never echoes it.
	bad, _ := pagerduty.New(pagerduty.Config{URL: emu.EnqueueURL(), RoutingKey: secret.Static(secret.New(strings.Repeat("f", 32)))})
	retry, err = bad.Notify(ctx, msg(""))
	if retry || err == nil || !strings.Contains(err.Error(), "Invalid routing key") || strings.Contains(err.Error(), strings.Repeat("f", 32)) {
		t.Fatalf("bad routing key = %v, %v", retry, err)
	}
	if retry, err = n.Notify(ctx, msg("snooze")); retry || err == nil {
		t.Fatalf("bad action = %v, %v", retry, err)
	}
}
