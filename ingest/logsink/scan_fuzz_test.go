package logsink

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// FuzzParseScan: POST /v1/ingest/scan bodies. An accepted body yields one
// record per finding whose line holds a complete key the detectors
// recognise, with bounded labels; a refusal never echoes a secret it was
// sent.
func FuzzParseScan(f *testing.F) {
	key := "sk-proj-" + strings.Repeat("Ab3_", 18) + "xY" + "T3BlbkFJ" + strings.Repeat("Zq9-", 18) + "kL"
	good, _ := json.Marshal(ScanRequest{Labels: map[string]string{"repo": "acme/api", "branch": "main"},
		Findings: []ScanFinding{{Secret: key, File: "config/prod.env", Line: 3, Column: 16}}})
	f.Add(good)
	f.Add([]byte(`{"findings":[{"secret":"AKIAIOSFODNN7EXAMPLE","file":"x","key_id":"AKIA"}]}`))
	f.Add([]byte(`{"findings":[]}`))
	f.Add([]byte(`{"findings":[{"secret":"` + key + `","file":""}],"extra":1}`))
	long, _ := json.Marshal(ScanRequest{Labels: map[string]string{"repo": "acme/api", "note": seedLong},
		Findings: []ScanFinding{{Secret: seedOpenAI, File: "x/" + seedLong, Line: 3}, {Secret: seedAWS, File: "y", KeyID: seedAWSID}}})
	f.Add(long)
	sc := detect.New()
	env := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := ParseScan(body, sc)
		if err != nil {
			// (An unknown field's name is echoed up to 32 bytes: web.FieldName.)
			var req ScanRequest
			if json.Unmarshal(body, &req) == nil && !strings.Contains(err.Error(), "unknown field") {
				for _, fd := range req.Findings {
					if len(fd.Secret) >= 12 && strings.Contains(err.Error(), fd.Secret) {
						t.Fatalf("the refusal echoes the secret it was sent at byte %d of %d", strings.Index(err.Error(), fd.Secret), len(err.Error()))
					}
				}
			}
			return
		}
		checkRecords(t, recs, nil)
		env.checkNoSecretLeft(t, exposure.SourceScan, recs)
		for _, r := range recs {
			n := 0
			sc.Scan(r.Line, func(d detect.Finding) {
				if d.End == len(r.Line) {
					n++
				}
			})
			if n == 0 {
				t.Fatalf("accepted a finding that is not a complete key")
			}
			if r.Base["path"] == "" {
				t.Fatal("a record without its file")
			}
		}
	})
}
