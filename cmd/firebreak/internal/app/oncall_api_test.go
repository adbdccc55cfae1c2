package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/approvals"
	"github.com/firebreak-sec/firebreak/responders/tokens"
)

// TestDeciderFailsClosed: who may decide an approval through the control
// API, against a real approvals bucket. An approval that cannot be read —
// here the store's connection is closed — is refused with 503 for every
// caller, an admin included, and no one's decision goes ahead unchecked.
func TestDeciderFailsClosed(t *testing.T) {
	b := bustest.Run(t)
	ctx := context.Background()
	store := &approvals.Store{KV: b.Handles.Approvals, JS: b.JS}
	req := &approvals.Request{ID: approvals.NewID(), Incident: "inc_1", Step: "pb/approve", Approvers: []string{"alice"},
		RequestedAt: time.Now(), Deadline: time.Now().Add(time.Hour), OnTimeout: approvals.Abort}
	must(t, store.Create(ctx, req))

	// The same bucket through a connection of its own, then closed.
	nc, err := bus.ConnectEmbedded(b.Server, "closed")
	must(t, err)
	js, err := jetstream.New(nc)
	must(t, err)
	kv, err := js.KeyValue(ctx, exposure.BucketApprovals)
	must(t, err)
	if _, _, err := (&approvals.Store{KV: kv}).Get(ctx, req.ID); err != nil {
		t.Fatalf("the second connection cannot read the approval while open: %v", err)
	}
	nc.Close()
	closed := &approvals.Store{KV: kv}

	as := func(name string, scopes ...tokens.Scope) *principal {
		return &principal{Name: name, token: tokens.Token{Name: name, Scopes: scopes}}
	}
	alice, bob, root := as("alice", tokens.Approve), as("bob", tokens.Approve), as("root", tokens.Admin)
	for _, c := range []struct {
		name     string
		store    *approvals.Store
		incident string
		approval string
		p        *principal
		by       string // "" when refused
		code     int
	}{
		{"an approver", store, "inc_1", req.ID, alice, "alice", 0},
		{"an admin who is no approver", store, "inc_1", req.ID, root, "root (admin override)", 0},
		{"an admin who is an approver", store, "inc_1", req.ID, as("alice", tokens.Admin), "alice", 0},
		{"not an approver", store, "inc_1", req.ID, bob, "", http.StatusForbidden},
		{"an unknown approval", store, "inc_1", approvals.NewID(), root, "", http.StatusNotFound},
		{"another incident's approval, an admin", store, "inc_2", req.ID, root, "", http.StatusNotFound},
		{"another incident's approval, not an approver", store, "inc_2", req.ID, bob, "", http.StatusNotFound},
		{"unreadable, an approver", closed, "inc_1", req.ID, alice, "", http.StatusServiceUnavailable},
		{"unreadable, not an approver", closed, "inc_1", req.ID, bob, "", http.StatusServiceUnavailable},
		{"unreadable, an admin", closed, "inc_1", req.ID, root, "", http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &oncall{approvals: c.store}
			by, err := o.decider(ctx, c.incident, c.approval, c.p)
			code, msg := decisionError(err)
			if by != c.by || code != c.code {
				t.Fatalf("decided by %q, answer %d %q; want %q, %d", by, code, msg, c.by, c.code)
			}
			if code == http.StatusServiceUnavailable && (!errors.Is(err, nats.ErrConnectionClosed) ||
				!strings.HasPrefix(msg, "decision failed: approval "+req.ID+" could not be read, nothing decided: ")) {
				t.Fatalf("unreadable approval: %q (%v)", msg, err)
			}
		})
	}
	// Nothing was decided by asking.
	got, _, err := store.Get(ctx, req.ID)
	if err != nil || got.Decision != nil {
		t.Fatalf("the approval after the checks: %+v, %v", got, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
