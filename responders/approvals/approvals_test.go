package approvals_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/responders/approvals"
)

func TestVerifySlack(t *testing.T) {
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	now := time.Unix(1531420618, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := approvals.SlackSignature(secret, ts, body)
	if err := approvals.VerifySlack(secret, ts, sig, body, now); err != nil {
		t.Fatalf("a good request: %v", err)
	}
	for name, c := range map[string]struct {
		ts, sig string
		body    []byte
		at      time.Time
	}{
		"altered body":    {ts, sig, append(body, 'x'), now},
		"wrong secret":    {ts, approvals.SlackSignature([]byte("other"), ts, body), body, now},
		"stale":           {ts, sig, body, now.Add(5*time.Minute + time.Second)},
		"from the future": {ts, sig, body, now.Add(-6 * time.Minute)},
		"no signature":    {ts, "", body, now},
		"no timestamp":    {"", sig, body, now},
	} {
		if err := approvals.VerifySlack(secret, c.ts, c.sig, c.body, c.at); !errors.Is(err, approvals.ErrSlackSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLinks(t *testing.T) {
	l := approvals.Links{Key: []byte("k"), Base: "https://fb.example.com/"}
	exp := time.Now().Add(time.Hour)
	u, _ := url.Parse(l.URL("apr_1", "approve", "alice", exp))
	if u.Path != "/v1/approvals/apr_1/link" {
		t.Fatalf("path %s", u.Path)
	}
	c, err := l.Verify("apr_1", u.Query(), time.Now())
	if err != nil || c.For != "alice" || c.Decision != "approve" {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if _, err := l.Verify("apr_2", u.Query(), time.Now()); !errors.Is(err, approvals.ErrBadLink) {
		t.Error("a link verified for another approval")
	}
	q := u.Query()
	q.Set("decision", "deny")
	if _, err := l.Verify("apr_1", q, time.Now()); !errors.Is(err, approvals.ErrBadLink) {
		t.Error("an approve link turned into a deny link verified")
	}
	if _, err := l.Verify("apr_1", u.Query(), exp.Add(time.Second)); !errors.Is(err, approvals.ErrBadLink) {
		t.Error("an expired link verified")
	}
}

// Approvers: a plain list, or a group that resolves through the owners
// source when one is configured (and admits nobody, saying why, without).
func TestMayDecide(t *testing.T) {
	ctx := context.Background()
	r := &approvals.Request{ID: "apr_1", Approvers: []string{"alice", "@Bob"}, Group: "sec-leads"}
	for _, id := range []string{"alice", "bob", "@alice"} {
		if err := r.MayDecide(ctx, nil, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	err := r.MayDecide(ctx, nil, "carol")
	if !errors.Is(err, approvals.ErrNotApprover) || !strings.Contains(err.Error(), "no owners source is configured") {
		t.Errorf("carol without an owners source: %v", err)
	}
	groups := approvals.StaticGroups{"sec-leads": {"carol", "U0CAROL"}}
	if err := r.MayDecide(ctx, groups, "mallory", "U0CAROL"); err != nil {
		t.Errorf("a group member by Slack id: %v", err)
	}
	if err := r.MayDecide(ctx, groups, "mallory"); !errors.Is(err, approvals.ErrNotApprover) {
		t.Errorf("mallory: %v", err)
	}
}

// Exactly one of many concurrent decisions wins; the rest are told it was
// decided; a human decision after the deadline is refused.
func TestDecideOnce(t *testing.T) {
	b := bustest.Run(t)
	s := &approvals.Store{KV: b.Handles.Approvals, JS: b.JS}
	ctx := context.Background()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Create(ctx, &approvals.Request{ID: "apr_race", Incident: "inc_1", Deadline: now.Add(time.Hour), OnTimeout: approvals.Abort}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, refused := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			outcome := approvals.Approved
			if i%2 == 1 {
				outcome = approvals.Denied
			}
			_, err := s.Decide(ctx, "apr_race", approvals.Decision{Outcome: outcome, By: "p" + strconv.Itoa(i), Via: approvals.ViaAPI}, now, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, approvals.ErrAlreadyDecided):
				refused++
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || refused != 7 {
		t.Fatalf("%d decisions won, %d refused; want 1 and 7", wins, refused)
	}
	must(s.Create(ctx, &approvals.Request{ID: "apr_late", Incident: "inc_2", Deadline: now.Add(-time.Second), OnTimeout: approvals.Proceed}))
	if _, err := s.Decide(ctx, "apr_late", approvals.Decision{Outcome: approvals.Approved, By: "alice"}, now, nil); !errors.Is(err, approvals.ErrExpired) {
		t.Fatalf("a decision after the deadline: %v", err)
	}
	r, err := s.Decide(ctx, "apr_late", approvals.Decision{Outcome: approvals.TimedOut, By: "timeout"}, now, nil)
	if err != nil || !r.Decision.Proceed {
		t.Fatalf("timeout with on_timeout proceed: %+v %v", r, err)
	}
}
