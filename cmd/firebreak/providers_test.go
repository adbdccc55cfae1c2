package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeCapabilityTable fails when README.md's capability table is not
// what the providers' specs say. Regenerate it with
// `go run ./cmd/firebreak providers --markdown` between the markers.
func TestReadmeCapabilityTable(t *testing.T) {
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"providers", "--markdown"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- capability-table:begin -->\n", "<!-- capability-table:end -->"
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q section", strings.TrimSpace(begin), end)
	}
	if got := s[i+len(begin) : j]; got != out.String() {
		t.Fatalf("README.md's capability table is stale; regenerate it with `go run ./cmd/firebreak providers --markdown`.\nREADME:\n%s\nspecs:\n%s", got, out.String())
	}
	for _, name := range []string{"anthropic", "aws", "google", "slack", "stripe", "huggingface", "groq", "perplexity", "xai", "replicate", "openai", "github"} {
		if !strings.Contains(out.String(), "(`"+name+"`)") {
			t.Errorf("provider %s is missing from the table", name)
		}
	}
}
