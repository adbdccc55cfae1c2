package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
)

type backfillEnv struct {
	b      *bustest.Bus
	emu    *githubemu.Emulator
	token  string
	lister alertLister
	pub    *bus.Publisher
	ledger *ghingest.Ledger
	log    *logrus.Logger
}

func newBackfillEnv(t *testing.T, opts ...githubemu.Option) *backfillEnv {
	t.Helper()
	b := bustest.Run(t)
	kv, err := ghingest.EnsureState(context.Background(), b.JS, bus.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	emu := githubemu.New(opts...)
	emu.Start()
	t.Cleanup(emu.Close)
	tok := emu.AddToken(github.PrefixPAT, "firebreak-bot")
	src, err := github.NewAlertSource(github.AlertSourceConfig{BaseURL: emu.URL(), Token: secret.Static(secret.New(tok))})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	return &backfillEnv{b: b, emu: emu, token: tok, lister: alertLister{src}, ledger: &ghingest.Ledger{KV: kv}, log: log,
		pub: &bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}}
}

func (e *backfillEnv) poller(cfg ghingest.PollerConfig) *ghingest.Poller {
	return ghingest.NewPoller(cfg, e.lister, e.pub, e.ledger, e.log)
}

// alertRefs are the alerts the exposures on the stream name, sorted.
func (e *backfillEnv) alertRefs(t *testing.T) []string {
	var refs []string
	for _, m := range bustest.StreamMessages(t, e.b.JS, exposure.StreamExposures) {
		ev, err := exposure.Decode(m.Data)
		if err != nil || ev.Alert == nil {
			t.Fatalf("not an alert exposure: %v", err)
		}
		refs = append(refs, fmt.Sprintf("%s#%d", ev.Alert.Repository, ev.Alert.Number))
	}
	sort.Strings(refs)
	return refs
}

// listQueries are the queries of the org listing requests, in order.
func (e *backfillEnv) listQueries(path string) []string {
	var qs []string
	for _, r := range e.emu.Server().Requests() {
		if r.Method == http.MethodGet && r.Path == path {
			qs = append(qs, r.Query)
		}
	}
	return qs
}

var errStop = errors.New("stopped after page 2 (simulated crash)")

// TestBackfillAcrossPagesAndRestart lists an organization's 7 open alerts two
// per page, stops after the second page as a crash would, and restarts with
// a new poller on the same bucket: it resumes at the third page (by page
// number, or by the after cursor GitHub handed out), publishes the other 3,
// and a later pass publishes nothing again — one exposure per alert.
func TestBackfillAcrossPagesAndRestart(t *testing.T) {
	for _, mode := range []string{"page", "cursor"} {
		t.Run(mode, func(t *testing.T) {
			var opts []githubemu.Option
			if mode == "cursor" {
				opts = append(opts, githubemu.WithCursorPagination())
			}
			e := newBackfillEnv(t, opts...)
			var want []string
			for i := 0; i < 7; i++ {
				repo := []string{"api", "web"}[i%2]
				n := e.emu.AddAlert("acme", repo, "openai_api_key", fmt.Sprintf("sk-test-%d", i))
				want = append(want, fmt.Sprintf("acme/%s#%d", repo, n))
			}
			e.emu.AddAlert("other", "repo", "openai_api_key", "sk-other") // another organization
			resolved := e.emu.AddAlert("acme", "api", "openai_api_key", "sk-resolved")
			e.emu.ResolveAlert("acme", "api", resolved, "revoked") // not open: not listed
			sort.Strings(want)
			scope := []ghingest.Scope{{Kind: github.ScopeOrg, Name: "acme"}}
			ctx := context.Background()

			first := e.poller(ghingest.PollerConfig{PerPage: 2, AfterPage: func(_ ghingest.Scope, page int) error {
				if page == 2 {
					return errStop
				}
				return nil
			}})
			st, err := first.Backfill(ctx, scope, time.Time{})
			if !errors.Is(err, errStop) || st.Published != 4 || st.Pages != 2 {
				t.Fatalf("first run: %+v %v, want 4 published over 2 pages and the stop", st, err)
			}
			before := len(e.listQueries("/orgs/acme/secret-scanning/alerts"))

			second := e.poller(ghingest.PollerConfig{PerPage: 2}) // a restarted process
			st, err = second.Backfill(ctx, scope, time.Time{})
			if err != nil || st.Published != 3 || st.Resumed != 1 || st.Skipped != 0 {
				t.Fatalf("restart: %+v %v, want the 3 remaining alerts published after resuming", st, err)
			}
			q := e.listQueries("/orgs/acme/secret-scanning/alerts")[before]
			if mode == "page" && !strings.Contains(q, "page=3") || mode == "cursor" && !strings.Contains(q, "after=") {
				t.Fatalf("the restart's first request %q did not resume at the third page", q)
			}
			if got := e.alertRefs(t); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("exposures for alerts\n  %v\nwant one each for\n  %v", got, want)
			}

			// A later pass (the poller's next interval) publishes nothing again;
			// a new alert is picked up.
			n := e.emu.AddAlert("acme", "web", "github_personal_access_token", "ghp_new")
			st, err = second.Backfill(ctx, scope, time.Time{})
			if err != nil || st.Published != 1 || st.Skipped != 7 {
				t.Fatalf("next pass: %+v %v, want the new alert only", st, err)
			}
			if got := e.alertRefs(t); len(got) != 8 || !strings.Contains(strings.Join(got, " "), fmt.Sprintf("acme/web#%d", n)) {
				t.Fatalf("exposures: %v", got)
			}
		})
	}
}

