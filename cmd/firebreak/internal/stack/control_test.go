package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
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

// The audit chain verifies; each way someone with write access to the audit
// stream can tamper with an incident's chain is reported, with its own
// problem, by the control API and by `firebreak audit verify` (exit 1): a
// record removed and re-published altered, the last record removed, the
// last record re-published altered, a record injected under a seq already
// stored. One incident per case.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	e := start(t, stack.Options{})
	ctx := context.Background()
	st, err := e.App.JS.Stream(ctx, exposure.StreamAudit)
	must(t, err)
	// republish stores an altered copy of r on its chain, alone.
	republish := func(s audit.Stored) {
		t.Helper()
		altered := s.Record
		altered.Detail = "nothing happened here"
		b, _ := json.Marshal(altered)
		_, err := e.App.JS.PublishMsg(ctx, &nats.Msg{Subject: s.Subject, Data: b})
		must(t, err)
	}
	// rewrite replaces the stream message holding record k (from 1) of the
	// chain, as someone who can write the stream would: the message is
	// deleted and its records are published again, record k altered, or
	// left out when drop is set.
	rewrite := func(c []audit.Stored, k int, drop bool) {
		t.Helper()
		msg := c[k-1].StreamSeq
		must(t, st.DeleteMsg(ctx, msg))
		var lines [][]byte
		for _, s := range c {
			switch {
			case s.StreamSeq != msg:
			case s.Record.Seq != uint64(k):
				lines = append(lines, s.Raw)
			case !drop:
				altered := s.Record
				altered.Detail = "nothing happened here"
				b, _ := json.Marshal(altered)
				lines = append(lines, b)
			}
		}
		if len(lines) > 0 {
			_, err := e.App.JS.PublishMsg(ctx, &nats.Msg{Subject: c[k-1].Subject, Data: bytes.Join(lines, []byte("\n"))})
			must(t, err)
		}
	}
	cases := []struct {
		name string
		// tamper alters the chain, given as stored (in seq order), and
		// returns the one problem verification must report.
		tamper func(chain []audit.Stored) audit.Break
	}{
		{"record 3 removed and re-published altered", func(c []audit.Stored) audit.Break {
			rewrite(c, 3, false)
			return audit.Break{Seq: 4, Problem: "seq 4: prev hash does not match record 3 (altered or replaced)"}
		}},
		{"the last record removed", func(c []audit.Stored) audit.Break {
			n := len(c)
			rewrite(c, n, true)
			return audit.Break{Seq: uint64(n), Problem: fmt.Sprintf(
				"the incident records %d audit records but the stream ends at %d: records removed from the end", n, n-1)}
		}},
		{"the last record re-published altered", func(c []audit.Stored) audit.Break {
			n := len(c)
			rewrite(c, n, false)
			return audit.Break{Seq: uint64(n), Problem: fmt.Sprintf(
				"seq %d: its hash differs from the head the incident recorded (the last record was altered)", n)}
		}},
		{"a second record 2 injected", func(c []audit.Stored) audit.Break {
			republish(c[1])
			return audit.Break{Seq: 2, Problem: "seq 2 appears twice (a forked or injected record)"}
		}},
	}
	ids := make([]string, len(cases))
	for i := range cases {
		_, _, ids[i] = leakAlert(t, e, "acme/payments-api", int64(61+i), fmt.Sprintf("d-audit-%d", i))
	}
	for _, id := range ids {
		waitState(t, e, id, incident.Contained) // the chain's end: the incident records its head
	}
	reader := newToken(t, e, "auditor", tokens.Read)
	verify := func(id string) (app.VerifyReport, string) {
		t.Helper()
		code, body := api(t, e, "GET", "/v1/audit/verify?incident="+id, reader, nil)
		var rep app.VerifyReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil || len(rep.Chains) != 1 || rep.Chains[0].Chain != id {
			t.Fatalf("verify %s: %d %s", id, code, body)
		}
		return rep, string(body)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := ids[i]
			chain := auditStored(t, e, id)
			for j, s := range chain {
				if s.Record.Seq != uint64(j+1) {
					t.Fatalf("stored record %d carries seq %d", j, s.Record.Seq)
				}
			}
			in := waitState(t, e, id, incident.Contained)
			if rep, body := verify(id); !rep.OK || uint64(len(chain)) != in.AuditSeq || in.AuditSeq < 4 {
				t.Fatalf("untouched chain (%d records, incident head at %d): %s", len(chain), in.AuditSeq, body)
			}
			want := c.tamper(chain)
			rep, body := verify(id)
			if rep.OK || rep.Chains[0].OK || len(rep.Chains[0].Breaks) != 1 || rep.Chains[0].Breaks[0] != want {
				t.Fatalf("tampered chain: %s\nwant the one break %+v", body, want)
			}
			out, code := runCLI(t, e, "audit", "verify", "--incident", id)
			if code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, want.Problem) {
				t.Fatalf("firebreak audit verify: exit %d\n%s", code, out)
			}
		})
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
	if uint64(len(recs)) != in.AuditSeq || findRecord(recs, audit.KindIncidentContained) == nil {
		t.Fatalf("%d audit records, the incident's head at %d", len(recs), in.AuditSeq)
	}
	for _, r := range recs {
		if r.Correlation != want {
			t.Errorf("audit %s (seq %d) carries correlation %q", r.Kind, r.Seq, r.Correlation)
		}
	}
	// The playbook's notify and notify_webhook steps each sent one.
	slackMsgs, hooks := e.Slack.Messages(), e.Webhook.Messages()
	if len(slackMsgs) != 1 || len(hooks) != 1 {
		t.Fatalf("%d Slack messages and %d webhooks, want 1 each", len(slackMsgs), len(hooks))
	}
	if v, ok := slackMsgs[0].Field("Correlation"); !ok || !strings.Contains(v, want) {
		t.Errorf("Slack message correlation %q", v)
	}
	if hooks[0].Correlation != want {
		t.Errorf("webhook correlation %q", hooks[0].Correlation)
	}
}
