package logsink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
)

// Publisher is what the pipeline needs from the bus (*bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, e *exposure.Event, msgID string) (bus.PublishResult, error)
}

// Metrics are the log sinks' own metrics (requests and rejections are
// counted in web.Metrics).
type Metrics struct {
	Entries  *prometheus.CounterVec // log entries received, by source
	Findings *prometheus.CounterVec // secrets found, by source, provider
	Folded   *prometheus.CounterVec // sightings folded into a window's exposure, by source
	Tracked  prometheus.GaugeFunc
}

// NewMetrics creates (and registers, when reg is non-nil) the metrics.
func NewMetrics(reg prometheus.Registerer, w *Window) *Metrics {
	m := &Metrics{
		Entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "firebreak_log_entries_total",
			Help: "Log entries received by the log sinks."}, []string{"source"}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "firebreak_log_findings_total",
			Help: "Secrets found in log entries (every sighting)."}, []string{"source", "provider"}),
		Folded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "firebreak_log_sightings_folded_total",
			Help: "Sightings folded into an exposure already published in their dedup window."}, []string{"source"}),
	}
	if w != nil {
		m.Tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "firebreak_log_dedup_tracked",
			Help: "(secret, stream) pairs in the dedup window."}, func() float64 { return float64(w.Len()) })
	}
	if reg != nil {
		reg.MustRegister(m.Entries, m.Findings, m.Folded)
		if m.Tracked != nil {
			reg.MustRegister(m.Tracked)
		}
	}
	return m
}

// Pipeline turns parsed log entries into published exposures: detect, group
// by (secret, stream), fold repeats in the dedup window, seal, publish.
type Pipeline struct {
	Scanner *detect.Scanner
	Sealer  *sealer.Sealer
	Pub     Publisher
	Window  *Window
	Metrics *Metrics
	// Published counts published exposures by source, provider and
	// environment (web.Metrics.Exposures); optional.
	Published *prometheus.CounterVec
	Log       logrus.FieldLogger
	// Timeout bounds the publishes of one batch when ctx has no deadline.
	Timeout time.Duration

	tallyMu sync.Mutex // one flush at a time
}

// Batch is the parsed content of one request (or one syslog read).
type Batch struct {
	Kind        string // exposure source kind: logs, splunk_hec, loki, syslog
	Records     []Record
	Correlation string
	Ref         string // exposure.Source.Ref (e.g. "hec:<channel>")
	// Location fills fields of every exposure's location (scan: repo, path).
	Location func(rec *Record, labels map[string]string, loc *exposure.Location)
}

// Result says what a batch produced.
type Result struct {
	Entries   int      `json:"entries"`
	Findings  int      `json:"findings"`
	Exposures []string `json:"exposure_ids"`
	Folded    int      `json:"folded"`
}

// group is the sightings of one secret in one stream within a batch.
type group struct {
	key    string
	fp     string
	found  sealer.Found
	rec    int
	labels map[string]string
	stream string
	when   time.Time
	count  int
}

