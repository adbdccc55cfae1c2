// Command corpusgen writes the labelled detection corpus and scores scanners on it.
//
//	corpusgen gen -dir DIR [-seed 1] [-mb 16]     write DIR/corpus.log and DIR/labels.jsonl
//	corpusgen firebreak -dir DIR                   scan the corpus with package detect and score it
//	corpusgen gitleaks -dir DIR -report FILE       score a gitleaks JSON report against the labels
//
// Scores are printed as one JSON object on stdout; key text is never printed.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "corpus directory")
	seed := fs.Uint64("seed", 1, "generator seed")
	mb := fs.Int("mb", 16, "corpus size in MiB")
	report := fs.String("report", "", "gitleaks JSON report")
	_ = fs.Parse(os.Args[2:])
	if *dir == "" {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(*dir, *seed, *mb)
	case "firebreak":
		err = scoreFirebreak(*dir)
	case "gitleaks":
		err = scoreGitleaks(*dir, *report)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corpusgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: corpusgen gen|firebreak|gitleaks -dir DIR [-seed N] [-mb N] [-report FILE]")
	os.Exit(2)
}

func gen(dir string, seed uint64, mb int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "corpus.log"))
	if err != nil {
		return err
	}
	labels, err := corpus.Generate(f, corpus.Options{Seed: seed, Bytes: mb << 20})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	lf, err := os.Create(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		return err
	}
	if err := corpus.WriteLabels(lf, labels); err != nil {
		lf.Close()
		return err
	}
	return lf.Close()
}

func load(dir string) ([]byte, []corpus.Label, error) {
	data, err := os.ReadFile(filepath.Join(dir, "corpus.log"))
	if err != nil {
		return nil, nil, err
	}
	lf, err := os.Open(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	defer lf.Close()
	labels, err := corpus.ReadLabels(lf)
	return data, labels, err
}

type score struct {
	Scanner       string         `json:"scanner"`
	Bytes         int            `json:"bytes"`
	Seconds       float64        `json:"seconds,omitempty"`
	MBps          float64        `json:"mb_per_s,omitempty"`
	Keys          int            `json:"keys"`
	Found         int            `json:"found"`
	Recall        float64        `json:"recall"`
	Decoys        int            `json:"decoy_lines"`
	DecoysFlagged int            `json:"decoy_lines_flagged"`
	DecoyRate     float64        `json:"decoy_rate"`
	CleanLines    int            `json:"clean_lines"`
	CleanFindings int            `json:"clean_line_findings"`
	WrongType     int            `json:"wrong_type,omitempty"`
	WrongKeyID    int            `json:"wrong_key_id,omitempty"`
	MissedByType  map[string]int `json:"missed_by_type,omitempty"`
}

func output(name string, data []byte, res corpus.Result, secs float64) error {
	s := score{Scanner: name, Bytes: len(data), Keys: res.Keys, Found: res.KeysFound, Recall: res.Recall(),
		Decoys: res.Decoys, DecoysFlagged: res.DecoysFlagged, DecoyRate: res.DecoyRate(),
		CleanLines: res.CleanLines, CleanFindings: res.CleanFindings, WrongType: res.WrongType, WrongKeyID: res.WrongKeyID,
		MissedByType: map[string]int{}}
	if secs > 0 {
		s.Seconds, s.MBps = secs, float64(len(data))/1e6/secs
	}
	for _, m := range res.Missed {
		s.MissedByType[m.Type]++
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}

func scoreFirebreak(dir string) error {
	data, labels, err := load(dir)
	if err != nil {
		return err
	}
	sc := detect.New()
	var found []corpus.Found
	t0 := time.Now()
	sc.Scan(data, func(f detect.Finding) {
		found = append(found, corpus.Found{Line: f.Line, Start: f.Start, End: f.End, Type: f.Type, KeyID: f.KeyID})
	})
	secs := time.Since(t0).Seconds()
	return output("firebreak", data, corpus.Score(labels, found, true), secs)
}

// gitleaksFinding is the part of a gitleaks JSON report entry used here.
type gitleaksFinding struct {
	RuleID      string
	StartLine   int
	StartColumn int
	Secret      string
}

func scoreGitleaks(dir, report string) error {
	data, labels, err := load(dir)
	if err != nil {
		return err
	}
	rb, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	var gl []gitleaksFinding
	if len(bytes.TrimSpace(rb)) > 0 {
		if err := json.Unmarshal(rb, &gl); err != nil {
			return fmt.Errorf("parse gitleaks report: %w", err)
		}
	}
	// Line start offsets.
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	var found []corpus.Found
	for _, g := range gl {
		if g.StartLine < 1 || g.StartLine > len(starts) || g.Secret == "" {
			continue
		}
		ls := starts[g.StartLine-1]
		le := len(data)
		if g.StartLine < len(starts) {
			le = starts[g.StartLine] - 1
		}
		text := string(data[ls:le])
		// The occurrence of the secret nearest the reported column.
		best, bestD := -1, 0
		for from := 0; ; {
			j := strings.Index(text[from:], g.Secret)
			if j < 0 {
				break
			}
			j += from
			d := j - (g.StartColumn - 1)
			if d < 0 {
				d = -d
			}
			if best < 0 || d < bestD {
				best, bestD = j, d
			}
			from = j + 1
		}
		if best < 0 {
			found = append(found, corpus.Found{Line: g.StartLine, Start: ls, End: ls})
			continue
		}
		found = append(found, corpus.Found{Line: g.StartLine, Start: ls + best, End: ls + best + len(g.Secret), Type: g.RuleID})
	}
	return output("gitleaks", data, corpus.Score(labels, found, false), 0)
}
