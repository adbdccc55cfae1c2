package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
)

// runBinary runs the firebreak binary from the repository root, as the
// README's `go run ./cmd/firebreak ...` does, and returns its combined output.
func runBinary(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("firebreak %s did not finish in %s:\n%s", strings.Join(args, " "), timeout, out.String())
	}
	return out.String(), err
}

var (
	incidentLine = regexp.MustCompile(`^incident (inc_\w+)\s+(\S+) key .*\s(\S+)$`)
	timelineRow  = regexp.MustCompile(`^\s+\+\s*[\d.]+ms\s+(\S+)`)
	ttrLine      = regexp.MustCompile(`^\s+time from receipt to revocation: (\S+)$`)
)

// demoIncident is one incident as the demo prints it.
type demoIncident struct {
	id, provider, state string
	labels              []string // the timeline's rows, in order
	ttr                 string   // the time from receipt to revocation, if printed
}

func parseDemo(out string) []*demoIncident {
	var all []*demoIncident
	var cur *demoIncident
	for _, l := range strings.Split(out, "\n") {
		if m := incidentLine.FindStringSubmatch(l); m != nil {
			cur = &demoIncident{id: m[1], provider: m[2], state: m[3]}
			all = append(all, cur)
			continue
		}
		if cur == nil {
			continue
		}
		if m := timelineRow.FindStringSubmatch(l); m != nil {
			cur.labels = append(cur.labels, m[1])
		} else if m := ttrLine.FindStringSubmatch(l); m != nil {
			cur.ttr = m[1]
		} else if l == "" && len(cur.labels) > 0 {
			cur = nil
		}
	}
	return all
}

// inOrder reports whether want is a subsequence of got.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestDemo runs `firebreak demo` as the README has a user run it: it exits 0
// within seconds and prints, per incident, the timeline (received →
// verified → revoked → notified) and the time from receipt to revocation
// for every key it revoked — the OpenAI and the GitHub key of the sample
// alerts among them.
func TestDemo(t *testing.T) {
	out, err := runBinary(t, 90*time.Second, "demo")
	if err != nil {
		t.Fatalf("firebreak demo: %v\n%s", err, out)
	}
	incidents := parseDemo(out)
	contained := map[string]int{}
	for _, in := range incidents {
		if len(in.labels) == 0 || in.labels[0] != "received" {
			t.Errorf("incident %s: timeline %v does not start with received", in.id, in.labels)
		}
		if in.state != "CONTAINED" {
			continue
		}
		contained[in.provider]++
		if want := []string{"received", "verified", "revoked", "notified"}; !inOrder(in.labels, want) {
			t.Errorf("incident %s (%s): timeline %v, want %v in that order", in.id, in.provider, in.labels, want)
		}
		if d, err := time.ParseDuration(in.ttr); err != nil || d <= 0 {
			t.Errorf("incident %s (%s): time from receipt to revocation %q", in.id, in.provider, in.ttr)
		}
	}
	if contained["openai"] != 1 || contained["github"] != 1 {
		t.Errorf("contained incidents by provider: %v, want one OpenAI and one GitHub key among them", contained)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

// TestVersion: `firebreak version` exits 0 and prints the version, the Go
// version and the platform on one line.
func TestVersion(t *testing.T) {
	out, err := runBinary(t, 30*time.Second, "version")
	if err != nil {
		t.Fatalf("firebreak version: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^firebreak \S+( \([0-9a-f]{12}\))? go\d+\.\d+\S* \w+/\w+\n$`).MatchString(out) {
		t.Fatalf("firebreak version printed %q", out)
	}
}
