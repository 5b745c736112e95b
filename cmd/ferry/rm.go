package main

import (
	"context"
	"errors"
	"io/fs"
	"path"
)

func init() {
	register("rm", "remove files, empty directories, or trees with -r", runRm)
}

func runRm(e *env, args []string) error {
	flags := newFlags(e, "rm", "PATH...", "Removes files (and their datafiles on every server) or empty directories.")
	var cf clientFlags
	cf.add(flags)
	recursive := flags.Bool("r", false, "remove directories and their contents")
	force := flags.Bool("f", false, "ignore missing paths")
	c, err := cf.start(flags, args, 1, -1)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	var rm func(p string) error
	rm = func(p string) error {
		if *recursive {
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
	for _, a := range flags.Args() {
		p, _ := ferryPath(a)
		if err := rm(p); err != nil {
			if *force && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
	}
	return nil
}
