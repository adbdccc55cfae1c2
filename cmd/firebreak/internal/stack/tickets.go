package stack

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/firebreak-sec/firebreak/ingest/tickets"
)

// post sends body to path with headers and returns the status and body.
func (s *Stack) post(ctx context.Context, path string, body []byte, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.clients.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// PostJira posts a Jira Cloud webhook signed with the stack's Jira webhook
// secret (X-Hub-Signature), with delivery as X-Atlassian-Webhook-Identifier.
func (s *Stack) PostJira(ctx context.Context, delivery string, body []byte) (int, []byte, error) {
	return s.post(ctx, "/v1/ingest/jira", body, map[string]string{
		"X-Atlassian-Webhook-Identifier": delivery,
		"X-Hub-Signature":                tickets.Sign(s.JiraWebhookSecret, body),
		"User-Agent":                     "Atlassian Webhook HTTP Client",
	})
}

// PostPartner posts a partner-program payload signed by the GitHub
// emulator's current partner key.
func (s *Stack) PostPartner(ctx context.Context, body []byte) (int, []byte, error) {
	kid, sig := s.GitHub.SignPartner(body)
	return s.PostPartnerSigned(ctx, body, kid, sig)
}

// PostPartnerSigned posts a partner-program payload with the given headers.
func (s *Stack) PostPartnerSigned(ctx context.Context, body []byte, keyID, sig string) (int, []byte, error) {
	return s.post(ctx, "/v1/ingest/github/partner", body, map[string]string{
		"Github-Public-Key-Identifier": keyID,
		"Github-Public-Key-Signature":  sig,
	})
}

// PostTickets posts a generic ticket with the stack's token.
func (s *Stack) PostTickets(ctx context.Context, body []byte) (int, []byte, error) {
	return s.post(ctx, "/v1/ingest/tickets", body, map[string]string{"Authorization": "Bearer " + s.TicketsToken})
}

// PostGitHubEvent posts a signed GitHub webhook of any event.
func (s *Stack) PostGitHubEvent(ctx context.Context, event, delivery string, body []byte) (int, []byte, error) {
	return s.PostGitHub(ctx, event, delivery, body)
}
