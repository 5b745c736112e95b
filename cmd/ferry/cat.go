package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func init() { addCommand(newCatCmd) }

func newCatCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("cat [flags] PATH...", "write files to standard output", "Writes Ferry files to standard output.",
		1, -1, func(_ *cobra.Command, args []string) error { return runCat(e, &cf, args) })
	cf.add(cmd.Flags())
	return cmd
}

func runCat(e *env, cf *clientFlags, args []string) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	return eachPath(e, "cat", args, func(p string) error {
		f, err := c.Open(ctx, p)
		if err != nil {
			return err
		}
		defer f.Close()
		size, err := f.Size(ctx)
		if err != nil {
			return err
		}
		_, err = io.Copy(e.stdout, io.NewSectionReader(f, 0, size))
		return err
	})
}
