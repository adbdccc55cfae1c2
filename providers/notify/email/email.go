// Package email notifies people about an incident by email over SMTP
// (RFC 5321), with STARTTLS (RFC 3207) and SMTP AUTH PLAIN (RFC 4954), using
// the well-kept github.com/emersion/go-smtp client (net/smtp is frozen and
// takes no context).
//
// Security: with a password configured, the connection must be encrypted —
// STARTTLS (the default, port 587) or implicit TLS (port 465) — before AUTH;
// a server that does not offer STARTTLS is refused, never sent the password
// in clear. Certificates are verified (RootCAs adds a private CA).
//
// Failure classes follow SMTP's reply codes: 4yz (transient: 421 service
// not available, 450/451/452) is retryable; 5yz (535 authentication failed,
// 550 mailbox unavailable, 554) is permanent; a connection that could not be
// made or broke is retryable; a TLS verification failure is permanent (it is
// configuration). Every failure is a *providers.Error.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/providers/notify"
)

// Name is the notifier's name (notify.email).
const Name = "email"

// TLS modes.
const (
	TLSStartTLS = "starttls" // plain connect, then STARTTLS (port 587); the default
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption: only without a password (a local relay)
)

// Config configures a Notifier.
type Config struct {
	Host string
	Port int // 587 for starttls, 465 for tls, 25 for none when zero
	TLS  string
	// Username and Password authenticate with AUTH PLAIN; no AUTH when
	// Password is nil.
	Username string
	Password secret.Source
	From     string   // envelope and header From, e.g. "Firebreak <firebreak@example.com>"
	To       []string // default recipients when a message names none
	// RootCAs verifies the server's certificate (nil: the system pool).
	RootCAs *x509.CertPool
	// Timeout bounds a whole send when the context has no deadline (30s).
	Timeout time.Duration
}

// Notifier sends incident messages by email.
type Notifier struct {
	cfg  Config
	from *mail.Address
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Host == "" {
		return nil, errors.New("email: host is required")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("email: tls must be starttls, tls or none, got %q", cfg.TLS)
	}
	if cfg.TLS == TLSNone && cfg.Password != nil {
		return nil, errors.New("email: a password is never sent without TLS; use tls: starttls or tls")
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[cfg.TLS]
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: from %q is not an address: %w", cfg.From, err)
	}
	for _, to := range cfg.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("email: to %q is not an address: %w", to, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Notifier{cfg: cfg, from: from}, nil
}

func (n *Notifier) fail(class providers.Class, msg string, err error) (bool, error) {
	return class == providers.Retryable, &providers.Error{Provider: Name, Op: notify.OpNotify, Class: class, Message: msg, Err: err}
}

// recipients returns m.Channel's addresses (comma-separated) or the defaults.
func (n *Notifier) recipients(m notify.Message) ([]*mail.Address, error) {
	list := n.cfg.To
	if strings.TrimSpace(m.Channel) != "" {
		list = strings.Split(m.Channel, ",")
	}
	var out []*mail.Address
	for _, s := range list {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %q is not an address", s)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no recipient: the message names none and no default is configured")
	}
	return out, nil
}

// Notify sends m.
func (n *Notifier) Notify(ctx context.Context, m notify.Message) (bool, error) {
	rcpts, err := n.recipients(m)
	if err != nil {
		return n.fail(providers.Permanent, err.Error(), nil)
	}
	body, err := n.compose(m, rcpts)
	if err != nil {
		return n.fail(providers.Permanent, "compose the message", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeout)
		defer cancel()
	}
	var password secret.Value
	if n.cfg.Password != nil {
		if password, err = n.cfg.Password.Secret(ctx); err != nil {
			pe := notify.SourceError(Name, "SMTP password", err)
			return pe.Class == providers.Retryable, pe
		}
	}
	addr := net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return n.transport(ctx, "connect to "+addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // a cancelled send ends now
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsCfg := &tls.Config{ServerName: n.cfg.Host, RootCAs: n.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch n.cfg.TLS {
	case TLSStartTLS:
		// EHLO, STARTTLS (refused when the server does not offer it), and
		// the handshake with certificate verification.
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			return n.classify(ctx, "STARTTLS", err)
		}
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(conn, tlsCfg))
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return n.classify(ctx, "EHLO", err)
	}
	if n.cfg.Password != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return n.fail(providers.Permanent, "the server does not offer AUTH", nil)
		}
		if err := c.Auth(sasl.NewPlainClient("", n.cfg.Username, password.Reveal())); err != nil {
			return n.classify(ctx, "AUTH", err)
		}
	}
	to := make([]string, len(rcpts))
	for i, a := range rcpts {
		to[i] = a.Address
	}
	if err := c.SendMail(n.from.Address, to, bytes.NewReader(body)); err != nil {
		return n.classify(ctx, "send", err)
	}
	_ = c.Quit()
	return false, nil
}

func (n *Notifier) transport(ctx context.Context, what string, err error) (bool, error) {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return n.fail(providers.Retryable, what, err)
}

// classify maps an SMTP exchange error to a class.
func (n *Notifier) classify(ctx context.Context, what string, err error) (bool, error) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		class := providers.Permanent
		if se.Code >= 400 && se.Code < 500 {
			class = providers.Retryable
		}
		return n.fail(class, fmt.Sprintf("%s: %d %s", what, se.Code, strings.TrimSpace(se.Message)), nil)
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		return n.fail(providers.Permanent, what+": the server's certificate does not verify", err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
		return n.transport(ctx, what, err)
	}
	// Anything else is a refusal of the protocol itself (no STARTTLS
	// offered, a TLS handshake failure): configuration, not a blip.
	return n.fail(providers.Permanent, what+" failed", err)
}

// sanitize keeps header values on one line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

func messageID(host string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "<" + hex.EncodeToString(b) + "@" + host + ">"
}

// compose renders m as an RFC 5322 message with a quoted-printable UTF-8
// text body.
func (n *Notifier) compose(m notify.Message, rcpts []*mail.Address) ([]byte, error) {
	subject := m.Title
	if s := m.Fields["subject"]; s != "" {
		subject = s
	}
	if subject == "" {
		subject = "Firebreak incident " + m.Incident
	}
	if m.Severity == "critical" {
		subject = "[CRITICAL] " + subject
	}
	to := make([]string, len(rcpts))
	for i, a := range rcpts {
		to[i] = a.String()
	}
	at := m.At
	if at.IsZero() {
		at = time.Now()
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", n.from.String())
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", sanitize(subject)))
	h("Date", at.Format(time.RFC1123Z))
	h("Message-ID", messageID(n.from.Address[strings.LastIndex(n.from.Address, "@")+1:]))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	if m.Incident != "" {
		h("X-Firebreak-Incident", sanitize(m.Incident))
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	var text strings.Builder
	text.WriteString(m.Text + "\n\n")
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&text, "%-12s %s\n", k+":", v)
		}
	}
	line("Incident", m.Incident)
	line("Provider", m.Provider)
	line("Secret type", m.SecretType)
	line("Key", m.Redacted)
	line("Severity", m.Severity)
	line("State", m.State)
	line("Where", m.Where)
	line("Link", m.WhereURL)
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		if k != "subject" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		line(k, m.Fields[k])
	}
	if len(m.Actions) > 0 {
		text.WriteString("\nWhat Firebreak did:\n")
		for _, a := range m.Actions {
			text.WriteString("  - " + a + "\n")
		}
	}
	if _, err := qp.Write([]byte(strings.ReplaceAll(text.String(), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
