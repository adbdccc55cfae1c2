package config

import (
	"strings"
	"testing"
)

// envFuzzVars are overrides of every kind of field: strings, durations,
// integers, booleans, references and lists of references.
var envFuzzVars = []string{"FIREBREAK_HTTP_LISTEN", "FIREBREAK_NATS_ACK_WAIT", "FIREBREAK_RESPONDERS_CONCURRENCY",
	"FIREBREAK_RESPONDERS_ENABLED", "FIREBREAK_INGEST_TOKENS", "FIREBREAK_PROVIDERS_OPENAI_ADMIN_KEY", "FIREBREAK_HTTP_MAX_BODY",
	"FIREBREAK_PROVIDERS_OPENAI_MAX_CONCURRENCY", "FIREBREAK_NATS_EMBEDDED_FSYNC", "FIREBREAK_NATS_URL", "FIREBREAK_INGEST_DEDUP_WINDOW"}

// FuzzEnv: FIREBREAK_* overrides of any value load or are refused with a
// problem naming the variable, and never echo a value set on a secret field.
func FuzzEnv(f *testing.F) {
	f.Add(uint8(0), "0.0.0.0:9000")
	f.Add(uint8(1), "-5s")
	f.Add(uint8(3), "maybe")
	f.Add(uint8(4), "env:A,,file:/x, sk-live-inline")
	f.Add(uint8(5), "sk-proj-inlineSECRETvalue000")
	f.Add(uint8(7), "-3")
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		name := envFuzzVars[int(which)%len(envFuzzVars)]
		c, err := Load("", env(map[string]string{name: value}))
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("problem does not name %s: %v", name, err)
		}
		if (strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_TOKENS")) && len(value) >= 8 && strings.Contains(err.Error(), value) {
			t.Fatalf("the problem echoes the value of %s at byte %d of %d", name, strings.Index(err.Error(), value), len(err.Error()))
		}
	})
}
