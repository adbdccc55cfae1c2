package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Label describes one planted key or one decoy line of a generated corpus. Labels never
// hold key text: Start/End locate the key in the corpus file.
type Label struct {
	Kind     string `json:"kind"` // "key", "decoy" or "summary"
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"` // 1-based byte column of the key
	Start    int    `json:"start,omitempty"`  // byte offsets in the corpus file
	End      int    `json:"end,omitempty"`
	Provider string `json:"provider,omitempty"`
	Type     string `json:"type,omitempty"`
	KeyID    string `json:"key_id,omitempty"` // the AWS access key id (not a secret)
	Context  string `json:"context,omitempty"`
	Decoy    string `json:"decoy,omitempty"` // decoy kind
	Lines    int    `json:"lines,omitempty"` // summary: lines in the corpus
	Bytes    int    `json:"bytes,omitempty"` // summary: bytes in the corpus
}

// Options shape a generated corpus.
type Options struct {
	Seed     uint64
	Bytes    int  // stop after about this many bytes
	TestKeys bool // plant Stripe test keys as keys (else they are decoys)
	Clean    bool // write clean lines only: no key, no decoy
}

// Generate writes a corpus of log lines to w and returns its labels (the last one is
// the summary). Roughly a quarter of the entries plant one key (or an AWS id and secret
// pair), cycling through every kind; an eighth plant a decoy; the rest is clean text.
// The same options always give the same corpus.
func Generate(w io.Writer, o Options) ([]Label, error) {
	r := NewRand(o.Seed)
	bw := bufio.NewWriterSize(w, 1<<16)
	var labels []Label
	off, line := 0, 1
	emit := func(lines []string, plant map[string]Label) {
		for _, l := range expandLines(lines) {
			for v, lab := range plant {
				if c := strings.Index(l, v); c >= 0 {
					lab.Line, lab.Column, lab.Start, lab.End = line, c+1, off+c, off+c+len(v)
					labels = append(labels, lab)
					delete(plant, v)
				}
			}
			bw.WriteString(l)
			bw.WriteByte('\n')
			off += len(l) + 1
			line++
		}
		if len(plant) != 0 {
			panic("corpus: a planted value was not written")
		}
	}
	kinds := make([]Kind, 0, len(Kinds))
	for _, k := range Kinds {
		if !k.Test || o.TestKeys {
			kinds = append(kinds, k)
		}
	}
	nk := 0
	for off < o.Bytes {
		x := r.IntN(8)
		if o.Clean {
			x = 7
		}
		switch {
		case x < 2: // a key
			slot := nk % (len(kinds) + 1)
			nk++
			if slot == len(kinds) { // an AWS pair
				id, sec := AWSPair(r)
				c := AWSContexts[r.IntN(len(AWSContexts))]
				emit(c.Make(r, id.Text, sec.Text), map[string]Label{
					id.Text:  {Kind: "key", Provider: "aws", Type: id.Type, KeyID: id.KeyID, Context: "aws-" + c.Name},
					sec.Text: {Kind: "key", Provider: "aws", Type: sec.Type, KeyID: sec.KeyID, Context: "aws-" + c.Name},
				})
				continue
			}
			k := MakeKey(r, kinds[slot])
			c := KeyContexts[r.IntN(len(KeyContexts))]
			emit(c.Make(r, k.Text), map[string]Label{
				k.Text: {Kind: "key", Provider: k.Provider, Type: k.Type, KeyID: k.KeyID, Context: c.Name},
			})
		case x == 2: // a decoy
			d := Decoys[r.IntN(len(Decoys))]
			if d.Name == "stripe-test" && o.TestKeys {
				d = Decoys[0]
			}
			v := d.Make(r)
			c := KeyContexts[r.IntN(len(KeyContexts))]
			emit(c.Make(r, v), map[string]Label{v: {Kind: "decoy", Decoy: d.Name, Context: c.Name}})
		default:
			emit([]string{CleanLine(r)}, nil)
		}
	}
	labels = append(labels, Label{Kind: "summary", Lines: line - 1, Bytes: off})
	return labels, bw.Flush()
}

