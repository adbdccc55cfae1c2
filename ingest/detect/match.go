package detect

import "bytes"

// Detector indexes into detectorTable.
const (
	dOpenAI uint8 = iota
	dAnthropic
	dAnthropicAdmin
	dAWSID
	dAWSTempID
	dAWSSecret
	dGitHubPAT
	dGitHubOAuth
	dGitHubUser
	dGitHubApp
	dGitHubRefresh
	dGoogle
	dSlack
	dStripe
	dStripeRestricted
	dStripeTest
	dStripeTestRestricted
	dHFUser
	dHFOrg
	dGroq
	dPerplexity
	dReplicate
	dXAI
)

// detectorTable is the immutable list of detectors, indexed by the d* constants.
var detectorTable = [...]Spec{
	dOpenAI: {Provider: "openai", Type: "openai_api_key", Prefixes: []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"},
		Description: "OpenAI API key (project, service account, admin and legacy user keys); all carry the T3BlbkFJ marker, with equal-length random parts around it",
		Example:     "sk-proj-<74 base64url chars>T3BlbkFJ<74 base64url chars>"},
	dAnthropic: {Provider: "anthropic", Type: "anthropic_api_key", Prefixes: []string{"sk-ant-api03-"},
		Description: "Anthropic API key: 93 base64url characters then AA",
		Example:     "sk-ant-api03-<93 base64url chars>AA"},
	dAnthropicAdmin: {Provider: "anthropic", Type: "anthropic_admin_api_key", Prefixes: []string{"sk-ant-admin01-"},
		Description: "Anthropic Admin API key: 93 base64url characters then AA",
		Example:     "sk-ant-admin01-<93 base64url chars>AA"},
	dAWSID: {Provider: "aws", Type: "aws_access_key_id", Prefixes: []string{"AKIA", "ABIA", "ACCA", "A3T"},
		Description: "AWS access key id (long-term); reported with KeyID set to itself",
		Example:     "AKIAIOSFODNN7EXAMPLE"},
	dAWSTempID: {Provider: "aws", Type: "aws_temporary_access_key_id", Prefixes: []string{"ASIA"},
		Description: "AWS temporary (STS) access key id; reported with KeyID set to itself",
		Example:     "ASIAIOSFODNN7EXAMPLE"},
	dAWSSecret: {Provider: "aws", Type: "aws_secret_access_key",
		Description: "AWS secret access key: 40 base64 characters within 4 lines and 1 KiB of an access key id (KeyID is the nearest id), or right after a secret_access_key label",
		Example:     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	dGitHubPAT: {Provider: "github", Type: "github_personal_access_token", Prefixes: []string{"ghp_", "github_pat_"},
		Description: "GitHub personal access token: classic (ghp_, CRC32 checksum validated) or fine-grained (github_pat_)",
		Example:     "ghp_<30 base62 chars><6-char base62 CRC32>"},
	dGitHubOAuth: {Provider: "github", Type: "github_oauth_access_token", Prefixes: []string{"gho_"},
		Description: "GitHub OAuth access token (CRC32 checksum validated)",
		Example:     "gho_<30 base62 chars><6-char base62 CRC32>"},
	dGitHubUser: {Provider: "github", Type: "github_app_user_access_token", Prefixes: []string{"ghu_"},
		Description: "GitHub App user-to-server token (CRC32 checksum validated); GitHub has no separate secret_type slug for it",
		Example:     "ghu_<30 base62 chars><6-char base62 CRC32>"},
	dGitHubApp: {Provider: "github", Type: "github_app_installation_access_token", Prefixes: []string{"ghs_"},
		Description: "GitHub App installation (server-to-server) token (CRC32 checksum validated)",
		Example:     "ghs_<30 base62 chars><6-char base62 CRC32>"},
	dGitHubRefresh: {Provider: "github", Type: "github_refresh_token", Prefixes: []string{"ghr_"},
		Description: "GitHub refresh token (CRC32 checksum validated)",
		Example:     "ghr_<30 base62 chars><6-char base62 CRC32>"},
	dGoogle: {Provider: "google", Type: "google_api_key", Prefixes: []string{"AIza"},
		Description: "Google API key: AIza and 35 base64url characters",
		Example:     "AIza<35 base64url chars>"},
	dSlack: {Provider: "slack", Type: "slack_api_token", Prefixes: []string{"xoxb-", "xoxp-", "xoxe-", "xoxe.xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xapp-"},
		Description: "Slack bot, user, app-level, configuration and refresh tokens, checked segment by segment",
		Example:     "xoxb-<team id>-<bot id>-<24 base62 chars>"},
	dStripe: {Provider: "stripe", Type: "stripe_api_key", Prefixes: []string{"sk_live_"},
		Description: "Stripe live secret key",
		Example:     "sk_live_<24 to 247 base62 chars>"},
	dStripeRestricted: {Provider: "stripe", Type: "stripe_live_restricted_key", Prefixes: []string{"rk_live_"},
		Description: "Stripe live restricted key",
		Example:     "rk_live_<24 to 247 base62 chars>"},
	dStripeTest: {Provider: "stripe", Type: "stripe_test_secret_key", Prefixes: []string{"sk_test_"}, TestKey: true,
		Description: "Stripe test-mode secret key (only with WithTestKeys)",
		Example:     "sk_test_<24 to 247 base62 chars>"},
	dStripeTestRestricted: {Provider: "stripe", Type: "stripe_test_restricted_key", Prefixes: []string{"rk_test_"}, TestKey: true,
		Description: "Stripe test-mode restricted key (only with WithTestKeys)",
		Example:     "rk_test_<24 to 247 base62 chars>"},
	dHFUser: {Provider: "huggingface", Type: "hf_user_access_token", Prefixes: []string{"hf_"},
		Description: "Hugging Face user access token: hf_ and 34 characters",
		Example:     "hf_<34 letters>"},
	dHFOrg: {Provider: "huggingface", Type: "hf_org_api_key", Prefixes: []string{"api_org_"},
		Description: "Hugging Face organization API token: api_org_ and 34 characters",
		Example:     "api_org_<34 letters>"},
	dGroq: {Provider: "groq", Type: "groq_api_key", Prefixes: []string{"gsk_"},
		Description: "Groq API key: gsk_ and 52 base62 characters",
		Example:     "gsk_<52 base62 chars>"},
	dPerplexity: {Provider: "perplexity", Type: "perplexity_api_key", Prefixes: []string{"pplx-"},
		Description: "Perplexity API key: pplx- and 48 base62 characters",
		Example:     "pplx-<48 base62 chars>"},
	dReplicate: {Provider: "replicate", Type: "replicate_api_token", Prefixes: []string{"r8_"},
		Description: "Replicate API token: r8_ and 37 base62 characters",
		Example:     "r8_<37 base62 chars>"},
	dXAI: {Provider: "xai", Type: "xai_api_key", Prefixes: []string{"xai-"},
		Description: "xAI API key: xai- and 80 base62 characters",
		Example:     "xai-<80 base62 chars>"},
}

// Matcher kinds: what a trigger's anchored matcher checks after the prefilter hit.
const (
	kOpenAI uint8 = iota
	kAnthropic
	kAWSID
	kAWSLabel
	kGitHub
	kGitHubFine
	kGoogle
	kSlack
	kSlackApp
	kSimple // prefix + a run of base62 characters of bounded length
)

// trigger is one literal of the prefilter automaton and the matcher it starts.
type trigger struct {
	lit            string
	kind           uint8
	det            uint8
	test           bool // only with WithTestKeys
	minLen, maxLen int  // kSimple: body length bounds
}

// triggerTable lists the prefilter literals. No literal occurs inside another. Literals
// can overlap in text ("A3T3BlbkFJ"), so after a trigger that does not start a key the
// search resumes one byte after its start.
var triggerTable = [...]trigger{
	{lit: "T3BlbkFJ", kind: kOpenAI, det: dOpenAI}, // base64 of "OpenAI": the marker in every OpenAI key
	{lit: "sk-ant-", kind: kAnthropic},
	{lit: "AKIA", kind: kAWSID, det: dAWSID},
	{lit: "ABIA", kind: kAWSID, det: dAWSID},
	{lit: "ACCA", kind: kAWSID, det: dAWSID},
	{lit: "A3T", kind: kAWSID, det: dAWSID},
	{lit: "ASIA", kind: kAWSID, det: dAWSTempID},
	{lit: "secret_access_key", kind: kAWSLabel, det: dAWSSecret},
	{lit: "SECRET_ACCESS_KEY", kind: kAWSLabel, det: dAWSSecret},
	{lit: "SecretAccessKey", kind: kAWSLabel, det: dAWSSecret},
	{lit: "secretAccessKey", kind: kAWSLabel, det: dAWSSecret},
	{lit: "secret-access-key", kind: kAWSLabel, det: dAWSSecret},
	{lit: "ghp_", kind: kGitHub, det: dGitHubPAT},
	{lit: "gho_", kind: kGitHub, det: dGitHubOAuth},
	{lit: "ghu_", kind: kGitHub, det: dGitHubUser},
	{lit: "ghs_", kind: kGitHub, det: dGitHubApp},
	{lit: "ghr_", kind: kGitHub, det: dGitHubRefresh},
	{lit: "github_pat_", kind: kGitHubFine, det: dGitHubPAT},
	{lit: "AIza", kind: kGoogle, det: dGoogle},
	{lit: "xox", kind: kSlack, det: dSlack},
	{lit: "xapp-", kind: kSlackApp, det: dSlack},
	{lit: "sk_live_", kind: kSimple, det: dStripe, minLen: 20, maxLen: 247},
	{lit: "rk_live_", kind: kSimple, det: dStripeRestricted, minLen: 20, maxLen: 247},
	{lit: "sk_test_", kind: kSimple, det: dStripeTest, minLen: 20, maxLen: 247, test: true},
	{lit: "rk_test_", kind: kSimple, det: dStripeTestRestricted, minLen: 20, maxLen: 247, test: true},
	{lit: "hf_", kind: kSimple, det: dHFUser, minLen: 33, maxLen: 40},
	{lit: "api_org_", kind: kSimple, det: dHFOrg, minLen: 33, maxLen: 40},
	{lit: "gsk_", kind: kSimple, det: dGroq, minLen: 48, maxLen: 56},
	{lit: "pplx-", kind: kSimple, det: dPerplexity, minLen: 40, maxLen: 64},
	{lit: "r8_", kind: kSimple, det: dReplicate, minLen: 36, maxLen: 40},
	{lit: "xai-", kind: kSimple, det: dXAI, minLen: 70, maxLen: 100},
}

// maxKeyLen bounds every key this package reports; ScanReader's overlap relies on it.
const maxKeyLen = 512

// awsIDLen is the length of an AWS access key id.
const awsIDLen = 20

// match runs the anchored matcher of t for a prefilter hit at b[ms:me]. It appends what
// it finds to hits and returns where the search should resume.
func (t *trigger) match(b []byte, ms, me int, hits []hit, st *scanState) ([]hit, int) {
	switch t.kind {
	case kOpenAI:
		return matchOpenAI(b, ms, me, hits)
	case kAnthropic:
		return matchAnthropic(b, ms, me, hits)
	case kAWSID:
		return matchAWSID(b, ms, me, t.det, hits, st)
	case kAWSLabel:
		return matchAWSLabel(b, me, hits), me
	case kGitHub:
		if !leftOK(b, ms) {
			return hits, me
		}
		end := runEnd(b, me, clAlnum, 256)
		body := b[me:end]
		if len(body) < 36 || len(body) == 256 || !githubChecksumOK(body) || !looksRandom(body[:len(body)-6], 62) {
			return hits, me
		}
		return append(hits, hit{start: ms, end: end, det: t.det}), end
	case kGitHubFine:
		return matchGitHubFine(b, ms, me, hits)
	case kGoogle:
		if !leftOK(b, ms) {
			return hits, me
		}
		end := runEnd(b, me, clURLTok, 64)
		if end-me != 35 || !looksRandom(b[me:end], 64) {
			return hits, me
		}
		return append(hits, hit{start: ms, end: end, det: dGoogle}), end
	case kSlack:
		return matchSlack(b, ms, me, hits)
	case kSlackApp:
		return matchSlackApp(b, ms, me, hits)
	case kSimple:
		if !leftOK(b, ms) {
			return hits, me
		}
		end := runEnd(b, me, clAlnum, t.maxLen+1)
		n := end - me
		if n < t.minLen || n > t.maxLen || ellipsised(b, end) || !looksRandom(b[me:end], 62) {
			return hits, me
		}
		return append(hits, hit{start: ms, end: end, det: t.det}), end
	}
	return hits, me
}

// matchOpenAI is anchored on the T3BlbkFJ marker at b[ms:me]: it walks back to the
// "sk-" that starts the key, and forward to its end. The random parts on both sides of
// the marker have equal lengths (20 for legacy keys, 58 or 74 for project, service
// account and admin keys).
func matchOpenAI(b []byte, ms, me int, hits []hit) ([]hit, int) {
	lo := ms - 3 - 16 - 2*openAIMaxSide
	if lo < 0 {
		lo = 0
	}
	rs := ms
	for rs > lo && is(b[rs-1], clURLTok) {
		rs--
	}
	p := -1
	for i := rs; i+3 <= ms; i++ {
		if b[i] == 's' && b[i+1] == 'k' && b[i+2] == '-' && leftOK(b, i) {
			p = i
			break
		}
	}
	if p < 0 {
		return hits, me
	}
	end := runEnd(b, me, clURLTok, openAIMaxSide+1)
	q := p + 3
	for _, name := range openAIKinds {
		if bytes.HasPrefix(b[q:ms], []byte(name)) {
			q += len(name)
			break
		}
	}
	left, right := b[q:ms], b[me:end]
	nl, nr := len(left), len(right)
	if nr < 20 || nr > openAIMaxSide {
		return hits, me
	}
	if nl != nr && !((nr == 20 || nr == 58 || nr == 74) && nl > nr && nl <= nr+64) {
		return hits, me
	}
	if ellipsised(b, end) || !looksRandom(left, 64) || !looksRandom(right, 64) {
		return hits, me
	}
	return append(hits, hit{start: p, end: end, det: dOpenAI}), end
}

const openAIMaxSide = 160

// openAIKinds are the known name segments after "sk-".
var openAIKinds = [...]string{"proj-", "svcacct-", "admin-", "None-"}

func matchAnthropic(b []byte, ms, me int, hits []hit) ([]hit, int) {
	if !leftOK(b, ms) {
		return hits, me
	}
	rest := b[me:]
	var det uint8
	var pl int
	switch {
	case len(rest) >= 6 && bytes.HasPrefix(rest, []byte("api")) && is(rest[3], clDigit) && is(rest[4], clDigit) && rest[5] == '-':
		det, pl = dAnthropic, 6
	case len(rest) >= 8 && bytes.HasPrefix(rest, []byte("admin")) && is(rest[5], clDigit) && is(rest[6], clDigit) && rest[7] == '-':
		det, pl = dAnthropicAdmin, 8
	default:
		return hits, me
	}
	bs := me + pl
	end := runEnd(b, bs, clURLTok, 128)
	if end-bs != 95 || b[end-2] != 'A' || b[end-1] != 'A' || !looksRandom(b[bs:end-2], 64) {
		return hits, me
	}
	return append(hits, hit{start: ms, end: end, det: det}), end
}

func matchAWSID(b []byte, ms, me int, det uint8, hits []hit, st *scanState) ([]hit, int) {
	end := ms + awsIDLen
	if end > len(b) || !leftOK(b, ms) || (end < len(b) && is(b[end], clAlnum)) {
		return hits, me
	}
	bs := ms + 4
	if me-ms == 3 { // A3T and one of [A-Z0-9]
		if !is(b[me], clUpper|clDigit) {
			return hits, me
		}
	}
	if !allOf(b[bs:end], clB32) || !looksRandom(b[bs:end], 32) {
		return hits, me
	}
	hits = append(hits, hit{start: ms, end: end, det: det, keyStart: ms, keyEnd: end})
	return awsSecretsNear(b, ms, end, hits, st), end
}

// awsSecretsNear appends the candidate secret access keys in the pairing window of the
// access key id at b[is:ie]. Windows of nearby ids overlap: a candidate the previous id's
// window already considered is looked at again only if it is on this id's line and
// that line is not the previous id's (the one case where the verdict can change), so
// dense ids cost linear time and add each candidate a bounded number of times.
func awsSecretsNear(b []byte, is, ie int, hits []hit, st *scanState) []hit {
	lo := is - awsBytes
	if lo < 0 {
		lo = 0
	}
	if ls := lineStartBack(b, is, awsLines, lo); ls > lo {
		lo = ls
	}
	hi := ie + awsBytes + 1
	if hi > len(b) {
		hi = len(b)
	}
	if le := lineEndFwd(b, ie, awsLines, hi); le < hi {
		hi = le
	}
	i := lo
	if st.awsID >= 0 && st.awsDone > lo {
		if sameLine(b, st.awsID, is) {
			i = st.awsDone
		} else {
			i = max(lo, min(st.awsDone, lineStartBack(b, is, 0, lo)))
		}
	}
	st.awsID, st.awsDone = is, max(hi, st.awsDone)
	if i > 0 && is_(b[i-1]) {
		i = runEnd(b, i, clB64, len(b))
	}
	for i < hi {
		if !is_(b[i]) {
			i++
			continue
		}
		j := runEnd(b, i, clB64, len(b))
		if j-i == 40 && (j <= is || i >= ie) && awsSecretOK(b, i, j) && (sameLine(b, i, is) || saysSecret(b, i)) {
			hits = append(hits, hit{start: i, end: j, det: dAWSSecret})
		}
		i = j
	}
	return hits
}

func is_(c byte) bool { return classTable[c]&clB64 != 0 }

// sameLine reports whether offsets i and j are on the same line.
func sameLine(b []byte, i, j int) bool {
	if i > j {
		i, j = j, i
	}
	return bytes.IndexByte(b[i:j], '\n') < 0
}

// saysSecret reports whether the line holding offset i says "secret" (any case) in the
// 256 bytes before i.
func saysSecret(b []byte, i int) bool {
	lo := max(i-256, 0)
	ls := lo + bytes.LastIndexByte(b[lo:i], '\n') + 1
	return containsFold(b[ls:i], "SECRET")
}

// lineStartBack returns the start of the line k lines before the one holding pos, or
// floor if that is further back.
func lineStartBack(b []byte, pos, k, floor int) int {
	p := pos
	for n := 0; ; n++ {
		j := bytes.LastIndexByte(b[floor:p], '\n')
		if j < 0 {
			return floor
		}
		j += floor
		if n == k {
			return j + 1
		}
		p = j
	}
}

// lineEndFwd returns the end (the newline) of the line k lines after the one holding
// pos, or ceil if that is further.
func lineEndFwd(b []byte, pos, k, ceil int) int {
	p := pos
	for n := 0; ; n++ {
		j := bytes.IndexByte(b[p:ceil], '\n')
		if j < 0 {
			return ceil
		}
		j += p
		if n == k {
			return j
		}
		p = j + 1
	}
}

// matchAWSLabel looks for a secret access key right after a label such as
// "aws_secret_access_key" ending at me: "=…", ": …", "\":\"…", ">…".
func matchAWSLabel(b []byte, me int, hits []hit) []hit {
	i := me
	for i < len(b) && i < me+8 && isLabelSep(b[i]) {
		i++
	}
	if i == me || i >= len(b) || !is_(b[i]) {
		return hits
	}
	j := runEnd(b, i, clB64, 64)
	if j-i == 40 && awsSecretOK(b, i, j) {
		hits = append(hits, hit{start: i, end: j, det: dAWSSecret})
	}
	return hits
}

func isLabelSep(c byte) bool {
	switch c {
	case ' ', '\t', '"', '\'', ':', '=', '\\', '>':
		return true
	}
	return false
}

// awsSecretOK checks a 40-character base64 run as an AWS secret access key: mixed case,
// not hex (a SHA-1), not cut short, random-looking.
func awsSecretOK(b []byte, i, j int) bool {
	s := b[i:j]
	var seen uint8
	for _, c := range s {
		seen |= classTable[c]
	}
	if seen&clUpper == 0 || seen&clLower == 0 || allOf(s, clHex) {
		return false
	}
	return !ellipsised(b, j) && looksRandom(s, 64)
}

// matchGitHubFine: github_pat_ + 22 base62 + "_" + 59 base62.
func matchGitHubFine(b []byte, ms, me int, hits []hit) ([]hit, int) {
	if !leftOK(b, ms) {
		return hits, me
	}
	end := runEnd(b, me, clAlnum|clUnder, 128)
	body := b[me:end]
	u := bytes.IndexByte(body, '_')
	if u < 20 || u > 24 {
		return hits, me
	}
	p1, p2 := body[:u], body[u+1:]
	if len(p2) < 55 || len(p2) > 64 || !allOf(p2, clAlnum) || !looksRandom(p1, 62) || !looksRandom(p2, 62) {
		return hits, me
	}
	return append(hits, hit{start: ms, end: end, det: dGitHubPAT}), end
}

// segments splits tok at '-' into at most len(out) segments; ok is false if there are
// more, or an empty one.
func segments(tok []byte, out *[8][2]int) (n int, ok bool) {
	start := 0
	for i := 0; i <= len(tok); i++ {
		if i == len(tok) || tok[i] == '-' {
			if i == start || n == len(out) {
				return n, false
			}
			out[n] = [2]int{start, i}
			n++
			start = i + 1
		}
	}
	return n, true
}

// matchSlack handles "xox": xoxb-, xoxp-, xoxe-, xoxa-, xoxr-, xoxs-, xoxo- and the
// configuration tokens xoxe.xoxp-1-… / xoxe.xoxb-1-….
func matchSlack(b []byte, ms, me int, hits []hit) ([]hit, int) {
	if !leftOK(b, ms) || me+1 >= len(b) {
		return hits, me
	}
	c := b[me]
	bs := me + 2
	if c == 'e' && b[me+1] == '.' {
		r := b[me+2:]
		if !bytes.HasPrefix(r, []byte("xoxp-")) && !bytes.HasPrefix(r, []byte("xoxb-")) {
			return hits, me
		}
		c, bs = 'E', me+7
	} else if b[me+1] != '-' {
		return hits, me
	}
	end := runEnd(b, bs, clAlnum|clDash, 300)
	tok := b[bs:end]
	var seg [8][2]int
	n, ok := segments(tok, &seg)
	if !ok || n < 2 || len(tok) == 300 || ellipsised(b, end) {
		return hits, me
	}
	last := tok[seg[n-1][0]:seg[n-1][1]]
	// Every segment but the last is numeric (ids, or a version digit).
	for k := 0; k < n-1; k++ {
		s := tok[seg[k][0]:seg[k][1]]
		if len(s) > 16 || !allOf(s, clDigit) {
			return hits, me
		}
	}
	lmin, lmax := 20, 64
	switch c {
	case 'b': // xoxb-<team>-<bot>-<24>, older xoxb-<id>-<24>
		lmin, lmax = 18, 40
		if n > 4 {
			return hits, me
		}
	case 'p': // xoxp-<team>-<user>-<id>-<32 hex>
		lmin, lmax = 28, 40
		if n < 3 {
			return hits, me
		}
	case 'e', 'E': // refresh xoxe-1-<~146>, configuration xoxe.xoxp-1-<~165>
		lmin, lmax = 100, 200
		if n != 2 {
			return hits, me
		}
	case 'a', 'r', 'o', 's':
	default:
		return hits, me
	}
	alphabet := 62
	if allOf(last, clHex) {
		alphabet = 16
	}
	if len(last) < lmin || len(last) > lmax || !looksRandom(last, alphabet) {
		return hits, me
	}
	return append(hits, hit{start: ms, end: end, det: dSlack}), end
}

// matchSlackApp: xapp-<digit>-<app id>-<digits>-<64 hex>.
func matchSlackApp(b []byte, ms, me int, hits []hit) ([]hit, int) {
	if !leftOK(b, ms) {
		return hits, me
	}
	end := runEnd(b, me, clAlnum|clDash, 200)
	tok := b[me:end]
	var seg [8][2]int
	n, ok := segments(tok, &seg)
	if !ok || n != 4 || len(tok) == 200 || ellipsised(b, end) {
		return hits, me
	}
	s0, s1 := tok[seg[0][0]:seg[0][1]], tok[seg[1][0]:seg[1][1]]
	s2, s3 := tok[seg[2][0]:seg[2][1]], tok[seg[3][0]:seg[3][1]]
	if !allOf(s0, clDigit) || len(s1) < 8 || len(s1) > 14 || !allOf(s1, clUpper|clDigit) ||
		len(s2) < 8 || len(s2) > 16 || !allOf(s2, clDigit) || len(s3) < 40 || len(s3) > 80 || !looksRandom(s3, 16) {
		return hits, me
	}
	return append(hits, hit{start: ms, end: end, det: dSlack}), end
}
