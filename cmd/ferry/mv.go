package main

import "context"

func init() {
	register("mv", "rename a file or directory", runMv)
}

func runMv(e *env, args []string) error {
	fs := newFlags(e, "mv", "OLD NEW", "Renames OLD to NEW within Ferry; a file at NEW is replaced.")
	var cf clientFlags
	cf.add(fs)
	c, err := cf.start(fs, args, 2, 2)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	oldp, _ := ferryPath(fs.Arg(0))
	newp, _ := ferryPath(fs.Arg(1))
	return c.Rename(ctx, oldp, newp)
}
