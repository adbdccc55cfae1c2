package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// tokenTransport resolves the token for every request, so it is never kept,
// and copies a 2xx response body for a call that asked (withRawBody).
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
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode/100 == 2 {
		if raw, ok := req.Context().Value(rawKey{}).(*bytes.Buffer); ok {
			resp.Body = teeBody{Reader: io.TeeReader(resp.Body, raw), Closer: resp.Body}
		}
	}
	return resp, err
}

// rawKey is the context key of the buffer that receives a copy of the
// response body.
type rawKey struct{}

type teeBody struct {
	io.Reader
	io.Closer
}

// withRawBody returns a context whose request's 2xx response body the
// transport also copies into the returned buffer, as go-github decodes it.
//
// go-github v62's SecretScanningAlert and SecretScanningAlertLocationDetails
// predate fields of the current reference that Firebreak reads (the alert's
// validity, publicly_leaked, multi_repo; the URLs of wiki, issue, pull
// request and discussion locations, which become the exposure's link). The
// calls still go through SecretScanning.GetAlert and ListLocationsForAlert —
// auth, rate-limit tracking, errors and pagination are go-github's — and only
// those extra fields are decoded from the copy of the same response: no
// second request, and no hand-built one.
func withRawBody(ctx context.Context) (context.Context, *bytes.Buffer) {
	raw := &bytes.Buffer{}
	return context.WithValue(ctx, rawKey{}, raw), raw
}

// decodeExtra decodes what go-github decoded from raw again into v, then
// zeroes raw (an alert's body holds its secret). A copy that does not decode
// leaves v as it was: the extra fields are extras.
func decodeExtra(raw *bytes.Buffer, v any) {
	_ = json.NewDecoder(bytes.NewReader(raw.Bytes())).Decode(v)
	clear(raw.Bytes())
	raw.Reset()
}

// alertExtra is what the reference's alert has and v62's type lacks.
type alertExtra struct {
	Validity       string `json:"validity"`
	PubliclyLeaked bool   `json:"publicly_leaked"`
	MultiRepo      bool   `json:"multi_repo"`
}

// locationExtra is what the reference's location details have beyond v62's
// commit fields: the wiki page and the URL of an issue, pull request or
// discussion location.
type locationExtra struct {
	Details struct {
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

// checkRepo rejects an owner or repository name GitHub would not have, before
// go-github puts it into a path unescaped.
func checkRepo(owner, repo string) error {
	for _, n := range []string{owner, repo} {
		if !validName(n) {
			return &providers.Error{Provider: Name, Op: OpAlert, Class: providers.Permanent,
				Message: fmt.Sprintf("%q is not a GitHub owner or repository name", n)}
		}
	}
	return nil
}

// validName reports whether n can be a GitHub account, organization,
// enterprise or repository name: letters, digits, '-', '_' and '.', and not
// "." or "..". go-github puts such names into request paths unescaped.
func validName(n string) bool {
	if n == "" || n == "." || n == ".." {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// GetAlert fetches alert number of owner/repo, secret included, with
// go-github's SecretScanning.GetAlert: GET
// /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number} (Secret
// scanning → "Get a secret scanning alert"). Validity, PubliclyLeaked and
// MultiRepo, which v62's type lacks, come from the same response
// (withRawBody).
func (s *AlertSource) GetAlert(ctx context.Context, owner, repo string, number int64) (Alert, error) {
	if err := checkRepo(owner, repo); err != nil {
		return Alert{}, err
	}
	rctx, raw := withRawBody(ctx)
	a, _, err := s.client.SecretScanning.GetAlert(rctx, owner, repo, number)
	var extra alertExtra
	decodeExtra(raw, &extra)
	if err != nil {
		return Alert{}, classifyGH(err, fmt.Sprintf("alert %s/%s#%d", owner, repo, number))
	}
	if a == nil {
		a = &gh.SecretScanningAlert{}
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
		Validity:              extra.Validity,
		PubliclyLeaked:        extra.PubliclyLeaked,
		MultiRepo:             extra.MultiRepo,
	}
	if a.Secret != nil {
		out.Secret = secret.New(*a.Secret)
		a.Secret = nil
	}
	return out, nil
}

// Locations lists every location of an alert with go-github's
// SecretScanning.ListLocationsForAlert, 100 per page, following the
// Response's NextPage: GET .../secret-scanning/alerts/{n}/locations (Secret
// scanning → "List locations for a secret scanning alert"). The URLs of wiki,
// issue, pull request and discussion locations, which v62's type lacks, come
// from the same responses (withRawBody).
func (s *AlertSource) Locations(ctx context.Context, owner, repo string, number int64) ([]Location, error) {
	if err := checkRepo(owner, repo); err != nil {
		return nil, err
	}
	var out []Location
	opts := &gh.ListOptions{PerPage: 100, Page: 1}
	for {
		rctx, raw := withRawBody(ctx)
		page, resp, err := s.client.SecretScanning.ListLocationsForAlert(rctx, owner, repo, number, opts)
		var extra []locationExtra
		decodeExtra(raw, &extra)
		if err != nil {
			return nil, classifyGH(err, fmt.Sprintf("locations of alert %s/%s#%d", owner, repo, number))
		}
		if len(extra) != len(page) {
			extra = nil
		}
		for i, l := range page {
			var x locationExtra
			if extra != nil {
				x = extra[i]
			}
			out = append(out, toLocation(l, x))
		}
		if resp.NextPage == 0 || resp.NextPage <= opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

func toLocation(l *gh.SecretScanningAlertLocation, x locationExtra) Location {
	var d *gh.SecretScanningAlertLocationDetails
	if l != nil {
		d = l.Details
	}
	e := x.Details
	loc := Location{
		Type:        l.GetType(),
		Path:        d.GetPath(),
		StartLine:   d.GetStartline(),
		EndLine:     d.GetEndLine(),
		StartColumn: d.GetStartColumn(),
		EndColumn:   d.GetEndColumn(),
		CommitSHA:   d.GetCommitSHA(),
		CommitURL:   d.GetCommitURL(),
		BlobSHA:     d.GetBlobSHA(),
		BlobURL:     d.GetBlobURL(),
		PageURL:     e.PageURL,
	}
	for _, u := range []string{e.IssueTitleURL, e.IssueBodyURL, e.IssueCommentURL, e.DiscussionTitleURL, e.DiscussionBodyURL,
		e.DiscussionCommentURL, e.PullRequestTitleURL, e.PullRequestBodyURL, e.PullRequestCommentURL, e.PullRequestReviewURL,
		e.PullRequestReviewCommentURL} {
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
