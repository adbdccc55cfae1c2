package stack_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func marker(id string) string { return "[secret removed by Firebreak, incident " + id + "]" }

// jiraDoc is a comment in Atlassian Document Format holding raw twice: once
// in a code-marked text node between other text, once in a code block.
func jiraDoc(raw string) json.RawMessage {
	return json.RawMessage(`{"type":"doc","version":1,"content":[` +
		`{"type":"paragraph","content":[{"type":"text","text":"Prod payments fail with 401 — tried this key: "},` +
		`{"type":"text","text":"` + raw + `","marks":[{"type":"code"}]},{"type":"text","text":" (from the vault ✓)","marks":[{"type":"em"}]}]},` +
		`{"type":"codeBlock","attrs":{"language":"bash"},"content":[{"type":"text","text":"export OPENAI_API_KEY=` + raw + `\ncurl -s https://api.openai.com/v1/models"}]}]}`)
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return v
}

func leakKey(e *env) string {
	p := e.OpenAI.AddProject("tickets")
	raw, _ := e.OpenAI.AddKey(p, openaiemu.Owner{Type: "user", Name: "bob", Email: "bob@example.com"})
	return raw
}

// TestJiraCommentRevokedAndRedacted: a Jira comment_created webhook with an
// OpenAI key pasted in it → the key is revoked at the OpenAI emulator, the
// comment at the Jira emulator holds the marker where the key was and is
// otherwise unchanged, and a comment names the incident. A replayed
// delivery (same X-Atlassian-Webhook-Identifier) and a later event carrying
// the same key cause no second action.
func TestJiraCommentRevokedAndRedacted(t *testing.T) {
	e := start(t, stack.Options{})
	raw := leakKey(e)
	key := e.Jira.AddIssue("PAY", "Payments fail in prod", nil)
	cid := e.Jira.AddComment(key, jiraDoc(raw), "dev-bob")
	body := e.Jira.CommentEvent("comment_created", key, cid)
	ctx := context.Background()

	code, resp, err := e.PostJira(ctx, "jira-delivery-1", body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("jira webhook: %d %s %v", code, resp, err)
	}
	var out struct {
		Findings    int      `json:"findings"`
		ExposureIDs []string `json:"exposure_ids"`
	}
	_ = json.Unmarshal(resp, &out)
	if out.Findings != 1 {
		t.Fatalf("findings %d, want 1 (one secret, pasted twice): %s", out.Findings, resp)
	}
	id := e.IncidentFor(raw)
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, stack.Terminal)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != incident.Contained {
		t.Fatalf("incident %s: %s (%s)", id, in.State, in.Error)
	}
	if e.OpenAI.Live(raw) {
		t.Fatal("the key pasted in Jira is still live")
	}
	x := in.Exposures[0]
	if x.Source != exposure.SourceJira || x.Location.Ticket != key || x.Environment != exposure.EnvProd ||
		x.Location.Labels["owner"] != "payments-team" || x.Location.Labels["redact"] != "comment:"+cid {
		t.Fatalf("exposure: %+v", x)
	}
	// The comment: the secret replaced by the marker, everything else as it was.
	is, _ := e.Jira.Issue(key)
	got := is.Comments[0].Body
	want := strings.ReplaceAll(string(jiraDoc(raw)), raw, marker(id))
	if !reflect.DeepEqual(decodeAny(t, got), decodeAny(t, []byte(want))) {
		t.Fatalf("redacted comment:\n%s\nwant:\n%s", strings.ReplaceAll(string(got), raw, secret.Hint(secret.New(raw))), want)
	}
	if len(is.Comments) != 2 {
		t.Fatalf("%d comments, want the original and Firebreak's notice", len(is.Comments))
	}
	notice := e.Jira.CommentText(key, is.Comments[1].ID)
	if !strings.Contains(notice, id) || !strings.Contains(notice, "revoked") || strings.Contains(notice, raw) {
		t.Fatalf("notice comment: %q", notice)
	}

	// Replayed delivery: answered as a duplicate, nothing published.
	code, resp, _ = e.PostJira(ctx, "jira-delivery-1", body)
	if code != http.StatusOK || !strings.Contains(string(resp), `"duplicate":true`) {
		t.Fatalf("replayed delivery: %d %s", code, resp)
	}
	// A later event (a new delivery) still carrying the key: merged into the
	// contained incident, no second revocation or redaction.
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	p["webhookEvent"] = "comment_updated"
	body2, _ := json.Marshal(p)
	if code, resp, _ = e.PostJira(ctx, "jira-delivery-2", body2); code != http.StatusAccepted {
		t.Fatalf("second delivery: %d %s", code, resp)
	}
	if _, err := e.WaitIncident(ctxT(t, 20*time.Second), id, func(in *incident.Incident) bool { return len(in.Exposures) == 2 }); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	js := e.Jira.Server()
	if n := js.Count("PUT /rest/api/3/issue/" + key + "/comment/"); n != 1 {
		t.Errorf("comment edits at Jira: %d, want 1", n)
	}
	if n := js.Count("POST /rest/api/3/issue/" + key + "/comment"); n != 1 {
		t.Errorf("comments added at Jira: %d, want 1", n)
	}
	if n := deletes(e.OpenAI.Server()); n != 1 {
		t.Errorf("revocations at OpenAI: %d, want 1", n)
	}
	exps := 0
	for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
		if strings.HasPrefix(m.Subject, "firebreak.exposures.jira.") {
			exps++
		}
	}
	if exps != 2 {
		t.Errorf("jira exposures on the stream: %d, want 2 (the replay published nothing)", exps)
	}
}

