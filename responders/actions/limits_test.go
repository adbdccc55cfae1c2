package actions_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firebreak-sec/firebreak/providers"
	"github.com/firebreak-sec/firebreak/responders/actions"
)

// slowProvider holds every call until released and records how many ran at once.
type slowProvider struct {
	recorder
	in, max atomic.Int32
	hold    chan struct{}
}

func (p *slowProvider) enter() {
	n := p.in.Add(1)
	for {
		m := p.max.Load()
		if n <= m || p.max.CompareAndSwap(m, n) {
			break
		}
	}
	<-p.hold
	p.in.Add(-1)
}

func (p *slowProvider) Verify(context.Context, providers.Credential) (providers.VerifyResult, error) {
	p.enter()
	return providers.VerifyResult{Live: true}, nil
}

func (p *slowProvider) Revoke(context.Context, providers.Credential) (providers.RevokeResult, error) {
	p.enter()
	return providers.RevokeResult{Action: "deleted"}, nil
}

func (p *slowProvider) Owner(context.Context, providers.Credential) (providers.Owner, error) {
	p.enter()
	return providers.Owner{User: "u"}, nil
}

// TestMaxConcurrencyBoundsProviderCalls: with a limit of 2, twelve verify,
// revoke and owner calls at once reach the provider at most two at a time;
// a call whose context ends while waiting fails retryably without calling.
func TestMaxConcurrencyBoundsProviderCalls(t *testing.T) {
	p := &slowProvider{hold: make(chan struct{})}
	ps := actions.NewProviders()
	ps.Add(p, "")
	ps.SetLimit("fake", 2)
	if ps.Limit("fake") != 2 || ps.Limit("other") != 0 {
		t.Fatalf("limits %d %d", ps.Limit("fake"), ps.Limit("other"))
	}
	owner := ps.LimitOwner("fake", p)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch i % 3 {
			case 0:
				_, err = actions.Verify{Providers: ps}.Run(context.Background(), input(false, false, "sk-live"))
			case 1:
				_, err = actions.Revoke{Providers: ps}.Run(context.Background(), input(false, false, "sk-live"))
			default:
				_, err = owner.Owner(context.Background(), providers.Credential{})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	for p.in.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// A call that cannot get a slot before its deadline does not reach the provider.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := actions.Revoke{Providers: ps}.Run(ctx, input(false, false, "sk-live"))
	cancel()
	if class, _ := providers.Classify(err); !errors.Is(err, context.DeadlineExceeded) || class != providers.Retryable {
		t.Fatalf("waiting past the deadline: %v (class %v)", err, class)
	}
	close(p.hold)
	wg.Wait()
	if got := p.max.Load(); got != 2 {
		t.Fatalf("at most %d calls ran at once, want exactly the limit 2", got)
	}
}
