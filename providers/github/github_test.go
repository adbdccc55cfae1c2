package github_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/providertest"
)

func cred(raw string) providers.Credential {
	v := secret.New(raw)
	return providers.Credential{Provider: github.Name, Type: github.TypePAT, Secret: v, Hint: secret.Hint(v)}
}

// setup starts an emulator and a client with a short batch window; both are
// closed at cleanup, and every test checks that no goroutine outlives them.
func setup(t *testing.T, cfg github.Config, opts ...githubemu.Option) (*githubemu.Emulator, *github.Client, *providertest.SyncBuffer) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	emu := githubemu.New(opts...)
	cfg.BaseURL = emu.Start()
	tr := &http.Transport{}
	cfg.HTTPClient = &http.Client{Transport: tr}
	if cfg.BatchWindow == 0 {
		cfg.BatchWindow = 30 * time.Millisecond
	}
	log, buf := providertest.NewLogger()
	cfg.Logger = log
	c := github.New(cfg)
	t.Cleanup(func() {
		c.Close()
		tr.CloseIdleConnections()
		emu.Close()
		goleak.VerifyNone(t, before)
	})
	return emu, c, buf
}

func revokePosts(s *emulator.Server) []emulator.Request {
	var out []emulator.Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == "/credentials/revoke" {
			out = append(out, r)
		}
	}
	return out
}

func TestBatcherCoalescesConcurrentRevokes(t *testing.T) {
	emu, c, logs := setup(t, github.Config{BatchWindow: 500 * time.Millisecond})
	const n = 25
	toks := make([]string, n)
	for i := range toks {
		prefix := []string{github.PrefixPAT, github.PrefixOAuth, github.PrefixUserToServer, github.PrefixFineGrained}[i%4]
		toks[i] = emu.AddToken(prefix, fmt.Sprintf("user%d", i))
	}
	var wg sync.WaitGroup
	results := make([]providers.RevokeResult, n)
	errs := make([]error, n)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Revoke(context.Background(), cred(toks[i]))
		}()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || results[i].Action != "revoked" || results[i].AlreadyRevoked {
			t.Fatalf("revoke %d = %+v, %v", i, results[i], errs[i])
		}
		if !emu.Revoked(toks[i]) {
			t.Fatalf("token %d not revoked", i)
		}
	}
	posts := revokePosts(emu.Server())
	if len(posts) != 1 {
		t.Fatalf("%d POST /credentials/revoke for %d concurrent revokes; want 1", len(posts), n)
	}
	var body struct{ Credentials []string }
	if err := json.Unmarshal(posts[0].Body, &body); err != nil || len(body.Credentials) != n {
		t.Fatalf("batch body holds %d credentials (%v)", len(body.Credentials), err)
	}
	if posts[0].Header.Get("Authorization") != "" {
		t.Fatal("credentials/revoke was sent authenticated")
	}
	if posts[0].Header.Get("X-Github-Api-Version") != github.APIVersion || posts[0].Header.Get("Accept") != "application/vnd.github+json" {
		t.Fatalf("missing GitHub headers: %v", posts[0].Header)
	}
	for _, tok := range toks {
		providertest.AssertNoSecret(t, tok, logs.String())
	}
	// Revoking again is a no-op success: no new POST.
	res, err := c.Revoke(context.Background(), cred(toks[0]))
	if err != nil || !res.AlreadyRevoked || len(revokePosts(emu.Server())) != 1 {
		t.Fatalf("re-revoke = %+v, %v", res, err)
	}
}

