package detect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// hint is how tests name a key in a failure message: never the raw key.
func hint(raw string) string { return secret.Hint(secret.New(raw)) }

func scanAll(s *Scanner, text string) []Finding {
	var out []Finding
	s.Scan([]byte(text), func(f Finding) { out = append(out, f) })
	return out
}

func describe(text string, fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "[%s %s %d:%d line %d col %d %s] ", f.Provider, f.Type, f.Start, f.End, f.Line, f.Column, hint(text[f.Start:f.End]))
	}
	return b.String()
}

// expectOne checks that text holds exactly one finding: key, at its (only) occurrence.
func expectOne(t *testing.T, s *Scanner, ctx, text, key, provider, typ, keyID string) {
	t.Helper()
	fs := scanAll(s, text)
	at := strings.Index(text, key)
	if len(fs) != 1 {
		t.Errorf("%s: %s: want 1 finding, got %d: %s", ctx, hint(key), len(fs), describe(text, fs))
		return
	}
	f := fs[0]
	if f.Start != at || f.End != at+len(key) || f.Provider != provider || f.Type != typ || f.KeyID != keyID {
		t.Errorf("%s: %s: got %s %s [%d:%d] keyID %q; want %s %s [%d:%d] keyID %q", ctx, hint(key),
			f.Provider, f.Type, f.Start, f.End, hint(f.KeyID), provider, typ, at, at+len(key), hint(keyID))
	}
	line := 1 + strings.Count(text[:at], "\n")
	col := at - strings.LastIndexByte(text[:at], '\n')
	if f.Line != line || f.Column != col {
		t.Errorf("%s: %s: at line %d col %d, want %d:%d", ctx, hint(key), f.Line, f.Column, line, col)
	}
}

// TestDetectors plants keys of every type in every context: JSON logs (plain,
// \n-escaped, \u-escaped), access logs with query strings and URL-encoded parameters,
// Java/Python/Go traces, curl commands, env dumps, YAML, header dumps, syslog, k8s,
// git URLs, quoted and parenthesised values, TSV, and the start of a line.
func TestDetectors(t *testing.T) {
	s := New(WithTestKeys())
	r := corpus.NewRand(11)
	for _, k := range corpus.Kinds {
		t.Run(k.Type, func(t *testing.T) {
			for _, c := range corpus.KeyContexts {
				for range 6 {
					key := corpus.MakeKey(r, k)
					text := strings.Join(c.Make(r, key.Text), "\n") + "\n"
					expectOne(t, s, c.Name, text, key.Text, key.Provider, key.Type, key.KeyID)
				}
			}
		})
	}
	t.Run("aws_secret_access_key", func(t *testing.T) {
		for _, c := range corpus.AWSContexts {
			for range 6 {
				id, sec := corpus.AWSPair(r)
				text := strings.Join(c.Make(r, id.Text, sec.Text), "\n") + "\n"
				fs := scanAll(s, text)
				if len(fs) != 2 {
					t.Errorf("%s: want id and secret, got %s", c.Name, describe(text, fs))
					continue
				}
				for _, f := range fs {
					want := id
					if f.Type == "aws_secret_access_key" {
						want = sec
					}
					at := strings.Index(text, want.Text)
					if f.Start != at || f.End != at+len(want.Text) || f.Type != want.Type || f.KeyID != id.Text || f.Provider != "aws" {
						t.Errorf("%s: got %s, want %s at %d with key id %s", c.Name, describe(text, []Finding{f}), want.Type, at, hint(id.Text))
					}
				}
			}
		}
	})
}

