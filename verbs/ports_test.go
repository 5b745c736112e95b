package verbs

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
)

// sockaddrPort reads the port of an AF_INET/AF_INET6 address blob.
func sockaddrPort(addr []byte) int {
	if len(addr) < 4 {
		return -1
	}
	return int(binary.BigEndian.Uint16(addr[2:4]))
}

// freeRange finds n consecutive ports no one listens on now (the range
// is bound again by the endpoints right after, so a race is possible only
// with another process picking the same ports in between).
func freeRange(t *testing.T, n int) PortRange {
	t.Helper()
	for lo := 20000 + os.Getpid()%20000; lo < 60000; lo += n {
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return PortRange{Lo: lo, Hi: lo + n - 1}
		}
	}
	t.Fatal("no free port range")
	return PortRange{}
}

func TestPortRange(t *testing.T) {
	r := freeRange(t, 2)
	a, err := Open(Config{Provider: "tcp", Interface: "127.0.0.1", Ports: r})
	if errors.Is(err, ErrNotSupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got, want := AddressString(a.Provider(), a.Address()), "127.0.0.1:"+strconv.Itoa(r.Lo); got != want {
		t.Fatalf("AddressString %q, want %q", got, want)
	}
	if p := sockaddrPort(a.Address()); p != r.Lo {
		t.Fatalf("first endpoint bound port %d, want %d (range %s)", p, r.Lo, r)
	}
	b, err := Open(Config{Provider: "tcp", Interface: "127.0.0.1", Ports: r})
	if err != nil {
		t.Fatalf("second endpoint in %s: %v", r, err)
	}
	defer b.Close()
	if p := sockaddrPort(b.Address()); p != r.Hi {
		t.Fatalf("second endpoint bound port %d, want the next free one %d", p, r.Hi)
	}
	if c, err := Open(Config{Provider: "tcp", Interface: "127.0.0.1", Ports: r}); err == nil {
		c.Close()
		t.Fatalf("a third endpoint opened in the full range %s", r)
	} else {
		t.Logf("full range: %v", err)
	}
}