func TestBatchMaxSplits(t *testing.T) {
	emu, c, _ := setup(t, github.Config{BatchWindow: 500 * time.Millisecond, BatchMax: 4})
	var wg sync.WaitGroup
	for i := range 10 {
		tok := emu.AddToken(github.PrefixPAT, fmt.Sprint("u", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Revoke(context.Background(), cred(tok)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	posts := revokePosts(emu.Server())
	total := 0
	for _, p := range posts {
		var body struct{ Credentials []string }
		_ = json.Unmarshal(p.Body, &body)
		if len(body.Credentials) > 4 {
			t.Fatalf("batch of %d > BatchMax", len(body.Credentials))
		}
		total += len(body.Credentials)
	}
	if len(posts) < 3 || total != 10 {
		t.Fatalf("%d posts carrying %d tokens; want at least 3 carrying 10", len(posts), total)
	}
}

// TestRevokeRespectsHourlyLimit shrinks "60 per hour" to 3 per 600ms on both
// sides: the emulator would answer 403 past its limit, and the client's
// limiter must never let it get there.
func TestRevokeRespectsHourlyLimit(t *testing.T) {
	const limit, period = 3, 600 * time.Millisecond
	emu, c, _ := setup(t, github.Config{BatchWindow: 5 * time.Millisecond, RevokeLimit: limit, RevokePeriod: period, RevokeBurst: 1},
		githubemu.WithRevokeRateLimit(limit, period))
	start := time.Now()
	for i := range 5 {
		tok := emu.AddToken(github.PrefixPAT, fmt.Sprint("seq", i))
		if _, err := c.Revoke(context.Background(), cred(tok)); err != nil {
			t.Fatalf("revoke %d: %v", i, err)
		}
	}
	posts := revokePosts(emu.Server())
	if len(posts) != 5 {
		t.Fatalf("%d posts; want 5 (one per sequential revoke)", len(posts))
	}
	// Burst 1 and (3-1) per 600ms: requests at ~0, 300, 600, 900, 1200ms.
	if took := time.Since(start); took < 1100*time.Millisecond {
		t.Fatalf("5 requests in %v: the limiter let them through too fast", took)
	}
	for i := range posts {
		var in int
		for _, q := range posts {
			if !q.At.Before(posts[i].At) && q.At.Sub(posts[i].At) < period {
				in++
			}
		}
		if in > limit {
			t.Fatalf("%d requests within one period starting at request %d", in, i)
		}
	}
}

// TestRevokePausesOnRateLimit: once GitHub says the budget is spent, the
// batcher holds off until X-RateLimit-Reset instead of spending more.
func TestRevokePausesOnRateLimit(t *testing.T) {
	emu, c, _ := setup(t, github.Config{RevokeLimit: 1000},
		githubemu.WithRevokeRateLimit(1, 1500*time.Millisecond))
	a := emu.AddToken(github.PrefixPAT, "a")
	if _, err := c.Revoke(context.Background(), cred(a)); err != nil {
		t.Fatal(err)
	}
	// The answer to the first POST said Remaining: 0; the next batch waits
	// for the reset rather than being refused.
	b := emu.AddToken(github.PrefixPAT, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Revoke(ctx, cred(b))
	if class, _ := providers.Classify(err); err == nil || class != providers.Retryable {
		t.Fatalf("revoke during the pause = %v; want a retryable timeout", err)
	}
	if n := len(revokePosts(emu.Server())); n != 1 {
		t.Fatalf("%d posts during the pause", n)
	}
	// After the reset the token goes through (it stayed in its batch).
	deadline := time.Now().Add(5 * time.Second)
	for !emu.Revoked(b) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !emu.Revoked(b) {
		t.Fatal("token never revoked after the pause")
	}
}

func TestRevoke429RetryAfterPausesBatcher(t *testing.T) {
	emu, c, _ := setup(t, github.Config{})
	emu.Server().Inject(emulator.Fault{Match: "POST /credentials/revoke", Count: 1, Status: 429, RetryAfter: "1"})
	a := emu.AddToken(github.PrefixPAT, "a")
	_, err := c.Revoke(context.Background(), cred(a))
	class, after := providers.Classify(err)
	if class != providers.Retryable || after != time.Second {
		t.Fatalf("revoke after 429 = %v (class %v after %v)", err, class, after)
	}
	start := time.Now()
	if _, err := c.Revoke(context.Background(), cred(a)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Fatalf("retry went out after %v, before the Retry-After", took)
	}
}

// TestRevoke422NamingCredentialsIsPermanentAndScrubbed: a 422 whose errors
// name the credentials field is a malformed request (the batcher never sends
// one), so it fails loudly, in either errors shape, without echoing a token.
func TestRevoke422NamingCredentialsIsPermanentAndScrubbed(t *testing.T) {
	emu, c, logs := setup(t, github.Config{})
	for i, errs := range []string{
		`[{"resource":"Credentials","field":"credentials","code":"invalid","message":"bad credential %s"}]`,
		`["credentials[0] %s is invalid"]`, // the reference's "validation error simple" shape
	} {
		a := emu.AddToken(github.PrefixPAT, fmt.Sprint("a", i))
		emu.Server().Inject(emulator.Fault{Match: "POST /credentials/revoke", Count: 1, Status: 422,
			Body: `{"message":"Validation Failed","errors":` + fmt.Sprintf(errs, a) + `,"documentation_url":"https://docs.github.com/rest","status":"422"}`})
		_, err := c.Revoke(context.Background(), cred(a))
		if class, after := providers.Classify(err); err == nil || class != providers.Permanent || after != 0 {
			t.Fatalf("422 naming credentials (%d) = %v; want permanent", i, err)
		}
		providertest.AssertNoSecret(t, a, err.Error(), logs.String())
	}
}

// TestRevokeErrorEchoingTokensAcrossTheCutIsScrubbed: GitHub's error message
// may echo the batch's tokens; one that straddles the 300-byte cut of a
// provider message leaves no piece in the error any caller gets, nor in the
// log. Before, Do cut the message first (it had no secret to scrub) and the
// batcher scrubbed 12-character pieces of the cut-off token, leaving the rest.
func TestRevokeErrorEchoingTokensAcrossTheCutIsScrubbed(t *testing.T) {
	emu, c, logs := setup(t, github.Config{BatchWindow: 300 * time.Millisecond})
	a := emu.AddToken(github.PrefixPAT, "echo-a")
	b := emu.AddToken(github.PrefixPAT, "echo-b")
	// "a" whole, then "b" cut by the 300-byte bound after its prefix and 18 characters.
	msg := "credentials " + a + " rejected; "
	msg += strings.Repeat("x", 300-len(msg)-22) + b + " rejected too"
	emu.Server().Inject(emulator.Fault{Match: "POST /credentials/revoke", Count: 1, Status: 400,
		Body: `{"message":"` + msg + `","documentation_url":"https://docs.github.com/rest","status":"400"}`})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tok := range []string{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Revoke(context.Background(), cred(tok))
		}()
	}
	wg.Wait()
	if n := len(revokePosts(emu.Server())); n != 1 {
		t.Fatalf("%d POST /credentials/revoke; want both tokens in one batch", n)
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("revoke %d succeeded despite the 400", i)
		}
		for _, tok := range []string{a, b} {
			providertest.AssertNoSecretRun(t, tok, scrub.MinRun, err.Error(), fmt.Sprintf("%#v", err), logs.String())
		}
	}
}

// TestRevokeSpammed422IsRetryable: GitHub answers credentials/revoke 422 also
// when "the endpoint has been spammed"; a 422 that names no problem with the
// credentials is retried after the secondary-limit backoff, not failed.
func TestRevokeSpammed422IsRetryable(t *testing.T) {
	emu, c, logs := setup(t, github.Config{})
	for i, body := range []string{
		`{"message":"Validation failed, or the endpoint has been spammed.","documentation_url":"https://docs.github.com/rest/credentials/revoke#revoke-a-list-of-credentials","status":"422"}`,
		`{"message":"Validation Failed","errors":[],"documentation_url":"https://docs.github.com/rest","status":"422"}`,
		`not json`,
	} {
		a := emu.AddToken(github.PrefixPAT, fmt.Sprint("s", i))
		emu.Server().Inject(emulator.Fault{Match: "POST /credentials/revoke", Count: 1, Status: 422, Body: body})
		// A fresh client each time: the first 422 pauses the batcher a minute.
		c := c
		if i > 0 {
			c = github.New(github.Config{BaseURL: emu.URL(), BatchWindow: 10 * time.Millisecond})
			defer c.Close()
		}
		_, err := c.Revoke(context.Background(), cred(a))
		if class, after := providers.Classify(err); err == nil || class != providers.Retryable || after != time.Minute {
			t.Fatalf("spammed 422 (%d) = %v; want retryable after 1m", i, err)
		}
		if emu.Revoked(a) {
			t.Fatalf("token %d revoked by a refused request", i)
		}
		providertest.AssertNoSecret(t, a, err.Error(), logs.String())
	}
}

// TestSpammedRevokeIsRetried drives the responder's loop (retry after the
// error's RetryAfter) against an emulator that refuses requests closer than
// 200ms: the refused token is not reported revoked, the retry revokes it, and
// GitHub revokes it exactly once.
func TestSpammedRevokeIsRetried(t *testing.T) {
	emu, c, logs := setup(t, github.Config{SpamBackoff: 300 * time.Millisecond}, githubemu.WithRevokeSpamGap(200*time.Millisecond))
	a := emu.AddToken(github.PrefixPAT, "a")
	b := emu.AddToken(github.PrefixPAT, "b")
	if _, err := c.Revoke(context.Background(), cred(a)); err != nil {
		t.Fatal(err)
	}
	res, err := c.Revoke(context.Background(), cred(b))
	class, after := providers.Classify(err)
	if err == nil || class != providers.Retryable || after != 300*time.Millisecond || res.Action != "" || emu.Revoked(b) {
		t.Fatalf("revoke right after another = %+v, %v (class %v after %v); want a retryable spam refusal", res, err, class, after)
	}
	providertest.AssertNoSecret(t, b, err.Error())
	for attempt := 0; err != nil && attempt < 5; attempt++ {
		_, after = providers.Classify(err)
		time.Sleep(after)
		res, err = c.Revoke(context.Background(), cred(b))
	}
	if err != nil || res.Action != "revoked" || !emu.Revoked(b) {
		t.Fatalf("retried revoke = %+v, %v", res, err)
	}
	hint := func(raw string) string { return raw[:4] + "…" + raw[len(raw)-4:] }
	if v := emu.Revocations(); len(v) != 2 || v[0].Hint != hint(a) || v[1].Hint != hint(b) {
		t.Fatalf("revocations %+v; want a, then b once", v)
	}
	if n := len(revokePosts(emu.Server())); n != 3 {
		t.Fatalf("%d posts; want 3 (a, b refused, b)", n)
	}
	providertest.AssertNoSecret(t, a, logs.String())
	providertest.AssertNoSecret(t, b, logs.String())
}

func TestInstallationToken(t *testing.T) {
	emu, c, _ := setup(t, github.Config{})
	tok := emu.AddToken(github.PrefixInstallation, "my-app[bot]")
	cr := cred(tok)
	cr.Type = github.TypeInstallation
	res, err := c.Verify(context.Background(), cr)
	if err != nil || !res.Live || res.Facts["token_kind"] != "installation" {
		t.Fatalf("Verify(ghs_) = %+v, %v", res, err)
	}
	rr, err := c.Revoke(context.Background(), cr)
	if err != nil || rr.Action != "revoked" || !emu.Revoked(tok) {
		t.Fatalf("Revoke(ghs_) = %+v, %v", rr, err)
	}
	if len(revokePosts(emu.Server())) != 0 {
		t.Fatal("installation token sent to credentials/revoke")
	}
	rr, err = c.Revoke(context.Background(), cr)
	if err != nil || !rr.AlreadyRevoked {
		t.Fatalf("second Revoke(ghs_) = %+v, %v", rr, err)
	}
	if v := emu.Revocations(); len(v) != 1 || v[0].Via != "installation/token" {
		t.Fatalf("revocations %+v", v)
	}
}

func TestRefreshTokenIsPostedWithoutCheck(t *testing.T) {
	emu, c, _ := setup(t, github.Config{})
	tok := emu.AddToken(github.PrefixRefresh, "u")
	res, err := c.Verify(context.Background(), cred(tok))
	if err != nil || !res.Live || res.Facts["verified"] != "false" {
		t.Fatalf("Verify(ghr_) = %+v, %v", res, err)
	}
	if _, err := c.Revoke(context.Background(), cred(tok)); err != nil || !emu.Revoked(tok) {
		t.Fatalf("Revoke(ghr_): %v", err)
	}
	for _, r := range emu.Server().Requests() {
		if r.Path == "/user" {
			t.Fatal("a refresh token was used as a bearer token")
		}
	}
}

func TestVerifyFactsAndRateLimit(t *testing.T) {
	emu, c, _ := setup(t, github.Config{})
	tok := emu.AddToken(github.PrefixPAT, "octocat")
	res, err := c.Verify(context.Background(), cred(tok))
	if err != nil || !res.Live || res.Facts["login"] != "octocat" || res.Facts["scopes"] == "" {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	// GitHub's primary rate limit: 403 with X-RateLimit-Remaining: 0.
	reset := time.Now().Add(90 * time.Second).Unix()
	rl := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", fmt.Sprint(reset))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`))
	})
	s := emulator.New(rl, githubemu.ErrorBody)
	base := s.Start()
	defer s.Close()
	c2 := github.New(github.Config{BaseURL: base})
	defer c2.Close()
	_, err = c2.Verify(context.Background(), cred(tok))
	class, after := providers.Classify(err)
	if class != providers.Retryable || after < 80*time.Second || after > 91*time.Second {
		t.Fatalf("403 rate limited = %v (class %v after %v)", err, class, after)
	}
}

func TestCloseFailsWaitingRevokes(t *testing.T) {
	emu, c, _ := setup(t, github.Config{BatchWindow: 5 * time.Second})
	tok := emu.AddToken(github.PrefixPAT, "a")
	done := make(chan error, 1)
	go func() {
		_, err := c.Revoke(context.Background(), cred(tok))
		done <- err
	}()
	// Wait until the token sits in a batch, then close.
	deadline := time.Now().Add(2 * time.Second)
	for emu.Server().Count("GET /user") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, github.ErrClosed) {
			t.Fatalf("revoke during Close = %v; want ErrClosed", err)
		}
		if class, _ := providers.Classify(err); class != providers.Retryable {
			t.Fatalf("ErrClosed is %v, want retryable", class)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release the waiting revoke")
	}
	if _, err := c.Revoke(context.Background(), cred(tok)); !errors.Is(err, github.ErrClosed) {
		t.Fatalf("revoke after Close = %v", err)
	}
}

func TestTokenChecksum(t *testing.T) {
	for _, p := range []string{github.PrefixPAT, github.PrefixOAuth, github.PrefixUserToServer, github.PrefixInstallation, github.PrefixRefresh} {
		tok := github.NewToken(p)
		if len(tok) != 40 || !github.ChecksumValid(tok) {
			t.Fatalf("NewToken(%s) = %s invalid", p, secret.Hint(secret.New(tok)))
		}
		bad := tok[:10] + string(rune(tok[10]^1)) + tok[11:]
		if github.ChecksumValid(bad) {
			t.Fatal("a flipped character kept the checksum valid")
		}
	}
	// Known vector: a checksum over 30 zeros.
	if got := github.Checksum(strings.Repeat("0", 30)); len(got) != 6 {
		t.Fatalf("checksum %q", got)
	}
	fg := github.NewToken(github.PrefixFineGrained)
	if !strings.HasPrefix(fg, "github_pat_") || len(fg) != 93 {
		t.Fatalf("fine-grained token has length %d", len(fg))
	}
}

func TestPlan(t *testing.T) {
	github.New(github.Config{RevokeLimit: 1}).Close() // degenerate limits do not panic
	c := github.New(github.Config{BaseURL: "https://ghe.example.com/api/v3"})
	defer c.Close()
	tok := github.NewToken(github.PrefixPAT)
	plan := c.Plan(providers.OpRevoke, cred(tok))
	if len(plan) != 2 || plan[1].URL != "https://ghe.example.com/api/v3/credentials/revoke" || !strings.Contains(plan[1].Body, "ghp_…") {
		t.Fatalf("plan %+v", plan)
	}
	providertest.AssertNoSecret(t, tok, plan[0].Note, plan[1].Body, plan[1].Note)
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T, log logrus.FieldLogger) providertest.Fixture {
			emu := githubemu.New()
			base := emu.Start()
			c := github.New(github.Config{BaseURL: base, Logger: log, BatchWindow: 10 * time.Millisecond})
			t.Cleanup(func() { c.Close(); emu.Close() })
			return providertest.Fixture{
				Provider: c,
				Server:   emu.Server(),
				Live:     func(t *testing.T) providers.Credential { return cred(emu.AddToken(github.PrefixPAT, "octocat")) },
				Unknown:  func(t *testing.T) providers.Credential { return cred(github.NewToken(github.PrefixPAT)) },
				IsLive:   emu.Live,
			}
		},
		VerifyMatch:  "GET /user",
		RevokeMatch:  "POST /credentials/revoke",
		NotLiveOn401: true,
		Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
			tok := fx.Live(t).Secret.Reveal()
			return []providertest.Probe{
				{Method: http.MethodGet, Path: "/user", WantStatus: 401},
				{Method: http.MethodGet, Path: "/user", Header: http.Header{"Authorization": {"Basic " + tok}}, WantStatus: 401},
				{Method: http.MethodGet, Path: "/repos/o/r/secret-scanning/alerts/1", WantStatus: 401},
				{Method: http.MethodGet, Path: "/repos/o/r/secret-scanning/alerts/1/locations", WantStatus: 401},
				{Method: http.MethodDelete, Path: "/installation/token", WantStatus: 401},
				// credentials/revoke is the reverse: authenticated requests get 403.
				{Method: http.MethodPost, Path: "/credentials/revoke", Header: http.Header{"Authorization": {"Bearer " + tok}},
					Body: `{"credentials":["` + tok + `"]}`, WantStatus: 403},
			}
		},
	})
}
