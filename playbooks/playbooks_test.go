package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

func testCatalog() *Catalog {
	return NewCatalog([]string{"openai", "github", "anthropic"}, []string{"github", "logs", "jira"},
		ActionSpec{Name: "provider.verify", Outputs: []string{"live"}},
		ActionSpec{Name: "provider.revoke", SideEffect: true},
		ActionSpec{Name: "notify.slack", SideEffect: true, Fields: []FieldSpec{
			{Name: "text", Type: TypeString, Required: true},
			{Name: "channel", Type: TypeString},
			{Name: "severity", Type: TypeString, Enum: []string{"info", "warning", "critical"}, Default: "warning"},
			{Name: "mention", Type: TypeBool},
		}},
		ActionSpec{Name: "vault.rotate", SideEffect: true, Fields: []FieldSpec{
			{Name: "path", Type: TypeString, Required: true},
			{Name: "max_versions", Type: TypeInt},
			{Name: "labels", Type: TypeMap},
			{Name: "targets", Type: TypeList},
		}},
	)
}

const good = `apiVersion: firebreak/v1
kind: Playbook
name: genai-key-exposed
match:
  providers: [openai, anthropic]
  sources: [github, logs, jira]
  when: 'exposure.environment != "dev"'
steps:
  - id: verify
    uses: provider.verify
  - id: revoke
    uses: provider.revoke
    if: steps.verify.outputs.live
    retry: {attempts: 6, backoff: exponential, initial: 1s, max: 1m}
    timeout: 20s
  - id: rotate
    uses: vault.rotate
    with: {path: 'apps/{{ .Owner.Service }}/openai', labels: {env: '{{ .Exposure.Environment }}'}, targets: [a, '{{ .Incident.ID }}']}
  - id: notify
    uses: notify.slack
    with: {channel: '#sec-incidents', text: 'Revoked {{ .Exposure.Secret.Redacted }} found at {{ .Exposure.Location.URL }}'}
on_failure:
  - uses: notify.slack
    with: {text: 'failed {{ .Incident.ID }}'}
`

