package tlsfiles_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/tlsfiles"
	"github.com/firebreak-sec/firebreak/ingest/tlstest"
)

// handshake connects a client holding cert (none if nil) to a listener
// using cfg, and returns the server certificate's common name.
func handshake(t *testing.T, cfg *tls.Config, roots *tlstest.CA, cert *tls.Certificate) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
		_, _ = c.Write([]byte("x")) // so the client learns of a refused certificate (TLS 1.3)
	}()
	ccfg := &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost"}
	if cert != nil {
		ccfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// touch gives a rewritten file a modification time later than any before,
// whatever the file system's time granularity.
func touch(t *testing.T, at time.Time, files ...string) {
	t.Helper()
	for _, f := range files {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// Replaced certificate and client CA files take effect on a later handshake
// without a restart; a half-written replacement keeps the previous ones.
func TestReplacedFilesTakeEffect(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "firebreak")
	senders, senders2 := tlstest.NewCA(t, "senders"), tlstest.NewCA(t, "senders-2026")
	certFile, keyFile := tlstest.WriteFiles(t, dir, "server", ca.Server(t, "server-1"))
	caFile := senders.WriteFile(t, dir)
	cfg, err := tlsfiles.Load(tlsfiles.Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	old, next := senders.Client(t, "web-1"), senders2.Client(t, "web-1")
	if name, err := handshake(t, cfg, ca, &old); err != nil || name != "server-1" {
		t.Fatalf("first handshake: %q %v", name, err)
	}
	if _, err := handshake(t, cfg, ca, &next); err == nil {
		t.Fatal("a certificate from a CA not yet trusted was accepted")
	}

	// Rotate: a new server certificate and a new client CA bundle.
	later := time.Now().Add(time.Hour)
	tlstest.WriteFiles(t, dir, "server", ca.Server(t, "server-2"))
	if err := os.WriteFile(caFile, senders2.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, later, certFile, keyFile, caFile)
	if name, err := handshake(t, cfg, ca, &next); err != nil || name != "server-2" {
		t.Fatalf("after the rotation: %q %v", name, err)
	}
	if _, err := handshake(t, cfg, ca, &old); err == nil {
		t.Fatal("a certificate from the replaced CA was still accepted")
	}

	// A half-written key keeps the certificates in use.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, later.Add(time.Hour), keyFile)
	if name, err := handshake(t, cfg, ca, &next); err != nil || name != "server-2" {
		t.Fatalf("with a broken key file: %q %v", name, err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "firebreak")
	certFile, keyFile := tlstest.WriteFiles(t, dir, "server", ca.Server(t, "server"))
	for _, c := range []struct {
		name  string
		files tlsfiles.Files
		field string
	}{
		{"no certificate", tlsfiles.Files{KeyFile: keyFile}, "cert_file"},
		{"no key", tlsfiles.Files{CertFile: certFile}, "key_file"},
		{"key is not the certificate's", tlsfiles.Files{CertFile: certFile, KeyFile: certFile}, "cert_file"},
		{"CA bundle missing", tlsfiles.Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: filepath.Join(dir, "nope.pem")}, "client_ca_file"},
		{"CA bundle without a certificate", tlsfiles.Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: keyFile}, "client_ca_file"},
	} {
		_, err := tlsfiles.Load(c.files, 0)
		var fe *tlsfiles.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
