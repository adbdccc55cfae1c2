package corpus

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Context is a log-shaped context for one value (a key or a decoy): it returns the
// lines, one of which contains v exactly once.
type Context struct {
	Name string
	Make func(r *Rand, v string) []string
}

func ts(r *Rand) string {
	return fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
}

func clf(r *Rand) string {
	return fmt.Sprintf("%02d/May/2024:%02d:%02d:%02d +0000", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
}

func ip(r *Rand) string { return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)) }

func uuid(r *Rand) string {
	h := r.Str(HexLow, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

func host(r *Rand) string {
	return Pick(r, "api.openai.com", "api.anthropic.com", "api.github.com", "api.stripe.com", "slack.com",
		"generativelanguage.googleapis.com", "huggingface.co", "api.groq.com", "api.perplexity.ai", "api.replicate.com", "api.x.ai")
}

func envVar(r *Rand) string {
	return Pick(r, "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "GOOGLE_API_KEY", "SLACK_BOT_TOKEN",
		"STRIPE_SECRET_KEY", "HF_TOKEN", "GROQ_API_KEY", "PPLX_API_KEY", "REPLICATE_API_TOKEN", "XAI_API_KEY", "API_KEY", "TOKEN")
}

// KeyContexts are the contexts a single key or decoy value is planted in.
var KeyContexts = []Context{
	{"json-bearer", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"ts":"%s","level":"error","logger":"http.client","msg":"upstream returned 401","request":{"method":"POST","url":"https://%s/v1/chat","headers":{"Authorization":"Bearer %s","Content-Type":"application/json"}},"trace_id":"%s"}`, ts(r), host(r), v, r.Str(HexLow, 32))}
	}},
	{"json-escaped-env", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"ts":"%s","level":"debug","msg":"loaded environment:\nHOME=/app\n%s=%s\nPORT=8080","pid":%d}`, ts(r), envVar(r), v, r.IntN(65536))}
	}},
	{"json-newline-value", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"ts":"%s","level":"warn","msg":"token rotated, old value:\n%s\nnew value pending"}`, ts(r), v)}
	}},
	{"json-field", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"time":"%s","event":"config.loaded","api_key":"%s","service":"%s","span_id":"%s"}`, ts(r), v, Pick(r, "billing", "search", "chat", "ingest"), r.Str(HexLow, 16))}
	}},
	{"json-unicode-escape", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"ts":"%s","msg":"outbound request","query":"page=2\u0026token=%s\u0026sort=asc","note":"\u003c%s\u003e"}`, ts(r), v, r.Str(HexLow, 8))}
	}},
	{"json-unicode-angle", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`{"ts":"%s","level":"info","msg":"key \u003c%s\u003e accepted"}`, ts(r), v)}
	}},
	{"nginx-query", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`%s - - [%s] "GET /v1/search?q=%s&api_key=%s&page=2 HTTP/1.1" 200 %d "-" "python-requests/2.31.0"`, ip(r), clf(r), Pick(r, "shoes", "red+dress", "laptop"), v, r.IntN(90000))}
	}},
	{"nginx-url-encoded", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`%s - - [%s] "GET /oauth/callback?redirect_uri=https%%3A%%2F%%2Fapp.example.com%%2Fhook%%3Ftoken%%3D%s%%26v%%3D2 HTTP/1.1" 302 0 "-" "curl/8.5.0"`, ip(r), clf(r), v)}
	}},
	{"java-trace", func(r *Rand, v string) []string {
		return []string{
			fmt.Sprintf("2024-05-01 12:%02d:%02d.%03d ERROR 1 --- [nio-8080-exec-%d] c.e.payments.ApiClient : call failed", r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(10)),
			fmt.Sprintf("com.example.payments.ApiException: 401 Unauthorized: invalid key %s", v),
			fmt.Sprintf("\tat com.example.payments.ApiClient.call(ApiClient.java:%d)", r.IntN(400)),
			fmt.Sprintf("\tat com.example.orders.OrderService.checkout(OrderService.java:%d)", r.IntN(400)),
		}
	}},
	{"python-trace", func(r *Rand, v string) []string {
		return []string{
			"Traceback (most recent call last):",
			fmt.Sprintf(`  File "/app/worker.py", line %d, in <module>`, r.IntN(200)),
			fmt.Sprintf(`    client = Client(api_key="%s")`, v),
			"ValueError: invalid credentials",
		}
	}},
	{"go-panic", func(r *Rand, v string) []string {
		return []string{
			fmt.Sprintf("panic: auth: token %s rejected: 403 Forbidden", v),
			"",
			"goroutine 1 [running]:",
			"main.main()",
			fmt.Sprintf("\t/src/cmd/sync/main.go:%d +0x1d", r.IntN(300)),
		}
	}},
	{"curl-bearer", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`curl -sS -X POST https://%s/v1/messages -H "Authorization: Bearer %s" -H 'content-type: application/json' -d '{"model":"m"}'`, host(r), v)}
	}},
	{"curl-header", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`+ curl -H 'x-api-key: %s' https://%s/v1/models`, v, host(r))}
	}},
	{"env-dump", func(r *Rand, v string) []string {
		return []string{"PATH=/usr/local/bin:/usr/bin:/bin", fmt.Sprintf("%s=%s", envVar(r), v), "LANG=C.UTF-8"}
	}},
	{"env-export-quoted", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`export %s="%s"`, envVar(r), v)}
	}},
	{"yaml", func(r *Rand, v string) []string {
		return []string{"provider:", fmt.Sprintf("  name: %s", Pick(r, "openai", "github", "slack")), fmt.Sprintf(`  api_key: "%s"`, v), "  timeout: 30s"}
	}},
	{"yaml-bare", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("token: %s", v)}
	}},
	{"header-dump", func(r *Rand, v string) []string {
		return []string{"> GET /user HTTP/2", "> Host: " + host(r), fmt.Sprintf("> Authorization: %s %s", Pick(r, "token", "Bearer"), v), "> User-Agent: curl/8.5.0", "> Accept: */*"}
	}},
	{"syslog", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("May %2d %02d:%02d:%02d web-%d app[%d]: connecting with key=%s retries=3", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(9), r.IntN(30000), v)}
	}},
	{"k8s", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf(`%s stderr F level=warn msg="using fallback credential" credential=%s pod=api-%s-%s`, ts(r), v, r.Str(HexLow, 9), r.Str("bcdfghjklmnpqrstvwxz2456789", 5))}
	}},
	{"git-url", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("fatal: unable to access 'https://x-access-token:%s@github.com/acme/infra.git/': The requested URL returned error: 403", v)}
	}},
	{"python-dict", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("DEBUG:root:config = {'token': '%s', 'timeout': 30}", v)}
	}},
	{"parenthesized", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("warn: key (%s) expires in %d days;", v, r.IntN(30))}
	}},
	{"url-query", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("%s INFO fetching https://%s/v1/data?key=%s&format=json", ts(r), host(r), v)}
	}},
	{"line-start", func(r *Rand, v string) []string { return []string{v} }},
	{"tsv", func(r *Rand, v string) []string {
		return []string{fmt.Sprintf("%s\t%s\tuser%d\t%s", ts(r), v, r.IntN(999), uuid(r))}
	}},
}

