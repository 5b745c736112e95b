package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newStatusCmd) }

func newStatusCmd(e *env) *cobra.Command {
	var cf clientFlags
	var asJSON bool
	var timeout time.Duration
	cmd := newCommand("status [flags]", "show every server: role, up or down, version, uptime, storage, load",
		`Asks every server of the file system for its state: address, role, up or
down, version, uptime, the data path this client gets to it, storage
capacity and free space, open connections, requests in progress and the
host's load average. Exits 1 when a server is down.`,
		0, 0, func(*cobra.Command, []string) error { return runStatus(e, &cf, asJSON, timeout) })
	cf.addData(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (an object with a servers array)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up on a server after this long")
	return cmd
}

// serverStatus is one server's line of ferry status (and its JSON).
type serverStatus struct {
	ID               int      `json:"id"`
	Address          string   `json:"address"`
	Role             string   `json:"role"`
	Up               bool     `json:"up"`
	Error            string   `json:"error,omitempty"`
	Version          string   `json:"version,omitempty"`
	UptimeSeconds    int64    `json:"uptime_seconds"`
	PID              int64    `json:"pid,omitempty"`
	RTTMicros        int64    `json:"rtt_us"`
	Strategy         string   `json:"strategy,omitempty"`
	Fabrics          []string `json:"fabrics"`
	DataPath         string   `json:"data_path,omitempty"`
	SizeBytes        uint64   `json:"size_bytes"`
	UsedBytes        uint64   `json:"used_bytes"`
	AvailBytes       uint64   `json:"avail_bytes"`
	Connections      int64    `json:"connections"`
	RequestsInFlight int64    `json:"requests_in_flight"`
	LoadAvg1         float64  `json:"loadavg1"`
}

// fsClient connects to the file system for an operator command: through
// the metadata server as every client does, else through any server that
// answers, so a dead metadata server still lets the others be seen. The
// client is nil when no server answers; addrs and meta come from the
// config either way.
func fsClient(ctx context.Context, cf *clientFlags) (c *clientlib.Client, addrs []string, meta int, err error) {
	path, err := clientenv.ConfigPath(cf.config, os.Getenv)
	if err != nil {
		return nil, nil, 0, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, s := range cfg.Servers {
		addrs = append(addrs, s.Address)
	}
	c, err = cf.mount(ctx)
	if err == nil {
		return c, c.Servers(), c.MetaServer(), nil
	}
	timeout := cfg.Timeout.Duration
	if cf.timeout > 0 {
		timeout = min(timeout, cf.timeout)
	}
	opts, oerr := clientenv.Options(clientlib.Options{Name: "ferry", Provider: cf.provider, Strategy: cf.strategy, Timeout: timeout}, os.Getenv)
	if oerr != nil {
		return nil, nil, 0, oerr
	}
	for i, a := range addrs {
		if i == cfg.MetadataServer {
			continue
		}
		if c, derr := clientlib.Dial(ctx, a, opts); derr == nil {
			return c, addrs, cfg.MetadataServer, nil
		}
	}
	return nil, addrs, cfg.MetadataServer, err
}

func runStatus(e *env, cf *clientFlags, asJSON bool, timeout time.Duration) error {
	if timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %v: want a positive duration", timeout)}
	}
	ctx := context.Background()
	// The bound covers the hellos too, which wait the config's timeout
	// otherwise (30 s by default) for a server that is stopped.
	cf.timeout = timeout
	c, addrs, meta, err := fsClient(ctx, cf)
	if c == nil && addrs == nil {
		return err
	}
	st := make([]serverStatus, len(addrs))
	for i, a := range addrs {
		st[i] = serverStatus{ID: i, Address: a, Role: "data", Fabrics: []string{}}
		if i == meta {
			st[i].Role = "data+metadata"
		}
		if c == nil {
			st[i].Error = strings.TrimPrefix(err.Error(), "ferry: ")
		}
	}
	if c != nil {
		defer c.Close()
		var wg sync.WaitGroup
		for i := range st {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				probe(ctx, c, &st[i])
			})
		}
		wg.Wait()
	}
	down := 0
	for _, s := range st {
		if !s.Up {
			down++
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Servers []serverStatus `json:"servers"`
			Up      int            `json:"up"`
			Down    int            `json:"down"`
		}{st, len(st) - down, down}); err != nil {
			return err
		}
	} else {
		printStatus(e, st)
	}
	if down > 0 {
		if asJSON {
			return exitCode(1)
		}
		return fmt.Errorf("%d of %d servers down", down, len(st))
	}
	return nil
}

// probe fills s from a hello, the server's counters and its statfs.
func probe(ctx context.Context, c *clientlib.Client, s *serverStatus) {
	h, rtt, err := c.Ping(ctx, s.ID)
	if err != nil {
		s.Error = strings.TrimPrefix(err.Error(), "ferry: ")
		return
	}
	s.Up, s.RTTMicros, s.Strategy, s.DataPath = true, rtt.Microseconds(), h.Strategy, c.DataPath(s.ID)
	for _, f := range h.Fabrics {
		s.Fabrics = append(s.Fabrics, f.Provider)
	}
	var errs []error
	if stats, err := c.ServerStats(ctx, s.ID); err == nil {
		s.UptimeSeconds = stats["server.uptime_seconds"]
		s.PID = stats["server.pid"]
		s.Connections = stats["server.connections"]
		s.RequestsInFlight = stats["server.requests_in_flight"]
		s.LoadAvg1 = float64(stats["server.loadavg1_milli"]) / 1000
		for n := range stats {
			if v, ok := strings.CutPrefix(n, "server.version."); ok {
				s.Version = v
			}
		}
	} else {
		errs = append(errs, err)
	}
	if fs, err := c.ServerStatfs(ctx, s.ID); err == nil {
		s.SizeBytes, s.UsedBytes, s.AvailBytes = fs.Bytes, fs.Bytes-fs.Free, fs.Avail
	} else {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		s.Error = strings.TrimPrefix(errors.Join(errs...).Error(), "ferry: ")
	}
}

func printStatus(e *env, st []serverStatus) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tADDRESS\tROLE\tSTATE\tVERSION\tUPTIME\tDATA PATH\tSIZE\tAVAIL\tUSE%\tCONNS\tREQS\tLOAD")
	for _, s := range st {
		if !s.Up {
			fmt.Fprintf(tw, "%d\t%s\t%s\tDOWN\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", s.ID, s.Address, s.Role)
			continue
		}
		v := s.Version
		if v == "" {
			v = "?"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\tup\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f\n", s.ID, s.Address, s.Role, v,
			time.Duration(s.UptimeSeconds)*time.Second, s.DataPath, units.Bytes(int64(s.SizeBytes)),
			units.Bytes(int64(s.AvailBytes)), usePercent(s.UsedBytes, s.AvailBytes), s.Connections, s.RequestsInFlight, s.LoadAvg1)
	}
	tw.Flush()
	for _, s := range st {
		if s.Error != "" {
			fmt.Fprintf(e.stdout, "server %d: %s\n", s.ID, s.Error)
		}
	}
}

// usePercent is df's Use%: used over what users can have, rounded up.
func usePercent(used, avail uint64) string {
	if used+avail == 0 {
		return "-"
	}
	return fmt.Sprintf("%d%%", (used*100+used+avail-1)/(used+avail))
}
