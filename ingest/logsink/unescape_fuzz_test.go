package logsink

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzUnescape: for text that is the inside of a JSON string, unescapeOnce
// decodes it exactly as encoding/json does (so the detectors read label
// values as the parsers decoded them); for any text it never grows it.
func FuzzUnescape(f *testing.F) {
	f.Add(`plain`)
	f.Add(`a\/b\u002Bc\n\t\"\\\u00e9\ud83d\ude00\ud800x`)
	f.Add(`\u12`)
	f.Add(`\x \`)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := unescapeOnce([]byte(s))
		if len(d) > len(s) || ok != (len(d) < len(s)) && ok {
			t.Fatalf("%d bytes to %d (ok %v)", len(s), len(d), ok)
		}
		var want string
		if json.Unmarshal([]byte(`"`+s+`"`), &want) == nil && utf8.ValidString(s) {
			if string(d) != want {
				t.Fatalf("decodes %q to %q, encoding/json to %q", s, d, want)
			}
		}
		// What json.Marshal writes decodes back.
		enc, _ := json.Marshal(s)
		if d, _ := unescapeOnce(enc[1 : len(enc)-1]); utf8.ValidString(s) && string(d) != s {
			t.Fatalf("%q: json.Marshal then unescape gives %q", s, d)
		}
	})
}
