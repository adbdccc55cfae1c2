package config

import (
	"encoding"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/tlsfiles"
	"github.com/firebreak-sec/firebreak/playbooks/yamlsyntax"
)

// EnvPrefix prefixes every environment override: FIREBREAK_HTTP_LISTEN
// overrides http.listen, FIREBREAK_NATS_EMBEDDED_FSYNC nats.embedded.fsync.
const EnvPrefix = "FIREBREAK_"

// Problem is one configuration error.
type Problem struct {
	Where string // "firebreak.yaml:12:5", "FIREBREAK_NATS_URL" or "" (default)
	Path  string // "nats.embedded.fsync"
	Msg   string

	line, col int // position in the file (0 when not from the file), for ordering
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.Path + ": " + p.Msg
	}
	return p.Where + ": " + p.Path + ": " + p.Msg
}

// Problems is every configuration error at once.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// sort orders problems as a reader meets them: those in the file by line and
// column, then those set by environment variables, then those of defaults;
// ties by field path and message, so the order never depends on map order.
func (ps Problems) sort() {
	rank := func(p Problem) int {
		switch {
		case p.Where == "":
			return 2
		case p.line == 0 && strings.HasPrefix(p.Where, EnvPrefix):
			return 1
		}
		return 0
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if a.line != b.line {
			return a.line < b.line
		}
		if a.col != b.col {
			return a.col < b.col
		}
		if a.Where != b.Where {
			return a.Where < b.Where
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}

// place is where a field was set: a file position or an environment variable.
type place struct {
	where     string
	line, col int
}

func (pl place) problem(path, msg string) Problem {
	return Problem{Where: pl.where, Path: path, Msg: msg, line: pl.line, col: pl.col}
}

// Load reads the file at path (none when empty), applies FIREBREAK_*
// environment overrides from getenv (os.Getenv when nil), fills defaults and
// validates everything. It returns Problems listing every error.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var cfg Config
	where := map[string]place{}
	var probs Problems
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		probs = append(probs, parseFile(path, b, &cfg, where)...)
	}
	probs = append(probs, applyEnv(reflect.ValueOf(&cfg).Elem(), "", getenv, where)...)
	cfg.Defaults()
	for _, p := range cfg.validate() {
		probs = append(probs, position(where, p.Path).problem(p.Path, p.Msg))
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	cfg.where = where
	return &cfg, nil
}

var (
	backticked = regexp.MustCompile("`[^`]*`")
	digits     = regexp.MustCompile(`^[-+]?[0-9]+$`) // an integer too large for its field
)

// parseFile decodes the YAML file into cfg, reporting unknown keys and type
// errors with positions, and records where each field path was set. Every
// problem in the file is reported: a refused value is left out of the decode
// (its field keeps its default) so that the rest is still decoded and
// validated.
func parseFile(path string, b []byte, cfg *Config, where map[string]place) Problems {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		at := yamlsyntax.Locate(b, err)
		return Problems{place{where: fmt.Sprintf("%s:%d:%d", path, at.Line, at.Col), line: at.Line, col: at.Col}.
			problem("(file)", "invalid YAML: "+at.Msg)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	var probs Problems
	walk(root, reflect.TypeOf(*cfg), "", path, where, &probs)
	if err := root.Decode(cfg); err != nil {
		// walk refused what cannot decode; this is a safety net. Values are
		// dropped from the message: a mistaken inline secret must not be echoed.
		probs = append(probs, Problem{Where: path, Path: "(file)", Msg: backticked.ReplaceAllString(err.Error(), "value")})
	}
	return probs
}

// walk checks node n against type t: unknown or repeated keys and values of
// the wrong type are problems (a wrong value is replaced by null, so that
// decoding leaves its field unset), and every key's position is recorded
// under its path ("a.b", "a.list[2]").
func walk(n *yaml.Node, t reflect.Type, path, file string, where map[string]place, probs *Problems) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	at := func(n *yaml.Node) place {
		return place{where: fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column), line: n.Line, col: n.Column}
	}
	refuse := func(msg string) {
		*probs = append(*probs, at(n).problem(nonEmpty(path), msg))
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // unset
	}
	switch {
	case t.Kind() == reflect.Struct && !implementsText(t), t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			refuse("must be a mapping, got " + describe(n))
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		if t.Kind() == reflect.Struct {
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				name := strings.Split(f.Tag.Get("yaml"), ",")[0]
				if name == "" || name == "-" {
					continue
				}
				fields[name] = f
				names = append(names, name)
			}
		}
		seen := map[string]int{}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				*probs = append(*probs, at(k).problem(p, fmt.Sprintf("is set twice (first on line %d)", line)))
				continue
			}
			seen[k.Value] = k.Line
			var ft reflect.Type
			if t.Kind() == reflect.Map {
				ft = t.Elem()
			} else {
				f, ok := fields[k.Value]
				if !ok {
					*probs = append(*probs, at(k).problem(p, "unknown field (known: "+strings.Join(names, ", ")+")"))
					continue
				}
				ft = f.Type
			}
			kept = append(kept, k, v)
			where[p] = at(v)
			walk(v, ft, p, file, where, probs)
		}
		n.Content = kept
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			refuse("must be a list, got " + describe(n))
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			where[p] = at(e)
			walk(e, t.Elem(), p, file, where, probs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			refuse("must be " + typeName(t) + ", got " + describe(n))
			return
		}
		isInt := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && t != reflect.TypeOf(Duration(0))
		if isInt && n.ShortTag() == "!!float" && !digits.MatchString(n.Value) {
			refuse("must be an integer, got " + describe(n)) // yaml.v3 would truncate 1.5 to 1
			return
		}
		if isBool(t) && n.ShortTag() != "!!bool" {
			// yaml.v3 would take "yes", "on" and "off" (quoted or not) as
			// YAML 1.1 booleans, yet refuse "true" quoted: only true or false.
			refuse("must be true or false, got " + describe(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			switch {
			case t == reflect.TypeOf(Duration(0)):
				refuse(`must be a duration such as "30s" or "1h30m"`)
			case isInt && digits.MatchString(n.Value):
				refuse("is out of range for " + t.Kind().String())
			default:
				refuse("must be " + typeName(t) + ", got " + describe(n))
			}
		}
	}
}