// TestGitHubIssueCommentRedactedByteForByte: an issue_comment webhook with a
// GitHub token → the token is revoked, and the comment's new body is the old
// one with exactly the token's bytes replaced.
func TestGitHubIssueCommentRedactedByteForByte(t *testing.T) {
	e := start(t, stack.Options{})
	tok := e.GitHub.AddToken(github.PrefixPAT, "dev-carol")
	n := e.GitHub.AddIssue("acme", "web", "Login broken on staging", "Steps in the comments.")
	before := "Repro:\r\n```sh\nexport GITHUB_TOKEN=" + tok + "\ncurl -H \"Authorization: token " + tok + "\" …\n```\n" +
		"<b>html</b> &amp; ünïcødé 🚀 \\n tab\tend  \n"
	cid := e.GitHub.AddIssueComment("acme", "web", n, before)
	payload, _ := json.Marshal(map[string]any{
		"action": "created",
		"issue": map[string]any{"number": n, "title": "Login broken on staging", "body": "Steps in the comments.",
			"html_url": fmt.Sprintf("https://github.com/acme/web/issues/%d", n), "user": map[string]any{"login": "dev-carol"}},
		"comment": map[string]any{"id": cid, "body": before, "user": map[string]any{"login": "dev-carol"},
			"html_url": fmt.Sprintf("https://github.com/acme/web/issues/%d#issuecomment-%d", n, cid)},
		"repository": map[string]any{"full_name": "acme/web", "name": "web", "private": true},
		"sender":     map[string]any{"login": "dev-carol"},
	})
	code, resp, err := e.PostGitHub(context.Background(), "issue_comment", "gh-issue-1", payload)
	if err != nil || code != http.StatusAccepted || !strings.Contains(string(resp), `"findings":1`) {
		t.Fatalf("issue_comment webhook: %d %s %v", code, resp, err)
	}
	id := e.IncidentFor(tok)
	in, err := e.WaitIncident(ctxT(t, 30*time.Second), id, stack.Terminal)
	if err != nil || in.State != incident.Contained {
		t.Fatalf("incident: %v %v", in, err)
	}
	if !e.GitHub.Revoked(tok) {
		t.Fatal("the token pasted in the comment was not revoked")
	}
	after := e.GitHub.IssueComment(cid)
	if want := strings.ReplaceAll(before, tok, marker(id)); after != want {
		t.Fatalf("comment after redaction differs from the original with the token replaced:\n got %q\nwant %q",
			strings.ReplaceAll(after, tok, "<TOKEN>"), strings.ReplaceAll(want, tok, "<TOKEN>"))
	}
	cs := e.GitHub.IssueComments("acme", "web", n)
	if len(cs) != 2 || !strings.Contains(cs[1], id) || !strings.Contains(cs[1], "revoked") {
		t.Fatalf("comments: %d, notice %q", len(cs), cs[len(cs)-1])
	}
}

