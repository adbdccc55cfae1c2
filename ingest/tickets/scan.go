// Package tickets ingests secrets pasted into tickets: Jira Cloud webhooks
// (POST /v1/ingest/jira), a generic ticket JSON for ServiceNow/Zendesk/Linear
// bridges (POST /v1/ingest/tickets), and — through Scanner, used by the GitHub
// webhook ingester — GitHub issue and comment text.
//
// Each text field is run through the detection engine (ingest/detect). Every
// distinct secret found in one ticket delivery becomes one exposure, sealed
// with the deployment keyring; its location names the ticket (Location.Ticket,
// URL) and, in the "redact" label, every field that holds it
// ("comment:10042;description"), so that the redaction steps (jira.redact,
// github.redact_comment) can re-fetch exactly those texts and replace exactly
// the secret's bytes. Deliveries are idempotent on the sender's delivery id.
package tickets

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firebreak-sec/firebreak/ingest/bus"
	"github.com/firebreak-sec/firebreak/ingest/detect"
	"github.com/firebreak-sec/firebreak/ingest/exposure"
	"github.com/firebreak-sec/firebreak/ingest/sealer"
	"github.com/firebreak-sec/firebreak/ingest/secret"
	"github.com/firebreak-sec/firebreak/ingest/secret/scrub"
)

// Label keys an exposure from a ticket carries in Location.Labels.
const (
	LabelSystem  = "system"  // jira | github | servicenow | …
	LabelProject = "project" // Jira project key
	LabelRepo    = "repo"    // GitHub owner/name
	LabelIssue   = "issue"   // GitHub issue number, Jira issue key
	LabelRedact  = "redact"  // the fields that hold the secret: "summary;description;comment:10042" or "title;body;comment:123"
	LabelOwner   = "owner"   // owner hint from the project mapping
)

// Field is one text of a ticket: "summary", "description", "title", "body"
// or a comment ("comment" with its id).
type Field struct {
	Name      string
	CommentID string
	Text      string
	URL       string // a link to this field (a comment's permalink)
}

// Ref is how the field is named in the redact label.
func (f Field) Ref() string {
	if f.CommentID != "" {
		return "comment:" + f.CommentID
	}
	return f.Name
}

// Ticket is a ticket's texts and what is known about where it lives.
type Ticket struct {
	System      string // jira, github, or the generic system name
	Ref         string // "PAY-12", "octo/app#42", "INC0012345"
	URL         string
	Project     string
	Environment string // from the project mapping; guessed when empty
	Owner       string // owner hint
	Labels      map[string]string
	Fields      []Field
}

// Publisher is what ingest needs from the bus (*bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, e *exposure.Event, msgID string) (bus.PublishResult, error)
	SeenDelivery(ctx context.Context, source, id string) (*bus.Delivery, error)
	RememberDelivery(ctx context.Context, source, id string, exposureIDs []string) error
}

// Scanner finds secrets in ticket text and turns them into sealed exposures.
type Scanner struct {
	Detector *detect.Scanner
	Sealer   *sealer.Sealer
	// Published counts published exposures by source, provider and
	// environment (web.Metrics.Exposures); optional.
	Published *prometheus.CounterVec
}

// ErrUnavailable wraps bus failures: answer 503, the sender retries.
var ErrUnavailable = bus.ErrUnavailable

type found struct {
	v      secret.Value
	f      detect.Finding
	fields []int // indexes in the ticket's Fields
}

// Exposures scans t and returns one sealed exposure per distinct secret.
// What the exposures carry from t's metadata (its ref, URLs, labels,
// project, owner and comment ids, and src's ref and URL) is redacted first:
// see redacted.
func (s *Scanner) Exposures(ctx context.Context, t Ticket, src exposure.Source) ([]sealer.Item, error) {
	items, _, err := s.exposures(ctx, t, src)
	return items, err
}

