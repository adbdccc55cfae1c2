package stack_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// firebreakBin is the firebreak binary, built once per test binary.
func firebreakBin(t *testing.T) string { return testbin.Firebreak(t) }

// runCLI runs the firebreak binary against the stack's serve (its URL and
// admin token file) and returns the combined output and exit status.
func runCLI(t *testing.T, e *env, args ...string) (string, int) {
	t.Helper()
	full := append(args, "--url", e.URL, "--token-file", e.App.AdminTokenFile)
	cmd := exec.Command(firebreakBin(t), full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestCLIAgainstServe(t *testing.T) {
	e := start(t, stack.Options{})
	_, _, id := leakAlert(t, e, "acme/payments-api", 71, "d-cli")
	waitState(t, e, id, incident.Contained)

	out, code := runCLI(t, e, "incidents", "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "contained") || !strings.Contains(out, "revoke ✓") {
		t.Fatalf("incidents list: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "incidents", "list", "--output", "json", "--state", "failed")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("incidents list --state failed -o json: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "incidents", "show", id)
	for _, want := range []string{"incident " + id, "CONTAINED", "seen at", "acme/payments-api", "received", "matched", "verified", "revoked", "notified", "time from receipt to revocation"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("incidents show lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	out, code = runCLI(t, e, "replay", id, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry-run: 1 exposure(s)") || !strings.Contains(out, "+ openai-key-exposed: matches") ||
		!strings.Contains(out, "- github-token-exposed: does not match") || !strings.Contains(out, "done: already succeeded") {
		t.Fatalf("replay --dry-run: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "replay", id)
	if code != 0 || !strings.Contains(out, "replayed") || !strings.Contains(out, "incident "+id+": contained") {
		t.Fatalf("replay: %d\n%s", code, out)
	}
	if deletes(e.OpenAI.Server()) != 1 {
		t.Fatal("a CLI replay revoked again")
	}
	out, code = runCLI(t, e, "audit", "verify")
	if code != 0 || !strings.Contains(out, "ok      "+id) || !strings.Contains(out, "0 broken") {
		t.Fatalf("audit verify: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "audit", "export", "--incident", id)
	if code != 0 || !strings.Contains(out, `"kind":"step.succeeded"`) || strings.Count(out, "\n") < 8 {
		t.Fatalf("audit export: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "tokens", "create", "--name", "alice", "--scope", "read,approve")
	if code != 0 || !strings.Contains(out, "fbt_") || !strings.Contains(out, "not shown again") {
		t.Fatalf("tokens create: %d\n%s", code, out)
	}
	out, code = runCLI(t, e, "incidents", "approve", id)
	if code == 0 || !strings.Contains(out, "409") {
		t.Fatalf("approving an incident that waits for nothing: %d\n%s", code, out)
	}
}
