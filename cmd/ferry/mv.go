package main

import (
	"context"

	"github.com/spf13/cobra"
)

func init() { addCommand(newMvCmd) }

func newMvCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("mv [flags] OLD NEW", "rename a file or directory", "Renames OLD to NEW within Ferry; a file at NEW is replaced.",
		2, 2, func(_ *cobra.Command, args []string) error { return runMv(&cf, args) })
	cf.add(cmd.Flags())
	return cmd
}

func runMv(cf *clientFlags, args []string) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	oldp := nsPath(args[0])
	newp := nsPath(args[1])
	return c.Rename(ctx, oldp, newp)
}
