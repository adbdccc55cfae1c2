package openaiemu_test

import (
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
)

// TestDistinctKeysNeverShareARedactedForm: 20,000 random keys would share a
// redacted form almost surely (62⁴ forms); DistinctKeys' never do.
func TestDistinctKeysNeverShareARedactedForm(t *testing.T) {
	var d openaiemu.DistinctKeys
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		raw := d.Next("sk-proj-")
		if !strings.HasPrefix(raw, "sk-proj-") || !strings.Contains(raw, openaiemu.Marker) {
			t.Fatalf("key %d is not a project key", i)
		}
		r := openaiemu.DefaultRedact(raw)
		if seen[r] {
			t.Fatalf("key %d repeats the redacted form %s", i, r)
		}
		seen[r] = true
	}
}
