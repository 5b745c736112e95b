//go:build cgo

package regcache

import (
	"github.com/ferry-hpc/ferry/internal/testenv"
	"os"
	"os/exec"
	"testing"

	"github.com/ferry-hpc/ferry/regcache/internal/ctest"
)

// TestBrkShrink: shrinking the program break must report the range. It runs
// in a child process (this test binary re-executed) so that no other thread
// uses malloc while the break moves under it.
func TestBrkShrink(t *testing.T) {
	if os.Getenv("REGCACHE_BRK_CHILD") == "1" {
		brkChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrkShrink$", "-test.v")
	cmd.Env = append(os.Environ(), "REGCACHE_BRK_CHILD=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

func brkChild(t *testing.T) {
	m, err := openMonitor(false)
	if err != nil {
		testenv.SkipOrFail(t, "no monitor: %v", err)
	}
	defer m.close()
	n := 64 * pg
	cur := ctest.Sbrk(0)
	start := (cur + upg - 1) &^ (upg - 1)
	ctest.Sbrk(int(start-cur) + n)
	b := mem(start, n)
	for i := range b {
		b[i] = 1
	}
	if err := m.watch(start, uintptr(n)); err != nil {
		t.Fatalf("watch brk heap: %v", err)
	}
	ctest.Sbrk(-n) // shrink: the kernel blocks here until the event is read
	var got [][2]uintptr
	m.take(true, func(a, e uintptr) { got = append(got, [2]uintptr{a, e}) })
	found := false
	for _, r := range got {
		if r[0] <= start && r[1] >= start+uintptr(n) {
			found = true
		}
	}
	if !found {
		t.Fatalf("brk shrink of [%#x, %#x) not reported; got %x", start, start+uintptr(n), got)
	}
	t.Logf("brk shrink reported: %x", got)
}
