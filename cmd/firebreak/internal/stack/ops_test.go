package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/deploy"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/stack"
	"github.com/firebreak-sec/firebreak/providers/emulator"
	"github.com/firebreak-sec/firebreak/responders"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// dashboardExprs returns every PromQL expression of the Grafana dashboard
// (panel targets, nested rows, templating queries), each named by its panel.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(deploy.Dashboard, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels")
	}
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out["variable "+v.Name] = v.Definition
		}
	}
	return out
}

// alertExprs parses the rule file strictly (Prometheus' rule-file fields)
// and returns every expression, each named by its rule.
func alertExprs(t *testing.T) (map[string]string, map[string]bool) {
	t.Helper()
	type rule struct {
		Record      string            `yaml:"record"`
		Alert       string            `yaml:"alert"`
		Expr        string            `yaml:"expr"`
		For         string            `yaml:"for"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(deploy.AlertRules))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	out := map[string]string{}
	records := map[string]bool{}
	alerts := 0
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			name := r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") || r.Expr == "" {
				t.Errorf("group %s rule %d: needs exactly one of alert/record, and an expr", g.Name, i)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("rule %s: for: %v", name, err)
				}
			}
			if r.Alert != "" {
				alerts++
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("alert %s: needs labels.severity and annotations.summary", name)
				}
			}
			out["rule "+name] = r.Expr
			if r.Record != "" {
				records[r.Record] = true
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerting rules")
	}
	return out, records
}

var (
	metricName = regexp.MustCompile(`\b((?:firebreak|process|go)_[a-z0-9_]+)\b`)
	recordName = regexp.MustCompile(`\bfirebreak:[a-z0-9_:]+`)
)

// checkBalanced is a light syntax check: brackets balance, quotes close.
func checkBalanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inQuote := false
	for _, r := range expr {
		switch {
		case r == '"':
			inQuote = !inQuote
		case inQuote:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inQuote || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", string(stack))
	}
	return nil
}

// TestDashboardAndAlertsReferenceRealMetrics parses the Grafana dashboard and
// the Prometheus rules in cmd/firebreak/deploy, then runs a Firebreak through
// what an on-call watches for — a key revoked, a step retried, a permanent
// failure dead-lettered, a redelivery, a bad signature rejected — scrapes
// /metrics, and checks that every metric the dashboard and the rules name is
// one Firebreak exports.
func TestDashboardAndAlertsReferenceRealMetrics(t *testing.T) {
	exprs := dashboardExprs(t)
	rules, records := alertExprs(t)
	for k, v := range rules {
		exprs[k] = v
	}
	referenced := map[string][]string{}
	for where, expr := range exprs {
		if err := checkBalanced(expr); err != nil {
			t.Errorf("%s: %v in %s", where, err, expr)
		}
		names := metricName.FindAllString(expr, -1)
		recs := recordName.FindAllString(expr, -1)
		for _, r := range recs {
			if !records[r] {
				t.Errorf("%s uses recording rule %s, which the rule file does not define", where, r)
			}
		}
		if len(names) == 0 && len(recs) == 0 {
			t.Errorf("%s names no metric: %s", where, expr)
		}
		for _, n := range names {
			referenced[n] = append(referenced[n], where)
		}
	}

	// A run that makes every kind of metric appear.
	var abandoned atomic.Bool
	e := start(t, stack.Options{AckWait: time.Second, Hooks: responders.Hooks{
		BeforeStep: func(_ context.Context, _, step string) error {
			if strings.HasSuffix(step, "/notify") && abandoned.CompareAndSwap(false, true) {
				return fmt.Errorf("simulated crash") // redelivered after AckWait
			}
			return nil
		}}})
	raw, _ := e.LeakOpenAI("acme/payments-api", 17)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/me", Count: 1, Status: 503})
	post(t, e, "ops-1", stack.AlertPayload("created", "acme/payments-api", 17, "openai_api_key"))
	if _, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(raw), func(in *incident.Incident) bool {
		return in.State == incident.Contained
	}); err != nil {
		t.Fatal(err)
	}
	failing, _ := e.LeakOpenAI("acme/payments-api", 18)
	e.OpenAI.Server().Inject(emulator.Fault{Match: "GET /v1/organization/projects", Status: 401})
	post(t, e, "ops-2", stack.AlertPayload("created", "acme/payments-api", 18, "openai_api_key"))
	if _, err := e.WaitIncident(ctxT(t, 30*time.Second), e.IncidentFor(failing), func(in *incident.Incident) bool {
		return in.State == incident.Failed && in.Lease == nil
	}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/ingest/github", strings.NewReader("{}"))
	req.Header.Set("X-GitHub-Event", "secret_scanning_alert")
	req.Header.Set("X-Hub-Signature-256", "sha256=00")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	waitIdle(t, e)

	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exported := map[string]string{} // family → type
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = f[3]
		}
	}
	// Reported only by clustered streams (checked by the cluster test).
	clusterOnly := map[string]bool{"firebreak_stream_replicas": true}
	var names []string
	for n := range referenced {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		family := n
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(n, suf); ok && exported[b] == "histogram" {
				family = b
			}
		}
		if _, ok := exported[family]; !ok && !clusterOnly[family] {
			t.Errorf("%s is not exported by Firebreak (used by %s)", n, strings.Join(referenced[n], "; "))
		}
	}
	if exported["firebreak_time_to_revoke_seconds"] != "histogram" {
		t.Errorf("firebreak_time_to_revoke_seconds: %q", exported["firebreak_time_to_revoke_seconds"])
	}
}
