package localcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

// Ports below the kernel's ephemeral range (32768-60999 by default): a
// server restarted on its old port must not find it taken by some other
// process's outgoing connection or by libfabric's tcp provider, which
// listens on ephemeral ports of its own.
const (
	portLo = 20000
	portHi = 32000
)

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports are free now.
func FreeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var addrs []string
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port in [%d, %d) after %d tries", portLo, portHi, tries)
		}
		port := portLo + rand.IntN(portHi-portLo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		lns = append(lns, ln) // held until all are chosen: no duplicates
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// FindProgram finds one of Ferry's programs (ferryd, ferry-plot) beside
// the executable self, then on PATH.
func FindProgram(self, name string) (string, error) {
	if self != "" {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found beside %s or on PATH (build it: make)", name, filepath.Base(self))
	}
	return p, nil
}
