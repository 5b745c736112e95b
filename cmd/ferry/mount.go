package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferry-hpc/ferry/fusefs"
	"github.com/ferry-hpc/ferry/internal/clientenv"
)

func init() {
	addCommand(newMountCmd)
	addCommand(newUmountCmd)
}

const mountHelp = `Mounts the Ferry file system on MOUNTPOINT through FUSE, so any program
can use it by path. It serves in the foreground until the file system is
unmounted (ferry umount MOUNTPOINT, fusermount3 -u MOUNTPOINT, or SIGINT /
SIGTERM to this process); --daemon detaches once the mount is up.

Names and attributes are cached for --entry-timeout and --attr-timeout;
every open asks the servers for the file's size (close-to-open
consistency: see the README's "POSIX mount" section).`

type mountOptions struct {
	cf      clientFlags
	fuse    fusefs.Options
	daemon  bool
	logFile string
	readyFD int
}

func newMountCmd(e *env) *cobra.Command {
	var mo mountOptions
	cmd := newCommand("mount [flags] MOUNTPOINT", "mount the file system on a directory (FUSE)", mountHelp,
		1, 1, func(cmd *cobra.Command, args []string) error { return runMount(e, cmd.Flags(), &mo, args[0]) })
	fs := cmd.Flags()
	mo.cf.addData(fs)
	o := &mo.fuse
	fs.BoolVar(&mo.daemon, "daemon", false, "detach once mounted; the log goes to --log")
	fs.StringVar(&mo.logFile, "log", "", "log `FILE` (default: standard error; none with --daemon)")
	fs.DurationVar(&o.EntryTimeout, "entry-timeout", fusefs.DefaultEntryTimeout, "how long the kernel trusts a name")
	fs.DurationVar(&o.AttrTimeout, "attr-timeout", fusefs.DefaultAttrTimeout, "how long the kernel trusts attributes")
	fs.IntVar(&o.ReadAheadKB, "readahead-kb", fusefs.DefaultReadAheadKB, "kernel readahead of the mount in KiB (-1: the kernel's)")
	fs.BoolVar(&o.WritebackCache, "writeback-cache", false, "let the kernel cache writes (one client only: others' size changes go unseen)")
	fs.BoolVar(&o.AllowOther, "allow-other", false, "let other users use the mount")
	fs.BoolVar(&o.Debug, "debug", false, "log every FUSE request")
	fs.IntVar(&mo.readyFD, "ready-fd", -1, "internal (--daemon): report the mount's outcome on this descriptor")
	fs.MarkHidden("ready-fd")
	return cmd
}

func runMount(e *env, fs *pflag.FlagSet, mo *mountOptions, mountpoint string) error {
	cf, o := &mo.cf, mo.fuse
	dir, typ, err := fusefs.MountType(mountpoint)
	if err != nil {
		return err
	}
	if typ == fusefs.Type {
		// The kernel would stack a second one on it, hiding the first.
		return fmt.Errorf("%s is already a ferry mount (ferry umount %s first)", dir, dir)
	}
	cfgPath, err := clientenv.ConfigPath(cf.config, os.Getenv)
	if err != nil {
		return err
	}
	if cfgPath, err = filepath.Abs(cfgPath); err != nil {
		return err
	}
	if mo.daemon {
		// The child gets every flag the user set, as parsed, with the
		// paths made absolute (it runs in /).
		var child []string
		fs.Visit(func(f *pflag.Flag) {
			switch f.Name {
			case "daemon", "config", "log", "ready-fd":
			default:
				child = append(child, "--"+f.Name+"="+f.Value.String())
			}
		})
		return detach(e, child, dir, cfgPath, mo.logFile)
	}

	// Foreground (or the detached child): log, mount, serve.
	var logw io.Writer = e.stderr
	if mo.logFile != "" {
		f, err := os.OpenFile(mo.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	o.Log = slog.New(slog.NewTextHandler(logw, nil)).With("cmd", "ferry mount")
	ready := func(error) {}
	if mo.readyFD >= 0 {
		pipe := os.NewFile(uintptr(mo.readyFD), "ready")
		ready = func(err error) {
			msg := "ok"
			if err != nil {
				msg = err.Error()
			}
			fmt.Fprintln(pipe, msg)
			pipe.Close()
		}
	}
	// SIGINT and SIGTERM are caught before the mount appears: a caller
	// that sees the mount and signals at once must get an unmount, not
	// the default action, which left the mount dead (found by the CI:
	// TestMountForeground/SIGTERM). A signal before the mount is up stops
	// the connecting, or unmounts as soon as the mount is up; a second
	// one before then exits at once, as the first used to.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var (
		mu      sync.Mutex
		up      *fusefs.Server
		pending os.Signal
	)
	go func() {
		for sig := range sigs {
			mu.Lock()
			srv := up
			if srv == nil {
				if pending != nil {
					o.Log.Error("interrupted before the mount was up", "signal", sig.String())
					os.Exit(1)
				}
				pending = sig
				cancel()
			}
			mu.Unlock()
			if srv != nil {
				if err := srv.Unmount(); err != nil {
					o.Log.Warn("still mounted", "signal", sig.String(), "err", err)
				}
			}
		}
	}()
	cf.config = cfgPath
	c, err := cf.mount(ctx)
	if err != nil {
		ready(err)
		return err
	}
	defer c.Close()
	o.FsName = "ferry:" + c.Servers()[c.MetaServer()]
	srv, err := fusefs.Mount(c, dir, o)
	if err != nil {
		ready(err)
		return err
	}
	o.Log.Info("mounted", "dir", dir, "config", cfgPath, "data", c.DataPath(0), "pid", os.Getpid())
	ready(nil)
	mu.Lock()
	up = srv
	sig := pending
	mu.Unlock()
	if sig != nil { // signalled while mounting
		if err := srv.Unmount(); err != nil {
			o.Log.Warn("still mounted", "signal", sig.String(), "err", err)
		}
	}
	srv.Wait()
	o.Log.Info("unmounted", "dir", dir)
	return nil
}

// detach starts this command again without --daemon, in its own session,
// and returns once the child reports the mount up (or why it failed).
func detach(e *env, flags []string, dir, cfgPath, logFile string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := append([]string{"mount", "--config", cfgPath, "--ready-fd", "3"}, flags...)
	if logFile != "" {
		if logFile, err = filepath.Abs(logFile); err != nil {
			return err
		}
		child = append(child, "--log", logFile)
	}
	child = append(child, dir)
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, child...)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the mount process: %w", err)
	}
	line, rerr := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	if line != "ok" {
		cmd.Wait()
		if line == "" {
			line = fmt.Sprintf("the mount process exited before mounting (%v); run without --daemon or with --log to see why", rerr)
		}
		return errors.New(line)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	fmt.Fprintf(e.stderr, "ferry mount: %s mounted (pid %d)\n", dir, pid)
	return nil
}

func newUmountCmd(e *env) *cobra.Command {
	return newCommand("umount MOUNTPOINT", "unmount a ferry mount", "Unmounts a ferry mount; its 'ferry mount' process then exits.",
		1, 1, func(_ *cobra.Command, args []string) error { return fusefs.Unmount(args[0]) })
}
