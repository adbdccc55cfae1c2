package logsink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/firebreak-sec/firebreak/ingest/web"
)

// ParseLokiProto reads a Loki push in its protobuf form, the one Promtail,
// Grafana Alloy's loki.write and Vector's default send: a logproto.PushRequest
// (github.com/grafana/loki/pkg/push/push.proto), snappy-compressed in the
// block format, with Content-Type application/x-protobuf.
//
//	PushRequest   { repeated StreamAdapter streams = 1; }
//	StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//	EntryAdapter  { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
//
// labels is the stream's label set in Prometheus text form
// ({app="api", env="prod"}). The records are what ParseLoki makes of the same
// push in JSON; unknown fields are skipped, as protobuf readers do. A body
// that decompresses to more than maxDecoded bytes fails with an error
// wrapping web.ErrTooLarge, before anything is decompressed. Errors name the
// stream and entry, never a label's or a line's content.
func ParseLokiProto(body []byte, maxDecoded int64) ([]Record, error) {
	if len(body) == 0 {
		return nil, ErrNoData
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, parseErr(-1, 6, "protobuf push: the body is not snappy-compressed (block format): %v", err)
	}
	if int64(n) > maxDecoded {
		return nil, fmt.Errorf("protobuf push decompresses to %d bytes, over the %d-byte limit: %w", n, maxDecoded, web.ErrTooLarge)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, parseErr(-1, 6, "protobuf push: the body is not snappy-compressed (block format): %v", err)
	}
	var out []Record
	stream := 0
	err = eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 {
			return nil
		}
		if typ != protowire.BytesType {
			return parseErr(-1, 6, "protobuf push: streams must be messages")
		}
		recs, err := lokiProtoStream(v, stream)
		stream++
		out = append(out, recs...)
		return err
	})
	if err != nil {
		return nil, inPush(err, -1, "protobuf push")
	}
	if len(out) == 0 {
		return nil, ErrNoData
	}
	return out, nil
}

// lokiProtoStream reads StreamAdapter i.
func lokiProtoStream(b []byte, i int) ([]Record, error) {
	var labels string
	var entries [][]byte
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			labels = string(v)
		case num == 2 && typ == protowire.BytesType:
			entries = append(entries, v)
		case num == 1 || num == 2:
			return parseErr(i, 6, "streams[%d]: field %d has the wrong wire type", i, num)
		}
		return nil
	})
	if err != nil {
		return nil, inPush(err, i, fmt.Sprintf("streams[%d]", i))
	}
	set, err := parseLabelSet(labels)
	if err != nil {
		return nil, parseErr(i, 6, "streams[%d].labels: %v", i, err)
	}
	if len(set) == 0 {
		return nil, parseErr(i, 6, "streams[%d]: at least one label pair is required per stream", i)
	}
	out := make([]Record, 0, len(entries))
	for j, e := range entries {
		rec, err := lokiProtoEntry(e, i, j)
		if err != nil {
			return nil, err
		}
		rec.Base = set
		out = append(out, rec)
	}
	if len(out) > 0 {
		out[0].Meta = append(metaText(set), out[0].Meta...)
	}
	return out, nil
}

// lokiProtoEntry reads EntryAdapter j of stream i.
func lokiProtoEntry(b []byte, i, j int) (Record, error) {
	var rec Record
	var md map[string]string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num >= 1 && num <= 3 && typ != protowire.BytesType {
			return parseErr(i, 6, "streams[%d].entries[%d]: field %d has the wrong wire type", i, j, num)
		}
		switch num {
		case 1:
			t, err := protoTimestamp(v)
			if err != nil {
				return parseErr(i, 6, "streams[%d].entries[%d].timestamp: %v", i, j, err)
			}
			rec.Time = t
		case 2:
			rec.Line = v // raw is this request's own buffer
		case 3:
			name, value, err := protoLabelPair(v)
			if err != nil {
				return parseErr(i, 6, "streams[%d].entries[%d].structuredMetadata: %v", i, j, err)
			}
			if md == nil {
				md = map[string]string{}
			}
			md[name] = value
		}
		return nil
	})
	if err != nil {
		return Record{}, inPush(err, i, fmt.Sprintf("streams[%d].entries[%d]", i, j))
	}
	if len(md) > 0 {
		rec.Extra = md
		rec.Meta = metaText(md)
	}
	return rec, nil
}

