package logsink

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/firebreak-sec/firebreak/ingest/exposure"
)

// Record is one log entry of a request (or of a syslog batch): the text the
// detectors scan, and what locates it.
type Record struct {
	// Line is scanned: the whole entry as received (an NDJSON line, a HEC
	// event object with its envelope, a Loki line, a syslog frame), read
	// with its JSON string escapes decoded (see unescape).
	Line []byte
	// Meta is scanned too (read the same way): text of the entry's envelope
	// that is not in Line (Loki stream labels, query-string labels), set on
	// the first record of each envelope so that a secret pasted into a label
	// is found.
	Meta []byte
	// Base holds the envelope's labels that name the stream (query
	// parameters, HEC host/source/sourcetype/index, Loki stream labels,
	// syslog host and app): all of them are part of the stream identity.
	// Records of one envelope share the map: it is never modified. Labels
	// (Base, Extra, Fields) are kept whole: sanitize bounds them.
	Base map[string]string
	// Extra holds envelope labels that do not name the stream (HEC indexed
	// fields, Loki structured metadata, syslog structured data).
	Extra map[string]string
	// Fields, when set, is a JSON object whose fields also become labels (an
	// NDJSON line, a HEC object event); flattened only for records with a
	// finding. Only well-known stream fields (service, app, env, host, …)
	// join the stream identity.
	Fields []byte
	// Time is when the entry was logged (zero: unknown; the receipt time is
	// used).
	Time time.Time
}

// Limits on what an exposure carries from a log entry. Parsers keep labels
// whole (the request's size limit bounds them); sanitize cuts them, after it
// has redacted the request's secrets from them.
const (
	maxLabels     = 32
	maxLabelKey   = 64
	maxLabelValue = 256
	maxStream     = 512
	maxDepth      = 3
)

// messageFields are the fields that hold the log message itself: they are
// scanned but never copied into labels.
var messageFields = map[string]bool{"message": true, "msg": true, "log": true, "MESSAGE": true}

// streamFields are the entry fields (beyond the envelope's labels) that say
// which stream an entry belongs to; the other fields (request ids, levels,
// timestamps) vary line by line and would defeat flood dedup.
var streamFields = map[string]bool{
	"env": true, "environment": true, "stage": true, "tier": true, "namespace": true,
	"service": true, "service_name": true, "service.name": true, "app": true, "application": true,
	"job": true, "host": true, "hostname": true, "source": true, "sourcetype": true, "index": true,
	"container": true, "container_name": true, "pod": true, "pod_name": true, "cluster": true,
	"filename": true, "logger": true,
	"kubernetes.namespace_name": true, "kubernetes.pod_name": true, "kubernetes.container_name": true,
	"kubernetes.labels.app": true, "kubernetes.labels.app.kubernetes.io/name": true,
	"k8s.namespace.name": true, "k8s.pod.name": true, "k8s.container.name": true, "k8s.deployment.name": true,
}

// timeFields are entry fields read as the time the entry was logged.
var timeFields = []string{"@timestamp", "timestamp", "time", "ts", "date"}

// labels returns the record's labels (Base, then its Fields where Base does
// not set them) and the time found in its fields.
func (r *Record) labels() (map[string]string, time.Time) {
	out := make(map[string]string, len(r.Base)+len(r.Extra)+8)
	for k, v := range r.Extra {
		out[k] = v
	}
	for k, v := range r.Base {
		out[k] = v
	}
	t := r.Time
	if len(r.Fields) == 0 {
		return out, t
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Fields))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return out, t
	}
	flat := map[string]string{}
	flatten("", obj, flat, 0)
	for k, v := range flat {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	if t.IsZero() {
		for _, k := range timeFields {
			if v, ok := obj[k]; ok {
				if tt, ok := parseTime(v); ok {
					t = tt
					break
				}
			}
		}
	}
	return out, t
}

func flatten(prefix string, v map[string]any, out map[string]string, depth int) {
	for k, val := range v {
		if depth == 0 && messageFields[k] {
			continue
		}
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := val.(type) {
		case string:
			out[key] = x
		case json.Number:
			out[key] = x.String()
		case bool:
			out[key] = strconv.FormatBool(x)
		case map[string]any:
			if depth+1 < maxDepth {
				flatten(key, x, out, depth+1)
			}
		}
	}
}

// parseTime reads a log timestamp: RFC 3339 text, or Unix seconds (with a
// fraction), milliseconds or nanoseconds as a number or numeric string.
func parseTime(v any) (time.Time, bool) {
	var s string
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, true
		}
		s = x
	case json.Number:
		s = x.String()
	default:
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	switch {
	case f > 1e17: // nanoseconds
		return time.Unix(0, int64(f)), true
	case f > 1e11: // milliseconds
		return time.UnixMilli(int64(f)), true
	default:
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), true
	}
}

// stream returns the record's stream identity in label-selector form,
// {app="payments",env="prod"}, from its labels (sanitized: with the secrets
// of the batch redacted).
func (r *Record) stream(all map[string]string, red *redactor) string {
	labels := make(map[string]string, len(all))
	for k, v := range all {
		if _, base := r.Base[k]; base || streamFields[k] {
			labels[k] = v
		}
	}
	labels = sanitize(labels, red)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.Quote(labels[k]))
		if b.Len() > maxStream {
			break
		}
	}
	b.WriteByte('}')
	return truncate(b.String(), maxStream)
}

// sanitize bounds the labels an exposure carries and removes every secret
// found in the request from their keys and values (a secret may sit in a
// label as well as in the line), and any piece of one (see redactor).
// Parsers keep labels whole: a label is cut to its bound here, only after the
// secrets are out of it, so that no cut-off part of a secret can remain.
func sanitize(labels map[string]string, red *redactor) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	// Stream labels first, so that they survive the cap.
	sort.Slice(keys, func(i, j int) bool {
		si, sj := streamFields[keys[i]], streamFields[keys[j]]
		if si != sj {
			return si
		}
		return keys[i] < keys[j]
	})
	out := make(map[string]string, min(len(keys), maxLabels))
	for _, k := range keys {
		if len(out) == maxLabels {
			break
		}
		out[red.clean(k, maxLabelKey)] = red.clean(labels[k], maxLabelValue)
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// envKeys are labels whose values may name an environment ("payments-prod",
// "staging-eu") when no env/environment/namespace label does.
var envKeys = []string{"kubernetes.namespace_name", "k8s.namespace.name", "service", "service_name", "service.name",
	"app", "application", "cluster", "index", "host", "hostname"}

// environmentOf guesses the environment from labels: exposure.Environment's
// env/environment/stage/namespace/tier labels first, then the values of the
// service, app, cluster and host labels.
func environmentOf(labels map[string]string) string {
	if e := exposure.Environment(labels, "", "", ""); e != exposure.EnvUnknown {
		return e
	}
	for _, k := range envKeys {
		if v := labels[k]; v != "" {
			if e := exposure.Environment(nil, "", "", v); e != exposure.EnvUnknown {
				return e
			}
		}
	}
	return exposure.EnvUnknown
}

// metaText renders labels as scannable text: "k=v k=v".
func metaText(labels map[string]string) []byte {
	if len(labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, labels[k]...)
		b = append(b, ' ')
	}
	return b
}
