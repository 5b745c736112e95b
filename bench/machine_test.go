package bench

import (
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// DescribeMachine reads the machine it runs on.
func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine()
	if m.NProc != runtime.NumCPU() || !strings.Contains(m.Cores, "usable (nproc)") {
		t.Errorf("nproc: %d, cores %q; runtime.NumCPU %d", m.NProc, m.Cores, runtime.NumCPU())
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Kernel, unix.ByteSliceToString(u.Release[:])) {
		t.Errorf("kernel %q lacks release %q", m.Kernel, unix.ByteSliceToString(u.Release[:]))
	}
	if !strings.Contains(m.Memory, "iB total") || len(strings.Fields(m.LoadAvg)) != 3 || m.Virtual == "" {
		t.Errorf("memory %q, load %q, virtual %q", m.Memory, m.LoadAvg, m.Virtual)
	}
	if s := m.Summary(); !strings.Contains(s, m.CPU) || !strings.Contains(s, m.LoadAvg) {
		t.Errorf("summary %q", s)
	}
}
