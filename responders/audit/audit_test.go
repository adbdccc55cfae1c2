package audit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/bus/bustest"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/audit"
)

// chain appends n records for one incident through a real JetStream and
// returns them as stored.
func chain(t *testing.T, n int) [][]byte {
	t.Helper()
	b := bustest.Run(t)
	rec := &audit.Recorder{JS: b.JS}
	var head audit.Chain
	var err error
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			head, err = rec.Append(context.Background(), head, audit.Record{Incident: "inc_1", Kind: audit.KindStepStarted, Step: "s"})
		} else {
			head, err = appendAsync(rec, head)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// An append from a stale head (a session resuming after a crash whose
	// predecessor appended beyond the head it recorded): JetStream answers
	// duplicate, and the record is appended after the chain's stored last
	// record instead of being dropped.
	head, err = rec.Append(context.Background(), audit.Chain{Seq: 1, Head: "ignored"}, audit.Record{Incident: "inc_1", Kind: "x"})
	if err != nil {
		t.Fatal(err)
	}
	n++
	var out [][]byte
	for _, m := range b.Messages(t, exposure.StreamAudit) {
		out = append(out, m.Data)
	}
	if len(out) != n {
		t.Fatalf("stored %d records, want %d", len(out), n)
	}
	if head.Seq != uint64(n) || head.Head != audit.Hash(out[n-1]) {
		t.Fatalf("head %+v does not match the last stored record", head)
	}
	return out
}

func appendAsync(rec *audit.Recorder, head audit.Chain) (audit.Chain, error) {
	h, f, err := rec.AppendAsync(head, audit.Record{Incident: "inc_1", Kind: audit.KindStepSucceeded, Step: "s"})
	if err != nil {
		return head, err
	}
	select {
	case <-f.Ok():
		return h, nil
	case err := <-f.Err():
		return head, err
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
