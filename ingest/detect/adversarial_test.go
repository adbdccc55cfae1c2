package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
)

// adversarialInputs are blocks dense with prefixes, markers and AWS ids and secrets:
// the shapes that could make a prefix-anchored scanner slow.
func adversarialInputs() map[string]string {
	r := corpus.NewRand(13)
	const n = 512 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	var awsDense, awsLine, mixed strings.Builder
	for awsDense.Len() < n {
		id, sec := corpus.AWSPair(r)
		awsDense.WriteString(id.Text + " secret=" + sec.Text + "\n")
	}
	for awsLine.Len() < n {
		id, sec := corpus.AWSPair(r)
		awsLine.WriteString(id.Text + " " + sec.Text + " ")
	}
	lits := []string{}
	for _, t := range triggerTable {
		lits = append(lits, t.lit)
	}
	for mixed.Len() < n {
		mixed.WriteString(corpus.Pick(r, lits...))
		if r.IntN(3) == 0 {
			mixed.WriteString(r.Str(corpus.URLTok, r.IntN(100)))
		}
	}
	return map[string]string{
		"AKIA repeated":     rep("AKIA"),
		"marker repeated":   rep("T3BlbkFJ"),
		"sk- and marker":    rep("sk-" + strings.Repeat("a", 20) + "T3BlbkFJ"),
		"xox repeated":      rep("xoxb-1-"),
		"labels repeated":   rep("secret_access_key="),
		"ids and secrets":   awsDense.String(),
		"one long AWS line": awsLine.String(),
		"mixed triggers":    mixed.String(),
		"base64 near AKIA":  rep("AKIA" + r.Str(corpus.Base32, 16) + " " + r.Str(corpus.Base64, 40) + "/"),
		"no newline, 0x00s": rep("\x00"),
	}
}

// TestAdversarialInputsScanFast: each 512 KiB block scans in well under a second (the
// bound is 100x slack over what it takes; a quadratic path would blow it).
func TestAdversarialInputsScanFast(t *testing.T) {
	s := New()
	for name, in := range adversarialInputs() {
		data := []byte(in)
		t0 := time.Now()
		n := 0
		s.Scan(data, func(Finding) { n++ })
		d := time.Since(t0)
		t.Logf("%-18s %6.1f MB/s, %d findings", name, float64(len(data))/1e6/d.Seconds(), n)
		if d > time.Second {
			t.Errorf("%s: %v for %d bytes", name, d, len(data))
		}
	}
}
