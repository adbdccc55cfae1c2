package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/cmd/firebreak/internal/config"
)

// compose is the part of the Compose file format the checks read.
type compose struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       any            `yaml:"build"`
		Command     []string       `yaml:"command"`
		Entrypoint  []string       `yaml:"entrypoint"`
		Environment map[string]any `yaml:"environment"`
		Ports       []string       `yaml:"ports"`
		Volumes     []string       `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Configs []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"configs"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

func containerPorts(ports []string) []string {
	var out []string
	for _, p := range ports {
		parts := strings.Split(p, ":")
		out = append(out, parts[len(parts)-1])
	}
	return out
}

// TestComposeFile parses docker-compose.yml (no Docker engine runs here) and
// checks that its parts reference each other: every named volume is declared
// and used, dependencies name services, Firebreak's config (inline, loaded with
// Firebreak's own loader) points at the nats and vault services on the ports
// they listen on, JetStream stores on the volume, and Firebreak's HTTP port is
// the one published.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"nats", "vault", "firebreak"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s is missing", name)
		}
	}
	used := map[string]bool{}
	mounts := map[string]map[string]string{} // service → volume → container path
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
			if cond := s.DependsOn[dep].Condition; cond == "service_healthy" && c.Services[dep].Healthcheck == nil {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
		for _, v := range s.Volumes {
			src, dst, ok := strings.Cut(v, ":")
			if !ok || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				continue // bind mounts
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts undeclared volume %s", name, src)
			}
			used[src] = true
			if mounts[name] == nil {
				mounts[name] = map[string]string{}
			}
			mounts[name][src] = strings.Split(dst, ":")[0]
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) >= 2 {
				if other, dup := hostPorts[parts[len(parts)-2]]; dup {
					t.Errorf("host port %s published by %s and %s", parts[len(parts)-2], other, name)
				}
				hostPorts[parts[len(parts)-2]] = name
			}
		}
		for _, cf := range s.Configs {
			if _, ok := c.Configs[cf.Source]; !ok {
				t.Errorf("service %s uses undeclared config %s", name, cf.Source)
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}

	// NATS runs JetStream and stores on its volume.
	nats := c.Services["nats"]
	cmd := strings.Join(nats.Command, " ")
	if !slices.Contains(nats.Command, "-js") {
		t.Error("nats runs without JetStream (-js)")
	}
	sd := regexp.MustCompile(`-sd (\S+)`).FindStringSubmatch(cmd)
	if sd == nil || !strings.HasPrefix(sd[1], mounts["nats"]["nats-data"]) || mounts["nats"]["nats-data"] == "" {
		t.Errorf("JetStream's store (%v) is not on the nats-data volume (%v)", sd, mounts["nats"])
	}

	// Firebreak's configuration loads, and points at the services.
	fb := c.Services["firebreak"]
	if len(fb.Configs) != 1 || !slices.Contains(fb.Command, fb.Configs[0].Target) {
		t.Fatalf("firebreak does not run with its mounted config: command %v, configs %v", fb.Command, fb.Configs)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "firebreak.yaml")
	if err := os.WriteFile(path, []byte(c.Configs[fb.Configs[0].Source].Content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the inline Firebreak config does not load: %v", err)
	}
	for _, ref := range []struct{ svc, raw string }{{"nats", cfg.NATS.URL}, {"vault", cfg.Vault.Address}} {
		u, err := url.Parse(ref.raw)
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != ref.svc {
			t.Errorf("firebreak reaches %s at %s, not at the %s service", ref.svc, ref.raw, ref.svc)
		}
		if _, ok := fb.DependsOn[ref.svc]; !ok {
			t.Errorf("firebreak does not depend on %s", ref.svc)
		}
		listens := containerPorts(c.Services[ref.svc].Ports)
		if ref.svc == "vault" {
			m := regexp.MustCompile(`-dev-listen-address=\S+:(\d+)`).FindStringSubmatch(strings.Join(c.Services["vault"].Command, " "))
			if m == nil || m[1] != u.Port() {
				t.Errorf("vault listens on %v, firebreak uses port %s", m, u.Port())
			}
		}
		if !slices.Contains(listens, u.Port()) {
			t.Errorf("%s port %s is not among the %s service's ports %v", ref.svc, u.Port(), ref.svc, listens)
		}
	}
	if cfg.DataDir != mounts["firebreak"]["firebreak-data"] {
		t.Errorf("firebreak's data_dir %s is not its volume's mount point %s", cfg.DataDir, mounts["firebreak"]["firebreak-data"])
	}
	_, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if !slices.Contains(containerPorts(fb.Ports), port) {
		t.Errorf("firebreak listens on %s, publishes %v", port, fb.Ports)
	}
	if cfg.Vault.Auth.Method == "token" {
		if _, ok := fb.Environment["VAULT_TOKEN"]; !ok || !strings.Contains(string(cfg.Vault.Auth.Token), "VAULT_TOKEN") {
			t.Error("firebreak's Vault token reference is not provided by its environment")
		}
	}
}

// TestDockerfile checks the image is built in stages, statically, and runs as
// a non-root user on the port compose publishes.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var static, entry, expose bool
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, line)
		case "USER":
			users = append(users, f[1])
		case "ENTRYPOINT":
			entry = strings.Contains(line, "firebreak")
		case "EXPOSE":
			expose = slices.Contains(f[1:], "8080")
		}
		if strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(string(b), "go build") {
			static = true
		}
	}
	if len(froms) < 2 || !strings.Contains(froms[0], " AS ") {
		t.Errorf("not a multi-stage build: %v", froms)
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image runs as root")
	}
	if u := users[len(users)-1]; strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("the final USER is %s", u)
	}
	if !static || !entry || !expose {
		t.Errorf("static build %v, firebreak entrypoint %v, EXPOSE 8080 %v", static, entry, expose)
	}
}
