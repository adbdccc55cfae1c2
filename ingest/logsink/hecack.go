package logsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/web"
)

// HEC indexer acknowledgement limits: channels remembered, how long an idle
// one is kept once that many are in use, and ids per query.
const (
	hecAckChannels = 10000
	hecAckIdle     = 10 * time.Minute
	hecAckMaxQuery = 10000
)

// hecAcks issues Splunk HEC indexer acknowledgement ids, per channel
// (X-Splunk-Request-Channel), in the order requests succeed: 0, 1, 2, …
//
// Firebreak answers 200 only once every exposure of a request is stored
// durably, so an id is acknowledged as soon as it is issued. The ack
// endpoint answers true for every id this process issued on the channel and
// false for any other (an id from before a restart, or never issued): the
// sender then resends, and the resend joins the same incident (same secret,
// same fingerprint). Channels are kept in memory, at most hecAckChannels; when full,
// channels idle for hecAckIdle go first, then the least recently used one.
type hecAcks struct {
	mu       sync.Mutex
	channels map[string]*hecChannel
	max      int           // channels kept (hecAckChannels)
	idle     time.Duration // an idle channel goes first once full (hecAckIdle)
	now      func() time.Time
}

type hecChannel struct {
	next uint64 // the next id to issue; every lower id was issued
	used time.Time
}

func newHECAcks() *hecAcks {
	return &hecAcks{channels: map[string]*hecChannel{}, max: hecAckChannels, idle: hecAckIdle, now: time.Now}
}

// issue returns the channel's next id.
func (a *hecAcks) issue(channel string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.channels[channel]
	if c == nil {
		if len(a.channels) >= a.max {
			a.evict()
		}
		c = &hecChannel{}
		a.channels[channel] = c
	}
	c.used = a.now()
	id := c.next
	c.next++
	return id
}

// acked answers, for each id, whether it was issued on the channel.
func (a *hecAcks) acked(channel string, ids []uint64) map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.channels[channel]
	if c != nil {
		c.used = a.now()
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[strconv.FormatUint(id, 10)] = c != nil && id < c.next
	}
	return out
}

// evict makes room for one channel; the caller holds a.mu.
func (a *hecAcks) evict() {
	now := a.now()
	var oldest string
	var oldestUsed time.Time
	for name, c := range a.channels {
		if now.Sub(c.used) > a.idle {
			delete(a.channels, name)
			continue
		}
		if oldest == "" || c.used.Before(oldestUsed) {
			oldest, oldestUsed = name, c.used
		}
	}
	if len(a.channels) >= a.max {
		delete(a.channels, oldest)
	}
}

// hecChannelOf is the request's data channel (X-Splunk-Request-Channel, or
// ?channel=), "" when there is none; ok is false when one was given that is
// not a sane identifier.
func hecChannelOf(r *http.Request) (channel string, ok bool) {
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if ch == "" {
		return "", true
	}
	if len(ch) > 64 || !validID(ch) {
		return "", false
	}
	return ch, true
}

// serveHECAck answers POST /services/collector/ack: {"acks":[0,1,…]} →
// {"acks":{"0":true,"1":false,…}}, Splunk's indexer acknowledgement query.
func (s *Sinks) serveHECAck(w http.ResponseWriter, r *http.Request) {
	ans := hecAnswer{}
	reject := func(reason string) {
		s.metrics.Rejected.WithLabelValues(exposure.SourceSplunkHEC, reason).Inc()
	}
	if !s.admit(w, r, request{kind: exposure.SourceSplunkHEC, tokens: s.cfg.HEC, schemes: []string{"Splunk"}, ans: ans}, reject) {
		return
	}
	channel, ok := hecChannelOf(r)
	switch {
	case !ok:
		reject("channel")
		hecJSON(w, http.StatusBadRequest, "Invalid data channel", 11, -1)
		return
	case channel == "":
		reject("channel")
		hecJSON(w, http.StatusBadRequest, "Data channel is missing", 10, -1)
		return
	}
	body, err := web.ReadBody(w, r, 1<<20)
	if errors.Is(err, web.ErrTooLarge) {
		reject("too_large")
		ans.tooLarge(w, 1<<20)
		return
	}
	var q struct {
		Acks []uint64 `json:"acks"`
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&q); err == nil && len(q.Acks) == 0 {
			err = errors.New(`"acks" must list at least one id`)
		} else if err == nil && len(q.Acks) > hecAckMaxQuery {
			err = errors.New(`"acks" lists more than 10000 ids`)
		} else if err != nil {
			err = errors.New(web.JSONError(err) + `; want {"acks":[0,1,…]}`)
		}
	}
	if err != nil {
		reject("parse")
		ans.bad(w, http.StatusBadRequest, &ParseError{Index: -1, HECCode: 6, Msg: err.Error()})
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"acks": s.acks.acked(channel, q.Acks)})
}
