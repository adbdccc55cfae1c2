package secret

import "strings"

// knownPrefixes are the non-secret leading markers of common key formats, longest
// first, so that a hint keeps the format visible ("sk-proj-…x9Qa").
var knownPrefixes = []string{
	"sk-ant-admin01-", "sk-ant-api03-", "sk-svcacct-", "sk-admin-", "sk-proj-",
	"github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
	"xoxb-", "xoxp-", "xapp-", "xoxe-", "sk_live_", "rk_live_", "sk_test_",
	"AKIA", "ASIA", "AIza", "hf_", "api_org_", "gsk_", "pplx-", "r8_", "xai-", "sk-",
}

// Hint returns a redacted hint of a secret: its well-known prefix (if any),
// an ellipsis and its last four characters, e.g. "sk-proj-…x9Qa". Secrets of
// twelve characters or fewer show no tail at all. A hint never reveals more than
// the four trailing characters that providers themselves display.
func Hint(v Value) string {
	s := v.Reveal()
	prefix := ""
	for _, p := range knownPrefixes {
		if strings.HasPrefix(s, p) {
			prefix = p
			break
		}
	}
	if len(s)-len(prefix) <= 12 {
		return prefix + "…"
	}
	return prefix + "…" + s[len(s)-4:]
}
