//go:build cgo

package verbs

import (
	"syscall"
	"testing"
	"time"
)

// TestIdleCPU: an idle endpoint's progress goroutine keeps polling (the
// target of RMA must progress) without burning a core.
func TestIdleCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, prov := range testProviders {
		t.Run(prov, func(t *testing.T) {
			openOrSkip(t, prov)
			time.Sleep(200 * time.Millisecond)
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			const d = time.Second
			time.Sleep(d)
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
			t.Logf("idle endpoint used %.1f%% of a core", 100*cpu.Seconds()/d.Seconds())
			if cpu > d/2 {
				t.Errorf("idle endpoint used %v CPU in %v", cpu, d)
			}
		})
	}
}
