package main

import (
	"context"
	"fmt"
	"path"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { addCommand(newLsCmd) }

func newLsCmd(e *env) *cobra.Command {
	var cf clientFlags
	var long bool
	cmd := newCommand("ls [flags] [PATH]", "list a directory (default /)",
		"Lists a directory of Ferry's namespace; -l adds mode, size and time.",
		0, 1, func(_ *cobra.Command, args []string) error { return runLs(e, &cf, long, args) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVarP(&long, "long", "l", false, "long listing: mode, size, modification time")
	return cmd
}

func runLs(e *env, cf *clientFlags, long bool, args []string) error {
	p := "/"
	if len(args) == 1 {
		p, _ = ferryPath(args[0])
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
		if !long {
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
