package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// Scope is what a backfill lists alerts of: a repository ("owner/name"), an
// organization or an enterprise.
type Scope struct {
	Kind string // ScopeRepo, ScopeOrg or ScopeEnterprise
	Name string
}

// Scope kinds.
const (
	ScopeRepo       = "repo"
	ScopeOrg        = "org"
	ScopeEnterprise = "enterprise"
)

func (s Scope) String() string { return s.Kind + ":" + s.Name }

// Validate checks the scope's form.
func (s Scope) Validate() error {
	switch s.Kind {
	case ScopeRepo:
		o, r, ok := strings.Cut(s.Name, "/")
		if !ok || !validName(o) || !validName(r) {
			return fmt.Errorf("repository %q is not owner/name", s.Name)
		}
	case ScopeOrg, ScopeEnterprise:
		if !validName(s.Name) {
			return fmt.Errorf("%s %q is not a valid name", s.Kind, s.Name)
		}
	default:
		return fmt.Errorf("scope kind %q is not repo, org or enterprise", s.Kind)
	}
	return nil
}

// Cursor says which page of a listing to fetch next. The zero Cursor is the
// first page. GitHub's secret-scanning list endpoints paginate by page number
// (page, per_page) and, where GitHub hands one out in the Link header, by an
// opaque cursor (after/before); After wins when both are known.
type Cursor struct {
	Page  int    `json:"page,omitempty"`
	After string `json:"after,omitempty"`
}

// IsZero reports whether c is the first page.
func (c Cursor) IsZero() bool { return c.Page <= 1 && c.After == "" }

// ListedAlert is an alert as a listing names it. The listing's secret is
// dropped on decoding: the responder fetches it when it needs it.
type ListedAlert struct {
	Repo       string // owner/name
	Number     int64
	State      string
	Resolution string
	SecretType string
	HTMLURL    string
	CreatedAt  time.Time
	// UpdatedAt is GitHub's updated_at: when the alert last changed (zero
	// when GitHub gives none). It moves on a reopen, but on other changes
	// too; an open alert carries no trace of an earlier resolution.
	UpdatedAt time.Time
}

// Page is one page of a listing.
type Page struct {
	Alerts []ListedAlert
	// Next is the cursor of the following page; Done is true when there is none.
	Next Cursor
	Done bool
	// Remaining and Reset are the primary rate limit after this call, as
	// GitHub reported it (X-RateLimit-Remaining, X-RateLimit-Reset).
	Remaining int
	Reset     time.Time
}

// ListAlerts fetches one page of open alerts of scope with go-github's
// SecretScanning.ListAlertsForRepo/Org/Enterprise (Secret scanning → "List
// secret scanning alerts for a repository / an organization / an
// enterprise", newest first). Errors are classified *providers.Error; a rate
// limit is Retryable with RetryAfter set to the wait GitHub asked for
// (X-RateLimit-Reset for the primary limit, Retry-After for a secondary one).
func (s *AlertSource) ListAlerts(ctx context.Context, scope Scope, cur Cursor, perPage int) (Page, error) {
	if err := scope.Validate(); err != nil {
		return Page{}, err
	}
	if perPage <= 0 || perPage > 100 {
		perPage = 100
	}
	opts := &gh.SecretScanningAlertListOptions{State: "open"}
	opts.ListOptions.PerPage = perPage
	if cur.After != "" {
		opts.ListCursorOptions.After = cur.After
		opts.ListCursorOptions.PerPage = perPage
	} else if cur.Page > 1 {
		opts.ListOptions.Page = cur.Page
	}
	var (
		alerts []*gh.SecretScanningAlert
		resp   *gh.Response
		err    error
	)
	switch scope.Kind {
	case ScopeRepo:
		o, r, _ := strings.Cut(scope.Name, "/")
		alerts, resp, err = s.client.SecretScanning.ListAlertsForRepo(ctx, o, r, opts)
	case ScopeOrg:
		alerts, resp, err = s.client.SecretScanning.ListAlertsForOrg(ctx, scope.Name, opts)
	case ScopeEnterprise:
		alerts, resp, err = s.client.SecretScanning.ListAlertsForEnterprise(ctx, scope.Name, opts)
	}
	if err != nil {
		return Page{}, classifyGH(err, "alerts of "+scope.String())
	}
	out := Page{Remaining: resp.Rate.Remaining, Reset: resp.Rate.Reset.Time}
	for _, a := range alerts {
		la := ListedAlert{
			Number: int64(a.GetNumber()), State: a.GetState(), Resolution: a.GetResolution(),
			SecretType: a.GetSecretType(), HTMLURL: a.GetHTMLURL(), CreatedAt: a.GetCreatedAt().Time,
			UpdatedAt: a.GetUpdatedAt().Time,
		}
		a.Secret = nil
		switch {
		case scope.Kind == ScopeRepo:
			la.Repo = scope.Name
		case a.Repository != nil && a.Repository.GetFullName() != "":
			la.Repo = a.Repository.GetFullName()
		default:
			la.Repo = repoFromAlertURL(a.GetURL())
		}
		out.Alerts = append(out.Alerts, la)
	}
	switch {
	case resp.After != "":
		out.Next = Cursor{After: resp.After}
	case resp.NextPage > 0 && cur.After == "":
		out.Next = Cursor{Page: resp.NextPage}
	default:
		out.Done = true
	}
	return out, nil
}

// repoFromAlertURL takes owner/name from an alert's REST URL
// (…/repos/{owner}/{repo}/secret-scanning/alerts/{n}).
func repoFromAlertURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(pu.Path, "/"), "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "repos" {
			return parts[i+1] + "/" + parts[i+2]
		}
	}
	return ""
}

// UpdateAlertRequest is the body of "Update a secret scanning alert"
// (PATCH /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}): state
// open|resolved, resolution (required when resolved: false_positive,
// wont_fix, revoked, used_in_tests) and resolution_comment. go-github v62's
// SecretScanningAlertUpdateOptions has no resolution_comment, so the request
// is built here and sent through the same client.
type UpdateAlertRequest struct {
	State             string  `json:"state"`
	Resolution        *string `json:"resolution,omitempty"`
	ResolutionComment *string `json:"resolution_comment,omitempty"`
}

// ResolveAlert resolves an alert with a resolution and comment and returns
// the alert's state afterwards.
func (s *AlertSource) ResolveAlert(ctx context.Context, owner, repo string, number int64, resolution, comment string) (state, gotResolution string, err error) {
	u := fmt.Sprintf("repos/%s/%s/secret-scanning/alerts/%d", url.PathEscape(owner), url.PathEscape(repo), number)
	body := UpdateAlertRequest{State: "resolved", Resolution: &resolution}
	if comment != "" {
		body.ResolutionComment = &comment
	}
	req, err := s.client.NewRequest(http.MethodPatch, u, body)
	if err != nil {
		return "", "", classifyGH(err, "alert update")
	}
	var a gh.SecretScanningAlert
	if _, err := s.client.Do(ctx, req, &a); err != nil {
		return "", "", classifyGH(err, fmt.Sprintf("alert %s/%s#%d", owner, repo, number))
	}
	a.Secret = nil
	return a.GetState(), a.GetResolution(), nil
}