// Process runs the batch. It returns an error wrapping bus.ErrUnavailable
// when an exposure could not be stored durably: the caller answers 503 and
// the sender retries (sightings already published are folded on the retry).
// The batch must be fully parsed and validated before: Process publishes.
func (p *Pipeline) Process(ctx context.Context, b *Batch) (Result, error) {
	res := Result{Entries: len(b.Records)}
	if p.Metrics != nil {
		p.Metrics.Entries.WithLabelValues(b.Kind).Add(float64(len(b.Records)))
	}
	groups, _ := p.detect(b)
	defer func() {
		for _, g := range groups {
			g.found.Secret.Wipe()
		}
	}()
	for _, g := range groups {
		res.Findings += g.count
		if p.Metrics != nil {
			p.Metrics.Findings.WithLabelValues(b.Kind, g.found.Provider).Add(float64(g.count))
		}
	}
	if len(groups) == 0 {
		return res, nil
	}
	if _, ok := ctx.Deadline(); !ok && p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	for _, g := range groups {
		claim := Claim{Publish: true, Slot: time.Now().UnixNano() / int64(time.Minute)}
		if p.Window != nil {
			var err error
			if claim, err = p.Window.Claim(ctx, g.key, g.count); err != nil {
				return res, fmt.Errorf("%w: waiting for a concurrent publish: %v", bus.ErrUnavailable, err)
			}
		}
		if !claim.Publish {
			res.Folded += g.count
			if p.Metrics != nil {
				p.Metrics.Folded.WithLabelValues(b.Kind).Add(float64(g.count))
			}
			continue
		}
		e, msgBase, err := p.exposure(ctx, b, g)
		if err != nil {
			claim.Done(nil, "", false)
			return res, err
		}
		msgID := msgBase + ":" + strconv.FormatInt(claim.Slot, 10)
		pr, err := p.Pub.Publish(ctx, e, msgID)
		claim.Done(e, msgBase, err == nil)
		if err != nil {
			return res, err
		}
		if pr.Duplicate {
			// Another instance (or an earlier attempt of this request)
			// published this secret in this stream and slot already.
			res.Folded += g.count
			continue
		}
		res.Exposures = append(res.Exposures, e.ID)
		if p.Published != nil {
			p.Published.WithLabelValues(b.Kind, e.Secret.Provider, e.Environment).Inc()
		}
		if p.Log != nil {
			p.Log.WithFields(logrus.Fields{"source": b.Kind, "exposure": e.ID, "provider": e.Secret.Provider,
				"secret": e.Secret.Redacted, "stream": e.Location.Stream, "count": e.Count, "environment": e.Environment,
				"stream_seq": pr.Sequence}).Info("exposure published from logs")
		}
	}
	return res, nil
}

// detect scans the batch's records as one block and groups the findings by
// (secret, stream). The block holds each record's text as the detectors
// read it, with its JSON escapes decoded (see unescape): a finding is the
// key itself, which is what is sealed and what is redacted from the labels.
func (p *Pipeline) detect(b *Batch) ([]*group, []string) {
	size := 0
	for i := range b.Records {
		size += len(b.Records[i].Line) + len(b.Records[i].Meta) + 2
	}
	block := make([]byte, 0, size)
	offs := make([]int, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		offs[i] = len(block)
		block = append(block, unescape(r.Line)...)
		block = append(block, '\n')
		if len(r.Meta) > 0 {
			block = append(block, unescape(r.Meta)...)
			block = append(block, '\n')
		}
	}
	type hitAt struct {
		f  detect.Finding
		ri int
	}
	var hits []hitAt
	var raws []string // distinct secrets of the batch
	var pairs detect.Pairs
	seen := map[string]bool{}
	p.Scanner.Scan(block, func(f detect.Finding) {
		ri := sort.Search(len(offs), func(i int) bool { return offs[i] > f.Start }) - 1
		hits = append(hits, hitAt{f: f, ri: max(ri, 0)})
		pairs.Add(f)
		if raw := block[f.Start:f.End]; !seen[string(raw)] {
			seen[string(raw)] = true
			raws = append(raws, string(raw))
		}
	})
	if len(hits) == 0 {
		return nil, nil
	}
	// An AWS access key id found with its secret key is reported by the
	// secret's finding (its KeyID): one exposure, one incident for the key.
	hits = slices.DeleteFunc(hits, func(h hitAt) bool { return pairs.Covers(h.f) })
	// Labels are computed only for records with a finding, and with every
	// secret of the batch redacted from them (a secret may sit in a label).
	red := newRedactor(raws)
	type recInfo struct {
		labels map[string]string
		stream string
		when   time.Time
	}
	infos := map[int]*recInfo{}
	var groups []*group
	index := map[string]*group{}
	for _, h := range hits {
		info := infos[h.ri]
		if info == nil {
			rec := &b.Records[h.ri]
			labels, when := rec.labels()
			stream := rec.stream(labels, red)
			info = &recInfo{labels: sanitize(labels, red), stream: stream, when: when}
			infos[h.ri] = info
		}
		raw := block[h.f.Start:h.f.End]
		found := sealer.FromFinding(h.f, raw)
		fp := p.Sealer.Fingerprint(found)
		key := b.Kind + "\x00" + fp + "\x00" + info.stream
		if g := index[key]; g != nil {
			g.count++
			found.Secret.Wipe()
			continue
		}
		g := &group{key: key, fp: fp, found: found, rec: h.ri, labels: info.labels, stream: info.stream, when: info.when, count: 1}
		index[key] = g
		groups = append(groups, g)
	}
	return groups, raws
}

