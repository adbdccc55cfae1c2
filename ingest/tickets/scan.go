// Package tickets ingests secrets pasted into tickets: Jira Cloud webhooks
// (POST /v1/ingest/jira), a generic ticket JSON for ServiceNow/Zendesk/Linear
// bridges (POST /v1/ingest/tickets), and — through Scanner, used by the GitHub
// webhook ingester — GitHub issue and comment text.
//
// Each text field and the ticket's metadata (its ref, URL, system, project,
// owner, labels — keys and values — and each field's comment id and URL) are
// run through the detection engine (ingest/detect). Every distinct secret
// found in one ticket delivery, wherever it was found, becomes one exposure,
// sealed with the deployment keyring; its location names the ticket
// (Location.Ticket, URL), every place that holds it in the "found_in" label
// ("description;label:team"), and, in the "redact" label, every text field
// that holds it ("comment:10042;description"), so that the redaction steps
// (jira.redact, github.redact_comment) can re-fetch exactly those texts and
// replace exactly the secret's bytes. A secret found only in the metadata has
// an empty "redact" label: there is no text to edit. Everything an exposure
// carries from the metadata is redacted first (see redacted). Deliveries are
// idempotent on the sender's delivery id.
package tickets

import (
	"bytes"
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
	LabelRedact  = "redact"  // the text fields that hold the secret: "summary;description;comment:10042" or "title;body;comment:123"; empty when only the metadata does
	LabelOwner   = "owner"   // owner hint from the project mapping
	// LabelFoundIn names every place of the ticket that holds the secret:
	// the text fields as in LabelRedact, then the metadata in this
	// vocabulary: "system", "ref", "url", "project", "owner", "label:<key>"
	// (a label's value), "label:<key> name" (a label's key), "<field> id"
	// and "<field> url" (a comment's id and permalink: "comment:c1 url").
	// Label keys and comment ids appear as the exposure carries them,
	// redacted. Informational: nothing parses it.
	LabelFoundIn = "found_in"
	// LabelJiraLabels holds a Jira issue's labels (fields.labels), separated
	// by spaces (a Jira label has none).
	LabelJiraLabels = "jira_labels"
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

// Scanner finds secrets in tickets and turns them into sealed exposures.
type Scanner struct {
	Detector *detect.Scanner
	Sealer   *sealer.Sealer
	// Published counts published exposures by source, provider and
	// environment (web.Metrics.Exposures); optional.
	Published *prometheus.CounterVec
}

// ErrUnavailable wraps bus failures: answer 503, the sender retries.
var ErrUnavailable = bus.ErrUnavailable

// found is one distinct secret of a delivery.
type found struct {
	v      secret.Value
	f      detect.Finding // the first finding: in a text field when fields is not empty
	fields []int          // indexes in the ticket's Fields
	meta   []int          // indexes in the metadata's items
}

// scanned is one block the detector ran over: a text field, or the metadata.
type scanned struct {
	field int // index in the ticket's Fields; -1 for the metadata
	block []byte
	fs    []detect.Finding
}

// Exposures scans t and returns one sealed exposure per distinct secret
// found in its texts or its metadata. What the exposures carry from t's
// metadata (its ref, URLs, labels, project, owner and comment ids, and src's
// ref and URL) is redacted first: see redacted.
func (s *Scanner) Exposures(ctx context.Context, t Ticket, src exposure.Source) ([]sealer.Item, error) {
	items, _, err := s.exposures(ctx, t, src)
	return items, err
}

// exposures is Exposures, also returning t as redacted.
func (s *Scanner) exposures(ctx context.Context, t Ticket, src exposure.Source) ([]sealer.Item, Ticket, error) {
	meta := newMetadata(t, src)
	defer clear(meta.block)
	var blocks []scanned
	var pairs detect.Pairs
	scan := func(field int, block []byte) {
		x := scanned{field: field, block: block}
		s.Detector.Scan(block, func(f detect.Finding) {
			x.fs = append(x.fs, f)
			pairs.Add(f)
		})
		if len(x.fs) > 0 {
			blocks = append(blocks, x)
		}
	}
	for i, fld := range t.Fields {
		if fld.Text != "" {
			scan(i, []byte(fld.Text))
		}
	}
	scan(-1, meta.block) // last: a secret also in a text is named by its text finding
	if len(blocks) == 0 {
		return nil, Ticket{}, nil
	}
	pairAcross(&pairs, blocks)

	// held is every secret copied out of the ticket here; all are wiped on
	// return, after sealing.
	var held []secret.Value
	defer func() {
		for i := range held {
			held[i].Wipe()
		}
	}()
	byFP := map[string]*found{}
	var order []string
	// scrubWith is what the metadata must not hold: every exposure's secret
	// and every secret found in the metadata (an AWS access key id reported
	// by its secret's exposure too).
	var scrubWith []secret.Value
	for _, b := range blocks {
		for _, f := range b.fs {
			v := sealer.Secret(b.block, f)
			held = append(held, v)
			if b.field < 0 {
				scrubWith = append(scrubWith, v)
			}
			if pairs.Covers(f) {
				continue // an AWS access key id found with its secret: the secret's exposure names it
			}
			fp := s.Sealer.Keyring.Fingerprint(v)
			x := byFP[fp]
			if x == nil {
				x = &found{v: v, f: f}
				byFP[fp] = x
				order = append(order, fp)
				if b.field >= 0 {
					scrubWith = append(scrubWith, v)
				}
			}
			if x.f.KeyID == "" && f.KeyID != "" {
				x.f.KeyID = f.KeyID // the secret found bare in one place and with its id in another
			}
			switch {
			case b.field < 0:
				x.meta = append(x.meta, meta.item(f.Start))
			case len(x.fields) == 0 || t.Fields[x.fields[len(x.fields)-1]].Ref() != t.Fields[b.field].Ref():
				x.fields = append(x.fields, b.field)
			}
		}
	}
	clean := cleaner(scrubWith)
	red := redacted(t, clean)
	src.Ref, src.URL = clean(src.Ref), clean(src.URL)
	items := make([]sealer.Item, 0, len(order))
	for _, fp := range order {
		x := byFP[fp]
		e := s.event(red, src, x, meta.places(x, red, clean))
		if err := s.Sealer.Seal(ctx, x.v, e); err != nil {
			return nil, red, err
		}
		items = append(items, sealer.Item{Event: e, MsgID: src.Kind + ":" + src.DeliveryID + ":" + e.Secret.Fingerprint})
	}
	return items, red, nil
}

// pairAcross applies the AWS pairing rule to the ticket as a whole: the
// detector pairs a secret access key with an access key id only within one
// text (detect.Pairs), but a ticket is one document, and a bridge may copy
// the key's id into a label and the secret into the description. When the
// ticket holds exactly one distinct lone secret access key (found after a
// label such as aws_secret_access_key, with no id near it) and exactly one
// distinct access key id that no secret was paired with, wherever each is,
// the secret's findings name that id and the id's own finding is covered:
// one exposure for the key, which can then be checked and deactivated. With
// more of either the pairing is ambiguous and nothing is paired.
func pairAcross(pairs *detect.Pairs, blocks []scanned) {
	var lone []byte // the lone secret, in its block: not copied
	ids := map[string]bool{}
	for _, b := range blocks {
		for _, f := range b.fs {
			switch {
			case detect.IsLoneAWSSecret(f):
				if raw := b.block[f.Start:f.End]; lone == nil {
					lone = raw
				} else if !bytes.Equal(lone, raw) {
					return // two lone secrets
				}
			case detect.IsAWSKeyID(f) && !pairs.Covers(f):
				ids[f.KeyID] = true
			}
		}
	}
	if lone == nil || len(ids) != 1 {
		return
	}
	var id string
	for k := range ids {
		id = k
	}
	for _, b := range blocks {
		for i := range b.fs {
			if detect.IsLoneAWSSecret(b.fs[i]) {
				b.fs[i].KeyID = id
				pairs.Add(b.fs[i])
			}
		}
	}
}

// metaKind is a part of a ticket's metadata.
type metaKind uint8

const (
	metaSystem metaKind = iota
	metaRef
	metaURL
	metaProject
	metaOwner
	metaLabelName
	metaLabelValue
	metaFieldID
	metaFieldURL
)

// metaItem is one part of the metadata, from block[start] up to the next
// item's start.
type metaItem struct {
	start int
	kind  metaKind
	label string // the label's key, for metaLabelName and metaLabelValue
	field int    // index in the ticket's Fields, for metaFieldID and metaFieldURL
}

// metadata is a ticket's metadata as one block for the detector — the
// ticket's system, ref, URL, project and owner, one line per label
// ("key=value", sorted by key), one line per field (comment id, URL), and
// the source's ref and URL — with where each part lies in it. One block, so
// that an AWS secret access key in one label pairs with the access key id in
// the next, as in a text.
type metadata struct {
	block []byte
	items []metaItem // in block order
}

func newMetadata(t Ticket, src exposure.Source) metadata {
	var m metadata
	add := func(v string, it metaItem, sep byte) {
		if v != "" {
			it.start = len(m.block)
			m.block = append(m.block, v...)
			m.items = append(m.items, it)
		}
		m.block = append(m.block, sep)
	}
	add(t.System, metaItem{kind: metaSystem}, ' ')
	add(t.Ref, metaItem{kind: metaRef}, ' ')
	add(t.URL, metaItem{kind: metaURL}, ' ')
	add(t.Project, metaItem{kind: metaProject}, ' ')
	add(t.Owner, metaItem{kind: metaOwner}, '\n')
	keys := make([]string, 0, len(t.Labels))
	for k := range t.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, metaItem{kind: metaLabelName, label: k}, '=')
		add(t.Labels[k], metaItem{kind: metaLabelValue, label: k}, '\n')
	}
	for i, f := range t.Fields {
		add(f.CommentID, metaItem{kind: metaFieldID, field: i}, ' ')
		add(f.URL, metaItem{kind: metaFieldURL, field: i}, '\n')
	}
	add(src.Ref, metaItem{kind: metaRef}, ' ')
	add(src.URL, metaItem{kind: metaURL}, '\n')
	return m
}

