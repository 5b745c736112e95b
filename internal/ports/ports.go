// Package ports holds what starting local servers needs: free TCP ports
// for them and the ferryd program.
package ports

import (
	"errors"
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
	lo = 20000
	hi = 32000
)

// Free returns n distinct 127.0.0.1 addresses whose ports are free now.
func Free(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var addrs []string
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port in [%d, %d) after %d tries", lo, hi, tries)
		}
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		lns = append(lns, ln) // held until all are chosen: no duplicates
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// Ferryd finds the ferryd program beside the executable self, then on PATH.
func Ferryd(self string) (string, error) {
	if self != "" {
		p := filepath.Join(filepath.Dir(self), "ferryd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("ferryd")
	if err != nil {
		return "", errors.New("ferryd not found beside ferry or on PATH (run `make`)")
	}
	return p, nil
}
