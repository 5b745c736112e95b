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
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/internal/localcluster"
)

func init() { addCommand(newLocalCmd) }

func newLocalCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local up|down [flags]",
		Short: "start (up) or stop (down) local servers on 127.0.0.1",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown subcommand %q: want up or down", args[0])}
			}
			return usageError{errors.New("want up or down")}
		},
	}
	var (
		n         int
		dir, ddir string
		strip     int64
	)
	up := newCommand("up [flags]", "start local servers",
		"Starts N ferryd servers on 127.0.0.1 in the background, with a config in DIR,\nand waits until all answer. An existing config in DIR is reused (its files survive).",
		0, 0, func(*cobra.Command, []string) error { return localUp(e, n, dir, strip) })
	up.Flags().IntVar(&n, "servers", 4, "number of servers")
	up.Flags().StringVar(&dir, "dir", ".ferry-local", "directory for the config, storage, logs and pid files")
	sizeVar(up.Flags(), &strip, "strip-size", config.DefaultStripSize, false, "default strip size of new files, e.g. 1M")
	down := newCommand("down [flags]", "stop local servers",
		"Stops the servers 'ferry local up' started from DIR (SIGTERM, then SIGKILL after 10s). Data stays.",
		0, 0, func(*cobra.Command, []string) error { return localDown(e, ddir) })
	down.Flags().StringVar(&ddir, "dir", ".ferry-local", "directory given to 'ferry local up'")
	cmd.AddCommand(up, down)
	return cmd
}

func localUp(e *env, n int, dir string, strip int64) error {
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
	if running := localcluster.Running(abs); len(running) > 0 {
		var pids []int
		for _, p := range running {
			pids = append(pids, p)
		}
		sort.Ints(pids)
		ps := make([]string, len(pids))
		for i, p := range pids {
			ps[i] = strconv.Itoa(p)
		}
		return fmt.Errorf("%d servers are already running from %s (pids %s); stop them first with: ferry local down --dir %s",
			len(pids), abs, strings.Join(ps, ", "), dir)
	}
	c, err := localcluster.Load(abs)
	switch {
	case err == nil:
		if len(c.Config.Servers) != n {
			return fmt.Errorf("%s describes %d servers, not %d: remove %s to start afresh", c.ConfigPath, len(c.Config.Servers), n, abs)
		}
	case errors.Is(err, fs.ErrNotExist):
		if c, err = localcluster.Create(abs, localcluster.Options{Servers: n, StripSize: strip}); err != nil {
			return err
		}
	default:
		return err
	}
	self, _ := os.Executable()
	if c.Ferryd, err = localcluster.FindProgram(self, "ferryd"); err != nil {
		return err
	}
	c.Detach = true
	if err := c.Start(context.Background()); err != nil {
		return err
	}
	var addrs []string
	for _, s := range c.Config.Servers {
		addrs = append(addrs, s.Address)
	}
	fmt.Fprintf(e.stdout, "%d Ferry servers up on %s, config %s\n", len(c.Config.Servers), strings.Join(addrs, ","), c.ConfigPath)
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

func localDown(e *env, dir string) error {
	n, err := localcluster.Down(dir)
	fmt.Fprintf(e.stdout, "stopped %d servers\n", n)
	return err
}
