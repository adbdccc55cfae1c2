package audit_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/responders/audit"
)

// built is a chain of n records of incident inc_1, linked as the Recorder
// links them, stored at stream sequences 10, 11, …
func built(t *testing.T, n int) []audit.Stored {
	t.Helper()
	var out []audit.Stored
	prev := ""
	for i := 1; i <= n; i++ {
		out = append(out, stored(t, uint64(9+i), audit.Record{Incident: "inc_1", Seq: uint64(i), Prev: prev,
			At: time.Date(2025, 1, 2, 3, 4, i, 0, time.UTC), Kind: audit.KindStepSucceeded, Step: fmt.Sprintf("s%d", i)}))
		prev = audit.Hash(out[len(out)-1].Raw)
	}
	return out
}

func stored(t *testing.T, streamSeq uint64, r audit.Record) audit.Stored {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return audit.Stored{StreamSeq: streamSeq, Raw: b, Record: r}
}

// altered is s with its detail rewritten, re-published at streamSeq.
func altered(t *testing.T, s audit.Stored, streamSeq uint64) audit.Stored {
	t.Helper()
	r := s.Record
	r.Detail = "nothing happened here"
	return stored(t, streamSeq, r)
}

// TestVerifyChainReportsEachProblem: each way a stored chain can be broken
// is reported with its own message (and only that), and the ways it may
// legitimately look are not.
func TestVerifyChainReportsEachProblem(t *testing.T) {
	c := built(t, 5)
	head := func(s audit.Stored) *audit.Chain { return &audit.Chain{Seq: s.Record.Seq, Head: audit.Hash(s.Raw)} }
	cat := func(parts ...[]audit.Stored) []audit.Stored {
		var out []audit.Stored
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	var notJSON audit.Record
	jsonErr := json.Unmarshal([]byte("not json"), &notJSON)
	other := c[1].Record
	other.Incident = "inc_2"

	for _, tc := range []struct {
		name    string
		records []audit.Stored
		want    *audit.Chain
		breaks  []audit.Break
	}{
		{name: "intact, at the incident's head", records: c, want: head(c[4])},
		{name: "intact, no head known", records: c},
		{name: "intact, incident with no head yet", records: c, want: &audit.Chain{}},
		// A responder that died after appending beyond the head it last
		// wrote on the incident: the stream is ahead, which is not a break.
		{name: "stream ahead of the incident's head", records: c, want: head(c[3])},
		// Removed and re-published unchanged: ordered by seq, nothing is wrong.
		{name: "re-published unchanged, out of stream order", records: cat(c[:2], c[3:], []audit.Stored{{StreamSeq: 20, Raw: c[2].Raw}}), want: head(c[4])},
		{
			name:    "a record that is not JSON",
			records: cat(c[:2], []audit.Stored{{StreamSeq: 30, Raw: []byte("not json")}}, c[2:]),
			want:    head(c[4]),
			breaks:  []audit.Break{{Problem: "stream message 30 holds a line that is not a JSON audit record: " + jsonErr.Error()}},
		},
		{
			name:    "a JSON value with no seq",
			records: cat(c, []audit.Stored{{StreamSeq: 31, Raw: []byte("null")}, {StreamSeq: 32, Raw: []byte(`{"kind":"x"}`)}}),
			want:    head(c[4]),
			breaks: []audit.Break{
				{Problem: "stream message 31 holds a line with no seq: not a chain record"},
				{Problem: "stream message 32 holds a line with no seq: not a chain record"},
			},
		},
		{
			name:    "a seq stored twice",
			records: cat(c[:3], []audit.Stored{{StreamSeq: 40, Raw: c[2].Raw}}, c[3:]),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 3, Problem: "seq 3 appears twice (a forked or injected record)"}},
		},
		// A fork is reported once, whichever branch the next record links
		// to: that record itself is not altered.
		{
			name:    "a forked seq, the chain going on from the first branch",
			records: cat(c, []audit.Stored{altered(t, c[2], 41)}),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 3, Problem: "seq 3 appears twice (a forked or injected record)"}},
		},
		{
			name:    "a forked seq, the chain going on from the second branch",
			records: cat([]audit.Stored{altered(t, c[2], 5)}, c),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 3, Problem: "seq 3 appears twice (a forked or injected record)"}},
		},
		{
			name:    "the last seq forked",
			records: cat(c, []audit.Stored{altered(t, c[4], 42)}),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 5, Problem: "seq 5 appears twice (a forked or injected record)"}},
		},
		{
			name:    "records missing in the middle",
			records: cat(c[:1], c[3:]),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 4, Problem: "seq 4 follows 1: 2 record(s) missing"}},
		},
		{
			name:    "the first record missing",
			records: c[1:],
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 2, Problem: "seq 2 follows 0: 1 record(s) missing"}},
		},
		{
			name:    "a record altered in the middle",
			records: cat(c[:2], []audit.Stored{altered(t, c[2], 12)}, c[3:]),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 4, Problem: "seq 4: prev hash does not match record 3 (altered or replaced)"}},
		},
		{
			name:    "a record naming another chain",
			records: cat(c[:1], []audit.Stored{stored(t, 11, other)}, c[2:]),
			want:    head(c[4]),
			breaks: []audit.Break{
				{Seq: 2, Problem: `seq 2 names chain "inc_2"`},
				{Seq: 3, Problem: "seq 3: prev hash does not match record 2 (altered or replaced)"},
			},
		},
		{
			name:    "records removed from the end",
			records: c[:3],
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 5, Problem: "the incident records 5 audit records but the stream ends at 3: records removed from the end"}},
		},
		{
			name:   "every record removed",
			want:   head(c[4]),
			breaks: []audit.Break{{Seq: 5, Problem: "the incident records 5 audit records but the stream ends at 0: records removed from the end"}},
		},
		{
			name:    "the last record altered",
			records: cat(c[:4], []audit.Stored{altered(t, c[4], 50)}),
			want:    head(c[4]),
			breaks:  []audit.Break{{Seq: 5, Problem: "seq 5: its hash differs from the head the incident recorded (the last record was altered)"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := audit.VerifyChain("inc_1", tc.records, tc.want)
			if !reflect.DeepEqual(rep.Breaks, tc.breaks) {
				t.Fatalf("breaks:\n got %+v\nwant %+v", rep.Breaks, tc.breaks)
			}
			if rep.OK != (len(tc.breaks) == 0) || rep.Chain != "inc_1" || rep.Records != len(tc.records) {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// TestVerifyChainHead: the report names the chain's last record, which is
// what an incident's head is compared with.
func TestVerifyChainHead(t *testing.T) {
	c := built(t, 3)
	rep := audit.VerifyChain("inc_1", c, nil)
	if !rep.OK || rep.LastSeq != 3 || rep.Head != audit.Hash(c[2].Raw) {
		t.Fatalf("report %+v", rep)
	}
}
