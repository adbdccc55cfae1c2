package logsink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Framing of syslog over TCP (RFC 6587): octet counting ("MSG-LEN SP MSG",
// also RFC 5425's framing) or non-transparent framing (each message ends with
// LF; a CR before it is dropped). A connection's first byte decides: a
// non-zero digit means octet counting (a syslog message itself starts with
// '<').

// ErrFraming is a broken octet-counted frame; the stream cannot be
// resynchronised and the connection is closed.
var ErrFraming = errors.New("syslog: broken octet-counting frame")

const (
	// maxLenDigits bounds MSG-LEN (nine digits: under 1 GB).
	maxLenDigits = 9
	// chunkOverlap is how much of an oversized frame's chunk is repeated at
	// the start of the next chunk, so that a key straddling the cut is found
	// whole in one of them (the longest key is far shorter).
	chunkOverlap = 1 << 10
	// minFrame is the smallest frame limit a framer accepts.
	minFrame = 8 << 10
)

// framer reads syslog frames from a stream. A frame longer than max is
// returned in chunks of about max bytes, each starting with the last
// chunkOverlap bytes of the one before: every byte is scanned, nothing is
// buffered without bound.
type framer struct {
	r         *bufio.Reader
	max       int
	octet     bool
	decided   bool
	remaining int    // bytes of the current octet-counted frame still unread
	carry     []byte // overlap carried into the next chunk of an oversized frame
	// cont reports that the frame last returned continues an oversized
	// frame (it is not a message of its own).
	cont bool
}

func newFramer(r io.Reader, limit int) *framer {
	return &framer{r: bufio.NewReaderSize(r, 64<<10), max: max(limit, minFrame)}
}

// next returns the next frame (or chunk). The slice is the caller's. At the
// end of the stream it returns io.EOF; a broken octet-counted frame returns
// an error wrapping ErrFraming.
func (f *framer) next() ([]byte, error) {
	if !f.decided {
		b, err := f.r.Peek(1)
		if err != nil {
			return nil, err
		}
		f.octet = b[0] >= '1' && b[0] <= '9'
		f.decided = true
	}
	if f.octet {
		return f.nextOctet()
	}
	return f.nextLine()
}

func (f *framer) nextOctet() ([]byte, error) {
	if f.remaining == 0 {
		n, err := f.readLen()
		if err != nil {
			return nil, err
		}
		f.remaining = n
		f.carry = f.carry[:0]
	}
	f.cont = len(f.carry) > 0
	take := min(f.remaining, f.max-len(f.carry))
	out := make([]byte, len(f.carry)+take)
	copy(out, f.carry)
	if _, err := io.ReadFull(f.r, out[len(f.carry):]); err != nil {
		return nil, fmt.Errorf("%w: the stream ended inside a frame", ErrFraming)
	}
	f.remaining -= take
	f.carry = f.carry[:0]
	if f.remaining > 0 {
		f.carry = append(f.carry, out[len(out)-chunkOverlap:]...)
	}
	return out, nil
}

func (f *framer) readLen() (int, error) {
	n, digits := 0, 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && digits == 0 {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("%w: the stream ended inside MSG-LEN", ErrFraming)
		}
		switch {
		case c == ' ' && digits > 0:
			return n, nil
		case (c == '\n' || c == '\r') && digits == 0:
			continue // a trailer some senders add after a frame
		case c < '0' || c > '9' || (digits == 0 && c == '0') || digits == maxLenDigits:
			return 0, fmt.Errorf("%w: MSG-LEN must be a positive decimal followed by a space", ErrFraming)
		}
		n = n*10 + int(c-'0')
		digits++
	}
}

func (f *framer) nextLine() ([]byte, error) {
	f.cont = len(f.carry) > 0
	out := append([]byte(nil), f.carry...)
	fresh := false
	for {
		b, err := f.r.ReadSlice('\n')
		if len(b) > 0 {
			fresh = true
		}
		out = append(out, b...)
		switch {
		case err == nil:
			f.carry = f.carry[:0]
			out = bytes.TrimSuffix(out, []byte{'\n'})
			return bytes.TrimSuffix(out, []byte{'\r'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(out) >= f.max {
				f.carry = append(f.carry[:0], out[len(out)-chunkOverlap:]...)
				return out, nil
			}
		case errors.Is(err, io.EOF):
			f.carry = f.carry[:0]
			if !fresh {
				return nil, io.EOF
			}
			return bytes.TrimSuffix(out, []byte{'\r'}), nil
		default:
			return nil, err
		}
	}
}