// TestBackfillWaitsOutRateLimits hits GitHub's primary limit mid-backfill
// (another client of the same token used up the budget) and then a
// secondary limit (403 with Retry-After): the poller waits for the reset
// and for Retry-After, and finishes with every alert published once.
func TestBackfillWaitsOutRateLimits(t *testing.T) {
	e := newBackfillEnv(t, githubemu.WithCoreRateLimit(3, 2*time.Second))
	for i := 0; i < 6; i++ {
		e.emu.AddAlert("acme", "api", "openai_api_key", fmt.Sprintf("sk-rl-%d", i))
	}
	scope := []ghingest.Scope{{Kind: github.ScopeRepo, Name: "acme/api"}}
	other := func() { // the responder reading an alert with the same token
		req, _ := http.NewRequest(http.MethodGet, e.emu.URL()+"/repos/acme/api/secret-scanning/alerts/1", nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	p := e.poller(ghingest.PollerConfig{PerPage: 2, AfterPage: func(_ ghingest.Scope, page int) error {
		switch page {
		case 1:
			other()
			other()
		case 2:
			body, _ := json.Marshal(map[string]string{
				"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
			e.emu.Server().Inject(emulator.Fault{Match: "GET /repos/acme/api/secret-scanning/alerts", Count: 1, Status: 403, RetryAfter: "1", Body: string(body)})
		}
		return nil
	}})
	st, err := p.Backfill(context.Background(), scope, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Published != 6 || st.Waits < 2 {
		t.Fatalf("stats %+v: want 6 published after waiting out both limits", st)
	}
	if got := e.alertRefs(t); len(got) != 6 {
		t.Fatalf("exposures: %v", got)
	}
	// Every listing GitHub answered 200 was followed only by requests GitHub
	// accepted: 3 pages, plus the one refused for the primary limit and the
	// one refused for the secondary limit.
	if n := len(e.listQueries("/repos/acme/api/secret-scanning/alerts")); n != 5 {
		t.Fatalf("list requests: %d, want 3 pages + 2 refused", n)
	}
}

// TestBackfillSince stops at the first alert older than --since.
func TestBackfillSince(t *testing.T) {
	e := newBackfillEnv(t)
	now := time.Now()
	e.emu.AddAlertAt("acme", "api", "openai_api_key", "sk-old-1", now.AddDate(0, -3, 0))
	e.emu.AddAlertAt("acme", "api", "openai_api_key", "sk-old-2", now.AddDate(0, -2, 0))
	recent := e.emu.AddAlertAt("acme", "api", "openai_api_key", "sk-new", now.Add(-time.Hour))
	st, err := e.poller(ghingest.PollerConfig{PerPage: 1}).Backfill(context.Background(),
		[]ghingest.Scope{{Kind: github.ScopeRepo, Name: "acme/api"}}, now.AddDate(0, -1, 0))
	if err != nil || st.Published != 1 || st.Older != 1 || st.Pages != 2 {
		t.Fatalf("since: %+v %v, want the recent alert only and a stop at the first older one", st, err)
	}
	if got := e.alertRefs(t); len(got) != 1 || got[0] != fmt.Sprintf("acme/api#%d", recent) {
		t.Fatalf("exposures: %v", got)
	}
}
