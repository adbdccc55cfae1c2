package cluster

import (
	"errors"
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
		name         string
		kills, stops []time.Time
		wantErr      string
		unproven     bool
	}{
		{"killed before the takeover", []time.Time{at(4)}, nil, "", false},
		{"lease given up before the takeover", []time.Time{at(9)}, []time.Time{at(3.5)}, "", false},
		{"killed after the takeover", []time.Time{at(5.5)}, nil, "began while step pb/notify", true},
		{"stopped after the takeover", nil, []time.Time{at(5.2)}, "began while step pb/notify", true},
		{"never ended", nil, nil, "no recorded or inferable end", true},
		{"stop before the attempt began does not count", nil, []time.Time{at(0.8)}, "no recorded or inferable end", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExclusive("inc_1", recs, tc.kills, tc.stops)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && errors.Is(err, ErrUnproven) != tc.unproven:
				t.Fatalf("error %v: unproven %v, want %v", err, errors.Is(err, ErrUnproven), tc.unproven)
			}
		})
	}

	// Two recorded attempts that overlap: a proven violation.
	overlap := []audit.Record{
		rec(audit.KindStepStarted, "revoke", "r1", 0), rec(audit.KindStepStarted, "notify", "r2", 1),
		rec(audit.KindStepSucceeded, "notify", "r2", 2), rec(audit.KindStepSucceeded, "revoke", "r1", 3),
	}
	if err := CheckExclusive("inc_3", overlap, nil, nil); err == nil || errors.Is(err, ErrUnproven) {
		t.Fatalf("two recorded attempts overlapping: %v, want a proven violation", err)
	}
	// The same responder moving on proves its previous step ended.
	movedOn := []audit.Record{
		rec(audit.KindStepStarted, "revoke", "r1", 0), // outcome record lost
		rec(audit.KindStepStarted, "notify", "r1", 2), rec(audit.KindStepSucceeded, "notify", "r1", 2.5),
	}
	if err := CheckExclusive("inc_2", movedOn, nil, nil); err != nil {
		t.Fatalf("a responder's next step bounds its previous one: %v", err)
	}
}

func TestSessionStops(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fb.log")
	log := `{"incident":"inc_a","level":"warning","msg":"incident lease expires before it can be renewed; stopping","time":"2026-11-27T02:52:17.250Z"}
{"incident":"inc_a","level":"info","msg":"incident contained","time":"2026-11-27T02:52:18Z"}
not json "incident
{"incident":"inc_b","level":"warning","msg":"incident lease lost to another responder; stopping","time":"2026-11-27T02:52:19.5Z"}
`
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SessionStops(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"inc_a": "2026-11-27T02:52:17.25Z", "inc_b": "2026-11-27T02:52:19.5Z"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, w := range want {
		if len(got[id]) != 1 || got[id][0].Format(time.RFC3339Nano) != w {
			t.Errorf("%s: got %v, want [%s]", id, got[id], w)
		}
	}
}
