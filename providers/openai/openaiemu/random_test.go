package openaiemu

import (
	"math"
	"strings"
	"testing"
)

// randomString draws only from its alphabet, at the length asked, and over
// many draws uses every character about equally often. The 62-character
// alphanumeric alphabet does not divide 256: a plain modulo of a random byte
// would draw its first 8 characters 1.21× as often as the mean; rejection
// keeps them all within a few σ of it.
func TestRandomStringIsUniformOverItsAlphabet(t *testing.T) {
	for _, n := range []int{0, 1, 16, 74, 300} {
		s := randomString(n, keyBody)
		if len(s) != n {
			t.Fatalf("length %d, want %d", len(s), n)
		}
		if i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(keyBody, r) }); i >= 0 {
			t.Fatalf("%q is not in the alphabet", s[i])
		}
	}
	const perChar = 10_000
	k := len(alnum)
	draws := k * perChar
	counts := map[byte]int{}
	for _, c := range []byte(randomString(draws, alnum)) {
		counts[c]++
	}
	// Binomial: σ = √(n·p·(1−p)) ≈ 99; 6σ leaves a false alarm about once
	// in 10⁷ runs, and catches the modulo bias (+2,100) many times over.
	sigma := math.Sqrt(float64(draws) * (1 / float64(k)) * (1 - 1/float64(k)))
	for i := 0; i < k; i++ {
		if d := math.Abs(float64(counts[alnum[i]] - perChar)); d > 6*sigma {
			t.Errorf("%q drawn %d times of %d, want %d ± %.0f", alnum[i], counts[alnum[i]], draws, perChar, 6*sigma)
		}
	}
}
