package logsink

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// ScanRequest is the body of POST /v1/ingest/scan, what `firebreak scan
// --publish` sends: the secrets it found, with where it found them. The
// secrets travel to the server, which alone holds the keyring that seals them:
// send it over HTTPS or loopback only.
type ScanRequest struct {
	// Labels apply to every finding; repo, branch and commit fill the
	// exposure's location, env/environment its environment.
	Labels   map[string]string `json:"labels,omitempty"`
	Findings []ScanFinding     `json:"findings"`
}

// ScanFinding is one finding of `firebreak scan`.
type ScanFinding struct {
	Secret string `json:"secret"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// KeyID is the AWS access key id paired with an aws_secret_access_key
	// (an AWS secret key is recognised only next to its id).
	KeyID string `json:"key_id,omitempty"`
}

// ParseScan parses and checks a scan request: every secret must be a
// complete key that the detectors recognise (the endpoint accepts found keys,
// not arbitrary strings).
func ParseScan(body []byte, sc *detect.Scanner) ([]Record, error) {
	var req ScanRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, parseErr(-1, 6, "%s", web.JSONError(err))
	}
	if len(req.Findings) == 0 {
		return nil, ErrNoData
	}
	if len(req.Labels) > maxLabels {
		return nil, parseErr(-1, 6, "at most %d labels", maxLabels)
	}
	out := make([]Record, 0, len(req.Findings))
	for i, f := range req.Findings {
		if f.File == "" {
			return nil, parseErr(i, 6, "findings[%d].file is required", i)
		}
		if f.Line < 0 || f.Column < 0 {
			return nil, parseErr(i, 6, "findings[%d]: line and column must not be negative", i)
		}
		// The secret alone, or (an AWS secret access key, recognised only
		// next to its id or its label) after its id and label.
		var line []byte
		if f.Secret != "" && len(f.Secret) <= 1024 {
			prefixes := []string{""}
			if f.KeyID != "" {
				prefixes = append(prefixes, f.KeyID+"\naws_secret_access_key=")
			}
			prefixes = append(prefixes, "aws_secret_access_key=")
			for _, prefix := range prefixes {
				cand := append([]byte(prefix), f.Secret...)
				sc.Scan(cand, func(d detect.Finding) {
					if line == nil && d.Start == len(prefix) && d.End == len(cand) {
						line = cand
					}
				})
				if line != nil {
					break
				}
			}
		}
		if line == nil {
			// Never echo the value: it may be a real secret of a kind the
			// detectors do not know.
			return nil, parseErr(i, 6, "findings[%d].secret is not a complete key that Firebreak's detectors recognise", i)
		}
		base := map[string]string{"path": f.File}
		extra := map[string]string{}
		for k, v := range req.Labels {
			if k == "repo" {
				base["repo"] = v
				continue
			}
			extra[k] = v
		}
		if f.Line > 0 {
			extra["line"] = strconv.Itoa(f.Line)
		}
		if f.Column > 0 {
			extra["column"] = strconv.Itoa(f.Column)
		}
		out = append(out, Record{Line: line, Base: base, Extra: extra})
	}
	return out, nil
}

// scanLocation fills a scan exposure's location from its labels.
func scanLocation(_ *Record, labels map[string]string, loc *exposure.Location) {
	loc.Repo, loc.Path, loc.Branch, loc.Commit = labels["repo"], labels["path"], labels["branch"], labels["commit"]
	loc.Line, _ = strconv.Atoi(labels["line"])
	loc.Stream = ""
	d := loc.Path
	if loc.Line > 0 {
		d += ":" + strconv.Itoa(loc.Line)
	}
	if loc.Repo != "" {
		d = loc.Repo + ": " + d
	}
	loc.Display = d
}

func (s *Sinks) serveScan(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, request{kind: exposure.SourceScan, tokens: s.cfg.Scan, schemes: []string{"Bearer"}, ans: fbAnswer{},
		parse: func(body []byte, _ *http.Request) ([]Record, error) { return ParseScan(body, s.p.Scanner) },
		batch: func(b *Batch, _ *http.Request) {
			b.Location = func(rec *Record, labels map[string]string, loc *exposure.Location) {
				scanLocation(rec, labels, loc)
				if loc.Repo != "" {
					b.Ref = loc.Repo
				}
			}
		}})
}
