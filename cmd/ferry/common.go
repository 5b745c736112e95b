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
	data     bool // the command moves file data: offer --provider/--strategy
}

func (c *clientFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (default $FERRY_CONFIG, then ./.ferry-local/ferry.toml)")
}

// addData adds the data-path flags.
func (c *clientFlags) addData(fs *flag.FlagSet) {
	c.add(fs)
	fs.StringVar(&c.provider, "provider", "", "fabric provider: auto, none (sockets), shm, tcp, verbs, efa, cxi, ... (default $FERRY_PROVIDER, else auto)")
	fs.StringVar(&c.strategy, "strategy", "", "serving strategy: auto, copy, pipeline, sendfile, sockets (default $FERRY_STRATEGY, else the servers')")
}

func (c *clientFlags) mount(ctx context.Context) (*clientlib.Client, error) {
	path, err := config.Find(c.config)
	if err != nil {
		return nil, err
	}
	return clientlib.Mount(ctx, path, clientlib.Options{Name: "ferry", Provider: c.provider, Strategy: c.strategy})
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
