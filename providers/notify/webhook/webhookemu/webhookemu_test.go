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