// partnerBody renders a partner-program payload of n tokens.
func partnerBody(n int, typ string) ([]byte, []string) {
	var ms []ghingest.PartnerMatch
	var toks []string
	for i := 0; i < n; i++ {
		tok := fmt.Sprintf("acme_live_%032x", time.Now().UnixNano()+int64(i)*7919)
		toks = append(toks, tok)
		ms = append(ms, ghingest.PartnerMatch{Token: tok, Type: typ,
			URL: fmt.Sprintf("https://github.com/octo/app-%d/blob/0123456789abcdef0123456789abcdef01234567/config/app.env", i%7), Source: "content"})
	}
	b, _ := json.Marshal(ms)
	return b, toks
}

func partnerExposures(t *testing.T, e *env) int {
	n := 0
	for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
		if strings.HasPrefix(m.Subject, "firebreak.exposures.github_partner.") {
			n++
		}
	}
	return n
}

// TestPartnerProgram: a batch of 500 matches with a valid signature is
// answered 200 after every exposure was published; a bad signature is 401
// and publishes nothing; a key GitHub rotated in is fetched once; made-up
// key identifiers never make Firebreak fetch per request.
func TestPartnerProgram(t *testing.T) {
	e := start(t, stack.Options{})
	ctx := context.Background()
	body, toks := partnerBody(500, "acme_api_token")
	code, resp, err := e.PostPartner(ctx, body)
	if err != nil || code != http.StatusOK || !strings.Contains(string(resp), `"accepted":500`) {
		t.Fatalf("valid batch: %d %s %v", code, resp, err)
	}
	if n := partnerExposures(t, e); n != 500 {
		t.Fatalf("partner exposures on the stream: %d, want 500", n)
	}

	// Bad signature: a signature of another body.
	other, _ := partnerBody(3, "acme_api_token")
	kid, sig := e.GitHub.SignPartner(other)
	body3, _ := partnerBody(3, "acme_api_token")
	code, resp, _ = e.PostPartnerSigned(ctx, body3, kid, sig)
	if code != http.StatusUnauthorized || !strings.Contains(string(resp), "does not match") {
		t.Fatalf("bad signature: %d %s", code, resp)
	}
	for _, bad := range []string{"", "not base64!", "MEUCIQ=="} {
		if code, resp, _ = e.PostPartnerSigned(ctx, body3, kid, bad); code != http.StatusUnauthorized {
			t.Fatalf("signature %q: %d %s", bad, code, resp)
		}
	}
	if n := partnerExposures(t, e); n != 500 {
		t.Fatalf("a rejected batch published: %d exposures, want 500", n)
	}

	// GitHub rotates its key: the unknown identifier is fetched once.
	fetches := e.GitHub.PartnerKeyFetches()
	newKID := e.GitHub.RotatePartnerKey()
	body4, _ := partnerBody(2, "acme_api_token")
	kid4, sig4 := e.GitHub.SignPartner(body4)
	if kid4 != newKID {
		t.Fatal("the emulator did not sign with the new key")
	}
	if code, resp, _ = e.PostPartnerSigned(ctx, body4, kid4, sig4); code != http.StatusOK {
		t.Fatalf("batch signed with a rotated key: %d %s", code, resp)
	}
	if got := e.GitHub.PartnerKeyFetches() - fetches; got != 1 {
		t.Fatalf("key fetches for a rotated key: %d, want 1", got)
	}
	// A made-up identifier: 401, one refetch, then never again.
	fetches = e.GitHub.PartnerKeyFetches()
	for i := 0; i < 5; i++ {
		if code, _, _ = e.PostPartnerSigned(ctx, body4, fmt.Sprintf("%064x", 1), sig4); code != http.StatusUnauthorized {
			t.Fatalf("unknown key id: %d", code)
		}
	}
	if got := e.GitHub.PartnerKeyFetches() - fetches; got != 1 {
		t.Fatalf("one made-up identifier sent 5 times caused %d key fetches, want 1", got)
	}
	// A flood of distinct made-up identifiers: refetches stay rate-limited.
	fetches = e.GitHub.PartnerKeyFetches()
	for i := 0; i < 50; i++ {
		if code, _, _ = e.PostPartnerSigned(ctx, body4, fmt.Sprintf("%064x", i+2), sig4); code != http.StatusUnauthorized {
			t.Fatalf("unknown key id: %d", code)
		}
	}
	if got := e.GitHub.PartnerKeyFetches() - fetches; got > 3 {
		t.Fatalf("50 made-up identifiers caused %d key fetches, want at most the burst of 3", got)
	}
	// No token of the batch reached the answers or the stream in plaintext.
	var texts []string
	texts = append(texts, string(resp), e.logs.String())
	for _, m := range bustest.StreamMessages(t, e.App.JS, exposure.StreamExposures) {
		texts = append(texts, string(m.Data))
	}
	providertest.AssertNoSecret(t, toks[0], texts...)
	providertest.AssertNoSecret(t, toks[499], texts...)
}

