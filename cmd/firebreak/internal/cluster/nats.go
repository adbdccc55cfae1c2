// Package cluster runs Firebreak the way it is deployed at scale, as real
// processes on loopback: nats-server processes (one, or three clustered with
// JetStream replicas), several `firebreak serve` processes sharing the
// responders' durable consumer, and the provider emulators in the test
// process. Its tests kill servers and instances during a run and check that
// nothing is lost or done twice; its benchmarks produce the figures in
// BENCHMARKS.md (throughput, webhook → revoke latency, RSS, failover pause).
//
// The nats-server binary comes from $FIREBREAK_NATS_SERVER_BIN (exported by
// .ci/test.sh), else .ci/nats-server.sh (nats-server on PATH, the cache, or a
// build of the version go.mod pins). The firebreak binary is built once per
// test binary.
package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/testbin"
)

// NATSOptions configure the nats-server processes.
type NATSOptions struct {
	Nodes int // 1: a single server; 3: a cluster (JetStream R3 needs 3)
	// SyncInterval is JetStream's sync_interval: "always" (fsync before
	// every ack) or empty for nats-server's default (2m, with replication
	// providing durability across machines).
	SyncInterval string
}

// NATSNode is one nats-server process.
type NATSNode struct {
	Name        string
	Port        int
	ClusterPort int
	Dir         string
	cfg         string
	logPath     string
	mu          sync.Mutex
	cmd         *exec.Cmd
	exited      chan struct{}
}

// NATS is a set of nats-server processes.
type NATS struct {
	Nodes []*NATSNode
	bin   string
}

// NATSServerBin finds the nats-server binary (see the package doc).
func NATSServerBin(t testing.TB) string { return testbin.NATSServer(t) }

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartNATS starts the servers and waits until JetStream answers.
func StartNATS(t testing.TB, dir string, o NATSOptions) *NATS {
	t.Helper()
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	n := &NATS{bin: NATSServerBin(t)}
	for i := 0; i < o.Nodes; i++ {
		nd := &NATSNode{Name: fmt.Sprintf("n%d", i+1), Port: FreePort(t), ClusterPort: FreePort(t), Dir: filepath.Join(dir, fmt.Sprintf("nats-%d", i+1))}
		if err := os.MkdirAll(nd.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		n.Nodes = append(n.Nodes, nd)
	}
	for _, nd := range n.Nodes {
		var b strings.Builder
		fmt.Fprintf(&b, "server_name: %s\nlisten: 127.0.0.1:%d\n", nd.Name, nd.Port)
		fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", filepath.Join(nd.Dir, "js"))
		if o.SyncInterval != "" {
			fmt.Fprintf(&b, "  sync_interval: %s\n", o.SyncInterval)
		}
		b.WriteString("}\n")
		if o.Nodes > 1 {
			fmt.Fprintf(&b, "cluster {\n  name: firebreak\n  listen: 127.0.0.1:%d\n  routes: [\n", nd.ClusterPort)
			for _, other := range n.Nodes {
				if other != nd {
					fmt.Fprintf(&b, "    nats-route://127.0.0.1:%d\n", other.ClusterPort)
				}
			}
			b.WriteString("  ]\n}\n")
		}
		nd.cfg = filepath.Join(nd.Dir, "nats.conf")
		nd.logPath = filepath.Join(nd.Dir, "nats.log")
		if err := os.WriteFile(nd.cfg, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(n.Stop) // before the starts: a node that fails to start must not leave the others running
	for i := range n.Nodes {
		n.Start(t, i)
	}
	n.WaitJetStream(t, 60*time.Second)
	return n
}

// URL is the client URL list of every node.
func (n *NATS) URL() string {
	var us []string
	for _, nd := range n.Nodes {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", nd.Port))
	}
	return strings.Join(us, ",")
}

// Start (re)starts node i on its store.
func (n *NATS) Start(t testing.TB, i int) {
	t.Helper()
	nd := n.Nodes[i]
	lf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(n.bin, "-c", nd.cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("start nats-server %s: %v", nd.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(exited) }()
	nd.mu.Lock()
	nd.cmd, nd.exited = cmd, exited
	nd.mu.Unlock()
	// Wait for the client port.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", nd.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(nd.logPath)
			t.Fatalf("nats-server %s did not listen:\n%s", nd.Name, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill SIGKILLs node i and waits for it to be gone.
func (n *NATS) Kill(i int) {
	nd := n.Nodes[i]
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop kills every node.
func (n *NATS) Stop() {
	for i := range n.Nodes {
		n.Kill(i)
	}
}

// Index returns the index of the node named name, or -1.
func (n *NATS) Index(name string) int {
	for i, nd := range n.Nodes {
		if nd.Name == name {
			return i
		}
	}
	return -1
}

// PID returns node i's process id (0 when not running).
func (n *NATS) PID(i int) int {
	nd := n.Nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

// Connect opens a client connection to the servers.
func (n *NATS) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Name("cluster-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// WaitJetStream waits until JetStream answers (a meta leader is elected).
func (n *NATS) WaitJetStream(t testing.TB, within time.Duration) {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
