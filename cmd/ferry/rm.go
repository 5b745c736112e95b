package main

import (
	"context"
	"errors"
	"io/fs"
	"path"

	"github.com/spf13/cobra"
)

func init() { addCommand(newRmCmd) }

func newRmCmd(e *env) *cobra.Command {
	var cf clientFlags
	var recursive, force bool
	cmd := newCommand("rm [flags] PATH...", "remove files, empty directories, or trees with -r",
		"Removes files (and their datafiles on every server) or empty directories.",
		1, -1, func(_ *cobra.Command, args []string) error { return runRm(&cf, recursive, force, args) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove directories and their contents")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "ignore missing paths")
	return cmd
}

func runRm(cf *clientFlags, recursive, force bool, args []string) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	var rm func(p string) error
	rm = func(p string) error {
		if recursive {
			fi, err := c.Stat(ctx, p)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				ents, err := c.ReadDir(ctx, p)
				if err != nil {
					return err
				}
				for _, de := range ents {
					if err := rm(path.Join(p, de.Name)); err != nil {
						return err
					}
				}
			}
		}
		return c.Remove(ctx, p)
	}
	for _, a := range args {
		p := nsPath(a)
		if err := rm(p); err != nil {
			if force && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
	}
	return nil
}
