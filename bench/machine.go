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

	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/verbs"
)

// Machine describes the machine a results set comes from, as read on that
// machine when the run starts (and, for the load, when it ends).
type Machine struct {
	Date       string
	Host       string
	CPU        string
	Cores      string // physical/logical as cpuid sees them, and how many this process may use
	NProc      int    // CPUs this process may use (nproc)
	CPULimit   string // cgroup CPU quota, when one is set
	Caches     string // L1d/L2/L3 sizes
	L3Bytes    int64
	Memory     string // total, and available at the start
	Kernel     string
	Virtual    string // whether a hypervisor is present
	Libfabric  string
	GoVersion  string
	LoadAvg    string // 1, 5, 15 minute load averages at the start
	LoadAvgEnd string // and at the end
}

// DescribeMachine gathers the machine description.
func DescribeMachine() Machine {
	m := Machine{
		Date:      time.Now().UTC().Format(time.RFC3339),
		CPU:       cpuid.CPU.BrandName,
		NProc:     runtime.NumCPU(),
		Caches:    fmt.Sprintf("L1d %s, L2 %s, L3 %s", cacheSize(cpuid.CPU.Cache.L1D), cacheSize(cpuid.CPU.Cache.L2), cacheSize(cpuid.CPU.Cache.L3)),
		L3Bytes:   int64(cpuid.CPU.Cache.L3),
		Libfabric: verbs.LibfabricVersion(),
		GoVersion: runtime.Version(),
		LoadAvg:   loadAvg(),
		CPULimit:  cgroupCPULimit(),
	}
	m.Cores = fmt.Sprintf("%d physical, %d logical (cpuid); %d usable (nproc)", cpuid.CPU.PhysicalCores, cpuid.CPU.LogicalCores, m.NProc)
	if cpuid.CPU.VM() {
		m.Virtual = "virtual machine (cpuid reports a hypervisor)"
	} else {
		m.Virtual = "no hypervisor reported (cpuid)"
	}
	m.Host, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = fmt.Sprintf("%s %s %s", unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]))
	}
	mem := meminfo()
	if t, ok := mem["MemTotal"]; ok {
		m.Memory = units.Bytes(t) + " total"
		if a, ok := mem["MemAvailable"]; ok {
			m.Memory += ", " + units.Bytes(a) + " available at the start"
		}
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	return m
}

func cacheSize(n int) string {
	if n <= 0 {
		return "?"
	}
	return units.Bytes(int64(n))
}

// meminfo reads /proc/meminfo in bytes.
func meminfo() map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.HasSuffix(strings.TrimSpace(rest), "kB") {
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err == nil {
				out[name] = kb << 10
			}
		}
	}
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cgroupCPULimit describes the cgroup v2 CPU quota of this process ("" when
// there is none): a container may have fewer CPUs' worth of time than
// nproc shows.
func cgroupCPULimit() string {
	b, err := os.ReadFile("/sys/fs/cgroup/cpu.max")
	if err != nil {
		return ""
	}
	var quota string
	var period float64
	if n, _ := fmt.Sscanf(string(b), "%s %g", &quota, &period); n != 2 || quota == "max" || period <= 0 {
		return ""
	}
	var q float64
	if _, err := fmt.Sscanf(quota, "%g", &q); err != nil {
		return ""
	}
	return fmt.Sprintf("%.2g CPUs (cgroup cpu.max)", q/period)
}

// Lines renders the description as "key: value" lines.
func (m Machine) Lines() [][2]string {
	l := [][2]string{
		{"date (UTC)", m.Date},
		{"host", m.Host},
		{"CPU", m.CPU},
		{"cores", m.Cores},
	}
	if m.CPULimit != "" {
		l = append(l, [2]string{"CPU quota", m.CPULimit})
	}
	l = append(l, [][2]string{
		{"caches", m.Caches},
		{"memory", m.Memory},
		{"kernel", m.Kernel},
		{"virtualization", m.Virtual},
		{"libfabric", m.Libfabric},
		{"Go", m.GoVersion},
		{"load average (1, 5, 15 min) at start", m.LoadAvg},
	}...)
	if m.LoadAvgEnd != "" {
		l = append(l, [2]string{"load average at end", m.LoadAvgEnd})
	}
	return l
}

// Summary is one sentence about the machine for the report's notes.
func (m Machine) Summary() string {
	s := fmt.Sprintf("These figures come from %s: %s, %d usable CPUs", orUnknown(m.Host), m.CPU, m.NProc)
	if m.CPULimit != "" {
		s += " (quota " + m.CPULimit + ")"
	}
	if m.Memory != "" {
		s += ", " + m.Memory
	}
	s += ", " + m.Virtual
	if m.LoadAvg != "" {
		s += ", load average " + m.LoadAvg + " at the start"
		if m.LoadAvgEnd != "" {
			s += " and " + m.LoadAvgEnd + " at the end"
		}
	}
	return s + "."
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed host"
	}
	return s
}
