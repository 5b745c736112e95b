package main

import (
	"context"
	"fmt"
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
	if !long {
		ents, err := c.ReadDir(ctx, p)
		if err != nil {
			return err
		}
		for _, de := range ents {
			if de.IsDir {
				fmt.Fprintln(e.stdout, de.Name+"/")
			} else {
				fmt.Fprintln(e.stdout, de.Name)
			}
		}
		return nil
	}
	// A data server that is down costs the sizes of the files it holds
	// strips of, not the listing: those show "?", and ls exits 1.
	infos, err := c.ReadDirPlusPartial(ctx, p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', tabwriter.AlignRight)
	var unknown int
	var why error
	for _, st := range infos {
		name, size := st.Name(), fmt.Sprint(st.Size())
		if st.IsDir() {
			name += "/"
		}
		if err := st.SizeErr(); err != nil {
			size = "?"
			unknown++
			if why == nil {
				why = err
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t %s\t %s\t\n", st.Mode(), size, st.ModTime().Format("2006-01-02 15:04"), name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unknown > 0 {
		return fmt.Errorf("sizes of %d of %d entries unknown (shown as ?): %w", unknown, len(infos), why)
	}
	return nil
}
