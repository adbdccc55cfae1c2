// Package stack runs a whole Firebreak — the app from cmd/firebreak/internal/app
// on an embedded JetStream — against provider emulators on loopback. The demo,
// the end-to-end tests and the benchmarks all drive Firebreak through it, the
// way a user does: signed HTTP requests in, provider calls and records out.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	ghingest "github.com/firebreak-sec/firebreak/ingest/github"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
	"github.com/firebreak-sec/firebreak/providers/jira/jiraemu"
	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook/webhookemu"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Options adjust the stack.
type Options struct {
	DataDir     string // a new temporary directory when empty
	Log         *logrus.Logger
	AckWait     time.Duration // 30s when zero
	MaxDeliver  int
	Concurrency int
	FSync       string // "always" when empty
	Hooks       responders.Hooks
	// GitHubOptions configure the GitHub emulator (e.g. a higher rate limit
	// for benchmarks).
	GitHubOptions []githubemu.Option
	// Configure edits the configuration before the app is built.
	Configure func(*config.Config)
	// Owners, when set, replaces the stack's owners file (see Breadth).
	Owners string
	// ReadyExclude is the /readyz?exclude= value Start waits with ("" waits
	// for every check): a test that makes a dependency unreachable on
	// purpose (e.g. "providers", "vault") starts without probing it, so that
	// its first /readyz probes it afresh rather than reading a cached answer.
	ReadyExclude string
}

// Stack is a running Firebreak with its emulators.
type Stack struct {
	App *app.App
	URL string // Firebreak's HTTP base URL

	OpenAI      *openaiemu.Emulator
	GitHub      *githubemu.Emulator
	Slack       *slackemu.Emulator
	SlackHook   slackemu.Hook
	Webhook     *webhookemu.Receiver
	GitHubToken string // the token Firebreak reads alerts with

	// Jira is the Jira Cloud emulator Firebreak redacts tickets in;
	// JiraWebhookSecret signs the Jira webhooks Firebreak verifies;
	// TicketsToken authorizes POST /v1/ingest/tickets.
	Jira              *jiraemu.Emulator
	JiraWebhookSecret secret.Value
	TicketsToken      string

	// WebhookSecret is the GitHub webhook secret Firebreak verifies.
	WebhookSecret secret.Value

	opts            Options
	paymentsProject string
	env             map[string]string
	tmpDir          string
	addr            string
	mu              sync.Mutex
	cancel          context.CancelFunc
	done            chan struct{} // closed when App.Run returned (runErr: its error)
	runErr          error
	clients         *http.Client
	// Breadth holds the other providers' and notifiers' emulators.
	Breadth *Breadth
}

// Start starts the emulators and Firebreak.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{opts: opts, env: map[string]string{}, clients: app.NewHTTPClient()}
	if s.opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "firebreak-stack-")
		if err != nil {
			return nil, err
		}
		s.tmpDir, s.opts.DataDir = dir, dir
	}
	if s.opts.Log == nil {
		s.opts.Log = logrus.New()
		s.opts.Log.SetOutput(io.Discard)
	}
	// The emulators' goroutines (their servers and connections) carry the
	// pprof label part=emulator, so that a CPU profile tells their work from
	// Firebreak's; Firebreak itself starts unlabelled.
	defer pprof.SetGoroutineLabels(ctx)
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("part", "emulator")))
	s.OpenAI = openaiemu.New()
	s.OpenAI.Start()
	s.GitHub = githubemu.New(opts.GitHubOptions...)
	s.GitHub.Start()
	s.Slack = slackemu.New()
	s.Slack.Start()
	s.SlackHook = s.Slack.AddHook("#sec-incidents")
	hookSecret := randomHex(16)
	s.Webhook = webhookemu.New(webhookemu.Config{Secret: []byte(hookSecret)})
	s.Webhook.Start()
	s.Jira = jiraemu.New()
	s.Jira.Start()
	jiraToken := s.Jira.AddUser("firebreak-bot@example.com")
	jiraHook := randomHex(16)
	s.JiraWebhookSecret = secret.New(jiraHook)
	s.TicketsToken = randomHex(16)

	adminKey, _ := s.OpenAI.AddAdminKey("firebreak-responder")
	s.GitHubToken = s.GitHub.AddToken("ghp_", "firebreak-bot")
	ghSecret := randomHex(20)
	s.WebhookSecret = secret.New(ghSecret)
	s.env = map[string]string{
		"STACK_OPENAI_ADMIN_KEY":  adminKey,
		"STACK_GITHUB_TOKEN":      s.GitHubToken,
		"STACK_GITHUB_WEBHOOK":    ghSecret,
		"STACK_SLACK_WEBHOOK_URL": s.Slack.HookURL(s.SlackHook),
		"STACK_OUTGOING_WEBHOOK":  hookSecret,
		"STACK_JIRA_API_TOKEN":    jiraToken,
		"STACK_JIRA_WEBHOOK":      jiraHook,
		"STACK_TICKETS_TOKEN":     s.TicketsToken,
	}
	if err := s.startBreadth(); err != nil {
		s.Close()
		return nil, err
	}
	pprof.SetGoroutineLabels(ctx)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, err
	}
	s.addr = l.Addr().String()
	s.URL = "http://" + s.addr
	if err := s.startApp(ctx, l); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Config returns the configuration the stack runs Firebreak with: everything
