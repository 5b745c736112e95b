package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/internal/localcluster"
)

func init() { addCommand(newLocalCmd) }

func newLocalCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local up|restart|down [flags]",
		Short: "start (up), restart one (restart --id N) or stop (down) local servers on 127.0.0.1",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown subcommand %q: want up, restart or down", args[0])}
			}
			return usageError{errors.New("want up, restart or down")}
		},
	}
	var (
		n               int
		dir, rdir, ddir string
		strip           int64
		id              int
	)
	up := newCommand("up [flags]", "start the local servers that are not running",
		"Starts the ferryd servers of DIR that are not running (N of them on 127.0.0.1, with a new\n"+
			"config, the first time), in the background, and waits until each answers. An existing config is\n"+
			"reused (its files survive); servers already running, by 'local up' or by hand, are left alone.\n"+
			"A server that fails to start is an error (its log's end is shown).",
		0, 0, func(cmd *cobra.Command, _ []string) error {
			return localUp(e, n, cmd.Flags().Changed("servers"), dir, strip)
		})
	up.Flags().IntVar(&n, "servers", 4, "number of servers (of a new config; an existing one must match if given)")
	up.Flags().StringVar(&dir, "dir", ".ferry-local", "directory for the config, storage, logs and pid files")
	sizeVar(up.Flags(), &strip, "strip-size", config.DefaultStripSize, false, "default strip size of new files, e.g. 1M")
	restart := newCommand("restart --id N [flags]", "restart one local server",
		"Restarts server N of DIR: stops it if it runs (SIGTERM, SIGKILL after 10s; also one\n"+
			"started by hand), starts it in the background and waits until it answers. Its data stays.",
		0, 0, func(*cobra.Command, []string) error { return localRestart(e, id, rdir) })
	restart.Flags().IntVar(&id, "id", -1, "the server to restart")
	restart.Flags().StringVar(&rdir, "dir", ".ferry-local", "directory given to 'ferry local up'")
	down := newCommand("down [flags]", "stop local servers",
		"Stops every server of DIR: those 'ferry local up' started and any started by hand with its\n"+
			"config (SIGTERM, then SIGKILL after 10s). Data stays.",
		0, 0, func(*cobra.Command, []string) error { return localDown(e, ddir) })
	down.Flags().StringVar(&ddir, "dir", ".ferry-local", "directory given to 'ferry local up'")
	cmd.AddCommand(up, restart, down)
	return cmd
}

func localUp(e *env, n int, serversGiven bool, dir string, strip int64) error {
	if n < 1 {
		return usageError{fmt.Errorf("--servers %d: want at least 1", n)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	c, err := localcluster.Load(abs)
	switch {
	case err == nil:
		if serversGiven && len(c.Config.Servers) != n {
			return fmt.Errorf("%s describes %d servers, not %d: remove %s to start afresh", c.ConfigPath, len(c.Config.Servers), n, abs)
		}
	case errors.Is(err, fs.ErrNotExist):
		if c, err = localcluster.Create(abs, localcluster.Options{Servers: n, StripSize: strip}); err != nil {
			return err
		}
	default:
		return err
	}
	if err := findFerryd(c); err != nil {
		return err
	}
	before := c.Pids()
	if len(before) == len(c.Config.Servers) {
		fmt.Fprintf(e.stdout, "all %d servers of %s already running (pids %v)\n", len(before), abs, sortedPids(before))
		return nil
	}
	if err := c.Start(context.Background()); err != nil {
		return err
	}
	var started []int
	for id := range c.Config.Servers {
		if _, ok := before[id]; !ok {
			started = append(started, id)
		}
	}
	if len(before) > 0 {
		fmt.Fprintf(e.stdout, "started servers %v; %d were already running; all %d servers up, config %s\n",
			started, len(before), len(c.Config.Servers), c.ConfigPath)
		return nil
	}
	var addrs []string
	for _, s := range c.Config.Servers {
		addrs = append(addrs, s.Address)
	}
	fmt.Fprintf(e.stdout, "%d Ferry servers up on %s, config %s\n", len(c.Config.Servers), strings.Join(addrs, ","), c.ConfigPath)
	self, _ := os.Executable()
	ferry := selfName(self)
	fmt.Fprintf(e.stdout, "try:  export %s=%s\n      %s cp /etc/services ferry:/services && %s ls -l /\nstop: %s local down --dir %s\n",
		clientenv.Config, c.ConfigPath, ferry, ferry, ferry, dir)
	return nil
}

// selfName is how a user reaches this program: "ferry" when that is what
// PATH finds, else its path (build/bin/ferry before an install).
func selfName(self string) string {
	if p, err := exec.LookPath("ferry"); err == nil {
		if a, err := filepath.EvalSymlinks(p); err == nil {
			if b, err := filepath.EvalSymlinks(self); err == nil && a == b {
				return "ferry"
			}
		}
	}
	if self == "" {
		return "ferry"
	}
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, self); err == nil && !strings.HasPrefix(r, "..") {
			return "./" + r
		}
	}
	return self
}

// localRestart stops one server (if it runs) and starts it again.
func localRestart(e *env, id int, dir string) error {
	if id < 0 {
		return usageError{fmt.Errorf("--id is required: the server to restart")}
	}
	c, err := localcluster.Load(dir)
	if err != nil {
		return err
	}
	if id < 0 || id >= len(c.Config.Servers) {
		return usageError{fmt.Errorf("--id %d: %s has servers 0..%d", id, c.ConfigPath, len(c.Config.Servers)-1)}
	}
	if err := findFerryd(c); err != nil {
		return err
	}
	if _, ok := c.Pids()[id]; ok {
		if err := c.Stop(id); err != nil && !errors.Is(err, localcluster.ErrKilled) {
			return fmt.Errorf("stop server %d: %w", id, err)
		}
	}
	if err := c.StartServer(context.Background(), id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "server %d restarted on %s (pid %d)\n", id, c.Config.Servers[id].Address, c.Pids()[id])
	return nil
}

// findFerryd points c at the ferryd beside this program, detached.
func findFerryd(c *localcluster.Cluster) error {
	self, _ := os.Executable()
	var err error
	if c.Ferryd, err = localcluster.FindProgram(self, "ferryd"); err != nil {
		return err
	}
	c.Detach = true
	return nil
}

func sortedPids(m map[int]int) []int {
	var pids []int
	for _, p := range m {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return pids
}

func localDown(e *env, dir string) error {
	n, err := localcluster.Down(dir)
	fmt.Fprintf(e.stdout, "stopped %d servers\n", n)
	if _, serr := os.Stat(filepath.Join(dir, localcluster.ConfigName)); err == nil && n == 0 && errors.Is(serr, fs.ErrNotExist) {
		// Nothing to stop is no failure (a script's cleanup), but a
		// mistyped --dir should not pass for a stopped file system.
		fmt.Fprintf(e.stderr, "ferry local: %s holds no local file system (no %s)\n", dir, localcluster.ConfigName)
	}
	return err
}
