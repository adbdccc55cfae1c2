package slackapiemu_test

import (
	"testing"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers/slack/slackapiemu"
)

// TestTokensAreFoundByTheDetector: the tokens the emulator mints have the
// shape of Slack's, so a test that leaks one in a log line or a ticket sees
// Firebreak's detector find it whole, as it would find a real one.
func TestTokensAreFoundByTheDetector(t *testing.T) {
	sc := detect.New()
	for _, prefix := range []string{"xoxb-", "xoxp-"} {
		for i := 0; i < 50; i++ {
			tok := slackapiemu.NewToken(prefix)
			line := []byte("slack client init token=" + tok + " ok")
			var found []detect.Finding
			sc.Scan(line, func(f detect.Finding) { found = append(found, f) })
			if len(found) != 1 || found[0].Type != "slack_api_token" || string(line[found[0].Start:found[0].End]) != tok {
				t.Fatalf("a %s token of the emulator (%s) is not found whole by the detector: %d finding(s)", prefix, secret.Hint(secret.New(tok)), len(found))
			}
		}
	}
}
