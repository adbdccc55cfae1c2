package logsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink/lokitest"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// checkRecords holds for every parser's success: entries exist, and what an
// exposure takes from their labels is bounded. (Parsers keep labels whole:
// sanitize bounds them, after redaction.)
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

// fuzzEnv runs parsed records through the pipeline for checkNoSecretLeft.
type fuzzEnv struct {
	sc *detect.Scanner
	kr *secret.Keyring
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(f.TempDir(), "keyring.json"))
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzEnv{sc: detect.New(), kr: kr}
}

// keepPublisher keeps what is published.
type keepPublisher struct{ events []*exposure.Event }

func (k *keepPublisher) Publish(_ context.Context, e *exposure.Event, _ string) (bus.PublishResult, error) {
	k.events = append(k.events, e)
	return bus.PublishResult{}, nil
}

// checkNoSecretLeft runs recs through the pipeline as a request of kind
// would go, and fails when an exposure's location (labels, stream, display,
// marshalled or not) keeps any run of 12 bytes of any secret found in the
// request: no secret, whole or cut, escaped or not, reaches a location.
func (env *fuzzEnv) checkNoSecretLeft(t *testing.T, kind string, recs []Record) {
	t.Helper()
	if len(recs) == 0 {
		return
	}
	pub := &keepPublisher{}
	p := &Pipeline{Scanner: env.sc, Sealer: &sealer.Sealer{Keyring: env.kr}, Pub: pub}
	b := &Batch{Kind: kind, Records: recs}
	if kind == exposure.SourceScan {
		b.Location = scanLocation
	}
	if _, err := p.Process(context.Background(), b); err != nil {
		t.Fatalf("process: %v", err)
	}
	var found []string
	for _, e := range pub.events {
		v, err := env.kr.Open(context.Background(), e.Secret.Sealed, []byte(e.Secret.Fingerprint))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, v.Reveal())
	}
	for ei, e := range pub.events {
		js, err := json.Marshal(e.Location)
		if err != nil {
			t.Fatal(err)
		}
		texts := []string{string(js), e.Location.Stream, e.Location.Display}
		for k, v := range e.Location.Labels {
			texts = append(texts, k, v)
		}
		for si, s := range found {
			for i := 0; i+12 <= len(s); i++ {
				for ti, text := range texts {
					if at := strings.Index(text, s[i:i+12]); at >= 0 {
						t.Fatalf("exposure %d: location text %d keeps bytes %d-%d of found secret %d at byte %d",
							ei, ti, i, i+12, si, at)
					}
				}
			}
		}
	}
}

// Seed material: keys in the real formats (random-looking, fixed so that
// seeds are stable; not credentials), in the places where they used to
// leak: a label longer than an exposure keeps, with the key across the cut,
// and a key written with JSON escapes.
var (
	seedRand   = rand.New(rand.NewPCG(1, 2))
	seedOpenAI = "sk-proj-" + seedStr(b64urlAlphabet, 74) + "T3BlbkFJ" + seedStr(b64urlAlphabet, 74)
	seedAWSID  = "AKIA" + seedStr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	// seedAWS holds '+' at byte 4 and '/' at byte 21.
	seedAWS = seedStr(alnumAlphabet, 4) + "+" + seedStr(alnumAlphabet, 16) + "/" + seedStr(alnumAlphabet, 18)
	// seedAWSEsc is seedAWS as .NET (\u002B) and PHP (\/) write it in JSON.
	seedAWSEsc = strings.NewReplacer("+", `\u002B`, "/", `\/`).Replace(seedAWS)
	seedLong   = "https://api.example.com/v1/chat/completions?model=gpt-4o&stream=true&user=u-" + strings.Repeat("7", 16) +
		"&api_key=" + seedOpenAI + "&trace=" + strings.Repeat("ab", 40)
)

const (
	b64urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	alnumAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func seedStr(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[seedRand.IntN(len(alphabet))]
	}
	return string(b)
}

// TestSeedKeysAreFound: the seeds' keys are keys the detectors report (else
// the fuzz seeds would check nothing).
func TestSeedKeysAreFound(t *testing.T) {
	var got []string
	text := "k=" + seedOpenAI + "\nid=" + seedAWSID + " secret=" + seedAWS + "\n"
	detect.New().Scan([]byte(text), func(f detect.Finding) { got = append(got, text[f.Start:f.End]) })
	if len(got) != 3 || got[0] != seedOpenAI || got[1] != seedAWSID || got[2] != seedAWS {
		t.Fatalf("%d findings", len(got))
	}
}

