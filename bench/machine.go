package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/verbs"
)

// Machine describes the machine a results set comes from.
type Machine struct {
	Date      string
	Host      string
	CPU       string
	Cores     string // physical/logical as cpuid sees them, and runtime.NumCPU
	Caches    string // L1d/L2/L3 sizes
	L3Bytes   int64
	Memory    string
	Kernel    string
	Libfabric string
	GoVersion string
	LoadAvg   string
}

// DescribeMachine gathers the machine description.
func DescribeMachine() Machine {
	m := Machine{
		Date:      time.Now().UTC().Format(time.RFC3339),
		CPU:       cpuid.CPU.BrandName,
		Cores:     fmt.Sprintf("%d physical, %d logical (cpuid); %d usable (runtime.NumCPU)", cpuid.CPU.PhysicalCores, cpuid.CPU.LogicalCores, runtime.NumCPU()),
		Caches:    fmt.Sprintf("L1d %s, L2 %s, L3 %s", kib(cpuid.CPU.Cache.L1D), kib(cpuid.CPU.Cache.L2), kib(cpuid.CPU.Cache.L3)),
		L3Bytes:   int64(cpuid.CPU.Cache.L3),
		Libfabric: verbs.LibfabricVersion(),
		GoVersion: runtime.Version(),
	}
	m.Host, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = fmt.Sprintf("%s %s %s", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]))
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(sc.Text(), "MemTotal:")), "%d", &kb)
				m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	return m
}

func kib(n int) string {
	switch {
	case n <= 0:
		return "?"
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// Lines renders the description as "key: value" lines.
func (m Machine) Lines() [][2]string {
	return [][2]string{
		{"date (UTC)", m.Date},
		{"host", m.Host},
		{"CPU", m.CPU},
		{"cores", m.Cores},
		{"caches", m.Caches},
		{"memory", m.Memory},
		{"kernel", m.Kernel},
		{"libfabric", m.Libfabric},
		{"Go", m.GoVersion},
		{"load average at start", m.LoadAvg},
	}
}
