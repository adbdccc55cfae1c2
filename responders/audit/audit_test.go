package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
)

// chain appends n records for one incident through a real JetStream (some
// alone, some two to a message) and returns them as stored.
func chain(t *testing.T, n int) [][]byte {
	t.Helper()
	b := bustest.Run(t)
	rec := &audit.Recorder{JS: b.JS}
	ctx := context.Background()
	var head audit.Chain
	var err error
	for i := 0; i < n; i++ {
		if i%3 == 0 || i == n-1 {
			head, err = rec.Append(ctx, head, audit.Record{Incident: "inc_1", Kind: audit.KindStepStarted, Step: "s"})
		} else {
			head, err = rec.Extend(ctx, head, audit.Record{Incident: "inc_1", Kind: audit.KindStepSucceeded, Step: "s"},
				audit.Record{Incident: "inc_1", Kind: audit.KindStepStarted, Step: "t"})
			i++
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// An append from a stale head (a session resuming after a crash whose
	// predecessor appended beyond the head it recorded): JetStream answers
	// duplicate, and the record is appended after the chain's stored last
	// record instead of being dropped.
	head, err = rec.Append(ctx, audit.Chain{Seq: 1, Head: "ignored"}, audit.Record{Incident: "inc_1", Kind: "x"})
	if err != nil {
		t.Fatal(err)
	}
	n++
	var out [][]byte
	msgs := b.Messages(t, exposure.StreamAudit)
	for _, m := range msgs {
		out = append(out, audit.Records(m.Data)...)
	}
	if len(out) != n || len(msgs) >= n {
		t.Fatalf("stored %d records in %d messages, want %d records, some sharing a message", len(out), len(msgs), n)
	}
	if head.Seq != uint64(n) || head.Head != audit.Hash(out[n-1]) {
		t.Fatalf("head %+v does not match the last stored record", head)
	}
	// Extending from a head another writer extended already is a fork.
	if _, err := rec.Extend(ctx, audit.Chain{Seq: 1, Head: audit.Hash(out[0])}, audit.Record{Incident: "inc_1", Kind: "y"}); !errors.Is(err, audit.ErrForked) {
		t.Fatalf("extend from a taken head: %v, want ErrForked", err)
	}
	if got := len(b.Messages(t, exposure.StreamAudit)); got != len(msgs) {
		t.Fatalf("the forked extension was stored: %d messages, want %d", got, len(msgs))
	}
	return out
}

// TestRecordsSplitsAMessage: a message holds one record per line; one that
// is a single record is that record.
func TestRecordsSplitsAMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{"seq":1}`, []string{`{"seq":1}`}},
		{"{\"seq\":1}\n{\"seq\":2,\"detail\":\"a\\nb\"}", []string{`{"seq":1}`, `{"seq":2,"detail":"a\nb"}`}},
		{"{\"seq\":1}\n\n", []string{`{"seq":1}`}},
		{"", nil},
	} {
		var got []string
		for _, r := range audit.Records([]byte(tc.in)) {
			got = append(got, string(r))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("Records(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestChainVerifiesAndTamperingIsDetected(t *testing.T) {
	recs := chain(t, 6)
	if p := audit.Verify(recs); len(p) != 0 {
		t.Fatalf("an intact chain reports %v", p)
	}
	// An altered record: its successor's prev no longer matches.
	var r audit.Record
	_ = json.Unmarshal(recs[2], &r)
	r.Detail = "nothing happened here"
	altered, _ := json.Marshal(r)
	tampered := append(append(append([][]byte{}, recs[:2]...), altered), recs[3:]...)
	if p := audit.Verify(tampered); len(p) != 1 || !strings.Contains(p[0], "seq 4: prev hash does not match") {
		t.Fatalf("altered record: %v", p)
	}
	// A removed record.
	removed := append(append([][]byte{}, recs[:3]...), recs[4:]...)
	if p := audit.Verify(removed); len(p) == 0 || !strings.Contains(strings.Join(p, ";"), "records missing") {
		t.Fatalf("removed record: %v", p)
	}
}