// item returns the index of the item holding the block's byte at off.
func (m metadata) item(off int) int {
	return max(0, sort.Search(len(m.items), func(i int) bool { return m.items[i].start > off })-1)
}

// places names where x was found, for the found_in label and the display:
// its text fields (as the redact label names them), then its metadata
// items in LabelFoundIn's vocabulary, each once. Caller-controlled names in
// it — label keys, comment ids — are taken from red, the redacted ticket, or
// passed through clean.
func (m metadata) places(x *found, red Ticket, clean func(string) string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, i := range x.fields {
		add(red.Fields[i].Ref())
	}
	for _, i := range x.meta {
		it := m.items[i]
		switch it.kind {
		case metaSystem:
			add("system")
		case metaRef:
			add("ref")
		case metaURL:
			add("url")
		case metaProject:
			add("project")
		case metaOwner:
			add("owner")
		case metaLabelName:
			add("label:" + clean(it.label) + " name")
		case metaLabelValue:
			add("label:" + clean(it.label))
		case metaFieldID:
			add(red.Fields[it.field].Ref() + " id")
		case metaFieldURL:
			add(red.Fields[it.field].Ref() + " url")
		}
	}
	return out
}

// cleaner returns a function that removes secrets, and every run of
// scrub.MinRun characters of one, from a text (scrub.Text).
func cleaner(secrets []secret.Value) func(string) string {
	return func(v string) string { return scrub.Text(v, secrets...) }
}

