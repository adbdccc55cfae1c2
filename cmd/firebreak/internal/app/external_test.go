package app_test

import (
	"context"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/tlstest"
)

// runServer starts a real nats-server with JetStream on a random loopback
// port, configured by edit, and stops it when the test ends.
func runServer(t *testing.T, edit func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	edit(opts)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func externalConfig(t *testing.T, url string) *config.Config {
	c := &config.Config{DataDir: t.TempDir()}
	c.NATS.URL = url
	c.Defaults()
	return c
}

// TestExternalNATSWithNKey: with nats.url and an nkey seed file, serve
// connects to an external server that requires the key, creates the topology
// there, and is refused with a wrong key.
func TestExternalNATSWithNKey(t *testing.T) {
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	ns := runServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	seedFile := filepath.Join(t.TempDir(), "firebreak.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	c := externalConfig(t, ns.ClientURL())
	c.NATS.NKeyFile = seedFile
	a, err := app.New(context.Background(), c, quietLog(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Server != nil {
		t.Fatal("an embedded server was started although nats.url is set")
	}
	if _, err := a.JS.Stream(context.Background(), exposure.StreamExposures); err != nil {
		t.Fatalf("topology not created on the external server: %v", err)
	}

	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	if err := os.WriteFile(seedFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(context.Background(), externalConfigWithKey(t, ns.ClientURL(), seedFile), quietLog(), app.Options{}); err == nil ||
		!strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a wrong nkey was accepted or the error does not say why: %v", err)
	}
}

func externalConfigWithKey(t *testing.T, url, seedFile string) *config.Config {
	c := externalConfig(t, url)
	c.NATS.NKeyFile = seedFile
	return c
}

// TestExternalNATSWithTLS: with nats.ca_file, serve verifies the server's
// certificate; without the CA it refuses to connect.
func TestExternalNATSWithTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "nats-test")
	caFile, cert := ca.WriteFile(t, dir), ca.Server(t, "nats-test")
	ns := runServer(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		o.TLS = true
	})
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	c := externalConfig(t, url)
	c.NATS.CAFile = caFile
	a, err := app.New(context.Background(), c, quietLog(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := app.New(context.Background(), externalConfig(t, url), quietLog(), app.Options{}); err == nil {
		t.Fatal("connected without trusting the server's CA")
	}
}
