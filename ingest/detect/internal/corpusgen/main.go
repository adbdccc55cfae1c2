// Command corpusgen writes the labelled detection corpus and scores scanners on it.
//
//	corpusgen gen -dir DIR [-seed 1] [-mb 16] [-clean]
//	                                               write DIR/corpus.log and DIR/labels.jsonl
//	                                               (-clean: ordinary log lines only)
//	corpusgen firebreak -dir DIR                   scan the corpus with package detect and score it
//	corpusgen gitleaks -dir DIR -report FILE       score a gitleaks JSON report against the labels
//	corpusgen table -dir DIR -report FILE -firebreak-mbps X -gitleaks-time D [-gitleaks-time-all D]
//	                                               print the comparison table (markdown)
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
	clean := fs.Bool("clean", false, "write clean log lines only (no keys, no decoys)")
	report := fs.String("report", "", "gitleaks JSON report")
	fbMBps := fs.Float64("firebreak-mbps", 0, "Firebreak MB/s (from go test -bench, -cpu 1)")
	fbClean := fs.Float64("firebreak-clean-mbps", 0, "Firebreak MB/s on clean logs (optional)")
	glTime := fs.String("gitleaks-time", "", "gitleaks scan time on one core (a Go duration, as gitleaks logs it)")
	glTimeAll := fs.String("gitleaks-time-all", "", "gitleaks scan time on all cores (optional)")
	glVersion := fs.String("gitleaks-version", "", "gitleaks version, for the table")
	_ = fs.Parse(os.Args[2:])
	if *dir == "" {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(*dir, *seed, *mb, *clean)
	case "firebreak":
		err = scoreFirebreak(*dir)
	case "gitleaks":
		var res corpus.Result
		var data []byte
		if data, res, err = scoreGitleaks(*dir, *report); err == nil {
			err = output("gitleaks", data, res, 0)
		}
	case "table":
		err = table(*dir, *report, *fbMBps, *fbClean, *glTime, *glTimeAll, *glVersion)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "corpusgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: corpusgen gen|firebreak|gitleaks|table -dir DIR [flags]")
	os.Exit(2)
}

func gen(dir string, seed uint64, mb int, clean bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "corpus.log"))
	if err != nil {
		return err
	}
	labels, err := corpus.Generate(f, corpus.Options{Seed: seed, Bytes: mb << 20, Clean: clean})
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
	MissedByCtx   map[string]int `json:"missed_by_context,omitempty"`
}

