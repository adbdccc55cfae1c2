// Package providertest is the conformance suite every Firebreak provider runs
// against its emulator: failure classification (429 with Retry-After, 5xx,
// 4xx), idempotent revocation, not-found as already revoked (NotFoundMatch),
// unknown keys not live, context cancellation, secrets kept out of errors and
// logs, dry-run plans without I/O, emulators that refuse requests without the
// provider's real authentication, and — for providers whose API cannot revoke
// (Escalates) — an explicit escalation naming the console URL instead of a
// revocation, changing nothing at the provider.
//
// A provider package uses it from a test:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			New: func(t *testing.T, log logrus.FieldLogger) providertest.Fixture { … },
//			VerifyMatch:  "GET /v1/me",
//			RevokeMatch:  "/v1/organization/",
//			NotLiveOn401: true,
//			Probes: func(t *testing.T, fx providertest.Fixture) []providertest.Probe {
//				return []providertest.Probe{{Method: "GET", Path: "/v1/me", WantStatus: 401}}
//			},
//		})
//	}
package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/emulator"
)

// Fixture is one provider client wired to a fresh, started emulator. The
// constructor registers its own cleanups (closing the emulator and client).
type Fixture struct {
	Provider providers.Provider
	Server   *emulator.Server
	// Live mints a credential the emulator accepts as live (and, if the
	// provider needs one, sets up what revoking it requires).
	Live func(t *testing.T) providers.Credential
	// Unknown returns a well-formed credential the emulator never issued.
	Unknown func(t *testing.T) providers.Credential
	// IsLive, when set, asks the emulator's state directly whether a raw
	// secret is still accepted.
	IsLive func(raw string) bool
}

// Probe is a request the emulator must refuse because it lacks the
// provider's real authentication (or carries the wrong kind).
type Probe struct {
	Method     string
	Path       string
	Header     http.Header
	Body       string
	WantStatus int
	// WantBody, when set, must occur in the answer's body: for APIs that
	// refuse with 200 and an error in the body (Slack's {"ok":false,
	// "error":"not_authed"}).
	WantBody string
}

// Harness describes a provider to the suite.
type Harness struct {
	// New builds a fixture; log is the logger the client must log to (the
	// suite checks it for secrets).
	New func(t *testing.T, log logrus.FieldLogger) Fixture
	// VerifyMatch and RevokeMatch select, as emulator.Fault.Match strings,
	// the requests of Verify and of Revoke that faults are injected into
	// ("" = every request). RevokeMatch should name the revoking call(s), not
	// a pre-check whose 401 legitimately means "already revoked".
	VerifyMatch string
	RevokeMatch string
	// NotLiveOn401: a 401 answer to Verify means "not live" (Live false, no
	// error) rather than a permanent error.
	NotLiveOn401 bool
	// UnknownNotLive runs the unknown-is-not-live subtest even when 401 is
	// not the provider's "dead key" answer (AWS answers 403
	// InvalidClientTokenId, Google 400 API_KEY_INVALID, Slack 200 ok:false).
	UnknownNotLive bool
	// NotFoundMatch, when set, selects a revoking request into which a 404
	// is injected: the provider must read it as "already revoked" (success,
	// AlreadyRevoked), never as a failure.
	NotFoundMatch string
	// NoVerify / NoRevoke skip the subtests of an operation the provider
	// does not back with an API call.
	NoVerify bool
	NoRevoke bool
	// Escalates declares a provider whose API cannot revoke the key (Spec
	// Revoke false): instead of the revoke subtests the suite checks that
	// Revoke of a live key escalates — Action "escalated", the console URL
	// in Detail, no error, no request that changes anything, the key still
	// live — and that Revoke of a dead key is AlreadyRevoked. RevokeMatch
	// then names the liveness check Revoke makes first.
	Escalates bool
	// Probes returns requests sent raw to the fixture's emulator; each must
	// get WantStatus. It may mint credentials with fx.Live (to send the
	// wrong kind of key, or auth where the real API refuses it).
	Probes func(t *testing.T, fx Fixture) []Probe
}

// retryAfter is what the 429 subtests inject.
const retryAfter = 7 * time.Second

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("providertest: Harness.New is required")
	}
	if !h.NoVerify {
		t.Run("verify", func(t *testing.T) { runVerify(t, h) })
	}
	switch {
	case h.Escalates:
		t.Run("escalate", func(t *testing.T) { runEscalate(t, h) })
	case !h.NoRevoke:
		t.Run("revoke", func(t *testing.T) { runRevoke(t, h) })
	}
	t.Run("cancel", func(t *testing.T) { runCancel(t, h) })
	t.Run("plan", func(t *testing.T) { runPlan(t, h) })
	t.Run("auth", func(t *testing.T) { runProbes(t, h) })
}

