package yamlsyntax

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestLocate: each syntax error lands on the offending token, whichever
// route finds it (goccy/go-yaml, the alias, the colon, yaml.v3's line).
func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		src       string
		line, col int
	}{
		{"a:\n  - b: 1\n   c: 2\n", 3, 4},   // goccy/go-yaml
		{"a: 1\nb: [x, *nope]\n", 2, 8},     // the unknown anchor's alias
		{"a:\n  b: 1\n   c: 2\n", 3, 5},     // the misplaced mapping value's colon
		{strings.Repeat("- [", 5000), 1, 1}, // too nested to ask goccy: yaml.v3's line
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tc.src), &n)
		if err == nil {
			t.Fatalf("%q: yaml.v3 accepted it", tc.src)
		}
		if got := Locate([]byte(tc.src), err); got.Line != tc.line || got.Col != tc.col || got.Msg == "" {
			t.Errorf("%.30q: %d:%d %q, want %d:%d", tc.src, got.Line, got.Col, got.Msg, tc.line, tc.col)
		}
	}
}

// FuzzLocate: whatever the input, a syntax error yaml.v3 reports is placed
// inside the input, with a message, without a panic.
func FuzzLocate(f *testing.F) {
	for _, s := range []string{"a:\n  - b: 1\n   c: 2\n", "a: *x\n", "a: [1, 2\n", "a:\n\tb: 1\n", "k: 'x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var n yaml.Node
		err := yaml.Unmarshal(b, &n)
		if err == nil || !strings.HasPrefix(err.Error(), "yaml: ") {
			return // not a syntax error
		}
		at := Locate(b, err)
		lines := len(lineBreak.Split(string(b), -1))
		if at.Line < 1 || at.Line > lines+1 || at.Col < 1 || at.Msg == "" {
			t.Fatalf("%d:%d %q for a %d-line input", at.Line, at.Col, at.Msg, lines)
		}
	})
}
