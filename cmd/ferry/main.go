// Command ferry is Ferry's command-line client and operator tool.
//
//	ferry genconfig --servers HOST:PORT,... --storage DIR [--strip-size S]
//	ferry local up [--servers 4] [--dir .ferry-local] | ferry local down [--dir DIR]
//	ferry status | df | ping | ls | stat | mkdir | rm | mv | cat | cp
//	ferry mount [--daemon] MOUNTPOINT | ferry umount MOUNTPOINT
//	ferry completion bash|zsh|fish|powershell
//
// Client commands find the config in --config, then $FERRY_CONFIG, then
// ./.ferry-local/ferry.toml, ~/.config/ferry/ferry.toml and
// /etc/ferry/ferry.toml (a client file or a full config). Paths inside
// Ferry are absolute; `cp` marks them with a ferry: prefix (ferry:/dir/file).
//
// Each command lives in its own file and registers a constructor with
// addCommand from that file's init.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// env is what a subcommand reads and writes; tests swap it.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	isTerminal     bool
}

// commandMakers build the subcommands for one run; a constructor (not a
// ready command) because a command's flags bind to variables of one run.
var commandMakers []func(e *env) *cobra.Command

// addCommand registers a subcommand's constructor; call it from init.
func addCommand(mk func(e *env) *cobra.Command) { commandMakers = append(commandMakers, mk) }

// usageError makes the command exit 2 and point at its --help.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// exitCode ends the command with a status and no message.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// exitWith ends the command with err's message and status code.
type exitWith struct {
	code int
	err  error
}

func (e exitWith) Error() string { return e.err.Error() }
func (e exitWith) Unwrap() error { return e.err }

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, isTerminal: isTerminal(os.Stderr)}
	os.Exit(runMain(e, os.Args[1:]))
}

// newRoot builds the command tree writing to e.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Ferry's command-line client and operator tool",
		Long: `Ferry's command-line client and operator tool.

Client commands find the config in --config, then $FERRY_CONFIG, then
./.ferry-local/ferry.toml, ~/.config/ferry/ferry.toml and
/etc/ferry/ferry.toml (a client file or a full config). Paths inside Ferry
are absolute; cp marks them with a ferry: prefix (ferry:/dir/file).`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		// Runs only when no subcommand matched.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				cmd.Help()
				return exitCode(2)
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageError{errors.New(msg)}
		},
	}
	root.SuggestionsMinimumDistance = 2 // SuggestionsFor alone leaves it 0: prefixes only
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetIn(e.stdin)
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, mk := range commandMakers {
		root.AddCommand(mk(e))
	}
	return root
}

func runMain(e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	if cmd == nil {
		cmd = root
	}
	// Library errors start with "ferry: "; say which command instead, once.
	name := cmd.CommandPath()
	fmt.Fprintf(e.stderr, "%s: %s\n", name, strings.TrimPrefix(err.Error(), "ferry: "))
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", name)
		return 2
	}
	var ew exitWith
	if errors.As(err, &ew) {
		return ew.code
	}
	return 1
}

// normalizeArgs keeps the Go flag package's spellings working: a long
// flag with one dash (-config FILE) and a one-letter flag with two
// (--p). Arguments after "--" are left alone.
func normalizeArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		switch {
		case strings.HasPrefix(a, "--") && len(a) >= 3:
			if name, _, _ := strings.Cut(a[2:], "="); len(name) == 1 {
				a = a[1:]
			}
		case strings.HasPrefix(a, "-") && len(a) >= 3:
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 && long[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
