package providertest

import (
	"fmt"
	"strings"
	"testing"
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
