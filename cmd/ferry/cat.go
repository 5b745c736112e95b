package main

import (
	"context"
	"io"
)

func init() {
	register("cat", "write files to standard output", runCat)
}

func runCat(e *env, args []string) error {
	fs := newFlags(e, "cat", "PATH...", "Writes Ferry files to standard output.")
	var cf clientFlags
	cf.add(fs)
	c, err := cf.start(fs, args, 1, -1)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	for _, a := range fs.Args() {
		p, _ := ferryPath(a)
		f, err := c.Open(ctx, p)
		if err != nil {
			return err
		}
		size, err := f.Size(ctx)
		if err != nil {
			return err
		}
		if _, err := io.Copy(e.stdout, io.NewSectionReader(f, 0, size)); err != nil {
			return err
		}
	}
	return nil
}