// TestAWSPairing covers the rules for secret access keys without a prefix.
func TestAWSPairing(t *testing.T) {
	s := New()
	r := corpus.NewRand(3)
	id, sec := corpus.AWSPair(r)
	id2, _ := corpus.AWSPair(r)
	filler := "level=info msg=\"nothing to see\"\n"
	cases := []struct {
		name, text string
		want       []string // types, in order
		keyID      string   // expected KeyID of the secret
	}{
		{"same line", "key=" + id.Text + " value=" + sec.Text + "\n", []string{id.Type, "aws_secret_access_key"}, id.Text},
		{"label without id", "aws_secret_access_key = " + sec.Text + "\n", []string{"aws_secret_access_key"}, ""},
		{"json label", `{"SecretAccessKey":"` + sec.Text + `"}`, []string{"aws_secret_access_key"}, ""},
		{"next line says secret", "id: " + id.Text + "\nsecret: " + sec.Text + "\n", []string{id.Type, "aws_secret_access_key"}, id.Text},
		{"secret first", "secret: " + sec.Text + "\n" + filler + "id: " + id.Text + "\n", []string{"aws_secret_access_key", id.Type}, id.Text},
		{"four lines apart", "id: " + id.Text + "\n" + strings.Repeat(filler, 3) + "secret " + sec.Text + "\n", []string{id.Type, "aws_secret_access_key"}, id.Text},
		{"five lines apart", "id: " + id.Text + "\n" + strings.Repeat(filler, 4) + "secret " + sec.Text + "\n", []string{id.Type}, ""},
		{"other line, no secret word", "id: " + id.Text + "\nnonce: " + sec.Text + "\n", []string{id.Type}, ""},
		{"nearest id wins", "a=" + id2.Text + "\n" + filler + "b=" + id.Text + " secret=" + sec.Text + "\n", []string{id2.Type, id.Type, "aws_secret_access_key"}, id.Text},
		{"sha1 is not a secret", "key=" + id.Text + " sha=" + strings.Repeat("0a1b2c3d4e", 4) + "\n", []string{id.Type}, ""},
		{"docs pair", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", nil, ""},
	}
	for _, c := range cases {
		fs := scanAll(s, c.text)
		var got []string
		for _, f := range fs {
			got = append(got, f.Type)
			if f.Type == "aws_secret_access_key" && f.KeyID != c.keyID {
				t.Errorf("%s: secret paired with %s, want %s", c.name, hint(f.KeyID), hint(c.keyID))
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v: %s", c.name, got, c.want, describe(c.text, fs))
		}
	}
}

// TestDecoys: every decoy kind, in every context, yields no finding; so do the literal
// placeholders of the issue and ordinary log lines.
func TestDecoys(t *testing.T) {
	s := New()
	r := corpus.NewRand(5)
	for _, d := range corpus.Decoys {
		t.Run(d.Name, func(t *testing.T) {
			for _, c := range corpus.KeyContexts {
				for range 4 {
					v := d.Make(r)
					text := strings.Join(c.Make(r, v), "\n")
					if fs := scanAll(s, text); len(fs) != 0 {
						t.Errorf("%s in %s: %s", d.Name, c.Name, describe(text, fs))
					}
				}
			}
		})
	}
	body := corpus.NewRand(9).Str(corpus.Base62, 30)
	good := "ghp_" + body + corpus.GitHubChecksum(body)
	bad := good[:len(good)-1] + string("ab"[(strings.IndexByte("ab", good[len(good)-1])+1)&1])
	literal := []string{
		"OPENAI_API_KEY=sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
		"OPENAI_API_KEY=sk-proj-XXXXXXXXXXXXXXXXXXXXT3BlbkFJXXXXXXXXXXXXXXXXXXXX",
		"aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
		"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		`{"api_key": "your-key-here"}`,
		`Authorization: Bearer <redacted>`,
		`OPENAI_API_KEY=${OPENAI_API_KEY}`,
		`key: sk-proj-abc…`,
		`key: sk-ant-api03-AbCdEf...`,
		`token=` + good[:20] + "…",
		`token=` + bad,
		`sk-proj-` + strings.Repeat("A", 74) + "T3BlbkFJ" + strings.Repeat("A", 74),
		`stripe: sk_test_` + corpus.NewRand(1).Str(corpus.Base62, 24),
		`trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7`,
		`request_id=123e4567-e89b-42d3-a456-426614174000 sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`,
		`commit 9fceb02d0ae598e95dc970b74767f19372d61af8`,
		`payload=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`,
		`blob=` + strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 4),
		`ghp_ tokens rotate every 90 days; see hf_hub_download and xai-org/grok-1, pplx-70b-online`,
		`xghp_` + body + corpus.GitHubChecksum(body), // inside an identifier
	}
	for _, text := range literal {
		if fs := scanAll(s, text); len(fs) != 0 {
			t.Errorf("decoy line flagged: %s", describe(text, fs))
		}
	}
	for _, d := range s.Detectors() {
		text := "example: " + d.Example + "\n"
		if fs := scanAll(s, text); len(fs) != 0 {
			t.Errorf("Spec example of %s flagged: %s", d.Type, describe(text, fs))
		}
	}
}

// TestGitHubChecksum: a valid token is found; any single-character change to it is not.
func TestGitHubChecksum(t *testing.T) {
	s := New()
	r := corpus.NewRand(21)
	for range 200 {
		tok := corpus.GitHubToken(r, "ghs_")
		if fs := scanAll(s, "t="+tok); len(fs) != 1 {
			t.Fatalf("valid %s not found", hint(tok))
		}
		i := 4 + r.IntN(36)
		c := corpus.Base62[r.IntN(62)]
		if c == tok[i] {
			continue
		}
		mut := tok[:i] + string(c) + tok[i+1:]
		if fs := scanAll(s, "t="+mut); len(fs) != 0 {
			t.Errorf("token with a changed character %s accepted", hint(mut))
		}
	}
}

func TestBoundariesAndEncodings(t *testing.T) {
	s := New()
	r := corpus.NewRand(8)
	key := corpus.GitHubToken(r, "ghp_")
	for _, c := range []struct {
		text string
		want int
	}{
		{"x" + key, 0},                // inside an identifier
		{"_" + key, 0},                // inside an identifier
		{key + "x", 0},                // run continues
		{"token%3D" + key + "%26", 1}, // URL-encoded
		{`{"m":"\n` + key + `"}`, 1},  // JSON \n escape
		{`{"m":"\u003c` + key + `\u003e"}`, 1},
		{`msg=token\x3d` + key, 1},
		{key, 1},
		{"'" + key + "'", 1},
	} {
		if fs := scanAll(s, c.text); len(fs) != c.want {
			t.Errorf("%q-shaped context: got %d findings, want %d", strings.ReplaceAll(c.text, key, hint(key)), len(fs), c.want)
		}
	}
	// A variable-length key followed by an ellipsis was cut short.
	sk := "sk_live_" + r.Str(corpus.Base62, 40)
	for _, tail := range []string{"...", "…", "**"} {
		if fs := scanAll(s, "k="+sk+tail); len(fs) != 0 {
			t.Errorf("ellipsised %s%s reported", hint(sk), tail)
		}
	}
}

func TestTestKeysOption(t *testing.T) {
	r := corpus.NewRand(4)
	k := "sk_test_" + r.Str(corpus.Base62, 99)
	if fs := scanAll(New(), "STRIPE_KEY="+k); len(fs) != 0 {
		t.Errorf("test key reported without WithTestKeys")
	}
	if fs := scanAll(New(WithTestKeys()), "STRIPE_KEY="+k); len(fs) != 1 || fs[0].Type != "stripe_test_secret_key" {
		t.Errorf("test key not reported with WithTestKeys: %s", describe("STRIPE_KEY="+k, fs))
	}
}

// TestDetectorsSpec: every generated type is documented, and Detectors returns a copy.
func TestDetectorsSpec(t *testing.T) {
	s := New()
	specs := s.Detectors()
	types := map[string]bool{}
	for _, d := range specs {
		if d.Provider == "" || d.Type == "" || d.Description == "" || d.Example == "" {
			t.Errorf("incomplete spec %+v", d)
		}
		types[d.Type] = true
	}
	for _, k := range corpus.Kinds {
		if !types[k.Type] {
			t.Errorf("type %s has no spec", k.Type)
		}
	}
	specs[0].Prefixes[0] = "changed"
	if s.Detectors()[0].Prefixes[0] == "changed" {
		t.Error("Detectors shares its slices with the scanner")
	}
}

// TestRandomKeysPassPlaceholderRules: uniformly random keys of the real formats are
// rejected by the placeholder rules with probability well under 1e-4.
func TestRandomKeysPassPlaceholderRules(t *testing.T) {
	s := New(WithTestKeys())
	r := corpus.NewRand(99)
	n := 4000
	if testing.Short() {
		n = 500
	}
	total, rejected := 0, 0
	for _, k := range corpus.Kinds {
		var b bytes.Buffer
		for range n {
			b.WriteString("k=")
			b.WriteString(k.Make(r))
			b.WriteByte('\n')
		}
		got := 0
		s.Scan(b.Bytes(), func(Finding) { got++ })
		total += n
		rejected += n - got
		if n-got > 1 {
			t.Errorf("%s: %d of %d random keys rejected", k.Type, n-got, n)
		}
	}
	// A few in a million are expected (a random body may spell DUMMY); 1e-4 is the bound.
	if float64(rejected) > 1e-4*float64(total) {
		t.Errorf("%d of %d random keys rejected", rejected, total)
	}
	t.Logf("%d of %d random keys rejected", rejected, total)
	for range 2000 {
		if sec := corpus.AWSSecret(r); !awsSecretOK([]byte(sec), 0, len(sec)) {
			t.Errorf("random AWS secret %s rejected", hint(sec))
		}
	}
}

// TestNoAllocOnCleanInput: Scan allocates nothing for clean text.
func TestNoAllocOnCleanInput(t *testing.T) {
	s := New()
	data := cleanLogs()[:1<<20]
	n := 0
	allocs := testing.AllocsPerRun(5, func() { s.Scan(data, func(Finding) { n++ }) })
	if allocs != 0 || n != 0 {
		t.Errorf("Scan of clean logs: %.0f allocs, %d findings; want 0, 0", allocs, n)
	}
}

type planted struct {
	start, end  int
	typ, keyID  string
	text        string
	provider    string
	isAWSSecret bool
}

// randomLog builds log-like text from a vocabulary without key prefixes, with keys of
// every type planted at random positions. It returns the text and what was planted.
func randomLog(r *corpus.Rand, nkeys int) (string, []planted) {
	words := []string{"GET", "POST", "/api/v1/items", "level=info", "msg=\"ok\"", "user", "200", "404", "duration_ms=12",
		"{\"a\":1}", "[worker-3]", "at", "com.example.Main.run(Main.java:12)", "Traceback", "->", "INFO", "WARN",
		"region=us-east-1", "retry", "cache", "miss", "session"}
	before := []string{" ", "=", "\"", ":", "(", "\t", ",", "[", "'", "\n", "/", "?k=", "&t="}
	after := []string{" ", "\"", ",", ")", ";", "\n", "&", "]", "'"}
	var b strings.Builder
	var ps []planted
	filler := func() {
		for range 1 + r.IntN(12) {
			switch r.IntN(6) {
			case 0:
				b.WriteString(r.Str(corpus.HexLow, 8+r.IntN(56)))
			case 1:
				b.WriteByte('\n')
			default:
				b.WriteString(corpus.Pick(r, words...))
			}
			b.WriteByte(' ')
		}
	}
	kinds := corpus.Kinds
	aws := false
	for range nkeys {
		filler()
		b.WriteString(corpus.Pick(r, before...))
		if !aws && r.IntN(8) == 0 {
			aws = true // one AWS pair per text, on one line
			id, sec := corpus.AWSPair(r)
			at := b.Len()
			b.WriteString(id.Text)
			ps = append(ps, planted{start: at, end: at + len(id.Text), typ: id.Type, keyID: id.Text, text: id.Text, provider: "aws"})
			b.WriteString(" secret=")
			at = b.Len()
			b.WriteString(sec.Text)
			ps = append(ps, planted{start: at, end: at + len(sec.Text), typ: sec.Type, keyID: id.Text, text: sec.Text, provider: "aws", isAWSSecret: true})
		} else {
			k := corpus.MakeKey(r, kinds[r.IntN(len(kinds))])
			at := b.Len()
			b.WriteString(k.Text)
			ps = append(ps, planted{start: at, end: at + len(k.Text), typ: k.Type, keyID: k.KeyID, text: k.Text, provider: k.Provider})
		}
		b.WriteString(corpus.Pick(r, after...))
	}
	filler()
	return b.String(), ps
}

// TestPropertyRandomPlacement: random well-formed keys of every type at random positions
// in random log text are all found, with exact offsets, and nothing else is.
func TestPropertyRandomPlacement(t *testing.T) {
	s := New(WithTestKeys())
	r := corpus.NewRand(2024)
	iters := 1500
	if testing.Short() {
		iters = 200
	}
	for it := range iters {
		text, ps := randomLog(r, 1+r.IntN(8))
		fs := scanAll(s, text)
		if len(fs) != len(ps) {
			t.Fatalf("iteration %d: planted %d keys, found %d: %s", it, len(ps), len(fs), describe(text, fs))
		}
		for i, f := range fs {
			p := ps[i]
			if f.Start != p.start || f.End != p.end || f.Type != p.typ || f.Provider != p.provider || f.KeyID != p.keyID {
				t.Fatalf("iteration %d: planted %s %s at %d:%d, found %s", it, p.typ, hint(p.text), p.start, p.end, describe(text, []Finding{f}))
			}
			checkPosition(t, []byte(text), f)
		}
	}
}

// checkPosition checks a finding's offsets, line and column against the block.
func checkPosition(t *testing.T, block []byte, f Finding) {
	t.Helper()
	if f.Start < 0 || f.End > len(block) || f.Start >= f.End {
		t.Fatalf("finding offsets %d:%d out of range (len %d)", f.Start, f.End, len(block))
	}
	line := 1 + bytes.Count(block[:f.Start], []byte{'\n'})
	col := f.Start - bytes.LastIndexByte(block[:f.Start], '\n')
	if f.Line != line || f.Column != col {
		t.Fatalf("finding at %d: line %d col %d, want %d:%d", f.Start, f.Line, f.Column, line, col)
	}
	if bytes.IndexByte(block[f.Start:f.End], '\n') >= 0 {
		t.Fatalf("finding at %d spans a newline", f.Start)
	}
}

type streamed struct {
	f   Finding
	raw string
}

func scanStream(t testing.TB, s *Scanner, data []byte, r io.Reader) []streamed {
	var out []streamed
	err := s.ScanReader(context.Background(), r, func(f Finding, raw []byte) error {
		if !bytes.Equal(raw, data[f.Start:f.End]) {
			t.Fatalf("raw bytes of finding at %d do not match the stream", f.Start)
		}
		out = append(out, streamed{f: f, raw: string(raw)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScanReaderMatchesScan: ScanReader finds exactly what Scan finds on the whole
// input, with stream-relative positions, whatever the block size and read sizes.
func TestScanReaderMatchesScan(t *testing.T) {
	var b bytes.Buffer
	if _, err := corpus.Generate(&b, corpus.Options{Seed: 5, Bytes: 256 << 10}); err != nil {
		t.Fatal(err)
	}
	r := corpus.NewRand(6)
	// Long lines without newlines, so that blocks are cut inside lines.
	for range 40 {
		text, _ := randomLog(r, 6)
		b.WriteString(strings.ReplaceAll(text, "\n", " "))
	}
	data := b.Bytes()
	var want []Finding
	New().Scan(data, func(f Finding) { want = append(want, f) })
	if len(want) < 500 {
		t.Fatalf("only %d findings in the test input", len(want))
	}
	for _, bs := range []int{64, 100, 1000, 4096, 65536, 1 << 20} {
		for _, oneByte := range []bool{false, true} {
			if oneByte && bs > 4096 {
				continue
			}
			var rd io.Reader = bytes.NewReader(data)
			if oneByte {
				rd = iotest.HalfReader(bytes.NewReader(data))
			}
			got := scanStream(t, New(WithBlockSize(bs)), data, rd)
			if len(got) != len(want) {
				t.Errorf("block size %d: %d findings, Scan has %d", bs, len(got), len(want))
				continue
			}
			for i := range got {
				if got[i].f != want[i] {
					t.Errorf("block size %d: finding %d is %+v, Scan has %+v", bs, i, redacted(got[i].f), redacted(want[i]))
					break
				}
			}
		}
	}
}

// redacted returns f with its KeyID hinted, for messages.
func redacted(f Finding) Finding { f.KeyID = hint(f.KeyID); return f }

func TestScanReaderErrors(t *testing.T) {
	s := New()
	r := corpus.NewRand(1)
	text := "k=" + corpus.GitHubToken(r, "ghp_") + "\n"
	stop := fmt.Errorf("stop")
	if err := s.ScanReader(context.Background(), strings.NewReader(text), func(Finding, []byte) error { return stop }); err != stop {
		t.Errorf("fn error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.ScanReader(ctx, strings.NewReader(text), func(Finding, []byte) error { return nil }); err != context.Canceled {
		t.Errorf("cancelled context: %v", err)
	}
	bad := fmt.Errorf("read failed")
	if err := s.ScanReader(context.Background(), iotest.ErrReader(bad), func(Finding, []byte) error { return nil }); err != bad {
		t.Errorf("read error not returned: %v", err)
	}
}

// FuzzScan: no panic; findings are in range, sorted, on one line, with consistent
// line and column; ScanReader with small blocks agrees with Scan.
func FuzzScan(f *testing.F) {
	r := corpus.NewRand(77)
	for range 20 {
		text, _ := randomLog(r, 3)
		f.Add([]byte(text))
	}
	for _, d := range corpus.Decoys {
		f.Add([]byte("k=" + d.Make(r) + "\n"))
	}
	id, sec := corpus.AWSPair(r)
	f.Add([]byte("id: " + id.Text + "\nsecret: " + sec.Text + "\n"))
	f.Add([]byte("\\u003c" + corpus.GitHubToken(r, "ghp_") + "%3D"))
	s := New(WithTestKeys())
	small := New(WithTestKeys(), WithBlockSize(64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fs []Finding
		s.Scan(data, func(f Finding) { fs = append(fs, f) })
		for i, f := range fs {
			checkPosition(t, data, f)
			if i > 0 && f.Start < fs[i-1].Start {
				t.Fatalf("findings out of order")
			}
		}
		got := scanStream(t, small, data, bytes.NewReader(data))
		if len(got) != len(fs) {
			t.Fatalf("ScanReader found %d, Scan %d", len(got), len(fs))
		}
		for i := range got {
			if got[i].f != fs[i] {
				t.Fatalf("ScanReader finding %d differs from Scan's", i)
			}
		}
	})
}

// TestConcurrentUse: one Scanner, many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := New()
	data, labels := labelledCorpus()
	data = data[:512<<10]
	want := 0
	s.Scan(data, func(Finding) { want++ })
	_ = labels
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			n := 0
			s.Scan(data, func(Finding) { n++ })
			if n != want {
				errs <- fmt.Sprintf("goroutine found %d, want %d", n, want)
				return
			}
			errs <- ""
		}()
	}
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// TestPairsCoverOnlyPairedIDs: Pairs covers an access key id exactly when a
// secret access key of the same text was paired with it; an id seen alone,
// or near another id's secret, is still reported.
func TestPairsCoverOnlyPairedIDs(t *testing.T) {
	s := New()
	r := corpus.NewRand(5)
	id, sec := corpus.AWSPair(r)
	id2, _ := corpus.AWSPair(r)
	filler := "level=info msg=\"nothing to see\"\n"
	cases := []struct {
		name, text string
		kept       []string // the findings not covered, by type
	}{
		{"same line", "key=" + id.Text + " value=" + sec.Text + "\n", []string{"aws_secret_access_key"}},
		{"id alone", "key=" + id.Text + "\n", []string{id.Type}},
		{"nearest id wins", "a=" + id2.Text + "\n" + filler + "b=" + id.Text + " secret=" + sec.Text + "\n", []string{id2.Type, "aws_secret_access_key"}},
		{"five lines apart", "id: " + id.Text + "\n" + strings.Repeat(filler, 4) + "secret " + sec.Text + "\n", []string{id.Type}},
		{"label without id", "aws_secret_access_key = " + sec.Text + "\n", []string{"aws_secret_access_key"}},
	}
	for _, c := range cases {
		fs := scanAll(s, c.text)
		var pairs Pairs
		for _, f := range fs {
			pairs.Add(f)
		}
		var kept []Finding
		var got []string
		for _, f := range fs {
			if !pairs.Covers(f) {
				kept = append(kept, f)
				got = append(got, f.Type)
			}
		}
		if !slices.Equal(got, c.kept) {
			t.Errorf("%s: kept %v, want %v: %s", c.name, got, c.kept, describe(c.text, kept))
		}
	}
}