// WriteLabels writes labels as JSON lines.
func WriteLabels(w io.Writer, labels []Label) error {
	enc := json.NewEncoder(w)
	for _, l := range labels {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// ReadLabels reads labels written by WriteLabels.
func ReadLabels(rd io.Reader) ([]Label, error) {
	var out []Label
	dec := json.NewDecoder(rd)
	for {
		var l Label
		if err := dec.Decode(&l); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
}

// Found is one finding of a scanner, in corpus coordinates.
type Found struct {
	Line       int
	Start, End int // byte offsets in the corpus
	Type       string
	KeyID      string
}

// Result is the score of a scanner on a corpus.
type Result struct {
	Keys, KeysFound       int
	WrongType, WrongKeyID int // found at the right place but with another type / key id
	Decoys, DecoysFlagged int // decoy lines, and those with at least one finding
	CleanLines            int
	CleanFindings         int // findings on lines with neither a key nor a decoy
	Missed                []Label
	PerType               map[string][2]int // type -> {planted, found}
}

// Recall is the fraction of planted keys found.
func (r Result) Recall() float64 { return ratio(r.KeysFound, r.Keys) }

// DecoyRate is the fraction of decoy lines flagged.
func (r Result) DecoyRate() float64 { return ratio(r.DecoysFlagged, r.Decoys) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Score matches findings against labels. A key counts as found when a finding overlaps
// at least half of it (exact is the normal case for Firebreak; other scanners may
// include a quote or stop early). With exact set, only an exact span counts, and the
// type and key id are checked too.
func Score(labels []Label, found []Found, exact bool) Result {
	res := Result{PerType: map[string][2]int{}}
	keyLines := map[int]bool{}
	decoyLines := map[int]bool{}
	var keys []Label
	lines := 0
	for _, l := range labels {
		switch l.Kind {
		case "key":
			keys = append(keys, l)
			keyLines[l.Line] = true
		case "decoy":
			decoyLines[l.Line] = true
		case "summary":
			lines = l.Lines
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Start < found[j].Start })
	flagged := map[int]bool{}
	for _, f := range found {
		switch {
		case decoyLines[f.Line] && !keyLines[f.Line]:
			flagged[f.Line] = true
		case !keyLines[f.Line] && !decoyLines[f.Line]:
			res.CleanFindings++
		}
	}
	res.Decoys = len(decoyLines)
	res.DecoysFlagged = len(flagged)
	res.CleanLines = lines - len(keyLines) - len(decoyLines)
	for _, k := range keys {
		res.Keys++
		pt := res.PerType[k.Type]
		pt[0]++
		ok := false
		// findings are sorted by start; the candidates start within 600 bytes before k.
		i := sort.Search(len(found), func(i int) bool { return found[i].Start >= k.Start-600 })
		for ; i < len(found) && found[i].Start < k.End; i++ {
			f := found[i]
			if exact {
				if f.Start == k.Start && f.End == k.End {
					ok = true
					if f.Type != k.Type {
						res.WrongType++
					}
					if f.KeyID != k.KeyID {
						res.WrongKeyID++
					}
				}
				continue
			}
			ov := min(f.End, k.End) - max(f.Start, k.Start)
			if ov*2 >= k.End-k.Start {
				ok = true
			}
		}
		if ok {
			res.KeysFound++
			pt[1]++
		} else {
			res.Missed = append(res.Missed, k)
		}
		res.PerType[k.Type] = pt
	}
	return res
}

// Summary formats a result in one line.
func (r Result) Summary() string {
	return fmt.Sprintf("recall %.4f (%d/%d), decoy rate %.4f (%d/%d), clean-line findings %d (of %d lines), wrong type %d, wrong key id %d",
		r.Recall(), r.KeysFound, r.Keys, r.DecoyRate(), r.DecoysFlagged, r.Decoys, r.CleanFindings, r.CleanLines, r.WrongType, r.WrongKeyID)
}
