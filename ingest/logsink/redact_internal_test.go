package logsink

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func testPipeline(t *testing.T) *Pipeline {
	t.Helper()
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{Scanner: detect.New(), Sealer: &sealer.Sealer{Keyring: kr}}
}

// pieces returns where text keeps a piece of key: any run of 8 bytes beyond
// the key's public prefix.
func pieces(key, text string) []int {
	public, _, _ := strings.Cut(secret.Hint(secret.New(key)), "…")
	var at []int
	for i := max(len(public)-7, 0); i+8 <= len(key); i++ {
		if strings.Contains(text, key[i:i+8]) {
			at = append(at, i)
		}
	}
	return at
}

// escapeEvery writes every nth byte of s in format (a \u escape).
func escapeEvery(s string, n int, format string) string {
	var b strings.Builder
	for i := range len(s) {
		if i%n == n-1 {
			fmt.Fprintf(&b, format, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// TestLabelsKeepNoPieceOfAKey: labels that hold a key cut off by the sender
// (its front, its back), or a key JSON-escaped in a label whose value is
// JSON text, while the whole key is in the line: the key is found, and the
// labels and the stream keep no piece of it beyond its public prefix.
func TestLabelsKeepNoPieceOfAKey(t *testing.T) {
	p := testPipeline(t)
	key := seedOpenAI
	for _, c := range []struct {
		name  string
		label string
	}{
		{"front, 150 bytes", "api_key=" + key[:150]},
		{"front, 20 bytes", "api_key=" + key[:20]},
		{"front, 15 bytes", "api_key=" + key[:15]},
		{"back, 140 bytes", key[len(key)-140:] + " (cut)"},
		{"back, 11 bytes", key[len(key)-11:]},
		{"whole, past the cut", strings.Repeat("x", 250) + key},
		// Every 11th byte escaped: the pieces between escapes are shorter
		// than a run, longer than what may remain.
		{"whole, escaped", `{"k":"` + escapeEvery(key, 11, `\u%04X`) + `"}`},
		{"whole, escaped twice", `{"k":"` + escapeEvery(key, 11, `\\u%04x`) + `"}`},
		{"two cut-off copies", key[:100] + " / " + key[60:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := Record{Line: []byte("request with " + key), Base: map[string]string{"app": "api", "cmdline": c.label},
				Extra: map[string]string{"note": c.label}}
			groups, _ := p.detect(&Batch{Kind: "loki", Records: []Record{rec}})
			if len(groups) != 1 || groups[0].found.Secret.Reveal() != key {
				t.Fatalf("%d groups", len(groups))
			}
			g := groups[0]
			texts := []string{g.stream, g.labels["cmdline"], g.labels["note"]}
			for i, text := range texts {
				if at := pieces(key, text); len(at) > 0 {
					t.Errorf("text %d (%d bytes) keeps pieces of the key from bytes %v", i, len(text), at)
				}
				if len(text) > maxStream {
					t.Errorf("text %d: %d bytes", i, len(text))
				}
			}
		})
	}
}

// TestEscapedKeyIsSealedDecoded: however a JSON encoder writes a key (every
// byte as \uXXXX, upper or lower case; '/' as \/; and a JSON line inside
// JSON), the secret sealed is the key itself, and the only finding.
func TestEscapedKeyIsSealedDecoded(t *testing.T) {
	p := testPipeline(t)
	everyU := func(s string, upper bool) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			if upper {
				fmt.Fprintf(&b, `\u%04X`, c)
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		}
		return b.String()
	}
	for _, c := range []struct{ name, line string }{
		{"every byte \\u, upper case", `{"aws_access_key_id":"` + seedAWSID + `","aws_secret_access_key":"` + everyU(seedAWS, true) + `"}`},
		{"every byte \\u, lower case", `{"aws_access_key_id":"` + seedAWSID + `","aws_secret_access_key":"` + everyU(seedAWS, false) + `"}`},
		{"\\/ and \\u002B", `{"aws_access_key_id":"` + seedAWSID + `","aws_secret_access_key":"` + seedAWSEsc + `"}`},
		{"json line in json", `{"log":"{\"aws_access_key_id\":\"` + seedAWSID + `\",\"aws_secret_access_key\":\"` +
			strings.ReplaceAll(seedAWSEsc, `\`, `\\`) + `\"}\n","stream":"stdout"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !json.Valid([]byte(c.line)) {
				t.Fatal("not JSON")
			}
			rec := Record{Line: []byte(c.line), Fields: []byte(c.line)}
			groups, _ := p.detect(&Batch{Kind: "logs", Records: []Record{rec}})
			var got []string
			for _, g := range groups {
				if s := g.found.Secret.Reveal(); s != seedAWSID {
					got = append(got, s)
				}
				for k, v := range g.labels {
					if at := pieces(seedAWS, k+"="+v); len(at) > 0 {
						t.Errorf("label %s keeps pieces of the key from bytes %v", k, at)
					}
				}
			}
			if len(got) != 1 || got[0] != seedAWS {
				t.Fatalf("%d secrets besides the key id; want the key alone (%v)", len(got), len(got) == 1 && strings.Contains(got[0], "u00"))
			}
		})
	}
}
