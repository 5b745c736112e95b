package main

import "context"

func init() {
	register("mv", "rename a file or directory", runMv)
}

func runMv(e *env, args []string) error {
	fs := newFlags(e, "mv", "OLD NEW", "Renames OLD to NEW within Ferry; a file at NEW is replaced.")
	var cf clientFlags
	cf.add(fs)
	if err := parse(fs, args, 2, 2); err != nil {
		return err
	}
	ctx := context.Background()
	c, err := cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	oldp, _ := ferryPath(fs.Arg(0))
	newp, _ := ferryPath(fs.Arg(1))
	return c.Rename(ctx, oldp, newp)
}
