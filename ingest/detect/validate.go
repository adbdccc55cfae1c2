package detect

import (
	"hash/crc32"
	"math"
	"math/bits"
)

// Character classes, as bit flags in an immutable 256-entry table.
const (
	clUpper  uint8 = 1 << iota // A-Z
	clLower                    // a-z
	clDigit                    // 0-9
	clDash                     // -
	clUnder                    // _
	clB64Ext                   // / and +
	clHex                      // 0-9 a-f A-F
	clB32                      // A-Z 2-7

	clAlnum  = clUpper | clLower | clDigit
	clURLTok = clAlnum | clDash | clUnder // base64url: the alphabet of most key bodies
	clB64    = clAlnum | clB64Ext         // standard base64 without padding: AWS secret keys
)

var classTable = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= clUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= clLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= clDigit | clHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= clHex
		t[c-'a'+'A'] |= clHex
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= clB32
	}
	for c := '2'; c <= '7'; c++ {
		t[c] |= clB32
	}
	t['-'] |= clDash
	t['_'] |= clUnder
	t['/'] |= clB64Ext
	t['+'] |= clB64Ext
	return t
}()

func is(c byte, cl uint8) bool { return classTable[c]&cl != 0 }

// runEnd returns the end of the run of bytes of class cl starting at i, looking at no
// more than limit bytes (so a matcher never walks a huge blob byte by byte).
func runEnd(b []byte, i int, cl uint8, limit int) int {
	end := i + limit
	if end > len(b) {
		end = len(b)
	}
	for i < end && classTable[b[i]]&cl != 0 {
		i++
	}
	return i
}

// allOf reports whether every byte of s is of class cl.
func allOf(s []byte, cl uint8) bool {
	for _, c := range s {
		if classTable[c]&cl == 0 {
			return false
		}
	}
	return true
}

// leftOK reports whether a key may start at i: at the start of the block, after a byte
// that cannot be part of an identifier or base64url blob (not a letter, digit, '-' or
// '_'), after a %XX URL escape ("token%3Dghp_…"), or after a backslash escape
// ("\nghp_…", "\x3dghp_…", "\u003dghp_…") as found in escaped log messages.
func leftOK(b []byte, i int) bool {
	if i == 0 || classTable[b[i-1]]&clURLTok == 0 {
		return true
	}
	if i >= 2 && b[i-2] == '\\' {
		return true
	}
	if i >= 3 && b[i-3] == '%' && is(b[i-2], clHex) && is(b[i-1], clHex) {
		return true
	}
	if i >= 4 && b[i-4] == '\\' && b[i-3] == 'x' && is(b[i-2], clHex) && is(b[i-1], clHex) {
		return true
	}
	if i >= 6 && b[i-6] == '\\' && b[i-5] == 'u' && allOf(b[i-4:i], clHex) {
		return true
	}
	return false
}

// ellipsised reports whether the text at j continues with an ellipsis or masking
// ("...", "…", "***"): the key before it was cut short or masked, so it is not a leak.
func ellipsised(b []byte, j int) bool {
	if j+1 < len(b) && ((b[j] == '.' && b[j+1] == '.') || (b[j] == '*' && b[j+1] == '*')) {
		return true
	}
	return j+2 < len(b) && b[j] == 0xE2 && b[j+1] == 0x80 && b[j+2] == 0xA6
}

