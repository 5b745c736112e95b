// Package proto is Ferry's control protocol: framed binary messages on a
// TCP connection. A frame is a fixed 24-byte header followed by a body:
//
//	magic u32 | version u8 | flags u8 | opcode u16 | request id u64 | body length u32 | status i32
//
// All integers are little-endian. Requests carry an id chosen by the
// client; the reply carries the same id, so a connection can have many
// requests in flight. A reply with a non-zero status is an error: the
// status is an errno value and the body a message.
//
// Every decoder here checks lengths before it reads and returns an error
// wrapping ErrMalformed for truncated, oversize or inconsistent input; the
// fuzz targets in this package hold it to that.
package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	Magic      uint32 = 0x31595246 // "FRY1" on the wire
	Version    uint8  = 7          // 2: OpDirPlus, OpSizes, OpStatfs, OpSetMtime; SetAttrReq carries owner and atime; 3: hello credentials, OpChallenge, capabilities on data requests, OpRenew, IOReq carries the client's time budget; 4: OpDataList, OpFileList, OpKnown; 5: OpReplySocket; 6: FetchAddReq names a counter of the file and may drop it; 7: OpLocalFile, HelloResp.LocalReads
	HeaderSize        = 24

	// MaxControlBody caps the body of every frame that is not bulk data.
	MaxControlBody = 1 << 20
	// MaxDataBody caps a frame that carries file bytes (write requests and
	// read replies on the sockets path).
	MaxDataBody = 64 << 20
)

// Flags in the header.
const (
	FlagReply uint8 = 1 << 0
)

// ErrMalformed is wrapped by every error about bytes that are not a valid
// frame or message.
var ErrMalformed = errors.New("malformed message")

// ErrVersion is returned for a frame of another protocol version.
var ErrVersion = errors.New("protocol version mismatch")

// VersionError is the error for a frame of another protocol version; it
// names both versions and matches ErrVersion.
type VersionError struct{ Peer uint8 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("%v: peer speaks protocol version %d, this build speaks %d", ErrVersion, e.Peer, Version)
}

// Is makes errors.Is(err, ErrVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrVersion }

// Header is the fixed part of every frame.
type Header struct {
	Flags   uint8
	Op      Op
	ID      uint64
	BodyLen uint32
	Status  int32 // errno on replies; 0 is success
}

// IsReply reports whether the frame is a reply.
func (h Header) IsReply() bool { return h.Flags&FlagReply != 0 }

// MaxBody is the largest body this header's opcode may carry.
func (h Header) MaxBody() uint32 {
	if h.Op.CarriesData() {
		return MaxDataBody
	}
	return MaxControlBody
}

// AppendHeader appends h's wire form to b.
func AppendHeader(b []byte, h Header) []byte {
	b = binary.LittleEndian.AppendUint32(b, Magic)
	b = append(b, Version, h.Flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.Op))
	b = binary.LittleEndian.AppendUint64(b, h.ID)
	b = binary.LittleEndian.AppendUint32(b, h.BodyLen)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Status))
	return b
}

// ParseHeader decodes and checks a header: magic, version, a known opcode
// and a body length under the opcode's cap.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header is %d bytes, want %d", ErrMalformed, len(b), HeaderSize)
	}
	if m := binary.LittleEndian.Uint32(b); m != Magic {
		return Header{}, fmt.Errorf("%w: bad magic %#08x (not a Ferry peer?)", ErrMalformed, m)
	}
	if v := b[4]; v != Version {
		return Header{}, &VersionError{Peer: v}
	}
	h := Header{
		Flags:   b[5],
		Op:      Op(binary.LittleEndian.Uint16(b[6:])),
		ID:      binary.LittleEndian.Uint64(b[8:]),
		BodyLen: binary.LittleEndian.Uint32(b[16:]),
		Status:  int32(binary.LittleEndian.Uint32(b[20:])),
	}
	if h.Flags&^FlagReply != 0 {
		return Header{}, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, h.Flags)
	}
	if !h.Op.Valid() {
		return Header{}, fmt.Errorf("%w: unknown opcode %d", ErrMalformed, h.Op)
	}
	if h.BodyLen > h.MaxBody() {
		return Header{}, fmt.Errorf("%w: %s body of %d bytes exceeds the %d-byte cap", ErrTooLarge, h.Op, h.BodyLen, h.MaxBody())
	}
	if h.Status != 0 && !h.IsReply() {
		return Header{}, fmt.Errorf("%w: request with status %d", ErrMalformed, h.Status)
	}
	return h, nil
}

// ErrTooLarge is returned for a frame over its size cap.
var ErrTooLarge = fmt.Errorf("%w: frame too large", ErrMalformed)

// ReadHeader reads and checks one header from r.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	return ParseHeader(b[:])
}

// ReadBody reads a header's whole body; use it for control frames only.
func ReadBody(r io.Reader, h Header) ([]byte, error) {
	body := make([]byte, h.BodyLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read %s body (%d bytes): %w", h.Op, h.BodyLen, err)
	}
	return body, nil
}

// Frame encodes a whole control frame: header plus the encoded message.
func Frame(h Header, m Message) []byte {
	// Room for most messages in one allocation (a read request with its
	// capability takes some 150 bytes).
	b := AppendHeader(make([]byte, 0, HeaderSize+232), h)
	e := Encoder{b: b}
	if m != nil {
		m.encode(&e)
	}
	b = e.b
	body := len(b) - HeaderSize
	binary.LittleEndian.PutUint32(b[16:], uint32(body))
	return b
}
