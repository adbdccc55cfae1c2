package tickets

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
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