// TestTicketCanariesNeverLeak sends canary keys through the three ticket
// routes and greps logs, streams, buckets and HTTP answers for them.
func TestTicketCanariesNeverLeak(t *testing.T) {
	e := start(t, stack.Options{})
	ctx := context.Background()
	jiraKey := leakKey(e)
	ghTok := e.GitHub.AddToken(github.PrefixPAT, "dev-dan")
	genericKey := leakKey(e)
	var responses []string

	issue := e.Jira.AddIssue("PAY", "Key in description", json.RawMessage(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"use `+jiraKey+` for now"}]}]}`))
	code, b, _ := e.PostJira(ctx, "canary-jira", e.Jira.IssueEvent("jira:issue_created", issue, true))
	responses = append(responses, string(b))
	if code != http.StatusAccepted {
		t.Fatalf("jira: %d %s", code, b)
	}
	n := e.GitHub.AddIssue("acme", "api", "CI token", "token: "+ghTok)
	p, _ := json.Marshal(map[string]any{"action": "opened", "issue": map[string]any{"number": n, "title": "CI token", "body": "token: " + ghTok,
		"html_url": "https://github.com/acme/api/issues/1"}, "repository": map[string]any{"full_name": "acme/api"}})
	code, b, _ = e.PostGitHub(ctx, "issues", "canary-issue", p)
	responses = append(responses, string(b))
	if code != http.StatusAccepted {
		t.Fatalf("issues: %d %s", code, b)
	}
	g, _ := json.Marshal(map[string]any{"system": "servicenow", "id": "INC0012345", "title": "API down",
		"body": "key=" + genericKey, "labels": map[string]string{"env": "prod"},
		"comments": []any{map[string]any{"id": "c1", "author": "eve", "body": "same key " + genericKey}}})
	code, b, _ = e.PostTickets(ctx, g)
	responses = append(responses, string(b))
	if code != http.StatusAccepted || !strings.Contains(string(b), `"findings":1`) {
		t.Fatalf("tickets: %d %s", code, b)
	}
	for _, raw := range []string{jiraKey, ghTok, genericKey} {
		if _, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(raw), stack.Terminal); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, e)
	// The Jira description and the GitHub issue body were redacted.
	if is, _ := e.Jira.Issue(issue); strings.Contains(string(is.Description), jiraKey) {
		t.Fatal("the Jira description still holds the key")
	}
	if _, body := e.GitHub.Issue("acme", "api", n); strings.Contains(body, ghTok) || !strings.Contains(body, "[secret removed by Firebreak") {
		t.Fatalf("the issue body was not redacted: %q", strings.ReplaceAll(body, ghTok, "<TOKEN>"))
	}

	texts := ticketCanaryTexts(t, e, responses...)
	if len(texts) < 30 {
		t.Fatalf("only %d texts collected", len(texts))
	}
	for name, c := range map[string]string{"jira": jiraKey, "github issue": ghTok, "generic": genericKey} {
		t.Run(name, func(t *testing.T) { providertest.AssertNoSecret(t, c, texts...) })
	}
}

// ticketCanaryTexts collects what a ticket's key must appear in none of:
// Firebreak's log, the given HTTP answers, every message (subject, data,
// headers) of the exposure, audit and dead-letter streams, every entry (key
// and value) of the incident, delivery and GitHub buckets, the incident list
// and the metrics, and every Slack message.
func ticketCanaryTexts(t *testing.T, e *env, responses ...string) []string {
	t.Helper()
	ctx := context.Background()
	texts := append([]string{e.logs.String()}, responses...)
	for _, stream := range []string{exposure.StreamExposures, exposure.StreamAudit, exposure.StreamDead} {
		for _, m := range bustest.StreamMessages(t, e.App.JS, stream) {
			texts = append(texts, m.Subject, string(m.Data))
			for k, vs := range m.Header {
				texts = append(texts, k+": "+strings.Join(vs, ","))
			}
		}
	}
	for _, bucket := range []string{exposure.BucketIncidents, exposure.BucketDeliveries, ghingest.BucketGitHub} {
		kv, err := e.App.JS.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := kv.Keys(ctx)
		for _, k := range keys {
			v, err := kv.Get(ctx, k)
			if err == nil {
				texts = append(texts, k, string(v.Value()))
			}
		}
	}
	tok, _ := os.ReadFile(filepath.Join(e.App.Cfg.DataDir, "admin-token"))
	for _, path := range []string{"/v1/incidents", "/metrics"} {
		texts = append(texts, string(getJSON(t, e.URL+path, strings.TrimSpace(string(tok))).raw))
	}
	for _, m := range e.Slack.Messages() {
		texts = append(texts, m.AllText())
	}
	return texts
}

// TestPartnerFeedbackAndRevocation: with feedback on, the answer labels a
// live mapped key true_positive and a dead one false_positive (tokens only
// hashed), and the live key is then revoked by the responders.
func TestPartnerFeedbackAndRevocation(t *testing.T) {
	e := start(t, stack.Options{Configure: func(c *config.Config) {
		c.GitHub.Partner.Feedback = true
		c.GitHub.Partner.Types = map[string]config.PartnerType{"acme_openai_key": {Provider: "openai", Type: "openai_api_key"}}
	}})
	live := leakKey(e)
	unknown := "sk-proj-" + strings.Repeat("Qx7", 20) + "T3BlbkFJ" + strings.Repeat("Zy9", 20) // well-formed, never issued
	body, _ := json.Marshal([]ghingest.PartnerMatch{
		{Token: live, Type: "acme_openai_key", URL: "https://github.com/octo/a/blob/0123456789abcdef0123456789abcdef01234567/.env", Source: "content"},
		{Token: unknown, Type: "acme_openai_key", URL: "", Source: "commit"},
	})
	code, resp, err := e.PostPartner(context.Background(), body)
	if err != nil || code != http.StatusOK {
		t.Fatalf("feedback batch: %d %s %v", code, resp, err)
	}
	var fb []ghingest.FeedbackEntry
	if err := json.Unmarshal(resp, &fb); err != nil {
		t.Fatalf("feedback answer is not GitHub's array: %s", resp)
	}
	labels := map[string]string{}
	for _, f := range fb {
		labels[f.TokenHash] = f.Label
		if f.TokenType != "acme_openai_key" {
			t.Fatalf("token_type %q", f.TokenType)
		}
	}
	if got := labels[sha256Hex(live)]; got != "true_positive" {
		t.Fatalf("live key labelled %q (%s)", got, resp)
	}
	if got := labels[sha256Hex(unknown)]; got != "false_positive" || len(fb) != 2 {
		t.Fatalf("never-issued key labelled %q (%s)", got, resp)
	}
	providertest.AssertNoSecret(t, live, string(resp))
	if in, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(live), stack.Terminal); err != nil || in.State != incident.Contained {
		t.Fatalf("partner incident: %v %v", in, err)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
