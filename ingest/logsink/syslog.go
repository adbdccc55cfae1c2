package logsink

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// SyslogConfig configures the syslog TCP listener.
type SyslogConfig struct {
	// Listen is the TCP address (host:port). Syslog over TCP carries no
	// credentials: bind it to loopback or a private network.
	Listen string
	// MaxMessage bounds one frame in memory (default 64 KiB, at least 8 KiB);
	// a longer message is scanned in overlapping chunks.
	MaxMessage int
	// Labels are added to every message's labels (e.g. env: prod, since
	// syslog carries no environment).
	Labels map[string]string
	// MaxConns bounds concurrent connections (default 1024).
	MaxConns int
	// TLS, when set, makes the listener speak syslog over TLS (RFC 5425).
	// With ClientAuth tls.RequireAndVerifyClientCert only senders holding a
	// certificate from ClientCAs get to send anything.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake (default 10 s): a peer that
	// connects and stalls does not hold a connection slot for long.
	HandshakeTimeout time.Duration
}

// Syslog receives syslog over TCP or TLS (RFC 5425) — RFC 5424 and RFC 3164
// messages (told apart per message by github.com/leodido/go-syslog/v4's auto
// parser, best effort), octet-counted or newline-framed (RFC 6587) — and runs
// them through the pipeline with source kind "syslog".
//
// Syslog has no acknowledgement: when exposures cannot be published the
// connection stops being read and the batch is retried with backoff, so the
// sender's TCP window fills and it buffers or blocks rather than Firebreak
// dropping the sighting. Messages that parse neither way are still scanned
// whole: a secret in a malformed message is still a leak.
type Syslog struct {
	cfg     SyslogConfig
	p       *Pipeline
	metrics *web.Metrics
	log     logrus.FieldLogger

	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewSyslog binds the listener (so that a bad address fails at start).
func NewSyslog(cfg SyslogConfig, p *Pipeline, m *web.Metrics, log logrus.FieldLogger) (*Syslog, error) {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 64 << 10
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if m == nil {
		m = web.NewMetrics(nil)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	return &Syslog{cfg: cfg, p: p, metrics: m, log: log, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the bound address.
func (s *Syslog) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx is done, then closes the listener and
// every connection and waits for their handlers.
func (s *Syslog) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	sem := make(chan struct{}, s.cfg.MaxConns)
	var err error
	for {
		c, aerr := s.ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil && !errors.Is(aerr, net.ErrClosed) {
				err = aerr
			}
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			s.metrics.Rejected.WithLabelValues(exposure.SourceSyslog, "connections").Inc()
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-sem }()
			s.handle(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
	s.ln.Close()
	s.wg.Wait()
	return err
}

// Batch limits: a batch is processed when the connection has nothing more
// buffered, or when it reaches these sizes.
const (
	syslogBatchRecords = 1000
	syslogBatchBytes   = 1 << 20
)

func (s *Syslog) handle(ctx context.Context, c net.Conn) {
	peer, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	log := s.log.WithFields(logrus.Fields{"source": exposure.SourceSyslog, "peer": peer})
	if tc, ok := c.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.metrics.Rejected.WithLabelValues(exposure.SourceSyslog, "tls").Inc()
			log.WithError(err).Warn("syslog TLS handshake failed; closing the connection")
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			log = log.WithField("client", certs[0].Subject.CommonName)
		}
	}
	fr := newFramer(c, s.cfg.MaxMessage)
	m := NewSyslogMachine()
	var batch []Record
	var last Record
	size := 0
	for {
		frame, err := fr.next()
		if len(frame) > 0 {
			rec := SyslogRecord(m, frame, peer, s.cfg.Labels)
			if fr.cont {
				// A later chunk of an oversized message: the message's labels.
				rec.Base, rec.Extra, rec.Time = last.Base, last.Extra, last.Time
			}
			last = rec
			batch = append(batch, rec)
			size += len(frame)
		}
		if len(batch) > 0 && (err != nil || fr.r.Buffered() == 0 || len(batch) >= syslogBatchRecords || size >= syslogBatchBytes) {
			if !s.process(ctx, batch, log) {
				return
			}
			batch, size = nil, 0
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return
		case errors.Is(err, ErrFraming):
			s.metrics.Rejected.WithLabelValues(exposure.SourceSyslog, "framing").Inc()
			log.WithError(err).Warn("closing the syslog connection")
			return
		default:
			if ctx.Err() == nil {
				log.WithError(err).Debug("syslog connection ended")
			}
			return
		}
	}
}

// process runs one batch, retrying with backoff while the bus is unavailable
// (and reading nothing more meanwhile). It reports false when ctx ended first.
func (s *Syslog) process(ctx context.Context, batch []Record, log logrus.FieldLogger) bool {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := s.p.Process(pctx, &Batch{Kind: exposure.SourceSyslog, Records: batch, Correlation: correlation(nil)})
		cancel()
		s.metrics.Latency.WithLabelValues(exposure.SourceSyslog).Observe(time.Since(start).Seconds())
		if err == nil {
			outcome := "accepted"
			if res.Findings == 0 {
				outcome = "clean"
			}
			s.metrics.Requests.WithLabelValues(exposure.SourceSyslog, outcome).Inc()
			return true
		}
		s.metrics.Rejected.WithLabelValues(exposure.SourceSyslog, "unavailable").Inc()
		log.WithError(err).Warn("syslog batch not stored; holding the connection and retrying")
		select {
		case <-ctx.Done():
			log.WithField("entries", len(batch)).Error("shutting down with a syslog batch not stored")
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// NewSyslogMachine returns a parser for RFC 5424 and RFC 3164 messages, told
// apart per message, in best-effort mode (RFC 3164 timestamps get the current
// year). A machine is not safe for concurrent use.
func NewSyslogMachine() syslog.Machine {
	return auto.NewMachine(
		auto.WithRFC3164Options(rfc3164.WithYear(rfc3164.CurrentYear{}), rfc3164.WithBestEffort()),
		auto.WithRFC5424Options(rfc5424.WithBestEffort()),
	)
}

// SyslogRecord makes the record of one syslog frame: the whole frame is
// scanned; host, app and facility (and the configured labels) name the
// stream; severity, proc id, msg id, structured data and the peer address
// are labels.
func SyslogRecord(m syslog.Machine, frame []byte, peer string, static map[string]string) Record {
	base := make(map[string]string, len(static)+3)
	for k, v := range static {
		base[k] = v
	}
	extra := map[string]string{}
	if peer != "" {
		extra["peer"] = peer
	}
	rec := Record{Line: frame, Base: base, Extra: extra}
	msg, _ := m.Parse(frame)
	var b *syslog.Base
	switch x := msg.(type) {
	case *rfc5424.SyslogMessage:
		b = &x.Base
		if x.StructuredData != nil {
			for id, params := range *x.StructuredData {
				for k, v := range params {
					if len(extra) < maxLabels {
						extra["sd."+id+"."+k] = v
					}
				}
			}
		}
	case *rfc3164.SyslogMessage:
		b = &x.Base
	}
	if b == nil {
		return rec
	}
	set := func(m map[string]string, k string, v *string) {
		if v != nil && *v != "" && *v != "-" {
			m[k] = *v
		}
	}
	set(base, "host", b.Hostname)
	set(base, "app", b.Appname)
	if b.Facility != nil {
		set(base, "facility", b.FacilityLevel())
	}
	if b.Severity != nil {
		set(extra, "severity", b.SeverityLevel())
	}
	set(extra, "procid", b.ProcID)
	set(extra, "msgid", b.MsgID)
	if b.Timestamp != nil {
		rec.Time = *b.Timestamp
	}
	if sev := extra["severity"]; sev != "" {
		extra["severity"] = strings.ToLower(sev)
	}
	return rec
}

// Close closes the listener (Serve also closes it when its context ends).
func (s *Syslog) Close() error { return s.ln.Close() }
