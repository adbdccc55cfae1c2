package config

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/tlstest"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "firebreak.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsWithoutFile(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" || c.DataDir != "./firebreak-data" || c.NATS.Embedded.FSync != "always" ||
		c.NATS.URL != "" || !c.BuiltinPlaybooks() || !c.RespondersEnabled() || c.NATS.AckWait.D() != 30*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestExampleLoads(t *testing.T) {
	if _, err := Load(write(t, Example), env(nil)); err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
}

func TestFileAndEnvOverrides(t *testing.T) {
	p := write(t, "http:\n  listen: 0.0.0.0:9000\nnats:\n  ack_wait: 5s\nproviders:\n  openai:\n    admin_key: env:OPENAI_ADMIN_KEY\n")
	c, err := Load(p, env(map[string]string{"FIREBREAK_HTTP_LISTEN": "127.0.0.1:7000", "FIREBREAK_NATS_EMBEDDED_FSYNC": "1s",
		"FIREBREAK_RESPONDERS_ENABLED": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:7000" || c.NATS.AckWait.D() != 5*time.Second || c.NATS.Embedded.FSync != "1s" ||
		c.RespondersEnabled() || c.Providers.OpenAI.AdminKey != "env:OPENAI_ADMIN_KEY" {
		t.Fatalf("overrides: %+v", c)
	}
}

// TestProblemsNameTheField checks that every bad field is reported at once,
// with its position in the file or the variable that set it, and that an
// inline secret is refused without being echoed.
func TestProblemsNameTheField(t *testing.T) {
	const canary = "sk-proj-CANARYinline0000000000T3BlbkFJ"
	p := write(t, `log:
  level: loud
nats:
  embedded:
    fsync: sometimes
  delivery_ttl: 1h
providers:
  openai:
    admin_key: `+canary+`
notifiers:
  webhook:
    ops: {url: "ftp://x"}
`)
	_, err := Load(p, env(map[string]string{"FIREBREAK_RESPONDERS_CONCURRENCY": "0x"}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	msg := err.Error()
	if strings.Contains(msg, canary) {
		t.Fatalf("the inline secret was echoed: %s", msg)
	}
	for _, want := range []string{
		"FIREBREAK_RESPONDERS_CONCURRENCY: responders.concurrency: must be an integer",
		p + `:2:10: log.level: must be one of debug, info, warn, error, got "loud"`,
		p + `:5:12: nats.embedded.fsync: fsync must be "always" or a positive duration`,
		p + `:6:17: nats.delivery_ttl: must be at least 72h`,
		p + `:9:16: providers.openai.admin_key: secrets must be references (env:NAME or file:PATH), not inline values`,
		p + `:12:16: notifiers.webhook.ops.url: must be an http(s) URL; its scheme is ftp:`,
		`notifiers.webhook.ops.secret: is required`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestUnknownFieldsArePositioned(t *testing.T) {
	p := write(t, "http:\n  lisen: :80\nnatz: {}\n")
	_, err := Load(p, env(nil))
	if err == nil {
		t.Fatal("unknown fields accepted")
	}
	for _, want := range []string{p + ":2:3: http.lisen: unknown field (known: listen, max_body, admin_token, public_url, ingest_timeout, shutdown_delay)",
		p + ":3:1: natz: unknown field"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// problems returns Load's problems as the lines a user reads, with the
// temporary file's path replaced by "F".
func problems(t *testing.T, path string, getenv func(string) string) []string {
	t.Helper()
	_, err := Load(path, getenv)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.Replace(p.String(), path, "F", 1)
	}
	return out
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestTypeErrorsNameFieldPositionAndType(t *testing.T) {
	p := write(t, "http:\n  max_body: sk-live-secretish\nresponders: {concurrency: lots, grace: 10}\nnats:\n  replicas: 99999999999999999999\n  embedded: [a]\n  max_deliver: 2.5\ngithub:\n  poll: {repos: acme/x}\nplaybooks: {builtin: maybe}\n")
	got := problems(t, p, env(nil))
	sameLines(t, got, []string{
		"F:2:13: http.max_body: must be an integer, got a string",
		"F:3:27: responders.concurrency: must be an integer, got a string",
		"F:3:40: responders.grace: must be a duration such as \"30s\" or \"1h30m\"",
		"F:5:13: nats.replicas: is out of range for int",
		"F:6:13: nats.embedded: must be a mapping, got a list",
		"F:7:16: nats.max_deliver: must be an integer, got a number",
		"F:9:17: github.poll.repos: must be a list, got a string",
		"F:10:22: playbooks.builtin: must be true or false, got a string",
	})
	if strings.Contains(strings.Join(got, ""), "secretish") {
		t.Fatal("a value was echoed")
	}
}

// TestEveryProblemAtOnce: unknown keys do not hide the other problems of the
// file, and problems are listed by line then column (not as text, where
// ":12:" sorts before ":5:"), then those of the environment, then defaults.
func TestEveryProblemAtOnce(t *testing.T) {
	p := write(t, `log:
  level: loud
nats:
  embedded:
    fsync: sometimes
  delivery_ttl: 1h
responders:
  concurrency: lots
notifiers:
  webhook:
    ops: {url: "ftp://x"}
github:
  tokn: env:GITHUB_TOKEN
  webhook_secret: env:A
  webhook_secret: env:B
vault:
  rotation:
    targets: [{mount: secret, prefx: apps}]
`)
	sameLines(t, problems(t, p, env(map[string]string{"FIREBREAK_NATS_MAX_DELIVER": "x", "FIREBREAK_HTTP_LISTEN": "nohost"})), []string{
		`F:2:10: log.level: must be one of debug, info, warn, error, got "loud"`,
		`F:5:12: nats.embedded.fsync: fsync must be "always" or a positive duration such as "1s", got "sometimes"`,
		`F:6:17: nats.delivery_ttl: must be at least 72h (GitHub redelivers webhooks up to 3 days later), got 1h0m0s`,
		`F:8:16: responders.concurrency: must be an integer, got a string`,
		`F:11:10: notifiers.webhook.ops.secret: is required (a secret reference: env:NAME or file:PATH)`,
		`F:11:16: notifiers.webhook.ops.url: must be an http(s) URL; its scheme is ftp:`,
		`F:13:3: github.tokn: unknown field (known: webhook_secret, token, api_url, app, poll, partner, scan_issues)`,
		`F:15:3: github.webhook_secret: is set twice (first on line 14)`,
		`F:18:31: vault.rotation.targets[0].prefx: unknown field (known: mount, prefix)`,
		`FIREBREAK_HTTP_LISTEN: http.listen: must be host:port, got "nohost"`,
		`FIREBREAK_NATS_MAX_DELIVER: nats.max_deliver: must be an integer`,
	})
}

// filePosition is what follows the file name at the start of each problem.
var filePosition = regexp.MustCompile(`^:[0-9]+:[0-9]+$`)

func FuzzLoad(f *testing.F) {
	f.Add([]byte(Example))
	f.Add([]byte("nats: [1, 2]\nhttp: {listen: 3}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, env(nil))
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		var probs Problems
		if err != nil && !errors.As(err, &probs) {
			t.Fatalf("not a list of problems: %T", err)
		}
		// A problem is placed in the file ("<file>:<line>:<col>"), or is a
		// field the file lacks (no place), and names its field.
		for _, pr := range probs {
			if pr.Where != "" && !filePosition.MatchString(strings.TrimPrefix(pr.Where, p)) || pr.Path == "" {
				t.Fatalf("problem without a file:line:col or a field: %.120q", pr.String())
			}
		}
	})
}

func TestBreadthProvidersAndNotifiers(t *testing.T) {
	ok := write(t, `providers:
  anthropic: {admin_key: env:ANTHROPIC_ADMIN_KEY}
  aws: {access_key_id: env:AWS_ID, secret_access_key: env:AWS_SK, endpoint: http://127.0.0.1:9999}
  google: {access_token: file:/run/secrets/gcp}
  groq: {dry_run: true}
notifiers:
  email: {default: {host: smtp.example.com, password: env:SMTP_PW, from: "Firebreak <fb@example.com>", to: [sec@example.com]}}
  pagerduty: {payments: {routing_key: env:PD_KEY}}
  teams: {default: {webhook_url: env:TEAMS}}
  github_issue: {default: {token: env:GH, repo: acme/security}}
  jira: {default: {base_url: https://acme.atlassian.net, email: fb@example.com, api_token: env:JIRA, project: SEC}}
  slackbot: {default: {token: env:SLACK_BOT, default_channel: "#sec"}}
`)
	c, err := Load(ok, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers.Groq.BaseURL != "https://api.groq.com" || !c.Providers.Groq.DryRun || c.Providers.AWS.Region != "us-east-1" ||
		c.Notifiers.Email["default"].Password != "env:SMTP_PW" {
		t.Fatalf("loaded %+v", c.Providers)
	}
	const canary = "xoxb-CANARY-inline-token-0000000000"
	bad := write(t, `providers:
  aws: {access_key_id: env:AWS_ID}
notifiers:
  email: {default: {tls: none, password: env:PW, from: nope}}
  jira: {default: {base_url: https://acme.atlassian.net, email: fb@example.com, api_token: env:J, project: sec}}
  github_issue: {default: {token: env:GH, repo: acme}}
  slackbot: {default: {token: `+canary+`}}
`)
	_, err = Load(bad, env(nil))
	if err == nil {
		t.Fatal("bad breadth configuration accepted")
	}
	msg := err.Error()
	for _, want := range []string{"providers.aws.access_key_id: access_key_id and secret_access_key go together",
		"notifiers.email.default.host: is required", "notifiers.email.default.tls: none cannot be used with a password",
		"notifiers.email.default.from", "notifiers.jira.default.project", "notifiers.github_issue.default.repo", "notifiers.slackbot.default.token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems do not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, canary) {
		t.Fatal("an inline secret was echoed")
	}
}

func TestIngestConfig(t *testing.T) {
	c, err := Load(write(t, "ingest:\n  hec:\n    tokens: [env:HEC_A, file:/run/hec-b]\n  syslog:\n    listen: 127.0.0.1:6514\n    labels: {env: prod}\n"),
		env(map[string]string{"FIREBREAK_INGEST_TOKENS": "env:INGEST_A, file:/run/ingest-b", "FIREBREAK_INGEST_DEDUP_WINDOW": "30s"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ingest.Tokens) != 2 || c.Ingest.Tokens[1] != "file:/run/ingest-b" || len(c.Ingest.HEC.Tokens) != 2 ||
		c.Ingest.DedupWindow.D() != 30*time.Second || c.Ingest.Syslog.Listen != "127.0.0.1:6514" || c.Ingest.Syslog.Labels["env"] != "prod" ||
		c.Ingest.Syslog.MaxMessage != 64<<10 || c.Ingest.DedupMax != 65536 {
		t.Fatalf("ingest: %+v", c.Ingest)
	}
	const canary = "6d2c1b8e-CANARY-4d6e-9a51-2f3c4b5a6d7e"
	p := write(t, "ingest:\n  loki:\n    tokens: ["+canary+"]\n  dedup_window: 5m\n  syslog: {listen: nowhere}\n")
	_, err = Load(p, env(nil))
	if err == nil {
		t.Fatal("bad ingest config accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		p + ":3:13: ingest.loki.tokens: secrets must be references",
		p + ":4:17: ingest.dedup_window: must be between 1s and nats.duplicate_window (2m0s), got 5m0s",
		p + `:5:20: ingest.syslog.listen: must be host:port, got "nowhere"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, canary) {
		t.Fatal("an inline token was echoed")
	}
}

func TestSyslogTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "senders")
	certFile, keyFile := tlstest.WriteFiles(t, dir, "syslog", ca.Server(t, "syslog"))
	caFile := ca.WriteFile(t, dir)
	c, err := Load(write(t, "ingest:\n  syslog:\n    listen: 127.0.0.1:6514\n    tls: {cert_file: "+certFile+", key_file: "+keyFile+", client_ca_file: "+caFile+"}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.Ingest.Syslog.TLS.Config()
	if err != nil || tc.GetConfigForClient == nil {
		t.Fatalf("tls config %v", err)
	}
	if tc, _ = tc.GetConfigForClient(&tls.ClientHelloInfo{}); len(tc.Certificates) != 1 || tc.ClientAuth != tls.RequireAndVerifyClientCert ||
		tc.ClientCAs == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("tls config for a client: certificates %d, client auth %v, min version %x", len(tc.Certificates), tc.ClientAuth, tc.MinVersion)
	}

	p := write(t, "ingest:\n  syslog:\n    listen: 127.0.0.1:6514\n    tls:\n      cert_file: "+certFile+"\n      client_ca_file: "+keyFile+"\n")
	_, err = Load(p, env(nil))
	if err == nil || !strings.Contains(err.Error(), p+":5:7: ingest.syslog.tls.key_file: is required with cert_file") {
		t.Errorf("cert without key: %v", err)
	}
	p = write(t, "ingest:\n  syslog:\n    listen: 127.0.0.1:6514\n    tls:\n      cert_file: "+certFile+"\n      key_file: "+keyFile+"\n      client_ca_file: "+keyFile+"\n")
	_, err = Load(p, env(nil))
	if err == nil || !strings.Contains(err.Error(), p+":7:23: ingest.syslog.tls.client_ca_file: "+keyFile+" holds no PEM certificate") {
		t.Errorf("a key as the CA bundle: %v", err)
	}
	p = write(t, "ingest:\n  syslog:\n    tls: {cert_file: "+certFile+", key_file: "+keyFile+"}\n")
	_, err = Load(p, env(nil))
	if err == nil || !strings.Contains(err.Error(), p+":3:10: ingest.syslog.tls: needs ingest.syslog.listen") {
		t.Errorf("tls without a listener: %v", err)
	}
}

// TestYAMLSyntaxErrorsArePositioned: a file that is not valid YAML gets one
// problem at the offending token (yamlsyntax.Locate), not at the line where
// yaml.v3's enclosing block starts, and never without a position.
func TestYAMLSyntaxErrorsArePositioned(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"over-indented key", "http:\n  listen: 127.0.0.1:8080\n   data_dir: x\n",
			"F:3:12: (file): invalid YAML: mapping values are not allowed in this context"},
		{"unknown anchor", "nats:\n  url: nats://127.0.0.1:4222\nhttp: *b\n",
			"F:3:7: (file): invalid YAML: unknown anchor 'b' referenced"},
		{"unclosed flow sequence", "github:\n  poll: {repos: [acme/x, acme/y}\n",
			"F:2:32: (file): invalid YAML: ',' or ']' must be specified"},
		{"tab indentation", "http:\n\tlisten: 127.0.0.1:8080\n",
			`F:2:1: (file): invalid YAML: found character '\t' that cannot start any token`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameLines(t, problems(t, write(t, tc.body), env(nil)), []string{tc.want})
		})
	}
}

// TestBooleansAreTrueOrFalse: a boolean field takes true or false only, not
// the YAML 1.1 spellings yaml.v3 would accept (yes, on, off), quoted or not.
func TestBooleansAreTrueOrFalse(t *testing.T) {
	p := write(t, "playbooks: {builtin: yes}\nnats:\n  sync_state: \"on\"\n")
	sameLines(t, problems(t, p, env(nil)), []string{
		"F:1:22: playbooks.builtin: must be true or false, got a string",
		"F:3:15: nats.sync_state: must be true or false, got a string",
	})
	if _, err := Load(write(t, "playbooks: {builtin: false}\nnats: {sync_state: true}\n"), env(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestURLProblemsDoNotEchoTheURL: a notifier's URL may carry a credential
// (a token in its query), so a problem with it names the field and says what
// is wrong — no scheme, a scheme other than http(s), no host, not a URL —
// without quoting the URL or any part of its token.
func TestURLProblemsDoNotEchoTheURL(t *testing.T) {
	const canary = "tokCANARYq7Zr2VwX9pLm4Tn8Ys3"
	for _, tc := range []struct{ url, want string }{
		{"ftp://hooks.example.com/in?token=" + canary, "must be an http(s) URL; its scheme is ftp:"},
		{"hooks.example.com/in?token=" + canary, "must be an http(s) URL; it has no scheme (http:// or https://)"},
		{"https:///in?token=" + canary, "must be an http(s) URL; it has no host"},
		{"http://[::1/in?token=" + canary, "must be an http(s) URL; it does not parse as a URL"},
		{canary + "://hooks.example.com/in", "must be an http(s) URL; its scheme is not http or https"},
	} {
		p := write(t, "notifiers:\n  webhook:\n    ops: {url: \""+tc.url+"\", secret: env:HOOK_SECRET}\n  pagerduty:\n    pd: {routing_key: env:PD_KEY, url: \""+tc.url+"\"}\n")
		got := problems(t, p, env(nil))
		for _, field := range []string{"notifiers.webhook.ops.url: ", "notifiers.pagerduty.pd.url: "} {
			if !strings.Contains(strings.Join(got, "\n"), field+tc.want) {
				t.Errorf("url %q: no %q in:\n  %s", strings.ReplaceAll(tc.url, canary, "[CANARY]"), field+tc.want,
					strings.ReplaceAll(strings.Join(got, "\n  "), canary, "[CANARY]"))
			}
		}
		for _, line := range got {
			for i := 0; i+6 <= len(canary); i++ {
				if strings.Contains(line, canary[i:i+6]) {
					t.Errorf("a problem quotes the URL's token: %s", strings.ReplaceAll(line, canary, "[CANARY]"))
					break
				}
			}
			if strings.Contains(line, "hooks.example.com") {
				t.Errorf("a problem quotes the URL: %s", strings.ReplaceAll(line, canary, "[CANARY]"))
			}
		}
	}
}
