package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

func demoCmd() *cobra.Command {
	var samples string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Firebreak end to end against provider emulators and print each incident's timeline",
		Long: `Starts Firebreak in this process on a temporary embedded JetStream, with
emulators of the OpenAI, GitHub and Slack APIs and a signed-webhook receiver;
posts the signed sample GitHub secret-scanning webhooks from testdata/github;
and prints, per incident, the timeline (received → verified → revoked →
notified) and the time from receipt to revocation. Then publishes two keys
seen in logs — an AWS access key (deactivated by Firebreak's own IAM
principal) and a Groq key (no revocation API: escalated, its owner paged on
PagerDuty with the console URL). Exits 0 when every incident ended as
expected.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logOut := io.Discard
			if verbose {
				logOut = cmd.ErrOrStderr()
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), samples, newLogger(logOut, "info", "text"))
		},
	}
	cmd.Flags().StringVar(&samples, "samples", filepath.Join("testdata", "github"), "directory of sample GitHub webhook payloads")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show Firebreak's log")
	return cmd
}

type sample struct {
	file     string
	event    string
	delivery string
	body     []byte
	repo     string
	number   int64
	typ      string
	action   string
}

func loadSamples(dir string) ([]sample, error) {
	files, err := filepath.Glob(filepath.Join(dir, "alert-*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no sample payloads in %s (run the demo from the repository root, or pass --samples)", dir)
	}
	order := []string{"alert-created-openai.json", "alert-created-github-pat.json", "alert-publicly-leaked-openai.json", "alert-resolved-false-positive.json"}
	sort.Slice(files, func(i, j int) bool {
		return indexOf(order, filepath.Base(files[i])) < indexOf(order, filepath.Base(files[j]))
	})
	var out []sample
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var p struct {
			Action string `json:"action"`
			Alert  struct {
				Number     int64  `json:"number"`
				SecretType string `json:"secret_type"`
			} `json:"alert"`
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, sample{file: filepath.Base(f), event: "secret_scanning_alert", body: b,
			delivery: fmt.Sprintf("demo-%d-%d", time.Now().UnixNano(), i),
			repo:     p.Repository.FullName, number: p.Alert.Number, typ: p.Alert.SecretType, action: p.Action})
	}
	return out, nil
}

func indexOf(l []string, s string) int {
	for i, e := range l {
		if e == s {
			return i
		}
	}
	return len(l)
}

func runDemo(ctx context.Context, w io.Writer, samplesDir string, log *logrus.Logger) error {
	samples, err := loadSamples(samplesDir)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Firebreak demo: embedded JetStream (fsync always) + emulators of the OpenAI, GitHub, AWS, Groq, Slack and PagerDuty APIs (and more) + a signed-webhook receiver + a real SMTP server")
	st, err := stack.Start(ctx, stack.Options{Log: log})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(w, "Firebreak listening on %s\n\n", st.URL)

	// Each alert names a secret that exists at its provider's emulator. The
	// second OpenAI alert is the same key found in another repository.
	payments := st.OpenAI.AddProject("payments")
	research := st.OpenAI.AddProject("research")
	_, _ = st.OpenAI.AddKey(research, openaiemu.Owner{Type: "user", Name: "dana", Email: "dana@example.com"}) // an innocent bystander key
	raws := map[string]string{}
	var keep string // the key behind the alert people resolved as a false positive
	for _, s := range samples {
		owner, repo, _ := strings.Cut(s.repo, "/")
		raw := raws[s.typ]
		switch {
		case s.action == "resolved":
			raw, _ = st.OpenAI.AddKey(payments, openaiemu.Owner{Type: "user", Name: "ci-fixture"})
			keep = raw
		case raw != "":
		case s.typ == "openai_api_key":
			raw, _ = st.OpenAI.AddKey(payments, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
			raws[s.typ] = raw
		case strings.HasPrefix(s.typ, "github_"):
			raw = st.GitHub.AddToken("ghp_", "dev-alice")
			raws[s.typ] = raw
		default:
			return fmt.Errorf("%s: the demo has no emulator for secret type %s", s.file, s.typ)
		}
		st.GitHub.AddAlertNumber(owner, repo, s.number, s.typ, raw)
	}

	sent := time.Now()
	for _, s := range samples {
		code, body, err := st.PostGitHub(ctx, s.event, s.delivery, s.body)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "→ POST /v1/ingest/github  %-22s %-16s %s#%d  %d %s\n", s.event, s.action, s.repo, s.number, code, strings.TrimSpace(string(body)))
	}
	// GitHub redelivers on timeouts and on request: the same delivery is accepted once.
	code, body, err := st.PostGitHub(ctx, samples[0].event, samples[0].delivery, samples[0].body)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "→ redelivery of %s                                    %d %s\n\n", samples[0].delivery, code, strings.TrimSpace(string(body)))

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ids := map[string]bool{}
	var order []string
	for _, s := range samples {
		raw := raws[s.typ]
		if s.action == "resolved" {
			raw = keep
		}
		id := st.IncidentFor(raw)
		if !ids[id] {
			ids[id] = true
			order = append(order, id)
		}
	}
	var failed []string
	for _, id := range order {
		in, err := st.WaitIncident(wctx, id, func(in *incident.Incident) bool {
			return stack.Terminal(in) && (in.State != incident.Contained || in.NotifiedAt != nil)
		})
		if err != nil {
			return err
		}
		printTimeline(w, in)
		if in.State == incident.Failed {
			failed = append(failed, id)
		}
	}
	total := time.Since(sent)

	fmt.Fprintln(w, "What the provider emulators saw:")
	for _, d := range st.OpenAI.Deletions() {
		fmt.Fprintf(w, "  OpenAI   DELETE /v1/organization/projects/%s/%ss/%s\n", d.ProjectID, d.Kind, d.ID)
	}
	for _, r := range st.GitHub.Revocations() {
		fmt.Fprintf(w, "  GitHub   POST /credentials/revoke  (%s)\n", r.Hint)
	}
	fmt.Fprintf(w, "  Slack    %d message(s) to %s\n", len(st.Slack.Messages()), st.SlackHook.Channel)
	fmt.Fprintf(w, "  Webhook  %d signed deliveries accepted, %d rejected\n", len(st.Webhook.Deliveries()), len(st.Webhook.Rejections()))
	fmt.Fprintf(w, "\nAll %d incidents settled %s after the first webhook.\n", len(order), total.Round(time.Millisecond))

	// The demo checks its own story.
	var problems []string
	if n := len(st.OpenAI.Deletions()); n != 1 {
		problems = append(problems, fmt.Sprintf("OpenAI saw %d deletions, want exactly 1 (one key, two alerts, one redelivery)", n))
	}
	if n := len(st.GitHub.Revocations()); n != 1 {
		problems = append(problems, fmt.Sprintf("GitHub saw %d revocations, want 1", n))
	}
	if n := len(st.Slack.Messages()); n != 2 {
		problems = append(problems, fmt.Sprintf("Slack got %d messages, want 2 (one per revoked key)", n))
	}
	if !st.OpenAI.Live(keep) {
		problems = append(problems, "the key behind the alert resolved as a false positive was revoked")
	}
	if len(failed) > 0 {
		problems = append(problems, "incidents failed: "+strings.Join(failed, ", "))
	}
	more, err := demoLogLeaks(ctx, w, st)
	if err != nil {
		return err
	}
	problems = append(problems, more...)
	if len(problems) > 0 {
		return fmt.Errorf("demo checks failed:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// printTimeline prints an incident the way on-call reads it.
func printTimeline(w io.Writer, in *incident.Incident) {
	fmt.Fprintf(w, "incident %s  %s key %s  %s\n", in.ID, in.Provider, in.Redacted, strings.ToUpper(string(in.State)))
	for _, x := range in.Exposures {
		where := x.Location.Display
		if where == "" {
			where = x.Ref
		}
		fmt.Fprintf(w, "  seen at   %s (%s, %s)\n", where, x.Source, x.Environment)
	}
	t0 := in.FirstReceivedAt
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\treceived\t%s\n", offset(t0, &t0), in.Exposures[0].Ref)
	for _, s := range in.Steps {
		label := map[string]string{"provider.verify": "verified", "provider.revoke": "revoked"}[s.Uses]
		if strings.HasPrefix(s.Uses, "notify.") {
			label = "notified"
		}
		if label == "" {
			label = s.ID
		}
		if s.State != incident.StepSucceeded {
			label = s.ID + " " + string(s.State)
		} else if s.Outputs["escalated"] == true {
			label = "ESCALATED" // no revocation API: a person must act
		}
		detail := s.Detail
		if s.Error != "" {
			detail = s.Error
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s (%s, %s)\n", offset(t0, s.EndedAt), label, detail, s.Uses, s.Duration().Round(10*time.Microsecond))
	}
	tw.Flush()
	if in.Resolution != "" {
		fmt.Fprintf(w, "  resolution: %s\n", in.Resolution)
	}
	if ttr, ok := in.TimeToRevoke(); ok {
		fmt.Fprintf(w, "  time from receipt to revocation: %s\n", ttr.Round(10*time.Microsecond))
	}
	fmt.Fprintln(w)
}

func offset(t0 time.Time, t *time.Time) string {
	if t == nil {
		return "      -"
	}
	return fmt.Sprintf("+%7.1fms", float64(t.Sub(t0).Microseconds())/1000)
}
