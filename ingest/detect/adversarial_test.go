package detect

import (
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
)

// adversarialCase is a block dense with prefixes, markers and AWS ids and
// secrets (the shapes that could make a prefix-anchored scanner slow) and
// what scanning it must find: AWS access key ids and secret access keys.
type adversarialCase struct {
	name         string
	in           string
	ids, secrets int
}

func adversarialInputs() []adversarialCase {
	r := corpus.NewRand(13)
	const n = 512 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	var awsDense, awsLine, mixed strings.Builder
	densePairs, linePairs := 0, 0
	for awsDense.Len() < n {
		id, sec := corpus.AWSPair(r)
		awsDense.WriteString(id.Text + " secret=" + sec.Text + "\n")
		densePairs++
	}
	for awsLine.Len() < n {
		id, sec := corpus.AWSPair(r)
		awsLine.WriteString(id.Text + " " + sec.Text + " ")
		linePairs++
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
	// An id, then 41 base64 characters: one too many for a secret access
	// key, so only the ids are found (the last, cut-off unit holds none).
	nearAKIA := "AKIA" + r.Str(corpus.Base32, 16) + " " + r.Str(corpus.Base64, 40) + "/"
	return []adversarialCase{
		{name: "AKIA repeated", in: rep("AKIA")},
		{name: "marker repeated", in: rep("T3BlbkFJ")},
		{name: "sk- and marker", in: rep("sk-" + strings.Repeat("a", 20) + "T3BlbkFJ")},
		{name: "xox repeated", in: rep("xoxb-1-")},
		{name: "labels repeated", in: rep("secret_access_key=")},
		{name: "ids and secrets", in: awsDense.String(), ids: densePairs, secrets: densePairs},
		{name: "one long AWS line", in: awsLine.String(), ids: linePairs, secrets: linePairs},
		{name: "mixed triggers", in: mixed.String()},
		{name: "base64 near AKIA", in: rep(nearAKIA), ids: n / len(nearAKIA)},
		{name: "no newline, 0x00s", in: rep("\x00")},
	}
}

// TestAdversarialInputs: each 512 KiB block yields exactly the AWS ids and
// secrets written into it (each secret paired with an id) and nothing from
// the prefixes and markers repeated without a key. How fast they scan is
// BenchmarkAdversarialInputs; a quadratic path would run into the test
// binary's timeout here (about 10^11 steps per block).
func TestAdversarialInputs(t *testing.T) {
	s := New()
	for _, c := range adversarialInputs() {
		ids, secrets, other := 0, 0, 0
		s.Scan([]byte(c.in), func(f Finding) {
			switch {
			case f.Type == "aws_secret_access_key" && f.KeyID != "":
				secrets++
			case f.Type == "aws_access_key_id" || f.Type == "aws_temporary_access_key_id":
				ids++
			default:
				other++
			}
		})
		if ids != c.ids || secrets != c.secrets || other != 0 {
			t.Errorf("%s: %d ids, %d paired secrets, %d other findings; want %d, %d, 0",
				c.name, ids, secrets, other, c.ids, c.secrets)
		}
	}
}

// BenchmarkAdversarialInputs reports MB/s per adversarial block.
func BenchmarkAdversarialInputs(b *testing.B) {
	s := New()
	for _, c := range adversarialInputs() {
		data := []byte(c.in)
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				s.Scan(data, func(Finding) {})
			}
		})
	}
}
