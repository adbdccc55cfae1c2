package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// CanaryConfig configures a canary run.
type CanaryConfig struct {
	Bin, NATSBin, Dir string
	Logf              func(format string, args ...any)
}

// Canary is the outcome of a canary run: the planted secrets by ingest
// path, and every text Firebreak produced or answered, labelled by where it
// was found. The caller greps the texts for the canaries
// (providertest.AssertNoSecret).
type Canary struct {
	Secrets   map[string]string // ingest path → raw secret planted through it
	Incidents map[string]*incident.Incident
	Texts     []Text
}

// Text is one thing Firebreak wrote or said.
type Text struct {
	Where string // "log firebreak-0.log", "stream FIREBREAK_AUDIT #12", "response POST /v1/ingest/logs", …
	Body  string
}

// The ingest paths a canary goes through.
const (
	PathGitHubAlert   = "github alert webhook"
	PathPartner       = "github partner program"
	PathLogs          = "logs NDJSON"
	PathHEC           = "splunk HEC"
	PathLoki          = "loki push"
	PathSyslog        = "syslog"
	PathJira          = "jira webhook"
	PathIssueComment  = "github issue comment"
	PathTickets       = "generic ticket"
	PathScanPublish   = "scan --publish"
	PathEchoedInError = "logs, revocation refused with the key echoed"
)

