package openaiemu

import (
	"strings"
	"testing"
)

// randomString draws only from its alphabet, at the length asked, and over
// many draws uses every character with about the same frequency (rejection
// keeps the 66-character key alphabet unbiased; a plain modulo of a byte
// would make its first 58 characters a third more likely than the last 8).
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
	const draws = 660_000 // 10,000 per character expected
	counts := map[byte]int{}
	for _, c := range []byte(randomString(draws, keyBody)) {
		counts[c]++
	}
	for i := 0; i < len(keyBody); i++ {
		// 10,000 expected, σ ≈ 99: ±6 % is over 6σ, while a modulo bias
		// would draw the last 8 characters at 0.77× the mean.
		if n := counts[keyBody[i]]; n < 9_400 || n > 10_600 {
			t.Errorf("%q drawn %d times of %d, want about 10,000", keyBody[i], n, draws)
		}
	}
}
