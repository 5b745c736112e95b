package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/ports"
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
	cfgPath := filepath.Join(abs, "ferry.toml")
	if pids := livePids(abs); len(pids) > 0 {
		return fmt.Errorf("servers already running from %s (pids %v): run `ferry local down --dir %s` first", abs, pids, *dir)
	}
	cfg, err := config.Load(cfgPath)
	switch {
	case err == nil:
		if len(cfg.Servers) != *n {
			return fmt.Errorf("%s describes %d servers, not %d: remove %s to start afresh", cfgPath, len(cfg.Servers), *n, abs)
		}
	case errors.Is(err, fs.ErrNotExist):
		addrs, err := ports.Free(*n)
		if err != nil {
			return err
		}
		cfg, err = config.Generate(addrs, abs, *strip)
		if err != nil {
			return err
		}
		b, err := cfg.Encode()
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
			return err
		}
	default:
		return err
	}
	self, _ := os.Executable()
	bin, err := ports.Ferryd(self)
	if err != nil {
		return err
	}
	for i := range cfg.Servers {
		if err := startDetached(bin, abs, cfgPath, i); err != nil {
			localDown(e, []string{"--dir", abs})
			return err
		}
	}
	if err := waitUp(cfgPath, len(cfg.Servers), 20*time.Second); err != nil {
		localDown(e, []string{"--dir", abs})
		return fmt.Errorf("%w (logs in %s/server*.log)", err, abs)
	}
	fmt.Fprintf(e.stdout, "%d Ferry servers up on %s, config %s\n", len(cfg.Servers), addrList(cfg), cfgPath)
	fmt.Fprintf(e.stdout, "try:  ferry cp /etc/services ferry:/services && ferry ls /\nstop: ferry local down --dir %s\n", *dir)
	return nil
}

func addrList(cfg *config.Config) string {
	var a []string
	for _, s := range cfg.Servers {
		a = append(a, s.Address)
	}
	return strings.Join(a, ",")
}

func startDetached(bin, dir, cfgPath string, id int) error {
	logf, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("server%d.log", id)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(bin, "--config", cfgPath, "--id", strconv.Itoa(id))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlive this shell
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server %d: %w", id, err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	return os.WriteFile(pidFile(dir, id), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

func pidFile(dir string, id int) string { return filepath.Join(dir, fmt.Sprintf("server%d.pid", id)) }

func waitUp(cfgPath string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := clientlib.Mount(ctx, cfgPath, clientlib.Options{Timeout: 2 * time.Second, Name: "ferry local"})
		if err == nil {
			for i := 0; i < n && err == nil; i++ {
				_, _, err = c.Ping(ctx, i)
			}
			c.Close()
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("servers did not answer within %v: %v", limit, last)
}

// livePids returns the pids in dir's pid files that are ferryd processes.
func livePids(dir string) map[string]int {
	files, _ := filepath.Glob(filepath.Join(dir, "server*.pid"))
	out := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		// A pid file can outlive its process and the pid be reused:
		// only signal what is really a ferryd.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte("ferryd")) {
			continue
		}
		out[f] = pid
	}
	return out
}

func localDown(e *env, args []string) error {
	fs := newFlags(e, "local down", "", "Stops the servers `ferry local up` started from DIR (SIGTERM, then SIGKILL after 10s). Data stays.")
	dir := fs.String("dir", ".ferry-local", "directory given to `ferry local up`")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	pids := livePids(*dir)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f, pid := range pids {
		for syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		os.Remove(f)
	}
	stale, _ := filepath.Glob(filepath.Join(*dir, "server*.pid"))
	for _, f := range stale {
		os.Remove(f)
	}
	fmt.Fprintf(e.stdout, "stopped %d servers\n", len(pids))
	return nil
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}