// protoTimestamp reads a google.protobuf.Timestamp. Loki stores nanoseconds
// since 1970 in an int64, so earlier times, and nanos outside [0, 1e9), are
// refused.
func protoTimestamp(b []byte) (time.Time, error) {
	var sec, nanos int64
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if typ != protowire.VarintType {
			return fmt.Errorf("field %d has the wrong wire type", num)
		}
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num == 1 {
			sec = int64(x)
		} else {
			nanos = int64(int32(x))
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if sec < 0 || nanos < 0 || nanos >= 1e9 || sec >= (1<<63-1)/1_000_000_000 {
		return time.Time{}, fmt.Errorf("out of range: seconds %d, nanos %d", sec, nanos)
	}
	return time.Unix(sec, nanos), nil
}

// protoLabelPair reads a LabelPairAdapter {name = 1; value = 2}.
func protoLabelPair(b []byte) (name, value string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 && num != 2 {
			return nil
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d has the wrong wire type", num)
		}
		if num == 1 {
			name = string(v)
		} else {
			value = string(v)
		}
		return nil
	})
	return name, value, err
}

// eachField calls fn for every varint and length-delimited field of the
// message b, in wire order: v holds a varint's encoding or a field's
// content. Other wire types are skipped. A malformed message is an error
// that does not say where (the caller does); fn's errors pass through.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("malformed message: %w", protowire.ParseError(m))
		}
		v := b[:m]
		b = b[m:]
		switch typ {
		case protowire.BytesType:
			v, _ = protowire.ConsumeBytes(v)
		case protowire.VarintType:
		default:
			continue
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// inPush makes err a ParseError for stream i (-1: none) that says where it
// was found; a ParseError from deeper down already does.
func inPush(err error, i int, where string) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return parseErr(i, 6, "%s: %v", where, err)
}

// parseLabelSet reads a Prometheus label set in text form: {name="value", …}
// with Go-quoted values, as Loki's clients write a stream's labels. Errors
// give the 1-based byte offset in s, never a name or a value (either may
// hold a secret).
func parseLabelSet(s string) (map[string]string, error) {
	open, end := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
	if open < 0 || end < open || strings.TrimSpace(s[:open]) != "" || strings.TrimSpace(s[end+1:]) != "" {
		return nil, errors.New(`want {name="value", …}`)
	}
	body, pos := s[:end], open+1
	at := func(what string) error { return fmt.Errorf("%s is expected at byte %d", what, pos+1) }
	out := map[string]string{}
	skip := func() {
		for pos < len(body) && (body[pos] == ' ' || body[pos] == '\t') {
			pos++
		}
	}
	for {
		skip()
		if pos == len(body) {
			return out, nil
		}
		start := pos
		for pos < len(body) && isLabelChar(body[pos], pos == start) {
			pos++
		}
		if pos == start {
			return nil, at("a label name")
		}
		name := body[start:pos]
		skip()
		if pos == len(body) || body[pos] != '=' {
			return nil, at("'='")
		}
		pos++
		skip()
		q, err := strconv.QuotedPrefix(body[pos:])
		if err != nil || q[0] != '"' {
			return nil, at("a double-quoted value")
		}
		value, err := strconv.Unquote(q)
		if err != nil {
			return nil, at("a double-quoted value")
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("the label at byte %d appears twice", start+1)
		}
		out[name] = value
		pos += len(q)
		skip()
		if pos < len(body) {
			if body[pos] != ',' {
				return nil, at("',' or '}'")
			}
			pos++
		}
	}
}

func isLabelChar(c byte, first bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}
