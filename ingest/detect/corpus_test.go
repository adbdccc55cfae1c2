package detect_test

import (
	"bytes"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// TestLabelledCorpus scores the scanner on the generated, labelled corpus: realistic log
// lines (JSON logs, access logs, stack traces, curl commands, env dumps, YAML, header
// dumps, URL query strings) with planted keys of every type, planted decoys, and clean
// noise. Recall must be at least 99.5%, at most 1% of decoy lines may be flagged, and
// clean lines must have no finding at all.
func TestLabelledCorpus(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		var b bytes.Buffer
		labels, err := corpus.Generate(&b, corpus.Options{Seed: seed, Bytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		data := b.Bytes()
		var found []corpus.Found
		detect.New().Scan(data, func(f detect.Finding) {
			found = append(found, corpus.Found{Line: f.Line, Start: f.Start, End: f.End, Type: f.Type, KeyID: f.KeyID})
		})
		res := corpus.Score(labels, found, true)
		t.Logf("seed %d: %s", seed, res.Summary())
		for _, m := range res.Missed {
			t.Logf("missed %s in context %s: %s", m.Type, m.Context, secret.Hint(secret.FromBytes(data[m.Start:m.End])))
		}
		if res.Recall() < 0.995 {
			t.Errorf("seed %d: recall %.4f < 0.995", seed, res.Recall())
		}
		if res.DecoyRate() > 0.01 {
			t.Errorf("seed %d: decoy rate %.4f > 0.01", seed, res.DecoyRate())
		}
		if res.CleanFindings != 0 {
			t.Errorf("seed %d: %d findings on clean lines", seed, res.CleanFindings)
		}
		if res.WrongType != 0 {
			t.Errorf("seed %d: %d findings with the wrong type", seed, res.WrongType)
		}
		if res.WrongKeyID*100 > res.Keys {
			t.Errorf("seed %d: %d findings with the wrong key id", seed, res.WrongKeyID)
		}
		// Which decoys were flagged (kind and context only).
		flagged := map[int]bool{}
		for _, f := range found {
			flagged[f.Line] = true
		}
		for _, l := range labels {
			if l.Kind == "decoy" && flagged[l.Line] {
				t.Logf("decoy %s in context %s flagged", l.Decoy, l.Context)
			}
		}
		for typ, pt := range res.PerType {
			if pt[0] < 20 {
				t.Errorf("seed %d: only %d keys of type %s planted", seed, pt[0], typ)
			}
		}
	}
}