// redacted returns a copy of t whose metadata — the texts an exposure
// carries besides the sealed secret: ref, URL, system, project, owner,
// labels (keys and values), and each field's comment id and URL — has been
// passed through clean. exposures cleans with every secret found in the
// delivery's texts and metadata, so that none of them, nor any run of
// scrub.MinRun characters of one, travels in the clear: a key a bridge also
// copied into a label or an id.
func redacted(t Ticket, clean func(string) string) Ticket {
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
	return out
}

// event builds x's exposure from the redacted ticket t; places is where x
// was found (metadata.places), never empty.
func (s *Scanner) event(t Ticket, src exposure.Source, x *found, places []string) *exposure.Event {
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
	// Set even when empty: a caller's label of the same name must not name
	// a text to edit.
	labels[LabelRedact] = strings.Join(refs, ";")
	labels[LabelFoundIn] = strings.Join(places, ";")
	url := t.URL
	line := 0
	if len(x.fields) > 0 {
		if u := t.Fields[x.fields[0]].URL; u != "" {
			url = u
		}
		line = x.f.Line // a line of the metadata block would mean nothing to anyone
	}
	env := t.Environment
	if env == "" {
		env = exposure.Environment(t.Labels, "", "", t.Project)
	}
	where := t.Ref
	if len(places) > 0 {
		where += " " + strings.ReplaceAll(places[0], ":", " ")
	}
	return &exposure.Event{
		Source: src,
		Secret: exposure.Secret{Provider: x.f.Provider, Type: x.f.Type, KeyID: x.f.KeyID},
		Location: exposure.Location{Ticket: t.Ref, URL: url, Labels: labels, Line: line,
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
