package proto

import (
	"reflect"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeader(nil, Header{Op: OpRead, ID: 1, BodyLen: 10}))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.BodyLen > h.MaxBody() || !h.Op.Valid() {
			t.Fatalf("accepted %+v", h)
		}
		if got, _ := ParseHeader(AppendHeader(nil, h)); got != h {
			t.Fatalf("re-encode: %+v != %+v", got, h)
		}
	})
}

// FuzzMessages decodes arbitrary bytes as every message type: errors are
// fine, panics are not, and whatever decodes re-encodes to the same bytes.
func FuzzMessages(f *testing.F) {
	msgs := sampleMessages()
	for i, m := range msgs {
		f.Add(uint8(i), Marshal(m))
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		typ := reflect.TypeOf(msgs[int(which)%len(msgs)]).Elem()
		m := reflect.New(typ).Interface().(Message)
		if err := Unmarshal(b, m); err != nil {
			return
		}
		m2 := reflect.New(typ).Interface().(Message)
		if err := Unmarshal(Marshal(m), m2); err != nil {
			t.Fatalf("%T: re-decode failed: %v", m, err)
		}
	})
}

func FuzzControlLen(f *testing.F) {
	f.Add([]byte{4, 0, 0, 0}, uint32(8))
	f.Fuzz(func(t *testing.T, b []byte, bodyLen uint32) {
		n, err := controlLen(b, bodyLen)
		if err == nil && (n < 0 || uint32(n) > bodyLen-4) {
			t.Fatalf("control length %d in body %d", n, bodyLen)
		}
	})
}

// FuzzCap decodes arbitrary bytes as a capability and checks that only a
// MAC made with the key verifies: a decoder that accepts a Cap must keep
// every field it read, so re-encoding gives the same bytes.
func FuzzCap(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	c := Cap{UID: 1, Rights: RightRead, Expiry: 99}
	c.MAC = CapMAC(key, testHandle, &c)
	f.Add(Marshal(&c))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Cap
		if err := Unmarshal(b, &got); err != nil {
			return
		}
		if string(Marshal(&got)) != string(b) {
			t.Fatalf("re-encode differs")
		}
		if got.Rights&^rightsAll != 0 {
			t.Fatalf("accepted unknown rights %#x", got.Rights)
		}
		if got != c && CapMAC(key, testHandle, &got) == got.MAC {
			t.Fatalf("forged capability %+v verifies", got)
		}
	})
}

// FuzzLocalFileTag: a descriptor message the client parses is exactly
// the tag of one request ID, or an error.
func FuzzLocalFileTag(f *testing.F) {
	f.Add(AppendLocalFileTag(nil, 7))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseLocalFileTag(b)
		if err != nil {
			if len(b) == LocalFileTagSize {
				t.Fatalf("refused a tag of the right size: %v", err)
			}
			return
		}
		if got := AppendLocalFileTag(nil, id); string(got) != string(b) {
			t.Fatalf("re-encode: %x != %x", got, b)
		}
	})
}
