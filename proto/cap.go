package proto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Capabilities: the metadata server checks permissions when a client looks
// a file up, creates or removes it, and hands back a Cap that says what the
// client may do with the file's handle. Data servers check the Cap's MAC
// with the file system key and serve without asking the metadata server, so
// a handle alone grants nothing.

// Rights are what a capability allows on a file's datafiles.
type Rights uint8

const (
	RightRead   Rights = 1 << 0 // read the datafiles
	RightWrite  Rights = 1 << 1 // write, truncate (and so create) the datafiles
	RightOwner  Rights = 1 << 2 // set the datafiles' mtime
	RightRemove Rights = 1 << 3 // delete the datafiles: issued by unlink and rename only

	rightsAll = RightRead | RightWrite | RightOwner | RightRemove
)

// CapLifetime is how long a capability is valid after it is issued.
// Clients renew a capability when less than half of it is left.
const CapLifetime = 10 * time.Minute

// CapMACSize is the bytes of a capability's MAC (HMAC-SHA256).
const CapMACSize = sha256.Size

// Cap is a capability: the holder (UID) may do Rights on one file's
// datafiles until Expiry. It travels beside the file's handle; the MAC
// covers the handle, so a Cap is worth nothing for another file. The zero
// Cap (no MAC) grants nothing.
type Cap struct {
	UID    uint32
	Rights Rights
	Expiry int64 // ns since the epoch, by the metadata server's clock
	MAC    [CapMACSize]byte
}

// capBytes is a Cap's wire size.
const capBytes = 4 + 1 + 8 + CapMACSize

func (c *Cap) encode(e *Encoder) {
	e.u32(c.UID)
	e.u8(uint8(c.Rights))
	e.i64(c.Expiry)
	e.b = append(e.b, c.MAC[:]...)
}

func (c *Cap) decode(d *Decoder) {
	c.UID = d.u32("capability uid")
	c.Rights = Rights(d.u8("capability rights"))
	c.Expiry = d.i64("capability expiry")
	if !d.need(CapMACSize, "capability MAC") {
		return
	}
	copy(c.MAC[:], d.b)
	d.b = d.b[CapMACSize:]
	if c.Rights&^rightsAll != 0 {
		d.fail("unknown capability rights %#x", uint8(c.Rights&^rightsAll))
	}
}

// CapMAC is the MAC of a capability for handle: HMAC-SHA256 under key of
// a fixed label, the handle and the Cap's other fields. The label keeps
// these MACs apart from anything else the same key signs.
func CapMAC(key []byte, handle string, c *Cap) [CapMACSize]byte {
	m := hmac.New(sha256.New, key)
	var b []byte
	b = append(b, "ferry capability v1\x00"...)
	b = append(b, handle...)
	b = binary.LittleEndian.AppendUint32(b, c.UID)
	b = append(b, uint8(c.Rights))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Expiry))
	m.Write(b)
	var out [CapMACSize]byte
	copy(out[:], m.Sum(nil))
	return out
}

// OpenResp answers a lookup, a create or an unlink: the entry's attributes
// and, for a file, a capability for its handle with the rights the caller
// has (for unlink: RightRemove).
type OpenResp struct {
	Attr Attr
	Cap  Cap
}

func (m *OpenResp) encode(e *Encoder) { m.Attr.encode(e); m.Cap.encode(e) }
func (m *OpenResp) decode(d *Decoder) { m.Attr.decode(d); m.Cap.decode(d) }

// RenewReq asks the metadata server for a fresh capability for a file it
// still holds, in exchange for an unexpired one (OpRenew; reply Cap).
type RenewReq struct {
	Handle string
	Cap    Cap
}

func (m *RenewReq) encode(e *Encoder) { e.str(m.Handle); m.Cap.encode(e) }
func (m *RenewReq) decode(d *Decoder) { m.Handle = decodeHandle(d); m.Cap.decode(d) }
