package localcluster

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serversOf finds the ferryd processes of the config at configPath,
// whoever started them (this package, or an operator by hand): their
// command line names the config (--config, absolute or relative to their
// working directory) and an --id. It returns server id to pid.
func serversOf(configPath string) map[int]int {
	want, err := filepath.Abs(configPath)
	if err != nil {
		return nil
	}
	want = filepath.Clean(want)
	out := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "ferryd" {
			continue
		}
		cfg, id := flagValue(args[1:], "config"), flagValue(args[1:], "id")
		if cfg == "" || id == "" {
			continue
		}
		if !filepath.IsAbs(cfg) {
			cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			if err != nil {
				continue
			}
			cfg = filepath.Join(cwd, cfg)
		}
		n, err := strconv.Atoi(id)
		if err != nil || filepath.Clean(cfg) != want {
			continue
		}
		if p := (&proc{pid: pid}); p.alive() {
			out[n] = pid
		}
	}
	return out
}

// flagValue is the value of a Go-style flag (-name v, --name v,
// -name=v, --name=v) in args, or "".
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		t := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if t == a {
			continue // not a flag
		}
		if t == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(t, name+"="); ok {
			return v
		}
	}
	return ""
}

// listens reports whether process pid holds a listening TCP socket on
// addr's port: whether the server answering there is that process, and
// not another one that got the port first.
func listens(pid int, addr string) bool {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, port, inodes)
	}
	if len(inodes) == 0 {
		return false
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			return true
		}
	}
	return false
}

// listeningInodes adds to inodes the socket inodes of a /proc/net/tcp
// table that listen on port.
func listeningInodes(table string, port int, inodes map[string]bool) {
	b, err := os.ReadFile(table)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(p) == port {
			inodes[f[9]] = true
		}
	}
}
