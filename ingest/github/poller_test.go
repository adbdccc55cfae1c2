package github

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// listing is a Lister whose every scope lists the same open alerts on one page.
type listing struct{ alerts *[]ListedAlert }

func (l listing) ListAlerts(context.Context, Scope, Cursor, int) (Page, error) {
	return Page{Alerts: append([]ListedAlert(nil), *l.alerts...), Done: true, Remaining: -1}, nil
}

// crashingKV fails the first write of each key in failOnce, as a process
// that died between publishing an alert and marking it leaves the marker
// unwritten.
type crashingKV struct {
	jetstream.KeyValue
	failOnce map[string]bool
}

var errCrash = errors.New("simulated crash before the marker was written")

func (k *crashingKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if k.failOnce[key] {
		delete(k.failOnce, key)
		return 0, errCrash
	}
	return k.KeyValue.Put(ctx, key, value)
}

type pollEnv struct {
	b      *bustest.Bus
	kv     *crashingKV
	ledger *Ledger
	alerts []ListedAlert
	poller *Poller
}

func newPollEnv(t *testing.T) *pollEnv {
	t.Helper()
	b := bustest.Run(t)
	kv, err := EnsureState(context.Background(), b.JS, bus.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	e := &pollEnv{b: b, kv: &crashingKV{KeyValue: kv}}
	e.ledger = &Ledger{KV: e.kv}
	l := logrus.New()
	l.SetOutput(io.Discard)
	e.poller = NewPoller(PollerConfig{Scopes: []Scope{{Kind: "repo", Name: "acme/api"}}}, listing{&e.alerts},
		&bus.Publisher{JS: b.JS, Deliveries: b.Handles.Deliveries}, e.ledger, l)
	return e
}

func (e *pollEnv) pass(t *testing.T) (Stats, error) {
	t.Helper()
	return e.poller.Backfill(context.Background(), nil, time.Time{})
}

// published is what the exposures on the stream say: "action ref" per
// message, with its message id.
func (e *pollEnv) published(t *testing.T) (actions, msgIDs []string) {
	t.Helper()
	for _, m := range e.b.Messages(t, exposure.StreamExposures) {
		ev, err := exposure.Decode(m.Data)
		if err != nil || ev.Alert == nil {
			t.Fatalf("not an alert exposure: %v", err)
		}
		actions = append(actions, ev.Alert.Action+" "+ev.Source.Ref)
		msgIDs = append(msgIDs, m.Header.Get("Nats-Msg-Id"))
	}
	return actions, msgIDs
}

func (e *pollEnv) mark(t *testing.T, number int64) AlertMark {
	t.Helper()
	m, ok, err := e.ledger.Alert(context.Background(), "acme/api", number)
	if err != nil || !ok {
		t.Fatalf("marker of #%d: %v (found %v)", number, err, ok)
	}
	return m
}

var t0 = time.Date(2026, 11, 26, 9, 14, 3, 0, time.UTC)

func listedOpen(n int64, updated time.Time) ListedAlert {
	return ListedAlert{Repo: "acme/api", Number: n, State: "open", SecretType: "openai_api_key", CreatedAt: t0, UpdatedAt: updated}
}

// TestPollRepublishesAResolvedAlertListedOpen: an alert Firebreak recorded
// as resolved (its resolved webhook) that GitHub lists open again — reopened
// while the reopened webhook was missed — is published once more as
// "reopened", under a message id of its own, and marked open; the next pass
// publishes nothing. Resolved and reopened again, within JetStream's
// duplicate window, it is published again under yet another id. A new alert
// is published as "created"; one marked open is skipped.
func TestPollRepublishesAResolvedAlertListedOpen(t *testing.T) {
	e := newPollEnv(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.ledger.MarkAlert(ctx, "acme/api", 1, AlertOpen, t0))
	must(e.ledger.MarkAlert(ctx, "acme/api", 2, AlertResolved, t0.Add(time.Minute)))
	e.alerts = []ListedAlert{listedOpen(3, t0), listedOpen(2, t0.Add(time.Hour)), listedOpen(1, t0)}

	st, err := e.pass(t)
	if err != nil || st.Published != 2 || st.Reopened != 1 || st.Skipped != 1 {
		t.Fatalf("first pass: %+v %v, want #3 created, #2 reopened, #1 skipped", st, err)
	}
	actions, ids := e.published(t)
	if strings.Join(actions, ", ") != "created acme/api#3, reopened acme/api#2" {
		t.Fatalf("published %v", actions)
	}
	if ids[0] != "github-alert:acme/api#3" || ids[1] == "github-alert:acme/api#2" || !strings.HasPrefix(ids[1], "github-alert:acme/api#2") {
		t.Fatalf("message ids %v: the reopening needs an id of its own", ids)
	}
	if m := e.mark(t, 2); m.State != AlertOpen || !m.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("marker of the reopened alert: %+v, want open at the listing's updated_at", m)
	}

	st, err = e.pass(t)
	if err != nil || st.Published != 0 || st.Skipped != 3 {
		t.Fatalf("second pass: %+v %v, want nothing published", st, err)
	}

	// Resolved again (a resolved webhook), reopened again while the webhook
	// was missed: a second reopening, not a duplicate of the first.
	must(e.ledger.MarkAlert(ctx, "acme/api", 2, AlertResolved, t0.Add(2*time.Hour)))
	e.alerts[1] = listedOpen(2, t0.Add(3*time.Hour))
	if st, err = e.pass(t); err != nil || st.Reopened != 1 {
		t.Fatalf("pass after the second reopening: %+v %v", st, err)
	}
	actions, ids = e.published(t)
	if len(actions) != 3 || actions[2] != "reopened acme/api#2" || ids[2] == ids[1] {
		t.Fatalf("after the second reopening: %v %v", actions, ids)
	}
}

