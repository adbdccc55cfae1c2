package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/openai/openaiemu"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Playbook fixtures (`firebreak playbook test DIR`): DIR holds playbooks
// (*.yaml) and a fixtures/ folder of pairs
//
//	NAME.exposure.json  a firebreak.exposure.v1 event (source, secret.provider and
//	                    type, location, environment); its secret is minted at the
//	                    provider's emulator, sealed and fingerprinted by the run
//	NAME.expect.yaml    what must happen:
//	    key: live            # live (default) or dead: the emulator's state of the key
//	    state: contained     # the incident's final state
//	    playbooks: [openai-key-exposed]
//	    steps:               # in order: playbook/step: state
//	      - openai-key-exposed/verify: succeeded
//	    calls:               # every emulator request, in order: "<emulator> METHOD path";
//	      - openai GET /v1/me   # * matches within one path segment
//
// Each fixture runs offline against a whole Firebreak (embedded JetStream in
// a temporary directory) and the provider emulators on loopback.

// Expect is a fixture's expectation.
type Expect struct {
	Key       string              `yaml:"key"`
	State     string              `yaml:"state"`
	Playbooks []string            `yaml:"playbooks"`
	Steps     []map[string]string `yaml:"steps"`
	Calls     []string            `yaml:"calls"`
}

// FixtureResult is the outcome of one fixture.
type FixtureResult struct {
	Name string
	OK   bool
	Diff []string // lines: "  section:", "    - expected", "    + got"
	Got  Expect
	Err  error
}

// FixtureOptions adjust a fixture run.
type FixtureOptions struct {
	Builtin bool          // load the built-in playbooks too (as serve does)
	Timeout time.Duration // per fixture (default 30s)
}

// RunFixtures runs every fixture of dir.
func RunFixtures(ctx context.Context, dir string, o FixtureOptions) ([]FixtureResult, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "fixtures", "*.exposure.json"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("no fixtures: %s holds no *.exposure.json", filepath.Join(dir, "fixtures"))
	}
	sort.Strings(matches)
	var out []FixtureResult
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".exposure.json")
		r := runFixture(ctx, dir, name, m, strings.TrimSuffix(m, ".exposure.json")+".expect.yaml", o)
		out = append(out, r)
	}
	return out, nil
}

func runFixture(ctx context.Context, dir, name, evPath, expPath string, o FixtureOptions) (res FixtureResult) {
	res.Name = name
	var want Expect
	b, err := os.ReadFile(expPath)
	if err != nil {
		res.Err = err
		return res
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&want); err != nil {
		res.Err = fmt.Errorf("%s: %w", expPath, err)
		return res
	}
	b, err = os.ReadFile(evPath)
	if err != nil {
		res.Err = err
		return res
	}
	var ev exposure.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		res.Err = fmt.Errorf("%s: %w", evPath, err)
		return res
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	builtin := o.Builtin
	st, err := Start(ctx, Options{Configure: func(c *config.Config) {
		c.Playbooks.Dir = dir
		c.Playbooks.Builtin = &builtin
	}})
	if err != nil {
		res.Err = err
		return res
	}
	defer st.Close()

	raw, err := st.mintKey(ev.Secret.Provider, want.Key != "dead")
	if err != nil {
		res.Err = fmt.Errorf("%s: %w", evPath, err)
		return res
	}
	v := secret.New(raw)
	defer v.Wipe()
	ev.Schema, ev.ID = exposure.Schema, exposure.NewID(time.Now())
	ev.Secret.Fingerprint = st.App.Keyring.Fingerprint(v)
	ev.Secret.Redacted = secret.Hint(v)
	if ev.Secret.Sealed, err = st.App.Keyring.Seal(ctx, v, []byte(ev.Secret.Fingerprint)); err != nil {
		res.Err = err
		return res
	}
	ev.ReceivedAt, ev.ObservedAt = time.Now().UTC(), time.Now().UTC()
	ev.Correlation = "fixture-" + name
	ev.Alert = nil
	if ev.Environment == "" {
		ev.Environment = exposure.EnvUnknown
	}
	st.resetCalls() // only what the exposure causes counts (not start-up fetches)
	if _, err := st.App.Publisher.Publish(ctx, &ev, "fixture:"+name); err != nil {
		res.Err = fmt.Errorf("%s: %w", evPath, err)
		return res
	}
	in, err := st.WaitIncident(ctx, incident.IDFor(ev.Secret.Fingerprint), func(in *incident.Incident) bool {
		return Terminal(in) || in.State == incident.AwaitingApproval
	})
	if err != nil {
		res.Err = err
		return res
	}
	got := Expect{State: string(in.State), Playbooks: in.Playbooks}
	for _, s := range in.Steps {
		got.Steps = append(got.Steps, map[string]string{s.Key: string(s.State)})
	}
	got.Calls = st.calls()
	res.Got = got
	res.Diff = diffExpect(want, got)
	res.OK = len(res.Diff) == 0
	return res
}

