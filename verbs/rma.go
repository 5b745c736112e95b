package verbs

// Kind says which way an RMA moves bytes.
type Kind uint8

const (
	// Write copies local memory into the peer's window (fi_write).
	Write Kind = iota + 1
	// Read copies the peer's window into local memory (fi_read).
	Read
)

func (k Kind) String() string {
	switch k {
	case Write:
		return "write"
	case Read:
		return "read"
	}
	return "rma?"
}

// RMA is one one-sided transfer between local registered memory and a
// peer's registered window.
type RMA struct {
	Kind   Kind
	Peer   Peer
	Local  []Segment    // local memory, gathered (Write) or scattered (Read) in order
	Remote RemoteBuffer // the peer's window
	Off    uint64       // where in Remote the transfer starts
}

// One is the common case of RMA.Local: a single segment.
func One(mr *MemoryRegion, off, n uint64) []Segment {
	return []Segment{{MR: mr, Off: off, Len: n}}
}
