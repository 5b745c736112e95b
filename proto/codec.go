package proto

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encoder appends wire values.
type Encoder struct{ b []byte }

func (e *Encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *Encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *Encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *Encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *Encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *Encoder) bytes(v []byte) { e.u32(uint32(len(v))); e.b = append(e.b, v...) }
func (e *Encoder) str(v string)   { e.u32(uint32(len(v))); e.b = append(e.b, v...) }

// Decoder reads wire values; the first error sticks and later reads return
// zero values, so message decoders check once at the end.
type Decoder struct {
	b   []byte
	err error
}

// MaxString bounds every string and byte field.
const MaxString = 64 << 10

// MaxList bounds every list field.
const MaxList = 1 << 16

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// failErr records err as malformed input, keeping an errno it wraps, so
// the reply says EINVAL rather than EBADMSG for a well-formed frame that
// carries an invalid value.
func (d *Decoder) failErr(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

func (d *Decoder) need(n int, what string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.fail("%s: need %d bytes, have %d", what, n, len(d.b))
		return false
	}
	return true
}

func (d *Decoder) u8(what string) uint8 {
	if !d.need(1, what) {
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *Decoder) u32(what string) uint32 {
	if !d.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *Decoder) u64(what string) uint64 {
	if !d.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *Decoder) i64(what string) int64 { return int64(d.u64(what)) }

// nonneg reads an int64 that must be >= 0.
func (d *Decoder) nonneg(what string) int64 {
	v := d.i64(what)
	if v < 0 {
		d.fail("%s is negative (%d)", what, v)
		return 0
	}
	return v
}

func (d *Decoder) int32(what string, lo, hi int) int {
	v := d.u32(what)
	if uint64(v) > math.MaxInt32 || int(v) < lo || int(v) > hi {
		d.fail("%s = %d outside [%d, %d]", what, v, lo, hi)
		return 0
	}
	return int(v)
}

func (d *Decoder) bool(what string) bool {
	switch d.u8(what) {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("%s is not a boolean", what)
		return false
	}
}

func (d *Decoder) bytes(what string) []byte {
	n := d.u32(what)
	if d.err != nil {
		return nil
	}
	if n > MaxString {
		d.fail("%s of %d bytes exceeds %d", what, n, MaxString)
		return nil
	}
	if !d.need(int(n), what) {
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *Decoder) str(what string) string { return string(d.bytes(what)) }

func (d *Decoder) list(what string, elemMin int) int {
	n := d.u32(what)
	if d.err != nil {
		return 0
	}
	if n > MaxList {
		d.fail("%s has %d elements, max %d", what, n, MaxList)
		return 0
	}
	if uint64(n)*uint64(elemMin) > uint64(len(d.b)) {
		d.fail("%s claims %d elements but only %d bytes follow", what, n, len(d.b))
		return 0
	}
	return int(n)
}

// Message is every body that travels in a control frame.
type Message interface {
	encode(*Encoder)
	decode(*Decoder)
}

// Marshal returns m's wire form.
func Marshal(m Message) []byte {
	var e Encoder
	m.encode(&e)
	return e.b
}

// Unmarshal decodes b into m; trailing bytes are an error.
func Unmarshal(b []byte, m Message) error {
	d := Decoder{b: b}
	m.decode(&d)
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("decode %T: %w", m, d.err)
	}
	return nil
}

// UnmarshalPrefix decodes m from the front of b and returns the rest: used
// for data frames whose control part is followed by file bytes.
func UnmarshalPrefix(b []byte, m Message) ([]byte, error) {
	d := Decoder{b: b}
	m.decode(&d)
	if d.err != nil {
		return nil, fmt.Errorf("decode %T: %w", m, d.err)
	}
	return d.b, nil
}
