package slackemu_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/firebreak-sec/firebreak/providers/notify/slack/slackemu"
)

func TestEmulatorDirect(t *testing.T) {
	emu := slackemu.New()
	emu.Start()
	defer emu.Close()
	h := emu.AddHook("#x")
	post := func(ct, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(emu.HookURL(h), ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		ct, body string
		status   int
		text     string
	}{
		{"application/json", `{"text":"hi"}`, 200, "ok"},
		{"application/x-www-form-urlencoded", `payload=%7B%22text%22%3A%22hi%22%7D`, 200, "ok"},
		{"application/json", `not json`, 400, "invalid_payload"},
		{"application/json", `["text"]`, 400, "invalid_payload"},
		{"application/json", `{"text":3}`, 400, "invalid_payload"},
		{"application/json", `{}`, 400, "no_text"},
		{"application/json", `{"text":"  "}`, 400, "no_text"},
		{"application/json", `{"blocks":{}}`, 400, "invalid_blocks_format"},
		{"application/json", `{"blocks":[{"type":"bogus"}]}`, 400, "invalid_blocks"},
		{"application/json", `{"blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, 400, "invalid_blocks"},
		{"application/json", `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`, 400, "invalid_blocks"},
		{"application/json", `{"blocks":[{"type":"section"}]}`, 400, "invalid_blocks"},
		{"application/json", `{"blocks":[{"type":"section","fields":[` + strings.Repeat(`{"type":"mrkdwn","text":"f"},`, 10) + `{"type":"mrkdwn","text":"f"}]}]}`, 400, "invalid_blocks"},
		{"application/json", `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"ok"}}]}`, 200, "ok"},
	} {
		status, text := post(c.ct, c.body)
		if status != c.status || text != c.text {
			t.Errorf("POST %s: %d %q, want %d %q", c.body, status, text, c.status, c.text)
		}
	}
	if n := len(emu.Messages()); n != 3 {
		t.Errorf("%d messages recorded, want 3", n)
	}
	resp, err := http.Get(emu.HookURL(h))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	for path, want := range map[string]int{"/services/TX/B1/abc": 404, "/services/" + h.Team + "/B9/abc": 404, "/hooks": 404} {
		resp, err := http.Post(emu.URL()+path, "application/json", strings.NewReader(`{"text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// App webhooks post to their own channel and ignore overrides; legacy ones
// honour them.
func TestOverrides(t *testing.T) {
	emu := slackemu.New()
	emu.Start()
	defer emu.Close()
	app, legacy := emu.AddHook("#app"), emu.AddLegacyHook("#legacy")
	emu.AddChannel("#other")
	body := `{"text":"hi","channel":"#other","username":"bot","icon_emoji":":fire:"}`
	for _, h := range []slackemu.Hook{app, legacy} {
		resp, err := http.Post(emu.HookURL(h), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", h.Channel, resp.StatusCode)
		}
	}
	ms := emu.Messages()
	if ms[0].Channel != "#app" || ms[0].Username != "" || ms[1].Channel != "#other" || ms[1].Username != "bot" || ms[1].IconEmoji != ":fire:" {
		t.Fatalf("messages %+v", ms)
	}
}

// Count counts every accepted message; Messages holds only those of the
// requests the server keeps (emulator.Server.Record), so that a long load
// run does not hold every message it accepted.
func TestCountCountsWhatRecordDoesNotKeep(t *testing.T) {
	emu := slackemu.New()
	emu.Start()
	defer emu.Close()
	kept, dropped := emu.AddHook("#kept"), emu.AddHook("#dropped")
	emu.Record(kept.Path())
	for i, h := range []slackemu.Hook{kept, dropped, dropped} {
		resp, err := http.Post(emu.HookURL(h), "application/json", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("post %d: %d", i, resp.StatusCode)
		}
	}
	if ms := emu.Messages(); len(ms) != 1 || ms[0].Channel != "#kept" {
		t.Fatalf("kept messages %+v, want the one to #kept", ms)
	}
	if n := emu.Count(); n != 3 {
		t.Fatalf("Count %d, want 3", n)
	}
	emu.ClearMessages()
	if n := emu.Count(); n != 0 {
		t.Fatalf("Count after ClearMessages %d, want 0", n)
	}
}
