package main

import (
	"context"

	"github.com/spf13/cobra"
)

func init() { addCommand(newMkdirCmd) }

func newMkdirCmd(e *env) *cobra.Command {
	var cf clientFlags
	var parents bool
	cmd := newCommand("mkdir [flags] PATH...", "make directories (-p: with parents)", "Makes directories in Ferry's namespace.",
		1, -1, func(_ *cobra.Command, args []string) error { return runMkdir(e, &cf, parents, args) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "make parents as needed; no error if the directory exists")
	return cmd
}

func runMkdir(e *env, cf *clientFlags, parents bool, args []string) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	for _, a := range args {
		p := nsPath(a)
		if parents {
			err = c.MkdirAll(ctx, p, 0o755)
		} else {
			err = c.Mkdir(ctx, p, 0o755)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
