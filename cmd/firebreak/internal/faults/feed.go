package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tickets"
)

// Sinks the fault runs feed exposures through (the canary run uses every
// ingest path; see canary.go).
const (
	SinkGitHub = "github" // secret_scanning_alert webhook (the responder fetches the key from GitHub)
	SinkLogs   = "logs"   // NDJSON on /v1/ingest/logs
	SinkHEC    = "hec"    // Splunk HEC events
	SinkLoki   = "loki"   // Loki push
	SinkJira   = "jira"   // Jira Cloud issue webhook
)

// delivery is one webhook delivery or log shipment: what a sender posts,
// and posts again (same id, same body) when it retries or redelivers.
type delivery struct {
	Sink    string
	Path    string
	Body    []byte
	Headers map[string]string
	// OK says whether an answer counts as accepted.
	OK func(status int) bool
}

// item is one exposure of a distinct key.
type item struct {
	N        int
	Sink     string
	Provider string // openai | anthropic
	Raw      string
	KeyID    string
	Doomed   bool // its revocation is refused permanently (403)
	Incident string
	Delivery delivery

	mu         sync.Mutex
	accepted   bool
	acceptedAt time.Time
	attempts   int
}

func (it *item) isAccepted() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.accepted
}

// attempt is one HTTP request of the feed.
type attempt struct {
	Item       int
	Proc       int
	Start, End time.Time
	Status     int // 0: no answer (connection refused or reset)
	Body       string
	Replay     bool
}

func accepted2xx(status int) bool { return status >= 200 && status < 300 }

// render builds the delivery of it through its sink.
func (w *world) render(it *item, repo string) delivery {
	env := w.env
	switch it.Sink {
	case SinkGitHub:
		body := stack.AlertPayload("created", repo, int64(it.N+1), "openai_api_key")
		id := fmt.Sprintf("faults-%06d-%s", it.N, randomHex(4))
		return delivery{Sink: it.Sink, Path: "/v1/ingest/github", Body: body, OK: accepted2xx, Headers: map[string]string{
			"Content-Type": "application/json", "X-GitHub-Event": "secret_scanning_alert", "X-GitHub-Delivery": id,
			"User-Agent":          "GitHub-Hookshot/faults",
			"X-Hub-Signature-256": ghingest.SignatureHeader(secret.New(env["FB_GITHUB_WEBHOOK"]), body)}}
	case SinkLogs:
		line, _ := json.Marshal(map[string]any{"log": "calling upstream with Authorization: Bearer " + it.Raw,
			"kubernetes": map[string]any{"namespace_name": "billing-prod", "pod_name": fmt.Sprintf("billing-%d", it.N)}})
		body := append([]byte(`{"log":"GET /v1/invoices 200 12ms"}`+"\n"), append(line, '\n')...)
		return delivery{Sink: it.Sink, Path: "/v1/ingest/logs?cluster=eu-1", Body: body, OK: accepted2xx, Headers: map[string]string{
			"Content-Type": "application/x-ndjson", "Authorization": "Bearer " + env["FB_INGEST"]}}
	case SinkHEC:
		ev, _ := json.Marshal(map[string]any{"time": float64(time.Now().UnixMilli()) / 1000, "host": fmt.Sprintf("ip-10-0-3-%d", it.N%250),
			"source": "/var/log/containers/worker.log", "sourcetype": "_json", "fields": map[string]any{"environment": "production"},
			"event": map[string]any{"log": "config dump: API_KEY=" + it.Raw + " ORG=org-billing"}})
		return delivery{Sink: it.Sink, Path: "/services/collector/event", Body: ev, OK: accepted2xx, Headers: map[string]string{
			"Authorization": "Splunk " + env["FB_INGEST"], "X-Splunk-Request-Channel": "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"}}
	case SinkLoki:
		body, _ := json.Marshal(map[string]any{"streams": []any{map[string]any{
			"stream": map[string]string{"app": fmt.Sprintf("api-%d", it.N), "namespace": "payments-prod"},
			"values": [][]string{{fmt.Sprint(time.Now().UnixNano()), `level=error msg="upstream 401" api_key=` + it.Raw}}}}})
		return delivery{Sink: it.Sink, Path: "/loki/api/v1/push", Body: body, OK: accepted2xx, Headers: map[string]string{
			"Content-Type": "application/json", "Authorization": "Bearer " + env["FB_INGEST"]}}
	case SinkJira:
		desc, _ := json.Marshal(map[string]any{"type": "doc", "version": 1, "content": []any{map[string]any{"type": "paragraph",
			"content": []any{map[string]any{"type": "text", "text": "prod is down, try this key: " + it.Raw}}}}})
		key := w.Jira.AddIssue("PAY", fmt.Sprintf("Outage %d", it.N), desc)
		body := w.Jira.IssueEvent("jira:issue_created", key, true)
		return delivery{Sink: it.Sink, Path: "/v1/ingest/jira", Body: body, OK: accepted2xx, Headers: map[string]string{
			"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": fmt.Sprintf("faults-jira-%06d-%s", it.N, randomHex(4)),
			"X-Hub-Signature": tickets.Sign(secret.New(env["FB_JIRA_WEBHOOK"]), body), "User-Agent": "Atlassian Webhook HTTP Client"}}
	}
	panic("unknown sink " + it.Sink)
}

// post sends d to base and returns the status (0 when no answer came) and
// the answer.
func post(ctx context.Context, client *http.Client, base string, d delivery) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+d.Path, bytes.NewReader(d.Body))
	if err != nil {
		return 0, nil
	}
	for k, v := range d.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// oneLine shortens an answer for the report.
func oneLine(b []byte) string {
	s := strings.ReplaceAll(string(b), "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
