package logsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/firebreak-sec/firebreak/ingest/web"
)

// ParseError says what is wrong with a request body. Messages name the
// position and the problem, never the body's content (which may hold the very
// secret being reported).
type ParseError struct {
	// Index is the 0-based index of the offending entry (NDJSON value, HEC
	// event, Loki stream), or -1.
	Index int
	// HECCode is Splunk's HEC status code for the problem (5 no data, 6
	// invalid data format, 12 event field required, 13 event field blank).
	HECCode int
	Msg     string
}

func (e *ParseError) Error() string { return e.Msg }

// ErrNoData: the body holds no entry at all.
var ErrNoData = &ParseError{Index: -1, HECCode: 5, Msg: "no data: the body holds no log entries"}

func parseErr(i, code int, format string, args ...any) *ParseError {
	return &ParseError{Index: i, HECCode: code, Msg: fmt.Sprintf(format, args...)}
}

// QueryLabels turns query parameters into labels (the first value of each,
// whole: sanitize bounds them once the secrets are out). Parameters that are
// not labels (token) are skipped.
func QueryLabels(q url.Values) map[string]string {
	if len(q) == 0 {
		return nil
	}
	out := make(map[string]string, len(q))
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || k == "token" || len(out) == maxLabels {
			continue
		}
		if vs := q[k]; len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// ParseLogs parses a POST /v1/ingest/logs body. With a JSON content type
// (application/json, application/x-ndjson, application/jsonl, …) or, without
// one, a body starting with '{' or '[': a stream of JSON values —
// newline-delimited, concatenated, or arrays — each an object (or an array
// of objects) holding one entry; its message/msg/log field is the message and
// its other fields become labels. Otherwise (text/plain) each non-empty line
// is an entry. labels (from the query string) apply to every entry.
func ParseLogs(body []byte, contentType string, labels map[string]string) ([]Record, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, ErrNoData
	}
	if isJSONType(contentType, trimmed) {
		return parseJSONEntries(trimmed, labels)
	}
	return textRecords(trimmed, labels, nil), nil
}

func isJSONType(contentType string, body []byte) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		return body[0] == '{' || body[0] == '['
	}
	switch {
	case mt == "text/plain":
		return false
	case strings.HasSuffix(mt, "json"), strings.HasSuffix(mt, "ndjson"), strings.HasSuffix(mt, "jsonl"),
		strings.HasSuffix(mt, "json-seq"), strings.HasSuffix(mt, "+json"):
		return true
	}
	return body[0] == '{' || body[0] == '['
}

func parseJSONEntries(body []byte, labels map[string]string) ([]Record, error) {
	var out []Record
	meta := metaText(labels)
	dec := json.NewDecoder(bytes.NewReader(body))
	for i := 0; ; i++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, parseErr(i, 6, "entry %d (byte %d): %s", i, start, web.JSONError(err))
		}
		switch raw[0] {
		case '{':
			out = append(out, Record{Line: raw, Base: labels, Fields: raw})
		case '[':
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, parseErr(i, 6, "entry %d: %s", i, web.JSONError(err))
			}
			for j, it := range items {
				if len(it) == 0 || it[0] != '{' {
					return nil, parseErr(i, 6, "entry %d: element %d is not a JSON object", i, j)
				}
				out = append(out, Record{Line: it, Base: labels, Fields: it})
			}
		default:
			return nil, parseErr(i, 6, "entry %d (byte %d) is not a JSON object", i, start)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoData
	}
	out[0].Meta = meta
	return out, nil
}

// textRecords splits text into one record per non-empty line.
func textRecords(body []byte, base, extra map[string]string) []Record {
	var out []Record
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out = append(out, Record{Line: line, Base: base, Extra: extra})
	}
	if len(out) > 0 {
		out[0].Meta = append(metaText(base), metaText(extra)...)
	}
	return out
}

// hecEvent is one event of Splunk's HEC event protocol ("Format events for
// HTTP Event Collector", help.splunk.com).
type hecEvent struct {
	Time       json.RawMessage            `json:"time"`
	Host       json.RawMessage            `json:"host"`
	Source     json.RawMessage            `json:"source"`
	Sourcetype json.RawMessage            `json:"sourcetype"`
	Index      json.RawMessage            `json:"index"`
	Event      json.RawMessage            `json:"event"`
	Fields     map[string]json.RawMessage `json:"fields"`
}

