package logsink_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/tlstest"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

func startSyslog(t *testing.T, h *harness) *logsink.Syslog {
	t.Helper()
	return startSyslogWith(t, h, logsink.SyslogConfig{})
}

// startSyslogWith starts a listener on loopback with cfg's TLS settings (the
// rest as startSyslog).
func startSyslogWith(t *testing.T, h *harness, cfg logsink.SyslogConfig) *logsink.Syslog {
	t.Helper()
	cfg.Listen, cfg.MaxMessage, cfg.Labels = "127.0.0.1:0", 8<<10, map[string]string{"env": "prod"}
	s, err := logsink.NewSyslog(cfg, h.pipe, web.NewMetrics(nil), h.pipe.Log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// waitExposures polls the stream until n exposures are there (or fails after
// a generous deadline: syslog has no answer to wait for).
func (h *harness) waitExposures(n int) []*exposure.Event {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		es := h.exposures()
		if len(es) >= n || time.Now().After(deadline) {
			if len(es) != n {
				h.t.Fatalf("%d exposures, want %d", len(es), n)
			}
			return es
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func send(t *testing.T, addr string, chunks ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ch := range chunks {
		if _, err := c.Write([]byte(ch)); err != nil {
			t.Fatal(err)
		}
	}
}

func octet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

func TestSyslogOctetCountedRFC5424(t *testing.T) {
	h := newHarness(t, time.Minute)
	s := startSyslog(t, h)
	key := anthropicKey()
	m1 := `<165>1 2026-01-27T10:00:00.003Z web-1 payments 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] request ok`
	m2 := `<163>1 2026-01-27T10:00:01Z web-1 payments 4242 ID48 - upstream rejected x-api-key: ` + key
	// The two frames split across writes at an awkward place.
	all := octet(m1) + octet(m2)
	send(t, s.Addr().String(), all[:7], all[7:140], all[140:])
	es := h.waitExposures(1)
	e := es[0]
	if e.Source.Kind != exposure.SourceSyslog || e.Secret.Provider != "anthropic" || e.Environment != exposure.EnvProd ||
		e.Location.Stream != `{app="payments",env="prod",facility="local4",host="web-1"}` || e.Location.Labels["msgid"] != "ID48" ||
		e.Location.Labels["severity"] != "error" || e.Location.Labels["peer"] != "127.0.0.1" || h.open(e) != key {
		t.Fatalf("exposure %+v", e)
	}
	if !e.ObservedAt.Equal(time.Date(2026, 1, 27, 10, 0, 1, 0, time.UTC)) {
		t.Fatalf("observed_at %v", e.ObservedAt)
	}
	h.assertClean(key)
}

func TestSyslogNewlineRFC3164AndMalformed(t *testing.T) {
	h := newHarness(t, time.Minute)
	s := startSyslog(t, h)
	k1, k2 := openAIKey(), anthropicKey()
	lines := "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\r\n" +
		"<13>Jan 27 10:00:00 db-2 backup[311]: using OPENAI_API_KEY=" + k1 + "\n" +
		"this is not syslog at all, but it holds " + k2 + "\n"
	send(t, s.Addr().String(), lines)
	es := h.waitExposures(2)
	if es[0].Secret.Provider != "openai" || es[0].Location.Labels["host"] != "db-2" || es[0].Location.Labels["app"] != "backup" ||
		es[0].Location.Labels["procid"] != "311" {
		t.Fatalf("rfc3164 exposure %+v", es[0].Location)
	}
	if es[1].Secret.Provider != "anthropic" || es[1].Location.Stream != `{env="prod"}` {
		t.Fatalf("malformed-message exposure %+v", es[1].Location)
	}
	h.assertClean(k1, k2)
}

// A message longer than the frame limit is scanned in overlapping chunks: a
// key across the chunk boundary is still found.
func TestSyslogOversizedMessage(t *testing.T) {
	h := newHarness(t, time.Minute)
	s := startSyslog(t, h) // MaxMessage 8 KiB
	key := anthropicKey()
	for _, framing := range []string{"octet", "newline"} {
		pad := strings.Repeat("x", 8<<10-50)
		msg := "<13>1 - host app - - - " + pad + " " + key + " " + strings.Repeat("y", 20<<10)
		if framing == "octet" {
			send(t, s.Addr().String(), octet(msg))
		} else {
			send(t, s.Addr().String(), msg+"\n")
		}
	}
	// Same key, same stream: one exposure (the second folded).
	es := h.waitExposures(1)
	if h.open(es[0]) != key {
		t.Fatal("wrong key")
	}
	h.assertClean(key)
}

func TestSyslogBrokenFramingClosesConnection(t *testing.T) {
	h := newHarness(t, time.Minute)
	s := startSyslog(t, h)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(octet("<13>1 - h a - - - fine") + "12x <13>1 broken")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection stayed open after a broken frame")
	}
}

// TestSyslogOverMutualTLS: with TLS and client CAs (RFC 5425, mutual TLS), a
// sender holding a certificate from the CA delivers; one without a
// certificate, one with a certificate from another CA, and one speaking
// plain TCP deliver nothing, and a peer that stalls in the handshake is cut
// off.
func TestSyslogOverMutualTLS(t *testing.T) {
	h := newHarness(t, time.Minute)
	ca, rogue := tlstest.NewCA(t, "senders"), tlstest.NewCA(t, "rogue")
	srv := &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "syslog.firebreak.test")}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	s := startSyslogWith(t, h, logsink.SyslogConfig{TLS: srv, HandshakeTimeout: 300 * time.Millisecond})
	addr := s.Addr().String()
	key := anthropicKey()
	msg := octet(`<163>1 2026-01-27T10:00:01Z web-1 payments 4242 ID48 - upstream rejected x-api-key: ` + key)
	sendTLS := func(cert *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	stranger := rogue.Client(t, "stranger")
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA's certificate": &stranger} {
		if err := sendTLS(cert); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the server did not refuse the handshake (%v)", name, err)
		}
	}
	send(t, addr, msg) // plain TCP to a TLS listener
	stall, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	_ = stall.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stall.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a stalled handshake was not cut off: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(h.exposures()); n != 0 {
		t.Fatalf("%d exposures from refused senders", n)
	}
	good := ca.Client(t, "web-1.payments")
	if err := sendTLS(&good); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) {
		t.Fatalf("the certified sender: %v", err)
	}
	e := h.waitExposures(1)[0]
	if e.Source.Kind != exposure.SourceSyslog || e.Secret.Provider != "anthropic" || e.Location.Labels["host"] != "web-1" || h.open(e) != key {
		t.Fatalf("exposure %+v", e)
	}
	if !strings.Contains(h.logs.String(), "syslog TLS handshake failed") {
		t.Fatal("refused handshakes were not logged")
	}
	h.assertClean(key)
}
