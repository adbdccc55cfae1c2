package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Stored is a record as read back from the stream.
type Stored struct {
	// StreamSeq is the stream sequence of the message holding the record;
	// the records a responder wrote together share it.
	StreamSeq uint64          `json:"stream_seq"`
	Subject   string          `json:"-"`
	Raw       json.RawMessage `json:"-"`
	Record    Record          `json:"-"`
}

// ReadOptions select records.
type ReadOptions struct {
	Chain string    // an incident id (or "control"); empty: every chain
	Since time.Time // zero: from the start
	Until time.Time // zero: to the end
}

// Read calls fn for every stored record that matches, in stream order (the
// records of one message in their order there). It only reads (an ordered
// consumer): nothing is written.
func Read(ctx context.Context, js jetstream.JetStream, o ReadOptions, fn func(Stored) error) error {
	filter := exposure.SubjectAudit
	if o.Chain != "" {
		if len(o.Chain) > exposure.MaxIDLen {
			return fmt.Errorf("audit chain id of %d bytes: not a chain (at most %d)", len(o.Chain), exposure.MaxIDLen)
		}
		filter = exposure.AuditSubject(o.Chain)
	}
	return bus.Scan(ctx, js, exposure.StreamAudit, filter, bus.ScanFrom{Time: o.Since}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		if !o.Until.IsZero() && meta.Timestamp.After(o.Until) {
			return bus.ErrStopScan
		}
		for _, raw := range Records(m.Data()) {
			st := Stored{StreamSeq: meta.Sequence.Stream, Subject: m.Subject(), Raw: append(json.RawMessage(nil), raw...)}
			_ = json.Unmarshal(raw, &st.Record) // a record that is not JSON is reported by Verify
			if err := fn(st); err != nil {
				return err
			}
		}
		return nil
	})
}

// Break is one problem found in a chain.
type Break struct {
	Seq     uint64 `json:"seq"`
	Problem string `json:"problem"`
}

// ChainReport is the verification of one chain.
type ChainReport struct {
	Chain   string  `json:"chain"`
	Records int     `json:"records"`
	Head    string  `json:"head,omitempty"` // hash of the last record
	LastSeq uint64  `json:"last_seq"`
	OK      bool    `json:"ok"`
	Breaks  []Break `json:"breaks,omitempty"`
}

