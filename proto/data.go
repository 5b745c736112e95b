package proto

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Data frames (write requests, inline read replies) hold a control message
// and file bytes: u32 control length | control message | data.

// appendDataPrefix appends the control part of a data frame to b.
func appendDataPrefix(b []byte, m Message) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	e := Encoder{b: b}
	m.encode(&e)
	binary.LittleEndian.PutUint32(e.b[at:], uint32(len(e.b)-at-4))
	return e.b
}

// AppendDataFrame appends a data frame's header and control part to b;
// dataLen bytes of file data must follow on the wire.
func AppendDataFrame(b []byte, h Header, m Message, dataLen int) []byte {
	at := len(b)
	b = AppendHeader(b, h)
	b = appendDataPrefix(b, m)
	binary.LittleEndian.PutUint32(b[at+16:], uint32(len(b)-at-HeaderSize+dataLen))
	return b
}

// ReadDataControl reads the control part of a data frame from r, the
// frame's body (h its header), and returns the control message's bytes
// (for Unmarshal) and the count of data bytes that follow them. After an
// error the stream is no longer in step with its frames; a control
// message that then fails to decode is the caller's to report, and the
// data can still be skipped.
func ReadDataControl(r io.Reader, h Header) (ctl []byte, data int64, err error) {
	var lenb [4]byte
	if _, err := io.ReadFull(r, lenb[:]); err != nil {
		return nil, 0, fmt.Errorf("%s data frame: %w", h.Op, err)
	}
	n, err := controlLen(lenb[:], h.BodyLen)
	if err != nil {
		return nil, 0, err
	}
	ctl = make([]byte, n)
	if _, err := io.ReadFull(r, ctl); err != nil {
		return nil, 0, fmt.Errorf("%s data frame: %w", h.Op, err)
	}
	return ctl, int64(h.BodyLen) - 4 - int64(n), nil
}

// controlLen parses the 4-byte length that starts a data frame's body,
// checking it against the body length.
func controlLen(b []byte, bodyLen uint32) (int, error) {
	if len(b) < 4 || bodyLen < 4 {
		return 0, fmt.Errorf("%w: data frame of %d bytes has no control length", ErrMalformed, bodyLen)
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxControlBody || n > bodyLen-4 {
		return 0, fmt.Errorf("%w: control part of %d bytes in a %d-byte body", ErrMalformed, n, bodyLen)
	}
	return int(n), nil
}

// A datafile descriptor that answers OpLocalFile travels (SCM_RIGHTS) on
// the connection's request socket, whose server-to-client direction
// carries nothing else, in a message of its own: the request's ID,
// LocalFileTagSize bytes, so that the client matches the descriptor to
// its request. The reply (on the reply socket) comes after it.
const LocalFileTagSize = 8

// AppendLocalFileTag appends the message for request id's descriptor.
func AppendLocalFileTag(b []byte, id uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, id)
}

// ParseLocalFileTag returns the request ID a descriptor message names.
func ParseLocalFileTag(b []byte) (uint64, error) {
	if len(b) != LocalFileTagSize {
		return 0, fmt.Errorf("%w: descriptor message of %d bytes, want %d", ErrMalformed, len(b), LocalFileTagSize)
	}
	return binary.LittleEndian.Uint64(b), nil
}
