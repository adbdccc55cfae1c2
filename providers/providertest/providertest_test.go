package providertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
)

// recorder captures failures instead of failing the test.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestAssertNoSecret(t *testing.T) {
	const canary = "sk-proj-CANARYabcdefghijklmnopqrstuvwxyz0123"
	for _, tc := range []struct {
		text string
		leak bool
	}{
		{"nothing here", false},
		{"sk-proj-…0123 is the hint", false},
		{"whole " + canary + " key", true},
		{"a run: abcdefghijklmn", true}, // 12+ characters of the key
		{"sk-proj-CANA", true},          // its first 12 characters
		{"sk-proj-CAN", false},          // 11 are allowed
	} {
		r := &recorder{TB: t}
		AssertNoSecret(r, canary, "clean", tc.text)
		if got := len(r.failures) > 0; got != tc.leak {
			t.Errorf("AssertNoSecret(%q) failed=%v, want %v", tc.text, got, tc.leak)
		}
		for _, f := range r.failures {
			if strings.Contains(f, canary[8:20]) {
				t.Errorf("the failure message itself leaks the canary: %s", f)
			}
		}
	}
}

func TestAssertNoSecretRun(t *testing.T) {
	const canary = "sk-proj-CANARYabcdefghijklmnopqrstuvwxyz0123"
	for _, tc := range []struct {
		text string
		leak bool
	}{
		{"sk-proj-…0123 is the hint", false},
		{"a run: uvwxyz", true},       // 6 characters of its random part
		{"a run: uvwxy", false},       // 5 are allowed
		{"sk-proj-C", true},           // the prefix and one character: a run of 6 beyond the prefix
		{"sk-proj- is public", false}, // the prefix alone
	} {
		r := &recorder{TB: t}
		AssertNoSecretRun(r, canary, scrub.MinRun, "clean", tc.text)
		if got := len(r.failures) > 0; got != tc.leak {
			t.Errorf("AssertNoSecretRun(%q) failed=%v, want %v", tc.text, got, tc.leak)
		}
	}
}