// TestPollSkipsAListingOlderThanTheResolution: a page listed before the
// resolution was recorded (its updated_at older than the marker's) shows
// the alert open because it was open then: it is not a reopening.
func TestPollSkipsAListingOlderThanTheResolution(t *testing.T) {
	e := newPollEnv(t)
	if err := e.ledger.MarkAlert(context.Background(), "acme/api", 4, AlertResolved, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.alerts = []ListedAlert{listedOpen(4, t0)}
	if st, err := e.pass(t); err != nil || st.Published != 0 || st.Skipped != 1 {
		t.Fatalf("pass: %+v %v, want the stale listing skipped", st, err)
	}
	if m := e.mark(t, 4); m.State != AlertResolved {
		t.Fatalf("marker: %+v", m)
	}
}

// TestPollRetryAfterPublishedNotMarked: a pass publishes a reopened alert and
// a new one and dies before writing their markers. The retry publishes them
// again under the same message ids, which JetStream drops as duplicates:
// one exposure each, and both are marked open afterwards.
func TestPollRetryAfterPublishedNotMarked(t *testing.T) {
	e := newPollEnv(t)
	if err := e.ledger.MarkAlert(context.Background(), "acme/api", 5, AlertResolved, t0); err != nil {
		t.Fatal(err)
	}
	e.alerts = []ListedAlert{listedOpen(6, t0), listedOpen(5, t0.Add(time.Hour))}
	e.kv.failOnce = map[string]bool{alertKey("acme/api", 5): true, alertKey("acme/api", 6): true}
	for range 2 { // #6 is not marked; on the retry #6 is, #5 is not
		if _, err := e.pass(t); !errors.Is(err, errCrash) || !errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("pass with the marker write failing: %v", err)
		}
	}
	if m := e.mark(t, 5); m.State != AlertResolved {
		t.Fatalf("marker of #5 after the failed passes: %+v", m)
	}
	st, err := e.pass(t)
	if err != nil || st.Published != 1 || st.Reopened != 1 || st.Skipped != 1 {
		t.Fatalf("retry: %+v %v", st, err)
	}
	actions, _ := e.published(t)
	if strings.Join(actions, ", ") != "created acme/api#6, reopened acme/api#5" {
		t.Fatalf("exposures after the retries: %v, want one per alert", actions)
	}
	if m := e.mark(t, 5); m.State != AlertOpen {
		t.Fatalf("marker of #5 after the retry: %+v", m)
	}
	if st, err := e.pass(t); err != nil || st.Published != 0 {
		t.Fatalf("pass after the retry: %+v %v", st, err)
	}
}

