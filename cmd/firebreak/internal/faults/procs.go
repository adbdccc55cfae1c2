package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// process is a child process that can be started, SIGKILLed and restarted;
// every generation appends to one log file.
type process struct {
	name    string
	bin     string
	args    []string
	env     []string
	logPath string
	ready   func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	gen  int
}

func (p *process) start(ctx context.Context) error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(exit) }()
	p.mu.Lock()
	p.cmd, p.exit = cmd, exit
	p.gen++
	p.mu.Unlock()
	if p.ready == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		err := p.ready(rctx)
		if err == nil {
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("%s exited before it was ready (see %s)", p.name, p.logPath)
		case <-rctx.Done():
			p.signal(syscall.SIGKILL)
			return fmt.Errorf("%s not ready: %v (see %s)", p.name, err, p.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// signal sends sig and waits for the process to exit.
func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exit := p.cmd, p.exit
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exit:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
	}
}

// running reports whether the current generation is alive.
func (p *process) running() bool {
	p.mu.Lock()
	exit := p.exit
	p.mu.Unlock()
	if exit == nil {
		return false
	}
	select {
	case <-exit:
		return false
	default:
		return true
	}
}

// httpReady polls url until it answers 200.
func httpReady(client *http.Client, url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	}
}

// natsServer is a nats-server process with JetStream on a file store that
// survives its restarts (sync_interval: always, as Firebreak requires of a
// deployment that answers 2xx only for durable exposures).
type natsServer struct {
	*process
	URL     string
	monitor string
	store   string
}

func newNATSServer(bin, dir string, client *http.Client) (*natsServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mon, err := freeAddr()
	if err != nil {
		return nil, err
	}
	store := filepath.Join(dir, "nats-store")
	conf := filepath.Join(dir, "nats-server.conf")
	text := fmt.Sprintf("server_name: faults-nats\nlisten: %q\nhttp: %q\nmax_payload: 8MB\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n",
		addr, mon, store)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	n := &natsServer{URL: "nats://" + addr, monitor: "http://" + mon, store: store}
	n.process = &process{name: "nats-server", bin: bin, args: []string{"-c", conf}, logPath: filepath.Join(dir, "nats-server.log"),
		ready: httpReady(client, n.monitor+"/healthz?js-enabled-only=true")}
	return n, nil
}

// firebreak is one `firebreak serve` process.
type firebreak struct {
	*process
	ID   int
	Addr string // host:port of its HTTP server
	URL  string
}

func newFirebreak(id int, bin, cfgPath, logPath, addr string, env []string, client *http.Client) *firebreak {
	f := &firebreak{ID: id, Addr: addr, URL: "http://" + addr}
	f.process = &process{name: fmt.Sprintf("firebreak-%d", id), bin: bin, args: []string{"serve", "--config", cfgPath},
		env: env, logPath: logPath, ready: httpReady(client, f.URL+"/readyz")}
	return f
}
