// Package vaulttest runs a real HashiCorp Vault server in dev mode for tests:
// `vault server -dev` on a random loopback port with a random root token,
// started per test package (Shared) or per test (Start), waited for on
// /v1/sys/health, and stopped by its PID at the end. It never imitates Vault.
//
// The binary is found, in order: $FIREBREAK_VAULT_BIN; `vault` on PATH; the
// build cache (${FIREBREAK_CACHE:-${XDG_CACHE_HOME:-~/.cache}/firebreak}/vault-1.21.4/vault);
// else .ci/vault.sh in the repository is run to build it there (10–25 minutes
// the first time on 2 cores). When no binary can be had, the test fails with a
// message saying how to provide one: Vault tests never skip.
package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Version is the Vault version the project tests against.
const Version = "1.21.4"

// Server is a running dev-mode Vault.
type Server struct {
	Addr      string // http://127.0.0.1:port
	RootToken string
	// UnsealKey is the dev server's single unseal key (for Seal/Unseal tests).
	UnsealKey string

	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
)

// Main runs the package's tests and then stops the shared server, if one was
// started. Use it from TestMain: func TestMain(m *testing.M) { vaulttest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops the shared server, if one was started: for a TestMain
// that has other cleanups to run too.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.Stop()
		shared, sharedErr = nil, nil
	}
}

// Shared returns the package's Vault server, starting it on first use. The
// package's TestMain must call Main (or StopShared) so that it is stopped at the end.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = start()
	}
	if sharedErr != nil {
		t.Fatalf("vaulttest: %v", sharedErr)
	}
	return shared
}

// Start starts a server for this test alone (for tests that seal it or stop
// it) and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Binary returns the path of a real Vault server binary (see the package doc).
func Binary() (string, error) {
	if p := os.Getenv("FIREBREAK_VAULT_BIN"); p != "" {
		if isExec(p) {
			return p, nil
		}
		return "", fmt.Errorf("FIREBREAK_VAULT_BIN=%s is not an executable file", p)
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p, nil
	}
	cache := os.Getenv("FIREBREAK_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "firebreak")
	}
	if p := filepath.Join(cache, "vault-"+Version, "vault"); isExec(p) {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("no Vault binary: set FIREBREAK_VAULT_BIN, put `vault` on PATH, or run .ci/vault.sh (%v)", err)
	}
	fmt.Fprintf(os.Stderr, "vaulttest: no Vault binary found; building Vault v%s with .ci/vault.sh (first time only: 10–25 minutes on 2 cores)\n", Version)
	cmd := exec.Command("bash", filepath.Join(root, ".ci", "vault.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("no Vault binary, and .ci/vault.sh failed to build one: %w (set FIREBREAK_VAULT_BIN to a Vault %s server binary)", err, Version)
	}
	p := strings.TrimSpace(string(out))
	if !isExec(p) {
		return "", fmt.Errorf(".ci/vault.sh printed %q, which is not an executable", p)
	}
	return p, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory (a test runs in its package's
// directory) to the directory holding .ci/vault.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isExec(filepath.Join(dir, ".ci", "vault.sh")) || fileExists(filepath.Join(dir, ".ci", "vault.sh")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(".ci/vault.sh not found above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "root-" + hex.EncodeToString(b)
}

var unsealRe = regexp.MustCompile(`Unseal Key: (\S+)`)

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken between probe and bind
		s, err := startOnce(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("http://127.0.0.1:%d", port), RootToken: randomToken(), log: &bytes.Buffer{}, done: make(chan struct{})}
	cmd := exec.Command(bin, "server", "-dev",
		"-dev-root-token-id="+s.RootToken,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port),
		"-dev-no-store-token", "-log-level=warn")
	cmd.Env = append(os.Environ(), "VAULT_DISABLE_MLOCK=true", "HOME="+os.TempDir())
	setPdeathsig(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			if m := unsealRe.FindStringSubmatch(line); m != nil {
				s.UnsealKey = m[1]
			}
			if s.log.Len() < 1<<20 {
				s.log.WriteString(line + "\n")
			}
			s.mu.Unlock()
		}
	}()
	go func() { _ = cmd.Wait(); pw.Close(); close(s.done) }()

	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("vault server exited during start:\n%s", s.Log())
		default:
		}
		resp, err := hc.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("vault server not healthy after 60s:\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The unseal key line is printed before the server is healthy; wait for
	// the reader to have seen it.
	for i := 0; i < 100; i++ {
		s.mu.Lock()
		k := s.UnsealKey
		s.mu.Unlock()
		if k != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, nil
}

// Log returns what the server printed (never printed by the helper itself
// unless the server fails to start).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop stops the server by its PID (SIGTERM, then SIGKILL after 5s).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// Client returns a root-token client for the server (retries off).
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	c, err := s.NewClient(s.RootToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewClient returns a client with the given token (retries off).
func (s *Server) NewClient(token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}

// Seal seals the server.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.Client(t).Sys().SealWithContext(context.Background()); err != nil {
		t.Fatalf("seal: %v", err)
	}
}

// Unseal unseals the server with the dev unseal key.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	k := s.UnsealKey
	s.mu.Unlock()
	if k == "" {
		t.Fatal("vaulttest: the dev server's unseal key was not seen in its output")
	}
	st, err := s.Client(t).Sys().UnsealWithContext(context.Background(), k)
	if err != nil || st.Sealed {
		t.Fatalf("unseal: %v", err)
	}
}

// Mount enables a secrets engine at path if it is not enabled yet.
func (s *Server) Mount(t testing.TB, path, typ string, options map[string]string) {
	t.Helper()
	c := s.Client(t)
	mounts, err := c.Sys().ListMountsWithContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mounts[strings.TrimSuffix(path, "/")+"/"]; ok {
		return
	}
	if err := c.Sys().MountWithContext(context.Background(), path, &api.MountInput{Type: typ, Options: options}); err != nil {
		// A parallel test may have mounted it in between.
		if mounts, lerr := c.Sys().ListMountsWithContext(context.Background()); lerr == nil && mounts[strings.TrimSuffix(path, "/")+"/"] != nil {
			return
		}
		t.Fatalf("mount %s (%s): %v", path, typ, err)
	}
}

// EnableAuth enables an auth method at path if it is not enabled yet.
func (s *Server) EnableAuth(t testing.TB, path, typ string) {
	t.Helper()
	c := s.Client(t)
	auths, err := c.Sys().ListAuthWithContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := auths[strings.TrimSuffix(path, "/")+"/"]; ok {
		return
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(context.Background(), path, &api.EnableAuthOptions{Type: typ}); err != nil {
		if auths, lerr := c.Sys().ListAuthWithContext(context.Background()); lerr == nil && auths[strings.TrimSuffix(path, "/")+"/"] != nil {
			return
		}
		t.Fatalf("enable auth %s (%s): %v", path, typ, err)
	}
}

// Write writes data at path with the root token.
func (s *Server) Write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := s.Client(t).Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

// UniquePrefix returns a random path segment so that tests sharing a server
// do not see each other's secrets.
func UniquePrefix(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 32
		}
		return '-'
	}, name)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return clean + "-" + hex.EncodeToString(b)
}
