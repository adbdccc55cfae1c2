package config

import (
	"strings"
	"testing"
)

func TestProviderLimits(t *testing.T) {
	p := write(t, "providers:\n  openai: {max_concurrency: 4}\n  slack: {max_concurrency: 2}\n")
	c, err := Load(p, env(map[string]string{"FIREBREAK_PROVIDERS_ANTHROPIC_MAX_CONCURRENCY": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.ProviderLimits()
	if len(got) != 3 || got["openai"] != 4 || got["slack"] != 2 || got["anthropic"] != 3 {
		t.Fatalf("limits %v", got)
	}
	bad := write(t, "providers:\n  aws:\n    max_concurrency: -1\n")
	_, err = Load(bad, env(nil))
	if err == nil || !strings.Contains(err.Error(), bad+":3:22: providers.aws.max_concurrency: must be 0 (unbounded) or a positive number") {
		t.Fatalf("negative limit: %v", err)
	}
}
