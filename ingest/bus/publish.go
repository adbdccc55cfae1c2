package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// ErrUnavailable wraps every publish failure: the exposure is not durable and
// the caller must answer 503 so that the sender retries.
var ErrUnavailable = errors.New("bus unavailable")

// Publisher publishes exposures and remembers inbound deliveries.
type Publisher struct {
	JS         jetstream.JetStream
	Deliveries jetstream.KeyValue
	// Timeout bounds one publish when the caller's context has no deadline.
	Timeout time.Duration
}

// PublishResult is JetStream's acknowledgement of one exposure.
type PublishResult struct {
	Sequence  uint64
	Duplicate bool // JetStream already held a message with this id
}

// Publish sends e on its subject with msgID as JetStream's Nats-Msg-Id and
// returns only after JetStream acknowledged it (stored, and fsynced under the
// "always" policy). Any failure wraps ErrUnavailable. When JetStream already
// held a message with msgID (Duplicate), e.ID becomes the stored exposure's id.
func (p *Publisher) Publish(ctx context.Context, e *exposure.Event, msgID string) (PublishResult, error) {
	if err := e.Validate(); err != nil {
		return PublishResult{}, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return PublishResult{}, fmt.Errorf("encode exposure: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok && p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	// While the stream has no leader (a JetStream cluster electing a new one
	// after a server died: seconds) publishes find no responder: retry until
	// the caller's deadline instead of failing at once, so the sender sees a
	// slower 2xx rather than a 503 (GitHub does not redeliver by itself). The
	// message id makes the retries idempotent; the deadline bounds them.
	ack, err := p.JS.Publish(ctx, exposure.Subject(e), b,
		jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamExposures),
		jetstream.WithRetryAttempts(1000), jetstream.WithRetryWait(250*time.Millisecond))
	if err != nil {
		return PublishResult{}, fmt.Errorf("%w: publish exposure: %v", ErrUnavailable, err)
	}
	if ack.Duplicate {
		p.adoptStoredID(ctx, e, ack.Sequence)
	}
	return PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// adoptStoredID sets e.ID to the id of the exposure JetStream already holds
// under the same message id: a sender retrying a delivery whose first publish
// was stored but not acknowledged in time (a timeout, a leader election) gets
// the exposure that exists, and the delivery is remembered with it, rather
// than a new id that names nothing.
func (p *Publisher) adoptStoredID(ctx context.Context, e *exposure.Event, seq uint64) {
	s, err := p.JS.Stream(ctx, exposure.StreamExposures)
	if err != nil {
		return
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return
	}
	var stored struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data, &stored) == nil && stored.ID != "" {
		e.ID = stored.ID
	}
}

// deliveryKey is the bucket key of an inbound delivery: a hash, since delivery
// ids are sender-controlled and keys have a restricted alphabet.
func deliveryKey(source, id string) string {
	h := sha256.Sum256([]byte(source + "\x00" + id))
	return source + "." + hex.EncodeToString(h[:16])
}

// Delivery is what is remembered about an accepted inbound delivery.
type Delivery struct {
	ExposureIDs []string  `json:"exposure_ids"`
	At          time.Time `json:"at"`
}

// SeenDelivery reports whether the delivery was already accepted, and what it
// produced.
func (p *Publisher) SeenDelivery(ctx context.Context, source, id string) (*Delivery, error) {
	if p.Deliveries == nil || id == "" {
		return nil, nil
	}
	e, err := p.Deliveries.Get(ctx, deliveryKey(source, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read delivery: %v", ErrUnavailable, err)
	}
	var d Delivery
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return nil, fmt.Errorf("delivery record: %w", err)
	}
	return &d, nil
}

// RememberDelivery records an accepted delivery. Call it only after every
// exposure of the delivery was published: a failure here leaves a redelivery
// to be caught by JetStream's duplicate window and the incident's
// fingerprint, never loses an exposure.
func (p *Publisher) RememberDelivery(ctx context.Context, source, id string, exposureIDs []string) error {
	if p.Deliveries == nil || id == "" {
		return nil
	}
	b, _ := json.Marshal(Delivery{ExposureIDs: exposureIDs, At: time.Now().UTC()})
	_, err := p.Deliveries.Put(ctx, deliveryKey(source, id), b)
	return err
}