// env is one subtest's fixture and log capture.
type env struct {
	Fixture
	logs *SyncBuffer
}

func setup(t *testing.T, h Harness) env {
	t.Helper()
	log, buf := NewLogger()
	fx := h.New(t, log)
	if fx.Provider == nil || fx.Server == nil || fx.Live == nil {
		t.Fatal("providertest: Fixture needs Provider, Server and Live")
	}
	return env{Fixture: fx, logs: buf}
}

// clean asserts that neither the texts nor the captured logs carry raw.
func (e env) clean(t *testing.T, raw string, texts ...string) {
	t.Helper()
	AssertNoSecret(t, raw, append(texts, e.logs.String())...)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + fmt.Sprintf(" %+v %#v", err, err)
}

func runVerify(t *testing.T, h Harness) {
	t.Run("live", func(t *testing.T) {
		e := setup(t, h)
		c := e.Live(t)
		res, err := e.Provider.Verify(context.Background(), c)
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
		if err != nil || !res.Live {
			t.Fatalf("Verify(live) = %+v, %v; want live", res, err)
		}
	})
	if h.NotLiveOn401 || h.UnknownNotLive {
		t.Run("unknown-is-not-live", func(t *testing.T) {
			e := setup(t, h)
			if e.Unknown == nil {
				t.Skip("fixture has no Unknown credential")
			}
			c := e.Unknown(t)
			res, err := e.Provider.Verify(context.Background(), c)
			e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
			if err != nil || res.Live {
				t.Fatalf("Verify(unknown) = %+v, %v; want not live and no error", res, err)
			}
		})
	}
	op := func(ctx context.Context, e env, c providers.Credential) (any, error) {
		return e.Provider.Verify(ctx, c)
	}
	classification(t, h, h.VerifyMatch, op, h.NotLiveOn401)
}

func runRevoke(t *testing.T, h Harness) {
	t.Run("live-then-idempotent", func(t *testing.T) {
		e := setup(t, h)
		c := e.Live(t)
		ctx := context.Background()
		first, err := e.Provider.Revoke(ctx, c)
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", first))
		if err != nil {
			t.Fatalf("Revoke(live): %v", err)
		}
		if first.AlreadyRevoked {
			t.Fatalf("Revoke(live) says already revoked: %+v", first)
		}
		if e.IsLive != nil && e.IsLive(c.Secret.Reveal()) {
			t.Fatalf("emulator still accepts %s after Revoke", secret.Hint(c.Secret))
		}
		second, err := e.Provider.Revoke(ctx, c)
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", second))
		if err != nil || !second.AlreadyRevoked {
			t.Fatalf("second Revoke = %+v, %v; want AlreadyRevoked and no error", second, err)
		}
		if !h.NoVerify {
			res, err := e.Provider.Verify(ctx, c)
			if err != nil || res.Live {
				t.Fatalf("Verify after Revoke = %+v, %v; want not live", res, err)
			}
		}
	})
	t.Run("unknown-is-already-revoked", func(t *testing.T) {
		e := setup(t, h)
		if e.Unknown == nil {
			t.Skip("fixture has no Unknown credential")
		}
		c := e.Unknown(t)
		res, err := e.Provider.Revoke(context.Background(), c)
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
		if err != nil || !res.AlreadyRevoked {
			t.Fatalf("Revoke(unknown) = %+v, %v; want AlreadyRevoked and no error", res, err)
		}
	})
	if h.NotFoundMatch != "" {
		t.Run("404-is-already-revoked", func(t *testing.T) {
			e := setup(t, h)
			c := e.Live(t)
			e.Server.Inject(emulator.Fault{Match: h.NotFoundMatch, Status: http.StatusNotFound})
			res, err := e.Provider.Revoke(context.Background(), c)
			e.Server.ClearFaults()
			e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
			if err != nil || !res.AlreadyRevoked {
				t.Fatalf("Revoke answered 404 = %+v, %v; want AlreadyRevoked and no error", res, err)
			}
		})
	}
	op := func(ctx context.Context, e env, c providers.Credential) (any, error) {
		return e.Provider.Revoke(ctx, c)
	}
	classification(t, h, h.RevokeMatch, op, false)
}

