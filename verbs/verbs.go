package verbs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-hpc/ferry/internal/portrange"
)

// ErrNotSupported is wrapped by every error of a provider that cannot be
// opened on this machine. Callers fall back to sockets; tests skip.
var ErrNotSupported = errors.New("verbs: not supported")

// ErrClosed is wrapped by errors of operations on a closed endpoint or region.
var ErrClosed = errors.New("verbs: closed")

// ErrRange is wrapped by errors of operations whose ranges fall outside a
// registered window; such operations never reach the fabric.
var ErrRange = errors.New("verbs: range outside registered window")

// Access says how a registered region may be used.
type Access uint32

const (
	AccessLocal       Access = 1 << iota // local source/destination of this process's RMA (FI_READ|FI_WRITE)
	AccessRemoteRead                     // peers may fi_read from it (FI_REMOTE_READ)
	AccessRemoteWrite                    // peers may fi_write into it (FI_REMOTE_WRITE)
)

func (a Access) String() string {
	var p []string
	if a&AccessLocal != 0 {
		p = append(p, "local")
	}
	if a&AccessRemoteRead != 0 {
		p = append(p, "remote-read")
	}
	if a&AccessRemoteWrite != 0 {
		p = append(p, "remote-write")
	}
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, "|")
}

// Config selects a provider.
type Config struct {
	Provider  string // "auto", "tcp" (means tcp;ofi_rxm), "tcp;ofi_rxm", "shm", "verbs;ofi_rxm", "efa", "cxi", ...
	Interface string // address or interface name for networked providers; default "127.0.0.1"
	// Lanes is the number of endpoints opened on the one domain (default
	// 1, at most MaxLanes). Registrations belong to the domain, so every
	// lane can use them; each lane has its own address (LaneAddress). A
	// process that many peers target at once gives each peer its own
	// lane: shm serializes every RMA into one endpoint under that
	// endpoint's region lock, held for the whole copy. Providers whose
	// regions bind to one endpoint (FI_MR_ENDPOINT) get one lane.
	Lanes int
	// Ports, for networked providers that listen on a port (tcp), is the
	// range the endpoint binds in: the first free port of it is taken, so
	// a firewall can be planned. Zero: the provider picks any port. Every
	// lane binds the endpoint's address, so a port range goes with one lane.
	Ports PortRange
}

// PortRange is an inclusive range of ports; the zero value means any.
type PortRange = portrange.Range

// ParsePortRange reads "7100" or "7100-7115"; "" is the zero range.
func ParsePortRange(s string) (PortRange, error) {
	r, err := portrange.Parse(s)
	if err != nil {
		return PortRange{}, fmt.Errorf("verbs: %w", err)
	}
	return r, nil
}

// MaxLanes is the most lanes one endpoint opens.
const MaxLanes = 16

// DefaultInterface is used by networked providers when Config.Interface is empty.
const DefaultInterface = "127.0.0.1"

// The provider vocabulary: configs, flags, the client's environment and
// the wire name providers with these words, and this section is their one
// owner.

// ProviderNone asks for no fabric: clients and servers then move bytes on
// the control connection (the sockets strategy). "sockets" is its alias,
// as that is what such a client or server does; libfabric's own sockets
// provider is not offered.
const ProviderNone = "none"

// providers lists the accepted names; aliases map to canonical names.
var providers = []string{"auto", ProviderNone, "shm", "tcp", "tcp;ofi_rxm", "verbs", "verbs;ofi_rxm", "efa", "cxi", "psm3", "opx", "sockets"}

var aliases = map[string]string{
	"tcp":     "tcp;ofi_rxm",
	"verbs":   "verbs;ofi_rxm",
	"sockets": ProviderNone,
}

// autoOrder is the one preference order of providers: the host-local one
// (shm) first, then networked providers from the fastest fabric down to
// tcp, which runs everywhere. Open("auto"), the server's "auto" (shm plus
// the first networked provider that opens) and the client's choice among
// what servers offer (Prefer) all follow it.
var autoOrder = []string{"shm", "cxi", "efa", "verbs;ofi_rxm", "psm3", "opx", "tcp;ofi_rxm"}

// AutoOrder returns the preference order "auto" follows.
func AutoOrder() []string { return append([]string(nil), autoOrder...) }

// HostLocal reports whether a provider reaches only processes on this host.
func HostLocal(prov string) bool { return prov == "shm" }

