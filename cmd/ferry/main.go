// Command ferry is Ferry's command-line client and operator tool.
//
//	ferry genconfig --servers HOST:PORT,... --storage DIR [--strip-size S]
//	ferry local up [--servers 4] [--dir .ferry-local] | ferry local down [--dir DIR]
//	ferry ping | ls | stat | mkdir | rm | mv | cat | cp
//	ferry mount [--daemon] MOUNTPOINT | ferry umount MOUNTPOINT
//
// Client commands find the config in --config, then $FERRY_CONFIG, then
// ./.ferry-local/ferry.toml. Paths inside Ferry are absolute; `cp` marks
// them with a ferry: prefix (ferry:/dir/file).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(env *env, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(*env, []string) error) {
	commands[name] = command{summary: summary, run: run}
}

// env is what a subcommand writes to; tests swap it.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	isTerminal     bool
}

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, isTerminal: isTerminal(os.Stderr)}
	os.Exit(runMain(e, os.Args[1:]))
}

func runMain(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "ferry: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	if err := cmd.run(e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(e.stderr, "ferry "+args[0]+":", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ferry COMMAND [flags] [args]\n\nCommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `ferry COMMAND --help` for a command's flags.")
	fmt.Fprintln(w, "Client commands find the config in --config, then $FERRY_CONFIG, then ./.ferry-local/ferry.toml.")
}
