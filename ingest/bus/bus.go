// Package bus connects Firebreak to NATS JetStream: it runs the embedded
// nats-server (the default) or dials an external cluster, and creates the
// streams, key-value buckets and the durable consumer that the ingesters and
// responders share, explicitly and idempotently, at start.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// SyncAlways is the Sync value that fsyncs every write before JetStream acks it.
const SyncAlways = "always"

// Embedded configures the in-process nats-server.
type Embedded struct {
	// StoreDir is where JetStream keeps its file store.
	StoreDir string
	// Sync is the fsync policy: "always" (fsync before every ack: an
	// acknowledged exposure survives power loss) or an interval such as "1s"
	// or "2m" (nats-server's own default; faster, but writes acknowledged
	// within the last interval can be lost on power failure).
	Sync string
	// Listen, when set ("127.0.0.1:4222"), also serves NATS clients on a TCP
	// port; by default the server takes in-process connections only.
	Listen string
	// MaxStore bounds JetStream's file store in bytes (0: nats-server's default).
	MaxStore int64
}

// External configures a connection to an existing NATS deployment.
type External struct {
	URL       string // nats://host:4222[,nats://...]
	CredsFile string // a .creds file (user JWT and nkey seed)
	NKeyFile  string // an nkey seed file
	CAFile    string // CA bundle to verify the server
	CertFile  string // client certificate (mutual TLS)
	KeyFile   string // client key (mutual TLS)
}

// ParseSync validates a Sync value and returns (always, interval).
func ParseSync(s string) (bool, time.Duration, error) {
	if s == "" || s == SyncAlways {
		return true, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("fsync must be %q or a positive duration such as \"1s\", got %q", SyncAlways, s)
	}
	return false, d, nil
}

// StartEmbedded starts an in-process nats-server with JetStream on cfg.StoreDir
// and waits until it is ready. The caller shuts it down with Shutdown and
// WaitForShutdown.
func StartEmbedded(cfg Embedded, log logrus.FieldLogger) (*server.Server, error) {
	always, interval, err := ParseSync(cfg.Sync)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("create JetStream store dir: %w", err)
	}
	opts := &server.Options{
		ServerName:        "firebreak",
		JetStream:         true,
		StoreDir:          filepath.Clean(cfg.StoreDir),
		SyncAlways:        always,
		SyncInterval:      interval,
		JetStreamMaxStore: cfg.MaxStore,
		DontListen:        cfg.Listen == "",
		NoSigs:            true,
		MaxPayload:        8 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats.embedded.listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	if log != nil {
		ns.SetLoggerV2(&natsLogger{log.WithField("component", "nats-server")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats-server did not become ready in 30s")
	}
	return ns, nil
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", s)
	}
	var port int
	if _, err := fmt.Sscanf(s[i+1:], "%d", &port); err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no valid port", s)
	}
	return s[:i], port, nil
}

// ConnectEmbedded opens an in-process connection to ns (no TCP involved).
func ConnectEmbedded(ns *server.Server, name string) (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(ns), nats.Name(name), nats.MaxReconnects(-1))
}

