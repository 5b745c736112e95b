package main

import (
	"context"
	"fmt"
	"path"
	"text/tabwriter"
)

func init() {
	register("ls", "list a directory (default /)", runLs)
}

func runLs(e *env, args []string) error {
	fs := newFlags(e, "ls", "[PATH]", "Lists a directory of Ferry's namespace; -l adds mode, size and time.")
	var cf clientFlags
	cf.add(fs)
	long := fs.Bool("l", false, "long listing: mode, size, modification time")
	if err := parse(fs, args, 0, 1); err != nil {
		return err
	}
	p := "/"
	if fs.NArg() == 1 {
		p, _ = ferryPath(fs.Arg(0))
	}
	ctx := context.Background()
	c, err := cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	fi, err := c.Stat(ctx, p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		fmt.Fprintln(e.stdout, fi.Path())
		return nil
	}
	ents, err := c.ReadDir(ctx, p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', tabwriter.AlignRight)
	for _, de := range ents {
		name := de.Name
		if de.IsDir {
			name += "/"
		}
		if !*long {
			fmt.Fprintln(e.stdout, name)
			continue
		}
		st, err := c.Stat(ctx, path.Join(fi.Path(), de.Name))
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t %s\t %s\t\n", st.Mode(), st.Size(), st.ModTime().Format("2006-01-02 15:04"), name)
	}
	return tw.Flush()
}
