package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/localcluster"
)

func init() {
	register("local", "start (up) or stop (down) local servers on 127.0.0.1", runLocal)
}

func runLocal(e *env, args []string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		fmt.Fprintln(e.stderr, "usage: ferry local up [--servers N] [--dir DIR] | ferry local down [--dir DIR]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return usageError{errors.New("want `up` or `down`")}
	}
	if args[0] == "up" {
		return localUp(e, args[1:])
	}
	return localDown(e, args[1:])
}

func localUp(e *env, args []string) error {
	flags := newFlags(e, "local up", "", "Starts N ferryd servers on 127.0.0.1 in the background, with a config in DIR,\nand waits until all answer. An existing config in DIR is reused (its files survive).")
	n := flags.Int("servers", 4, "number of servers")
	dir := flags.String("dir", ".ferry-local", "directory for the config, storage, logs and pid files")
	strip := flags.Int64("strip-size", config.DefaultStripSize, "default strip size of new files, bytes")
	if err := parse(flags, args, 0, 0); err != nil {
		return err
	}
	if *n < 1 {
		return usageError{fmt.Errorf("--servers %d: want at least 1", *n)}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if running := localcluster.Running(abs); len(running) > 0 {
		var pids []int
		for _, p := range running {
			pids = append(pids, p)
		}
		sort.Ints(pids)
		return fmt.Errorf("servers already running from %s (pids %v): run `ferry local down --dir %s` first", abs, pids, *dir)
	}
	c, err := localcluster.Load(abs)
	switch {
	case err == nil:
		if len(c.Config.Servers) != *n {
			return fmt.Errorf("%s describes %d servers, not %d: remove %s to start afresh", c.ConfigPath, len(c.Config.Servers), *n, abs)
		}
	case errors.Is(err, fs.ErrNotExist):
		if c, err = localcluster.Create(abs, localcluster.Options{Servers: *n, StripSize: *strip}); err != nil {
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
	fmt.Fprintf(e.stdout, "try:  ferry cp /etc/services ferry:/services && ferry ls /\nstop: ferry local down --dir %s\n", *dir)
	return nil
}

func localDown(e *env, args []string) error {
	fs := newFlags(e, "local down", "", "Stops the servers `ferry local up` started from DIR (SIGTERM, then SIGKILL after 10s). Data stays.")
	dir := fs.String("dir", ".ferry-local", "directory given to `ferry local up`")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	n, err := localcluster.Down(*dir)
	fmt.Fprintf(e.stdout, "stopped %d servers\n", n)
	return err
}