// AWSContexts hold an access key id and a secret access key (returns lines; both values
// occur exactly once).
var AWSContexts = []struct {
	Name string
	Make func(r *Rand, id, secret string) []string
}{
	{"env", func(r *Rand, id, secret string) []string {
		return []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_DEFAULT_REGION=us-east-1"}
	}},
	{"credentials-file", func(r *Rand, id, secret string) []string {
		return []string{"[default]", "aws_access_key_id = " + id, "aws_secret_access_key = " + secret, "region = eu-west-1"}
	}},
	{"json", func(r *Rand, id, secret string) []string {
		return []string{fmt.Sprintf(`{"Credentials":{"AccessKeyId":"%s","SecretAccessKey":"%s","Expiration":"%s"}}`, id, secret, ts(r))}
	}},
	{"logfmt-same-line", func(r *Rand, id, secret string) []string {
		return []string{fmt.Sprintf(`%s level=info msg="assumed role" key=%s secret=%s`, ts(r), id, secret)}
	}},
	{"reversed-export", func(r *Rand, id, secret string) []string {
		return []string{fmt.Sprintf(`export AWS_SECRET_ACCESS_KEY="%s"`, secret), fmt.Sprintf(`export AWS_ACCESS_KEY_ID="%s"`, id)}
	}},
	{"cli", func(r *Rand, id, secret string) []string {
		return []string{fmt.Sprintf("+ aws configure set aws_access_key_id %s && aws configure set aws_secret_access_key %s", id, secret)}
	}},
	{"lines-apart", func(r *Rand, id, secret string) []string {
		return []string{"id: " + id, "region: us-west-2", fmt.Sprintf("bucket: logs-%d", r.IntN(999)), "secret: " + secret}
	}},
	{"xml", func(r *Rand, id, secret string) []string {
		return []string{fmt.Sprintf("<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>", id, secret)}
	}},
}