func (p *Pipeline) exposure(ctx context.Context, b *Batch, g *group) (*exposure.Event, string, error) {
	labels, stream := g.labels, g.stream
	loc := exposure.Location{Stream: stream, Labels: labels, Display: b.Kind + " " + stream}
	if b.Location != nil {
		b.Location(&b.Records[g.rec], labels, &loc)
	}
	src := exposure.Source{Kind: b.Kind, Ref: b.Ref}
	env := environmentOf(labels)
	if env == exposure.EnvUnknown {
		env = exposure.Environment(nil, loc.Branch, loc.Path, "")
	}
	e, err := p.Sealer.Exposure(ctx, src, g.found, g.fp, loc, env, g.when)
	if err != nil {
		return nil, "", fmt.Errorf("build exposure: %w", err)
	}
	e.Count = g.count
	e.Correlation = b.Correlation
	return e, msgBase(b.Kind, g.fp, stream), nil
}

// msgBase is the stable part of an exposure's JetStream message id: source,
// fingerprint (a keyed hash, not the secret), and a hash of the stream.
func msgBase(kind, fp, stream string) string {
	h := sha256.Sum256([]byte(stream))
	if len(fp) > 32 {
		fp = fp[:32]
	}
	return kind + ":" + fp + ":" + hex.EncodeToString(h[:8])
}

// Flush publishes the tallies of the windows that have ended. Failed tallies
// keep their counts for the next flush.
func (p *Pipeline) Flush(ctx context.Context) error {
	if p.Window == nil {
		return nil
	}
	p.tallyMu.Lock()
	defer p.tallyMu.Unlock()
	var errs []error
	for _, t := range p.Window.Due() {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := p.Pub.Publish(pctx, t.Event, t.MsgID)
		cancel()
		if err != nil {
			t.Failed()
			errs = append(errs, err)
			continue
		}
		if p.Log != nil {
			p.Log.WithFields(logrus.Fields{"source": t.Event.Source.Kind, "exposure": t.Event.ID, "provider": t.Event.Secret.Provider,
				"secret": t.Event.Secret.Redacted, "stream": t.Event.Location.Stream, "count": t.Event.Count}).Info("exposure published for folded sightings")
		}
	}
	return errors.Join(errs...)
}

// Run flushes ended windows until ctx is done, then flushes once more (with
// a short grace) so that folded counts are not lost on a clean shutdown.
func (p *Pipeline) Run(ctx context.Context) {
	if p.Window == nil {
		return
	}
	tick := min(max(p.Window.Length()/10, 100*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			p.flushAll(fctx)
			cancel()
			return
		case <-t.C:
			if err := p.Flush(ctx); err != nil && p.Log != nil {
				p.Log.WithError(err).Warn("could not publish folded sightings; will retry")
			}
		}
	}
}

// flushAll ends every window now and publishes what is pending.
func (p *Pipeline) flushAll(ctx context.Context) {
	p.Window.mu.Lock()
	for _, s := range p.Window.slots {
		s.start = time.Time{}
	}
	p.Window.mu.Unlock()
	if err := p.Flush(ctx); err != nil && p.Log != nil {
		p.Log.WithError(err).Warn("folded sightings lost at shutdown")
	}
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