// RunCanary plants one canary secret through every ingest path of two
// `firebreak serve` processes (debug logs, built-in playbooks) while one of
// them is killed and the bus restarted, with a provider that fails
// transiently and one whose refusal echoes the key; then it collects every
// log line, every message of every stream (incidents, deliveries, audit,
// dead letters: all of JetStream), every file at rest, every HTTP answer
// (ingest, control API, /metrics) and every notification sent out.
func RunCanary(ctx context.Context, cfg CanaryConfig) (*Canary, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	w := newWorld()
	defer w.close()
	client := &http.Client{Timeout: 20 * time.Second}
	bus, err := newNATSServer(cfg.NATSBin, cfg.Dir, client)
	if err != nil {
		return nil, err
	}
	if err := bus.start(ctx); err != nil {
		return nil, err
	}
	defer bus.signal(syscall.SIGTERM)
	syslogAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var procs []*firebreak
	defer func() {
		for _, p := range procs {
			p.signal(syscall.SIGKILL)
		}
	}()
	for i := 0; i < 2; i++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s := settings{DataDir: filepath.Join(cfg.Dir, fmt.Sprintf("data-%d", i)), Keyring: filepath.Join(cfg.Dir, "keyring.json"),
			Listen: addr, NATS: bus.URL, Builtin: true, LogLevel: "debug", AckWait: 3 * time.Second, IngestTimeout: 2 * time.Second,
			Grace: time.Second, MaxDeliver: 10, Concurrency: 8, MaxConcurrency: 4, W: w}
		if i == 0 {
			s.SyslogListen = syslogAddr
		}
		path := filepath.Join(cfg.Dir, fmt.Sprintf("firebreak-%d.yaml", i))
		if err := writeConfig(path, s); err != nil {
			return nil, err
		}
		p := newFirebreak(i, cfg.Bin, path, filepath.Join(cfg.Dir, fmt.Sprintf("firebreak-%d.log", i)), addr, w.environ(), client)
		if err := p.start(ctx); err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	kr, _, err := secret.LoadOrCreateKeyring(filepath.Join(cfg.Dir, "keyring.json"))
	if err != nil {
		return nil, err
	}

	c := &Canary{Secrets: map[string]string{}, Incidents: map[string]*incident.Incident{}}
	answer := func(where string, status int, body []byte) {
		c.Texts = append(c.Texts, Text{Where: "response " + where, Body: fmt.Sprintf("%d %s", status, body)})
	}
	send := func(p *firebreak, path string, d delivery) error {
		for try := 0; ; try++ {
			status, body := post(ctx, client, p.URL, d)
			answer(path+" "+d.Path, status, body)
			if accepted2xx(status) {
				return nil
			}
			if try == 20 || ctx.Err() != nil {
				return fmt.Errorf("%s: %d %s", path, status, oneLine(body))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	oai := func(path string) string {
		raw, _ := w.openAIKey(len(c.Secrets))
		c.Secrets[path] = raw
		return raw
	}
	env := w.env
	// Transient faults on the way: the first verify answers 503, the first
	// deletion's answer is lost after the key was deleted.
	w.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/me", Count: 1, Status: http.StatusServiceUnavailable})
	w.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE /v1/organization/projects/", Count: 1, Drop: true, AfterHandler: true})

	// 1. GitHub secret-scanning alert (the responder fetches the key from GitHub).
	raw := oai(PathGitHubAlert)
	w.GitHub.AddAlertNumber("acme", "payments-api", 7001, "openai_api_key", raw)
	it := &item{N: 7000, Sink: SinkGitHub}
	if err := send(procs[0], PathGitHubAlert, w.render(it, "acme/payments-api")); err != nil {
		return nil, err
	}
	// 2. Partner program.
	raw = oai(PathPartner)
	pb, _ := json.Marshal([]ghingest.PartnerMatch{{Token: raw, Type: "acme_api_token",
		URL: "https://github.com/octo/app/blob/0123456789abcdef0123456789abcdef01234567/config/app.env", Source: "content"}})
	kid, sig := w.GitHub.SignPartner(pb)
	if err := send(procs[1], PathPartner, delivery{Path: "/v1/ingest/github/partner", Body: pb, Headers: map[string]string{
		"Content-Type": "application/json", "Github-Public-Key-Identifier": kid, "Github-Public-Key-Signature": sig}}); err != nil {
		return nil, err
	}
	// 3–5. Log sinks.
	for _, s := range []struct{ path, sink string }{{PathLogs, SinkLogs}, {PathHEC, SinkHEC}, {PathLoki, SinkLoki}} {
		raw = oai(s.path)
		it := &item{N: len(c.Secrets), Sink: s.sink, Raw: raw}
		if err := send(procs[len(c.Secrets)%2], s.path, w.render(it, "")); err != nil {
			return nil, err
		}
	}
	// A kill -9 in the middle of it all.
	procs[1].signal(syscall.SIGKILL)
	cfg.Logf("canary: kill -9 firebreak-1")
	// 6. Syslog (no answer: the message is durable once read and published).
	raw = oai(PathSyslog)
	msg := fmt.Sprintf("<134>1 %s billing-7 worker 4242 - - upstream refused key %s", time.Now().UTC().Format(time.RFC3339), raw)
	conn, err := net.Dial("tcp", syslogAddr)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(conn, "%d %s", len(msg), msg)
	conn.Close()
	if err != nil {
		return nil, err
	}
	if err := procs[1].start(ctx); err != nil {
		return nil, err
	}
	// 7. Jira webhook.
	raw = oai(PathJira)
	it = &item{N: 7007, Sink: SinkJira, Raw: raw}
	if err := send(procs[0], PathJira, w.render(it, "")); err != nil {
		return nil, err
	}
	// 8. GitHub issue comment with a GitHub token.
	tok := w.GitHub.AddToken(github.PrefixPAT, "dev-carol")
	c.Secrets[PathIssueComment] = tok
	n := w.GitHub.AddIssue("acme", "web", "Login broken", "Steps in the comments.")
	cbody := "Repro:\n```sh\nexport GITHUB_TOKEN=" + tok + "\n```\n"
	cid := w.GitHub.AddIssueComment("acme", "web", n, cbody)
	ib, _ := json.Marshal(map[string]any{"action": "created",
		"issue":      map[string]any{"number": n, "title": "Login broken", "body": "Steps in the comments.", "html_url": fmt.Sprintf("https://github.com/acme/web/issues/%d", n)},
		"comment":    map[string]any{"id": cid, "body": cbody, "user": map[string]any{"login": "dev-carol"}, "html_url": fmt.Sprintf("https://github.com/acme/web/issues/%d#issuecomment-%d", n, cid)},
		"repository": map[string]any{"full_name": "acme/web", "name": "web"}, "sender": map[string]any{"login": "dev-carol"}})
	if err := send(procs[1], PathIssueComment, delivery{Path: "/v1/ingest/github", Body: ib, Headers: map[string]string{
		"Content-Type": "application/json", "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "canary-issue-comment",
		"X-Hub-Signature-256": ghingest.SignatureHeader(secret.New(env["FB_GITHUB_WEBHOOK"]), ib)}}); err != nil {
		return nil, err
	}
	// The bus restarts.
	bus.signal(syscall.SIGTERM)
	cfg.Logf("canary: nats-server stopped")
	time.Sleep(3 * time.Second)
	if err := bus.start(ctx); err != nil {
		return nil, err
	}
	// 9. Generic ticket.
	raw = oai(PathTickets)
	tb, _ := json.Marshal(map[string]any{"system": "servicenow", "id": "INC0012345", "title": "API down", "body": "key=" + raw,
		"labels": map[string]string{"env": "prod"}, "comments": []any{map[string]any{"id": "c1", "author": "eve", "body": "same key " + raw}}})
	if err := send(procs[0], PathTickets, delivery{Path: "/v1/ingest/tickets", Body: tb, Headers: map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + env["FB_TICKETS"], "Idempotency-Key": "INC0012345-v1"}}); err != nil {
		return nil, err
	}
	// 10. firebreak scan --publish.
	raw = oai(PathScanPublish)
	src := filepath.Join(cfg.Dir, "repo", "config", "prod.env")
	if err := os.MkdirAll(filepath.Dir(src), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(src, []byte("OPENAI_API_KEY="+raw+"\n"), 0o600); err != nil {
		return nil, err
	}
	scan := exec.CommandContext(ctx, cfg.Bin, "scan", "--publish", procs[1].URL, "--token", "env:FB_INGEST",
		"--keyring", filepath.Join(cfg.Dir, "keyring.json"), "--label", "repo=acme/api", "--label", "branch=main", "--exit-code", "0", src)
	scan.Env = append(os.Environ(), "FB_INGEST="+env["FB_INGEST"])
	out, err := scan.CombinedOutput()
	c.Texts = append(c.Texts, Text{Where: "output of firebreak scan --publish", Body: string(out)})
	if err != nil {
		return nil, fmt.Errorf("firebreak scan --publish: %v: %s", err, out)
	}
	// 11. A revocation refused with the key echoed in the provider's error body.
	echoed, echoedID := w.openAIKey(7011)
	c.Secrets[PathEchoedInError] = echoed
	w.OpenAI.Server().Inject(emulator.Fault{Match: "DELETE " + w.deletePath(&item{N: 7011, KeyID: echoedID}), Status: http.StatusForbidden,
		Body: `{"error":{"message":"key ` + echoed + ` belongs to a locked project","type":"invalid_request_error","param":null,"code":null}}`})
	it = &item{N: 7011, Sink: SinkLogs, Raw: echoed}
	if err := send(procs[0], PathEchoedInError, w.render(it, "")); err != nil {
		return nil, err
	}

	// Wait for every canary's incident to finish.
	nc, err := nats.Connect(bus.URL, nats.Name("canary-harness"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	r := &run{js: js}
	ids := map[string]string{}
	for path, s := range c.Secrets {
		ids[path] = incident.IDFor(kr.Fingerprint(secret.New(s)))
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		incs, err := r.incidents(ctx)
		done := 0
		if err == nil {
			for path, id := range ids {
				if finished(incs[id]) {
					done++
					c.Incidents[path] = incs[id]
				}
			}
		}
		if done == len(ids) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var missing []string
			for path, id := range ids {
				if c.Incidents[path] == nil {
					missing = append(missing, path+" "+stateOf(incs[id]))
				}
			}
			sort.Strings(missing)
			return nil, fmt.Errorf("canary incidents unfinished: %s (%v)", strings.Join(missing, "; "), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // notifications and write-backs after the last step, flood tallies

	// Everything Firebreak said and wrote.
	admin := env["FB_ADMIN_TOKEN"]
	get := func(p *firebreak, path string, auth bool) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+admin)
		}
		resp, err := client.Do(req)
		if err != nil {
			answer("GET "+path, 0, []byte(err.Error()))
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer(fmt.Sprintf("GET %s (firebreak-%d)", path, p.ID), resp.StatusCode, b)
	}
	for _, p := range procs {
		for _, path := range []string{"/v1/incidents", "/metrics", "/readyz", "/healthz"} {
			get(p, path, true)
		}
		for _, id := range ids {
			get(p, "/v1/incidents/"+id, true)
		}
	}
	streams := js.ListStreams(ctx)
	var names []string
	for info := range streams.Info() {
		names = append(names, info.Config.Name)
	}
	if err := streams.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		msgs, err := streamMessages(ctx, js, name)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			var h []string
			for k, vs := range m.Header {
				h = append(h, k+": "+strings.Join(vs, ","))
			}
			c.Texts = append(c.Texts, Text{Where: fmt.Sprintf("stream %s #%d", name, m.Sequence),
				Body: m.Subject + "\n" + strings.Join(h, "\n") + "\n" + string(m.Data)})
		}
	}
	for _, m := range w.Slack.Messages() {
		c.Texts = append(c.Texts, Text{Where: "slack message", Body: m.AllText()})
	}
	for _, d := range w.Webhook.Deliveries() {
		c.Texts = append(c.Texts, Text{Where: "webhook notification", Body: string(d.Body)})
	}
	for name, s := range map[string]*emulator.Server{"pagerduty": w.PagerDuty.Server, "jira": w.Jira.Server(), "github": w.GitHub.Server()} {
		for _, q := range s.Requests() {
			// What Firebreak wrote to people: pages, ticket edits and
			// comments, alert resolutions (not the revocation API, which
			// takes the key by design).
			if q.Method == http.MethodGet || q.Path == "/credentials/revoke" {
				continue
			}
			c.Texts = append(c.Texts, Text{Where: fmt.Sprintf("%s %s %s", name, q.Method, q.Path), Body: string(q.Body)})
		}
	}
	for _, p := range procs {
		p.signal(syscall.SIGTERM) // flush the logs
	}
	bus.signal(syscall.SIGTERM)
	err = filepath.WalkDir(cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(path, filepath.Join(cfg.Dir, "repo")) {
			return nil // the scanned source file holds its key, by design
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.Texts = append(c.Texts, Text{Where: "file " + strings.TrimPrefix(path, cfg.Dir), Body: string(b)})
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return c, nil
}
