package github

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/providers"
)

// ErrClosed is returned (wrapped in a retryable *providers.Error) by Revoke
// after Close: another instance can do the work.
var ErrClosed = errors.New("github client closed")

// pending is one token waiting for its batch.
type pending struct {
	tok secret.Value
	res chan error // buffered 1; receives the batch's answer
}

// enqueue hands tok to the batcher and waits for its batch's answer.
func (c *Client) enqueue(ctx context.Context, tok secret.Value) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.closedErr()
	}
	if !c.started {
		c.started = true
		c.reqs = make(chan *pending)
		c.stop = make(chan struct{})
		c.done = make(chan struct{})
		go c.loop()
	}
	reqs, done := c.reqs, c.done
	c.mu.Unlock()

	p := &pending{tok: tok, res: make(chan error, 1)}
	select {
	case reqs <- p:
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-done:
		return c.closedErr()
	}
	select {
	case err := <-p.res:
		return err
	case <-ctx.Done():
		return ctxErr(ctx)
	}
}

func ctxErr(ctx context.Context) error {
	return &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Retryable,
		Message: "gave up waiting for the revocation batch", Err: ctx.Err()}
}

func (c *Client) closedErr() error {
	return &providers.Error{Provider: Name, Op: providers.OpRevoke, Class: providers.Retryable, Err: ErrClosed}
}

// Close stops the batcher: a batch being collected or waiting for the rate
// limit fails with ErrClosed (retryable), a request in flight is cancelled.
// Close waits for the batcher goroutine to end and is safe to call twice.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	c.mu.Unlock()
	c.cancelLife()
	if started {
		close(c.stop)
		<-c.done
	}
	return nil
}

// loop is the batcher: it collects tokens for BatchWindow (or until BatchMax),
// waits for the rate limiter and any pause GitHub asked for — still taking
// tokens while it waits — and sends them in one request.
func (c *Client) loop() {
	defer close(c.done)
	for {
		var batch []*pending
		select {
		case p := <-c.reqs:
			batch = append(batch, p)
		case <-c.stop:
			return
		}
		if !c.collect(&batch, time.Now().Add(c.cfg.BatchWindow)) {
			answer(batch, c.closedErr())
			return
		}
		r := c.limiter.Reserve()
		wait := r.Delay()
		c.mu.Lock()
		if p := time.Until(c.pausedUntil); p > wait {
			wait = p
		}
		c.mu.Unlock()
		if wait > 0 {
			c.log.WithField("wait", wait.Round(time.Millisecond).String()).WithField("tokens", len(batch)).
				Debug("credentials/revoke rate limit: batch waits")
		}
		if !c.collect(&batch, time.Now().Add(wait)) {
			r.Cancel()
			answer(batch, c.closedErr())
			return
		}
		c.send(batch)
	}
}

// collect adds arriving tokens to batch until deadline or BatchMax. It
// returns false when the batcher is stopped meanwhile.
func (c *Client) collect(batch *[]*pending, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 || len(*batch) >= c.cfg.BatchMax {
		select {
		case <-c.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for len(*batch) < c.cfg.BatchMax {
		select {
		case p := <-c.reqs:
			*batch = append(*batch, p)
		case <-t.C:
			return true
		case <-c.stop:
			return false
		}
	}
	return true
}

// answer hands every caller of a batch the batch's outcome (each its own
// copy of a *providers.Error).
func answer(batch []*pending, err error) {
	var pe *providers.Error
	isPE := errors.As(err, &pe)
	for _, p := range batch {
		if isPE {
			cp := *pe
			p.res <- &cp
			continue
		}
		p.res <- err
	}
}

// send posts one batch and hands every caller the answer.
func (c *Client) send(batch []*pending) {
	raws := make([]string, len(batch))
	toks := make([]secret.Value, len(batch))
	for i, p := range batch {
		raws[i] = p.tok.Reveal()
		toks[i] = p.tok
	}
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RevokeTimeout)
	defer cancel()
	var hdr http.Header
	status, body, err := c.api.Do(ctx, providers.Request{
		Op: providers.OpRevoke, Method: http.MethodPost, Path: "/credentials/revoke",
		Body: map[string][]string{"credentials": raws}, ResponseHeader: &hdr,
		ScrubMore: toks, // scrubbed before Do cuts the message
	})
	var pe *providers.Error
	if errors.As(err, &pe) {
		if status == http.StatusUnprocessableEntity {
			c.classify422(body, pe)
		}
		pe.Message = providers.ScrubMessage(pe.Message, toks...)
	}
	c.notePause(hdr, pe)
	log := c.log.WithField("tokens", len(batch))
	if err != nil {
		log.WithError(err).Warn("credentials/revoke failed")
	} else {
		log.Debug("credentials/revoke accepted")
	}
	answer(batch, err)
}

// classify422 classifies credentials/revoke's 422, which GitHub documents as
// "Validation failed, or the endpoint has been spammed". A 422 whose errors
// name the credentials field is a malformed request — the batcher never sends
// an empty or oversized list, so that is a bug and fails loudly (permanent).
// Any other 422 is taken as "spammed": retryable after SpamBackoff (or a
// longer Retry-After / X-RateLimit-Reset), which also pauses the batcher, so
// the batch's tokens are neither lost nor reported revoked.
func (c *Client) classify422(body []byte, e *providers.Error) {
	if namesCredentials(parseError(body)) {
		e.Class, e.RetryAfter = providers.Permanent, 0
		return
	}
	e.Class = providers.Retryable
	if e.RetryAfter < c.cfg.SpamBackoff {
		e.RetryAfter = c.cfg.SpamBackoff
	}
	e.Message += " (no problem with the credentials named: taken as \"endpoint spammed\", retried)"
}

// namesCredentials reports whether a 422's errors point at the request's
// credentials field: an object with field "credentials", or (the reference's
// simple shape, errors as strings) a string mentioning credentials.
func namesCredentials(e ghError) bool {
	for _, d := range e.Errors {
		if strings.EqualFold(d.Field, "credentials") {
			return true
		}
		if d.Field == "" && d.Code == "" && strings.Contains(strings.ToLower(d.Message), "credentials") {
			return true
		}
	}
	return false
}

// notePause records how long GitHub asked the batcher to hold off.
func (c *Client) notePause(hdr http.Header, pe *providers.Error) {
	var until time.Time
	now := time.Now()
	if hdr != nil && hdr.Get("X-RateLimit-Remaining") == "0" {
		if d := untilReset(hdr.Get("X-RateLimit-Reset"), now); d > 0 {
			until = now.Add(d)
		}
	}
	if pe != nil && pe.Class == providers.Retryable && pe.RetryAfter > 0 {
		if t := now.Add(pe.RetryAfter); t.After(until) {
			until = t
		}
	}
	if until.IsZero() {
		return
	}
	c.mu.Lock()
	if until.After(c.pausedUntil) {
		c.pausedUntil = until
	}
	c.mu.Unlock()
	c.log.WithField("until", until.UTC().Format(time.RFC3339)).Info("credentials/revoke paused by GitHub's rate limit")
}
