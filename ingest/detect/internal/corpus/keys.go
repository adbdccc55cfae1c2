// Package corpus generates fake keys of every supported format, decoys, and realistic
// log text with planted keys and labels, for the detector's tests and benchmarks.
//
// Every key it makes is random bytes in a real key's shape (right prefix, alphabet,
// length and, for GitHub, a valid CRC32 checksum). None is a real credential. It does
// not import package detect, so that both detect's tests and the corpusgen command can
// use it.
package corpus

import (
	"hash/crc32"
	"math/rand/v2"
	"strings"
)

// Alphabets.
const (
	Base62  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	URLTok  = Base62 + "-_"
	Base64  = Base62 + "+/"
	Base32  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	Letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	Digits  = "0123456789"
	HexLow  = "0123456789abcdef"
	UpAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// Rand draws strings; it wraps a deterministic generator.
type Rand struct{ *rand.Rand }

// NewRand returns a deterministic generator for seed.
func NewRand(seed uint64) *Rand { return &Rand{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

// Str returns n characters drawn uniformly from alphabet.
func (r *Rand) Str(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// Pick returns one of xs.
func Pick[T any](r *Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// GitHubChecksum returns the 6-character base62 CRC32 of a GitHub token's random part.
func GitHubChecksum(random string) string {
	v := crc32.ChecksumIEEE([]byte(random))
	var out [6]byte
	for i := 5; i >= 0; i-- {
		out[i] = Base62[v%62]
		v /= 62
	}
	return string(out[:])
}

// Key is a generated key and what the detector should report for it.
type Key struct {
	Provider, Type string
	Text           string
	KeyID          string // expected KeyID (AWS)
}

// Kind is one key format the generator can make.
type Kind struct {
	Provider, Type string
	Make           func(r *Rand) string
	Test           bool // a test-mode key: only reported with WithTestKeys
	AWSID          bool // the key text is its own KeyID
}

// Kinds lists every key format (AWS secret keys are made in pairs, see AWSPair).
var Kinds = []Kind{
	{Provider: "openai", Type: "openai_api_key", Make: func(r *Rand) string {
		switch r.IntN(5) {
		case 0:
			return "sk-" + r.Str(Base62, 20) + "T3BlbkFJ" + r.Str(Base62, 20)
		case 1:
			return "sk-proj-" + r.Str(URLTok, 58) + "T3BlbkFJ" + r.Str(URLTok, 58)
		case 2:
			return "sk-svcacct-" + r.Str(URLTok, 74) + "T3BlbkFJ" + r.Str(URLTok, 74)
		case 3:
			return "sk-admin-" + r.Str(URLTok, 74) + "T3BlbkFJ" + r.Str(URLTok, 74)
		}
		return "sk-proj-" + r.Str(URLTok, 74) + "T3BlbkFJ" + r.Str(URLTok, 74)
	}},
	{Provider: "anthropic", Type: "anthropic_api_key", Make: func(r *Rand) string {
		return "sk-ant-api03-" + r.Str(URLTok, 93) + "AA"
	}},
	{Provider: "anthropic", Type: "anthropic_admin_api_key", Make: func(r *Rand) string {
		return "sk-ant-admin01-" + r.Str(URLTok, 93) + "AA"
	}},
	{Provider: "aws", Type: "aws_access_key_id", AWSID: true, Make: func(r *Rand) string {
		return Pick(r, "AKIA", "AKIA", "AKIA", "ABIA", "ACCA") + r.Str(Base32, 16)
	}},
	{Provider: "aws", Type: "aws_temporary_access_key_id", AWSID: true, Make: func(r *Rand) string {
		return "ASIA" + r.Str(Base32, 16)
	}},
	{Provider: "github", Type: "github_personal_access_token", Make: func(r *Rand) string {
		if r.IntN(3) == 0 {
			return "github_pat_" + r.Str(Base62, 22) + "_" + r.Str(Base62, 59)
		}
		return GitHubToken(r, "ghp_")
	}},
	{Provider: "github", Type: "github_oauth_access_token", Make: func(r *Rand) string { return GitHubToken(r, "gho_") }},
	{Provider: "github", Type: "github_app_user_access_token", Make: func(r *Rand) string { return GitHubToken(r, "ghu_") }},
	{Provider: "github", Type: "github_app_installation_access_token", Make: func(r *Rand) string { return GitHubToken(r, "ghs_") }},
	{Provider: "github", Type: "github_refresh_token", Make: func(r *Rand) string { return GitHubToken(r, "ghr_") }},
	{Provider: "google", Type: "google_api_key", Make: func(r *Rand) string { return "AIzaSy" + r.Str(URLTok, 33) }},
	{Provider: "slack", Type: "slack_api_token", Make: func(r *Rand) string {
		switch r.IntN(5) {
		case 0:
			return "xoxp-" + r.Str(Digits, 12) + "-" + r.Str(Digits, 12) + "-" + r.Str(Digits, 13) + "-" + r.Str(HexLow, 32)
		case 1:
			return "xapp-1-A" + r.Str(UpAlnum, 10) + "-" + r.Str(Digits, 13) + "-" + r.Str(HexLow, 64)
		case 2:
			return "xoxe.xoxp-1-" + r.Str(Base62, 166)
		case 3:
			return "xoxe-1-" + r.Str(Base62, 146)
		}
		return "xoxb-" + r.Str(Digits, 12) + "-" + r.Str(Digits, 13) + "-" + r.Str(Base62, 24)
	}},
	{Provider: "stripe", Type: "stripe_api_key", Make: func(r *Rand) string { return "sk_live_" + stripeBody(r) }},
	{Provider: "stripe", Type: "stripe_live_restricted_key", Make: func(r *Rand) string { return "rk_live_" + stripeBody(r) }},
	{Provider: "stripe", Type: "stripe_test_secret_key", Test: true, Make: func(r *Rand) string { return "sk_test_" + stripeBody(r) }},
	{Provider: "huggingface", Type: "hf_user_access_token", Make: func(r *Rand) string { return "hf_" + r.Str(Letters, 34) }},
	{Provider: "huggingface", Type: "hf_org_api_key", Make: func(r *Rand) string { return "api_org_" + r.Str(Letters, 34) }},
	{Provider: "groq", Type: "groq_api_key", Make: func(r *Rand) string { return "gsk_" + r.Str(Base62, 52) }},
	{Provider: "perplexity", Type: "perplexity_api_key", Make: func(r *Rand) string { return "pplx-" + r.Str(Base62, 48) }},
	{Provider: "replicate", Type: "replicate_api_token", Make: func(r *Rand) string { return "r8_" + r.Str(Base62, 37) }},
	{Provider: "xai", Type: "xai_api_key", Make: func(r *Rand) string { return "xai-" + r.Str(Base62, 80) }},
}

func stripeBody(r *Rand) string {
	if r.IntN(2) == 0 {
		return r.Str(Base62, 24)
	}
	return "51" + r.Str(Base62, 97)
}

// GitHubToken returns prefix + 30 random base62 characters + their checksum.
func GitHubToken(r *Rand, prefix string) string {
	body := r.Str(Base62, 30)
	return prefix + body + GitHubChecksum(body)
}

// AWSSecret returns a random 40-character secret access key (base64 alphabet, both
// cases present).
func AWSSecret(r *Rand) string {
	for {
		s := r.Str(Base64, 40)
		if strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
			return s
		}
	}
}

// AWSPair returns an access key id (AKIA or ASIA) and a secret access key.
func AWSPair(r *Rand) (id Key, secret Key) {
	k := Kinds[3]
	if r.IntN(4) == 0 {
		k = Kinds[4]
	}
	idText := k.Make(r)
	return Key{Provider: "aws", Type: k.Type, Text: idText, KeyID: idText},
		Key{Provider: "aws", Type: "aws_secret_access_key", Text: AWSSecret(r), KeyID: idText}
}

// MakeKey draws one key of kind k.
func MakeKey(r *Rand, k Kind) Key {
	t := k.Make(r)
	key := Key{Provider: k.Provider, Type: k.Type, Text: t}
	if k.AWSID {
		key.KeyID = t
	}
	return key
}
