// Package lokitest builds Loki protobuf pushes (logproto.PushRequest,
// snappy-compressed) for tests of the Loki sink.
package lokitest

import (
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Entry is one log line of a stream.
type Entry struct {
	Sec, Nanos int64
	Line       string
	Metadata   [][2]string
}

// Stream is a label set in Prometheus text form ({app="api"}) and its entries.
type Stream struct {
	Labels  string
	Entries []Entry
}

// Encode encodes streams as a logproto.PushRequest, not compressed.
func Encode(streams ...Stream) []byte {
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	var req []byte
	for _, s := range streams {
		sb := field(nil, 1, []byte(s.Labels))
		for _, e := range s.Entries {
			ts := varint(varint(nil, 1, uint64(e.Sec)), 2, uint64(e.Nanos))
			eb := field(field(nil, 1, ts), 2, []byte(e.Line))
			for _, kv := range e.Metadata {
				eb = field(eb, 3, field(field(nil, 1, []byte(kv[0])), 2, []byte(kv[1])))
			}
			sb = field(sb, 2, eb)
		}
		sb = varint(sb, 3, 0x9e3779b97f4a7c15) // the stream hash, ignored
		req = field(req, 1, sb)
	}
	return req
}

// Push is Encode, snappy-compressed (block format) as Loki's clients send it.
func Push(streams ...Stream) []byte {
	return snappy.Encode(nil, Encode(streams...))
}
