package tickets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

// ghToken returns a GitHub PAT with a valid checksum for a 30-character random part.
func ghToken(random string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	v := crc32.ChecksumIEEE([]byte(random))
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = base62[v%62]
		v /= 62
	}
	return "ghp_" + random + string(sum[:])
}

// memPub keeps what would be published, as JSON.
type memPub struct {
	mu     sync.Mutex
	events []*exposure.Event
	json   []string
}

func (m *memPub) Publish(_ context.Context, e *exposure.Event, _ string) (bus.PublishResult, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return bus.PublishResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	m.json = append(m.json, string(b))
	return bus.PublishResult{Sequence: uint64(len(m.events))}, nil
}

func (m *memPub) SeenDelivery(context.Context, string, string) (*bus.Delivery, error) {
	return nil, nil
}
func (m *memPub) RememberDelivery(context.Context, string, string, []string) error { return nil }

func newScanner(t *testing.T) *tickets.Scanner {
	t.Helper()
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &tickets.Scanner{Detector: detect.New(), Sealer: &sealer.Sealer{Keyring: kr}}
}

var (
	key   = ghToken("R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5f") // pasted in the ticket's text
	other = ghToken("Tm3Xq9Lw2Zr7Vn4Kp8Ys1Hd6Jc0Bf5") // only in a label
)

// assertClean checks every text for the keys: not whole, and no run of
// scrub.MinRun (6) characters of their random parts — stricter than the
// 8-character runs a hint-sized leak would need.
func assertClean(t *testing.T, texts ...string) {
	t.Helper()
	for _, k := range []string{key, other} {
		providertest.AssertNoSecretRun(t, k, scrub.MinRun, texts...)
	}
}

