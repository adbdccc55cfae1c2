package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

func TestScrubURL(t *testing.T) {
	const raw = "https://bot:p%40ss-w0rd-xyz@hooks.example.com/services/T0ABC/B0DEF/tok3nTok3nTok3n?sig=s1gn4ture-abc&x=1#frag-secret"
	in := "failed " + raw + " | user bot:p%40ss-w0rd-xyz | pass p@ss-w0rd-xyz | tok3nTok3nTok3n | s1gn4ture-abc | frag-secret | /services/T0ABC/B0DEF/tok3nTok3nTok3n | host hooks.example.com"
	got := notify.ScrubURL(in, raw)
	for _, leak := range []string{"p@ss-w0rd-xyz", "p%40ss-w0rd-xyz", "tok3nTok3nTok3n", "s1gn4ture-abc", "frag-secret", "/services/"} {
		if strings.Contains(got, leak) {
			t.Errorf("ScrubURL left %q in %q", leak, got)
		}
	}
	if !strings.Contains(got, "hooks.example.com") {
		t.Errorf("ScrubURL removed the host, which is not a secret: %q", got)
	}
	if notify.ScrubURL("nothing here", raw) != "nothing here" {
		t.Error("ScrubURL changed unrelated text")
	}
	if notify.ScrubURL("x", "") != "x" {
		t.Error("empty URL")
	}
}

func TestErrorText(t *testing.T) {
	for body, want := range map[string]string{
		"channel_is_archived\n":                     "channel_is_archived",
		`{"ok":false,"error":"invalid_blocks"}`:     "invalid_blocks",
		`{"error":{"message":"bad thing"}}`:         "bad thing",
		`{"message":"nope"}`:                        "nope",
		"<html><body>502 Bad Gateway</body></html>": "",
		"":                   "",
		"line one\nline two": "line one",
		"ctl\x00\x1bchars":   "ctlchars",
	} {
		if got := notify.ErrorText([]byte(body)); got != want {
			t.Errorf("ErrorText(%q) = %q, want %q", body, got, want)
		}
	}
	long := notify.ErrorText([]byte(strings.Repeat("a", 1000)))
	if len([]rune(long)) != 201 || !strings.HasSuffix(long, "…") {
		t.Errorf("long body not bounded: %d runes", len([]rune(long)))
	}
}

func TestTransportError(t *testing.T) {
	const raw = "https://example.com/hook?token=t0k3n-very-secret"
	cause := fmt.Errorf("proxy refused %s: %w", raw, context.DeadlineExceeded)
	err := notify.TransportError("webhook", &url.Error{Op: "Post", URL: raw, Err: cause}, raw)
	for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)} {
		if strings.Contains(s, "t0k3n-very-secret") {
			t.Fatalf("transport error leaks the URL: %s", s)
		}
	}
	if err.Class != providers.Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("class %v, Is(DeadlineExceeded) %v", err.Class, errors.Is(err, context.DeadlineExceeded))
	}
}

func TestSourceError(t *testing.T) {
	if e := notify.SourceError("slack", "webhook URL", errors.New("sealed")); e.Class != providers.Retryable {
		t.Errorf("plain source failure: %v", e.Class)
	}
	pe := &providers.Error{Class: providers.Permanent}
	if e := notify.SourceError("slack", "webhook URL", fmt.Errorf("x: %w", pe)); e.Class != providers.Permanent {
		t.Errorf("classified source failure: %v", e.Class)
	}
}
