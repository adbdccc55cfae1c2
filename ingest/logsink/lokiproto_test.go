package logsink_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
)

// TestLokiProtobuf pushes what Promtail and Grafana Alloy send (protobuf,
// snappy): the same push as TestLoki's JSON makes the same exposure, and a
// key pasted into a stream label is found too.
func TestLokiProtobuf(t *testing.T) {
	h := newHarness(t, time.Minute)
	key, labelKey := anthropicKey(), openAIKey()
	var entries []lokitest.Entry
	for i := 0; i < 1000; i++ {
		entries = append(entries, lokitest.Entry{Sec: 1764237600, Nanos: int64(i),
			Line: fmt.Sprintf(`level=error msg="auth failed" key=%s n=%d`, key, i)})
	}
	push := lokitest.Push(
		lokitest.Stream{Labels: `{app="payments", job="payments/api", namespace="payments-prod"}`, Entries: entries},
		lokitest.Stream{Labels: `{app="other"}`, Entries: []lokitest.Entry{{Sec: 1764237600, Line: "all good", Metadata: [][2]string{{"trace_id", "abc"}}}}},
		lokitest.Stream{Labels: `{app="leaky", api_key="` + labelKey + `"}`, Entries: []lokitest.Entry{{Sec: 1764237601, Line: "started"}}},
	)
	r := h.post("/loki/api/v1/push", push, hdr("Content-Type", "application/x-protobuf", "X-Scope-OrgID", "team-a")...)
	if r.code != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	byProvider := map[string]*exposure.Event{}
	for _, e := range h.exposures() {
		byProvider[e.Secret.Provider] = e
	}
	e := byProvider["anthropic"]
	if len(byProvider) != 2 || e == nil || byProvider["openai"] == nil {
		t.Fatalf("exposures %v", byProvider)
	}
	if e.Source.Kind != exposure.SourceLoki || e.Source.Ref != "tenant:team-a" || e.Count != 1000 ||
		e.Environment != exposure.EnvProd || e.Location.Stream != `{app="payments",job="payments/api",namespace="payments-prod"}` {
		t.Fatalf("exposure %+v", e)
	}
	if !e.ObservedAt.Equal(time.Unix(1764237600, 0)) || h.open(e) != key {
		t.Fatalf("observed %v", e.ObservedAt)
	}
	if o := byProvider["openai"]; h.open(o) != labelKey || o.Source.Kind != exposure.SourceLoki {
		t.Fatalf("label exposure %+v", o)
	}
	h.assertClean(key, labelKey)
}

func TestLokiProtobufErrors(t *testing.T) {
	h := newHarness(t, time.Minute)
	key := anthropicKey()
	pb := hdr("Content-Type", "application/x-protobuf")
	entry := []lokitest.Entry{{Sec: 1, Line: key}}
	stream := func(labels string, entries ...lokitest.Entry) []byte {
		return lokitest.Push(lokitest.Stream{Labels: labels, Entries: entries})
	}
	// A stream whose labels field is a varint, not a string.
	wrongType := protowire.AppendTag(nil, 1, protowire.BytesType)
	wrongType = protowire.AppendBytes(wrongType, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7))
	// A snappy preamble that claims 300 MiB.
	huge := protowire.AppendVarint(nil, 300<<20)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"not snappy", []byte("\x0a\x00"), 400, "not snappy-compressed"},
		{"empty", nil, 400, "no data"},
		{"truncated protobuf", snappy.Encode(nil, lokitest.Encode(lokitest.Stream{Labels: `{a="b"}`, Entries: entry})[:9]), 400, "malformed message"},
		{"labels not text", snappy.Encode(nil, wrongType), 400, "streams[0]: field 1 has the wrong wire type"},
		{"no labels", stream(`{}`, entry...), 400, "streams[0]: at least one label pair"},
		{"labels without braces", stream(`app="a"`, entry...), 400, `streams[0].labels: want {name="value"`},
		{"label without '='", stream(`{app "a"}`, entry...), 400, "streams[0].labels: '=' is expected at byte 6"},
		{"unquoted value holding a key", stream(`{app=`+key+`}`, entry...), 400, "streams[0].labels: a double-quoted value is expected at byte 6"},
		{"label twice", stream(`{a="1", a="2"}`, entry...), 400, "the label at byte 9 appears twice"},
		{"missing comma", stream(`{a="1" b="2"}`, entry...), 400, "',' or '}' is expected at byte 8"},
		{"nanos out of range", stream(`{a="b"}`, lokitest.Entry{Sec: 1, Nanos: 2e9, Line: key}), 400, "streams[0].entries[0].timestamp: out of range"},
		{"before 1970", stream(`{a="b"}`, lokitest.Entry{Sec: -5, Line: key}), 400, "streams[0].entries[0].timestamp: out of range"},
		{"decompresses too large", append(huge, 0, 0, 0), 413, "byte limit"},
	} {
		r := h.post("/loki/api/v1/push", c.body, pb...)
		if r.code != c.status || !strings.Contains(string(r.body), c.want) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q", c.name, r.code, r.body)
		}
	}
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures published from rejected requests", n)
	}
	h.assertClean(key)
}