// pointed at the emulators, every secret a reference.
func (s *Stack) Config() (*config.Config, error) {
	fsync := s.opts.FSync
	if fsync == "" {
		fsync = "always"
	}
	c := &config.Config{DataDir: s.opts.DataDir}
	c.HTTP.Listen = s.addr
	c.HTTP.PublicURL = s.URL
	c.NATS.Embedded.FSync = fsync
	c.NATS.AckWait = config.Duration(s.opts.AckWait)
	c.NATS.MaxDeliver = s.opts.MaxDeliver
	c.Responders.Concurrency = s.opts.Concurrency
	c.GitHub.WebhookSecret = "env:STACK_GITHUB_WEBHOOK"
	c.GitHub.Token = "env:STACK_GITHUB_TOKEN"
	c.GitHub.APIURL = s.GitHub.URL()
	c.Providers.OpenAI.BaseURL = s.OpenAI.URL()
	c.Providers.OpenAI.AdminKey = "env:STACK_OPENAI_ADMIN_KEY"
	c.Providers.GitHub.BaseURL = s.GitHub.URL()
	c.Providers.GitHub.BatchWindow = config.Duration(50 * time.Millisecond)
	c.Notifiers.Slack = map[string]config.Slack{"default": {WebhookURL: "env:STACK_SLACK_WEBHOOK_URL"}}
	c.Notifiers.Webhook = map[string]config.Webhook{"default": {URL: s.Webhook.URL() + "/firebreak", Secret: "env:STACK_OUTGOING_WEBHOOK"}}
	c.GitHub.Partner.Enabled = true
	c.Jira = config.Jira{BaseURL: s.Jira.URL(), Email: "firebreak-bot@example.com", APIToken: "env:STACK_JIRA_API_TOKEN",
		WebhookSecret: "env:STACK_JIRA_WEBHOOK", Projects: map[string]config.JiraProject{"PAY": {Environment: "prod", Owner: "payments-team"}}}
	c.Tickets.Token = "env:STACK_TICKETS_TOKEN"
	if err := s.configureBreadth(c); err != nil {
		return nil, err
	}
	if s.opts.Configure != nil {
		s.opts.Configure(c)
	}
	c.Defaults()
	return c, nil
}

func (s *Stack) startApp(ctx context.Context, l net.Listener) error {
	cfg, err := s.Config()
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, s.opts.Log, app.Options{
		Hooks:      s.opts.Hooks,
		Getenv:     func(k string) string { return s.env[k] },
		HTTPClient: app.NewHTTPClient(),
	})
	if err != nil {
		l.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		err := a.Run(runCtx, l)
		s.mu.Lock()
		s.runErr = err
		s.mu.Unlock()
		close(done)
	}()
	s.mu.Lock()
	s.App, s.cancel, s.done = a, cancel, done
	s.mu.Unlock()
	return s.waitReady(ctx)
}

func (s *Stack) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	readyz := s.URL + "/readyz"
	if s.opts.ReadyExclude != "" {
		readyz += "?exclude=" + url.QueryEscape(s.opts.ReadyExclude)
	}
	for time.Now().Before(deadline) {
		resp, err := s.clients.Get(readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("firebreak did not become ready")
}

// Exited waits until Firebreak's Run returns on its own (not through
// StopApp) or ctx ends, and returns Run's error.
func (s *Stack) Exited(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.runErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopApp stops Firebreak gracefully (the emulators keep running).
func (s *Stack) StopApp() {
	s.mu.Lock()
	cancel, done, a := s.cancel, s.done, s.App
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	a.Close()
}

// RestartApp stops Firebreak and starts a new one on the same data directory,
// as after a crash or a deploy.
func (s *Stack) RestartApp(ctx context.Context, hooks responders.Hooks) error {
	s.StopApp()
	s.opts.Hooks = hooks
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener may take a moment to release the port
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	return s.startApp(ctx, l)
}

// Close stops everything and removes a temporary data directory.
func (s *Stack) Close() {
	s.StopApp()
	for _, c := range []interface{ Close() }{s.OpenAI, s.GitHub, s.Slack, s.Webhook, s.Jira} {
		if c != nil {
			c.Close()
		}
	}
	s.Breadth.close()
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

// PostGitHub posts a signed GitHub webhook and returns the status and body.
func (s *Stack) PostGitHub(ctx context.Context, event, delivery string, body []byte) (int, []byte, error) {
	return PostGitHubTo(ctx, s.clients, s.URL, s.WebhookSecret, event, delivery, body)
}

// PostGitHubTo posts a GitHub webhook, signed with webhookSecret as GitHub
// signs it (X-Hub-Signature-256), to the Firebreak at baseURL, and returns
// the status and body.
func PostGitHubTo(ctx context.Context, client *http.Client, baseURL string, webhookSecret secret.Value, event, delivery string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/ingest/github", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("User-Agent", "GitHub-Hookshot/firebreak-stack")
	req.Header.Set("X-Hub-Signature-256", ghingest.SignatureHeader(webhookSecret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// WaitIncident polls the incident until done(in) holds or ctx ends.
func (s *Stack) WaitIncident(ctx context.Context, id string, done func(*incident.Incident) bool) (*incident.Incident, error) {
	var last *incident.Incident
	for {
		s.mu.Lock()
		a := s.App
		s.mu.Unlock()
		in, _, err := a.Incidents.Get(ctx, id)
		if err == nil {
			last = in
			if done(in) {
				return in, nil
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return last, fmt.Errorf("incident %s stayed %s: %w", id, last.State, ctx.Err())
			}
			return nil, fmt.Errorf("incident %s never appeared: %w", id, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Terminal is a WaitIncident predicate: the incident is done acting.
func Terminal(in *incident.Incident) bool {
	return in.State.Terminal() || in.State == incident.Failed || in.State == incident.Unmatched
}

// IncidentFor returns the incident id of a raw secret under this stack's keyring.
func (s *Stack) IncidentFor(raw string) string {
	return incident.IDFor(s.App.Keyring.Fingerprint(secret.New(raw)))
}
