package exposure

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// FuzzDecode: the responders decode every message of the exposures stream
// with Decode. Whatever it accepts must make valid, literal NATS subjects
// (its own, its dead letter's) and survive a re-encoding unchanged.
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	good := &Event{ID: NewID(now), Schema: Schema, Source: Source{Kind: SourceGitHub, Ref: "acme/api#1", DeliveryID: "d-1"},
		Secret:   Secret{Provider: "openai", Type: "openai_api_key"},
		Location: Location{Repo: "acme/api", Path: "a.py", Line: 3}, Environment: EnvUnknown, ObservedAt: now, ReceivedAt: now,
		Alert: &Alert{Repository: "acme/api", Number: 1, Action: "created"}}
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"schema":"firebreak.exposure.v1"}`))
	f.Add([]byte(strings.Replace(string(b), `"openai"`, `"open ai.*"`, 1)))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		for _, s := range []string{Subject(e), DeadSubject(e)} {
			if !server.IsValidLiteralSubject(s) {
				t.Fatalf("accepted event makes subject %q", s)
			}
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded event no longer decodes: %v", err)
		}
		if Subject(e2) != Subject(e) || e2.ID != e.ID || e2.Secret.Fingerprint != e.Secret.Fingerprint {
			t.Fatal("re-encoding changed the event")
		}
	})
}

// FuzzToken: any string becomes one valid subject token (incident ids and
// source kinds go into subjects through it).
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "inc_0123", "a.b", "*", ">", "a b\tc", "\x00", "ü", "\u00a0", "\f\v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := Token(s)
		if tok == "" || !server.IsValidLiteralSubject("firebreak.audit."+tok) || strings.Contains(tok, ".") {
			t.Fatalf("Token(%q) = %q is not one literal subject token", s, tok)
		}
	})
}
