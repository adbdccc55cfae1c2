package webhookemu_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers/notify/webhook"
	"github.com/firebreak-sec/firebreak/providers/notify/webhook/webhookemu"
)

const signingKey = "whsec-test"

func TestRejectsJunk(t *testing.T) {
	f := struct{ rcv *webhookemu.Receiver }{webhookemu.New(webhookemu.Config{Secret: []byte(signingKey)})}
	f.rcv.Start()
	defer f.rcv.Close()
	post := func(h http.Header, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.rcv.URL()+"/hooks", strings.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	signed := func(body string) http.Header {
		now := time.Now()
		h := http.Header{}
		h.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
		h.Set(webhook.HeaderSignature, webhook.Sign([]byte(signingKey), now, []byte(body)))
		return h
	}
	if s := post(http.Header{}, `{}`); s != 401 {
		t.Errorf("unsigned: %d", s)
	}
	if s := post(signed(`not json`), `not json`); s != 400 {
		t.Errorf("signed junk: %d", s)
	}
	if s := post(signed(`{"type":"other.v1","id":"x"}`), `{"type":"other.v1","id":"x"}`); s != 400 {
		t.Errorf("wrong type: %d", s)
	}
	resp, err := http.Get(f.rcv.URL() + "/hooks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestTooLarge(t *testing.T) {
	rcv := webhookemu.New(webhookemu.Config{Secret: []byte(signingKey)})
	rcv.Start()
	defer rcv.Close()
	resp, err := http.Post(rcv.URL(), "application/json", strings.NewReader(strings.Repeat("x", 1<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// Count counts every accepted delivery; Deliveries holds only those of the
// requests the server keeps (emulator.Server.Record). A delivery accepted
// but not kept is still remembered, so its replay is refused.
func TestCountCountsWhatRecordDoesNotKeep(t *testing.T) {
	rcv := webhookemu.New(webhookemu.Config{Secret: []byte(signingKey)})
	rcv.Start()
	defer rcv.Close()
	rcv.Record("/kept")
	post := func(path, id string) int {
		t.Helper()
		body := fmt.Sprintf(`{"type":%q,"id":%q}`, webhook.Type, id)
		now := time.Now()
		req, _ := http.NewRequest(http.MethodPost, rcv.URL()+path, strings.NewReader(body))
		req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
		req.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(signingKey), now, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, id string
		want     int
	}{{"/kept", "d1", 200}, {"/other", "d2", 200}, {"/other", "d3", 200}, {"/other", "d2", 409}} {
		if got := post(c.path, c.id); got != c.want {
			t.Fatalf("POST %s %s: %d, want %d", c.path, c.id, got, c.want)
		}
	}
	if ds := rcv.Deliveries(); len(ds) != 1 || ds[0].Envelope.ID != "d1" {
		t.Fatalf("kept deliveries %+v, want d1 alone", ds)
	}
	if n := rcv.Count(); n != 3 {
		t.Fatalf("Count %d, want 3", n)
	}
}
