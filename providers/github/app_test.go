package github_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/github"
	"github.com/firebreak-sec/firebreak/providers/github/githubemu"
)

// TestAppInstallationTokens: the App's JWT is exchanged for an installation
// token, which is cached, used to read alerts, and replaced before expiry.
func TestAppInstallationTokens(t *testing.T) {
	emu := githubemu.New(githubemu.WithInstallationTokenTTL(time.Hour))
	emu.Start()
	defer emu.Close()
	appID, inst, key := emu.AddApp("acme")
	src, err := github.NewAppTokenSource(github.AppConfig{AppID: appID, InstallationID: inst,
		PrivateKey: secret.Static(secret.FromBytes(key)), BaseURL: emu.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := src.Secret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if github.TokenPrefix(tok) != github.PrefixInstallation || !emu.Live(tok.Reveal()) {
		t.Fatalf("installation token %s is not a live ghs_ token", secret.Hint(tok))
	}
	again, _ := src.Secret(ctx)
	if !again.Equal(tok) || emu.TokenExchanges() != 1 {
		t.Fatalf("a fresh token was not reused: %d exchanges", emu.TokenExchanges())
	}
	// Alerts are read with it.
	n := emu.AddAlert("acme", "api", "openai_api_key", "sk-app-test")
	as, _ := github.NewAlertSource(github.AlertSourceConfig{BaseURL: emu.URL(), Token: src})
	if a, err := as.GetAlert(ctx, "acme", "api", n); err != nil || a.Secret.Reveal() != "sk-app-test" {
		t.Fatalf("GetAlert with the App token: %v", err)
	}
	// A token that expires within RefreshBefore (5 minutes) is replaced
	// before use: GitHub hands out tokens of 4 minutes here.
	short := githubemu.New(githubemu.WithInstallationTokenTTL(4 * time.Minute))
	short.Start()
	defer short.Close()
	appID, inst, key = short.AddApp("acme")
	src, _ = github.NewAppTokenSource(github.AppConfig{AppID: appID, InstallationID: inst,
		PrivateKey: secret.Static(secret.FromBytes(key)), BaseURL: short.URL()})
	first, _ := src.Secret(ctx)
	second, err := src.Secret(ctx)
	if err != nil || first.Equal(second) || short.TokenExchanges() != 2 || src.Exchanges() != 2 {
		t.Fatalf("token near expiry not refreshed: %v (%d exchanges)", err, short.TokenExchanges())
	}
}

// TestAppWrongKeyIsPermanent: a JWT signed with another key is refused with
// GitHub's 401, classified permanent, and the key never appears in errors.
func TestAppWrongKeyIsPermanent(t *testing.T) {
	emu := githubemu.New()
	emu.Start()
	defer emu.Close()
	appID, inst, _ := emu.AddApp("acme")
	_, _, otherKey := emu.AddApp("other")
	src, _ := github.NewAppTokenSource(github.AppConfig{AppID: appID, InstallationID: inst,
		PrivateKey: secret.Static(secret.FromBytes(otherKey)), BaseURL: emu.URL()})
	_, err := src.Secret(context.Background())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Class != providers.Permanent || pe.Status != 401 || !strings.Contains(err.Error(), "JSON web token") {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatal("the error names key material")
	}
	if _, err := github.NewAppTokenSource(github.AppConfig{AppID: appID}); err == nil {
		t.Fatal("missing installation id and key accepted")
	}
	bad, _ := github.NewAppTokenSource(github.AppConfig{AppID: appID, InstallationID: inst, PrivateKey: secret.Static(secret.New("not a key")), BaseURL: emu.URL()})
	if _, err := bad.Secret(context.Background()); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("garbage key: %v", err)
	}
}

// TestResolveAlertAndIssueEdits exercises the write-back calls against the
// emulator: PATCH alert (422 for an invalid resolution), issue and comment
// edits that keep the text byte-for-byte.
func TestResolveAlertAndIssueEdits(t *testing.T) {
	emu := githubemu.New()
	emu.Start()
	defer emu.Close()
	tok := emu.AddToken(github.PrefixPAT, "bot")
	as, _ := github.NewAlertSource(github.AlertSourceConfig{BaseURL: emu.URL(), Token: secret.Static(secret.New(tok))})
	ctx := context.Background()
	n := emu.AddAlert("acme", "api", "openai_api_key", "sk-x")
	if _, _, err := as.ResolveAlert(ctx, "acme", "api", n, "fixed", ""); err == nil {
		t.Fatal("an invalid resolution was accepted")
	} else if c, _ := providers.Classify(err); c != providers.Permanent {
		t.Fatalf("422 classified %v", c)
	}
	st, res, err := as.ResolveAlert(ctx, "acme", "api", n, "revoked", "Revoked by Firebreak, incident inc_1")
	if err != nil || st != "resolved" || res != "revoked" {
		t.Fatalf("resolve: %s %s %v", st, res, err)
	}
	if _, _, c := emu.AlertState("acme", "api", n); c != "Revoked by Firebreak, incident inc_1" {
		t.Fatalf("resolution comment %q", c)
	}
	num := emu.AddIssue("acme", "api", "t", "b")
	body := "a\r\n\u00e9 🚀 <x> & \\n\t"
	cid := emu.AddIssueComment("acme", "api", num, "old")
	if err := as.EditIssueComment(ctx, "acme", "api", cid, body); err != nil {
		t.Fatal(err)
	}
	if got, _ := as.GetIssueComment(ctx, "acme", "api", cid); got != body || emu.IssueComment(cid) != body {
		t.Fatalf("comment round trip changed bytes: %q", got)
	}
	if _, err := as.GetIssueComment(ctx, "acme", "api", 1); err == nil {
		t.Fatal("unknown comment found")
	}
}
