package itest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/internal/testenv"
)

// netHosts is a bridge and one network namespace per "host", each joined
// to the bridge by a veth pair and given its own address: separate hosts
// as the network stack sees them, on one machine.
type netHosts struct {
	t      *testing.T
	bridge string
	ns     []string
	veth   []string // host-side end of each namespace's link
	addr   []string
}

// newNetHosts creates n namespaces on a fresh bridge and removes them
// when the test ends. Names carry the process id so concurrent or
// crashed runs do not collide.
func newNetHosts(t *testing.T, n int) *netHosts {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "multi-host test needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.SkipOrFail(t, "multi-host test needs ip (iproute2): %v", err)
	}
	id := os.Getpid() % 100000
	h := &netHosts{t: t, bridge: fmt.Sprintf("fbr%d", id)}
	subnet := fmt.Sprintf("10.%d.%d", 200+id%50, id%250)
	t.Cleanup(h.remove)
	if out, err := exec.Command("ip", "link", "add", h.bridge, "type", "bridge").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "cannot create a bridge (ip link add type bridge): %v: %s", err, out)
	}
	h.run("ip", "link", "set", h.bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("ferry%d-h%d", id, i)
		veth := fmt.Sprintf("fv%d-%d", id, i)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			testenv.SkipOrFail(t, "ip netns unavailable: %v: %s", err, out)
		}
		h.ns = append(h.ns, ns)
		h.veth = append(h.veth, veth)
		addr := fmt.Sprintf("%s.%d", subnet, i+1)
		h.addr = append(h.addr, addr)
		h.run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		h.run("ip", "link", "set", veth, "master", h.bridge, "up")
		h.run("ip", "-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		h.run("ip", "-n", ns, "link", "set", "eth0", "up")
		h.run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	return h
}

func (h *netHosts) run(args ...string) {
	h.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		h.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (h *netHosts) remove() {
	for _, ns := range h.ns {
		exec.Command("ip", "netns", "del", ns).Run() // takes its veth pair with it
	}
	exec.Command("ip", "link", "del", h.bridge).Run()
}

// command runs a program inside host i's namespace.
func (h *netHosts) command(ctx context.Context, i int, prog string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns[i], prog}, args...)...)
}