// ConnectExternal dials an external NATS deployment.
func ConnectExternal(cfg External, name string, log logrus.FieldLogger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if log != nil {
				log.WithError(err).Warn("disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			if log != nil {
				log.WithField("url", c.ConnectedUrlRedacted()).Info("reconnected to NATS")
			}
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkey_file: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("nats.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("nats.ca_file: no PEM certificates in %s", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("nats.cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// Topology sizes the streams, buckets and consumer.
type Topology struct {
	Replicas        int           // 1 for the embedded server, 3 on a cluster
	ExposureMaxAge  time.Duration // how long exposures are kept for replay
	AuditMaxAge     time.Duration // how long the audit trail is kept
	DuplicateWindow time.Duration // JetStream's publish de-duplication window
	DeliveryTTL     time.Duration // how long inbound delivery ids are remembered
	AckWait         time.Duration // redelivery delay after a responder stops acking
	// MaxDeliver is the responders' budget: attempts of one step, each
	// after a redelivery, before the exposure is dead-lettered. It is not
	// the consumer's MaxDeliver, which is unlimited: JetStream drops a
	// message silently after its last delivery, and deliveries are also
	// spent by crashes, lease waits and graceful hand-overs — a bounded
	// consumer lost exposures under repeated kills (the fault soak).
	MaxDeliver    int
	MaxAckPending int // exposures delivered and not yet acked (in flight or naked with a delay); see ParkedExposures
	// SyncState makes incident, delivery, audit and dead-letter writes as
	// durable as exposures (fsynced before their ack under the "always"
	// policy). By default they use JetStream's async persist mode: written
	// within a few milliseconds (nats-server coalesces for at most 8 ms) and
	// fsynced in the background. A crash of the process holding the embedded
	// server, or a power failure, can lose those last milliseconds of state;
	// the durable exposures are then redelivered and the work redone, relying
	// on the providers' idempotent revocation (a conformance-tested contract)
	// rather than on the lost intent record. Every write to one stream is
	// fsynced on its own, so synchronous state costs most of the throughput
	// (see BENCHMARKS.md). Replicated streams (Replicas > 1) always persist
	// synchronously: nats-server refuses async persist mode on them, and the
	// quorum write already covers one server's crash.
	SyncState bool
}

// ParkedExposures is the responders' consumer's MaxAckPending. An exposure
// naked with a delay (a Retry-After, GitHub's rate limit reset up to an hour
// away, a backoff) stays ack-pending until it is redelivered; when the
// pending exposures reach MaxAckPending JetStream delivers nothing more, so a
// small bound lets one provider's waits stall every other provider's
// revocations (the fault harness saw 1,024 GitHub alerts waiting for a rate
// limit reset hold back 2,700 log exposures). Responders bound their work in
// flight themselves (responders.concurrency pulls at a time); this only
// bounds how many may wait.
const ParkedExposures = 1 << 16

// DefaultTopology is the embedded default.
func DefaultTopology() Topology {
	return Topology{
		Replicas:        1,
		ExposureMaxAge:  90 * 24 * time.Hour,
		AuditMaxAge:     400 * 24 * time.Hour,
		DuplicateWindow: 2 * time.Minute,
		DeliveryTTL:     7 * 24 * time.Hour,
		AckWait:         30 * time.Second,
		MaxDeliver:      10,
		MaxAckPending:   ParkedExposures,
	}
}

func (t Topology) statePersist() jetstream.PersistModeType {
	if t.SyncState || t.Replicas > 1 {
		return jetstream.DefaultPersistMode
	}
	return jetstream.AsyncPersistMode
}

// EnsureBucket creates or updates the key-value bucket named bucket (one
// value per key, entries expiring after ttl when it is positive) as a
// stream with the configuration nats.go gives buckets, plus the topology's
// replicas and persist mode (the bucket API cannot set the persist mode, and
// a stream's persist mode is fixed at creation; see EnsureStream). Every
// bucket of Firebreak's derived state is made with it.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, bucket, desc string, ttl time.Duration, t Topology) (jetstream.KeyValue, error) {
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	dup := 2 * time.Minute
	if ttl > 0 && ttl < dup {
		dup = ttl
	}
	_, err := EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Description:       desc,
		Subjects:          []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		MaxAge:            ttl,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          t.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		Duplicates:        dup,
		Discard:           jetstream.DiscardNew,
		PersistMode:       t.statePersist(),
	})
	if err != nil {
		return nil, err
	}
	// On a cluster a stream just created can answer "not found" for a moment
	// while its replicas elect a leader: Ensure tries again.
	return js.KeyValue(ctx, bucket)
}

// Handles are the objects Ensure created or found.
type Handles struct {
	Exposures  jetstream.Stream
	Audit      jetstream.Stream
	Dead       jetstream.Stream
	Incidents  jetstream.KeyValue
	Deliveries jetstream.KeyValue
	Consumer   jetstream.Consumer
	// Tokens holds control-API tokens (hashed); Approvals pending approvals
	// with their deadlines (issue 7: on-call).
	Tokens    jetstream.KeyValue
	Approvals jetstream.KeyValue
}

