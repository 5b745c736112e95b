package verbs

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
)

func sockaddr4() []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, afInet)
	b[2], b[3] = 0x1f, 0x90
	copy(b[4:], []byte{127, 0, 0, 1})
	return b
}

func TestCheckAddress(t *testing.T) {
	good := []struct {
		prov string
		addr []byte
	}{
		{"shm", []byte("fi_shm://1234:0:0\x00")},
		{"shm", []byte("fi_shm://99:1000:7")},
		{"tcp;ofi_rxm", sockaddr4()},
		{"tcp;ofi_rxm", append([]byte{afInet6, 0}, make([]byte, 26)...)},
	}
	for _, g := range good {
		if err := CheckAddress(g.prov, g.addr); err != nil {
			t.Errorf("%s %q: %v", g.prov, g.addr, err)
		}
	}
	bad := []struct {
		prov string
		addr []byte
	}{
		{"shm", nil},
		{"shm", []byte("fi_shm://")},
		{"shm", []byte("fi_shm://1:2")},
		{"shm", []byte("fi_shm://0:0:0")},
		{"shm", []byte("fi_shm://1:2:3:4")},
		{"shm", []byte("fi_shm://1:x:3")},
		{"shm", []byte("fi_shm://1:2:3\x00junk")},
		{"shm", []byte("/dev/shm/1:2:3")},
		{"shm", []byte("fi_shm://99999999999:0:0")},
		{"shm", make([]byte, 300)},
		{"tcp;ofi_rxm", []byte{2}},
		{"tcp;ofi_rxm", sockaddr4()[:15]},
		{"tcp;ofi_rxm", append(sockaddr4(), 0)},
		{"tcp;ofi_rxm", append([]byte{1, 0}, make([]byte, 14)...)},
	}
	for _, b := range bad {
		if err := CheckAddress(b.prov, b.addr); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%s %q: got %v, want ErrBadAddress", b.prov, b.addr, err)
		}
	}
	pid, uid, err := ParseShmAddress([]byte("fi_shm://4321:1000:2\x00"))
	if err != nil || pid != 4321 || uid != 1000 {
		t.Errorf("ParseShmAddress: pid %d uid %d err %v", pid, uid, err)
	}
}

func FuzzCheckAddress(f *testing.F) {
	f.Add("shm", []byte("fi_shm://1234:0:0\x00"))
	f.Add("tcp;ofi_rxm", sockaddr4())
	f.Add("shm", []byte("fi_shm://1:2:3:4"))
	f.Fuzz(func(t *testing.T, prov string, addr []byte) {
		err := CheckAddress(prov, addr)
		if err != nil && !errors.Is(err, ErrBadAddress) {
			t.Fatalf("error without ErrBadAddress: %v", err)
		}
		if err == nil && (len(addr) == 0 || len(addr) > maxAddrLen) {
			t.Fatalf("accepted %d-byte address", len(addr))
		}
		if err == nil && prov == "shm" {
			if pid, _, perr := ParseShmAddress(addr); perr != nil || pid <= 0 {
				t.Fatalf("accepted shm address %q that does not parse: %v", addr, perr)
			}
		}
	})
}

func TestAddressIP(t *testing.T) {
	ip, err := AddressIP("tcp;ofi_rxm", sockaddr4())
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("IPv4: %v %v", ip, err)
	}
	six := append([]byte{afInet6, 0}, make([]byte, 26)...)
	six[23] = 1 // ::1
	if ip, err := AddressIP("tcp;ofi_rxm", six); err != nil || !ip.Equal(net.IPv6loopback) {
		t.Fatalf("IPv6: %v %v", ip, err)
	}
	if _, err := AddressIP("shm", []byte("fi_shm://1:0:0")); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("shm: %v", err)
	}
}

func FuzzAddressIP(f *testing.F) {
	f.Add("tcp;ofi_rxm", sockaddr4())
	f.Add("tcp;ofi_rxm", append([]byte{afInet6, 0}, make([]byte, 26)...))
	f.Fuzz(func(t *testing.T, prov string, addr []byte) {
		ip, err := AddressIP(prov, addr)
		if err != nil && !errors.Is(err, ErrBadAddress) {
			t.Fatalf("error without ErrBadAddress: %v", err)
		}
		if err == nil && len(ip) != 4 && len(ip) != 16 {
			t.Fatalf("IP of %d bytes", len(ip))
		}
	})
}

func FuzzParseShmAddress(f *testing.F) {
	f.Add([]byte("fi_shm://1234:0:0\x00"))
	f.Fuzz(func(t *testing.T, addr []byte) {
		pid, uid, err := ParseShmAddress(addr)
		if err == nil && (pid <= 0 || uid < 0 || CheckAddress("shm", addr) != nil && len(addr) <= maxAddrLen) {
			t.Fatalf("%q: pid %d uid %d accepted", addr, pid, uid)
		}
	})
}
