package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/proto"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// flags makes a flag set whose errors and help go to e.stderr.
func newFlags(e *env, name, argsUsage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ferry %s [flags] %s\n\n%s\n", name, argsUsage, help)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	config   string
	provider string
	strategy string
}

func (c *clientFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (default $"+clientenv.Config+", then ./"+config.LocalPath+")")
}

// addData adds the data-path flags.
func (c *clientFlags) addData(fs *flag.FlagSet) {
	c.add(fs)
	fs.StringVar(&c.provider, "provider", "", "fabric provider: auto, none (sockets), shm, tcp, verbs, efa, cxi, ... (default $"+clientenv.Provider+", else auto)")
	fs.StringVar(&c.strategy, "strategy", "", "serving strategy: "+strings.Join(proto.StrategyNames(), ", ")+" (default $"+clientenv.Strategy+", else the servers')")
}

// mount mounts the file system with the flags, then the environment.
func (c *clientFlags) mount(ctx context.Context) (*clientlib.Client, error) {
	path, err := clientenv.ConfigPath(c.config, os.Getenv)
	if err != nil {
		return nil, err
	}
	opts, err := clientenv.Options(clientlib.Options{Name: "ferry", Provider: c.provider, Strategy: c.strategy}, os.Getenv)
	if err != nil {
		return nil, err
	}
	return clientlib.Mount(ctx, path, opts)
}

// start parses a client command's flags and mounts the file system.
func (c *clientFlags) start(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (*clientlib.Client, error) {
	if err := parse(fs, args, minArgs, maxArgs); err != nil {
		return nil, err
	}
	return c.mount(context.Background())
}

// parse parses flags and checks the count of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	n := fs.NArg()
	if n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fs.Usage()
		return usageError{fmt.Errorf("wrong number of arguments (%d)", n)}
	}
	return nil
}

// ferryPath strips the ferry: prefix; ok is false for a local path.
func ferryPath(s string) (string, bool) {
	if strings.HasPrefix(s, "ferry:") {
		return strings.TrimPrefix(s, "ferry:"), true
	}
	return s, false
}
