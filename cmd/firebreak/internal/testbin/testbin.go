// Package testbin provides the binaries the process-level tests run: the
// firebreak binary, built once per test binary, and a nats-server binary.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// built is the firebreak binary of this test process: built on first use,
// shared by every test of the package (a memo), removed by Main.
var built struct {
	mu  sync.Mutex
	dir string // the temporary directory holding it; "" before the build
	bin string
}

// Firebreak returns the path of the firebreak binary, building it the
// first time it is asked for in this test process. The package's TestMain
// must call Main, which removes it at the end.
func Firebreak(t testing.TB) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.bin != "" {
		return built.bin
	}
	dir, err := os.MkdirTemp("", "firebreak-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "firebreak")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/firebreak-sec/firebreak/cmd/firebreak").CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("go build ./cmd/firebreak: %v\n%s", err, out)
	}
	built.dir, built.bin = dir, bin
	return bin
}

// Main runs the package's tests, removes the firebreak binary if one was
// built, runs after (other cleanups, such as stopping a shared server) and
// exits with the tests' code. Call it from TestMain.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	built.mu.Lock()
	if built.dir != "" {
		if err := os.RemoveAll(built.dir); err != nil {
			fmt.Fprintf(os.Stderr, "testbin: %v\n", err)
		}
		built.dir, built.bin = "", ""
	}
	built.mu.Unlock()
	for _, f := range after {
		f()
	}
	os.Exit(code)
}

// NATSServer returns a nats-server binary: $FIREBREAK_NATS_SERVER_BIN
// (.ci/test.sh exports it), else what .ci/nats-server.sh provides
// (nats-server on PATH, the cache, or a build of the pinned version from the
// module proxy, about a minute the first time).
func NATSServer(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("FIREBREAK_NATS_SERVER_BIN"); b != "" {
		return b
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, ".ci", "nats-server.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("no nats-server binary: set FIREBREAK_NATS_SERVER_BIN or run .ci/nats-server.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// ModuleRoot is the directory holding go.mod, found from the working
// directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}