// CleanLine returns one line of ordinary log text: no key, no decoy, but full of hashes,
// UUIDs, trace ids, base64 payloads and near-miss words.
func CleanLine(r *Rand) string {
	switch r.IntN(16) {
	case 0:
		return fmt.Sprintf(`{"ts":"%s","level":"info","msg":"request completed","trace_id":"%s","span_id":"%s","request_id":"%s","user_id":%d,"path":"/api/v1/orders/%d","status":200,"duration_ms":%d}`, ts(r), r.Str(HexLow, 32), r.Str(HexLow, 16), uuid(r), r.IntN(99999), r.IntN(1e6), r.IntN(900))
	case 1:
		return fmt.Sprintf(`%s - - [%s] "GET /static/app.%s.js?v=%s HTTP/1.1" 200 %d "https://example.com/dashboard?utm_source=mail&utm_campaign=%s" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"`, ip(r), clf(r), r.Str(HexLow, 8), r.Str(Base62, 10), r.IntN(100000), r.Str(Letters, 6))
	case 2:
		return fmt.Sprintf("\tat com.example.orders.OrderService.process(OrderService.java:%d)", r.IntN(500))
	case 3:
		return fmt.Sprintf("%s WARNING [worker-%d] cache miss for key=session:%s (sha256=%s)", ts(r), r.IntN(16), r.Str(HexLow, 12), r.Str(HexLow, 64))
	case 4:
		return fmt.Sprintf("commit %s (HEAD -> main, origin/main) Merge: %s %s", r.Str(HexLow, 40), r.Str(HexLow, 7), r.Str(HexLow, 7))
	case 5:
		n := Pick(r, 24, 30, 33, 48, 96, 180)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return fmt.Sprintf(`{"ts":"%s","event":"webhook.received","payload":"%s","sig":"%s"}`, ts(r), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b[:min(n, 32)]))
	case 6:
		return fmt.Sprintf("%s Pulling image registry.example.com/api@sha256:%s", ts(r), r.Str(HexLow, 64))
	case 7:
		return fmt.Sprintf(`{"ts":"%s","level":"debug","msg":"auth header present","authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.%s.%s"}`, ts(r), r.Str(URLTok, 120), r.Str(URLTok, 86))
	case 8:
		return Pick(r,
			"task-proj-update finished in 3.2s (disk_usage=71%, hf_hub_download cache hit)",
			`model=pplx-70b-online provider=xai-org/grok-1 tz=Asia/Tokyo region=ASIA_PACIFIC`,
			"INFO: xoxo from the team! see AIza docs at https://developers.google.com/maps",
			"job github_pat_rotation_job ran; gsk_dev disabled; r8_scale=2 sk_live_mode=false",
			"export OPENAI_API_KEY=$(vault kv get -field=key secret/openai)",
			"ghp_ tokens must be rotated every 90 days (policy SEC-12)",
			"Using AKIA-prefixed credentials is deprecated; use roles",
			"the rk_live_ keys are restricted; see https://stripe.com/docs/keys")
	case 9:
		return fmt.Sprintf("%s kubelet[%d]: I0501 pod default/api-%s-%s container started, image id sha256:%s", ts(r), r.IntN(9999), r.Str(HexLow, 10), r.Str("bcdfghjklmnpqrstvwxz2456789", 5), r.Str(HexLow, 64))
	case 10:
		return fmt.Sprintf(`http_requests_total{method="GET",code="200",handler="/api/v1/items/%s"} %d`, uuid(r), r.IntN(1e6))
	case 11:
		return fmt.Sprintf("< x-amz-id-2: %s", r.Str(Base64, 76)) + "\n" + fmt.Sprintf("< x-amz-request-id: %s", r.Str("0123456789ABCDEF", 16))
	case 12:
		return fmt.Sprintf(`%s ERROR Traceback: KeyError: '%s' in /app/handlers/%s.py line %d`, ts(r), r.Str(Letters, 8), r.Str("abcdefghijklmnopqrstuvwxyz", 6), r.IntN(300))
	case 13:
		return fmt.Sprintf("%s otel trace_id=%s parent_id=%s sampled=1 x-amzn-trace-id=Root=1-%s-%s", ts(r), r.Str(HexLow, 32), r.Str(HexLow, 16), r.Str(HexLow, 8), r.Str(HexLow, 24))
	case 14:
		return fmt.Sprintf(`< HTTP/2 200`+"\n"+`< etag: W/"%s"`+"\n"+`< x-request-id: %s`, r.Str(HexLow, 32), uuid(r))
	}
	return fmt.Sprintf("%s INFO checksum ok md5=%s sha1=%s nonce=%s", ts(r), r.Str(HexLow, 32), r.Str(HexLow, 40), r.Str(Base64, 40))
}

// expandLines splits entries that contain newlines.
func expandLines(ls []string) []string {
	var out []string
	for _, l := range ls {
		out = append(out, strings.Split(l, "\n")...)
	}
	return out
}