// TestPollReadsMarkersOfEarlierVersions: markers written before states were
// recorded ({"repo","number","at"}) — in deployed buckets — and markers that
// do not decode read as open: those alerts are not published again.
func TestPollReadsMarkersOfEarlierVersions(t *testing.T) {
	e := newPollEnv(t)
	ctx := context.Background()
	if _, err := e.kv.KeyValue.Put(ctx, alertKey("acme/api", 7), []byte(`{"repo":"acme/api","number":7,"at":"2026-10-01T08:00:00.123456789Z"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kv.KeyValue.Put(ctx, alertKey("acme/api", 8), []byte(`{"repo":`)); err != nil {
		t.Fatal(err)
	}
	if m := e.mark(t, 7); m.State != AlertOpen || !m.UpdatedAt.IsZero() || m.Number != 7 || m.At.IsZero() {
		t.Fatalf("old marker read as %+v, want open with updated_at unknown", m)
	}
	e.alerts = []ListedAlert{listedOpen(8, t0.Add(time.Hour)), listedOpen(7, t0.Add(time.Hour))}
	if st, err := e.pass(t); err != nil || st.Published != 0 || st.Skipped != 2 {
		t.Fatalf("pass: %+v %v, want both skipped", st, err)
	}
}

// TestWebhookRecordsAlertStates: a created webhook marks its alert open, a
// resolved one marks it resolved, each with the payload's updated_at; a poll
// that then lists the resolved alert open republishes it as reopened.
func TestWebhookRecordsAlertStates(t *testing.T) {
	e := newPollEnv(t)
	l := logrus.New()
	l.SetOutput(io.Discard)
	h, err := New(Config{Secret: secret.Static(key), MaxBody: 1 << 20, Alerts: e.ledger},
		&bus.Publisher{JS: e.b.JS, Deliveries: e.b.Handles.Deliveries}, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, repo string
		number     int64
		state      string
		updated    string
	}{
		{"alert-created-openai.json", "acme/payments-api", 17, AlertOpen, "2026-11-26T09:14:03Z"},
		{"alert-resolved-false-positive.json", "acme/payments-api", 18, AlertResolved, "2026-11-26T09:17:55Z"},
	} {
		body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "github", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if w := do(h, "secret_scanning_alert", "d-"+tc.file, SignatureHeader(key, body), body); w.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", tc.file, w.Code, w.Body)
		}
		m, ok, err := e.ledger.Alert(context.Background(), tc.repo, tc.number)
		if err != nil || !ok || m.State != tc.state || m.UpdatedAt.Format(time.RFC3339) != tc.updated {
			t.Fatalf("%s: marker %+v (found %v, %v), want %s at %s", tc.file, m, ok, err, tc.state, tc.updated)
		}
	}
	reopened := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	e.alerts = []ListedAlert{{Repo: "acme/payments-api", Number: 18, State: "open", SecretType: "openai_api_key", UpdatedAt: reopened},
		{Repo: "acme/payments-api", Number: 17, State: "open", SecretType: "openai_api_key", UpdatedAt: reopened}}
	if st, err := e.pass(t); err != nil || st.Published != 1 || st.Reopened != 1 || st.Skipped != 1 {
		t.Fatalf("poll after the webhooks: %+v %v", st, err)
	}
}

// FuzzParseAlertMark: whatever a marker holds, it reads as open or
// resolved, and a marker this version writes reads back as written.
func FuzzParseAlertMark(f *testing.F) {
	f.Add([]byte(`{"repo":"acme/api","number":7,"at":"2026-10-01T08:00:00Z"}`))
	f.Add([]byte(`{"repo":"acme/api","number":7,"state":"resolved","updated_at":"2026-10-01T08:00:00Z","at":"2026-10-01T08:00:01Z"}`))
	f.Add([]byte(`{"state":"dismissed"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"updated_at":"yesterday"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseAlertMark(b)
		if m.State != AlertOpen && m.State != AlertResolved {
			t.Fatalf("state %q", m.State)
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if again := parseAlertMark(out); again.State != m.State || !again.UpdatedAt.Equal(m.UpdatedAt) || !again.At.Equal(m.At) ||
			again.Repo != m.Repo || again.Number != m.Number {
			t.Fatalf("%+v reads back as %+v", m, again)
		}
	})
}

// The poller's bucket persists like the rest of Firebreak's derived state
// (asynchronously by default, every write fsynced with nats.sync_state), and
// a bucket an earlier version made synchronously is kept, with its markers.
func TestStateBucketPersistsLikeTheOtherState(t *testing.T) {
	ctx := context.Background()
	mode := func(t *testing.T, js jetstream.JetStream) jetstream.PersistModeType {
		t.Helper()
		s, err := js.Stream(ctx, "KV_"+BucketGitHub)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.PersistMode
	}
	b := bustest.Run(t)
	if _, err := EnsureState(ctx, b.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, b.JS); got != jetstream.AsyncPersistMode {
		t.Errorf("default topology: persist mode %v, want async", got)
	}
	synced := bus.DefaultTopology()
	synced.SyncState = true
	if _, err := EnsureState(ctx, b.JS, synced); !errors.Is(err, bus.ErrPersistMode) {
		t.Errorf("sync_state over an async bucket: got %v, want ErrPersistMode", err)
	}

	// A bucket as versions before this one made it: nats.go's defaults.
	old := bustest.Run(t)
	kv, err := old.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketGitHub, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "alert.x", []byte("open")); err != nil {
		t.Fatal(err)
	}
	kv, err = EnsureState(ctx, old.JS, bus.DefaultTopology())
	if err != nil {
		t.Fatalf("upgrading a synchronous bucket: %v", err)
	}
	if got := mode(t, old.JS); got != jetstream.DefaultPersistMode {
		t.Errorf("upgraded bucket: persist mode %v, want the synchronous one kept", got)
	}
	if e, err := kv.Get(ctx, "alert.x"); err != nil || string(e.Value()) != "open" {
		t.Errorf("upgraded bucket lost its marker: %v", err)
	}
}
