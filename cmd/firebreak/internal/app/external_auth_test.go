package app_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/app"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/tlstest"
)

// TestExternalNATSWithClientCert: with nats.ca_file, nats.cert_file and
// nats.key_file, serve connects (mutual TLS) to an external server that
// requires a client certificate from its CA and creates the topology
// there; without a certificate, or with one from another CA, it is refused.
func TestExternalNATSWithClientCert(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "nats-test")
	caFile := ca.WriteFile(t, dir)
	ns := runServer(t, func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "nats-test")}, MinVersion: tls.VersionTLS12,
			ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
		o.TLS, o.TLSVerify = true, true
	})
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	certFile, keyFile := tlstest.WriteFiles(t, dir, "firebreak", ca.Client(t, "firebreak"))

	c := externalConfig(t, url)
	c.NATS.CAFile, c.NATS.CertFile, c.NATS.KeyFile = caFile, certFile, keyFile
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

	noCert := externalConfig(t, url)
	noCert.NATS.CAFile = caFile
	if a, err := app.New(context.Background(), noCert, quietLog(), app.Options{}); err == nil {
		a.Close()
		t.Fatal("connected without a client certificate")
	}
	other := tlstest.NewCA(t, "other")
	otherCert, otherKey := tlstest.WriteFiles(t, t.TempDir(), "firebreak", other.Client(t, "firebreak"))
	wrong := externalConfig(t, url)
	wrong.NATS.CAFile, wrong.NATS.CertFile, wrong.NATS.KeyFile = caFile, otherCert, otherKey
	if a, err := app.New(context.Background(), wrong, quietLog(), app.Options{}); err == nil {
		a.Close()
		t.Fatal("connected with a client certificate from another CA")
	}
}

// account is a NATS account in operator (decentralised JWT) mode.
type account struct {
	key nkeys.KeyPair
	pub string
	jwt string
}

// newAccount makes an account signed by operator, with JetStream enabled
// when jetStream is set.
func newAccount(t *testing.T, operator nkeys.KeyPair, jetStream bool) account {
	t.Helper()
	key, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey()
	claims := jwt.NewAccountClaims(pub)
	if jetStream {
		claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	token, err := claims.Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	return account{key: key, pub: pub, jwt: token}
}

// writeCreds writes a .creds file (a user JWT issued by acct and the user's
// nkey seed) and returns its path.
func writeCreds(t *testing.T, acct account) string {
	t.Helper()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	token, err := jwt.NewUserClaims(pub).Encode(acct.key)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "firebreak.creds")
	if err := os.WriteFile(f, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestExternalNATSWithCredsFile: with nats.creds_file, serve connects to an
// external server in operator mode with a user JWT of a trusted account, and
// creates the topology there; a user of an account the server does not know
// is refused, saying why.
func TestExternalNATSWithCredsFile(t *testing.T) {
	operator, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	opub, _ := operator.PublicKey()
	otoken, err := jwt.NewOperatorClaims(opub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	oclaims, err := jwt.DecodeOperatorClaims(otoken)
	if err != nil {
		t.Fatal(err)
	}
	acct, system := newAccount(t, operator, true), newAccount(t, operator, false)
	resolver := &server.MemAccResolver{}
	for _, a := range []account{acct, system} {
		if err := resolver.Store(a.pub, a.jwt); err != nil {
			t.Fatal(err)
		}
	}
	ns := runServer(t, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{oclaims}
		o.AccountResolver = resolver
		o.SystemAccount = system.pub
	})

	c := externalConfig(t, ns.ClientURL())
	c.NATS.CredsFile = writeCreds(t, acct)
	a, err := app.New(context.Background(), c, quietLog(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.JS.Stream(context.Background(), exposure.StreamExposures); err != nil {
		t.Fatalf("topology not created on the external server: %v", err)
	}

	stranger := externalConfig(t, ns.ClientURL())
	stranger.NATS.CredsFile = writeCreds(t, newAccount(t, operator, true)) // an account the resolver does not hold
	if a, err := app.New(context.Background(), stranger, quietLog(), app.Options{}); err == nil ||
		!strings.Contains(strings.ToLower(err.Error()), "authorization") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("a user of an unknown account was accepted or the error does not say why: %v", err)
	}
}
