package stack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// Control API access: 401 without a token or with an unknown one, 403
// without the scope, stored hashed, every request in the control chain.
func TestControlTokensAndScopes(t *testing.T) {
	e := start(t, stack.Options{})
	if code, _ := api(t, e, "GET", "/v1/incidents", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := api(t, e, "GET", "/v1/incidents", "fbt_"+strings.Repeat("a", 52), nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", code)
	}
	reader := newToken(t, e, "dashboard", tokens.Read)
	replayer := newToken(t, e, "soar-bot", tokens.Replay)
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/incidents", reader, 200},
		{"GET", "/v1/audit/verify", reader, 200},
		{"POST", "/v1/replay", reader, 403},
		{"POST", "/v1/incidents/inc_x/approve", reader, 403},
		{"POST", "/v1/tokens", reader, 403},
		{"GET", "/v1/incidents", replayer, 403},
		{"POST", "/v1/incidents/inc_x/replay", replayer, 404},
		{"GET", "/v1/tokens", adminToken(t, e), 200},
	} {
		if code, body := api(t, e, c.method, c.path, c.token, nil); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	// Created tokens are stored as hashes only.
	kv, err := e.App.JS.KeyValue(context.Background(), exposure.BucketTokens)
	must(t, err)
	keys, err := kv.ListKeys(context.Background())
	must(t, err)
	n := 0
	for k := range keys.Keys() {
		n++
		v, err := kv.Get(context.Background(), k)
		must(t, err)
		for _, tok := range []string{reader, replayer} {
			if strings.Contains(k, tok) || strings.Contains(string(v.Value()), tok) {
				t.Fatal("a token is stored in plaintext")
			}
		}
		if k != tokens.Hash(reader) && k != tokens.Hash(replayer) {
			t.Errorf("unexpected key %s", k)
		}
	}
	if n != 2 {
		t.Fatalf("%d tokens stored, want 2", n)
	}
	// Every control request is audited, on an intact chain, without tokens.
	recs := auditRecords(t, e, exposure.ControlAuditID)
	var denied, unauth bool
	for _, r := range recs {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), reader) || strings.Contains(string(b), replayer) {
			t.Fatal("a token value is in the audit trail")
		}
		if r.Actor == "dashboard" && r.Data["status"] == "403" && r.Data["path"] == "/v1/replay" {
			denied = true
		}
		if r.Actor == "anonymous" && r.Data["status"] == "401" {
			unauth = true
		}
	}
	if len(recs) < 12 || !denied || !unauth {
		t.Fatalf("control chain: %d records, 403 audited %v, 401 audited %v", len(recs), denied, unauth)
	}
	_, body := api(t, e, "GET", "/v1/audit/verify?incident=control", reader, nil)
	var rep struct {
		OK bool
	}
	must(t, json.Unmarshal(body, &rep))
	if !rep.OK {
		t.Fatalf("control chain does not verify: %s", body)
	}
	// A revoked token is unknown.
	var list struct {
		Tokens []tokens.Token `json:"tokens"`
	}
	_, body = api(t, e, "GET", "/v1/tokens", adminToken(t, e), nil)
	must(t, json.Unmarshal(body, &list))
	for _, tk := range list.Tokens {
		if tk.Name == "dashboard" {
			if code, _ := api(t, e, "DELETE", "/v1/tokens/"+tk.ID, adminToken(t, e), nil); code != 200 {
				t.Fatalf("revoke: %d", code)
			}
		}
	}
	if code, _ := api(t, e, "GET", "/v1/incidents", reader, nil); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d, want 401", code)
	}
}

// The audit chain verifies; a record removed and re-published altered, or a
// record cut from the end, is reported.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 61, "d-audit")
	waitState(t, e, id, incident.Contained)
	reader := newToken(t, e, "auditor", tokens.Read)
	verify := func() (bool, string) {
		t.Helper()
		_, body := api(t, e, "GET", "/v1/audit/verify?incident="+id, reader, nil)
		var rep struct {
			OK     bool
			Chains []audit.ChainReport
		}
		must(t, json.Unmarshal(body, &rep))
		return rep.OK, string(body)
	}
	if ok, body := verify(); !ok {
		t.Fatalf("untouched chain: %s", body)
	}
	// Tamper: replace record 3 by an altered copy (someone with write access
	// to the stream rewriting what a step did).
	ctx := context.Background()
	st, err := e.App.JS.Stream(ctx, exposure.StreamAudit)
	must(t, err)
	var victim *audit.Stored
	must(t, audit.Read(ctx, e.App.JS, audit.ReadOptions{Chain: id}, func(s audit.Stored) error {
		if s.Record.Seq == 3 {
			victim = &s
		}
		return nil
	}))
	must(t, st.DeleteMsg(ctx, victim.StreamSeq))
	altered := victim.Record
	altered.Detail = "nothing happened here"
	b, _ := json.Marshal(altered)
	_, err = e.App.JS.PublishMsg(ctx, &nats.Msg{Subject: victim.Subject, Data: b})
	must(t, err)
	ok, body := verify()
	if ok || !strings.Contains(body, "seq 4: prev hash does not match record 3") {
		t.Fatalf("tampered chain: %s", body)
	}
	// And the CLI says so with exit status 1.
	out, code := runCLI(t, e, "audit", "verify", "--incident", id)
	if code != 1 || !strings.Contains(out, "BROKEN") {
		t.Fatalf("firebreak audit verify: exit %d\n%s", code, out)
	}
}

// One correlation id — GitHub's delivery id — runs from the webhook through
// every step's audit record and every notification.
func TestCorrelationIDRunsThrough(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 62, "d-corr-7f3a")
	in := waitState(t, e, id, incident.Contained)
	want := "gh-d-corr-7f3a"
	if in.Correlation != want {
		t.Fatalf("incident correlation %q", in.Correlation)
	}
	recs := auditRecords(t, e, id)
	for _, r := range recs {
		if r.Correlation != want {
			t.Errorf("audit %s (seq %d) carries correlation %q", r.Kind, r.Seq, r.Correlation)
		}
	}
	if v, ok := e.Slack.Messages()[0].Field("Correlation"); !ok || !strings.Contains(v, want) {
		t.Errorf("Slack message correlation %q", v)
	}
	for _, m := range e.Webhook.Messages() {
		if m.Correlation != want {
			t.Errorf("webhook correlation %q", m.Correlation)
		}
	}
}
