package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/clientlib"
)

func init() { addCommand(newMkdirCmd) }

func newMkdirCmd(e *env) *cobra.Command {
	var cf clientFlags
	var parents bool
	var mode string
	cmd := newCommand("mkdir [flags] PATH...", "make directories (-p: with parents)", "Makes directories in Ferry's namespace.",
		1, -1, func(_ *cobra.Command, args []string) error { return runMkdir(e, &cf, parents, mode, args) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "make parents as needed; no error if the directory exists")
	cmd.Flags().StringVarP(&mode, "mode", "m", "755", "permission bits of the new directories in octal `MODE` (parents made by -p too)")
	return cmd
}

func runMkdir(e *env, cf *clientFlags, parents bool, modeArg string, args []string) error {
	mode, err := parseMode(modeArg)
	if err != nil {
		return usageError{err}
	}
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	return eachPath(e, "mkdir", args, func(p string) error {
		if parents {
			return c.MkdirAll(ctx, p, mode)
		}
		_, err := c.MkdirAs(ctx, p, mode, clientlib.ProcessOwner())
		return err
	})
}
