package config

import (
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// Approvals configures approval steps (issue 7: on-call).
type Approvals struct {
	// SlackSigningSecret is the Slack app's signing secret: it verifies the
	// interactive callbacks (POST /v1/approvals/slack) of the Approve/Deny
	// buttons. Without it Slack callbacks are refused (401).
	SlackSigningSecret secret.Ref `yaml:"slack_signing_secret"`
	// SweepInterval is how often pending approvals are checked for a
	// decision or a passed deadline (default 2s).
	SweepInterval Duration `yaml:"sweep_interval"`
}

func (c *Config) defaultsOncall() {
	if c.Approvals.SweepInterval == 0 {
		c.Approvals.SweepInterval = Duration(2 * time.Second)
	}
}

func (c *Config) validateOncall() Problems {
	var ps Problems
	if r := c.Approvals.SlackSigningSecret; !r.IsZero() {
		if err := r.Validate("env", "file", "vault"); err != nil {
			ps = append(ps, Problem{Path: "approvals.slack_signing_secret", Msg: err.Error()})
		} else if scheme, _ := r.Scheme(); scheme == "vault" && c.Vault.Address == "" {
			ps = append(ps, Problem{Path: "approvals.slack_signing_secret", Msg: "a vault: reference needs vault.address"})
		}
	}
	if d := c.Approvals.SweepInterval.D(); d < 10*time.Millisecond || d > time.Minute {
		ps = append(ps, Problem{Path: "approvals.sweep_interval", Msg: "must be between 10ms and 1m, got " + d.String()})
	}
	return ps
}

// ExampleOncall documents the approvals section (appended to Example).
const ExampleOncall = `# Approval steps (uses: approval): Slack's interactive callbacks are verified
# with the Slack app's signing secret; point the app's Interactivity Request
# URL at <http.public_url>/v1/approvals/slack.
# approvals:
#   slack_signing_secret: env:SLACK_SIGNING_SECRET
#   sweep_interval: 2s                    # how often deadlines and decisions are checked
`
