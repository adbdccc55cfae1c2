package openai

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// TestListingMatchesAsMatchRedacted: the listing's index finds exactly the
// keys a linear MatchRedacted scan finds, in listing order, for redacted
// values of every shape (masked with '.', '*' or '…', short or empty heads
// and tails, unmasked, empty), and leaves out the keys deleted since.
func TestListingMatchesAsMatchRedacted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	leakedKeys := make([]string, 40)
	for i := range leakedKeys {
		leakedKeys[i] = "sk-" + word(r.IntN(10))
	}
	masks := []string{"...", "*", "…", "**…"}
	for round := range 200 {
		keys := make([]candidate, 60)
		for i := range keys {
			var red string
			switch r.IntN(6) {
			case 0:
				red = leakedKeys[r.IntN(len(leakedKeys))] // unmasked, identical
			case 1:
				red = "" // nothing
			default:
				head := "sk-" + word(r.IntN(4))
				if r.IntN(5) == 0 {
					head = word(r.IntN(3))
				}
				red = head + masks[r.IntN(len(masks))] + word(r.IntN(5))
			}
			keys[i] = candidate{project: "p", key: projectKey{ID: string(rune('A'+i%26)) + string(rune('a'+i/26)), RedactedValue: red}}
		}
		l := newListing(time.Time{}, keys)
		if round%2 == 1 {
			l.forget(keys[r.IntN(len(keys))].key.ID)
		}
		for _, raw := range leakedKeys {
			leaked := secret.New(raw)
			var want []candidate
			for _, k := range keys {
				if MatchRedacted(k.key.RedactedValue, leaked) && !l.gone[k.key.ID] {
					want = append(want, k)
				}
			}
			got := l.matching(leaked)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, key %s: index found %v, linear scan %v", round, secret.Hint(leaked), got, want)
			}
		}
	}
}
