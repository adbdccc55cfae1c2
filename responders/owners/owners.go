// Package owners decides who owns a leaked key, so that the page, the ticket
// and the message go to the people who can act. Resolution tries, in order,
// and records which rule answered (playbooks.Owner.Rule):
//
//  1. the static owners file — the first rule whose match holds on the
//     exposure (provider, secret type, key id, repository glob, path glob,
//     log labels, Jira project, environment) — "owners_file:<index or name>";
//  2. GitHub CODEOWNERS of the file the key leaked in (.github/CODEOWNERS,
//     CODEOWNERS, docs/CODEOWNERS, read through the contents API; the last
//     matching pattern wins, as on GitHub) — "codeowners";
//  3. the provider's own owner field (OpenAI key owner, AWS IAM user, Hugging
//     Face account, …: providers.OwnerLookup) — "provider:<name>";
//  4. the author of the commit that leaked it — "commit_author";
//  5. the owners file's default — "default"; otherwise Rule "none".
//
// A rule that cannot answer (no file, an API error) is skipped, not fatal:
// owner resolution never blocks containment. The owners file's directory
// maps the handles CODEOWNERS and providers name (@acme/payments, ada,
// ada@example.com) to contacts (Slack, email, PagerDuty, Jira project).
package owners

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
)

// Contact is how to reach an owner.
type Contact struct {
	Name      string `yaml:"name"`
	Team      string `yaml:"team"`
	Email     string `yaml:"email"`
	Slack     string `yaml:"slack"`     // channel (#payments-oncall, C…) or user id (U…)
	PagerDuty string `yaml:"pagerduty"` // a configured pagerduty notifier's name
	Service   string `yaml:"service"`
	Jira      string `yaml:"jira"`   // project key
	GitHub    string `yaml:"github"` // @org/team or login
}

// Match selects exposures. Every non-empty criterion must hold; lists match
// any of their entries; globs use path.Match with ** for any number of
// directories.
type Match struct {
	Providers    []string          `yaml:"providers"`
	SecretTypes  []string          `yaml:"secret_types"`
	KeyIDs       []string          `yaml:"key_ids"`
	Repos        []string          `yaml:"repos"` // globs: "acme/payments-*"
	Paths        []string          `yaml:"paths"` // globs: "services/billing/**"
	Labels       map[string]string `yaml:"labels"`
	JiraProjects []string          `yaml:"jira_projects"`
	Environments []string          `yaml:"environments"`
}

// Rule is one owners-file entry.
type Rule struct {
	Name  string  `yaml:"name"`
	Match Match   `yaml:"match"`
	Owner Contact `yaml:"owner"`
}

// File is the owners file.
type File struct {
	Rules []Rule `yaml:"owners"`
	// Directory maps handles (CODEOWNERS entries, provider users, emails)
	// to contacts.
	Directory map[string]Contact `yaml:"directory"`
	Default   *Contact           `yaml:"default"`
	// Groups are approver groups for approval steps (`group:`): a name
	// to its members' identities (Slack user ids or usernames, control-API
	// token names, emails).
	Groups map[string][]string `yaml:"groups"`
}

// Members implements approvals.Groups: the identities of an approver group.
func (f *File) Members(_ context.Context, group string) ([]string, error) {
	m, ok := f.Groups[group]
	if !ok {
		return nil, fmt.Errorf("no approver group %q in the owners file", group)
	}
	return m, nil
}

// Load reads and validates an owners file.
func Load(p string) (*File, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("owners file: %w", err)
	}
	return Parse(p, b)
}

// Parse parses an owners file; unknown keys are errors, with their line.
func Parse(name string, b []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, r := range f.Rules {
		for _, g := range append(append([]string{}, r.Match.Repos...), r.Match.Paths...) {
			if _, err := path.Match(strings.ReplaceAll(g, "**", "*"), ""); err != nil {
				return nil, fmt.Errorf("%s: owners[%d].match: bad glob %q: %w", name, i, g, err)
			}
		}
		if r.Owner == (Contact{}) {
			return nil, fmt.Errorf("%s: owners[%d] names no owner", name, i)
		}
	}
	return &f, nil
}

// GitHub is what the codeowners and commit-author rules read.
type GitHub interface {
	// File returns a file's content at the default branch; found false
	// when it does not exist.
	File(ctx context.Context, owner, repo, path string) (content string, found bool, err error)
	// CommitAuthor returns a commit's author.
	CommitAuthor(ctx context.Context, owner, repo, sha string) (name, email, login string, err error)
}

// Resolver resolves owners.
type Resolver struct {
	File   *File
	GitHub GitHub // nil: no CODEOWNERS or commit-author rule
	// Lookup returns the OwnerLookup of a provider, if it has one.
	Lookup func(provider string) (providers.OwnerLookup, bool)
	Log    logrus.FieldLogger
}

