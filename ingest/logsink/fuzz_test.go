package logsink

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"

	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
)

// checkRecords holds for every parser's success: entries exist, and no label
// exceeds the bounds an exposure may carry.
func checkRecords(t *testing.T, recs []Record, err error) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Msg == "" {
			t.Fatalf("error %v is not a ParseError with a message", err)
		}
		return
	}
	if len(recs) == 0 {
		t.Fatal("success without entries")
	}
	for _, r := range recs {
		for _, m := range []map[string]string{r.Base, r.Extra} {
			for k, v := range m {
				if len(k) > maxLabelKey || len(v) > maxLabelValue {
					t.Fatalf("unbounded label %d/%d bytes", len(k), len(v))
				}
			}
		}
		labels, _ := r.labels()
		s := r.stream(labels, nil)
		if len(s) > maxStream {
			t.Fatalf("stream of %d bytes", len(s))
		}
		for k, v := range sanitize(labels, nil) {
			if len(k) > maxLabelKey || len(v) > maxLabelValue {
				t.Fatalf("unbounded sanitized label %d/%d bytes", len(k), len(v))
			}
		}
	}
}

func FuzzParseLogs(f *testing.F) {
	f.Add([]byte(`{"msg":"a","service":"x","kubernetes":{"namespace_name":"p"}}`+"\n"+`{"log":"b","ts":1700000000}`), "application/x-ndjson")
	f.Add([]byte(`[{"message":"a"},{"message":"b","n":1.5,"ok":true}]`), "application/json")
	f.Add([]byte("plain line\r\nanother\n\n"), "text/plain")
	f.Add([]byte(`{"a":1}{"b":2} {"c":[1,2]}`), "")
	f.Add([]byte(`{"msg":"x"`), "application/json")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		recs, err := ParseLogs(body, ct, map[string]string{"service": "s"})
		checkRecords(t, recs, err)
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			// Every entry's text comes from the body.
			for _, r := range recs {
				if !bytes.Contains(body, bytes.TrimSpace(r.Line)) {
					t.Fatalf("entry text not from the body")
				}
			}
		}
	})
}

func FuzzParseHECEvents(f *testing.F) {
	f.Add([]byte(`{"event":"a","host":"h","fields":{"k":"v","t":["a",1]}}{"time":1.5,"event":{"message":"x"}}`))
	f.Add([]byte(`{"event":""}`))
	f.Add([]byte(`{"host":"h"}`))
	f.Add([]byte(`{"time":"abc","event":"x"}`))
	f.Add([]byte(` "text" `))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseHECEvents(body)
		checkRecords(t, recs, err)
		if err != nil {
			var pe *ParseError
			errors.As(err, &pe)
			if pe.HECCode != 5 && pe.HECCode != 6 && pe.HECCode != 12 && pe.HECCode != 13 {
				t.Fatalf("HEC code %d", pe.HECCode)
			}
		}
		recs, err = ParseHECRaw(body, url.Values{"host": {"h"}, "source": {strings.Repeat("s", 300)}})
		checkRecords(t, recs, err)
	})
}

func FuzzParseLoki(f *testing.F) {
	f.Add([]byte(`{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","line"],["1","x",{"trace":"t"}]]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{},"values":[]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}`))
	f.Add([]byte(`{"streams":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseLoki(body)
		checkRecords(t, recs, err)
		for _, r := range recs {
			if len(r.Base) == 0 {
				t.Fatal("a Loki entry without stream labels")
			}
		}
	})
}

// FuzzParseLokiProto feeds arbitrary protobuf (snappy-compressed here, as
// the wire has it) to the Loki protobuf reader: no panic, bounded labels,
// every record with its stream's labels.
func FuzzParseLokiProto(f *testing.F) {
	f.Add(lokitest.Encode(lokitest.Stream{Labels: `{app="a", env="prod"}`, Entries: []lokitest.Entry{{Sec: 1700000000, Line: "line"}, {Sec: 1, Nanos: 5, Line: "x", Metadata: [][2]string{{"trace", "t"}}}}}))
	f.Add(lokitest.Encode(lokitest.Stream{Labels: `{}`}))
	f.Add(lokitest.Encode(lokitest.Stream{Labels: `{a="\"q\"\n", b_1 = "v" ,}`, Entries: []lokitest.Entry{{Line: ""}}}))
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 0x7b})
	f.Fuzz(func(t *testing.T, raw []byte) {
		recs, err := ParseLokiProto(snappy.Encode(nil, raw), 1<<20)
		checkRecords(t, recs, err)
		for _, r := range recs {
			if len(r.Base) == 0 {
				t.Fatal("a Loki entry without stream labels")
			}
		}
	})
}

// FuzzSyslogFraming feeds arbitrary streams to the framer and the message
// parser: no panic, frames bounded, and for well-formed octet-counted input
// the frames are exactly the messages.
func FuzzSyslogFraming(f *testing.F) {
	f.Add([]byte("23 <13>1 - h a - - - hello17 <13>1 - - - - - - x"), 0)
	f.Add([]byte("<34>Oct 11 22:14:15 mymachine su: 'su root' failed\r\n<13>Jan  1 00:00:00 h p[1]: m\n"), 0)
	f.Add([]byte("12x <13>"), 0)
	f.Add([]byte("999999999 abc"), 0)
	f.Add([]byte("<13>1 2026-01-01T00:00:00Z h a p m [sd@1 k=\"v\"] msg"), 3)
	f.Fuzz(func(t *testing.T, stream []byte, split int) {
		fr := newFramer(bytes.NewReader(stream), minFrame)
		m := NewSyslogMachine()
		total := 0
		for i := 0; i < 10000; i++ {
			frame, err := fr.next()
			if len(frame) > minFrame+64<<10 {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			if len(frame) > 0 {
				rec := SyslogRecord(m, frame, "127.0.0.1", map[string]string{"env": "dev"})
				if !bytes.Equal(rec.Line, frame) || rec.Base["env"] != "dev" {
					t.Fatal("record does not carry its frame")
				}
				total += len(frame)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFraming) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
		}
		// Round trip: octet-count the input's lines and frame them back.
		var msgs [][]byte
		for _, l := range bytes.Split(stream, []byte{'\n'}) {
			if len(l) > 0 && len(l) < minFrame {
				msgs = append(msgs, l)
			}
		}
		var enc bytes.Buffer
		for _, msg := range msgs {
			enc.WriteString(itoa(len(msg)) + " ")
			enc.Write(msg)
		}
		fr = newFramer(&splitReader{b: enc.Bytes(), n: max(1, split%64)}, minFrame)
		for i, want := range msgs {
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("octet frame %d: %v (%d vs %d bytes)", i, err, len(got), len(want))
			}
		}
		if _, err := fr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last frame: %v", err)
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// splitReader returns at most n bytes per Read, like a slow connection.
type splitReader struct {
	b []byte
	n int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}
