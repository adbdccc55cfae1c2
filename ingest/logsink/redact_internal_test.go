package logsink

import (
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

// TestLabelsKeepNoPieceOfAKey: labels that hold a key cut off by the sender
// (its front, its back) while the whole key is in the line: the key is
// found, and the labels and the stream keep no piece of it beyond its
// public prefix.
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
