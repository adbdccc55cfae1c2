package detect

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/coregx/ahocorasick"
)

// Finding is one secret found in a block. Start/End are byte offsets of the secret in the
// scanned block; the raw secret is block[Start:End] and must never be printed or logged.
type Finding struct {
	Provider     string // "openai"
	Type         string // secret type slug, "openai_api_key"
	Start, End   int    // byte offsets into the block passed to Scan
	Line, Column int    // 1-based; Column counts bytes from the line start, 1-based
	KeyID        string // non-secret id where the format carries one (the AWS access key id for a secret key; the access key id itself for an id finding)
}

// Spec describes one detector, for documentation and for code that lists what Firebreak
// finds. Example is a placeholder showing the shape of the secret; it is never a key and
// the scanner does not report it.
type Spec struct {
	Provider    string
	Type        string
	Prefixes    []string
	Description string
	Example     string
	// TestKey marks detectors of test-mode keys, reported only with WithTestKeys.
	TestKey bool
}

// Option configures a Scanner.
type Option func(*options)

type options struct {
	testKeys  bool
	blockSize int
}

// WithTestKeys makes the scanner also report test-mode keys (Stripe sk_test_ and
// rk_test_), which are not reported by default.
func WithTestKeys() Option { return func(o *options) { o.testKeys = true } }

// WithBlockSize sets the size of the blocks ScanReader reads (default 1 MiB). Values
// below 64 bytes are raised to 64; the buffer grows by itself when a block holds too
// little context to decide (very long lines).
func WithBlockSize(n int) Option {
	return func(o *options) {
		if n < 64 {
			n = 64
		}
		o.blockSize = n
	}
}

// Scanner finds secrets in byte blocks. Build it once with New; it is immutable and safe
// for concurrent use by many goroutines.
type Scanner struct {
	ac       *ahocorasick.Automaton
	triggers []trigger // by AC pattern id
	maxTrig  int       // length of the longest trigger
	opts     options
}

// New builds a Scanner.
func New(opts ...Option) *Scanner {
	s := &Scanner{opts: options{blockSize: 1 << 20}}
	for _, o := range opts {
		o(&s.opts)
	}
	pats := make([]string, 0, len(triggerTable))
	for _, t := range triggerTable {
		if t.test && !s.opts.testKeys {
			continue
		}
		pats = append(pats, t.lit)
		s.triggers = append(s.triggers, t)
		if len(t.lit) > s.maxTrig {
			s.maxTrig = len(t.lit)
		}
	}
	ac, err := ahocorasick.NewBuilder().AddStrings(pats).Build()
	if err != nil {
		// The trigger table is a constant of this package; failing to compile it is a bug.
		panic(fmt.Sprintf("detect: building the prefix automaton: %v", err))
	}
	s.ac = ac
	return s
}

// Detectors returns the list of detectors: a fresh copy that callers may keep or modify.
func (s *Scanner) Detectors() []Spec {
	out := make([]Spec, 0, len(detectorTable))
	for _, d := range detectorTable {
		d.Prefixes = slices.Clone(d.Prefixes)
		out = append(out, d)
	}
	return out
}

// hit is a finding under construction: offsets into the block and the detector index.
type hit struct {
	start, end int
	det        uint8
	keyStart   int // offsets of the AWS access key id this secret pairs with, when keyEnd > 0
	keyEnd     int
	line, col  int
}

// window bounds the haystack of one automaton call: the library's start-byte
// skip-ahead costs one bytes.IndexByte per distinct first byte per call, and a bounded
// window keeps that cost small. Right after a prefix hit the next call gets a haystack
// shorter than the 128 bytes at which the library engages its skip-ahead, so input
// dense with prefixes that start no key ("AKIAAKIAAKIA…") is scanned in linear time.
const (
	window      = 4 << 10
	denseWindow = 127
)

// Scan calls fn for each finding in block, in order of Start. It does not retain block or
// allocate for clean input.
func (s *Scanner) Scan(block []byte, fn func(Finding)) {
	hits := s.find(block, nil)
	if len(hits) == 0 {
		return
	}
	hits = finalize(block, hits)
	for i := range hits {
		fn(s.finding(block, &hits[i]))
	}
}

func (s *Scanner) finding(block []byte, h *hit) Finding {
	d := &detectorTable[h.det]
	f := Finding{Provider: d.Provider, Type: d.Type, Start: h.start, End: h.end, Line: h.line, Column: h.col}
	if h.keyEnd > 0 {
		f.KeyID = string(block[h.keyStart:h.keyEnd])
	}
	return f
}

// scanState is what matchers carry from one prefix hit to the next within one block.
type scanState struct {
	awsID   int // start of the last AWS access key id whose window was searched
	awsDone int // end of that window: candidates before it have been considered
}

