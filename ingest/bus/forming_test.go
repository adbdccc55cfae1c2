package bus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterForming pins which errors make Ensure try again: the ones a
// forming cluster answers with, never a configuration error.
func TestClusterForming(t *testing.T) {
	api := func(code jetstream.ErrorCode, desc string) error {
		return fmt.Errorf("stream FIREBREAK_EXPOSURES: %w", &jetstream.APIError{Code: 500, ErrorCode: code, Description: desc})
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{api(10005, "no suitable peers for placement"), true},
		{api(10008, "JetStream system temporarily unavailable"), true},
		{api(10009, "JetStream cluster can not handle request"), true},
		{fmt.Errorf("bucket firebreak_tokens: %w", jetstream.ErrBucketNotFound), true},
		{fmt.Errorf("stream KV_firebreak_github: %w", jetstream.ErrStreamNotFound), true},
		{fmt.Errorf("x: %w", nats.ErrTimeout), true},
		{fmt.Errorf("x: %w", ErrPersistMode), false},
		{nats.ErrNoResponders, true},
		{api(10052, "async persist mode is not supported on replicated streams"), false},
		{api(10074, "replicas > 1 not supported in non-clustered mode"), false},
		{jetstream.ErrJetStreamNotEnabled, false},
		{errors.New("permissions violation"), false},
	} {
		if got := clusterForming(tc.err); got != tc.want {
			t.Errorf("clusterForming(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
