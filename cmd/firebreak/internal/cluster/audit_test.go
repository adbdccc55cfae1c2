package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/responders/audit"
)

func TestCheckExclusive(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	rec := func(kind string, step, actor string, s float64) audit.Record {
		return audit.Record{Kind: kind, Playbook: "pb", Step: step, Actor: actor, At: at(s)}
	}
	// r1 starts "notify" at 1 s and records no outcome; r2 starts "revoke" at 5 s.
	recs := []audit.Record{
		rec(audit.KindStepStarted, "verify", "r1", 0), rec(audit.KindStepSucceeded, "verify", "r1", 0.5),
		rec(audit.KindStepStarted, "notify", "r1", 1),
		rec(audit.KindStepStarted, "revoke", "r2", 5), rec(audit.KindStepSucceeded, "revoke", "r2", 6),
	}
	for _, tc := range []struct {
		name    string
		ends    map[string][]time.Time
		wantErr string
	}{
		{"killed before the takeover", map[string][]time.Time{"r1": {at(4)}}, ""},
		{"stopped before the takeover, killed later", map[string][]time.Time{"r1": {at(9), at(3.5)}}, ""},
		{"killed after the takeover", map[string][]time.Time{"r1": {at(5.5)}}, "began while step pb/notify (attempt 0 by r1"},
		{"stopped after the takeover", map[string][]time.Time{"r1": {at(5.2)}}, "began while step pb/notify"},
		{"never ended", nil, "step pb/notify attempt 0 by r1 started at 2026-11-27T03:00:01Z and has no recorded outcome"},
		{"a stop before the attempt began does not count", map[string][]time.Time{"r1": {at(0.8)}}, "has no recorded outcome"},
		{"another responder's stop does not count", map[string][]time.Time{"r2": {at(2)}}, "has no recorded outcome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExclusive("inc_1", recs, tc.ends)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}

	// Two recorded attempts that overlap.
	overlap := []audit.Record{
		rec(audit.KindStepStarted, "revoke", "r1", 0), rec(audit.KindStepStarted, "notify", "r2", 1),
		rec(audit.KindStepSucceeded, "notify", "r2", 2), rec(audit.KindStepSucceeded, "revoke", "r1", 3),
	}
	if err := CheckExclusive("inc_3", overlap, nil); err == nil || !strings.Contains(err.Error(), "began while step pb/revoke") {
		t.Fatalf("two recorded attempts overlapping: %v", err)
	}
	// A record retried after a failed publish is stored after later ones:
	// the chain's sequence numbers, not the stream, give the order.
	retried := []audit.Record{
		{Kind: audit.KindStepSucceeded, Playbook: "pb", Step: "verify", Actor: "r1", At: at(0.5), Seq: 2},
		{Kind: audit.KindStepStarted, Playbook: "pb", Step: "revoke", Actor: "r1", At: at(0.6), Seq: 3},
		{Kind: audit.KindStepStarted, Playbook: "pb", Step: "verify", Actor: "r1", At: at(0), Seq: 1},
		{Kind: audit.KindStepSucceeded, Playbook: "pb", Step: "revoke", Actor: "r1", At: at(1), Seq: 4},
	}
	if err := CheckExclusive("inc_4", retried, nil); err != nil {
		t.Fatalf("records stored out of chain order: %v", err)
	}
	// An action that found nothing to do ends its attempt with step.skipped
	// (a redaction step for a key only in a ticket's metadata).
	skipped := []audit.Record{
		rec(audit.KindStepStarted, "redact", "r1", 0), rec(audit.KindStepSkipped, "redact", "r1", 0.5),
		rec(audit.KindStepStarted, "notify", "r2", 1), rec(audit.KindStepSucceeded, "notify", "r2", 2),
	}
	if err := CheckExclusive("inc_5", skipped, nil); err != nil {
		t.Fatalf("an attempt ended by step.skipped: %v", err)
	}
	// The same responder's next step is no proof: two sessions of one
	// process may hold the same incident if its lease failed.
	movedOn := []audit.Record{
		rec(audit.KindStepStarted, "revoke", "r1", 0), // outcome record lost
		rec(audit.KindStepStarted, "notify", "r1", 2), rec(audit.KindStepSucceeded, "notify", "r1", 2.5),
	}
	if err := CheckExclusive("inc_2", movedOn, nil); err == nil {
		t.Fatal("an attempt bounded only by its responder's next step passed")
	}
}

func TestSessionStops(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fb.log")
	log := `{"incident":"inc_a","instance":"r1","level":"warning","msg":"incident lease expires before it can be renewed; stopping","time":"2026-11-27T02:52:17.150Z"}
{"incident":"inc_a","instance":"r1","level":"warning","msg":"stopped before finishing; the message will be redelivered","time":"2026-11-27T02:52:17.250Z"}
{"incident":"inc_a","instance":"r1","level":"info","msg":"incident contained","time":"2026-11-27T02:52:18Z"}
not json "instance"
{"incident":"inc_b","instance":"r2","level":"warning","msg":"incident taken over by another responder; leaving the message for redelivery","time":"2026-11-27T02:52:19.5Z"}
{"incident":"inc_b","instance":"r3","level":"info","msg":"stopping: incident handed over for another instance to resume","time":"2026-11-27T02:52:20Z"}
`
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SessionStops(p)
	if err != nil {
		t.Fatal(err)
	}
	// The heartbeat's message comes before the session's work ended: only
	// the session's own last line counts.
	want := map[string]map[string]string{
		"inc_a": {"r1": "2026-11-27T02:52:17.25Z"},
		"inc_b": {"r2": "2026-11-27T02:52:19.5Z", "r3": "2026-11-27T02:52:20Z"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, byActor := range want {
		if len(got[id]) != len(byActor) {
			t.Errorf("%s: got %v, want %v", id, got[id], byActor)
		}
		for actor, w := range byActor {
			if ts := got[id][actor]; len(ts) != 1 || ts[0].Format(time.RFC3339Nano) != w {
				t.Errorf("%s/%s: got %v, want [%s]", id, actor, ts, w)
			}
		}
	}
	actors, err := Instances(p)
	if err != nil || strings.Join(actors, ",") != "r1,r2,r3" {
		t.Fatalf("Instances: %v %v, want r1,r2,r3", actors, err)
	}
}
