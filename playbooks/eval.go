package playbooks

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Env is what `match.when` and step `if` expressions see:
//
//	exposure.environment == "prod" && steps.verify.outputs.live
type Env struct {
	Exposure *exposure.Event     `expr:"exposure"`
	Steps    map[string]StepView `expr:"steps"`
	Incident IncidentView        `expr:"incident"`
	Owner    Owner               `expr:"owner"`
}

// StepView is a finished step as expressions and templates see it.
type StepView struct {
	Outcome string         `expr:"outcome"` // succeeded | failed | skipped | dry_run
	Outputs map[string]any `expr:"outputs"`
}

// IncidentView is the incident as expressions and templates see it.
type IncidentView struct {
	ID           string   `expr:"id"`
	State        string   `expr:"state"`
	Severity     string   `expr:"severity"`
	Exposures    int      `expr:"exposures"`
	Environments []string `expr:"environments"`
	URL          string   `expr:"url"`
}

// Owner is who a leaked key belongs to, as far as Firebreak could tell, and
// how to reach them.
type Owner struct {
	Name      string `expr:"name"`
	Team      string `expr:"team"`
	Email     string `expr:"email"`
	Slack     string `expr:"slack"`
	PagerDuty string `expr:"pagerduty"`
	Service   string `expr:"service"`
	Jira      string `expr:"jira"`   // Jira project key for tickets
	GitHub    string `expr:"github"` // GitHub login or @org/team
	Rule      string `expr:"rule"`   // which resolution rule answered
}

// Data is what `with` templates see: {{ .Exposure.Secret.Redacted }},
// {{ .Steps.verify.Outputs.live }}, {{ .Owner.Slack }}, {{ .Incident.ID }}.
type Data struct {
	Exposure *exposure.Event
	Steps    map[string]StepView
	Incident IncidentView
	Owner    Owner
}

func compileExpr(src string) (*vm.Program, error) {
	return expr.Compile(src, expr.Env(Env{}), expr.AsBool(), expr.MaxNodes(500))
}

// Matches reports whether the playbook matches the exposure, and why not.
func (p *Playbook) Matches(e *exposure.Event, incident IncidentView) (bool, string) {
	m := &p.Match
	if len(m.Providers) > 0 && !slices.Contains(m.Providers, e.Secret.Provider) {
		return false, fmt.Sprintf("provider %q not in %v", e.Secret.Provider, m.Providers)
	}
	if len(m.Sources) > 0 && !slices.Contains(m.Sources, e.Source.Kind) {
		return false, fmt.Sprintf("source %q not in %v", e.Source.Kind, m.Sources)
	}
	if len(m.Environments) > 0 && !slices.Contains(m.Environments, e.Environment) {
		return false, fmt.Sprintf("environment %q not in %v", e.Environment, m.Environments)
	}
	if len(m.SecretTypes) > 0 && !slices.Contains(m.SecretTypes, e.Secret.Type) {
		return false, fmt.Sprintf("secret type %q not in %v", e.Secret.Type, m.SecretTypes)
	}
	if m.when != nil {
		ok, err := runBool(m.when, Env{Exposure: e, Incident: incident, Steps: map[string]StepView{}})
		if err != nil {
			return false, fmt.Sprintf("when: %v", err)
		}
		if !ok {
			return false, fmt.Sprintf("when %q is false", m.When)
		}
	}
	return true, "matched"
}

// Condition evaluates the step's `if`; a step without one always runs.
func (s *Step) Condition(env Env) (bool, error) {
	if s.cond == nil {
		return true, nil
	}
	return runBool(s.cond, env)
}

func runBool(p *vm.Program, env Env) (bool, error) {
	if env.Steps == nil {
		env.Steps = map[string]StepView{}
	}
	out, err := expr.Run(p, env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// Render renders the step's `with` parameters: templates become strings,
// lists and maps are rendered element by element, literals pass through.
func (s *Step) Render(d Data) (map[string]any, error) {
	out := make(map[string]any, len(s.With))
	for k, v := range s.With {
		r, err := renderValue(v, d)
		if err != nil {
			return nil, fmt.Errorf("with.%s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

func renderValue(v any, d Data) (any, error) {
	switch v := v.(type) {
	case *Template:
		return v.Render(d)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renderValue(e, d)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := renderValue(e, d)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// Render executes the template.
func (t *Template) Render(d Data) (string, error) {
	if t.t == nil {
		return t.Source, nil
	}
	var b bytes.Buffer
	if err := t.t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

func parseTemplate(src string) (*Template, error) {
	if !strings.Contains(src, "{{") {
		return &Template{Source: src}, nil
	}
	t, err := template.New("with").Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	// A trial render against empty data catches references to fields that do
	// not exist (".Exposure.Secret.Redactd") at load time rather than mid-incident.
	var sink bytes.Buffer
	if err := t.Execute(&sink, Data{Exposure: &exposure.Event{}, Steps: map[string]StepView{}}); err != nil &&
		strings.Contains(err.Error(), "can't evaluate field") {
		return nil, err
	}
	return &Template{Source: src, t: t}, nil
}
