// Package tlsfiles serves TLS from PEM files that may be replaced while the
// server runs (cert-manager, Vault agent, a cron job): a listener's
// certificate and the CAs its clients' certificates must chain to.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files.
type Files struct {
	CertFile     string // the listener's certificate chain
	KeyFile      string // its private key
	ClientCAFile string // optional: clients must present a certificate these CAs signed
}

// FieldError is a problem with one of the files; Field is "cert_file",
// "key_file" or "client_ca_file".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// DefaultInterval is how often, at most, the files' modification times are
// checked (on a handshake).
const DefaultInterval = 5 * time.Second

// Load reads the files (TLS 1.2 or later; with ClientCAFile, client
// certificates are required and verified) and returns a configuration that
// reads them again on a handshake once their modification times changed,
// checked at most every interval (DefaultInterval when 0). A reload that
// fails (a file half written) keeps the previous certificates and is tried
// again at the next check. Load's own errors are *FieldError.
func Load(f Files, interval time.Duration) (*tls.Config, error) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	r := &reloader{files: f, interval: interval}
	cfg, err := f.read()
	if err != nil {
		return nil, err
	}
	r.cfg, r.mods, r.checked = cfg, f.mods(), time.Now()
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return r.current(), nil
	}}, nil
}

type reloader struct {
	files    Files
	interval time.Duration

	mu      sync.Mutex
	cfg     *tls.Config
	mods    [3]time.Time
	checked time.Time
}

func (r *reloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < r.interval {
		return r.cfg
	}
	r.checked = time.Now()
	if mods := r.files.mods(); mods != r.mods {
		if cfg, err := r.files.read(); err == nil {
			r.cfg, r.mods = cfg, mods
		}
	}
	return r.cfg
}

func (f Files) mods() (out [3]time.Time) {
	for i, name := range []string{f.CertFile, f.KeyFile, f.ClientCAFile} {
		if st, err := os.Stat(name); name != "" && err == nil {
			out[i] = st.ModTime()
		}
	}
	return out
}

func (f Files) read() (*tls.Config, error) {
	switch {
	case f.CertFile == "":
		return nil, &FieldError{"cert_file", errors.New("is required with tls (key_file and client_ca_file need it)")}
	case f.KeyFile == "":
		return nil, &FieldError{"key_file", errors.New("is required with cert_file")}
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, &FieldError{"cert_file", err}
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, &FieldError{"client_ca_file", err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FieldError{"client_ca_file", fmt.Errorf("%s holds no PEM certificate", f.ClientCAFile)}
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