// placeholderWords are (upper-cased) words that mark documentation keys and fillers.
// All have five letters or more, so a random base62 body contains one with negligible
// probability (below 1e-6 per key).
var placeholderWords = [...]string{
	"EXAMPLE", "SAMPLE", "DUMMY", "PLACEHOLDER", "REDACTED", "CHANGEME",
	"YOURKEY", "YOUR_KEY", "YOUR-KEY", "YOURAPI", "YOUR_API", "YOUR-API",
	"YOURTOKEN", "YOUR_TOKEN", "YOUR-TOKEN", "YOURSECRET", "YOUR_SECRET",
	"FAKEKEY", "FAKE_KEY", "FAKE-KEY", "NOTAREAL", "NOT_A_REAL", "NOTREAL", "INSERT",
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func containsFold(s []byte, w string) bool {
	if len(w) > len(s) {
		return false
	}
outer:
	for i := 0; i+len(w) <= len(s); i++ {
		for k := 0; k < len(w); k++ {
			if upper(s[i+k]) != w[k] {
				continue outer
			}
		}
		return true
	}
	return false
}

// wordFirst[c] and wordSecond[c] are bitmasks of the placeholder words whose first
// (second) letter is c in either case: a word can start at i only if
// wordFirst[s[i]]&wordSecond[s[i+1]] != 0, which random text rarely satisfies.
var wordFirst, wordSecond = func() (f, s [256]uint32) {
	for i, w := range placeholderWords {
		f[w[0]] |= 1 << i
		f[w[0]-'A'+'a'] |= 1 << i
		s[w[1]] |= 1 << i
		if c := w[1]; c >= 'A' && c <= 'Z' {
			s[c-'A'+'a'] |= 1 << i
		}
	}
	return f, s
}()

// hasPlaceholderWord reports whether s contains one of placeholderWords, in any case.
func hasPlaceholderWord(s []byte) bool {
	for i := 0; i+1 < len(s); i++ {
		m := wordFirst[s[i]] & wordSecond[s[i+1]]
		for m != 0 {
			k := bits.TrailingZeros32(m)
			m &= m - 1
			w := placeholderWords[k]
			if len(w) <= len(s)-i && equalFoldUpper(s[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// equalFoldUpper reports whether s equals the upper-case word w, ignoring case.
func equalFoldUpper(s []byte, w string) bool {
	for k := range len(w) {
		if upper(s[k]) != w[k] {
			return false
		}
	}
	return true
}

// looksRandom is the placeholder filter applied to the random part of a key: it rejects
// runs of one character (XXXXXX, 000000), ascending or descending sequences (abcdef,
// 123456), placeholder words, and bodies whose Shannon entropy is too low for random
// text of that length (sk-proj-abcabcabc…). Thresholds are set so that a uniformly random
// body of the real format is rejected with probability well under 1e-4 (tested).
func looksRandom(s []byte, alphabet int) bool {
	if len(s) == 0 {
		return false
	}
	run, asc, desc := 1, 1, 1
	for i := 1; i < len(s); i++ {
		c, p := s[i], s[i-1]
		if c == p {
			run++
			if run >= 6 {
				return false
			}
		} else {
			run = 1
		}
		if c == p+1 && classTable[c]&clAlnum != 0 {
			asc++
			if asc >= 6 {
				return false
			}
		} else {
			asc = 1
		}
		if c+1 == p && classTable[c]&clAlnum != 0 {
			desc++
			if desc >= 6 {
				return false
			}
		} else {
			desc = 1
		}
	}
	return !hasPlaceholderWord(s) && entropy(s) >= minEntropy(len(s), alphabet)
}

// entropy is the Shannon entropy of s in bits per byte, for len(s) <= maxKeyLen:
// log2(n) - (1/n)·Σ c·log2(c) over the character counts c.
func entropy(s []byte) float64 {
	if len(s) == 0 || len(s) > maxKeyLen {
		return 0
	}
	var counts [256]uint16
	for _, c := range s {
		counts[c]++
	}
	sum := 0.0
	for _, c := range s {
		if k := counts[c]; k != 0 {
			sum += cLog2c[k]
			counts[c] = 0
		}
	}
	n := len(s)
	return cLog2c[n]/float64(n) - sum/float64(n)
}

// cLog2c[c] is c·log2(c).
var cLog2c = func() (t [maxKeyLen + 1]float64) {
	for c := 1; c <= maxKeyLen; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// minEntropy is the least entropy accepted for a random body of length n over an
// alphabet of the given size: 60% of the most such a string can have. Random bodies sit
// far above it (a random 36-char base62 body has about 4.7 bits; the bound is 3.1).
func minEntropy(n, alphabet int) float64 {
	m := n
	if m > alphabet {
		m = alphabet
	}
	return 0.6 * math.Log2(float64(m))
}

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// githubChecksumOK validates the checksum of a GitHub token body (the part after
// "ghp_" etc.): its last six characters are the CRC32 (IEEE) of the rest, in base62,
// left-padded with '0'.
func githubChecksumOK(body []byte) bool {
	if len(body) < 7 {
		return false
	}
	n := len(body) - 6
	v := crc32.ChecksumIEEE(body[:n])
	for i := len(body) - 1; i >= n; i-- {
		if body[i] != base62Digits[v%62] {
			return false
		}
		v /= 62
	}
	return v == 0
}
