package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// OpAlert names alert-source calls in errors.
const OpAlert providers.Op = "alert"

// AlertSourceConfig configures an AlertSource.
type AlertSourceConfig struct {
	// BaseURL of the REST API, DefaultBaseURL when empty; for GitHub
	// Enterprise Server https://HOST/api/v3/.
	BaseURL string
	// Token resolves, at each request, a token that may read the repository's
	// secret-scanning alerts (repo or security_events scope, or a GitHub App
	// with the secret_scanning_alerts read permission).
	Token secret.Source
	// HTTPClient sends the requests; a plain client when nil.
	HTTPClient *http.Client
}

// AlertSource reads secret-scanning alerts with go-github. It keeps
// go-github's knowledge of the rate limit between calls.
type AlertSource struct {
	client *gh.Client
}

// Alert is a secret-scanning alert. Secret holds the leaked secret; nothing
// else in it is secret.
type Alert struct {
	Repo                  string // owner/repo
	Number                int64
	State                 string // open | resolved
	Resolution            string // false_positive, wont_fix, revoked, used_in_tests, ... ("" while open)
	SecretType            string // e.g. openai_api_key
	SecretTypeDisplayName string
	Secret                secret.Value
	Validity              string // active | inactive | unknown
	PubliclyLeaked        bool
	MultiRepo             bool
	PushProtectionBypass  bool
	URL                   string // REST URL of the alert
	HTMLURL               string
	LocationsURL          string
	CreatedAt             time.Time
	UpdatedAt             time.Time
	ResolvedAt            time.Time
}

// Location is one place an alert's secret was found. Commit and wiki_commit
// locations fill the file fields; issue, pull request and discussion
// locations (issue_title, issue_body, issue_comment, discussion_*,
// pull_request_*) carry their URL in URL.
type Location struct {
	Type        string
	Path        string
	StartLine   int
	EndLine     int
	StartColumn int
	EndColumn   int
	CommitSHA   string
	CommitURL   string
	BlobSHA     string
	BlobURL     string
	PageURL     string // wiki_commit
	URL         string // the *_url of a non-file location
}