// Four servers on four "hosts" and a client on a fifth, over tcp;ofi_rxm
// and over sockets: a striped file written and read back byte-identical,
// ping showing the data path, a server whose link goes down named in the
// client's error within the timeout, and service back with the link.
func TestMultiHost(t *testing.T) {
	const servers = 4
	h := newNetHosts(t, servers+1)
	ferryd, ferry := testcluster.Binary(t, "ferryd"), testcluster.Binary(t, "ferry")
	dir := t.TempDir()

	// The servers bind every address and advertise their own; the fabric
	// listens on a fixed port range; the short timeout bounds the
	// link-down case.
	var hosts []string
	for i := range servers {
		hosts = append(hosts, h.addr[i])
	}
	cfgPath := filepath.Join(dir, "ferry.toml")
	gen := exec.Command(ferry, "genconfig", "--servers", strings.Join(hosts, ","), "--port", "7000",
		"--storage", filepath.Join(dir, "storage"), "--bind-all", "--fabric-ports", "7100-7103",
		"--provider", "auto", "--timeout", "5s", "--strip-size", "1048576", "--key-file", filepath.Join(dir, "ferry.key"))
	b, err := gen.Output()
	if err != nil {
		t.Fatalf("genconfig: %v", err)
	}
	os.WriteFile(cfgPath, b, 0o644)
	clientCfg := filepath.Join(dir, "client.toml")
	b, err = exec.Command(ferry, "genconfig", "--client", "--servers", strings.Join(hosts, ","), "--port", "7000", "--timeout", "5s").Output()
	if err != nil {
		t.Fatalf("genconfig --client: %v", err)
	}
	os.WriteFile(clientCfg, b, 0o644)

	// No --id: each server finds itself by its host's address.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var procs []*exec.Cmd
	for i := range servers {
		cmd := h.command(ctx, i, ferryd, "--config", cfgPath)
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("ferryd%d.log", i)))
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = time.Minute
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	defer func() {
		for i, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			if err := p.Wait(); err != nil {
				logs, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ferryd%d.log", i)))
				t.Errorf("ferryd %d: %v\n%s", i, err, logs)
			}
		}
	}()
	client := servers
	ferryCmd := func(limit time.Duration, args ...string) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, limit) // a hang guard, not a measurement
		defer ccancel()
		out, err := h.command(cctx, client, ferry, args...).CombinedOutput()
		if cctx.Err() != nil {
			t.Fatalf("ferry %s: no result within %v: hang\n%s", strings.Join(args, " "), limit, out)
		}
		return string(out), err
	}
	// Wait for the servers: ping answers once all four do.
	var out string
	try0 := 0
	for try := 0; ; try++ {
		out, err = ferryCmd(2*time.Minute, "ping", "--config", clientCfg)
		if err == nil {
			try0 = try
			break
		}
		if try == 60 {
			for i := range servers {
				logs, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ferryd%d.log", i)))
				t.Logf("ferryd %d:\n%s", i, logs)
			}
			t.Fatalf("servers never all answered: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
	t.Logf("servers up after %d pings; ping:\n%s", try0, out)
	for i := range servers {
		if !strings.Contains(out, h.addr[i]+":7000") {
			t.Fatalf("ping does not list server %d at its advertised address %s:7000:\n%s", i, h.addr[i], out)
		}
	}
	if strings.Count(out, "rdma:tcp;ofi_rxm") != servers {
		t.Fatalf("ping does not show the tcp;ofi_rxm data path to every server:\n%s", out)
	}
	// Each server's tcp fabric listens on its advertised address (not the
	// 0.0.0.0 its control listener binds) in the configured port range.
	for i := range servers {
		if !regexp.MustCompile(`tcp;ofi_rxm@` + regexp.QuoteMeta(h.addr[i]) + `:710[0-3]\b`).MatchString(out) {
			t.Fatalf("server %d's fabric is not on %s:7100-7103:\n%s", i, h.addr[i], out)
		}
	}

	size := int64(256 << 20)
	if testing.Short() {
		size = 16 << 20
	}
	src := filepath.Join(dir, "src")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, prov := range []string{"tcp", "none"} {
		dst := filepath.Join(dir, "back-"+prov)
		name := "ferry:/big-" + prov
		if out, err := ferryCmd(5*time.Minute, "cp", "--config", clientCfg, "--provider", prov, src, name); err != nil {
			t.Fatalf("provider %s: cp in: %v\n%s", prov, err, out)
		}
		if out, err := ferryCmd(5*time.Minute, "cp", "--config", clientCfg, "--provider", prov, name, dst); err != nil {
			t.Fatalf("provider %s: cp out: %v\n%s", prov, err, out)
		}
		back, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, data) {
			t.Fatalf("provider %s: %d bytes read back differ from the %d written", prov, len(back), len(data))
		}
		os.Remove(dst)
		t.Logf("provider %s: %d bytes in and out", prov, size)
	}

	// Server 2's host drops off the network: the client's read of a file
	// striped over it fails with an error naming that server, bounded by
	// the config's 5 s timeout (the guard here only catches a hang).
	victim := 2
	h.run("ip", "link", "set", h.veth[victim], "down")
	out, err = ferryCmd(2*time.Minute, "cat", "--config", clientCfg, "/big-tcp")
	if err == nil {
		t.Fatalf("read with server %d cut off succeeded", victim)
	}
	victimAddr := h.addr[victim] + ":7000"
	if tail := lastLines(out, 3); !strings.Contains(tail, victimAddr) && !strings.Contains(tail, fmt.Sprintf("server %d", victim)) {
		t.Fatalf("error does not name server %d (%s):\n%s", victim, victimAddr, tail)
	} else {
		t.Logf("link down: %s", tail)
	}
	h.run("ip", "link", "set", h.veth[victim], "up")
	dst := filepath.Join(dir, "back-again")
	try1 := 0
	for try := 0; ; try++ {
		out, err = ferryCmd(5*time.Minute, "cp", "--config", clientCfg, "ferry:/big-tcp", dst)
		if err == nil {
			try1 = try
			break
		}
		if try == 30 {
			t.Fatalf("link back up, read still fails: %v\n%s", err, out)
		}
		time.Sleep(time.Second) // the bridge port relearns after the link returns
	}
	t.Logf("link up: read again after %d retries", try1)
	back, _ := os.ReadFile(dst)
	if !bytes.Equal(back, data) {
		t.Fatal("bytes read after the link came back differ")
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