// runEscalate checks a provider that cannot revoke through its API.
func runEscalate(t *testing.T, h Harness) {
	t.Run("live-escalates", func(t *testing.T) {
		e := setup(t, h)
		spec := e.Provider.Spec()
		if spec.Revoke {
			t.Fatalf("Harness.Escalates is set but Spec().Revoke is true")
		}
		if spec.ConsoleURL == "" {
			t.Fatalf("an escalating provider needs Spec().ConsoleURL for the manual action")
		}
		c := e.Live(t)
		before := len(e.Server.Requests())
		for i := range 2 { // idempotent: a second call escalates again, changing nothing
			res, err := e.Provider.Revoke(context.Background(), c)
			e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
			if err != nil || res.Action != "escalated" || res.AlreadyRevoked {
				t.Fatalf("Revoke(live) #%d = %+v, %v; want Action escalated and no error", i+1, res, err)
			}
			if !strings.Contains(res.Detail, spec.ConsoleURL) {
				t.Fatalf("escalation detail %q does not name the console URL %s", res.Detail, spec.ConsoleURL)
			}
		}
		for _, r := range e.Server.Requests()[before:] {
			if r.Method == http.MethodDelete || r.Method == http.MethodPatch || r.Method == http.MethodPut {
				t.Fatalf("an escalating Revoke sent %s %s", r.Method, r.Path)
			}
		}
		if e.IsLive != nil && !e.IsLive(c.Secret.Reveal()) {
			t.Fatalf("the key is no longer live after an escalation")
		}
	})
	t.Run("unknown-is-already-revoked", func(t *testing.T) {
		e := setup(t, h)
		if e.Unknown == nil {
			t.Skip("fixture has no Unknown credential")
		}
		c := e.Unknown(t)
		res, err := e.Provider.Revoke(context.Background(), c)
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
		if err != nil || !res.AlreadyRevoked {
			t.Fatalf("Revoke(unknown) = %+v, %v; want AlreadyRevoked and no error", res, err)
		}
	})
	op := func(ctx context.Context, e env, c providers.Credential) (any, error) {
		return e.Provider.Revoke(ctx, c)
	}
	classification(t, h, h.RevokeMatch, op, h.NotLiveOn401)
}

// classification injects statuses into the requests match selects and checks
// the class of what op returns.
func classification(t *testing.T, h Harness, match string, op func(context.Context, env, providers.Credential) (any, error), notLiveOn401 bool) {
	run := func(t *testing.T, f emulator.Fault, check func(t *testing.T, res any, err error)) {
		e := setup(t, h)
		c := e.Live(t)
		f.Match = match
		e.Server.Inject(f)
		res, err := op(context.Background(), e, c)
		e.Server.ClearFaults()
		e.clean(t, c.Secret.Reveal(), errText(err), fmt.Sprintf("%+v", res))
		check(t, res, err)
	}
	t.Run("429-retry-after", func(t *testing.T) {
		run(t, emulator.Fault{Status: 429, RetryAfter: "7"}, func(t *testing.T, res any, err error) {
			class, after := providers.Classify(err)
			if err == nil || class != providers.Retryable || after != retryAfter {
				t.Fatalf("after 429 Retry-After: 7 got (%+v, %v): class %v, retry after %v; want retryable after %v", res, err, class, after, retryAfter)
			}
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Status != 429 {
				t.Fatalf("want a *providers.Error with status 429, got %#v", err)
			}
		})
	})
	for _, s := range []int{500, 502, 503} {
		t.Run(fmt.Sprintf("%d-retryable", s), func(t *testing.T) {
			run(t, emulator.Fault{Status: s}, func(t *testing.T, res any, err error) {
				if class, _ := providers.Classify(err); err == nil || class != providers.Retryable {
					t.Fatalf("after %d got (%+v, %v): want a retryable error", s, res, err)
				}
			})
		})
	}
	for _, s := range []int{400, 401, 403} {
		t.Run(fmt.Sprintf("%d", s), func(t *testing.T) {
			run(t, emulator.Fault{Status: s}, func(t *testing.T, res any, err error) {
				if s == 401 && notLiveOn401 {
					// A 401 to the key's own check means the key is dead:
					// not live for Verify, already revoked for an
					// escalating Revoke.
					vr, isVerify := res.(providers.VerifyResult)
					rr, isRevoke := res.(providers.RevokeResult)
					if err != nil || (isVerify && vr.Live) || (isRevoke && !rr.AlreadyRevoked) || (!isVerify && !isRevoke) {
						t.Fatalf("after 401 got (%+v, %v): want a dead key and no error", res, err)
					}
					return
				}
				if class, _ := providers.Classify(err); err == nil || class != providers.Permanent {
					t.Fatalf("after %d got (%+v, %v): want a permanent error", s, res, err)
				}
			})
		})
	}
}

// runCancel checks that a cancelled context ends a call promptly against an
// emulator that stalls, with a retryable (context) error.
func runCancel(t *testing.T, h Harness) {
	type call struct {
		name string
		skip bool
		do   func(context.Context, env, providers.Credential) error
	}
	for _, c := range []call{
		{"verify", h.NoVerify, func(ctx context.Context, e env, cr providers.Credential) error {
			_, err := e.Provider.Verify(ctx, cr)
			return err
		}},
		{"revoke", h.NoRevoke, func(ctx context.Context, e env, cr providers.Credential) error {
			_, err := e.Provider.Revoke(ctx, cr)
			return err
		}},
	} {
		if c.skip {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, h)
			cr := e.Live(t)
			e.Server.Inject(emulator.Fault{Delay: 30 * time.Second})
			t.Cleanup(e.Server.ClearFaults)
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			// The fault holds the answer for 30 s: a call that ignored its
			// context would get it (no error) or outlive the test's deadline.
			err := c.do(ctx, e, cr)
			e.clean(t, cr.Secret.Reveal(), errText(err))
			if class, _ := providers.Classify(err); err == nil || class != providers.Retryable {
				t.Fatalf("%s with a cancelled context = %v; want a retryable error", c.name, err)
			}
		})
	}
}

