package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/logsink"
	"github.com/firebreak-sec/firebreak/ingest/secret"
)

// scanOptions are the flags of `firebreak scan`.
type scanOptions struct {
	format         string
	exitCode       int
	testKeys       bool
	dataDir        string
	keyring        string
	fingerprintKey string
	publish        string
	token          string
	labels         []string
	allowHTTP      bool
}

func scanCmd() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [FILE|DIR...]",
		Short: "Find leaked keys in files or stdin; one JSON object per finding per line",
		Long: `Run Firebreak's detectors over files, directories (recursively, skipping .git)
or standard input (no argument, or "-"). Each finding is one line of JSON with
provider, type, redacted, fingerprint, file, line (1-based), column (1-based
byte offset in the line) and, for AWS keys, key_id. The raw secret is never
printed.

Exit status: 0 when nothing was found, --exit-code (default 1) when something
was, 2 when a file could not be read or --publish failed.

Fingerprints are keyed HMACs, comparable only under the same key: the
deployment keyring (--keyring, or <data-dir>/keyring.json when present, so a
finding's fingerprint matches the incident id a local serve gives it), else
--fingerprint-key (env:NAME or file:PATH, 16+ bytes: stable across runs, e.g.
in CI), else a key made for this run only (a note on stderr says so).

--publish URL sends the findings to a running Firebreak (POST
URL/v1/ingest/scan with the ingest token), which seals them and runs its
playbooks. The secrets travel to the server: use https, or http to loopback.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runScan(cmd, args, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "jsonl", "output format: jsonl or text")
	f.IntVar(&o.exitCode, "exit-code", 1, "exit status when anything is found (0: report only)")
	f.BoolVar(&o.testKeys, "test-keys", false, "also report test-mode keys (Stripe sk_test_, rk_test_)")
	f.StringVar(&o.dataDir, "data-dir", "./firebreak-data", "data dir of a local serve, for its keyring and ingest token")
	f.StringVar(&o.keyring, "keyring", "", "keyring file for fingerprints (default <data-dir>/keyring.json when present)")
	f.StringVar(&o.fingerprintKey, "fingerprint-key", "", "fingerprint key reference (env:NAME or file:PATH) when there is no keyring")
	f.StringVar(&o.publish, "publish", "", "base URL of a running Firebreak to send the findings to as exposures")
	f.StringVar(&o.token, "token", "", "ingest token reference for --publish (default env FIREBREAK_INGEST_TOKEN, then <data-dir>/ingest-token)")
	f.StringArrayVar(&o.labels, "label", nil, "label k=v for published findings (repo, branch, commit, env, ...); repeatable")
	f.BoolVar(&o.allowHTTP, "allow-http", false, "allow --publish over plain http to a host that is not loopback")
	return cmd
}

// scanFinding is one line of `firebreak scan` output.
type scanFinding struct {
	Provider    string `json:"provider"`
	Type        string `json:"type"`
	Redacted    string `json:"redacted"`
	Fingerprint string `json:"fingerprint"`
	File        string `json:"file"`
	Line        int    `json:"line"`
	Column      int    `json:"column"`
	KeyID       string `json:"key_id,omitempty"`
}

func runScan(cmd *cobra.Command, args []string, o scanOptions) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.format != "jsonl" && o.format != "text" {
		return fmt.Errorf("--format must be jsonl or text, got %q", o.format)
	}
	if o.exitCode < 0 || o.exitCode > 125 {
		return fmt.Errorf("--exit-code must be between 0 and 125")
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return err
	}
	var pub *publisher
	if o.publish != "" {
		if pub, err = newPublisher(ctx, o, labels); err != nil {
			return err
		}
	}
	fpKey, note, err := scanFingerprintKey(ctx, o)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(stderr, "firebreak scan: "+note)
	}
	var opts []detect.Option
	if o.testKeys {
		opts = append(opts, detect.WithTestKeys())
	}
	sc := detect.New(opts...)
	enc := json.NewEncoder(stdout)
	found, files, failed := 0, 0, 0
	scanOne := func(name string, r io.Reader) {
		files++
		err := sc.ScanReader(ctx, r, func(f detect.Finding, raw []byte) error {
			found++
			v := secret.FromBytes(raw)
			out := scanFinding{Provider: f.Provider, Type: f.Type, Redacted: secret.Hint(v),
				Fingerprint: secret.FingerprintBytes(fpKey, raw), File: name, Line: f.Line, Column: f.Column, KeyID: f.KeyID}
			if pub != nil {
				pub.add(v, out)
			} else {
				v.Wipe()
			}
			if o.format == "text" {
				kid := ""
				if out.KeyID != "" {
					kid = " key_id=" + out.KeyID
				}
				fmt.Fprintf(stdout, "%s:%d:%d: %s %s %s fingerprint=%s%s\n", name, out.Line, out.Column, out.Provider, out.Type,
					out.Redacted, out.Fingerprint[:16], kid)
				return nil
			}
			return enc.Encode(out)
		})
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "firebreak scan: %s: %v\n", name, err)
		}
	}
	if len(args) == 0 {
		args = []string{"-"}
	}
	for _, arg := range args {
		if arg == "-" {
			scanOne("-", cmd.InOrStdin())
			continue
		}
		err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "firebreak scan: %v\n", err)
				return nil
			}
			if d.IsDir() {
				if d.Name() == ".git" && p != arg {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil // symlinks, devices, sockets
			}
			f, err := os.Open(p)
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "firebreak scan: %v\n", err)
				return nil
			}
			defer f.Close()
			scanOne(p, f)
			return ctx.Err()
		})
		if err != nil {
			return err
		}
	}
	if o.format == "text" || found > 0 {
		fmt.Fprintf(stderr, "firebreak scan: %d finding(s) in %d file(s)\n", found, files)
	}
	if pub != nil && len(pub.findings) > 0 {
		n, err := pub.send(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "firebreak scan: --publish: %v\n", err)
			failed++
		} else {
			fmt.Fprintf(stderr, "firebreak scan: published %d finding(s) to %s: %d new exposure(s)\n", len(pub.findings), pub.url, n)
		}
	}
	switch {
	case failed > 0:
		return exitError{code: 2}
	case found > 0 && o.exitCode != 0:
		return exitError{code: o.exitCode}
	}
	return nil
}

func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// scanFingerprintKey picks the fingerprint key: --keyring or the data dir's
// keyring, --fingerprint-key, or a per-run key (with a note saying so).
func scanFingerprintKey(ctx context.Context, o scanOptions) (key []byte, note string, err error) {
	path := o.keyring
	if path == "" && o.fingerprintKey == "" {
		if p := filepath.Join(o.dataDir, "keyring.json"); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		kr, err := readKeyring(path)
		if err != nil {
			return nil, "", err
		}
		return kr.FingerprintKey(), "", nil
	}
	if o.fingerprintKey != "" {
		src, err := (secret.Resolvers{}).Source(secret.Ref(o.fingerprintKey))
		if err != nil {
			return nil, "", fmt.Errorf("--fingerprint-key: %w", err)
		}
		v, err := src.Secret(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("--fingerprint-key: %w", err)
		}
		if v.Len() < 16 {
			return nil, "", errors.New("--fingerprint-key: the key must be at least 16 bytes")
		}
		return v.Bytes(), "", nil
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", err
	}
	return key, "no keyring at " + filepath.Join(o.dataDir, "keyring.json") +
		" and no --fingerprint-key: fingerprints are keyed for this run only (compare them within this output)", nil
}

// readKeyring reads a keyring without ever creating one, refusing a file
// that group or others can read (as serve does).
func readKeyring(path string) (*secret.Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring %s is readable by group or others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	kr, err := secret.ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return kr, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// publisher sends findings to POST /v1/ingest/scan.
type publisher struct {
	url      string
	token    secret.Value
	labels   map[string]string
	client   *http.Client
	findings []pubFinding
}

type pubFinding struct {
	v secret.Value
	f scanFinding
}

func newPublisher(ctx context.Context, o scanOptions, labels map[string]string) (*publisher, error) {
	u, err := url.Parse(strings.TrimRight(o.publish, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--publish must be an http(s) URL, got %q", o.publish)
	}
	if u.Scheme == "http" && !o.allowHTTP && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--publish over plain http to %s would send the secrets in clear; use https (or --allow-http)", u.Host)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/ingest/scan"
	}
	ref := o.token
	if ref == "" {
		if os.Getenv("FIREBREAK_INGEST_TOKEN") != "" {
			ref = "env:FIREBREAK_INGEST_TOKEN"
		} else if p := filepath.Join(o.dataDir, "ingest-token"); fileExists(p) {
			ref = "file:" + p
		} else {
			return nil, errors.New("--publish needs an ingest token: --token env:NAME|file:PATH, FIREBREAK_INGEST_TOKEN, or a local serve's <data-dir>/ingest-token")
		}
	}
	src, err := (secret.Resolvers{}).Source(secret.Ref(ref))
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	tok, err := src.Secret(ctx)
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	return &publisher{url: u.String(), token: tok, labels: labels, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *publisher) add(v secret.Value, f scanFinding) {
	p.findings = append(p.findings, pubFinding{v: v, f: f})
}

// send posts the findings in batches of 500 and returns how many new
// exposures the server made.
func (p *publisher) send(ctx context.Context) (int, error) {
	defer func() {
		for i := range p.findings {
			p.findings[i].v.Wipe()
		}
	}()
	created := 0
	for start := 0; start < len(p.findings); start += 500 {
		batch := p.findings[start:min(start+500, len(p.findings))]
		req := logsink.ScanRequest{Labels: p.labels}
		for _, f := range batch {
			req.Findings = append(req.Findings, logsink.ScanFinding{Secret: f.v.Reveal(), File: f.f.File, Line: f.f.Line,
				Column: f.f.Column, KeyID: keyIDFor(f.f)})
		}
		body, err := json.Marshal(req)
		if err != nil {
			return created, err
		}
		n, err := p.post(ctx, body)
		clear(body)
		if err != nil {
			return created, err
		}
		created += n
	}
	return created, nil
}

// keyIDFor sends the paired access key id with an AWS secret key (the
// server recognises a secret key only next to its id).
func keyIDFor(f scanFinding) string {
	if f.Type == "aws_secret_access_key" {
		return f.KeyID
	}
	return ""
}

func (p *publisher) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.token.Reveal())
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", p.url, scrubErr(err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Error     string   `json:"error"`
		Exposures []string `json:"exposure_ids"`
	}
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode != http.StatusAccepted {
		msg := out.Error
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return 0, fmt.Errorf("POST %s: %d: %s", p.url, resp.StatusCode, msg)
	}
	return len(out.Exposures), nil
}

// scrubErr keeps a transport error's operation and cause, not the request.
func scrubErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
