package responders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/playbooks"
	"github.com/firebreak-sec/firebreak/responders/incident"
)

// Replayer reads stored exposures back from FIREBREAK_EXPOSURES and runs
// playbooks on them again. A dry-run only plans (Planner: nothing is
// called, written or published). A real replay re-publishes one exposure per
// incident with the replay marker; the responders handle it like any other
// message, under the incident's lease: the incident reopens once per replay,
// steps that succeeded stay done (a revoked key is not revoked again), and a
// failed incident resumes at its failed step.
type Replayer struct {
	JS            jetstream.JetStream
	Incidents     *incident.Store
	Planner       *Planner
	Playbooks     func() *playbooks.Set
	Catalog       *playbooks.Catalog
	Fingerprinter Fingerprinter
	Now           func() time.Time
}

// ReplayRequest selects exposures: by incident, by stream sequence (a range),
// or by time; then filters them.
type ReplayRequest struct {
	Incident    string    `json:"incident,omitempty"`
	Seq         uint64    `json:"seq,omitempty"`
	SeqEnd      uint64    `json:"seq_end,omitempty"` // last sequence of a range (default Seq; at most MaxReplayRange in all)
	Since       time.Time `json:"since,omitzero"`
	Until       time.Time `json:"until,omitzero"`
	Provider    string    `json:"provider,omitempty"`
	Source      string    `json:"source,omitempty"`
	Environment string    `json:"environment,omitempty"`
	// Playbook is the YAML of playbooks to plan with instead of the loaded
	// ones (--playbook FILE); PlaybookName names it in errors. Dry-run only.
	Playbook     string `json:"playbook,omitempty"`
	PlaybookName string `json:"playbook_name,omitempty"`
	DryRun       bool   `json:"dry_run"`
	Limit        int    `json:"limit,omitempty"` // default 100, at most 10000
	// By names who asked (the token's name); set by the server.
	By string `json:"-"`
}

// ReplayResult answers a replay.
type ReplayResult struct {
	ReplayID  string       `json:"replay_id,omitempty"`
	DryRun    bool         `json:"dry_run"`
	Selected  int          `json:"selected"`
	Truncated bool         `json:"truncated,omitempty"`
	Items     []ReplayItem `json:"items"`
}

// Replay outcomes of an item.
const (
	ReplayPlanned  = "planned"
	ReplayReplayed = "replayed"
	ReplaySkipped  = "skipped"
)

// ReplayItem is one selected exposure.
type ReplayItem struct {
	Exposure      PlanExposure `json:"exposure"`
	Incident      string       `json:"incident,omitempty"`
	IncidentState string       `json:"incident_state,omitempty"`
	Action        string       `json:"action"`
	Reason        string       `json:"reason,omitempty"`
	Plan          *Plan        `json:"plan,omitempty"`
}

// MaxReplayRange is the most stream sequences a replay by range spans.
const MaxReplayRange = 100000

// ErrBadReplay is wrapped by errors in the request itself (HTTP 400).
var ErrBadReplay = errors.New("bad replay request")

type selected struct {
	ev  *exposure.Event
	seq uint64
	msg *nats.Msg // subject and data, for re-publishing
}

// Replay runs a replay request.
func (rp *Replayer) Replay(ctx context.Context, req ReplayRequest) (*ReplayResult, error) {
	set := rp.Playbooks()
	if req.Playbook != "" {
		if !req.DryRun {
			return nil, fmt.Errorf("%w: --playbook plans with a changed playbook and needs --dry-run; a real replay runs the playbooks serve has loaded", ErrBadReplay)
		}
		name := nonEmpty(req.PlaybookName, "playbook.yaml")
		pbs, errs := playbooks.Parse(name, []byte(req.Playbook), rp.Catalog)
		if err := errs.Err(); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrBadReplay, err)
		}
		set = &playbooks.Set{Playbooks: pbs}
	}
	if req.Limit <= 0 {
		req.Limit = 100
	}
	req.Limit = min(req.Limit, 10000)
	sel, truncated, err := rp.selectExposures(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &ReplayResult{DryRun: req.DryRun, Selected: len(sel), Truncated: truncated, Items: []ReplayItem{}}
	if !req.DryRun {
		res.ReplayID = newReplayID()
	}
	byExposure, err := rp.exposureIndex(ctx, sel)
	if err != nil {
		return nil, err
	}
	published := map[string]bool{}
	for _, s := range sel {
		item := ReplayItem{Exposure: Summary(s.ev, s.seq)}
		inc := rp.incidentOf(ctx, s.ev, byExposure)
		if inc != nil {
			item.Incident, item.IncidentState = inc.ID, string(inc.State)
		}
		if req.DryRun {
			p := rp.Planner.Plan(ctx, s.ev, s.seq, inc, set)
			item.Action, item.Plan = ReplayPlanned, &p
			res.Items = append(res.Items, item)
			continue
		}
		item.Action, item.Reason = rp.replayOne(ctx, s, inc, res.ReplayID, req.By, published)
		res.Items = append(res.Items, item)
	}
	return res, nil
}

