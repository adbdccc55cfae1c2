package tickets

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func FuzzParseJira(f *testing.F) {
	f.Add([]byte(`{"webhookEvent":"comment_created","issue":{"key":"PAY-1","self":"https://a.atlassian.net/rest/api/2/issue/1","fields":{"project":{"key":"PAY"}}},"comment":{"id":"1","body":"x"}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_created","issue":{"key":"PAY-1","fields":{"summary":"s","description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"t"}]}]}}}}`))
	f.Add([]byte(`{"webhookEvent":"jira:issue_updated","issue":{"key":"A-1","fields":{"description":null}}}`))
	f.Add([]byte(`{"webhookEvent":"sprint_started"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ignored, err := ParseJira(b)
		if err != nil || ignored != "" {
			return
		}
		tk, err := p.Ticket("", map[string]ProjectHint{"PAY": {Environment: "prod"}})
		if err != nil {
			return
		}
		if tk.Ref != p.Issue.Key || len(tk.Fields) == 0 {
			t.Fatalf("ticket %+v from a valid payload", tk)
		}
	})
}

func FuzzParseGeneric(f *testing.F) {
	f.Add([]byte(`{"system":"servicenow","id":"INC1","body":"b","comments":[{"id":"c","body":"x"}],"labels":{"env":"prod"}}`))
	f.Add([]byte(`{"system":"","id":""}`))
	f.Add([]byte(`{"system":"zendesk","id":"1","extra":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGeneric(b)
		if err != nil {
			return
		}
		tk := g.Ticket()
		if tk.Ref == "" || tk.System == "" || len(tk.Fields) != 2+len(g.Comments) {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add("sha256=" + strings.Repeat("ab", 32))
	f.Add("SHA256=" + strings.Repeat("0", 64))
	f.Add("sha1=abc")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		b, err := ParseSignature(h)
		if err == nil && len(b) != 32 {
			t.Fatalf("accepted %d-byte digest", len(b))
		}
		key := secret.New("k")
		body := []byte(h)
		if verifyHMAC(key, Sign(key, body), body) != "" {
			t.Fatal("a signature made by Sign does not verify")
		}
	})
}

func FuzzRichText(f *testing.F) {
	f.Add([]byte(`"plain"`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"type":"doc","version":1,"content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"https://h"}}]}]}`))
	f.Add([]byte(`"line one\nAKIA\u0000 \"quoted\""`))
	f.Fuzz(func(t *testing.T, b []byte) {
		text, err := RichText(json.RawMessage(b))
		// A JSON string is plain text or wiki markup: its value, whole.
		var s string
		if json.Unmarshal(b, &s) == nil {
			if err != nil || text != s {
				t.Fatalf("the string's text is %d bytes (err %v), want its %d-byte value", len(text), err, len(s))
			}
		}
	})
}

// FuzzExposuresMetadata plants a GitHub token, between spaces, in one part of
// a ticket's metadata chosen by the fuzzer (system, ref, URL, project, owner,
// a label's key or value, a comment's id or URL), with fuzzed text around it,
// in every other part and in the body. Whatever the text: the token is an
// exposure, every exposure says where it was found, no exposure's location
// or source holds a run of scrub.MinRun characters of the token, and the
// redact label names a text only if that text holds the token.
func FuzzExposuresMetadata(f *testing.F) {
	const tok = "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"
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(f.TempDir(), "keyring.json"))
	if err != nil {
		f.Fatal(err)
	}
	s := &Scanner{Detector: detect.New(), Sealer: &sealer.Sealer{Keyring: kr}}
	f.Add(uint8(0), "a", "b", "nothing here")
	f.Add(uint8(5), "env", "prod", "")
	f.Add(uint8(6), "token", tok[:12], "the key is "+tok)
	f.Add(uint8(8), "https://h/?t=", "&x=1", "see "+tok[4:])
	f.Add(uint8(7), "c1-", tok[10:30], "AKIAQ3EGRT5YKZ4MNW7X")
	// Five characters of the token after a control character: JSON writes
	// "\u001d7Yf5G", whose escape ends in a sixth. The text holds no run.
	f.Add(uint8(2), "0", "\x1d"+tok[27:32], "")
	f.Fuzz(func(t *testing.T, slot uint8, a, b, text string) {
		planted := a + " " + tok + " " + b
		part := func(i uint8, def string) string {
			if slot%9 == i {
				return planted
			}
			return def
		}
		labels := map[string]string{"env": b}
		switch slot % 9 {
		case 5:
			labels[planted] = b
		case 6:
			labels[a] = planted
		}
		tk := Ticket{System: part(0, "servicenow"), Ref: part(1, a), URL: part(2, "https://t/"+b), Project: part(3, b), Owner: part(4, a),
			Labels: labels,
			Fields: []Field{{Name: "body", Text: text}, {Name: "comment", CommentID: part(7, "c"+a), Text: b, URL: part(8, "https://t/c/"+a)}}}
		src := exposure.Source{Kind: exposure.SourceTicket, Ref: tk.System + ":" + tk.Ref, URL: tk.URL, DeliveryID: "d"}
		items, err := s.Exposures(context.Background(), tk, src)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, it := range items {
			e := it.Event
			// The strings themselves, not their JSON: an escape such as
			// \u001d can end in a character that continues a run.
			providertest.AssertNoSecretRun(t, tok, scrub.MinRun, jsonStrings(t, e.Location, e.Source)...)
			if e.Location.Labels[LabelFoundIn] == "" {
				t.Errorf("an exposure (%s) says nowhere where it was found", e.Secret.Type)
			}
			if e.Secret.Redacted != secret.Hint(secret.New(tok)) {
				continue
			}
			found = true
			for _, r := range strings.Split(e.Location.Labels[LabelRedact], ";") {
				if r == "" {
					continue
				}
				var holds bool
				for _, fld := range tk.Fields {
					if strings.HasPrefix(r, fld.Name) && strings.Contains(fld.Text, tok) {
						holds = true
					}
				}
				if !holds {
					t.Errorf("the redact label names %q, which does not hold the token", r)
				}
			}
		}
		if !found {
			t.Fatalf("the token planted in part %d is no exposure (%d exposures)", slot%9, len(items))
		}
	})
}

// jsonStrings returns every string, key or value, in the JSON form of vs,
// decoded: what a reader of the event sees.
func jsonStrings(t *testing.T, vs ...any) []string {
	t.Helper()
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				out = append(out, k)
				walk(x)
			}
		}
	}
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var tree any
		if err := json.Unmarshal(b, &tree); err != nil {
			t.Fatal(err)
		}
		walk(tree)
	}
	return out
}
