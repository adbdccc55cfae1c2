package secret

import (
	"context"
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