// replayOne re-publishes one exposure for real, once per incident.
func (rp *Replayer) replayOne(ctx context.Context, s selected, inc *incident.Incident, replayID, by string, published map[string]bool) (string, string) {
	why := "no incident yet: runs as a new exposure"
	if inc != nil {
		if published[inc.ID] {
			return ReplaySkipped, "its incident is already replayed by another exposure of this replay"
		}
		now := time.Now()
		if rp.Now != nil {
			now = rp.Now()
		}
		switch {
		case inc.State == incident.Resolved:
			return ReplaySkipped, "resolved by people (" + inc.Resolution + "): not replayed"
		case inc.State == incident.AwaitingApproval:
			id := ""
			if p := inc.PendingApproval(); p != nil {
				id = p.ID
			}
			return ReplaySkipped, "waiting for approval " + id + ": decide it (firebreak incidents approve|deny " + inc.ID + ")"
		case inc.Lease != nil && now.Before(inc.Lease.Until):
			return ReplaySkipped, "a responder is handling it right now"
		case inc.State == incident.Failed:
			why = "failed: resumes at the failed step"
			for _, st := range inc.Steps {
				if st.State == incident.StepFailed {
					why = "failed at " + st.Key + ": resumes there (steps that succeeded are not run again)"
					break
				}
			}
		case inc.State == incident.Contained:
			why = "contained: re-checked; steps that succeeded (the revocation) are not run again"
		default:
			why = string(inc.State) + ": reopened; steps that succeeded are not run again"
		}
		published[inc.ID] = true
	}
	m := &nats.Msg{Subject: s.msg.Subject, Data: s.msg.Data, Header: nats.Header{}}
	m.Header.Set(exposure.HeaderReplay, replayID)
	if by != "" {
		m.Header.Set(exposure.HeaderReplayBy, by)
	}
	if _, err := rp.JS.PublishMsg(ctx, m, jetstream.WithMsgID("replay:"+replayID+":"+strconv.FormatUint(s.seq, 10)),
		jetstream.WithExpectStream(exposure.StreamExposures)); err != nil {
		if inc != nil {
			delete(published, inc.ID)
		}
		return ReplaySkipped, "could not publish: " + err.Error()
	}
	return ReplayReplayed, why
}

