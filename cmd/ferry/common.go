package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/proto"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// newCommand makes a subcommand taking between minArgs and maxArgs
// positional arguments (maxArgs < 0: no limit). use is "name ARGS".
func newCommand(use, short, long string, minArgs, maxArgs int, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	if long == "" {
		long = short
	}
	return &cobra.Command{Use: use, Short: short, Long: long, Args: nargs(minArgs, maxArgs), RunE: run}
}

// nargs checks the count of positional arguments; a wrong count is a
// usage error (exit 2).
func nargs(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if n := len(args); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
			return usageError{fmt.Errorf("wrong number of arguments (%d)", n)}
		}
		return nil
	}
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	config   string
	provider string
	strategy string
	timeout  time.Duration // not a flag: a command's own bound on every wait (status --timeout); 0 for the config's
}

func (c *clientFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config `FILE` (default $"+clientenv.Config+", then the first that exists of ./"+config.LocalPath+
		", ~/.config/ferry/ferry.toml and "+config.SystemPath+")")
}

// addData adds the data-path flags.
func (c *clientFlags) addData(fs *pflag.FlagSet) {
	c.add(fs)
	fs.StringVar(&c.provider, "provider", "", "fabric `provider`: auto, none (sockets), shm, tcp, verbs, efa, cxi, ... (default $"+clientenv.Provider+", else auto)")
	fs.StringVar(&c.strategy, "strategy", "", "serving `strategy`: "+strings.Join(proto.StrategyNames(), ", ")+" (default $"+clientenv.Strategy+", else the servers'); one other than auto also turns off local reads ($"+clientenv.LocalReads+")")
}

// mount mounts the file system with the flags, then the environment.
func (c *clientFlags) mount(ctx context.Context) (*clientlib.Client, error) {
	path, err := clientenv.ConfigPath(c.config, os.Getenv)
	if err != nil {
		return nil, err
	}
	opts, err := clientenv.Options(clientlib.Options{Name: "ferry", Provider: c.provider, Strategy: c.strategy, Timeout: c.timeout}, os.Getenv)
	if err != nil {
		return nil, err
	}
	return clientlib.Mount(ctx, path, opts)
}

// sizeValue is a byte-count flag that takes units (64K, 1MiB, 2G) through
// the one parser, internal/units; zero is allowed where it means "default".
type sizeValue struct {
	p      *int64
	zeroOK bool
}

func (s sizeValue) String() string {
	if s.p == nil || *s.p == 0 {
		return "0"
	}
	return strings.ReplaceAll(units.Bytes(*s.p), " ", "")
}

func (s sizeValue) Set(v string) error {
	if s.zeroOK && strings.TrimSpace(v) == "0" {
		*s.p = 0
		return nil
	}
	n, err := units.Parse(v)
	if err != nil {
		return err
	}
	*s.p = n
	return nil
}

func (sizeValue) Type() string { return "size" }

// sizeVar defines a size flag stored in p; zeroOK lets 0 through.
func sizeVar(fs *pflag.FlagSet, p *int64, name string, def int64, zeroOK bool, usage string) {
	*p = def
	fs.Var(sizeValue{p: p, zeroOK: zeroOK}, name, usage)
}

// ferryPath strips the ferry: prefix and roots the rest (ferry:x is /x);
// ok is false for a local path, returned as it is.
func ferryPath(s string) (string, bool) {
	if p, ok := strings.CutPrefix(s, "ferry:"); ok {
		return rooted(p), true
	}
	return s, false
}

// nsPath is an argument of a command that takes only Ferry paths: an
// optional ferry: prefix, and a path taken from the root when relative
// (Ferry has no current directory).
func nsPath(s string) string {
	return rooted(strings.TrimPrefix(s, "ferry:"))
}

// eachPath runs do for every Ferry path argument, as coreutils do: an
// error is printed ("ferry rm: ...") and the next argument is tried, and
// the command then exits 1. An empty argument is an error, never the
// root (an unset variable in a script must not name the whole tree).
func eachPath(e *env, cmd string, args []string, do func(p string) error) error {
	failed := false
	for _, a := range args {
		err := errEmptyPath
		if strings.TrimPrefix(a, "ferry:") != "" {
			err = do(nsPath(a))
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "ferry %s: %s\n", cmd, strings.TrimPrefix(err.Error(), "ferry: "))
			failed = true
		}
	}
	if failed {
		return exitCode(1)
	}
	return nil
}

var errEmptyPath = fmt.Errorf("empty path: %w", fs.ErrNotExist)

func rooted(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}
