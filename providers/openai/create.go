package openai

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// Rotation creates service-account keys: a service account is a project
// member that is not a person, and creating one returns its only API key
// (OpenAI API reference, Administration → Project service accounts → Create:
// POST /v1/organization/projects/{project_id}/service_accounts with
// {"name": …}, answering the organization.project.service_account object with
// an api_key {object: "organization.project.service_account.api_key", value,
// name, created_at, id}). The key's value is shown only in that answer.

var (
	_ providers.Creator     = (*Client)(nil)
	_ providers.CreatedKeys = (*Client)(nil)
)

type createdServiceAccount struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CreatedAt int64  `json:"created_at"`
	APIKey    *struct {
		Object    string `json:"object"`
		Value     string `json:"value"`
		Name      string `json:"name"`
		CreatedAt int64  `json:"created_at"`
		ID        string `json:"id"`
	} `json:"api_key"`
}

func (c *Client) adminKeyFor(ctx context.Context, op providers.Op) (secret.Value, error) {
	if c.adminKey == nil {
		return secret.Value{}, c.permanent(op, "this needs an OpenAI admin key (sk-admin-…); none is configured")
	}
	ak, err := c.adminKey.Secret(ctx)
	if err != nil {
		class, _ := providers.Classify(err)
		return secret.Value{}, &providers.Error{Provider: Name, Op: op, Class: class, Message: "cannot resolve the admin key", Err: err}
	}
	if ak.IsZero() {
		return secret.Value{}, c.permanent(op, "the configured admin key is empty")
	}
	return ak, nil
}

func (c *Client) call(ctx context.Context, ak secret.Value, op providers.Op, method, path string, body, out any) (int, error) {
	status, _, err := c.api.Do(ctx, providers.Request{Op: op, Method: method, Path: path, Header: bearer(ak), Scrub: ak, Body: body, Out: out})
	return status, err
}

// project returns the project new keys go to: with.project_id, else the
// project that holds the key being replaced.
func (c *Client) projectFor(ctx context.Context, ak secret.Value, r providers.CreateRequest) (string, error) {
	if p := r.With["project_id"]; p != "" {
		return p, nil
	}
	if p, _, ok := strings.Cut(r.Old.KeyID, "/"); ok && p != "" {
		return p, nil
	}
	if r.Old.Secret.IsZero() {
		return "", c.permanent(providers.OpCreate, "cannot tell which project the new key belongs to: set with.project_id")
	}
	cands, err := c.search(ctx, ak, r.Old.Secret)
	if err != nil {
		return "", err
	}
	if len(cands) != 1 {
		return "", c.permanent(providers.OpCreate, fmt.Sprintf(
			"cannot tell which project the new key belongs to (%d project keys match the old key): set with.project_id", len(cands)))
	}
	return cands[0].project, nil
}

// Create implements providers.Creator: it creates a service account named
// r.Name in the project of the key being replaced (or with.project_id) and
// returns its API key. Credential.KeyID is "proj_…/key_…", which Revoke
// understands.
func (c *Client) Create(ctx context.Context, r providers.CreateRequest) (providers.Created, error) {
	ak, err := c.adminKeyFor(ctx, providers.OpCreate)
	if err != nil {
		return providers.Created{}, err
	}
	project, err := c.projectFor(ctx, ak, r)
	if err != nil {
		return providers.Created{}, err
	}
	name := r.Name
	if name == "" {
		name = "firebreak-rotation"
	}
	var out createdServiceAccount
	path := "/v1/organization/projects/" + url.PathEscape(project) + "/service_accounts"
	if _, err := c.call(ctx, ak, providers.OpCreate, http.MethodPost, path, map[string]any{"name": name}, &out); err != nil {
		return providers.Created{}, err
	}
	if out.APIKey == nil || out.APIKey.Value == "" {
		return providers.Created{}, &providers.Error{Provider: Name, Op: providers.OpCreate, Class: providers.Permanent,
			Message: "the service account " + out.ID + " was created without an API key"}
	}
	v := secret.New(out.APIKey.Value)
	return providers.Created{
		Credential: providers.Credential{Provider: Name, Type: TypeAPIKey, Secret: v, KeyID: project + "/" + out.APIKey.ID, Hint: secret.Hint(v)},
		Facts:      map[string]string{"project_id": project, "service_account_id": out.ID, "key_id": out.APIKey.ID, "service_account_name": out.Name},
	}, nil
}

type serviceAccount struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// FindCreated implements providers.CreatedKeys: the service accounts named
// r.Name, in with.project_id or else in every active project.
func (c *Client) FindCreated(ctx context.Context, r providers.CreateRequest) ([]providers.Created, error) {
	ak, err := c.adminKeyFor(ctx, providers.OpCreate)
	if err != nil {
		return nil, err
	}
	var projects []string
	if p := r.With["project_id"]; p != "" {
		projects = []string{p}
	} else {
		ps, err := c.projects(ctx, ak)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			projects = append(projects, p.ID)
		}
	}
	var found []providers.Created
	for _, p := range projects {
		after := ""
		for {
			var page list[serviceAccount]
			path := "/v1/organization/projects/" + url.PathEscape(p) + "/service_accounts?" + c.pageQuery(after)
			status, err := c.call(ctx, ak, providers.OpCreate, http.MethodGet, path, nil, &page)
			if status == http.StatusNotFound {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, sa := range page.Data {
				if sa.Name == r.Name {
					found = append(found, providers.Created{
						Credential: providers.Credential{Provider: Name, Type: TypeAPIKey},
						Facts:      map[string]string{"project_id": p, "service_account_id": sa.ID, "service_account_name": sa.Name},
					})
				}
			}
			next := nextCursor(page.HasMore, page.LastID, len(page.Data), func() string { return page.Data[len(page.Data)-1].ID })
			if next == "" || next == after {
				break
			}
			after = next
		}
	}
	return found, nil
}

// DeleteCreated implements providers.CreatedKeys: it deletes the service
// account (and so its key). One that is already gone is no error.
func (c *Client) DeleteCreated(ctx context.Context, k providers.Created) error {
	ak, err := c.adminKeyFor(ctx, providers.OpRevoke)
	if err != nil {
		return err
	}
	p, sa := k.Facts["project_id"], k.Facts["service_account_id"]
	if p == "" || sa == "" {
		return c.permanent(providers.OpRevoke, "cannot delete a created key without its project_id and service_account_id")
	}
	var out deleted
	path := "/v1/organization/projects/" + url.PathEscape(p) + "/service_accounts/" + url.PathEscape(sa)
	status, err := c.call(ctx, ak, providers.OpRevoke, http.MethodDelete, path, nil, &out)
	if status == http.StatusNotFound {
		return nil
	}
	return err
}
