package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ScanFrom says where a Scan starts.
type ScanFrom struct {
	Seq  uint64    // first stream sequence (0: not set)
	Time time.Time // first message stored at or after this time (zero: not set)
}

// Scan reads the messages of a stream that match filter (a subject filter;
// empty: all), from `from` to the end of the stream as it was when Scan
// began, and calls fn for each in stream order. fn returning ErrStopScan ends
// the scan without error. It reads through an ordered consumer (ephemeral,
// no acks, nothing written to the stream) and never waits for new messages.
func Scan(ctx context.Context, js jetstream.JetStream, stream, filter string, from ScanFrom,
	fn func(m jetstream.Msg, meta *jetstream.MsgMetadata) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	switch {
	case from.Seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from.Seq
	case !from.Time.IsZero():
		t := from.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	c, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if err := fn(m, meta); err != nil {
				if errors.Is(err, ErrStopScan) {
					return nil
				}
				return err
			}
			if meta.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if n == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil // nothing more arrived within the wait: the end
		}
	}
}

// ErrStopScan ends a Scan early without an error.
var ErrStopScan = errors.New("stop scan")