// exposures is Exposures, also returning t as redacted.
func (s *Scanner) exposures(ctx context.Context, t Ticket, src exposure.Source) ([]sealer.Item, Ticket, error) {
	byFP := map[string]*found{}
	var order []string
	type scanned struct {
		i     int // index in t.Fields
		block []byte
		fs    []detect.Finding
	}
	var texts []scanned
	var pairs detect.Pairs
	for i, fld := range t.Fields {
		if fld.Text == "" {
			continue
		}
		x := scanned{i: i, block: []byte(fld.Text)}
		s.Detector.Scan(x.block, func(f detect.Finding) {
			x.fs = append(x.fs, f)
			pairs.Add(f)
		})
		texts = append(texts, x)
	}
	for _, txt := range texts {
		i, block := txt.i, txt.block
		for _, f := range txt.fs {
			if pairs.Covers(f) {
				continue // an AWS access key id found with its secret: the secret's exposure names it
			}
			v := sealer.Secret(block, f)
			fp := s.Sealer.Keyring.Fingerprint(v)
			x := byFP[fp]
			if x == nil {
				x = &found{v: v, f: f}
				byFP[fp] = x
				order = append(order, fp)
			}
			if len(x.fields) == 0 || t.Fields[x.fields[len(x.fields)-1]].Ref() != t.Fields[i].Ref() {
				x.fields = append(x.fields, i)
			}
		}
	}
	if len(order) == 0 {
		return nil, Ticket{}, nil
	}
	vals := make([]secret.Value, 0, len(order))
	for _, fp := range order {
		vals = append(vals, byFP[fp].v)
	}
	t, more := s.redacted(t, vals)
	defer func() {
		for _, v := range more {
			v.Wipe()
		}
	}()
	secrets := append(vals, more...)
	src.Ref, src.URL = scrub.Text(src.Ref, secrets...), scrub.Text(src.URL, secrets...)
	items := make([]sealer.Item, 0, len(order))
	for _, fp := range order {
		x := byFP[fp]
		e := s.event(t, src, x)
		if err := s.Sealer.Seal(ctx, x.v, e); err != nil {
			return nil, t, err
		}
		x.v.Wipe()
		items = append(items, sealer.Item{Event: e, MsgID: src.Kind + ":" + src.DeliveryID + ":" + e.Secret.Fingerprint})
	}
	return items, t, nil
}

// redacted returns a copy of t whose metadata — the texts an exposure
// carries besides the sealed secret: ref, URL, system, project, owner,
// labels (keys and values), and each field's comment id and URL — holds none
// of found, nor any secret the detector finds in that metadata itself, nor
// any run of scrub.MinRun characters of one (scrub.Text). Only the fields'
// texts are scanned for exposures, so a key a bridge also copied into a
// label or an id would otherwise travel in the clear. It also returns the
// secrets found in the metadata, for the caller to scrub with and wipe.
func (s *Scanner) redacted(t Ticket, found []secret.Value) (Ticket, []secret.Value) {
	var meta []byte
	line := func(parts ...string) {
		for _, p := range parts {
			meta = append(meta, p...)
			meta = append(meta, ' ')
		}
		meta = append(meta, '\n')
	}
	line(t.System, t.Ref, t.URL, t.Project, t.Owner)
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line(k + "=" + t.Labels[k])
	}
	for _, f := range t.Fields {
		line(f.CommentID, f.URL)
	}
	var more []secret.Value
	s.Detector.Scan(meta, func(f detect.Finding) { more = append(more, sealer.Secret(meta, f)) })
	clear(meta)
	secrets := append(append([]secret.Value(nil), found...), more...)
	clean := func(v string) string { return scrub.Text(v, secrets...) }
	out := t
	out.System, out.Ref, out.URL, out.Project, out.Owner = clean(t.System), clean(t.Ref), clean(t.URL), clean(t.Project), clean(t.Owner)
	out.Labels = make(map[string]string, len(t.Labels))
	for k, v := range t.Labels {
		out.Labels[clean(k)] = clean(v)
	}
	out.Fields = make([]Field, len(t.Fields))
	for i, f := range t.Fields {
		f.CommentID, f.URL = clean(f.CommentID), clean(f.URL)
		out.Fields[i] = f
	}
	return out, more
}

