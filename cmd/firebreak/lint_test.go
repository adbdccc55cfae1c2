package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (stdout, stderr string, err error) {
	root := rootCmd()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err
}

// TestPlaybookLint runs `firebreak playbook lint` as a user does: every
// error with file:line:col and the field path, and a non-zero exit.
func TestPlaybookLint(t *testing.T) {
	good := filepath.Join("..", "..", "testdata", "playbooks", "genai-key-exposed.yaml")
	out, _, err := run("playbook", "lint", good)
	if err != nil || !strings.Contains(out, "1 playbook(s) ok") {
		t.Fatalf("good playbook: %q %v", out, err)
	}
	bad := filepath.Join("..", "..", "testdata", "playbooks", "broken.yaml")
	_, stderr, err := run("playbook", "lint", bad, good)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("lint of a broken playbook: %v", err)
	}
	want := []string{
		bad + `:7:23: match.providers[1]: unknown value "opneai"`,
		bad + `:8:19: match.when: expression: type exposure.Event has no field enviroment`,
		bad + `:11:11: steps[0].uses: unknown action "provider.verfy"`,
		bad + `:14:9: steps[1].if: steps.check: no earlier step has id "check"`,
		bad + `:15:23: steps[1].retry.attempts: must be an integer from 1 to 20, got int "50"`,
		bad + `:18:18: steps[2].with.text: template: can't evaluate field Raw in type exposure.Secret`,
		bad + `:18:48: steps[2].with.colour: unknown key`,
		"7 error(s)",
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != len(want) {
		t.Fatalf("lint output:\n%s", stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestBuiltinPlaybooksLint(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "playbooks", "builtin", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no built-in playbooks found")
	}
	if out, stderr, err := run(append([]string{"playbook", "lint"}, files...)...); err != nil {
		t.Fatalf("built-in playbooks do not lint: %s %s", out, stderr)
	}
}