// VerifyChain recomputes one chain from its stored records: sequence numbers
// must run 1, 2, 3… without gaps or repeats, and each record must carry the
// SHA-256 of the record before it. Records are ordered by their own sequence
// number, so a record removed and re-published altered is caught by the hash
// its successor carries. want, when known (the head kept on the incident),
// must be the last record: a chain cut short at its end is caught there.
// A record that is not JSON, or carries no seq, is reported and left out of
// the chain.
func VerifyChain(chain string, records []Stored, want *Chain) ChainReport {
	rep := ChainReport{Chain: chain, Records: len(records)}
	type item struct {
		r   Record
		raw []byte
	}
	var items []item
	for _, s := range records {
		var r Record
		if err := json.Unmarshal(s.Raw, &r); err != nil {
			rep.Breaks = append(rep.Breaks, Break{Problem: fmt.Sprintf("stream message %d holds a line that is not a JSON audit record: %v", s.StreamSeq, err)})
			continue
		}
		if r.Seq == 0 {
			rep.Breaks = append(rep.Breaks, Break{Problem: fmt.Sprintf("stream message %d holds a line with no seq: not a chain record", s.StreamSeq)})
			continue
		}
		items = append(items, item{r: r, raw: s.Raw})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].r.Seq < items[j].r.Seq })
	// prevHashes are the hashes of every stored record of seq prevSeq: one,
	// or more when that seq forked. The fork is reported once; whichever
	// branch the next record links to is not reported again.
	prevHashes := []string{""}
	var prevSeq uint64
	for i, it := range items {
		r := it.r
		h := Hash(it.raw)
		switch {
		case i > 0 && r.Seq == prevSeq:
			rep.Breaks = append(rep.Breaks, Break{Seq: r.Seq, Problem: fmt.Sprintf("seq %d appears twice (a forked or injected record)", r.Seq)})
		case r.Seq != prevSeq+1:
			rep.Breaks = append(rep.Breaks, Break{Seq: r.Seq, Problem: fmt.Sprintf("seq %d follows %d: %d record(s) missing", r.Seq, prevSeq, r.Seq-prevSeq-1)})
		case !slices.Contains(prevHashes, r.Prev):
			rep.Breaks = append(rep.Breaks, Break{Seq: r.Seq, Problem: fmt.Sprintf("seq %d: prev hash does not match record %d (altered or replaced)", r.Seq, prevSeq)})
		}
		if r.Incident != "" && r.Incident != chain {
			rep.Breaks = append(rep.Breaks, Break{Seq: r.Seq, Problem: fmt.Sprintf("seq %d names chain %q", r.Seq, r.Incident)})
		}
		if i > 0 && r.Seq == prevSeq {
			prevHashes = append(prevHashes, h)
		} else {
			prevHashes = []string{h}
		}
		prevSeq = r.Seq
		rep.Head = h
	}
	rep.LastSeq = prevSeq
	if want != nil && want.Seq > 0 {
		switch {
		case want.Seq > prevSeq:
			rep.Breaks = append(rep.Breaks, Break{Seq: want.Seq, Problem: fmt.Sprintf("the incident records %d audit records but the stream ends at %d: records removed from the end", want.Seq, prevSeq)})
		case want.Seq == prevSeq && want.Head != "" && !slices.Contains(prevHashes, want.Head):
			rep.Breaks = append(rep.Breaks, Break{Seq: want.Seq, Problem: fmt.Sprintf("seq %d: its hash differs from the head the incident recorded (the last record was altered)", want.Seq)})
		}
	}
	rep.OK = len(rep.Breaks) == 0
	return rep
}

// ControlLog appends control-API requests to their own chain
// (firebreak.audit.control). Several serve processes may append at once: each
// append expects the subject's last stream sequence it knows, and on a
// mismatch reloads the head from the stream and tries again, so the chain
// never forks.
type ControlLog struct {
	JS jetstream.JetStream

	mu     sync.Mutex
	loaded bool
	head   Chain
	last   uint64 // stream sequence of the chain's last record
}

// Append records r (its Incident is set to the control chain).
func (c *ControlLog) Append(ctx context.Context, r Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Incident = exposure.ControlAuditID
	subject := exposure.AuditSubject(exposure.ControlAuditID)
	for attempt := 0; attempt < 10; attempt++ {
		if !c.loaded {
			if err := c.load(ctx, subject); err != nil {
				return err
			}
		}
		b, _, next, err := prepare(c.head, []Record{r})
		if err != nil {
			return err
		}
		ack, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: b},
			jetstream.WithExpectStream(exposure.StreamAudit), jetstream.WithExpectLastSequencePerSubject(c.last))
		if err != nil {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				c.loaded = false // another process appended: reload the head
				continue
			}
			return fmt.Errorf("append control audit record: %w", err)
		}
		c.head, c.last = next, ack.Sequence
		return nil
	}
	return errors.New("append control audit record: too contended")
}

func (c *ControlLog) load(ctx context.Context, subject string) error {
	s, err := c.JS.Stream(ctx, exposure.StreamAudit)
	if err != nil {
		return fmt.Errorf("audit stream: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		c.head, c.last, c.loaded = Chain{}, 0, true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read control audit head: %w", err)
	}
	head, err := lastHead(m.Data)
	if err != nil {
		return fmt.Errorf("control audit head, message %d: %w", m.Sequence, err)
	}
	c.head, c.last, c.loaded = head, m.Sequence, true
	return nil
}

// ChainOf returns the chain name of an audit subject.
func ChainOf(subject string) string {
	return strings.TrimPrefix(subject, "firebreak.audit.")
}
