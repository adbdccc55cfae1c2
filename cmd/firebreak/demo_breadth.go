package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// demoLogLeaks is the second act of the demo: two keys seen in logs rather
// than in GitHub — an AWS access key (revoked by Firebreak's own IAM
// principal; its owner found by the owners file's log-label rule) and a Groq
// key (Groq has no revocation API: escalated, and the owner paged with the
// console URL). It returns what did not go as the story says.
func demoLogLeaks(ctx context.Context, w io.Writer, st *stack.Stack) ([]string, error) {
	b := st.Breadth
	b.AWS.AddUser("checkout-svc", false)
	akid, sk := b.AWS.AddKey("checkout-svc")
	groq := b.Groq.AddKey()
	fmt.Fprintln(w, "Leaks seen in logs (sealed exposures on the bus, as the log ingesters publish them):")
	awsID, err := st.PublishLeak(ctx, stack.Leak{Source: exposure.SourceLoki, Provider: "aws", Type: "aws_secret_access_key", Raw: sk, KeyID: akid,
		Location: exposure.Location{Stream: `{app="checkout", namespace="checkout"}`, Labels: map[string]string{"namespace": "checkout", "env": "prod"}}})
	if err != nil {
		return nil, err
	}
	groqID, err := st.PublishSecret(ctx, exposure.SourceLogs, "groq", "groq_api_key", groq, exposure.Location{Stream: "worker.log"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "→ loki  aws key %s  → incident %s\n→ logs  groq key       → incident %s\n\n", akid, awsID, groqID)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var problems []string
	for _, id := range []string{awsID, groqID} {
		in, err := st.WaitIncident(wctx, id, stack.Terminal)
		if err != nil {
			return nil, err
		}
		printTimeline(w, in)
		if in.Owner != nil {
			fmt.Fprintf(w, "  owner: %s (rule %s)\n\n", firstNonEmptyDemo(in.Owner.Team, in.Owner.Name, in.Owner.Email), in.Owner.Rule)
		}
	}
	fmt.Fprintf(w, "  AWS        access key %s is now %s (UpdateAccessKey signed by Firebreak's principal)\n", akid, b.AWS.KeyStatus(akid))
	if a, ok := b.PagerDuty.Alert("security", groqID); ok {
		fmt.Fprintf(w, "  PagerDuty  %s alert on service security: %s\n", a.Status, a.Summary)
	}
	if b.AWS.KeyStatus(akid) != "Inactive" {
		problems = append(problems, "the AWS key leaked in logs was not deactivated")
	}
	if in, _, err := st.App.Incidents.Get(ctx, groqID); err != nil || in.State != incident.Completed || in.RevokedAt != nil {
		problems = append(problems, "the Groq key did not end as an escalation")
	}
	if a, ok := b.PagerDuty.Alert("security", groqID); !ok || a.Status != "triggered" {
		problems = append(problems, "nobody was paged about the Groq key that needs a person")
	}
	if !b.Groq.Live(groq) {
		problems = append(problems, "the Groq key changed although Groq has no revocation API")
	}
	fmt.Fprintln(w)
	return problems, nil
}

func firstNonEmptyDemo(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return "unknown"
}
