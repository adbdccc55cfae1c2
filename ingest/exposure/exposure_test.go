package exposure

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsAndIsUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	base := time.Now()
	for i := 0; i < 1000; i++ {
		id := NewID(base.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 30 || !strings.HasPrefix(id, "exp_") {
			t.Fatalf("id %q: want exp_ and 26 characters", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if id[:14] < prev {
			t.Fatalf("ids do not sort by time: %q after %q", id, prev)
		}
		prev = id[:14]
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	e := &Event{Schema: "v0", Source: Source{Kind: "Git.Hub"}, Secret: Secret{Provider: "openai"}}
	err := e.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	for _, want := range []string{"id is empty", `schema is "v0"`, `source.kind "Git.Hub"`, "secret.fingerprint and secret.sealed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	ok := &Event{ID: "exp_1", Schema: Schema, Source: Source{Kind: SourceGitHub}, Secret: Secret{Provider: "openai"},
		Alert: &Alert{Repository: "octo/app", Number: 1}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid alert exposure rejected: %v", err)
	}
	ok.Alert.Repository = "octo"
	if err := ok.Validate(); err == nil {
		t.Fatal("alert without owner/name accepted")
	}
}

func TestSubjects(t *testing.T) {
	e := &Event{Source: Source{Kind: "logs"}, Secret: Secret{Provider: "open.ai>"}}
	if got := Subject(e); got != "firebreak.exposures.logs.open_ai_" {
		t.Fatalf("subject %q", got)
	}
	if got := AuditSubject(""); got != "firebreak.audit.unknown" {
		t.Fatalf("audit subject %q", got)
	}
}

func TestProviderForType(t *testing.T) {
	for typ, want := range map[string]string{
		"openai_api_key": "openai", "github_personal_access_token": "github", "openai_admin_key": "openai",
		"hf_user_access_token": "huggingface", "mystery_token": "unknown",
	} {
		if got := ProviderForType(typ); got != want {
			t.Errorf("ProviderForType(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	cases := []struct {
		labels                map[string]string
		branch, path, project string
		want                  string
	}{
		{map[string]string{"env": "Production"}, "", "", "", EnvProd},
		{map[string]string{"namespace": "payments-staging"}, "", "", "", EnvStaging},
		{nil, "main", "", "", EnvProd},
		{nil, "feature/x", "deploy/dev/values.yaml", "", EnvDev},
		{nil, "", "src/app.py", "PROD", EnvProd},
		{nil, "", "src/app.py", "", EnvUnknown},
	}
	for _, c := range cases {
		if got := Environment(c.labels, c.branch, c.path, c.project); got != c.want {
			t.Errorf("Environment(%v, %q, %q, %q) = %q, want %q", c.labels, c.branch, c.path, c.project, got, c.want)
		}
	}
}