// mintKey makes a key the provider's emulator knows as live (or a
// well-formed one it does not know).
func (s *Stack) mintKey(provider string, live bool) (string, error) {
	switch provider {
	case "openai":
		if !live {
			return "sk-proj-" + randHex(40) + "T3BlbkFJ" + randHex(40), nil
		}
		s.mu.Lock()
		if s.paymentsProject == "" {
			s.paymentsProject = s.OpenAI.AddProject("payments")
		}
		p := s.paymentsProject
		s.mu.Unlock()
		raw, _ := s.OpenAI.AddKey(p, openaiemu.Owner{Type: "user", Name: "sam", Email: "sam@example.com"})
		return raw, nil
	case "github":
		if !live {
			return github.NewToken("ghp_"), nil
		}
		return s.GitHub.AddToken("ghp_", "octo-dev"), nil
	}
	return "", fmt.Errorf("secret.provider %q has no emulator in this build (fixtures support openai and github)", provider)
}

func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// resetCalls forgets the requests the emulators received so far.
func (s *Stack) resetCalls() {
	for _, srv := range []*emulator.Server{s.OpenAI.Server(), s.GitHub.Server(), s.Slack.Server, s.Webhook.Server} {
		srv.Reset()
	}
}

// partnerKeysPath is GitHub's list of partner-program signing keys.
const partnerKeysPath = "/meta/public_keys/secret_scanning"

// calls lists every request the emulators received, in time order.
func (s *Stack) calls() []string {
	type call struct {
		at   time.Time
		line string
	}
	var all []call
	for name, srv := range map[string]*emulator.Server{"openai": s.OpenAI.Server(), "github": s.GitHub.Server(), "slack": s.Slack.Server, "webhook": s.Webhook.Server} {
		for _, r := range srv.Requests() {
			if r.Path == partnerKeysPath {
				// The partner program's signing keys, fetched once in the
				// background at start (possibly after resetCalls): not
				// something an exposure causes.
				continue
			}
			all = append(all, call{r.At, name + " " + r.Method + " " + r.Path})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	out := make([]string, len(all))
	for i, c := range all {
		out[i] = c.line
	}
	return out
}

// diffExpect compares a fixture's expectation with what happened; sections
// left out of the expectation are not checked.
func diffExpect(want, got Expect) []string {
	var out []string
	section := func(name string, w, g []string, glob bool) {
		if d := DiffLines(w, g, glob); len(d) > 0 {
			out = append(out, "  "+name+":")
			for _, l := range d {
				out = append(out, "    "+l)
			}
		}
	}
	if want.State != "" && want.State != got.State {
		out = append(out, "  state:", "    - "+want.State, "    + "+got.State)
	}
	if want.Playbooks != nil {
		section("playbooks", want.Playbooks, got.Playbooks, false)
	}
	if want.Steps != nil {
		section("steps", stepLines(want.Steps), stepLines(got.Steps), false)
	}
	if want.Calls != nil {
		section("calls", want.Calls, got.Calls, true)
	}
	return out
}

func stepLines(steps []map[string]string) []string {
	var out []string
	for _, m := range steps {
		for k, v := range m {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// DiffLines is a line diff of want and got (longest common subsequence):
// "  same", "- only expected", "+ only got". With glob, a wanted line
// matches a got line by path.Match (* within a path segment).
func DiffLines(want, got []string, glob bool) []string {
	eq := func(w, g string) bool {
		if !glob {
			return w == g
		}
		ok, err := path.Match(w, g)
		return ok && err == nil
	}
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if eq(want[i], got[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	changed := false
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && eq(want[i], got[j]):
			out = append(out, "  "+got[j])
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+want[i])
			i, changed = i+1, true
		default:
			out = append(out, "+ "+got[j])
			j, changed = j+1, true
		}
	}
	if !changed {
		return nil
	}
	return out
}
