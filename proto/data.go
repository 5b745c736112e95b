package proto

import (
	"encoding/binary"
	"fmt"
)

// Data frames (write requests, inline read replies) hold a control message
// and file bytes: u32 control length | control message | data.

// AppendDataPrefix appends the control part of a data frame to b.
func AppendDataPrefix(b []byte, m Message) []byte {
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
	b = AppendDataPrefix(b, m)
	binary.LittleEndian.PutUint32(b[at+16:], uint32(len(b)-at-HeaderSize+dataLen))
	return b
}

// ControlLen parses the 4-byte length that starts a data frame's body,
// checking it against the body length.
func ControlLen(b []byte, bodyLen uint32) (int, error) {
	if len(b) < 4 || bodyLen < 4 {
		return 0, fmt.Errorf("%w: data frame of %d bytes has no control length", ErrMalformed, bodyLen)
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxControlBody || n > bodyLen-4 {
		return 0, fmt.Errorf("%w: control part of %d bytes in a %d-byte body", ErrMalformed, n, bodyLen)
	}
	return int(n), nil
}