// ParseHECEvents parses a POST /services/collector/event body: one or many
// JSON event objects, concatenated with or without whitespace. Each needs an
// "event" (a string or any JSON value); host, source, sourcetype and index
// name the stream, fields become labels. Errors carry HEC's status codes:
// 5 (no data), 6 (invalid data format), 12 (event field is required), 13
// (event field cannot be blank), with the index of the offending event.
func ParseHECEvents(body []byte) ([]Record, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, ErrNoData
	}
	var out []Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for i := 0; ; i++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, parseErr(i, 6, "event %d: %s", i, web.JSONError(err))
		}
		if raw[0] != '{' {
			return nil, parseErr(i, 6, "event %d is not a JSON object", i)
		}
		var ev hecEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, parseErr(i, 6, "event %d: %s", i, web.JSONError(err))
		}
		if len(ev.Event) == 0 || string(ev.Event) == "null" {
			return nil, parseErr(i, 12, "event %d: the event field is required", i)
		}
		if string(ev.Event) == `""` {
			return nil, parseErr(i, 13, "event %d: the event field cannot be blank", i)
		}
		base := map[string]string{}
		for name, v := range map[string]json.RawMessage{"host": ev.Host, "source": ev.Source, "sourcetype": ev.Sourcetype, "index": ev.Index} {
			if len(v) == 0 || string(v) == "null" {
				continue
			}
			s, ok := jsonString(v)
			if !ok {
				return nil, parseErr(i, 6, "event %d: %s must be a string", i, name)
			}
			base[name] = s
		}
		var extra map[string]string
		if len(ev.Fields) > 0 {
			extra = make(map[string]string, len(ev.Fields))
			for k, v := range ev.Fields {
				s, ok := fieldValue(v)
				if !ok {
					// Not named: a field's name may be the very key being reported.
					return nil, parseErr(i, 6, "event %d: a value in fields is not a string, a number or an array of them", i)
				}
				extra[k] = s
			}
		}
		rec := Record{Line: raw, Base: base, Extra: extra}
		if ev.Event[0] == '{' {
			rec.Fields = ev.Event
		}
		if len(ev.Time) > 0 && string(ev.Time) != "null" {
			var t any
			if err := json.Unmarshal(ev.Time, &t); err == nil {
				if s, ok := t.(string); ok {
					t = json.Number(s)
				} else if f, ok := t.(float64); ok {
					t = json.Number(strconv.FormatFloat(f, 'f', -1, 64))
				}
				if tt, ok := parseTime(t); ok {
					rec.Time = tt
				} else {
					return nil, parseErr(i, 6, "event %d: time must be Unix seconds", i)
				}
			}
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, ErrNoData
	}
	return out, nil
}

func jsonString(v json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// fieldValue renders a HEC indexed field: a string, a number, or an array of
// them (joined with ",").
func fieldValue(v json.RawMessage) (string, bool) {
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return "", false
	}
	switch t := x.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			switch s := e.(type) {
			case string:
				parts = append(parts, s)
			case json.Number:
				parts = append(parts, s.String())
			default:
				return "", false
			}
		}
		return strings.Join(parts, ","), true
	}
	return "", false
}

// ParseHECRaw parses a POST /services/collector/raw body: raw text, one entry
// per line; host, source, sourcetype and index come from the query string.
func ParseHECRaw(body []byte, q url.Values) ([]Record, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, ErrNoData
	}
	base := map[string]string{}
	for _, k := range []string{"host", "source", "sourcetype", "index"} {
		if v := q.Get(k); v != "" {
			base[k] = v
		}
	}
	recs := textRecords(body, base, nil)
	if len(recs) == 0 {
		return nil, ErrNoData
	}
	return recs, nil
}

// lokiPush is Loki's JSON push body (POST /loki/api/v1/push, "Loki HTTP API",
// grafana.com/docs/loki): streams of labels and [timestamp, line] values,
// with optional structured metadata as a third element.
type lokiPush struct {
	Streams []struct {
		Stream map[string]string   `json:"stream"`
		Values [][]json.RawMessage `json:"values"`
	} `json:"streams"`
}

// ParseLoki parses a Loki JSON push. Every stream needs at least one label;
// every value is ["<unix nanoseconds>", "<line>"] or that plus an object of
// structured metadata.
func ParseLoki(body []byte) ([]Record, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, ErrNoData
	}
	var p lokiPush
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, parseErr(-1, 6, "%s", web.JSONError(err))
	}
	if dec.More() {
		return nil, parseErr(-1, 6, "unexpected data after the push object")
	}
	var out []Record
	for i, s := range p.Streams {
		if len(s.Stream) == 0 {
			return nil, parseErr(i, 6, "streams[%d]: at least one label pair is required per stream", i)
		}
		base := s.Stream
		first := len(out)
		for j, v := range s.Values {
			if len(v) != 2 && len(v) != 3 {
				return nil, parseErr(i, 6, "streams[%d].values[%d]: want [timestamp, line] or [timestamp, line, metadata], got %d elements", i, j, len(v))
			}
			ts, err := lokiTime(v[0])
			if err != nil {
				return nil, parseErr(i, 6, "streams[%d].values[%d][0]: %v", i, j, err)
			}
			line, ok := jsonString(v[1])
			if !ok {
				return nil, parseErr(i, 6, "streams[%d].values[%d][1]: the log line must be a string", i, j)
			}
			rec := Record{Line: []byte(line), Base: base, Time: ts}
			if len(v) == 3 {
				var md map[string]string
				if err := json.Unmarshal(v[2], &md); err != nil {
					return nil, parseErr(i, 6, "streams[%d].values[%d][2]: structured metadata must be an object of strings", i, j)
				}
				if len(md) > 0 {
					rec.Extra = md
					rec.Meta = metaText(md)
				}
			}
			out = append(out, rec)
		}
		if len(out) > first {
			out[first].Meta = append(metaText(s.Stream), out[first].Meta...)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoData
	}
	return out, nil
}

// lokiTime reads a Loki timestamp: Unix nanoseconds as a string (Loki's
// format) or, leniently, as a number.
func lokiTime(v json.RawMessage) (time.Time, error) {
	s := string(v)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return time.Time{}, errors.New("timestamp must be a string of Unix nanoseconds")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, errors.New("timestamp must be a string of Unix nanoseconds")
	}
	return time.Unix(0, n), nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