// Resolve returns the owner of the exposure's key.
func (r *Resolver) Resolve(ctx context.Context, ev *exposure.Event, cred providers.Credential) playbooks.Owner {
	log := r.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		log = l
	}
	if r.File != nil {
		for i, rule := range r.File.Rules {
			if rule.Match.holds(ev) {
				name := rule.Name
				if name == "" {
					name = fmt.Sprint(i)
				}
				return r.fill(toOwner(rule.Owner), "owners_file:"+name)
			}
		}
	}
	owner, repo, hasRepo := strings.Cut(ev.Location.Repo, "/")
	if r.GitHub != nil && hasRepo && ev.Location.Path != "" {
		if o, ok, err := r.codeowners(ctx, owner, repo, ev.Location.Path); err != nil {
			log.WithError(err).Debug("codeowners lookup failed")
		} else if ok {
			return o
		}
	}
	if r.Lookup != nil && !cred.Secret.IsZero() {
		if l, ok := r.Lookup(ev.Secret.Provider); ok {
			if po, err := l.Owner(ctx, cred); err != nil {
				log.WithError(err).Debug("provider owner lookup failed")
			} else if po.User != "" || po.Email != "" || po.Team != "" {
				o := playbooks.Owner{Name: po.User, Email: po.Email, Team: po.Team}
				return r.fill(o, "provider:"+ev.Secret.Provider, po.Email, po.User, po.Team)
			}
		}
	}
	if r.GitHub != nil && hasRepo && ev.Location.Commit != "" {
		name, email, login, err := r.GitHub.CommitAuthor(ctx, owner, repo, ev.Location.Commit)
		if err != nil {
			log.WithError(err).Debug("commit author lookup failed")
		} else if email != "" || login != "" {
			o := playbooks.Owner{Name: name, Email: email}
			if login != "" {
				o.GitHub = "@" + login
			}
			return r.fill(o, "commit_author", "@"+login, email)
		}
	}
	if r.File != nil && r.File.Default != nil {
		return r.fill(toOwner(*r.File.Default), "default")
	}
	return playbooks.Owner{Rule: "none"}
}

// fill completes o from the directory entries of the given handles (first
// found), without overwriting what o already says, and sets the rule. An
// owner that is left with no way to reach them (no Slack, email or
// PagerDuty) gets the default's contacts: the owner is still named, and the
// people behind the default hear about it.
func (r *Resolver) fill(o playbooks.Owner, rule string, handles ...string) playbooks.Owner {
	o.Rule = rule
	if r.File == nil {
		return o
	}
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	for _, h := range handles {
		c, ok := r.File.Directory[h]
		if !ok || h == "" {
			continue
		}
		d := toOwner(c)
		set(&o.Name, d.Name)
		set(&o.Team, d.Team)
		set(&o.Email, d.Email)
		set(&o.Slack, d.Slack)
		set(&o.PagerDuty, d.PagerDuty)
		set(&o.Service, d.Service)
		set(&o.Jira, d.Jira)
		set(&o.GitHub, d.GitHub)
		break
	}
	if o.Slack == "" && o.Email == "" && o.PagerDuty == "" && r.File.Default != nil {
		d := r.File.Default
		o.Slack, o.Email, o.PagerDuty = d.Slack, d.Email, d.PagerDuty
		set(&o.Jira, d.Jira)
	}
	return o
}

func toOwner(c Contact) playbooks.Owner {
	return playbooks.Owner{Name: c.Name, Team: c.Team, Email: c.Email, Slack: c.Slack, PagerDuty: c.PagerDuty, Service: c.Service, Jira: c.Jira, GitHub: c.GitHub}
}

func anyOf(list []string, v string, match func(pattern, v string) bool) bool {
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		if match(p, v) {
			return true
		}
	}
	return false
}

func eq(p, v string) bool { return p == v }

// Glob matches v against a slash-separated pattern where "*", "?" and
// classes stay within a segment (path.Match) and a "**" segment spans any
// number of segments, including none. It takes time polynomial in the
// segment counts: CODEOWNERS patterns come from repositories, and a line of
// many "**" segments must not stall owner resolution (and containment).
func Glob(p, v string) bool {
	var ps []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "**" && len(ps) > 0 && ps[len(ps)-1] == "**" {
			continue // "**/**" is "**"
		}
		ps = append(ps, seg)
	}
	vs := strings.Split(v, "/")
	if len(ps) > maxGlobSegments || len(vs) > maxPathSegments {
		return false
	}
	// memo[i*(len(vs)+1)+j]: 0 unknown, 1 ps[i:] does not match vs[j:], 2 it does.
	memo := make([]uint8, (len(ps)+1)*(len(vs)+1))
	var match func(i, j int) bool
	match = func(i, j int) bool {
		k := i*(len(vs)+1) + j
		if memo[k] != 0 {
			return memo[k] == 2
		}
		ok := false
		switch {
		case i == len(ps):
			ok = j == len(vs)
		case ps[i] == "**":
			for x := j; x <= len(vs) && !ok; x++ {
				ok = match(i+1, x)
			}
		case j < len(vs):
			m, _ := path.Match(ps[i], vs[j])
			ok = m && match(i+1, j+1)
		}
		memo[k] = 1
		if ok {
			memo[k] = 2
		}
		return ok
	}
	return match(0, 0)
}

// maxGlobSegments and maxPathSegments bound the segments of a glob and of
// the path it is matched against (real ones are far shorter; PATH_MAX is
// 4096 bytes): a longer one matches nothing.
const (
	maxGlobSegments = 256
	maxPathSegments = 2048
)

func (m Match) holds(ev *exposure.Event) bool {
	l := ev.Location
	if !anyOf(m.Providers, ev.Secret.Provider, eq) || !anyOf(m.SecretTypes, ev.Secret.Type, eq) ||
		!anyOf(m.KeyIDs, ev.Secret.KeyID, eq) || !anyOf(m.Environments, ev.Environment, eq) {
		return false
	}
	if len(m.Repos) > 0 && (l.Repo == "" || !anyOf(m.Repos, l.Repo, Glob)) {
		return false
	}
	if len(m.Paths) > 0 && (l.Path == "" || !anyOf(m.Paths, strings.TrimPrefix(l.Path, "/"), Glob)) {
		return false
	}
	for k, v := range m.Labels {
		if l.Labels[k] != v {
			return false
		}
	}
	if len(m.JiraProjects) > 0 {
		project, _, _ := strings.Cut(l.Ticket, "-")
		if l.Ticket == "" || !anyOf(m.JiraProjects, project, eq) {
			return false
		}
	}
	return true
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