// find appends the raw hits in block to hits (unsorted, possibly overlapping).
func (s *Scanner) find(block []byte, hits []hit) []hit {
	st := scanState{awsID: -1}
	pos, win := 0, window
	for pos < len(block) {
		we := min(pos+win, len(block))
		m, ok := s.ac.Find(block[:we], pos)
		if !ok {
			if we == len(block) {
				break
			}
			pos = we - s.maxTrig + 1 // a trigger may straddle the window edge
			win = window
			continue
		}
		var next int
		hits, next = s.triggers[m.PatternID].match(block, m.Start, m.End, hits, &st)
		if next > m.End {
			pos = next // a key was found: resume after it
		} else {
			pos = m.Start + 1 // another trigger may overlap this one ("…A3T3BlbkFJ…")
		}
		win = denseWindow
	}
	return hits
}

// finalize sorts hits by start, drops hits contained in another, pairs AWS secret keys
// with the nearest access key id, and fills in lines and columns.
func finalize(block []byte, hits []hit) []hit {
	slices.SortFunc(hits, func(a, b hit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end // longer first
	})
	out := hits[:0]
	for _, h := range hits {
		if n := len(out); n > 0 && h.start >= out[n-1].start && h.end <= out[n-1].end {
			continue
		}
		out = append(out, h)
	}
	hits = out
	// Lines and columns, incrementally: hits are sorted.
	line, lineStart, at := 1, 0, 0
	for i := range hits {
		h := &hits[i]
		line += bytes.Count(block[at:h.start], newline[:])
		if j := bytes.LastIndexByte(block[at:h.start], '\n'); j >= 0 {
			lineStart = at + j + 1
		}
		at = h.start
		h.line, h.col = line, h.start-lineStart+1
	}
	pairAWS(hits)
	return hits
}

var newline = [1]byte{'\n'}

// AWS secret keys are paired with an access key id at most awsLines lines and
// awsBytes bytes away, before or after.
const (
	awsLines = 4
	awsBytes = 1024
)

func pairAWS(hits []hit) {
	for i := range hits {
		h := &hits[i]
		if h.det != dAWSSecret {
			continue
		}
		best, bestD := -1, 0
		// hits are sorted by start: look at neighbours until out of byte range.
		for _, dir := range [2]int{-1, 1} {
			for j := i + dir; j >= 0 && j < len(hits); j += dir {
				id := &hits[j]
				if id.start > h.start+awsBytes+awsIDLen || id.start < h.start-awsBytes-awsIDLen {
					break
				}
				if (id.det != dAWSID && id.det != dAWSTempID) || !awsNear(id, h.start, h.line) {
					continue
				}
				if d := abs(h.start - id.start); best < 0 || d < bestD {
					best, bestD = j, d
				}
			}
		}
		if best >= 0 {
			h.keyStart, h.keyEnd = hits[best].start, hits[best].end
		}
	}
}

// Pairs holds the AWS access key ids that secret access keys of one text were
// paired with. An id and its secret are one credential, which the secret's
// finding reports whole (its KeyID names the id): a caller that makes one
// exposure per key skips the id's own finding (Covers), or the same IAM key
// gets two incidents, which race to deactivate it and each tell the owner.
// The zero value is empty and ready to use.
type Pairs map[string]bool

// Add records f's access key id when f is a secret access key paired with one.
func (p *Pairs) Add(f Finding) {
	if f.Type != detectorTable[dAWSSecret].Type || f.KeyID == "" {
		return
	}
	if *p == nil {
		*p = Pairs{}
	}
	(*p)[f.KeyID] = true
}

// Covers reports whether f is an access key id (long-term or temporary) whose
// secret access key was found paired with it.
func (p Pairs) Covers(f Finding) bool {
	return IsAWSKeyID(f) && p[f.KeyID]
}

// IsAWSKeyID reports whether f is an AWS access key id (long-term or
// temporary); its KeyID is the id itself.
func IsAWSKeyID(f Finding) bool {
	return f.Type == detectorTable[dAWSID].Type || f.Type == detectorTable[dAWSTempID].Type
}

// IsLoneAWSSecret reports whether f is an AWS secret access key found with no
// access key id near it (reported after a label such as
// aws_secret_access_key): its KeyID is empty, and the key cannot be checked
// or deactivated until something names its id.
func IsLoneAWSSecret(f Finding) bool {
	return f.Type == detectorTable[dAWSSecret].Type && f.KeyID == ""
}

// awsNear reports whether a secret key starting at start, on line line, is in the
// pairing window of the access key id hit id.
func awsNear(id *hit, start, line int) bool {
	dl := id.line - line
	return dl >= -awsLines && dl <= awsLines && start >= id.start-awsBytes && start <= id.end+awsBytes
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
