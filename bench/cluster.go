package bench

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/localcluster"
)

// cluster is the set of servers a sweep runs against: ones the bench
// started itself (real ferryd processes, stopped at the end) or a running
// configuration the bench only connects to.
type cluster struct {
	cfgPath string
	cfg     *config.Config
	own     *localcluster.Cluster // the bench's own servers; nil for --config
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
	lc, err := localcluster.Create(dir, localcluster.Options{Servers: n, StripSize: stripSize, Timeout: 60 * time.Second})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	lc.Ferryd = ferryd
	if err := lc.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &cluster{cfgPath: lc.ConfigPath, cfg: lc.Config, own: lc}, nil
}

// useCluster connects to a running configuration.
func useCluster(cfgPath string) (*cluster, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	return &cluster{cfgPath: cfgPath, cfg: cfg}, nil
}

// stop ends the servers the bench started and removes their storage.
func (c *cluster) stop() {
	if c.own == nil {
		return
	}
	c.own.StopAll()
	os.RemoveAll(c.own.Dir)
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
