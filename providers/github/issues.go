package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v62/github"
)

// Issue text, for redaction: the title and body of an issue (or pull
// request), or the body of one issue comment. GitHub stores and returns them
// as Markdown strings; editing sends the whole new string back, so any text
// left unchanged stays byte-for-byte the same.
//
// Calls (Issues → "Get an issue", "Update an issue", Issues → Comments → "Get
// an issue comment", "Update an issue comment", "Create an issue comment",
// "List issue comments"), through go-github v62's IssuesService:
//
//	GET   /repos/{owner}/{repo}/issues/{issue_number}
//	PATCH /repos/{owner}/{repo}/issues/{issue_number}          {"title"|"body"}
//	GET   /repos/{owner}/{repo}/issues/comments/{comment_id}
//	PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}   {"body"}
//	POST  /repos/{owner}/{repo}/issues/{issue_number}/comments {"body"} → 201
//	GET   /repos/{owner}/{repo}/issues/{issue_number}/comments
type Issue struct {
	Title, Body string
	HTMLURL     string
}

// GetIssue returns an issue's title and body.
func (s *AlertSource) GetIssue(ctx context.Context, owner, repo string, number int) (Issue, error) {
	is, _, err := s.client.Issues.Get(ctx, owner, repo, number)
	if err != nil {
		return Issue{}, classifyGH(err, fmt.Sprintf("issue %s/%s#%d", owner, repo, number))
	}
	return Issue{Title: is.GetTitle(), Body: is.GetBody(), HTMLURL: is.GetHTMLURL()}, nil
}

// EditIssue sets an issue's title (field "title") or body (field "body").
func (s *AlertSource) EditIssue(ctx context.Context, owner, repo string, number int, field, text string) error {
	req := &gh.IssueRequest{}
	switch field {
	case "title":
		req.Title = &text
	case "body":
		req.Body = &text
	default:
		return fmt.Errorf("issue field %q is not title or body", field)
	}
	if _, _, err := s.client.Issues.Edit(ctx, owner, repo, number, req); err != nil {
		return classifyGH(err, fmt.Sprintf("issue %s/%s#%d", owner, repo, number))
	}
	return nil
}

// GetIssueComment returns a comment's body.
func (s *AlertSource) GetIssueComment(ctx context.Context, owner, repo string, id int64) (string, error) {
	c, _, err := s.client.Issues.GetComment(ctx, owner, repo, id)
	if err != nil {
		return "", classifyGH(err, fmt.Sprintf("comment %d of %s/%s", id, owner, repo))
	}
	return c.GetBody(), nil
}

// EditIssueComment replaces a comment's body.
func (s *AlertSource) EditIssueComment(ctx context.Context, owner, repo string, id int64, body string) error {
	if _, _, err := s.client.Issues.EditComment(ctx, owner, repo, id, &gh.IssueComment{Body: &body}); err != nil {
		return classifyGH(err, fmt.Sprintf("comment %d of %s/%s", id, owner, repo))
	}
	return nil
}

// CreateIssueComment adds a comment to an issue and returns its id.
func (s *AlertSource) CreateIssueComment(ctx context.Context, owner, repo string, number int, body string) (int64, error) {
	c, _, err := s.client.Issues.CreateComment(ctx, owner, repo, number, &gh.IssueComment{Body: &body})
	if err != nil {
		return 0, classifyGH(err, fmt.Sprintf("new comment on %s/%s#%d", owner, repo, number))
	}
	return c.GetID(), nil
}

// IssueCommentBodies lists the bodies of an issue's comments (up to 10 pages
// of 100), to check whether a comment was already posted.
func (s *AlertSource) IssueCommentBodies(ctx context.Context, owner, repo string, number int) ([]string, error) {
	var out []string
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for i := 0; i < 10; i++ {
		cs, resp, err := s.client.Issues.ListComments(ctx, owner, repo, number, opts)
		if err != nil {
			return nil, classifyGH(err, fmt.Sprintf("comments of %s/%s#%d", owner, repo, number))
		}
		for _, c := range cs {
			out = append(out, c.GetBody())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}
