package providers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/providers"
)

// longestRun returns the length of the longest run of the key's random part
// (key without its public prefix) that text holds.
func longestRun(text, key string) int {
	body := strings.TrimPrefix(key, scrub.Prefix(key))
	best := 0
	for i := range body {
		for j := len(body); j > i+best; j-- {
			if strings.Contains(text, body[i:j]) {
				best = j - i
				break
			}
		}
	}
	return best
}

// TestScrubMessageRemovesPartialEchoes: whatever piece of a key a provider
// echoes — from the start, from the end, from the middle, without its public
// prefix, cut by the provider, masked, twice, for a key read with its file's
// newline — ScrubMessage leaves no run of scrub.MinRun (6) or more characters
// of its random part, and keeps the text around it and the 4-character tail
// that masks and hints show on purpose. The old scrubber replaced 12-character
// pieces one after another and kept up to 11 characters.
func TestScrubMessageRemovesPartialEchoes(t *testing.T) {
	const key = "ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5fG2aE8u"
	body := key[4:]
	for _, tc := range []struct {
		name   string
		secret string // the secret as the caller holds it (default key)
		msg    string
		keep   []string // text that must survive
	}{
		{name: "whole", msg: "Bad credentials: " + key + ".", keep: []string{"Bad credentials: ", "."}},
		{name: "first 35 (confirmed)", msg: "token " + key[:35] + "…", keep: []string{"token "}},
		{name: "first 23 (old: 11 left)", msg: "token " + key[:23] + " rejected", keep: []string{"token ", " rejected"}},
		{name: "last 20", msg: key[len(key)-20:] + " is not valid", keep: []string{" is not valid"}},
		{name: "last 11 at the start", msg: key[len(key)-11:] + " expired", keep: []string{" expired"}},
		{name: "middle", msg: "saw …" + key[10:31] + "… in the request", keep: []string{"saw …", "… in the request"}},
		{name: "middle 6", msg: "fragment " + key[15:21] + " only", keep: []string{"fragment ", " only"}},
		{name: "prefix stripped", msg: "credential " + body + " revoked", keep: []string{"credential ", " revoked"}},
		{name: "prefix stripped, cut", msg: "credential " + body[:31] + "…", keep: []string{"credential ", "…"}},
		{name: "trailing newline", secret: key + "\n", msg: "key=" + key + "; invalid", keep: []string{"key=", "; invalid"}},
		{name: "trailing newline, cut", secret: key + "\n", msg: "key=" + key[:30] + "…", keep: []string{"key=", "…"}},
		{name: "surrounding whitespace", secret: "  " + key + "\r\n", msg: "bad " + key[2:30], keep: []string{"bad "}},
		{name: "cut mid-key by the provider", msg: strings.Repeat("x", 40) + " token " + key[:13], keep: []string{" token "}},
		{name: "prefix and one character", msg: "token " + key[:5] + "…", keep: []string{"token "}},
		{name: "masked", msg: "Incorrect key " + key[:10] + "****" + key[len(key)-4:], keep: []string{"Incorrect key ", "****" + key[len(key)-4:]}},
		{name: "twice, overlapping pieces", msg: key[:20] + "|" + key[14:] + "|" + key[8:26], keep: []string{"|"}},
		{name: "hint", msg: "key " + secret.Hint(secret.New(key)) + " refused", keep: []string{"key ghp_…" + key[len(key)-4:] + " refused"}},
		{name: "5 characters stay", msg: "id " + key[20:25], keep: []string{"id " + key[20:25]}},
		{name: "unrelated", msg: "rate limited; retry later", keep: []string{"rate limited; retry later"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := tc.secret
			if sec == "" {
				sec = key
			}
			got := providers.ScrubMessage(tc.msg, secret.New(sec))
			if n := longestRun(got, key); n >= scrub.MinRun {
				t.Errorf("%d characters of the key remain in %q", n, strings.ReplaceAll(got, key, "[KEY]"))
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("scrubbed %q: lost %q", got, k)
				}
			}
		})
	}
	// Several secrets at once, and the cut after scrubbing: a key that
	// straddles the 300-byte cut leaves nothing.
	other := "sk-proj-Zq4Wn8Rt2Ym6Kp0Lx3Vb7Hc1Jd5Fg9Ts"
	msg := strings.Repeat("y", 290) + key + " and " + other
	got := providers.ScrubMessage(msg, secret.New(other), secret.New(key))
	if n, m := longestRun(got, key), longestRun(got, other); n >= scrub.MinRun || m >= scrub.MinRun {
		t.Errorf("runs of %d and %d characters remain after the cut: %q", n, m, got[280:])
	}
}

// TestDoScrubsEveryCallSecretBeforeTheCut: the secrets of a call — Scrub and
// ScrubMore (a revocation batch's tokens) — are removed from the provider's
// message before Do cuts it to 300 bytes, so a key echoed across the cut
// leaves no piece. Before, a call without Scrub had its message cut first
// and the caller could only scrub the pieces.
func TestDoScrubsEveryCallSecretBeforeTheCut(t *testing.T) {
	toks := []string{"ghp_R8kQ2mZ7xV4nB1cT9wL6yH3pJ0sD5fG2aE8u", "ghp_Tm3Xq9Lw2Zr7Vn4Kp8Ys1Hd6Jc0Bf5Ga2Qe7"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		// the second token straddles byte 300 of the message
		_, _ = w.Write([]byte(toks[0] + " " + strings.Repeat("z", 300-len(toks[0])-1-20) + toks[1] + " rejected"))
	}))
	defer srv.Close()
	api := providers.API{Provider: "p", BaseURL: srv.URL, ErrorMessage: func(_ int, b []byte) string { return string(b) }}
	_, _, err := api.Do(context.Background(), providers.Request{Op: providers.OpRevoke, Method: http.MethodPost, Path: "/revoke",
		Body: map[string][]string{"credentials": toks}, ScrubMore: []secret.Value{secret.New(toks[0]), secret.New(toks[1])}})
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want *providers.Error, got %v", err)
	}
	for _, tok := range toks {
		if n := longestRun(err.Error(), tok); n >= scrub.MinRun {
			t.Errorf("%d characters of a token remain: %q", n, err.Error())
		}
	}
}
