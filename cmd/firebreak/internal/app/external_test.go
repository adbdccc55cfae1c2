package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
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
	caFile, cert := selfSigned(t, dir)
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

func selfSigned(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nats-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, cert
}
