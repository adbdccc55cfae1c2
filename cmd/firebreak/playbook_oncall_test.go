package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/playbooks/builtin"
)

var oncallDir = filepath.Join("..", "..", "testdata", "playbooks", "oncall")

// `firebreak playbook test DIR` runs the fixtures offline against the
// emulators: the ones in testdata pass.
func TestPlaybookTestFixtures(t *testing.T) {
	out, _, err := run("playbook", "test", oncallDir)
	if err != nil || !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("playbook test: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    openai-prod-live  (contained; 3 steps; 5 calls)", "ok    openai-prod-dead  (completed; 3 steps; 3 calls)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A fixture that no longer holds fails with a diff that says what differs.
func TestPlaybookTestShowsADiff(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.CopyFS(dir, os.DirFS(oncallDir)))
	exp := filepath.Join(dir, "fixtures", "openai-prod-live.expect.yaml")
	b, err := os.ReadFile(exp)
	must(err)
	// Someone changed the playbook to skip revocation in prod, but the
	// fixture still expects it.
	pb := filepath.Join(dir, "openai-prod.yaml")
	p, err := os.ReadFile(pb)
	must(err)
	must(os.WriteFile(pb, bytes.Replace(p, []byte("if: steps.verify.outputs.live"), []byte("if: 'false'"), 1), 0o644))
	must(os.WriteFile(exp, b, 0o644))
	out, _, err := run("playbook", "test", dir)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("a failing fixture exits %v\n%s", err, out)
	}
	for _, want := range []string{
		"FAIL  openai-prod-live (- expected, + got)",
		"  state:\n    - contained\n    + completed",
		"    - openai-prod/revoke: succeeded\n    + openai-prod/revoke: skipped",
		"    - openai DELETE /v1/organization/projects/*/api_keys/*",
		"      slack POST /services/",
		"2 passed, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
}

// builtinCount is the number of built-in playbooks.
func builtinCount(t *testing.T) int {
	files, err := filepath.Glob(filepath.Join("..", "..", "playbooks", "builtin", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("built-in playbooks: %v", err)
	}
	return len(files)
}

func TestPlaybookExplain(t *testing.T) {
	out, _, err := run("playbook", "explain", filepath.Join(oncallDir, "fixtures", "openai-prod-live.exposure.json"), "--dir", oncallDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"+ openai-prod: matches: provider openai in [openai]; environment prod in [prod]",
		"- github-dev: does not match: provider \"openai\" not in [github]",
		"revoke         provider.revoke      would run [side effect]",
		"→ GET https://api.openai.com/v1/me",
		fmt.Sprintf("2 of %d playbook(s) match", builtinCount(t)+2), // openai-key-exposed and openai-prod
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := run("playbook", "explain", filepath.Join(oncallDir, "openai-prod.yaml")); err == nil {
		t.Error("explaining a file that is not an exposure succeeded")
	}
}

// The printed JSON Schema accepts every built-in and sample playbook and
// rejects what lint rejects structurally (unknown keys, unknown actions, a
// with field an action does not take, a bad on_timeout).
func TestPlaybookSchema(t *testing.T) {
	out, _, err := run("playbook", "schema")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("playbook.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("playbook.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	load := func(b []byte) any {
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	files := map[string][]byte{}
	_ = fs.WalkDir(builtin.FS, ".", func(p string, d fs.DirEntry, _ error) error {
		if strings.HasSuffix(p, ".yaml") {
			files["builtin/"+p], _ = fs.ReadFile(builtin.FS, p)
		}
		return nil
	})
	for _, p := range []string{"genai-key-exposed.yaml", "oncall/openai-prod.yaml", "oncall/github-dev.yaml"} {
		files[p], _ = os.ReadFile(filepath.Join("..", "..", "testdata", "playbooks", p))
	}
	files["approval"] = []byte(`apiVersion: firebreak/v1
kind: Playbook
name: gated
match: {providers: [openai]}
steps:
  - {id: verify, uses: provider.verify}
  - id: approve
    uses: approval
    when: exposure.environment == "prod" && steps.verify.outputs.live
    with: {approvers: [alice], timeout: 4h, on_timeout: abort}
  - {id: revoke, uses: provider.revoke}
`)
	for name, b := range files {
		if err := sch.Validate(load(b)); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
	}
	bad := map[string]string{
		"unknown key":        "apiVersion: firebreak/v1\nkind: Playbook\nname: x\nsteps: [{id: a, uses: provider.verify, retries: 3}]\n",
		"unknown action":     "apiVersion: firebreak/v1\nkind: Playbook\nname: x\nsteps: [{id: a, uses: provider.verfy}]\n",
		"unknown with field": "apiVersion: firebreak/v1\nkind: Playbook\nname: x\nsteps: [{id: a, uses: notify.slack, with: {colour: red}}]\n",
		"bad on_timeout":     "apiVersion: firebreak/v1\nkind: Playbook\nname: x\nsteps: [{id: a, uses: approval, with: {on_timeout: maybe}}]\n",
		"missing steps":      "apiVersion: firebreak/v1\nkind: Playbook\nname: x\n",
	}
	for name, y := range bad {
		if err := sch.Validate(load([]byte(y))); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
