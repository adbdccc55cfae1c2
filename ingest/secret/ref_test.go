package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := Resolvers{Getenv: func(k string) string { return map[string]string{"TOK": "from-env"}[k] }}
	ctx := context.Background()
	for ref, want := range map[Ref]string{"env:TOK": "from-env", Ref("file:" + file): "from-file"} {
		src, err := rs.Source(ref)
		if err != nil {
			t.Fatal(err)
		}
		v, err := src.Secret(ctx)
		if err != nil || v.Reveal() != want {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	if _, err := rs.Source("sk-live-inline-secret"); !errors.Is(err, ErrInlineSecret) {
		t.Fatalf("inline value accepted: %v", err)
	}
	if _, err := rs.Source("vault:secret/x#y"); !errors.Is(err, ErrInlineSecret) {
		t.Fatalf("vault reference accepted without a Vault resolver: %v", err)
	}
	src, _ := rs.Source("env:MISSING")
	if _, err := src.Secret(ctx); err == nil || !strings.Contains(err.Error(), "env:MISSING") {
		t.Fatalf("missing env: %v", err)
	}
	src, _ = rs.Source(Ref("file:" + filepath.Join(dir, "nope")))
	if _, err := src.Secret(ctx); err == nil {
		t.Fatal("missing file resolved")
	}
}