func (s *Scanner) event(t Ticket, src exposure.Source, x *found) *exposure.Event {
	labels := map[string]string{LabelSystem: t.System}
	for k, v := range t.Labels {
		labels[k] = v
	}
	if t.Project != "" {
		labels[LabelProject] = t.Project
	}
	if t.Owner != "" {
		labels[LabelOwner] = t.Owner
	}
	refs := make([]string, 0, len(x.fields))
	for _, i := range x.fields {
		refs = append(refs, t.Fields[i].Ref())
	}
	labels[LabelRedact] = strings.Join(refs, ";")
	url := t.URL
	if len(x.fields) > 0 && t.Fields[x.fields[0]].URL != "" {
		url = t.Fields[x.fields[0]].URL
	}
	env := t.Environment
	if env == "" {
		env = exposure.Environment(t.Labels, "", "", t.Project)
	}
	where := t.Ref
	if len(x.fields) > 0 {
		where += " " + strings.ReplaceAll(t.Fields[x.fields[0]].Ref(), ":", " ")
	}
	return &exposure.Event{
		Source: src,
		Secret: exposure.Secret{Provider: x.f.Provider, Type: x.f.Type, KeyID: x.f.KeyID},
		Location: exposure.Location{Ticket: t.Ref, URL: url, Labels: labels, Line: x.f.Line,
			Display: strings.TrimSpace(t.System + " " + where)},
		Environment: env,
		Correlation: src.Kind + "-" + src.DeliveryID,
	}
}

// Outcome is the result of a delivery.
type Outcome struct {
	ExposureIDs []string
	Duplicate   bool
	// Ticket is the ticket's ref as the exposures carry it (redacted), for
	// logs; empty when the delivery was not scanned.
	Ticket string
}

// Deliver runs one delivery: a delivery id already accepted is a duplicate
// (nothing published); otherwise every exposure is published and
// acknowledged before the delivery is remembered. Bus failures wrap
// ErrUnavailable.
func (s *Scanner) Deliver(ctx context.Context, pub Publisher, t Ticket, src exposure.Source) (Outcome, error) {
	seen, err := pub.SeenDelivery(ctx, src.Kind, src.DeliveryID)
	if err != nil {
		return Outcome{}, err
	}
	if seen != nil {
		return Outcome{ExposureIDs: seen.ExposureIDs, Duplicate: true}, nil
	}
	items, t, err := s.exposures(ctx, t, src)
	if err != nil {
		return Outcome{Ticket: t.Ref}, err
	}
	if err := sealer.PublishAll(ctx, pub, items, 16); err != nil {
		return Outcome{Ticket: t.Ref}, err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.Event.ID)
		if s.Published != nil {
			s.Published.WithLabelValues(it.Event.Source.Kind, it.Event.Secret.Provider, it.Event.Environment).Inc()
		}
	}
	if err := pub.RememberDelivery(ctx, src.Kind, src.DeliveryID, ids); err != nil && !errors.Is(err, context.Canceled) {
		// The exposures are durable; a redelivery is caught by the message
		// ids and the incidents' fingerprints.
		return Outcome{ExposureIDs: ids, Ticket: t.Ref}, nil
	}
	return Outcome{ExposureIDs: ids, Ticket: t.Ref}, nil
}

// Sign returns the X-Hub-Signature value Jira sends for body under secret
// (WebSub's method=signature: "sha256=" + hex HMAC-SHA256 of the raw body).
func Sign(key secret.Value, body []byte) string {
	m := hmac.New(sha256.New, key.Bytes())
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ParseSignature parses an X-Hub-Signature value "sha256=<64 hex>" (the
// method is case-insensitive) and returns the digest.
func ParseSignature(h string) ([]byte, error) {
	method, hexSig, ok := strings.Cut(strings.TrimSpace(h), "=")
	if !ok || !strings.EqualFold(method, "sha256") {
		return nil, errors.New("X-Hub-Signature must be sha256=<hex>")
	}
	b, err := hex.DecodeString(hexSig)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("X-Hub-Signature must be sha256=<64 hex digits>")
	}
	return b, nil
}

// verifyHMAC checks a signature header against body under key.
func verifyHMAC(key secret.Value, header string, body []byte) string {
	if header == "" {
		return "missing X-Hub-Signature header"
	}
	got, err := ParseSignature(header)
	if err != nil {
		return err.Error()
	}
	m := hmac.New(sha256.New, key.Bytes())
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return "X-Hub-Signature does not match the payload"
	}
	return ""
}

func bodyHash(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256-" + hex.EncodeToString(h[:16])
}
