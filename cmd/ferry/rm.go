package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/spf13/cobra"
)

func init() { addCommand(newRmCmd) }

func newRmCmd(e *env) *cobra.Command {
	var cf clientFlags
	var recursive, force bool
	cmd := newCommand("rm [flags] PATH...", "remove files, empty directories, or trees with -r",
		"Removes files (and their datafiles on every server) or empty directories. The root and\nan empty argument are refused; a path that fails is reported and the rest go on (exit 1).",
		1, -1, func(_ *cobra.Command, args []string) error { return runRm(e, &cf, recursive, force, args) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove directories and their contents")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "ignore missing paths")
	return cmd
}

func runRm(e *env, cf *clientFlags, recursive, force bool, args []string) error {
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
	return eachPath(e, "rm", args, func(p string) error {
		if path.Clean(p) == "/" {
			// Refused before anything is removed, as rm's
			// --preserve-root does: the server would refuse only the
			// root itself, after the walk had emptied it.
			return fmt.Errorf("refusing to remove the root (/): %w", fs.ErrPermission)
		}
		err := rm(p)
		if force && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}