// NewAlertSource returns an AlertSource. It fails only on a malformed BaseURL
// or a missing Token source.
func NewAlertSource(cfg AlertSourceConfig) (*AlertSource, error) {
	if cfg.Token == nil {
		return nil, errors.New("github alert source: a token source is required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github alert source: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &tokenTransport{src: cfg.Token, next: next}
	c := gh.NewClient(hc)
	c.BaseURL = u
	c.UserAgent = "firebreak"
	return &AlertSource{client: c}, nil
}

// tokenTransport resolves the token for every request, so it is never kept.
type tokenTransport struct {
	src  secret.Source
	next http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.src.Secret(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("resolve GitHub token: %w", err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.Reveal())
	r.Header.Set("X-GitHub-Api-Version", APIVersion)
	return t.next.RoundTrip(r)
}

// alertJSON decodes an alert: go-github v62's SecretScanningAlert plus the
// fields the current reference has and v62 lacks (validity, publicly_leaked,
// multi_repo).
type alertJSON struct {
	gh.SecretScanningAlert
	Validity       *string `json:"validity,omitempty"`
	PubliclyLeaked *bool   `json:"publicly_leaked,omitempty"`
	MultiRepo      *bool   `json:"multi_repo,omitempty"`
}

// locationJSON decodes a location: v62's details only know commit fields, the
// reference's location types also carry issue, discussion, pull request and
// wiki URLs.
type locationJSON struct {
	Type    string `json:"type"`
	Details struct {
		gh.SecretScanningAlertLocationDetails
		PageURL                     string `json:"page_url"`
		IssueTitleURL               string `json:"issue_title_url"`
		IssueBodyURL                string `json:"issue_body_url"`
		IssueCommentURL             string `json:"issue_comment_url"`
		DiscussionTitleURL          string `json:"discussion_title_url"`
		DiscussionBodyURL           string `json:"discussion_body_url"`
		DiscussionCommentURL        string `json:"discussion_comment_url"`
		PullRequestTitleURL         string `json:"pull_request_title_url"`
		PullRequestBodyURL          string `json:"pull_request_body_url"`
		PullRequestCommentURL       string `json:"pull_request_comment_url"`
		PullRequestReviewURL        string `json:"pull_request_review_url"`
		PullRequestReviewCommentURL string `json:"pull_request_review_comment_url"`
	} `json:"details"`
}

// GetAlert fetches alert number of owner/repo, secret included:
// GET /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number} (Secret
// scanning → "Get a secret scanning alert"). It is the request
// SecretScanning.GetAlert makes, sent through the same go-github client (auth,
// rate-limit tracking, error types) but decoded into a struct that also reads
// validity, publicly_leaked and multi_repo, which v62's type does not have.
func (s *AlertSource) GetAlert(ctx context.Context, owner, repo string, number int64) (Alert, error) {
	u := fmt.Sprintf("repos/%s/%s/secret-scanning/alerts/%d", url.PathEscape(owner), url.PathEscape(repo), number)
	req, err := s.client.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return Alert{}, &providers.Error{Provider: Name, Op: OpAlert, Class: providers.Permanent, Err: err}
	}
	var a alertJSON
	if _, err := s.client.Do(ctx, req, &a); err != nil {
		return Alert{}, classifyGH(err, fmt.Sprintf("alert %s/%s#%d", owner, repo, number))
	}
	out := Alert{
		Repo:                  owner + "/" + repo,
		Number:                int64(a.GetNumber()),
		State:                 a.GetState(),
		Resolution:            a.GetResolution(),
		SecretType:            a.GetSecretType(),
		SecretTypeDisplayName: a.GetSecretTypeDisplayName(),
		PushProtectionBypass:  a.GetPushProtectionBypassed(),
		URL:                   a.GetURL(),
		HTMLURL:               a.GetHTMLURL(),
		LocationsURL:          a.GetLocationsURL(),
		CreatedAt:             a.GetCreatedAt().Time,
		UpdatedAt:             a.GetUpdatedAt().Time,
		ResolvedAt:            a.GetResolvedAt().Time,
	}
	if a.Secret != nil {
		out.Secret = secret.New(*a.Secret)
		a.Secret = nil
	}
	if a.Validity != nil {
		out.Validity = *a.Validity
	}
	if a.PubliclyLeaked != nil {
		out.PubliclyLeaked = *a.PubliclyLeaked
	}
	if a.MultiRepo != nil {
		out.MultiRepo = *a.MultiRepo
	}
	return out, nil
}

// Locations lists every location of an alert, following the Link header's
// next page (100 per page): GET .../secret-scanning/alerts/{n}/locations
// (Secret scanning → "List locations for a secret scanning alert"), the
// request SecretScanning.ListLocationsForAlert makes, decoded so that issue,
// pull request, discussion and wiki locations keep their URLs.
func (s *AlertSource) Locations(ctx context.Context, owner, repo string, number int64) ([]Location, error) {
	var out []Location
	opts := &gh.ListOptions{PerPage: 100, Page: 1}
	for {
		u := fmt.Sprintf("repos/%s/%s/secret-scanning/alerts/%d/locations?per_page=%d&page=%d",
			url.PathEscape(owner), url.PathEscape(repo), number, opts.PerPage, opts.Page)
		req, err := s.client.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, &providers.Error{Provider: Name, Op: OpAlert, Class: providers.Permanent, Err: err}
		}
		var page []locationJSON
		resp, err := s.client.Do(ctx, req, &page)
		if err != nil {
			return nil, classifyGH(err, fmt.Sprintf("locations of alert %s/%s#%d", owner, repo, number))
		}
		for _, l := range page {
			out = append(out, toLocation(l))
		}
		if resp.NextPage == 0 || resp.NextPage <= opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

func toLocation(l locationJSON) Location {
	d := l.Details
	loc := Location{
		Type:        l.Type,
		Path:        d.GetPath(),
		StartLine:   d.GetStartline(),
		EndLine:     d.GetEndLine(),
		StartColumn: d.GetStartColumn(),
		EndColumn:   d.GetEndColumn(),
		CommitSHA:   d.GetCommitSHA(),
		CommitURL:   d.GetCommitURL(),
		BlobSHA:     d.GetBlobSHA(),
		BlobURL:     d.GetBlobURL(),
		PageURL:     d.PageURL,
	}
	for _, u := range []string{d.IssueTitleURL, d.IssueBodyURL, d.IssueCommentURL, d.DiscussionTitleURL, d.DiscussionBodyURL,
		d.DiscussionCommentURL, d.PullRequestTitleURL, d.PullRequestBodyURL, d.PullRequestCommentURL, d.PullRequestReviewURL,
		d.PullRequestReviewCommentURL} {
		if u != "" {
			loc.URL = u
			break
		}
	}
	return loc
}

// classifyGH turns a go-github error into a *providers.Error.
func classifyGH(err error, what string) error {
	e := &providers.Error{Provider: Name, Op: OpAlert, Class: providers.Permanent}
	var rle *gh.RateLimitError
	var are *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	var acc *gh.AcceptedError
	switch {
	case errors.As(err, &rle):
		e.Class, e.Status, e.Message = providers.Retryable, http.StatusForbidden, "primary rate limit exceeded reading "+what
		if rle.Response != nil {
			e.Status = rle.Response.StatusCode
		}
		if d := time.Until(rle.Rate.Reset.Time); d > 0 {
			e.RetryAfter = d
		}
	case errors.As(err, &are):
		e.Class, e.Status, e.Message = providers.Retryable, http.StatusForbidden, "secondary rate limit reading "+what
		if are.Response != nil {
			e.Status = are.Response.StatusCode
		}
		e.RetryAfter = defaultSecondaryBackoff
		if are.RetryAfter != nil && *are.RetryAfter > 0 {
			e.RetryAfter = *are.RetryAfter
		}
	case errors.As(err, &acc):
		e.Class, e.Status, e.Message = providers.Retryable, http.StatusAccepted, "GitHub is still preparing "+what
	case errors.As(err, &er):
		status := 0
		if er.Response != nil {
			status = er.Response.StatusCode
			e.RetryAfter = providers.ParseRetryAfter(er.Response.Header.Get("Retry-After"), time.Now())
		}
		e.Status, e.Class = status, providers.ClassifyStatus(status)
		if er.Response != nil && (status == http.StatusForbidden || status == http.StatusTooManyRequests) {
			// A rate limit answered in a shape go-github does not recognise:
			// 429 with Retry-After, or 429 with X-RateLimit-Remaining: 0.
			if er.Response.Header.Get("X-RateLimit-Remaining") == "0" {
				if d := untilReset(er.Response.Header.Get("X-RateLimit-Reset"), time.Now()); d > e.RetryAfter {
					e.RetryAfter = d
				}
			}
			if e.RetryAfter > 0 {
				e.Class = providers.Retryable
			}
		}
		msg := er.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		if status == http.StatusNotFound {
			msg = what + " not found (or secret scanning is disabled, or the token cannot see it): " + msg
		} else {
			msg = what + ": " + msg
		}
		e.Message = msg
	default:
		class, _ := providers.Classify(err)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.Class, e.Message, e.Err = class, "reading "+what, err
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syn) || errors.As(err, &typ) {
			// A garbled answer is a fault of the answer, not of the request.
			e.Class = providers.Retryable
		}
	}
	return e
}

// ExposureLocation converts one of the alert's locations to the exposure
// event's location, with a web link a person can open: for commit locations
// the file at that commit and line (on the host of the alert's html_url, so
// GitHub Enterprise Server links stay on their host), for wiki commits the
// page, and for issue, pull request and discussion locations their URL.
// The responder's alert fetcher uses it for the first location.
func (a Alert) ExposureLocation(l Location) exposure.Location {
	out := exposure.Location{Repo: a.Repo, Path: l.Path, Line: l.StartLine, Commit: l.CommitSHA}
	web := "https://github.com"
	if u, err := url.Parse(a.HTMLURL); err == nil && u.Host != "" {
		web = u.Scheme + "://" + u.Host
	}
	switch {
	case l.Type == "commit" && l.CommitSHA != "" && l.Path != "":
		out.URL = fmt.Sprintf("%s/%s/blob/%s/%s", web, a.Repo, l.CommitSHA, strings.TrimPrefix(l.Path, "/"))
		if l.StartLine > 0 {
			out.URL += fmt.Sprintf("#L%d", l.StartLine)
		}
	case l.PageURL != "":
		out.URL = l.PageURL
	case l.URL != "":
		out.URL = l.URL
	default:
		out.URL = a.HTMLURL
	}
	return out
}
