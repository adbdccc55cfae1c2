package owners

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// GitHubAPI reads CODEOWNERS and commit authors through GitHub's REST API
// (Repositories → "Get repository content", Commits → "Get a commit") with a
// token that can read the repository.
type GitHubAPI struct {
	api   providers.API
	token secret.Source
}

var _ GitHub = (*GitHubAPI)(nil)

// NewGitHubAPI returns a GitHubAPI; baseURL is https://api.github.com (or a
// GitHub Enterprise Server's /api/v3).
func NewGitHubAPI(baseURL string, token secret.Source, hc *http.Client) *GitHubAPI {
	return &GitHubAPI{token: token, api: providers.API{Provider: "github", BaseURL: strings.TrimRight(baseURL, "/"), Client: hc,
		Header: func(h http.Header) {
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
		}}}
}

func (g *GitHubAPI) get(ctx context.Context, path string, out any) (int, error) {
	tok, err := g.token.Secret(ctx)
	if err != nil {
		return 0, err
	}
	status, _, err := g.api.Do(ctx, providers.Request{Op: providers.OpOwner, Method: http.MethodGet, Path: path,
		Header: http.Header{"Authorization": {"Bearer " + strings.TrimSpace(tok.Reveal())}}, Scrub: tok, Out: out})
	return status, err
}

func repoPath(owner, repo string) string {
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
}

// File implements GitHub.
func (g *GitHubAPI) File(ctx context.Context, owner, repo, path string) (string, bool, error) {
	var f struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
		Content  string `json:"content"`
	}
	status, err := g.get(ctx, repoPath(owner, repo)+"/contents/"+(&url.URL{Path: path}).EscapedPath(), &f)
	if status == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if f.Type != "file" || f.Encoding != "base64" {
		return "", false, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(f.Content, "\n", ""))
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// CommitAuthor implements GitHub.
func (g *GitHubAPI) CommitAuthor(ctx context.Context, owner, repo, sha string) (string, string, string, error) {
	var c struct {
		Author *struct {
			Login string `json:"login"`
		} `json:"author"`
		Commit struct {
			Author struct {
				Name  string `json:"name"`
				Email string `json:"email"`
			} `json:"author"`
		} `json:"commit"`
	}
	if _, err := g.get(ctx, repoPath(owner, repo)+"/commits/"+url.PathEscape(sha), &c); err != nil {
		return "", "", "", err
	}
	login := ""
	if c.Author != nil {
		login = c.Author.Login
	}
	return c.Commit.Author.Name, c.Commit.Author.Email, login, nil
}
