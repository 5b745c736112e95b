package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"
)

func init() { addCommand(newRmCmd) }

func newRmCmd(e *env) *cobra.Command {
	var cf clientFlags
	var recursive, force bool
	cmd := newCommand("rm [flags] PATH...", "remove files, empty directories, or trees with -r",
		"Removes files (and their datafiles on every server) or empty directories. The root and\nan empty argument are refused; a path that fails is reported and the rest go on (exit 1),\nas does an entry of a tree with -r. A server that is down keeps its datafiles of the\nremoved files (ferry fsck --repair removes them later).",
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
	// rmTree removes dir's entries, then dir. An entry that fails is
	// reported and the rest go on, as with rm(1); the directory then
	// stays (not empty), and the error that says so is the tree's.
	// Types come from the listing: no file's size is asked, so a data
	// server that is down costs only the datafiles it holds (fsck).
	var rmTree func(dir string) error
	rmTree = func(dir string) error {
		ents, err := c.ReadDir(ctx, dir)
		if err != nil {
			return err
		}
		for _, de := range ents {
			p := path.Join(dir, de.Name)
			if de.IsDir {
				err = rmTree(p)
			} else {
				err = c.Unlink(ctx, p)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(e.stderr, "ferry rm: %s\n", strings.TrimPrefix(err.Error(), "ferry: "))
			}
		}
		return c.Remove(ctx, dir)
	}
	rm := func(p string) error {
		if recursive {
			fi, err := c.StatNames(ctx, p)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				return rmTree(p)
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
