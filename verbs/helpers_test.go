//go:build cgo

package verbs

import (
	"errors"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"hash/crc32"
	"math/rand"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// testProviders are the providers the tests run on.
var testProviders = []string{"tcp;ofi_rxm", "shm"}

func openOrSkip(t testing.TB, prov string) *Endpoint {
	t.Helper()
	e, err := Open(Config{Provider: prov})
	if errors.Is(err, ErrNotSupported) {
		testenv.SkipOrFail(t, "provider %s: %v", prov, err)
	}
	if err != nil {
		t.Fatalf("open %s: %v", prov, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// mmapBuf maps n bytes of anonymous memory (memory that never moves).
func mmapBuf(t testing.TB, n int) []byte {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap %d: %v", n, err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return b
}

func reg(t testing.TB, e *Endpoint, b []byte, acc Access) *MemoryRegion {
	t.Helper()
	m, err := e.Register(unsafe.Pointer(&b[0]), len(b), acc)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fill writes a seeded pattern: a random block of 1 MiB + 7 bytes (so the
// period matches no power-of-two offset) repeated. Block copies keep it
// fast under -race.
func fill(b []byte, seed int64) {
	r := rand.New(rand.NewSource(seed))
	blk := make([]byte, 1<<20+7)
	if len(b) < len(blk) {
		blk = blk[:len(b)]
	}
	r.Read(blk)
	for i := 0; i < len(b); i += len(blk) {
		copy(b[i:], blk)
	}
}

func sum(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// shmFiles lists this process's libfabric shm files.
func shmFiles() []string {
	ents, _ := os.ReadDir("/dev/shm")
	pfx := strings.TrimSpace(itoa(os.Getpid())) + ":"
	var out []string
	for _, d := range ents {
		if strings.HasPrefix(d.Name(), pfx) {
			out = append(out, d.Name())
		}
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