// isBool reports whether a scalar field of type t takes true or false.
func isBool(t reflect.Type) bool {
	return t.Kind() == reflect.Bool || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool
}

// typeName names what a scalar field takes.
func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(Duration(0)):
		return `a duration such as "30s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return t.String()
}

// describe names the kind of a YAML value, never the value itself (it may be
// a mistaken inline secret).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	}
	return "a string"
}

func nonEmpty(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// join appends key to a field path. A key that is empty or holds anything
// but letters, digits, '_' and '-' is quoted, so the path stays readable.
func join(path, key string) string {
	if key == "" || strings.IndexFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func implementsText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshaler)
}

// EnvName is the environment variable that overrides a field path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// applyEnv overrides scalar fields from FIREBREAK_* variables. Maps (named
// notifiers) are configured in the file only.
func applyEnv(v reflect.Value, path string, getenv func(string) string, where map[string]place) Problems {
	var probs Problems
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		p := join(path, name)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && !implementsText(f.Type) {
			probs = append(probs, applyEnv(fv, p, getenv, where)...)
			continue
		}
		env := EnvName(p)
		raw := getenv(env)
		if raw == "" {
			continue
		}
		if err := setScalar(fv, raw); err != nil {
			probs = append(probs, Problem{Where: env, Path: p, Msg: err.Error()})
			continue
		}
		where[p] = place{where: env}
	}
	return probs
}

func setScalar(v reflect.Value, raw string) error {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("must be an integer")
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		v.SetBool(b)
	case reflect.Slice:
		// A list of strings (or string-typed values such as secret
		// references): comma-separated.
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		sv := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			sv.Index(i).SetString(p)
		}
		v.Set(sv)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Bool {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			v.Set(reflect.ValueOf(&b))
			return nil
		}
		return fmt.Errorf("cannot be set from the environment")
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// position is where path was set, or for a field that is missing, where its
// nearest enclosing section (or list) was.
func position(where map[string]place, path string) place {
	for {
		if w, ok := where[path]; ok {
			return w
		}
		if i := strings.LastIndexByte(path, '['); i > 0 && strings.HasSuffix(path, "]") {
			path = path[:i]
			continue
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return place{}
		}
		path = path[:i]
	}
}

func (c *Config) validate() Problems {
	var ps Problems
	bad := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(path, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	ref := func(path string, r secret.Ref, required bool) {
		if r.IsZero() {
			if required {
				bad(path, "is required (a secret reference: env:NAME or file:PATH)")
			}
			return
		}
		if err := r.Validate("env", "file", "vault"); err != nil {
			bad(path, "%v", err)
		} else if scheme, _ := r.Scheme(); scheme == "vault" && c.Vault.Address == "" {
			bad(path, "a vault: reference needs vault.address")
		}
	}
	// A URL may carry credentials (user info, a token in its path or query:
	// a notifier's webhook URL often does), so a problem says what is wrong
	// with it and never quotes it, nor url.Parse's error, which does.
	httpURL := func(path, u string, required bool) {
		if u == "" {
			if required {
				bad(path, "is required")
			}
			return
		}
		pu, err := url.Parse(u)
		switch {
		case err != nil:
			bad(path, "must be an http(s) URL; it does not parse as a URL")
		case pu.Scheme == "":
			bad(path, "must be an http(s) URL; it has no scheme (http:// or https://)")
		case pu.Scheme != "https" && pu.Scheme != "http" && len(pu.Scheme) <= 10:
			bad(path, "must be an http(s) URL; its scheme is %s:", pu.Scheme)
		case pu.Scheme != "https" && pu.Scheme != "http":
			bad(path, "must be an http(s) URL; its scheme is not http or https")
		case pu.Host == "":
			bad(path, "must be an http(s) URL; it has no host")
		}
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "text")
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "must be host:port, got %q", c.HTTP.Listen)
	}
	if c.HTTP.MaxBody < 1024 || c.HTTP.MaxBody > 1<<30 {
		bad("http.max_body", "must be between 1024 and 1073741824 bytes, got %d", c.HTTP.MaxBody)
	}
	ref("http.admin_token", c.HTTP.AdminToken, false)
	if d := c.HTTP.IngestTimeout.D(); d < 100*time.Millisecond || d > time.Minute {
		bad("http.ingest_timeout", "must be between 100ms and 1m, got %s", d)
	}
	if d := c.HTTP.ShutdownDelay.D(); d < 0 || d > 5*time.Minute {
		bad("http.shutdown_delay", "must be between 0s and 5m, got %s", d)
	}
	if c.HTTP.PublicURL != "" {
		httpURL("http.public_url", c.HTTP.PublicURL, false)
	}
	if c.NATS.URL != "" {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" || !map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}[pu.Scheme] {
				bad("nats.url", "must be nats://, tls://, ws:// or wss:// URLs separated by commas")
				break
			}
			if pu.User != nil {
				bad("nats.url", "must not carry credentials; use nats.creds_file or nats.nkey_file")
				break
			}
		}
		if c.NATS.Embedded.Listen != "" {
			bad("nats.embedded.listen", "is for the embedded server; nats.url points at an external one")
		}
	} else if c.NATS.Replicas != 1 {
		bad("nats.replicas", "must be 1 with the embedded server, got %d", c.NATS.Replicas)
	}
	for path, f := range map[string]string{"nats.creds_file": c.NATS.CredsFile, "nats.nkey_file": c.NATS.NKeyFile,
		"nats.ca_file": c.NATS.CAFile, "nats.cert_file": c.NATS.CertFile, "nats.key_file": c.NATS.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				bad(path, "cannot read %s", f)
			}
		}
	}
	if (c.NATS.CertFile == "") != (c.NATS.KeyFile == "") {
		bad("nats.cert_file", "cert_file and key_file go together")
	}
	if _, _, err := bus.ParseSync(c.NATS.Embedded.FSync); err != nil {
		bad("nats.embedded.fsync", "%v", err)
	}
	if c.NATS.Embedded.Listen != "" {
		if _, _, err := net.SplitHostPort(c.NATS.Embedded.Listen); err != nil {
			bad("nats.embedded.listen", "must be host:port, got %q", c.NATS.Embedded.Listen)
		}
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		bad("nats.replicas", "must be between 1 and 5, got %d", c.NATS.Replicas)
	}
	if c.NATS.AckWait.D() < time.Second {
		bad("nats.ack_wait", "must be at least 1s, got %s", c.NATS.AckWait.D())
	}
	if c.NATS.MaxDeliver < 1 {
		bad("nats.max_deliver", "must be at least 1, got %d", c.NATS.MaxDeliver)
	}
	if c.NATS.DuplicateWindow.D() <= 0 || c.NATS.DuplicateWindow.D() > c.NATS.ExposureMaxAge.D() {
		bad("nats.duplicate_window", "must be positive and at most nats.exposure_max_age")
	}
	if c.NATS.DeliveryTTL.D() < 72*time.Hour {
		bad("nats.delivery_ttl", "must be at least 72h (GitHub redelivers webhooks up to 3 days later), got %s", c.NATS.DeliveryTTL.D())
	}
	if c.NATS.ExposureMaxAge.D() < 24*time.Hour {
		bad("nats.exposure_max_age", "must be at least 24h, got %s", c.NATS.ExposureMaxAge.D())
	}
	if c.Responders.Concurrency < 1 || c.Responders.Concurrency > 4096 {
		bad("responders.concurrency", "must be between 1 and 4096, got %d", c.Responders.Concurrency)
	}
	if c.Playbooks.Dir != "" {
		if st, err := os.Stat(c.Playbooks.Dir); err != nil || !st.IsDir() {
			bad("playbooks.dir", "%q is not a readable directory", c.Playbooks.Dir)
		}
	}
	ref("github.webhook_secret", c.GitHub.WebhookSecret, false)
	ref("github.token", c.GitHub.Token, false)
	httpURL("github.api_url", c.GitHub.APIURL, true)
	httpURL("providers.openai.base_url", c.Providers.OpenAI.BaseURL, true)
	ref("providers.openai.admin_key", c.Providers.OpenAI.AdminKey, false)
	httpURL("providers.github.base_url", c.Providers.GitHub.BaseURL, true)
	if c.Providers.GitHub.RevokePerHour < 1 {
		bad("providers.github.revoke_per_hour", "must be at least 1, got %d", c.Providers.GitHub.RevokePerHour)
	}
	ps = append(ps, c.validateVault(httpURL)...)
	c.validateGHDepth(bad, ref, httpURL)
	ps = append(ps, c.validateOncall()...)
	for name, s := range c.Notifiers.Slack {
		ref("notifiers.slack."+name+".webhook_url", s.WebhookURL, true)
	}
	c.validateBreadth(bad, ref, httpURL)
	ps = append(ps, c.validateLimits()...)
	for name, w := range c.Notifiers.Webhook {
		httpURL("notifiers.webhook."+name+".url", w.URL, true)
		ref("notifiers.webhook."+name+".secret", w.Secret, true)
	}
	for path, refs := range map[string][]secret.Ref{"ingest.tokens": c.Ingest.Tokens, "ingest.logs.tokens": c.Ingest.Logs.Tokens,
		"ingest.hec.tokens": c.Ingest.HEC.Tokens, "ingest.loki.tokens": c.Ingest.Loki.Tokens, "ingest.scan.tokens": c.Ingest.Scan.Tokens} {
		for i, r := range refs {
			if r.IsZero() {
				bad(path, "entry %d is empty", i)
				continue
			}
			ref(path, r, false)
		}
	}
	if d := c.Ingest.DedupWindow.D(); d < time.Second || d > c.NATS.DuplicateWindow.D() {
		bad("ingest.dedup_window", "must be between 1s and nats.duplicate_window (%s), got %s", c.NATS.DuplicateWindow.D(), d)
	}
	if c.Ingest.DedupMax < 1 {
		bad("ingest.dedup_max", "must be at least 1, got %d", c.Ingest.DedupMax)
	}
	if l := c.Ingest.Syslog.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			bad("ingest.syslog.listen", "must be host:port, got %q", l)
		}
	}
	if m := c.Ingest.Syslog.MaxMessage; m < 8<<10 || m > 16<<20 {
		bad("ingest.syslog.max_message", "must be between 8192 and 16777216 bytes, got %d", m)
	}
	if t := c.Ingest.Syslog.TLS; t.Enabled() {
		if c.Ingest.Syslog.Listen == "" {
			bad("ingest.syslog.tls", "needs ingest.syslog.listen")
		} else if _, err := t.Config(); err != nil {
			var fe *tlsfiles.FieldError
			if errors.As(err, &fe) {
				bad("ingest.syslog.tls."+fe.Field, "%v", fe.Err)
			} else {
				bad("ingest.syslog.tls", "%v", err)
			}
		}
	}
	return ps
}

// Example is a documented configuration file (printed by `firebreak config
// example` and checked by tests to load cleanly).
const Example = `# Firebreak configuration. Every field is optional; the values shown are the
# defaults, and a commented-out field shows an example value (uncomment to set
# it). Any scalar field can be overridden by an environment variable:
# FIREBREAK_ + the upper-cased path with '_' for '.', e.g.
# FIREBREAK_HTTP_LISTEN=0.0.0.0:8080 or FIREBREAK_NATS_EMBEDDED_FSYNC=1s.
# Secrets are references, never inline: env:NAME or file:PATH. serve reads
# every one that is set once at start (and again at each use).
data_dir: ./firebreak-data
log: {level: info, format: json}   # level debug | info | warn | error; format json | text
http:
  listen: 127.0.0.1:8080
  max_body: 26214400           # bytes
  # admin_token: file:/run/secrets/firebreak-admin    # default: generated in data_dir
  # public_url: https://firebreak.example.com         # base URL for links in notifications
  ingest_timeout: 8s           # longest wait for the durable publish before an ingest request gets 503
  shutdown_delay: 0s           # after SIGTERM, keep serving this long with /readyz at 503 (5s behind a load balancer)
nats:
  url: ""                      # empty: embedded nats-server; example: nats://nats-1:4222,nats://nats-2:4222
  # creds_file: /run/secrets/firebreak.creds         # external NATS: a credentials file, or
  # nkey_file: /run/secrets/firebreak.nk             # an NKey seed file
  # ca_file: /etc/firebreak/nats-ca.pem              # TLS: CA bundle of the servers
  # cert_file: /etc/firebreak/nats-client.crt        # TLS client certificate (with key_file)
  # key_file: /etc/firebreak/nats-client.key
  embedded:
    # listen: 127.0.0.1:4222   # also serve TCP clients here (off by default)
    fsync: always              # fsync before every ack; or an interval such as 1s
    max_store: 0               # bytes; 0: nats-server's default
  replicas: 1
  ack_wait: 30s
  max_deliver: 10              # attempts of one step (each after a redelivery) before the exposure is dead-lettered
  duplicate_window: 2m
  delivery_ttl: 168h           # remembers webhook delivery ids (GitHub redelivers up to 3 days)
  exposure_max_age: 2160h      # exposures kept 90 days
  audit_max_age: 9600h         # audit trail kept 400 days
  sync_state: false            # true: also fsync incident, delivery, audit and dead-letter writes before their ack (much slower)
keyring:
  # file: ./firebreak-data/keyring.json  # default: data_dir/keyring.json, created on first start (mode 0600)
responders:
  enabled: true                # false: this process only ingests
  concurrency: 16
  grace: 10s                   # on SIGTERM: time for in-flight steps to finish; the rest is handed back (nak)
playbooks:
  builtin: true
  # dir: ./playbooks
github:
  # webhook_secret: env:GITHUB_WEBHOOK_SECRET        # default: generated in data_dir
  # token: env:GITHUB_TOKEN                          # reads alerts' secrets (secret_scanning_alerts: read)
  api_url: https://api.github.com
  # app:                                             # instead of token: a GitHub App installation
  #   app_id: "123456"
  #   installation_id: 7890123
  #   private_key: file:/run/secrets/github-app.pem
  poll:                                              # backfill / catch missed webhooks
    interval: 0s                                     # off; example: 10m (at least 30s)
    # repos: [acme/payments-api]
    # orgs: [acme]
    # enterprises: [acme-corp]
    # since: 2026-01-01                              # skip older alerts
    per_page: 0                                      # 0: 100
    max_wait: 0s                                     # longest rate-limit wait; 0: 1h
  partner:                                           # POST /v1/ingest/github/partner
    enabled: false
    # keys_url: https://api.github.com/meta/public_keys/secret_scanning
    # token: env:GITHUB_PARTNER_TOKEN                # optional: authenticates the key fetch
    feedback: false                                  # answer true/false positive labels (enrolled partners)
    # types: {acme_api_key: {provider: acme, type: api_key}}
  scan_issues: true                                  # scan issues and issue comments
# jira:                                              # Jira Cloud webhooks and the jira.redact step
#   base_url: https://acme.atlassian.net
#   email: firebreak-bot@acme.com
#   api_token: env:JIRA_API_TOKEN
#   webhook_secret: env:JIRA_WEBHOOK_SECRET
#   unsigned: false                                  # true: accept webhooks without a signature (no webhook_secret)
#   projects: {PAY: {environment: prod, owner: payments-team}}
# tickets:
#   token: env:FIREBREAK_TICKETS_TOKEN               # enables POST /v1/ingest/tickets
# Every provider also takes dry_run (true: never call it) and max_concurrency
# (requests in flight from this process; 0: unbounded).
providers:
  openai:
    base_url: https://api.openai.com
    # admin_key: env:OPENAI_ADMIN_KEY                # without it: dry-run
    dry_run: false
    max_concurrency: 0
  github:
    base_url: https://api.github.com
    revoke_per_hour: 60
    batch_window: 500ms
    dry_run: false
    max_concurrency: 0
  # Providers whose key can be checked with the key itself verify without any
  # credential of Firebreak's; revoking needs the credential noted, else the
  # revoke step escalates to a person (never a silent success).
  anthropic:
    base_url: https://api.anthropic.com
    # admin_key: env:ANTHROPIC_ADMIN_KEY             # sk-ant-admin01-…; without it revoke escalates
    dry_run: false
    max_concurrency: 0
  aws:
    region: us-east-1
    endpoint: ""                                     # empty: AWS's own STS and IAM endpoints
    # access_key_id: env:FIREBREAK_AWS_ACCESS_KEY_ID # Firebreak's own principal (not the leaked user)
    # secret_access_key: env:FIREBREAK_AWS_SECRET_ACCESS_KEY
    # session_token: env:FIREBREAK_AWS_SESSION_TOKEN
    dry_run: false
    max_concurrency: 0
  google:
    gemini_url: https://generativelanguage.googleapis.com
    api_keys_url: https://apikeys.googleapis.com
    # access_token: file:/run/secrets/gcp-token      # OAuth token with apikeys.keys.lookup/delete
    dry_run: false
    max_concurrency: 0
  slack: {base_url: https://slack.com, dry_run: false, max_concurrency: 0}
  stripe:
    base_url: https://api.stripe.com
    # management_key: env:STRIPE_KEYS_ADMIN          # without it the leaked key expires itself where allowed
    api_version: ""                                  # Stripe-Version of the v2 API; empty: Firebreak's tested one
    dry_run: false
    max_concurrency: 0
  huggingface: {base_url: https://huggingface.co, dry_run: false, max_concurrency: 0}
  groq: {base_url: https://api.groq.com, dry_run: false, max_concurrency: 0}
  perplexity: {base_url: https://api.perplexity.ai, dry_run: false, max_concurrency: 0}
  xai: {base_url: https://api.x.ai, dry_run: false, max_concurrency: 0}
  replicate: {base_url: https://api.replicate.com, dry_run: false, max_concurrency: 0}
# Named notifiers by kind; a playbook step names one (notifier: default).
notifiers:
  slack:
  #   default: {webhook_url: env:SLACK_WEBHOOK_URL, channel: "#sec-incidents", username: Firebreak}
  webhook:
  #   default: {url: https://hooks.example.com/firebreak, secret: env:FIREBREAK_WEBHOOK_SECRET, headers: {X-Team: security}}
  email:
  #   default: {host: smtp.example.com, port: 587, tls: starttls, username: firebreak, password: env:SMTP_PASSWORD,
  #             from: "Firebreak <firebreak@example.com>", to: [security@example.com], ca_file: /etc/firebreak/smtp-ca.pem}
  pagerduty:
  #   default: {routing_key: env:PAGERDUTY_ROUTING_KEY, url: https://events.pagerduty.com/v2/enqueue}
  teams:
  #   default: {webhook_url: env:TEAMS_WEBHOOK_URL}
  github_issue:
  #   default: {token: env:GITHUB_ISSUES_TOKEN, repo: acme/security-incidents, api_url: https://api.github.com,
  #             labels: [leaked-secret], assignees: [octocat]}
  jira:
  #   default: {base_url: https://acme.atlassian.net, email: firebreak@acme.com, api_token: env:JIRA_API_TOKEN, project: SEC,
  #             issue_type: Task, labels: [leaked-secret]}
  slackbot:
  #   default: {token: env:SLACK_BOT_TOKEN, default_channel: "#sec-incidents", base_url: https://slack.com}
# HashiCorp Vault: vault.rotate / vault.find / vault.revoke_lease, sealing
# through Transit, and vault:PATH#FIELD references for the secrets above
# (e.g. admin_key: vault:secret/data/firebreak/openai#admin_key), read at step
# time. Without an address every vault.* step runs in dry-run.
# vault:
#   address: https://vault.internal:8200
#   namespace: ""                         # Vault Enterprise namespace
#   dev: false                            # true allows auth.method token (a root token), with a warning
#   auth:
#     method: approle                     # approle | jwt | kubernetes | token (dev only)
#     mount: approle                      # default: the method's name
#     role_id: file:/run/secrets/vault-role-id
#     secret_id: file:/run/secrets/vault-secret-id
#     role: firebreak                     # jwt, kubernetes
#     jwt: file:/run/secrets/vault-jwt    # jwt; kubernetes defaults to the pod's service-account token
#     token: env:VAULT_TOKEN              # token (dev only)
#   rotation:
#     intent_mount: secret
#     intent_prefix: firebreak/rotations
#     verify_attempts: 5                  # checks that a new key is live before it is rolled back (0: 5)
#     targets: [{mount: secret, prefix: apps}]  # for "firebreak vault policy"
#   blast_radius:
#     scopes: [{mount: secret, prefix: ""}]
#     on_receive: false                   # true: search before playbooks match
#     max_secrets: 5000                   # secrets read by one search (0: 5000)
#   transit: {mount: transit, key: firebreak} # seal exposures through Transit
#   revoke_prefixes: [aws/creds]
owners:
  # file: ./owners.yaml        # static owners; then CODEOWNERS, the provider's owner, the commit author
ingest:                        # log sinks: /v1/ingest/logs, /services/collector (Splunk HEC), /loki/api/v1/push, syslog
  # tokens: [file:/run/secrets/firebreak-ingest]    # default: generated in data_dir/ingest-token
  #                              (FIREBREAK_INGEST_TOKENS=env:A,file:B sets a list)
  dedup_window: 1m             # one exposure per secret per stream per window, with the count
  dedup_max: 65536
  # per-sink tokens replace ingest.tokens:
  # logs: {tokens: [env:LOGS_TOKEN]}
  # hec: {tokens: [env:SPLUNK_HEC_TOKEN]}
  # loki: {tokens: [env:LOKI_PUSH_TOKEN]}
  # scan: {tokens: [env:SCAN_TOKEN]}
  syslog:
    listen: ""                 # off; example: 127.0.0.1:6514 (without tls.client_ca_file no credentials: loopback or a private network)
    max_message: 65536
    # labels: {env: prod}
    # tls: {cert_file: /etc/firebreak/syslog.crt, key_file: /etc/firebreak/syslog.key, client_ca_file: /etc/firebreak/senders-ca.pem}
`