// CanonicalProvider maps a provider name as configs and flags spell it to
// the name libfabric and the wire use: case and spaces ignored, aliases
// resolved, "" meaning "auto". An unknown name is an error that lists the
// accepted ones.
func CanonicalProvider(name string) (string, error) {
	name = strings.TrimSpace(strings.ToLower(name))
	if name == "" {
		name = "auto"
	}
	for _, p := range providers {
		if p == name {
			if a, ok := aliases[name]; ok {
				return a, nil
			}
			return name, nil
		}
	}
	return "", fmt.Errorf("verbs: unknown provider %q (valid: %s)", name, strings.Join(providers, ", "))
}

// Prefer returns the provider "auto" picks among offered (canonical names):
// a host-local one when the peers are on this host, else the first
// networked one in AutoOrder; "" when none of them will do.
func Prefer(offered []string, sameHost bool) string {
	for _, p := range autoOrder {
		if HostLocal(p) && !sameHost {
			continue
		}
		for _, o := range offered {
			if o == p {
				return p
			}
		}
	}
	return ""
}

// usesNode reports whether a provider is addressed by a network interface
// (and so gets node = the configured address with FI_SOURCE).
func usesNode(prov string) bool {
	for _, p := range strings.Split(prov, ";") {
		switch p {
		case "tcp", "verbs", "sockets", "udp", "psm3":
			return true
		}
	}
	return false
}

// initiatorCopies reports providers whose RMA is a copy made by the
// initiator inside the post call (shm with CMA).
func initiatorCopies(prov string) bool { return prov == "shm" }

// Info describes an open endpoint.
type Info struct {
	Provider         string
	Fabric           string
	Domain           string
	MRMode           []string
	DeliveryComplete bool     // a write's completion means the bytes are in the target's memory
	DeliveryMode     string   // how: "FI_DELIVERY_COMPLETE" or the provider's documented equivalent
	RemoteChecks     bool     // the provider checks keys and windows at the target (shm's CMA path does not)
	Version          string   // libfabric
	MaxMsgSize       uint64   // ep_attr->max_msg_size
	IOVLimit         int      // tx_attr->iov_limit
	KeySize          int      // domain_attr->mr_key_size
	Threading        string   // domain_attr->threading as granted
	WaitFD           bool     // the completion queue has a wait fd the idle owner blocks on
	TargetConnects   bool     // a peer's first RMA to this endpoint waits for it to progress (shm's connection request)
	Lanes            int      // endpoints opened on the domain (Config.Lanes)
	Stubbed          []string // libfabric dependencies stood in for (doc.go, "Loading libfabric")
}

func (i Info) String() string {
	return fmt.Sprintf("provider=%s fabric=%s domain=%s mr_mode=[%s] delivery=%q remote_checks=%v max_msg=%d iov_limit=%d threading=%s wait_fd=%v target_connects=%v lanes=%d libfabric=%s stand_ins=[%s]",
		i.Provider, i.Fabric, i.Domain, strings.Join(i.MRMode, ","), i.DeliveryMode, i.RemoteChecks, i.MaxMsgSize, i.IOVLimit, i.Threading, i.WaitFD, i.TargetConnects, i.Lanes, i.Version, strings.Join(i.Stubbed, ","))
}

// Peer identifies a connected peer: its fi_addr_t in the endpoint's
// address vector, and in the high bits a generation, so that a Peer
// disconnected never reaches whoever the provider later gives its index.
type Peer uint64

const (
	peerGenShift        = 40
	peerAddrMask uint64 = 1<<peerGenShift - 1
)

// index is the peer's fi_addr_t.
func (p Peer) index() uint64 { return uint64(p) & peerAddrMask }

// RemoteBuffer is what crosses the wire: a window of a peer's registered
// region. Addr is already in the provider's addressing (virtual address or
// offset), Key is the region's key and Len the window's length.
type RemoteBuffer struct{ Addr, Key, Len uint64 }

// Segment is one piece of a scatter/gather list: MR[Off, Off+Len).
type Segment struct {
	MR  *MemoryRegion
	Off uint64
	Len uint64
}

// OpError is the error of a failed fabric operation.
type OpError struct {
	Op        string // "write" or "read"
	Peer      Peer
	PeerAddr  string
	Provider  string
	Bytes     uint64
	Errno     int    // libfabric FI_* errno (positive)
	ProvErrno int    // provider-specific errno
	Msg       string // fi_strerror + provider message (fi_cq_strerror)
	Err       error  // wrapped cause, e.g. ErrClosed or a context error
}

func (e *OpError) Error() string {
	s := fmt.Sprintf("verbs: %s of %d bytes with peer %d (%s) on %s", e.Op, e.Bytes, e.Peer.index(), e.PeerAddr, e.Provider)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// addLen adds without overflow, reporting ok=false on overflow.
func addLen(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s >= a
}

// ErrBadAddress is wrapped by errors of fabric addresses that are not well
// formed for their provider.
var ErrBadAddress = errors.New("verbs: malformed fabric address")
