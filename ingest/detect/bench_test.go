package detect

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect/internal/corpus"
)

// cleanLogs returns about n bytes of ordinary log text (no keys, no decoys).
var cleanLogs = sync.OnceValue(func() []byte {
	r := corpus.NewRand(7)
	var b bytes.Buffer
	for b.Len() < 8<<20 {
		b.WriteString(corpus.CleanLine(r))
		b.WriteByte('\n')
	}
	return b.Bytes()
})

// labelledCorpus is the generated corpus with labels (a key or decoy every few lines).
var labelledCorpus = sync.OnceValues(func() ([]byte, []corpus.Label) {
	var b bytes.Buffer
	labels, err := corpus.Generate(&b, corpus.Options{Seed: 1, Bytes: 8 << 20})
	if err != nil {
		panic(err)
	}
	return b.Bytes(), labels
})

func benchScan(b *testing.B, data []byte) {
	s := New()
	n := 0
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Scan(data, func(Finding) { n++ })
	}
	_ = n
}

// BenchmarkScanCleanLogs: log-shaped text as it mostly is (JSON request logs, access
// logs, stack frames, hashes, trace ids, base64 payloads), no secrets. 0 allocs/op.
func BenchmarkScanCleanLogs(b *testing.B) { benchScan(b, cleanLogs()) }

// BenchmarkScanLabelledCorpus: the labelled corpus, where a quarter of the entries plant
// a key and an eighth a decoy (one key every ~650 bytes: far denser than real logs).
func BenchmarkScanLabelledCorpus(b *testing.B) {
	data, _ := labelledCorpus()
	benchScan(b, data)
}

// BenchmarkScanFile scans the file named by $FIREBREAK_BENCH_CORPUS (the bench script
// points it at the corpus it also gives gitleaks); skipped when unset.
func BenchmarkScanFile(b *testing.B) {
	path := os.Getenv("FIREBREAK_BENCH_CORPUS")
	if path == "" {
		b.Skip("FIREBREAK_BENCH_CORPUS not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	benchScan(b, data)
}

// BenchmarkScanReader: the streaming path over the labelled corpus (1 MiB blocks).
func BenchmarkScanReader(b *testing.B) {
	data, _ := labelledCorpus()
	s := New()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.ScanReader(b.Context(), bytes.NewReader(data), func(Finding, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