// Ensure creates or updates the streams, buckets and the responders' durable
// consumer. It is idempotent: every instance runs it at start. While a
// cluster is still forming or electing leaders (no suitable peers yet, no
// leader, JetStream not answering) it tries again until ctx is done, so
// instances started with their cluster come up when it does; any other
// error is returned at once.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) (*Handles, error) {
	for {
		h, err := ensureOnce(ctx, js, t)
		if err == nil || !clusterForming(err) {
			return h, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (JetStream still forming when the deadline came: %w)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// clusterForming reports whether err is one a forming or electing
// JetStream cluster answers with for a while: placement finding too few
// peers, a temporarily unavailable or leaderless meta layer, a request that
// got no answer, a stream or bucket just created not yet found.
func clusterForming(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10005, // no suitable peers for placement
			10008, // JetStream system temporarily unavailable
			10009: // JetStream cluster can not handle request (no leader)
			return true
		}
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

func ensureOnce(ctx context.Context, js jetstream.JetStream, t Topology) (*Handles, error) {
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	var h Handles
	var err error
	h.Exposures, err = EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        exposure.StreamExposures,
		Description: "Firebreak: every exposure, the durable record",
		Subjects:    []string{exposure.SubjectExposures},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      t.ExposureMaxAge,
		Duplicates:  t.DuplicateWindow,
		Replicas:    t.Replicas,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", exposure.StreamExposures, err)
	}
	h.Audit, err = EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        exposure.StreamAudit,
		Description: "Firebreak: every step's start and outcome, per incident",
		Subjects:    []string{exposure.SubjectAudit},
		Storage:     jetstream.FileStorage,
		MaxAge:      t.AuditMaxAge,
		Replicas:    t.Replicas,
		Duplicates:  t.DuplicateWindow,
		PersistMode: t.statePersist(),
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", exposure.StreamAudit, err)
	}
	h.Dead, err = EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        exposure.StreamDead,
		Description: "Firebreak: exposures that exhausted their deliveries or failed permanently",
		Subjects:    []string{exposure.SubjectDead},
		Storage:     jetstream.FileStorage,
		MaxAge:      t.ExposureMaxAge,
		Replicas:    t.Replicas,
		Duplicates:  t.DuplicateWindow,
		PersistMode: t.statePersist(),
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", exposure.StreamDead, err)
	}
	h.Incidents, err = EnsureBucket(ctx, js, exposure.BucketIncidents, "Firebreak: one incident per secret fingerprint", 0, t)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", exposure.BucketIncidents, err)
	}
	h.Deliveries, err = EnsureBucket(ctx, js, exposure.BucketDeliveries, "Firebreak: inbound delivery ids already accepted", t.DeliveryTTL, t)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", exposure.BucketDeliveries, err)
	}
	h.Tokens, err = EnsureBucket(ctx, js, exposure.BucketTokens, "Firebreak: control API tokens, stored as SHA-256 hashes", 0, t)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", exposure.BucketTokens, err)
	}
	h.Approvals, err = EnsureBucket(ctx, js, exposure.BucketApprovals, "Firebreak: pending approvals and their deadlines", 0, t)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", exposure.BucketApprovals, err)
	}
	h.Consumer, err = ensureConsumer(ctx, js, exposure.StreamExposures, jetstream.ConsumerConfig{
		Durable:       exposure.ConsumerResponders,
		Description:   "Firebreak responders",
		FilterSubject: exposure.SubjectExposures,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       t.AckWait,
		MaxDeliver:    -1, // see Topology.MaxDeliver
		MaxAckPending: t.MaxAckPending,
		Replicas:      t.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", exposure.ConsumerResponders, err)
	}
	return &h, nil
}

// EnsureStream creates the stream, or updates it when it exists with another
// configuration. It creates first (an identical create is a no-op) because
// nats.go's CreateOrUpdateStream updates first: on a JetStream cluster,
// several instances starting at once against a fresh deployment then send
// updates of a stream another one is creating, and none of them gets an
// answer (every instance timed out in Ensure; see the cluster test).
//
// JetStream cannot change a stream's persist mode. A stream that exists
// with the synchronous (default) mode where cfg asks for the async one keeps
// it: it is more durable than asked, only slower (a deployment that ran with
// nats.sync_state: true, or a stream made by an older version). One that
// exists with the async mode where cfg asks for the synchronous one is
// ErrPersistMode: it would silently stay less durable than configured.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, cfg)
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return s, err
	}
	if s, err = js.Stream(ctx, cfg.Name); err != nil {
		return nil, err
	}
	switch have := s.CachedInfo().Config.PersistMode; {
	case have == cfg.PersistMode:
	case have == jetstream.DefaultPersistMode:
		cfg.PersistMode = have
	default:
		return nil, fmt.Errorf("%w: stream %s persists asynchronously (created without nats.sync_state); "+
			"JetStream cannot change that in place, so move its messages to a new stream or set nats.sync_state back to false",
			ErrPersistMode, cfg.Name)
	}
	return js.UpdateStream(ctx, cfg)
}

// ErrPersistMode is EnsureStream's error for a stream that exists with a
// less durable persist mode than asked.
var ErrPersistMode = errors.New("stream persist mode cannot be made synchronous")

// ensureConsumer creates the durable consumer, or updates it when it exists
// with another configuration (create first, as EnsureStream).
func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateConsumer(ctx, stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		return js.UpdateConsumer(ctx, stream, cfg)
	}
	return c, err
}

// natsLogger adapts nats-server's logger to logrus.
type natsLogger struct{ l logrus.FieldLogger }

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Debugf(format, v...) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.l.Warnf(format, v...) }
func (n *natsLogger) Fatalf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n *natsLogger) Errorf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n *natsLogger) Debugf(format string, v ...any)  { n.l.Debugf(format, v...) }
func (n *natsLogger) Tracef(format string, v ...any)  { n.l.Debugf(format, v...) }

// BucketKeys returns the keys of KV bucket bucket, sorted, read through js
// from its stream's per-subject state. Unlike
// KeyValue.ListKeys, whose watcher can report its initial values done before
// it delivered them all while keys are being written (nats-server#4824), it
// returns every key that held a message when the server answered. Keys
// whose last message is a delete or purge marker are included: callers skip
// the keys Get no longer finds.
func BucketKeys(ctx context.Context, js jetstream.JetStream, bucket string) ([]string, error) {
	prefix := "$KV." + bucket + "."
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("list the keys of bucket %s: %w", bucket, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("list the keys of bucket %s: %w", bucket, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		if k, ok := strings.CutPrefix(subj, prefix); ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}
