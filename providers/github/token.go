package github

import (
	"crypto/rand"
	"hash/crc32"
	"math/big"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Token prefixes, from GitHub's "Behind GitHub's new authentication token
// formats" (github.blog, 2021-04-05) and the fine-grained PAT announcement.
const (
	PrefixPAT          = "ghp_"        // personal access token (classic)
	PrefixOAuth        = "gho_"        // OAuth app access token
	PrefixUserToServer = "ghu_"        // GitHub App user-to-server token
	PrefixInstallation = "ghs_"        // GitHub App installation (server-to-server) token
	PrefixRefresh      = "ghr_"        // GitHub App refresh token
	PrefixFineGrained  = "github_pat_" // fine-grained personal access token
)

// base62 is the alphabet of GitHub's token checksums.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// TokenPrefix returns the known prefix of a token, or "".
func TokenPrefix(v secret.Value) string {
	s := v.Reveal()
	for _, p := range []string{PrefixFineGrained, PrefixPAT, PrefixOAuth, PrefixUserToServer, PrefixInstallation, PrefixRefresh} {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

// Checksum returns the 6-character base62 CRC32 checksum GitHub appends to
// the 30 random characters of a gh?_ token.
func Checksum(random string) string {
	n := crc32.ChecksumIEEE([]byte(random))
	b := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b)
}

// ChecksumValid reports whether a gh?_ token (ghp_, gho_, ghu_, ghs_, ghr_)
// is 4+36 characters whose last six are the base62 CRC32 of the thirty before.
func ChecksumValid(token string) bool {
	if len(token) != 40 || !strings.HasPrefix(token, "gh") || token[3] != '_' {
		return false
	}
	for _, c := range token[4:] {
		if !strings.ContainsRune(base62, c) {
			return false
		}
	}
	return Checksum(token[4:34]) == token[34:]
}

// NewToken returns a random, well-formed token with a valid checksum for a
// gh?_ prefix, or a fine-grained github_pat_ token (22 + "_" + 59 base62
// characters). It is for emulators and tests.
func NewToken(prefix string) string {
	if prefix == PrefixFineGrained {
		return prefix + randomBase62(22) + "_" + randomBase62(59)
	}
	r := randomBase62(30)
	return prefix + r + Checksum(r)
}

func randomBase62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(62)
	for i := range b {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand: " + err.Error())
		}
		b[i] = base62[x.Int64()]
	}
	return string(b)
}