func (rp *Replayer) selectExposures(ctx context.Context, req ReplayRequest) ([]selected, bool, error) {
	n := 0
	if req.Incident != "" {
		n++
	}
	if req.Seq > 0 {
		n++
	}
	if !req.Since.IsZero() {
		n++
	}
	if n != 1 {
		return nil, false, fmt.Errorf("%w: select exposures by exactly one of: an incident id, a stream sequence (or range), or --since", ErrBadReplay)
	}
	if req.Provider != "" && !validFilter(req.Provider) || req.Source != "" && !validFilter(req.Source) {
		return nil, false, fmt.Errorf("%w: provider and source filters are single words", ErrBadReplay)
	}
	var out []selected
	truncated := false
	keep := func(ev *exposure.Event) bool {
		return (req.Provider == "" || ev.Secret.Provider == req.Provider) && (req.Source == "" || ev.Source.Kind == req.Source) &&
			(req.Environment == "" || ev.Environment == req.Environment)
	}
	add := func(data []byte, subject string, hdr nats.Header, seq uint64) error {
		if hdr != nil && (hdr.Get(exposure.HeaderResume) != "" || hdr.Get(exposure.HeaderReplay) != "") {
			return nil // a copy made by a resume or an earlier replay
		}
		ev, err := exposure.Decode(data)
		if err != nil || !keep(ev) {
			return nil
		}
		if len(out) >= req.Limit {
			truncated = true
			return bus.ErrStopScan
		}
		out = append(out, selected{ev: ev, seq: seq, msg: &nats.Msg{Subject: subject, Data: data}})
		return nil
	}
	st, err := rp.JS.Stream(ctx, exposure.StreamExposures)
	if err != nil {
		return nil, false, err
	}
	filter := exposure.SubjectExposures
	if req.Source != "" || req.Provider != "" {
		filter = "firebreak.exposures." + nonEmpty(req.Source, "*") + "." + nonEmpty(req.Provider, "*")
	}
	switch {
	case req.Incident != "":
		inc, _, err := rp.Incidents.Get(ctx, req.Incident)
		if err != nil {
			return nil, false, err
		}
		want := map[string]bool{}
		var seqs []uint64
		for _, x := range inc.Exposures {
			want[x.ID] = true
			if x.StreamSeq > 0 {
				seqs = append(seqs, x.StreamSeq)
			}
		}
		if len(seqs) == len(inc.Exposures) {
			for _, seq := range seqs {
				m, err := st.GetMsg(ctx, seq)
				if err != nil {
					continue // aged out of the stream
				}
				if err := add(m.Data, m.Subject, m.Header, m.Sequence); errors.Is(err, bus.ErrStopScan) {
					break
				}
			}
			break
		}
		// Incidents recorded before stream sequences were kept: find the
		// exposures by id from around the first receipt.
		from := inc.FirstReceivedAt.Add(-time.Minute)
		if err := bus.Scan(ctx, rp.JS, exposure.StreamExposures, filter, bus.ScanFrom{Time: from}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
			ev, err := exposure.Decode(m.Data())
			if err != nil || !want[ev.ID] {
				return nil
			}
			delete(want, ev.ID)
			if err := add(m.Data(), m.Subject(), m.Headers(), meta.Sequence.Stream); err != nil {
				return err
			}
			if len(want) == 0 {
				return bus.ErrStopScan
			}
			return nil
		}); err != nil {
			return nil, false, err
		}
	case req.Seq > 0:
		end := max(req.SeqEnd, req.Seq)
		if end-req.Seq >= MaxReplayRange {
			return nil, false, fmt.Errorf("%w: a sequence range spans at most %d messages", ErrBadReplay, MaxReplayRange)
		}
		// Nothing is stored past the last sequence; stopping there also
		// keeps seq from wrapping round when end is the largest uint64.
		end = min(end, st.CachedInfo().State.LastSeq)
		for seq := req.Seq; seq <= end; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, false, err
			}
			if err := add(m.Data, m.Subject, m.Header, m.Sequence); errors.Is(err, bus.ErrStopScan) {
				break
			}
		}
	default:
		until := req.Until
		err = bus.Scan(ctx, rp.JS, exposure.StreamExposures, filter, bus.ScanFrom{Time: req.Since}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
			if !until.IsZero() && meta.Timestamp.After(until) {
				return bus.ErrStopScan
			}
			return add(m.Data(), m.Subject(), m.Headers(), meta.Sequence.Stream)
		})
	}
	if err != nil {
		return nil, false, err
	}
	return out, truncated, nil
}

// exposureIndex maps exposure ids to incidents, for exposures whose incident
// cannot be derived from the event (GitHub alerts: the fingerprint comes from
// the fetched secret). It lists incidents only when needed.
func (rp *Replayer) exposureIndex(ctx context.Context, sel []selected) (map[string]*incident.Incident, error) {
	need := false
	for _, s := range sel {
		if s.ev.Secret.Fingerprint == "" {
			need = true
			break
		}
	}
	idx := map[string]*incident.Incident{}
	if !need {
		return idx, nil
	}
	all, err := rp.Incidents.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range all {
		for _, x := range in.Exposures {
			idx[x.ID] = in
		}
	}
	return idx, nil
}

func (rp *Replayer) incidentOf(ctx context.Context, ev *exposure.Event, byExposure map[string]*incident.Incident) *incident.Incident {
	if in, ok := byExposure[ev.ID]; ok {
		if ev.Secret.Fingerprint == "" {
			ev.Secret.Fingerprint = in.Fingerprint
			ev.Secret.Redacted = nonEmpty(ev.Secret.Redacted, in.Redacted)
		}
		return in
	}
	fp := ev.Secret.Fingerprint
	if fp == "" && ev.Alert != nil && rp.Fingerprinter != nil {
		// The incident of an alert whose secret was never fetched (no
		// token, or the fetch failed permanently).
		fp = AlertFingerprint(rp.Fingerprinter, ev.Alert)
	}
	if fp == "" {
		return nil
	}
	in, _, err := rp.Incidents.Get(ctx, incident.IDFor(fp))
	if err != nil {
		return nil
	}
	return in
}

func validFilter(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newReplayID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "rpl_" + hex.EncodeToString(b)
}
