//go:build cgo

package regcache

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// A miss advises the whole huge pages inside its range for transparent
// huge pages and nothing outside them, keeps the bytes of pages already
// touched, and with SmallPages (or past maxAdvised ranges) advises none.
func TestHugePages(t *testing.T) {
	h := thpSize()
	if h == 0 {
		t.Skip("the kernel offers no transparent huge pages here")
	}
	for _, tc := range []struct {
		name   string
		opt    Options
		full   bool // the cache has advised maxAdvised ranges already
		advise bool
	}{
		{"default", Options{}, false, true},
		{"small-pages", Options{SmallPages: true}, false, false},
		{"past-the-bound", Options{}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCache(t, tc.opt, true)
			if tc.full {
				c.advised.Store(maxAdvised)
			}
			// 4 huge pages and a bit on each side, aligned so that the
			// range's interior is exactly huge pages 1 and 2.
			raw := mmapAnon(t, int(6*h))
			defer munmap(t, raw, int(6*h))
			base := (raw + h - 1) &^ (h - 1)
			start, end := base+h/2, base+3*h+h/2
			copy(mem(base+h+5*upg, 5), "hello") // a page already touched
			hd := acquire(t, c, start, int(end-start), rw)
			defer hd.Release()
			for _, at := range []struct {
				addr uintptr
				want bool
			}{
				{start, false}, {base + h, tc.advise}, {base + 2*h + h/2, tc.advise}, {base + 3*h, false}, {end - upg, false},
			} {
				flags, err := vmFlags(at.addr)
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.Contains(flags, "hg"); got != at.want {
					t.Errorf("%#x (range %#x-%#x): advised %v, want %v (VmFlags %v)", at.addr, start, end, got, at.want, flags)
				}
			}
			if got := string(mem(base+h+5*upg, 5)); got != "hello" {
				t.Errorf("touched page now holds %q, want %q", got, "hello")
			}
			if got := mem(base+2*h, 4096); slices.ContainsFunc(got, func(b byte) bool { return b != 0 }) {
				t.Errorf("an untouched page holds non-zero bytes")
			}
		})
	}
}

// vmFlags is the VmFlags line of the mapping holding addr, from
// /proc/self/smaps ("hg": advised MADV_HUGEPAGE).
func vmFlags(addr uintptr) ([]string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:")), nil
		}
	}
	return nil, fmt.Errorf("no mapping holds %#x (%v)", addr, sc.Err())
}

// A miss over a range large enough to be populated in pieces on several
// threads faults every page in, the last piece's too, and keeps the bytes
// of pages already touched.
func TestPopulateInPieces(t *testing.T) {
	c, _ := newCache(t, Options{SmallPages: true}, true)
	n := 3*populatePiece + 5*pg // pieces of unequal length, an odd tail
	base := mmapAnon(t, n+2*pg)
	defer munmap(t, base, n+2*pg)
	start := base + upg // not aligned to a piece
	marks := []uintptr{start, start + populatePiece + 7*upg, start + uintptr(n) - upg}
	for i, m := range marks {
		mem(m, 1)[0] = byte(i + 1)
	}
	h := acquire(t, c, start, n, rw)
	defer h.Release()
	vec := make([]byte, n/pg)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, start, uintptr(n), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore: %v", e)
	}
	if i := slices.IndexFunc(vec, func(b byte) bool { return b&1 == 0 }); i >= 0 {
		t.Errorf("page %d of %d not resident after the miss", i, len(vec))
	}
	for i, m := range marks {
		if got := mem(m, 1)[0]; got != byte(i+1) {
			t.Errorf("mark %d: %d, want %d", i, got, i+1)
		}
	}
}
