// ferry-plot draws the PNG plots of a `ferry bench` results directory
// from its results.csv, writes them beside it and prints their names.
// `ferry bench` runs it when it finds it beside itself or on PATH; it is a
// program of its own so the ferry CLI does not link the plotting library.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ferry-hpc/ferry/bench"
	"github.com/ferry-hpc/ferry/bench/plot"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-plot:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ferry-plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ferry-plot DIR\n\nReads DIR/results.csv (written by `ferry bench`), writes the PNG plots into DIR\nand prints their file names, one a line.")
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // asked for: the usage went to stderr, exit 0
	} else if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one results directory")
	}
	dir := fs.Arg(0)
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := bench.ReadCSV(f)
	if err != nil {
		return err
	}
	names, err := plot.Write(r, dir)
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return err
}
