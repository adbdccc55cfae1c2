package detect

import (
	"bytes"
	"context"
	"errors"
	"io"
)

// ctxBytes is how much text ScanReader keeps on each side of the point up to which it
// reports findings: enough for the longest key and for the AWS pairing window, so that
// whatever a finding depends on is in the buffer when it is reported.
const ctxBytes = awsBytes + maxKeyLen + 64

// ScanReader scans r in blocks of a bounded size (WithBlockSize, default 1 MiB), with
// Line, Column, Start and End relative to the whole stream, and calls fn for each
// finding in order of Start with the bytes of the secret, valid only during the call.
// It finds exactly what Scan finds on the whole stream: each block carries the context
// a finding near its edges needs (the rest of the line, the AWS pairing window), and a
// finding is reported once, by the block in which its start is safe to decide.
//
// It stops at the first error from r (other than io.EOF) or from fn, or when ctx is
// done, and returns that error.
func (s *Scanner) ScanReader(ctx context.Context, r io.Reader, fn func(f Finding, raw []byte) error) error {
	bs := s.opts.blockSize
	if bs <= 0 {
		bs = 1 << 20
	}
	buf := make([]byte, 0, bs+2*ctxBytes)
	var (
		base     int // stream offset of buf[0]
		baseLine = 1 // line number of buf[0]
		baseCol  int // bytes between the start of that line and buf[0]
		reported int // stream offset up to which findings have been reported
		eof      bool
		hits     []hit
	)
	for !eof {
		if err := ctx.Err(); err != nil {
			return err
		}
		if cap(buf)-len(buf) < bs {
			nb := make([]byte, len(buf), len(buf)+bs+2*ctxBytes)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf) : len(buf)+bs])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			eof = true
		case err != nil:
			return err
		case n == 0:
			continue
		}
		limit := len(buf)
		if !eof {
			limit = safeLimit(buf)
		}
		if limit <= reported-base {
			continue // not enough context yet: read more
		}
		hits = s.find(buf, hits[:0])
		if len(hits) > 0 {
			hits = finalize(buf, hits)
		}
		for i := range hits {
			h := &hits[i]
			if h.start < reported-base || h.start >= limit {
				continue
			}
			f := s.finding(buf, h)
			if f.Line == 1 {
				f.Column += baseCol
			}
			f.Line += baseLine - 1
			f.Start += base
			f.End += base
			if err := fn(f, buf[h.start:h.end]); err != nil {
				return err
			}
		}
		reported = base + limit
		if eof {
			break
		}
		cs := carryStart(buf, limit)
		head := buf[:cs]
		if k := bytes.Count(head, newline[:]); k > 0 {
			baseLine += k
			baseCol = cs - (bytes.LastIndexByte(head, '\n') + 1)
		} else {
			baseCol += cs
		}
		base += cs
		buf = buf[:copy(buf, buf[cs:])]
	}
	return nil
}

// safeLimit returns the offset in buf (not at end of stream) before which a finding can
// be decided: either awsLines complete lines follow it, or ctxBytes bytes do, whichever
// allows more progress. Each suffices on its own: every matcher's right-hand context is
// bounded both by its line and by ctxBytes.
func safeLimit(buf []byte) int {
	byBytes := len(buf) - ctxBytes
	byLines := -1
	p := len(buf)
	for n := 0; n <= awsLines; n++ {
		j := bytes.LastIndexByte(buf[:p], '\n')
		if j < 0 {
			p = -1
			break
		}
		p = j
	}
	if p >= 0 {
		byLines = p + 1
	}
	return max(byBytes, byLines, 0)
}

// carryStart returns where the next block starts: far enough back from limit to hold the
// left-hand context (awsLines lines, or ctxBytes bytes) of findings at or after limit.
func carryStart(buf []byte, limit int) int {
	return max(limit-ctxBytes, lineStartBack(buf, limit, awsLines, 0), 0)
}