// TestGenericTicketMetadataIsRedacted: a bridge that copies the ticket's text
// into a label, puts the key in the ticket id, the URLs or a comment id, or
// sends a second key only in a label, gets one exposure for the key in the
// text and one for the key in the label — and none of that metadata carries
// either key: not the exposures' JSON (labels, ticket, URLs, display, source,
// redact and found_in labels), not the HTTP answer, not the log. What is not
// secret stays.
func TestGenericTicketMetadataIsRedacted(t *testing.T) {
	pub := &memPub{}
	log, logs := providertest.NewLogger()
	h, err := tickets.NewGeneric(tickets.GenericConfig{Token: secret.Static(secret.New("bridge-token"))}, newScanner(t), pub, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{
		"system": "servicenow", "id": "INC0012345-" + key,
		"url":   "https://acme.service-now.com/incident.do?sys_id=" + key,
		"title": "rotate please", "body": "the deploy key is " + key, "reporter": "alice@example.com",
		"labels": map[string]string{
			"env": "prod", "team": "payments",
			"short_description": "the deploy key is " + key, // a free-text field mapped into labels
			key:                 "a key as a label name",
			"partial":           key[:24],
			"other":             "token " + other,
		},
		"comments": []map[string]string{{"id": "c1-" + key[:20], "author": "bob", "body": "still there: " + key,
			"url": "https://acme.service-now.com/comment?k=" + key}},
	}
	body, _ := json.Marshal(doc)
	r := httptest.NewRequest(http.MethodPost, "/v1/ingest/tickets", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer bridge-token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(pub.events) != 2 {
		t.Fatalf("%d exposures; want 2 (the key in the text, the key only in a label)", len(pub.events))
	}
	assertClean(t, append([]string{w.Body.String(), logs.String()}, pub.json...)...)
	byKey := map[string]*exposure.Event{}
	for _, e := range pub.events {
		byKey[e.Secret.Redacted] = e
	}
	e, o := byKey[secret.Hint(secret.New(key))], byKey[secret.Hint(secret.New(other))]
	if e == nil || o == nil {
		t.Fatalf("exposures %v; want one for each key", pub.json)
	}
	if e.Secret.Type == "" || e.Secret.Sealed == "" || e.Location.Labels["env"] != "prod" || e.Location.Labels["team"] != "payments" ||
		e.Environment != exposure.EnvProd || e.Location.Labels[tickets.LabelOwner] != "payments" ||
		!strings.HasPrefix(e.Location.Ticket, "INC0012345-") || !strings.HasPrefix(e.Location.URL, "https://acme.service-now.com/incident.do?sys_id=") ||
		!strings.HasPrefix(e.Location.Labels[tickets.LabelRedact], "body;comment:c1-") {
		t.Errorf("exposure lost what is not secret: %+v", e.Location)
	}
	if o.Location.Labels[tickets.LabelRedact] != "" || o.Location.Labels[tickets.LabelFoundIn] != "label:other" {
		t.Errorf("the key only in a label: %+v", o.Location)
	}
	if !strings.Contains(logs.String(), "INC0012345-") {
		t.Errorf("the log no longer names the ticket: %s", logs.String())
	}
}

// TestJiraTicketMetadataIsRedacted: the same for Jira webhooks, whose issue
// key becomes the exposure's ticket, its "issue" label and its browse URL,
// and whose comment id goes into the comment's URL and the redact label.
func TestJiraTicketMetadataIsRedacted(t *testing.T) {
	for name, payload := range map[string]map[string]any{
		"issue key": {
			"webhookEvent": "jira:issue_created",
			"issue": map[string]any{"key": "PAY-" + key, "self": "https://acme.atlassian.net/rest/api/2/issue/10001",
				"fields": map[string]any{"summary": "leaked", "description": "key: " + key, "project": map[string]string{"key": "PAY"}}},
		},
		"comment id and project": {
			"webhookEvent": "comment_created",
			"issue": map[string]any{"key": "PAY-12", "self": "https://acme.atlassian.net/rest/api/2/issue/10001",
				"fields": map[string]any{"project": map[string]string{"key": "PAY" + key[4:]}}},
			"comment": map[string]any{"id": "10042" + key[:26], "body": "here: " + key},
		},
	} {
		t.Run(name, func(t *testing.T) {
			pub := &memPub{}
			log, logs := providertest.NewLogger()
			h := tickets.NewJira(tickets.JiraConfig{}, newScanner(t), pub, log, nil)
			body, _ := json.Marshal(payload)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/ingest/jira", bytes.NewReader(body)))
			if w.Code != http.StatusAccepted || len(pub.events) != 1 {
				t.Fatalf("%d %s; %d exposures", w.Code, w.Body, len(pub.events))
			}
			assertClean(t, append([]string{w.Body.String(), logs.String()}, pub.json...)...)
			if e := pub.events[0]; !strings.HasPrefix(e.Location.URL, "https://acme.atlassian.net/browse/PAY-") || !strings.HasPrefix(e.Location.Ticket, "PAY-") {
				t.Errorf("exposure lost what is not secret: %s", pub.json[0])
			}
		})
	}
}

// TestGenericTokenComparedWhole: POST /v1/ingest/tickets accepts its bearer
// token and refuses, with 401 "unknown token", one of the same length that
// differs in one byte, a prefix and a longer value, publishing nothing.
// Timing is not tested: the tokens are compared as SHA-256 digests
// (secret.Value.Matches), so a length never shows.
func TestGenericTokenComparedWhole(t *testing.T) {
	const tok = "bridge-token-0123456789"
	pub := &memPub{}
	log, _ := providertest.NewLogger()
	h, err := tickets.NewGeneric(tickets.GenericConfig{Token: secret.Static(secret.New(tok))}, newScanner(t), pub, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"system":"servicenow","id":"INC1","title":"t","body":"nothing secret here"}`
	for _, c := range []struct {
		name, presented string
		code            int
		want            string
	}{
		{"the token", tok, http.StatusAccepted, ""},
		{"same length, last byte differs", tok[:len(tok)-1] + "x", http.StatusUnauthorized, `{"error":"unknown token"}`},
		{"same length, first byte differs", "x" + tok[1:], http.StatusUnauthorized, `{"error":"unknown token"}`},
		{"a prefix", tok[:len(tok)-1], http.StatusUnauthorized, `{"error":"unknown token"}`},
		{"longer", tok + "x", http.StatusUnauthorized, `{"error":"unknown token"}`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/ingest/tickets", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+c.presented)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.code || c.want != "" && strings.TrimSpace(w.Body.String()) != c.want {
			t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, w.Body, c.code, c.want)
		}
	}
	if len(pub.events) != 0 {
		t.Errorf("%d exposures from a ticket with no key", len(pub.events))
	}
}

// TestGenericSystemErrorDoesNotEchoKeys: a system name that is not a word
// is refused (400) naming it when it is short and plain, and giving only
// its length when it may be a key pasted in its place.
func TestGenericSystemErrorDoesNotEchoKeys(t *testing.T) {
	pub := &memPub{}
	log, logs := providertest.NewLogger()
	h, err := tickets.NewGeneric(tickets.GenericConfig{Token: secret.Static(secret.New("bridge-token"))}, newScanner(t), pub, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ system, want string }{
		{"service now", `{"error":"system \"service now\" must be letters, digits, '-' or '_'"}`},
		{key + " ", fmt.Sprintf(`{"error":"system (a %d-byte value, not shown) must be letters, digits, '-' or '_'"}`, len(key)+1)},
	} {
		body, _ := json.Marshal(map[string]string{"system": c.system, "id": "INC1", "body": "nothing here"})
		r := httptest.NewRequest(http.MethodPost, "/v1/ingest/tickets", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer bridge-token")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != c.want {
			t.Errorf("system %.12q…: %d %s, want 400 %s", c.system, w.Code, w.Body, c.want)
		}
		assertClean(t, w.Body.String(), logs.String())
	}
}

// TestJiraIgnoredEventDoesNotEchoKeys: the reason a Jira webhook is ignored
// names its webhookEvent when that is a word, its length when it may be a key.
func TestJiraIgnoredEventDoesNotEchoKeys(t *testing.T) {
	for _, c := range []struct{ event, want string }{
		{"jira:worklog_updated", `webhookEvent "jira:worklog_updated" is not scanned`},
		{key, fmt.Sprintf("webhookEvent (a %d-byte value, not shown) is not scanned", len(key))},
	} {
		body, _ := json.Marshal(map[string]string{"webhookEvent": c.event})
		_, ignored, err := tickets.ParseJira(body)
		if err != nil || ignored != c.want {
			t.Errorf("webhookEvent %.12q…: ignored %q, %v; want %q", c.event, ignored, err, c.want)
		}
	}
}
