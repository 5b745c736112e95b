package main

import (
	"context"
)

func init() {
	register("mkdir", "make directories (-p: with parents)", runMkdir)
}

func runMkdir(e *env, args []string) error {
	fs := newFlags(e, "mkdir", "PATH...", "Makes directories in Ferry's namespace.")
	var cf clientFlags
	cf.add(fs)
	parents := fs.Bool("p", false, "make parents as needed; no error if the directory exists")
	c, err := cf.start(fs, args, 1, -1)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	for _, a := range fs.Args() {
		p, _ := ferryPath(a)
		if *parents {
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