func output(name string, data []byte, res corpus.Result, secs float64) error {
	s := score{Scanner: name, Bytes: len(data), Keys: res.Keys, Found: res.KeysFound, Recall: res.Recall(),
		Decoys: res.Decoys, DecoysFlagged: res.DecoysFlagged, DecoyRate: res.DecoyRate(),
		CleanLines: res.CleanLines, CleanFindings: res.CleanFindings, WrongType: res.WrongType, WrongKeyID: res.WrongKeyID,
		MissedByType: map[string]int{}, MissedByCtx: map[string]int{}}
	if secs > 0 {
		s.Seconds, s.MBps = secs, float64(len(data))/1e6/secs
	}
	for _, m := range res.Missed {
		s.MissedByType[m.Type]++
		s.MissedByCtx[m.Context]++
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}

func scoreFirebreak(dir string) error {
	data, res, secs, err := runFirebreak(dir)
	if err != nil {
		return err
	}
	return output("firebreak", data, res, secs)
}

func runFirebreak(dir string) ([]byte, corpus.Result, float64, error) {
	data, labels, err := load(dir)
	if err != nil {
		return nil, corpus.Result{}, 0, err
	}
	sc := detect.New()
	var found []corpus.Found
	t0 := time.Now()
	sc.Scan(data, func(f detect.Finding) {
		found = append(found, corpus.Found{Line: f.Line, Start: f.Start, End: f.End, Type: f.Type, KeyID: f.KeyID})
	})
	secs := time.Since(t0).Seconds()
	return data, corpus.Score(labels, found, true), secs, nil
}

func table(dir, report string, fbMBps, fbClean float64, glTime, glTimeAll, glVersion string) error {
	data, fb, _, err := runFirebreak(dir)
	if err != nil {
		return err
	}
	_, gl, err := scoreGitleaks(dir, report)
	if err != nil {
		return err
	}
	mbps := func(d string) (float64, error) {
		if d == "" {
			return 0, nil
		}
		t, err := time.ParseDuration(d)
		if err != nil || t <= 0 {
			return 0, fmt.Errorf("bad duration %q", d)
		}
		return float64(len(data)) / 1e6 / t.Seconds(), nil
	}
	gl1, err := mbps(glTime)
	if err != nil {
		return err
	}
	glAll, err := mbps(glTimeAll)
	if err != nil {
		return err
	}
	row := func(name, cores string, speed float64, r corpus.Result) {
		sp := "-"
		if speed > 0 {
			sp = fmt.Sprintf("%.2f", speed)
		}
		rec, dec := "n/a", "n/a"
		if r.Keys > 0 {
			rec = fmt.Sprintf("%.2f%% (%d/%d)", 100*r.Recall(), r.KeysFound, r.Keys)
		}
		if r.Decoys > 0 {
			dec = fmt.Sprintf("%.2f%% (%d/%d)", 100*r.DecoyRate(), r.DecoysFlagged, r.Decoys)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d |\n", name, cores, sp, rec, dec, r.CleanFindings)
	}
	fmt.Printf("Corpus %s: %d bytes, %d planted keys, %d decoy lines, %d clean lines\n\n", filepath.Base(dir), len(data), fb.Keys, fb.Decoys, fb.CleanLines)
	fmt.Println("| scanner | cores | MB/s | recall | decoy lines flagged | findings on clean lines |")
	fmt.Println("|---|---|---|---|---|---|")
	row("firebreak (go test -bench BenchmarkScanFile)", "1", fbMBps, fb)
	if glVersion == "" {
		glVersion = "gitleaks"
	}
	row("gitleaks "+glVersion+" dir (GOMAXPROCS=1)", "1", gl1, gl)
	if glAll > 0 {
		row("gitleaks "+glVersion+" dir (all cores)", "all", glAll, gl)
	}
	fmt.Println()
	if fbClean > 0 {
		fmt.Printf("Firebreak on clean log-shaped text (BenchmarkScanCleanLogs, 1 core): %.2f MB/s\n", fbClean)
	}
	if gl1 > 0 && fbMBps > 0 {
		fmt.Printf("Speed-up per core on the corpus: %.0fx\n", fbMBps/gl1)
	}
	if fb.Keys > 0 {
		fmt.Printf("Recall: firebreak %.4f, gitleaks %.4f\n", fb.Recall(), gl.Recall())
	}
	missed := map[string]int{}
	for _, m := range gl.Missed {
		missed[m.Type]++
	}
	if len(missed) > 0 {
		fmt.Printf("gitleaks missed, by type: %v\n", missed)
	}
	ok := fb.CleanFindings == 0 && (gl1 == 0 || fbMBps >= 25*gl1) && fbMBps >= 50
	if fb.Keys > 0 {
		ok = ok && fb.Recall() >= 0.995 && fb.DecoyRate() <= 0.01 && fb.Recall() > gl.Recall()
	}
	fmt.Printf("Targets (recall >= 99.5%%, decoys <= 1%%, no clean-line finding, >= 50 MB/s, >= 25x gitleaks per core with higher recall): %v\n", map[bool]string{true: "met", false: "NOT met"}[ok])
	return nil
}

// gitleaksFinding is the part of a gitleaks JSON report entry used here.
type gitleaksFinding struct {
	RuleID      string
	StartLine   int
	StartColumn int
	Secret      string
}

func scoreGitleaks(dir, report string) ([]byte, corpus.Result, error) {
	data, labels, err := load(dir)
	if err != nil {
		return nil, corpus.Result{}, err
	}
	rb, err := os.ReadFile(report)
	if err != nil {
		return nil, corpus.Result{}, err
	}
	var gl []gitleaksFinding
	if len(bytes.TrimSpace(rb)) > 0 {
		if err := json.Unmarshal(rb, &gl); err != nil {
			return nil, corpus.Result{}, fmt.Errorf("parse gitleaks report: %w", err)
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
	return data, corpus.Score(labels, found, false), nil
}