// runPlan checks that plans do no I/O and carry no secret.
func runPlan(t *testing.T, h Harness) {
	e := setup(t, h)
	c := e.Live(t)
	before := len(e.Server.Requests())
	var texts []string
	for _, op := range []providers.Op{providers.OpVerify, providers.OpRevoke} {
		calls := e.Provider.Plan(op, c)
		if len(calls) == 0 && !(op == providers.OpVerify && h.NoVerify) && !(op == providers.OpRevoke && h.NoRevoke) {
			t.Errorf("Plan(%s) is empty", op)
		}
		for _, call := range calls {
			texts = append(texts, call.Method, call.URL, call.Body, call.Note)
			if call.URL != "" && !strings.HasPrefix(call.URL, "http") {
				t.Errorf("Plan(%s) URL %q is not absolute", op, call.URL)
			}
		}
	}
	if after := len(e.Server.Requests()); after != before {
		t.Errorf("Plan made %d requests", after-before)
	}
	e.clean(t, c.Secret.Reveal(), texts...)
}

func runProbes(t *testing.T, h Harness) {
	if h.Probes == nil {
		t.Skip("harness lists no probes")
	}
	e := setup(t, h)
	probes := h.Probes(t, e.Fixture)
	if len(probes) == 0 {
		t.Fatal("harness lists no probes")
	}
	for _, p := range probes {
		req, err := http.NewRequestWithContext(context.Background(), p.Method, e.Server.URL()+p.Path, strings.NewReader(p.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range p.Header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", p.Method, p.Path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != p.WantStatus {
			t.Errorf("%s %s without the real auth: status %d, want %d", p.Method, p.Path, resp.StatusCode, p.WantStatus)
		}
		if p.WantBody != "" && !strings.Contains(string(b), p.WantBody) {
			t.Errorf("%s %s without the real auth: body %.200q does not say %q", p.Method, p.Path, b, p.WantBody)
		}
	}
}

// AssertNoSecret fails t if any text contains canary, or any 12-character
// run of it beyond the key format's public prefix (AssertNoSecretRun with
// 12). Twelve, not scrub.MinRun, because the canaries and texts of many tests
// share low-entropy pieces by design (an incident "inc_01CANARY" next to a
// key "sk-proj-CANARY…", a secret "sk-proj-transit-canary-…" sealed as
// "transit:…", a webhook URL secret next to other https:// URLs); tests of
// scrubbing itself use AssertNoSecretRun with scrub.MinRun.
func AssertNoSecret(t testing.TB, canary string, texts ...string) {
	t.Helper()
	AssertNoSecretRun(t, canary, 12, texts...)
}

// AssertNoSecretRun fails t if any text contains canary, or any run of run
// characters of it that reaches past the key format's public prefix (with
// scrub.MinRun: what providers.ScrubMessage and scrub.Text guarantee to
// remove). The failure names the text by index and the secret only by its
// hint.
func AssertNoSecretRun(t testing.TB, canary string, run int, texts ...string) {
	t.Helper()
	if canary == "" {
		return
	}
	// The key format's public prefix ("sk-ant-api03-") is not secret: a run
	// that lies inside it is what every hint shows.
	public := scrub.Prefix(canary)
	for i, s := range texts {
		at, n := strings.Index(s, canary), len(canary)
		for j := 0; at < 0 && j+run <= len(canary); j++ {
			if j+run > len(public) {
				at, n = strings.Index(s, canary[j:j+run]), run
			}
		}
		if at >= 0 {
			// Show where, with the secret itself masked.
			from, to := max(0, at-80), min(len(s), at+n+40)
			where := s[from:at] + "[CANARY]" + s[at+n:to]
			where = strings.ReplaceAll(where, canary, "[CANARY]")
			t.Errorf("text %d (%d bytes) carries the secret %s: …%s…", i, len(s), secret.Hint(secret.New(canary)), where)
		}
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// NewLogger returns a debug-level JSON logrus logger writing to a buffer, for
// checking what a client logs.
func NewLogger() (*logrus.Logger, *SyncBuffer) {
	buf := &SyncBuffer{}
	l := logrus.New()
	l.SetOutput(buf)
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.JSONFormatter{})
	return l, buf
}
