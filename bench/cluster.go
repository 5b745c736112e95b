package bench

import (
	"context"
	"fmt"
	"github.com/ferry-hpc/ferry/internal/ports"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
)

// cluster is the set of servers a sweep runs against: ones the bench
// started itself (real ferryd processes, stopped at the end) or a running
// configuration the bench only connects to.
type cluster struct {
	cfgPath string
	cfg     *config.Config
	dir     string // the bench's own servers: their directory, removed at stop
	procs   []*exec.Cmd
	own     bool
}

// startCluster starts n ferryd processes on loopback with storage under a
// fresh directory in base (the system temp dir when empty). Servers open
// every fabric they can (provider auto) so one cluster serves shm, tcp and
// sockets clients; the client asks for the strategy per request.
func startCluster(ctx context.Context, ferryd string, n int, stripSize int64, base string) (*cluster, error) {
	dir, err := os.MkdirTemp(base, "ferry-bench-")
	if err != nil {
		return nil, err
	}
	addrs, err := ports.Free(n) // below the ephemeral range, as `ferry local up`
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg, err := config.Generate(addrs, dir, stripSize)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.Timeout.Duration = 60 * time.Second
	b, err := cfg.Encode()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &cluster{cfgPath: filepath.Join(dir, "ferry.toml"), cfg: cfg, dir: dir, own: true}
	if err := os.WriteFile(c.cfgPath, b, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for i := range cfg.Servers {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("server%d.log", i)))
		if err != nil {
			c.stop()
			return nil, err
		}
		cmd := exec.Command(ferryd, "--config", c.cfgPath, "--id", strconv.Itoa(i))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("start ferryd %d: %w", i, err)
		}
		c.procs = append(c.procs, cmd)
	}
	if err := waitUp(ctx, c.cfgPath, n, 30*time.Second); err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "server0.log"))
		c.stop()
		return nil, fmt.Errorf("%w\nserver0.log:\n%s", err, logs)
	}
	return c, nil
}

// useCluster connects to a running configuration.
func useCluster(cfgPath string) (*cluster, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	return &cluster{cfgPath: cfgPath, cfg: cfg}, nil
}

func waitUp(ctx context.Context, cfgPath string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := clientlib.Mount(cctx, cfgPath, clientlib.Options{Timeout: 2 * time.Second, Name: "ferry bench", Provider: "none"})
		if err == nil {
			for i := 0; i < n && err == nil; i++ {
				_, _, err = c.Ping(cctx, i)
			}
			c.Close()
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("servers did not answer within %v: %v", limit, last)
}

// stop ends the servers the bench started (SIGTERM, SIGKILL after 10 s)
// and removes their storage.
func (c *cluster) stop() {
	if !c.own {
		return
	}
	for _, p := range c.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// datafiles returns the paths of a file's datafiles on the servers whose
// storage this machine can see (all of them for the bench's own servers).
func (c *cluster) datafiles(handle string) []string {
	var out []string
	for _, s := range c.cfg.Servers {
		p := filepath.Join(s.Storage, "data", handle)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
