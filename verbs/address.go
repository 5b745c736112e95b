package verbs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
)

// CheckAddress validates a peer's fabric address blob for a provider
// before any of it reaches libfabric: an address comes from another
// process, and libfabric trusts what it is given (a malformed shm name
// crashed the shm provider inside its RMA call).
func CheckAddress(provider string, addr []byte) error {
	if len(addr) == 0 || len(addr) > maxAddrLen {
		return fmt.Errorf("verbs: %s address of %d bytes (want 1..%d): %w", provider, len(addr), maxAddrLen, ErrBadAddress)
	}
	switch provider {
	case "shm":
		_, _, err := ParseShmAddress(addr)
		return err
	case "tcp;ofi_rxm", "verbs;ofi_rxm", "sockets", "psm3":
		return checkSockaddr(provider, addr)
	}
	return nil // other providers' formats are opaque here; libfabric validates them
}

// maxAddrLen is the largest address blob accepted (FERRY_ADDRLEN in C).
const maxAddrLen = 256

const (
	afInet  = 2
	afInet6 = 10
)

func checkSockaddr(provider string, addr []byte) error {
	if len(addr) < 2 {
		return fmt.Errorf("verbs: %s address of %d bytes: %w", provider, len(addr), ErrBadAddress)
	}
	switch fam := binary.NativeEndian.Uint16(addr); fam {
	case afInet:
		if len(addr) != 16 {
			return fmt.Errorf("verbs: %s IPv4 address of %d bytes (want 16): %w", provider, len(addr), ErrBadAddress)
		}
	case afInet6:
		if len(addr) != 28 {
			return fmt.Errorf("verbs: %s IPv6 address of %d bytes (want 28): %w", provider, len(addr), ErrBadAddress)
		}
	default:
		return fmt.Errorf("verbs: %s address of family %d: %w", provider, fam, ErrBadAddress)
	}
	return nil
}

// AddressIP is the IP address inside an IP provider's fabric address (a
// sockaddr_in or sockaddr_in6), which a server compares with where the
// client's connection comes from. Other providers' addresses have none.
func AddressIP(provider string, addr []byte) (net.IP, error) {
	switch provider {
	case "tcp;ofi_rxm", "verbs;ofi_rxm", "sockets", "psm3":
	default:
		return nil, fmt.Errorf("verbs: %s addresses carry no IP address: %w", provider, ErrBadAddress)
	}
	if err := checkSockaddr(provider, addr); err != nil {
		return nil, err
	}
	if binary.NativeEndian.Uint16(addr) == afInet {
		return net.IP(append([]byte(nil), addr[4:8]...)), nil
	}
	return net.IP(append([]byte(nil), addr[8:24]...)), nil
}

// AddressString renders a fabric address for people: "10.0.0.1:7100" for
// the socket-addressed providers (so an operator can check it against a
// firewall), else the provider's bytes in hex.
func AddressString(provider string, addr []byte) string {
	if ip, err := AddressIP(provider, addr); err == nil {
		return net.JoinHostPort(ip.String(), strconv.Itoa(int(binary.BigEndian.Uint16(addr[2:4]))))
	}
	if provider == "shm" {
		return string(bytes.TrimRight(addr, "\x00"))
	}
	return hex.EncodeToString(addr)
}
