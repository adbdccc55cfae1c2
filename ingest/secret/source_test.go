package secret

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestStaticSource(t *testing.T) {
	const raw = "https://hooks.example/services/T0/B0/canary-token-123456"
	src := Static(New(raw))
	v, err := src.Secret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Reveal() != raw {
		t.Fatalf("Secret() = %q", v.Reveal())
	}
	for _, s := range []string{fmt.Sprint(src), fmt.Sprintf("%v %+v %#v", src, src, src)} {
		if strings.Contains(s, "canary") {
			t.Fatalf("printing a Source revealed it: %s", s)
		}
	}
}

func TestFuncAndEnvSources(t *testing.T) {
	ctx := context.Background()
	calls := 0
	f := SourceFunc(func(context.Context) (Value, error) { calls++; return New("x"), nil })
	if _, err := f.Secret(ctx); err != nil || calls != 1 {
		t.Fatal("SourceFunc not called")
	}
	t.Setenv("FIREBREAK_TEST_SOURCE", "from-env-value")
	if v, err := Env("FIREBREAK_TEST_SOURCE").Secret(ctx); err != nil || v.Reveal() != "from-env-value" {
		t.Fatalf("Env: %v", err)
	}
	t.Setenv("FIREBREAK_TEST_SOURCE", "")
	_, err := Env("FIREBREAK_TEST_SOURCE").Secret(ctx)
	if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), "FIREBREAK_TEST_SOURCE") {
		t.Fatalf("Env unset: %v", err)
	}
}
