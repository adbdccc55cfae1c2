package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// TestGitHubBackfillCommand: alerts created while no webhook reached
// Firebreak are found by `firebreak github backfill --org`, their keys
// revoked and the alerts resolved; a second run publishes nothing.
func TestGitHubBackfillCommand(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	st, err := stack.Start(context.Background(), stack.Options{DataDir: t.TempDir(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys []string
	for i := int64(1); i <= 3; i++ {
		raw, _ := st.LeakOpenAI("acme/payments-api", i)
		keys = append(keys, raw)
	}
	tokenFile := filepath.Join(st.App.Cfg.DataDir, "admin-token")
	out, stderr, err := run("github", "backfill", "--org", "acme", "--server", st.URL, "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "published 3, already seen 0") {
		t.Fatalf("backfill: %q %q %v", out, stderr, err)
	}
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		in, err := st.WaitIncident(ctx, st.IncidentFor(k), stack.Terminal)
		cancel()
		if err != nil || in.State != incident.Contained {
			t.Fatalf("incident of a backfilled alert: %v %v", in, err)
		}
		if st.OpenAI.Live(k) {
			t.Fatal("a backfilled alert's key is still live")
		}
	}
	// The alerts were written back (resolved as revoked): a second run lists
	// no open alert and publishes nothing.
	for i := int64(1); i <= 3; i++ {
		if s, res, _ := st.GitHub.AlertState("acme", "payments-api", i); s != "resolved" || res != "revoked" {
			t.Fatalf("alert %d after revocation: %s %s", i, s, res)
		}
	}
	out, _, err = run("github", "backfill", "--org", "acme", "--server", st.URL, "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "published 0") {
		t.Fatalf("second backfill: %q %v", out, err)
	}
	if _, _, err = run("github", "backfill", "--repo", "not-a-repo", "--server", st.URL, "--token-file", tokenFile); err == nil || !strings.Contains(fmt.Sprint(err), "owner/name") {
		t.Fatalf("bad --repo: %v", err)
	}
}
