package scrub

import (
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

func TestText(t *testing.T) {
	const key = "sk-proj-Zq4Wn8Rt2Ym6Kp0Lx3Vb7Hc1Jd5Fg9Ts"
	for _, tc := range []struct {
		name, secret, in, want string
	}{
		{"nothing to remove", key, "quota exceeded", "quota exceeded"},
		{"whole key, prefix and all", key, "bad key " + key + "!", "bad key [REDACTED]!"},
		{"partial echo keeps the public prefix", key, "bad key " + key[:20] + "…", "bad key sk-proj-[REDACTED]…"},
		{"prefix and one character", key, "key " + key[:9], "key sk-proj-[REDACTED]"},
		{"the prefix alone stays", key, "a sk-proj- key", "a sk-proj- key"},
		{"6 characters of the tail", key, "key sk-proj-…" + key[len(key)-6:], "key sk-proj-…[REDACTED]"},
		{"hint (4-character tail) stays", key, "key " + secret.Hint(secret.New(key)), "key sk-proj-…g9Ts"},
		{"run of MinRun", key, "x" + key[12:12+MinRun] + "y", "x[REDACTED]y"},
		{"run of MinRun-1 stays", key, "x" + key[12:12+MinRun-1] + "y", "x" + key[12:12+MinRun-1] + "y"},
		{"adjacent pieces become one", key, key[10:20] + key[20:30], "[REDACTED]"},
		{"separate pieces", key, key[8:16] + " and " + key[30:], "[REDACTED] and [REDACTED]"},
		{"trimmed secret", "\t" + key + "\n", "k=" + key + "\n", "k=[REDACTED]\n"},
		{"whitespace-only secret", " \n", "a \n b", "a \n b"},
		{"short secret: exact only", "abc", "abc ab abcd", "[REDACTED] ab [REDACTED]d"},
		{"no public prefix", "Tq3v9xLmZ2pK8rW1nB6cY4hJ0dF7gS5aE2uQ9iOo", "secret Tq3v9x!", "secret [REDACTED]!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in, secret.New(tc.secret)); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// Several secrets, and none.
	other := "ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5fG2aE8u"
	if got := Text(key[10:30]+" "+other[4:30], secret.New(key), secret.New(other)); got != "[REDACTED] [REDACTED]" {
		t.Errorf("two secrets: %q", got)
	}
	if got := Text("x "+key, secret.Value{}); got != "x "+key {
		t.Errorf("the empty secret changed the text: %q", got)
	}
}

func TestPrefix(t *testing.T) {
	for raw, want := range map[string]string{
		"sk-proj-Zq4Wn8Rt2Ym6Kp0Lx3Vb7Hc1Jd5Fg9Ts": "sk-proj-",
		"ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5fG2aE8u": "ghp_",
		"Tq3v9xLmZ2pK8rW1nB6cY4hJ0dF7gS5aE2uQ9iOo": "",
		"ghp_": "ghp_",
	} {
		if got := Prefix(raw); got != want {
			t.Errorf("Prefix(%.8q…) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzText: whatever the text and the secret, no run of MinRun characters of
// the secret that reaches past its public prefix survives, and text without
// any such run comes back unchanged.
func FuzzText(f *testing.F) {
	f.Add("token ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5f…", "ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5fG2aE8u")
	f.Add("aaaaaaaaaa", "aaaaaaa")
	f.Add("nothing", "sk-proj-abcdefgh")
	f.Fuzz(func(t *testing.T, text, raw string) {
		got := Text(text, secret.New(raw))
		s := strings.TrimSpace(raw)
		if s == "" {
			if got != text {
				t.Fatalf("an empty secret changed the text")
			}
			return
		}
		p := len(Prefix(s))
		hit := func(x string) bool {
			for i := 0; i+MinRun <= len(s); i++ {
				// A run inside the marker's own letters is the marker.
				if w := s[i : i+MinRun]; i+MinRun > p && strings.Contains(x, w) && !strings.Contains(secret.Redacted, w) {
					return true
				}
			}
			return false
		}
		if hit(got) && !strings.ContainsAny(s, "[]") {
			t.Fatalf("a run of the secret survives: %q", got)
		}
		if !hit(text) && !strings.Contains(text, s) && got != text {
			t.Fatalf("text without the secret changed: %q → %q", text, got)
		}
	})
}