func FuzzParseLogs(f *testing.F) {
	f.Add([]byte(`{"msg":"a","service":"x","kubernetes":{"namespace_name":"p"}}`+"\n"+`{"log":"b","ts":1700000000}`), "application/x-ndjson")
	f.Add([]byte(`[{"message":"a"},{"message":"b","n":1.5,"ok":true}]`), "application/json")
	f.Add([]byte("plain line\r\nanother\n\n"), "text/plain")
	f.Add([]byte(`{"a":1}{"b":2} {"c":[1,2]}`), "")
	f.Add([]byte(`{"msg":"x"`), "application/json")
	f.Add([]byte(`{"msg":"boot","aws_access_key_id":"`+seedAWSID+`","aws_secret_access_key":"`+seedAWSEsc+`"}`), "application/x-ndjson")
	f.Add([]byte(`{"msg":"call","url":"`+seedLong+`","ctx":"{\"SecretAccessKey\":\"`+strings.ReplaceAll(seedAWSEsc, `\`, `\\`)+`\"}"}`), "")
	f.Add([]byte("key "+seedOpenAI+"\nid "+seedAWSID+" secret "+seedAWS), "text/plain")
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		// The query string's labels: one long, holding a key across the cut.
		recs, err := ParseLogs(body, ct, QueryLabels(url.Values{"service": {"s"}, "http_url": {seedLong}}))
		checkRecords(t, recs, err)
		env.checkNoSecretLeft(t, exposure.SourceLogs, recs)
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
	f.Add([]byte(`{"event":"x","host":"` + seedLong + `","fields":{"url":"` + seedLong + `","id":"` + seedAWSID + `","secret":"` + seedAWSEsc + `"}}`))
	f.Add([]byte(`{"event":{"message":"m","aws_access_key_id":"` + seedAWSID + `","aws_secret_access_key":"` + seedAWSEsc + `"}}`))
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseHECEvents(body)
		checkRecords(t, recs, err)
		env.checkNoSecretLeft(t, exposure.SourceSplunkHEC, recs)
		if err != nil {
			var pe *ParseError
			errors.As(err, &pe)
			if pe.HECCode != 5 && pe.HECCode != 6 && pe.HECCode != 12 && pe.HECCode != 13 {
				t.Fatalf("HEC code %d", pe.HECCode)
			}
		}
		recs, err = ParseHECRaw(body, url.Values{"host": {"h"}, "source": {strings.Repeat("s", 300)}, "sourcetype": {seedLong}})
		checkRecords(t, recs, err)
		env.checkNoSecretLeft(t, exposure.SourceSplunkHEC, recs)
	})
}

func FuzzParseLoki(f *testing.F) {
	f.Add([]byte(`{"streams":[{"stream":{"app":"a"},"values":[["1700000000000000000","line"],["1","x",{"trace":"t"}]]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{},"values":[]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}`))
	f.Add([]byte(`{"streams":[]}`))
	f.Add([]byte(`{"streams":[{"stream":{"app":"a","cmdline":"` + seedLong + `"},"values":[["1","started",{"http_url":"` + seedLong + `"}]]}]}`))
	f.Add([]byte(`{"streams":[{"stream":{"app":"a"},"values":[["1","{\"id\":\"` + seedAWSID + `\",\"aws_secret_access_key\":\"` + strings.ReplaceAll(seedAWSEsc, `\`, `\\`) + `\"}"]]}]}`))
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseLoki(body)
		checkRecords(t, recs, err)
		env.checkNoSecretLeft(t, exposure.SourceLoki, recs)
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
	f.Add(lokitest.Encode(lokitest.Stream{Labels: `{app="a", url="` + seedLong + `"}`, Entries: []lokitest.Entry{
		{Sec: 1, Line: `{"id":"` + seedAWSID + `","aws_secret_access_key":"` + seedAWSEsc + `"}`, Metadata: [][2]string{{"http_url", seedLong}}}}}))
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		recs, err := ParseLokiProto(snappy.Encode(nil, raw), 1<<20)
		checkRecords(t, recs, err)
		env.checkNoSecretLeft(t, exposure.SourceLoki, recs)
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
	f.Add([]byte("<13>1 2026-01-01T00:00:00Z h a p m [sd@1 url=\""+seedLong+"\"] id "+seedAWSID+" secret "+seedAWSEsc+"\n"), 0)
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, stream []byte, split int) {
		fr := newFramer(bytes.NewReader(stream), minFrame)
		m := NewSyslogMachine()
		total := 0
		var recs []Record
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
				recs = append(recs, rec)
				total += len(frame)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFraming) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
		}
		env.checkNoSecretLeft(t, exposure.SourceSyslog, recs)
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
