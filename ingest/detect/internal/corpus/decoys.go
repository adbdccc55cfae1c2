package corpus

import "strings"

// Decoy is a generator of text that looks like a key, or stands where a key would, but
// is not one: placeholders, documentation keys, template references, truncated or
// masked keys, checksum failures, low-entropy fillers, and test keys.
type Decoy struct {
	Name string
	Make func(r *Rand) string
}

// cut returns a prefix of a real-format key, cut inside its random part.
func cut(r *Rand, key string, prefixLen int) string {
	n := prefixLen + 3 + r.IntN(len(key)-prefixLen-8)
	return key[:n]
}

// Decoys lists every decoy kind.
var Decoys = []Decoy{
	{"openai-xxx", func(r *Rand) string { return "sk-proj-" + strings.Repeat(Pick(r, "X", "x", "*"), 20+r.IntN(40)) }},
	{"openai-xxx-marker", func(r *Rand) string {
		n := Pick(r, 20, 58, 74)
		f := Pick(r, "X", "x", "A", "0")
		return "sk-proj-" + strings.Repeat(f, n) + "T3BlbkFJ" + strings.Repeat(f, n)
	}},
	{"openai-lowentropy-marker", func(r *Rand) string {
		return "sk-proj-" + strings.Repeat("abc123", 10)[:58] + "T3BlbkFJ" + strings.Repeat("abc123", 10)[:58]
	}},
	{"env-ref", func(r *Rand) string {
		return Pick(r, "${OPENAI_API_KEY}", "${ANTHROPIC_API_KEY}", "$GITHUB_TOKEN", "{{ .Values.apiKey }}",
			"%(api_key)s", "${{ secrets.STRIPE_SECRET_KEY }}", "$(cat /run/secrets/token)", "process.env.GROQ_API_KEY")
	}},
	{"placeholder", func(r *Rand) string {
		return Pick(r, "<redacted>", "[REDACTED]", "<your-key-here>", "your-key-here", "YOUR_API_KEY", "changeme",
			"********", "sk-...", "sk-proj-YOUR_API_KEY_HERE", "ghp_YourGitHubTokenHere", "xoxb-your-bot-token",
			"AIzaSy-your-google-api-key-here", "hf_YOUR_TOKEN", "gsk_your_groq_api_key", "pplx-your-key", "r8_your_token_here",
			"xai-YOUR_KEY", "sk_live_YOUR_STRIPE_SECRET_KEY", "sk-ant-api03-your-key-here", "<ANTHROPIC_API_KEY>")
	}},
	{"placeholder-word", func(r *Rand) string {
		return Pick(r,
			"hf_YOURTOKENHEREYOURTOKENHEREYOURTOK",
			"AIzaSyEXAMPLEKEYexampleKEY0123EXAMPLE12",
			"gsk_"+strings.Repeat("PLACEHOLDER", 5)[:52],
			"pplx-"+strings.Repeat("REDACTED", 6),
			"sk-ant-api03-"+strings.Repeat("EXAMPLE-", 12)[:93]+"AA",
			"r8_"+strings.Repeat("DummyToken", 4)[:37],
			"xai-"+strings.Repeat("ChangeMe", 10))
	}},
	{"aws-docs", func(r *Rand) string {
		return Pick(r, "AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")
	}},
	{"aws-filler", func(r *Rand) string { return "AKIA" + strings.Repeat(Pick(r, "X", "A", "Z"), 16) }},
	{"truncated", func(r *Rand) string {
		k := MakeKey(r, Kinds[r.IntN(len(Kinds))])
		p := prefixLen(k.Text)
		t := cut(r, k.Text, p)
		return t + Pick(r, "…", "...", "..", "***")
	}},
	{"truncated-bare", func(r *Rand) string {
		// Fixed-length formats only: a bare cut there is detectably short.
		k := MakeKey(r, Kinds[Pick(r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 19)])
		return cut(r, k.Text, prefixLen(k.Text))
	}},
	{"hint", func(r *Rand) string {
		k := MakeKey(r, Kinds[r.IntN(len(Kinds))])
		p := prefixLen(k.Text)
		return k.Text[:p] + "…" + k.Text[len(k.Text)-4:]
	}},
	{"masked", func(r *Rand) string {
		k := MakeKey(r, Kinds[r.IntN(len(Kinds))])
		p := prefixLen(k.Text)
		return k.Text[:p] + strings.Repeat("*", len(k.Text)-p-4) + k.Text[len(k.Text)-4:]
	}},
	{"github-bad-checksum", func(r *Rand) string {
		return Pick(r, "ghp_", "gho_", "ghu_", "ghs_", "ghr_") + r.Str(Base62, 36)
	}},
	{"github-lowentropy-valid-checksum", func(r *Rand) string {
		body := strings.Repeat(Pick(r, "0", "a", "x", "1234"), 30)[:30]
		return "ghp_" + body + GitHubChecksum(body)
	}},
	{"lowentropy", func(r *Rand) string {
		return Pick(r,
			"sk-ant-api03-"+strings.Repeat("A", 93)+"AA",
			"AIza"+strings.Repeat("0", 35),
			"xoxb-000000000000-0000000000000-"+strings.Repeat("x", 24),
			"hf_"+strings.Repeat("a", 34),
			"sk_live_abcdefghijklmnopqrstuvwx",
			"sk_live_"+strings.Repeat("4242", 6),
			"rk_live_"+strings.Repeat("abcd", 8),
			"gsk_"+strings.Repeat("ab12", 13),
			"xai-"+strings.Repeat("0123456789", 8),
			"r8_"+strings.Repeat("x", 37),
			"pplx-"+strings.Repeat("0", 48),
			"github_pat_"+strings.Repeat("1", 22)+"_"+strings.Repeat("A", 59),
			"xapp-1-A0000000000-0000000000000-"+strings.Repeat("0", 64))
	}},
	{"stripe-test", func(r *Rand) string { return "sk_test_" + stripeBody(r) }},
}

// prefixLen returns the length of the well-known prefix of a generated key.
func prefixLen(k string) int {
	for _, p := range []string{"sk-ant-admin01-", "sk-ant-api03-", "sk-svcacct-", "sk-admin-", "sk-proj-", "github_pat_",
		"xoxe.xoxp-1-", "xoxe-1-", "xapp-1-", "sk_live_", "rk_live_", "sk_test_", "api_org_", "xoxb-", "xoxp-",
		"pplx-", "gsk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xai-", "r8_", "hf_", "sk-"} {
		if strings.HasPrefix(k, p) {
			return len(p)
		}
	}
	return 4 // AKIA, ASIA, AIza, …
}
