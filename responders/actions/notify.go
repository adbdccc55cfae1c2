package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
	"github.com/firebreak-sec/firebreak/responders/incident"
	"github.com/firebreak-sec/firebreak/responders/step"
)

// Notify is a notify.<kind> action over the configured notifiers of that kind,
// by name ("default" unless the step names one).
type Notify struct {
	Kind      string // "slack", "webhook"
	Notifiers map[string]notify.Notifier
	// IncidentURL, when set, renders a link to an incident page.
	IncidentURL func(id string) string
}

// Spec implements step.Action.
func (a Notify) Spec() playbooks.ActionSpec {
	fields := []playbooks.FieldSpec{
		{Name: "notifier", Type: playbooks.TypeString, Default: "default", Description: "which configured " + a.Kind + " notifier to use"},
		{Name: "text", Type: playbooks.TypeString, Description: "message text (a template)"},
		{Name: "severity", Type: playbooks.TypeString, Default: "warning", Enum: []string{"info", "warning", "critical"}},
		{Name: "event", Type: playbooks.TypeString, Description: "event name for receivers, e.g. incident.contained"},
	}
	fields = append(fields, playbooks.FieldSpec{Name: "title", Type: playbooks.TypeString, Description: "title/summary override (a template)"})
	switch a.Kind {
	case "slack":
		fields = append(fields, playbooks.FieldSpec{Name: "channel", Type: playbooks.TypeString, Description: "channel override"})
	case "slackbot":
		fields = append(fields, playbooks.FieldSpec{Name: "channel", Type: playbooks.TypeString,
			Description: "channel (#name or C…) or user id (U…) to post to, e.g. '{{ .Owner.Slack }}'"})
	case "email":
		fields = append(fields,
			playbooks.FieldSpec{Name: "to", Type: playbooks.TypeString, Description: "recipients, comma-separated, e.g. '{{ .Owner.Email }}'"},
			playbooks.FieldSpec{Name: "subject", Type: playbooks.TypeString, Description: "subject override"})
	case "pagerduty":
		fields = append(fields, playbooks.FieldSpec{Name: "action", Type: playbooks.TypeString, Default: "trigger",
			Enum: []string{"trigger", "acknowledge", "resolve"}, Description: "Events API v2 event_action; the incident id is the dedup key"})
	case "jira":
		fields = append(fields, playbooks.FieldSpec{Name: "project", Type: playbooks.TypeString, Description: "project key override, e.g. '{{ .Owner.Jira }}'"})
	case "github_issue":
		fields = append(fields, playbooks.FieldSpec{Name: "repo", Type: playbooks.TypeString, Description: "owner/repo override"})
	}
	return playbooks.ActionSpec{
		Name:        "notify." + a.Kind,
		Description: "Tell people about the incident through a " + a.Kind + " notifier.",
		Fields:      fields,
		Outputs:     []string{"notifier"},
		SideEffect:  true,
	}
}

// Run implements step.Action.
func (a Notify) Run(ctx context.Context, in *step.Input) (step.Result, error) {
	name := in.String("notifier", "default")
	if name == "" { // a template that rendered empty ('{{ .Owner.PagerDuty }}' with no owner)
		name = "default"
	}
	m := Message(in, a.IncidentURL)
	n, ok := a.Notifiers[name]
	if !ok || in.DryRun {
		why := fmt.Sprintf("no %s notifier %q is configured", a.Kind, name)
		if in.DryRun {
			why = "dry-run requested"
		}
		return step.Result{DryRun: true, Detail: "dry-run: " + why + "; would send: " + m.Text,
			Outputs: map[string]any{"notifier": name, "dry_run": true}}, nil
	}
	retry, err := n.Notify(ctx, m)
	if err != nil {
		class := providers.Permanent
		if retry {
			class = providers.Retryable
		}
		_, after := providers.Classify(err)
		return step.Result{}, &providers.Error{Provider: a.Kind, Op: "notify", Class: class, RetryAfter: after, Err: err}
	}
	return step.Result{Detail: "sent through " + a.Kind + " notifier " + name,
		Outputs: map[string]any{"notifier": name}, Effect: step.EffectNotified}, nil
}

// Message builds the notification for a step from the exposure, the incident
// so far and the step's rendered parameters. It carries only the redacted hint.
func Message(in *step.Input, incidentURL func(string) string) notify.Message {
	e := in.Exposure
	m := notify.Message{
		Incident:    in.Incident.ID,
		Correlation: e.Correlation,
		Severity:    in.String("severity", "warning"),
		State:       string(in.Incident.State),
		Provider:    e.Secret.Provider,
		SecretType:  e.Secret.Type,
		Redacted:    e.Secret.Redacted,
		Where:       e.Location.Display,
		WhereURL:    e.Location.URL,
		Channel:     in.String("channel", ""),
		Text:        in.String("text", ""),
		At:          time.Now().UTC(),
		Fields:      map[string]string{"environment": e.Environment, "source": e.Source.Kind},
	}
	if ev := in.String("event", ""); ev != "" {
		m.Fields["event"] = ev
	}
	// Destination overrides of the other notifier kinds travel in Channel.
	for _, k := range []string{"to", "project", "repo"} {
		if v := strings.TrimSpace(in.String(k, "")); v != "" {
			m.Channel = v
		}
	}
	for _, k := range []string{"action", "subject"} {
		if v := in.String(k, ""); v != "" {
			m.Fields[k] = v
		}
	}
	if o := in.Owner; o.Rule != "" && o.Rule != "none" {
		m.Fields["owner"] = firstOf(o.Team, o.Name, o.Email, o.GitHub)
		m.Fields["owner_rule"] = o.Rule
	}
	if incidentURL != nil {
		m.Fields["incident_url"] = incidentURL(in.Incident.ID)
	}
	m.Title = fmt.Sprintf("Leaked %s key %s", e.Secret.Provider, e.Secret.Redacted)
	if t := in.String("title", ""); t != "" {
		m.Title = t
	}
	m.Actions = Actions(in.Incident)
	if m.Text == "" {
		m.Text = m.Title
		if len(m.Actions) > 0 {
			m.Text += ": " + m.Actions[len(m.Actions)-1]
		}
	}
	return m
}

// Actions summarises what the incident's steps did so far, for people.
func Actions(in *incident.Incident) []string {
	var out []string
	for _, s := range in.Steps {
		if s.State == incident.StepStarted || s.Uses == "" || len(s.Uses) > 7 && s.Uses[:7] == "notify." {
			continue
		}
		line := fmt.Sprintf("%s: %s", s.ID, s.State)
		if s.Detail != "" {
			line += " (" + s.Detail + ")"
		} else if s.Error != "" {
			line += " (" + s.Error + ")"
		}
		out = append(out, line)
	}
	return out
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
