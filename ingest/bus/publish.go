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
// "always" policy). Any failure wraps ErrUnavailable.
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
	ack, err := p.JS.Publish(ctx, exposure.Subject(e), b,
		jetstream.WithMsgID(msgID), jetstream.WithExpectStream(exposure.StreamExposures))
	if err != nil {
		return PublishResult{}, fmt.Errorf("%w: publish exposure: %v", ErrUnavailable, err)
	}
	return PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
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