func TestParseGood(t *testing.T) {
	pbs, errs := Parse("good.yaml", []byte(good), testCatalog())
	if len(errs) > 0 {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	pb := pbs[0]
	if pb.Name != "genai-key-exposed" || len(pb.Steps) != 4 || len(pb.OnFailure) != 1 {
		t.Fatalf("parsed %+v", pb)
	}
	rev := pb.Steps[1]
	if rev.Retry.Attempts != 6 || rev.Retry.Max != time.Minute || rev.Timeout != 20*time.Second {
		t.Fatalf("revoke policy %+v timeout %s", rev.Retry, rev.Timeout)
	}
	if pb.OnFailure[0].ID != "on_failure_0" {
		t.Fatalf("on_failure id %q", pb.OnFailure[0].ID)
	}
	if pb.Steps[3].With["severity"] != "warning" {
		t.Fatalf("default not applied: %v", pb.Steps[3].With)
	}

	e := &exposure.Event{Environment: "prod", Source: exposure.Source{Kind: "logs"},
		Secret: exposure.Secret{Provider: "openai", Redacted: "sk-proj-…x9Qa"}, Location: exposure.Location{URL: "https://x/y"}}
	if ok, why := pb.Matches(e, IncidentView{}); !ok {
		t.Fatalf("should match: %s", why)
	}
	e.Environment = "dev"
	if ok, why := pb.Matches(e, IncidentView{}); ok || !strings.Contains(why, "when") {
		t.Fatalf("dev should not match (%s)", why)
	}
	e.Environment = "prod"
	e.Secret.Provider = "github"
	if ok, why := pb.Matches(e, IncidentView{}); ok || !strings.Contains(why, "provider") {
		t.Fatalf("github should not match (%s)", why)
	}

	env := Env{Exposure: e, Steps: map[string]StepView{"verify": {Outputs: map[string]any{"live": true}}}}
	if ok, err := rev.Condition(env); err != nil || !ok {
		t.Fatalf("condition live: %v %v", ok, err)
	}
	env.Steps["verify"] = StepView{Outputs: map[string]any{"live": false}}
	if ok, _ := rev.Condition(env); ok {
		t.Fatal("condition should be false for a dead key")
	}

	out, err := pb.Steps[3].Render(Data{Exposure: e})
	if err != nil {
		t.Fatal(err)
	}
	if out["text"] != "Revoked sk-proj-…x9Qa found at https://x/y" || out["channel"] != "#sec-incidents" {
		t.Fatalf("rendered %v", out)
	}
	out, err = pb.Steps[2].Render(Data{Exposure: e, Owner: Owner{Service: "billing"}, Incident: IncidentView{ID: "inc-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["path"] != "apps/billing/openai" || out["labels"].(map[string]any)["env"] != "prod" || out["targets"].([]any)[1] != "inc-1" {
		t.Fatalf("rendered %v", out)
	}
}

// TestParseErrors is the table of bad playbooks with the exact positions
// users see from `firebreak playbook lint`.
func TestParseErrors(t *testing.T) {
	head := "apiVersion: firebreak/v1\nkind: Playbook\nname: p\n"
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown top-level key", head + "stepz: []\nsteps:\n  - {id: v, uses: provider.verify}\n",
			[]string{"x.yaml:4:1: stepz: unknown key (allowed: apiVersion, kind, name, description, match, steps, on_failure)"}},
		{"wrong apiVersion and kind", "apiVersion: firebreak/v2\nkind: Playbok\nname: p\nsteps:\n  - {id: v, uses: provider.verify}\n",
			[]string{`x.yaml:1:13: apiVersion: must be "firebreak/v1", got "firebreak/v2"`, `x.yaml:2:7: kind: must be "Playbook", got "Playbok"`}},
		{"missing required", "kind: Playbook\n", []string{
			"x.yaml:1:1: apiVersion: is required", "x.yaml:1:1: name: is required", "x.yaml:1:1: steps: is required"}},
		{"bad name", "apiVersion: firebreak/v1\nkind: Playbook\nname: My_Playbook\nsteps:\n  - {id: v, uses: provider.verify}\n",
			[]string{`x.yaml:3:7: name: must be lowercase letters, digits and '-' (at most 63), got "My_Playbook"`}},
		{"unknown action", head + "steps:\n  - id: v\n    uses: provider.verfy\n",
			[]string{`x.yaml:6:11: steps[0].uses: unknown action "provider.verfy" (known: notify.slack, provider.revoke, provider.verify, vault.rotate)`}},
		{"unknown step key", head + "steps:\n  - id: v\n    uses: provider.verify\n    retries: 3\n",
			[]string{"x.yaml:7:5: steps[0].retries: unknown key (allowed: id, name, uses, with, if, when, retry, timeout)"}},
		{"duplicate and bad ids", head + "steps:\n  - id: v\n    uses: provider.verify\n  - id: v\n    uses: provider.revoke\n  - id: Bad-Id\n    uses: provider.revoke\n",
			[]string{`x.yaml:7:9: steps[1].id: duplicate step id "v"`,
				`x.yaml:9:9: steps[2].id: must start with a letter and hold only lowercase letters, digits and '_', got "Bad-Id"`}},
		{"missing uses and id", head + "steps:\n  - name: hello\n",
			[]string{"x.yaml:5:5: steps[0].id: is required", "x.yaml:5:5: steps[0].uses: is required"}},
		{"missing uses reports the rest too", head + "steps:\n  - name: hello\n    if: steps.nosuch.outputs.live\n    when: 'true'\n    retry: {attempts: 0}\n",
			[]string{"x.yaml:5:5: steps[0].id: is required", "x.yaml:5:5: steps[0].uses: is required",
				`x.yaml:6:9: steps[0].if: steps.nosuch: no earlier step has id "nosuch"`,
				"x.yaml:7:11: steps[0].when: set either if or when, not both",
				`x.yaml:8:23: steps[0].retry.attempts: must be an integer from 1 to 20, got int "0"`}},
		{"unknown match source and env", head + "match:\n  sources: [github, email]\n  environments: [prod, qa]\nsteps:\n  - {id: v, uses: provider.verify}\n",
			[]string{`x.yaml:5:21: match.sources[1]: unknown value "email" (known: github, logs, jira)`,
				`x.yaml:6:24: match.environments[1]: unknown value "qa" (known: prod, staging, dev, unknown)`}},
		{"bad when expression", head + "match:\n  when: 'exposure.environmnt == \"prod\"'\nsteps:\n  - {id: v, uses: provider.verify}\n",
			[]string{"x.yaml:5:19: match.when: expression: type exposure.Event has no field environmnt"}},
		{"if naming a later step", head + "steps:\n  - id: revoke\n    uses: provider.revoke\n    if: steps.verify.outputs.live\n  - id: verify\n    uses: provider.verify\n",
			[]string{`x.yaml:7:9: steps[0].if: steps.verify: no earlier step has id "verify"`}},
		{"bad retry and timeout", head + "steps:\n  - id: v\n    uses: provider.verify\n    retry: {attempts: 0, backoff: linear, initial: 10s, max: 1s}\n    timeout: forever\n",
			[]string{"x.yaml:7:12: steps[0].retry: max (1s) is less than initial (10s)",
				`x.yaml:7:23: steps[0].retry.attempts: must be an integer from 1 to 20, got int "0"`,
				`x.yaml:7:35: steps[0].retry.backoff: must be "constant" or "exponential", got "linear"`,
				`x.yaml:8:14: steps[0].timeout: must be a duration such as "30s" or "1m", got "forever"`}},
		{"with: unknown, missing, wrong types, bad template", head + "steps:\n  - id: n\n    uses: notify.slack\n    with:\n      chanel: x\n      mention: yes-please\n      severity: loud\n  - id: r\n    uses: vault.rotate\n    with: {path: '{{ .Exposure.Secret.Redactd }}', max_versions: many}\n",
			[]string{"x.yaml:8:7: steps[0].with.chanel: unknown key (allowed: text, channel, severity, mention)",
				"x.yaml:8:7: steps[0].with.text: is required by notify.slack",
				`x.yaml:9:16: steps[0].with.mention: must be true or false, got str "yes-please"`,
				`x.yaml:10:17: steps[0].with.severity: must be one of info, warning, critical, got "loud"`,
				"x.yaml:13:18: steps[1].with.path: template: can't evaluate field Redactd in type exposure.Secret (at <.Exposure.Secret.Redactd>)",
				`x.yaml:13:66: steps[1].with.max_versions: must be an integer, got str "many"`}},
		{"template syntax", head + "steps:\n  - id: n\n    uses: notify.slack\n    with: {text: 'hi {{ .Incident.ID '}\n",
			[]string{`x.yaml:7:18: steps[0].with.text: template: unclosed action`}},
		{"invalid yaml", head + "steps:\n  - id: v\n   uses: x\n",
			[]string{"x.yaml:6:4: invalid YAML: value is not allowed in this context"}},
		{"duplicate keys", head + "name: q\nmatch:\n  sources: [github]\n  sources: [logs]\nsteps:\n  - id: v\n    uses: provider.verify\n    id: w\n    retry: {max: 1s,\n      max: 2s}\n  - id: r\n    uses: vault.rotate\n    with:\n      path: a\n      labels: {env: prod, env: dev}\n      path: b\non_failure:\n  - uses: provider.revoke\non_failure: []\n",
			[]string{"x.yaml:4:1: name: duplicate key (first at line 3)",
				"x.yaml:7:3: match.sources: duplicate key (first at line 6)",
				"x.yaml:11:5: steps[0].id: duplicate key (first at line 9)",
				"x.yaml:13:7: steps[0].retry.max: duplicate key (first at line 12)",
				"x.yaml:18:27: steps[1].with.labels.env: duplicate key (first at line 18)",
				"x.yaml:19:7: steps[1].with.path: duplicate key (first at line 17)",
				"x.yaml:22:1: on_failure: duplicate key (first at line 20)"}},
		{"scalars of the wrong type", head + "steps:\n  - id: v\n    uses: provider.verify\n    retry: {attempts: \"3\", initial: 0, max: true}\n    timeout: 0\n  - id: w\n    uses: provider.verify\n    retry: {attempts: 2.0}\n",
			[]string{`x.yaml:7:23: steps[0].retry.attempts: must be an integer from 1 to 20, got str "3"`,
				`x.yaml:7:37: steps[0].retry.initial: must be a duration such as "30s" or "1m", got int "0"`,
				`x.yaml:7:45: steps[0].retry.max: must be a duration such as "30s" or "1m", got bool "true"`,
				`x.yaml:8:14: steps[0].timeout: must be a duration such as "30s" or "1m", got int "0"`,
				`x.yaml:11:23: steps[1].retry.attempts: must be an integer from 1 to 20, got float "2.0"`}},
		{"initial above the default max", head + "steps:\n  - id: v\n    uses: provider.verify\n    retry: {initial: 2m}\n",
			[]string{"x.yaml:7:12: steps[0].retry: initial 2m0s exceeds the default max 1m0s; set max"}},
		{"templates naming steps that are not earlier", head + "steps:\n" +
			"  - id: verify\n    uses: provider.verify\n" +
			"  - id: n\n    uses: notify.slack\n    with:\n" +
			"      text: '{{ .Steps.verify.Outputs.live }} {{ .Steps.nosuch.Outputs.x }} {{ .Steps.n.Outcome }} {{ .Steps.later.Outcome }}'\n" +
			"      channel: '{{ $.Steps.typo.Outcome }}{{ index .Steps \"other\" }}{{ range .Steps }}{{ .Steps.x }}{{ end }}{{ with .Steps.verify }}{{ .Outcome }}{{ end }}'\n" +
			"  - id: later\n    uses: vault.rotate\n" +
			"    with: {path: '{{ .Steps.verify.Outcome }}', labels: {a: '{{ .Steps.x1.Outcome }}'}, targets: ['{{ .Steps.x2.Outcome }}']}\n" +
			"on_failure:\n  - uses: notify.slack\n    with: {text: '{{ .Steps.later.Outcome }}{{ .Steps.nope.Outcome }}'}\n",
			[]string{`x.yaml:10:13: steps[1].with.text: template: .Steps.nosuch: no earlier step has id "nosuch"`,
				`x.yaml:10:13: steps[1].with.text: template: .Steps.n: no earlier step has id "n"`,
				`x.yaml:10:13: steps[1].with.text: template: .Steps.later: no earlier step has id "later"`,
				`x.yaml:11:16: steps[1].with.channel: template: .Steps.typo: no earlier step has id "typo"`,
				`x.yaml:11:16: steps[1].with.channel: template: .Steps.other: no earlier step has id "other"`,
				`x.yaml:14:61: steps[2].with.labels.a: template: .Steps.x1: no earlier step has id "x1"`,
				`x.yaml:14:99: steps[2].with.targets[0]: template: .Steps.x2: no earlier step has id "x2"`,
				`x.yaml:17:18: on_failure[0].with.text: template: .Steps.nope: no earlier step has id "nope"`}},
		{"steps not a list", head + "steps: {id: v}\n",
			[]string{"x.yaml:4:8: steps: must be a list of steps, got a mapping"}},
		{"empty steps", head + "steps: []\n",
			[]string{"x.yaml:4:8: steps: must have at least one step"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := Parse("x.yaml", []byte(c.src), testCatalog())
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestParseSyntaxErrors: a YAML syntax error points at the offending line
// and column, not at the start of the enclosing block, in every document.
func TestParseSyntaxErrors(t *testing.T) {
	head := "apiVersion: firebreak/v1\nkind: Playbook\nname: p\n"
	ok := head + "steps:\n  - {id: v, uses: provider.verify}\n"
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"bad indentation", head + "steps:\n  - id: v\n    uses: provider.verify\n   bad: indent\n",
			"x.yaml:7:4: invalid YAML: value is not allowed in this context"},
		{"unclosed flow sequence", head + "steps: [{id: v, uses: provider.verify}\n",
			"x.yaml:4:8: invalid YAML: sequence end token ']' not found"},
		{"unclosed flow sequence before the next key", head + "match:\n  providers: [openai, github\nsteps:\n  - {id: v, uses: provider.verify}\n",
			"x.yaml:6:1: invalid YAML: ',' or ']' must be specified"},
		{"unterminated double-quoted string", head + "steps:\n  - id: v\n    uses: \"provider.verify\n  - id: w\n",
			"x.yaml:6:11: invalid YAML: could not find end character of double-quoted text"},
		{"unterminated single-quoted string", head + "steps:\n  - id: v\n    uses: 'provider.verify\n",
			"x.yaml:6:11: invalid YAML: could not find end character of single-quoted text"},
		{"tab indentation", head + "steps:\n  - id: v\n\tuses: provider.verify\n",
			`x.yaml:6:1: invalid YAML: found character '\t' that cannot start any token`},
		{"mapping value in a plain scalar", head + "description: a: b\n" + "steps:\n  - {id: v, uses: provider.verify}\n",
			"x.yaml:4:14: invalid YAML: mapping value is not allowed in this context"},
		{"in the third document", ok + "---\n" + ok + "---\n" + head + "steps:\n  - id: v\n    uses: provider.verify\n   bad: indent\n",
			"x.yaml:19:4: invalid YAML: value is not allowed in this context"},
		{"unknown anchor: at its alias", head + "steps: *nosuch\n",
			"x.yaml:4:8: invalid YAML: unknown anchor 'nosuch' referenced"},
		{"unknown anchor, in a flow sequence", head + "match:\n  providers: [openai, *p]\nsteps: []\n",
			"x.yaml:5:23: invalid YAML: unknown anchor 'p' referenced"},
		{"mapping value on a too deeply indented line: its colon", head + "steps:\n  - id: v\n     uses: provider.verify\n",
			"x.yaml:6:10: invalid YAML: mapping values are not allowed in this context"},
		// goccy/go-yaml would take seconds to locate this one: yaml.v3's position.
		{"too deeply nested to locate", strings.Repeat("- [", 30000),
			"x.yaml:1:1: invalid YAML: did not find expected node content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := Parse("x.yaml", []byte(c.src), testCatalog())
			if errs.Error() != c.want {
				t.Errorf("errors:\n%v\nwant:\n%s", errs, c.want)
			}
		})
	}
}

func TestLoadBuiltinsAndOverride(t *testing.T) {
	cat := NewCatalog(nil, nil,
		ActionSpec{Name: "provider.verify"}, ActionSpec{Name: "provider.revoke"},
		ActionSpec{Name: "notify.slack", Fields: []FieldSpec{{Name: "text", Type: TypeString}, {Name: "severity", Type: TypeString}, {Name: "channel", Type: TypeString}}},
		ActionSpec{Name: "notify.webhook", Fields: []FieldSpec{{Name: "event", Type: TypeString}}},
		// The write-back built-ins (issue 4).
		ActionSpec{Name: "github.resolve_alert", Fields: []FieldSpec{{Name: "resolution", Type: TypeString}, {Name: "comment", Type: TypeString}}},
		ActionSpec{Name: "github.redact_comment"}, ActionSpec{Name: "jira.redact"},
	)
	// The built-ins of the providers in breadth page and mail the owner.
	notifyFields := []FieldSpec{{Name: "notifier", Type: TypeString}, {Name: "text", Type: TypeString}, {Name: "title", Type: TypeString},
		{Name: "severity", Type: TypeString}, {Name: "channel", Type: TypeString}, {Name: "to", Type: TypeString}, {Name: "action", Type: TypeString}}
	for _, k := range []string{"notify.pagerduty", "notify.slackbot", "notify.email"} {
		cat.Actions[k] = ActionSpec{Name: k, Fields: notifyFields}
	}
	cat.Actions["provider.revoke"] = ActionSpec{Name: "provider.revoke", Fields: []FieldSpec{{Name: "delete", Type: TypeBool}}}
	set, err := Load(cat, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Get("openai-key-exposed"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	override := strings.Replace(good, "name: genai-key-exposed", "name: openai-key-exposed", 1)
	override = strings.NewReplacer("  - id: rotate\n    uses: vault.rotate\n", "", "    with: {path: 'apps/{{ .Owner.Service }}/openai', labels: {env: '{{ .Exposure.Environment }}'}, targets: [a, '{{ .Incident.ID }}']}\n", "").Replace(override)
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err = Load(cat, true, dir)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := set.Get("openai-key-exposed")
	if pb.Builtin || len(pb.Match.Providers) != 2 {
		t.Fatalf("directory playbook did not replace the built-in: %+v", pb)
	}
	// Two files with the same name is an error naming both places.
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(cat, true, dir)
	if err == nil || !strings.Contains(err.Error(), `playbook "openai-key-exposed" is already defined at `) {
		t.Fatalf("duplicate names: %v", err)
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{Attempts: 6, Backoff: "exponential", Initial: time.Second, Max: 5 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second} {
		if got := r.Delay(n, 0); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
	if got := r.Delay(1, 3*time.Second); got != 3*time.Second {
		t.Errorf("Retry-After not honoured: %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("apiVersion: firebreak/v1\nkind: Playbook\nname: p\nsteps: [{id: a, uses: x, if: '1 +'}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	cat := testCatalog()
	f.Fuzz(func(t *testing.T, b []byte) {
		pbs, errs := Parse("f.yaml", b, cat)
		for _, e := range errs {
			if e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", e)
			}
		}
		if len(errs) == 0 && len(pbs) == 0 {
			t.Fatal("no playbooks and no errors")
		}
	})
}
