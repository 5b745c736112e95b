package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/fsck"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newFsckCmd) }

func newFsckCmd(e *env) *cobra.Command {
	var cf clientFlags
	var repair bool
	cmd := newCommand("fsck [flags]", "check datafiles against the namespace; --repair removes orphans",
		"Checks every server's datafiles against the namespace and reports orphans (datafiles no\n"+
			"name refers to), missing datafiles (a file's size says a server holds bytes it has no datafile for)\n"+
			"and datafiles that do not fit their layout. Read-only unless --repair, which removes orphans and\n"+
			"datafiles on servers their layout does not span. Every server must be up, and the caller root.\n"+
			"Exits 0 when the file system is clean, 1 when problems remain, 3 when it could not be checked.",
		0, 0, func(*cobra.Command, []string) error { return runFsck(e, &cf, repair) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVar(&repair, "repair", false, "remove orphans and datafiles on servers their layout does not span")
	return cmd
}

func runFsck(e *env, cf *clientFlags, repair bool) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return exitWith{3, err}
	}
	defer c.Close()
	rep, err := fsck.Check(context.Background(), c, fsck.Options{Repair: repair})
	if err != nil {
		return exitWith{3, err} // not "problems found": nothing was checked
	}
	removed := map[fsck.Datafile]bool{}
	for _, d := range rep.Removed {
		removed[d] = true
	}
	mark := func(d fsck.Datafile) string {
		if removed[d] {
			return " (removed)"
		}
		return ""
	}
	for _, o := range rep.Orphans {
		fmt.Fprintf(e.stdout, "orphan: datafile %s on server %d, %s%s\n", o.Handle, o.Server, units.Bytes(o.Size), mark(o))
	}
	for _, m := range rep.Misfits {
		fmt.Fprintf(e.stdout, "misfit: %s: datafile %s %s%s\n", m.Path, m.Handle, m.Why, mark(m.Datafile))
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(e.stdout, "missing: %s: server %d has no datafile of %s, its size says %s there (reads as zeros)\n",
			m.Path, m.Server, m.Handle, units.Bytes(m.Want))
	}
	for _, err := range rep.RepairErrors {
		fmt.Fprintln(e.stderr, "ferry fsck: repair:", err)
	}
	fmt.Fprintf(e.stdout, "%d servers, %d files, %d datafiles: %d orphans, %d missing, %d misfits; %d removed\n",
		rep.Servers, rep.Files, rep.Datafiles, len(rep.Orphans), len(rep.Missing), len(rep.Misfits), len(rep.Removed))
	if n := rep.Unrepaired(); n > 0 {
		if repair {
			fmt.Fprintf(e.stderr, "ferry fsck: %d problems not repaired\n", n)
		} else {
			fmt.Fprintf(e.stderr, "ferry fsck: %d problems found (read-only: --repair removes orphans and misplaced datafiles)\n", n)
		}
		return exitCode(1)
	}
	return nil
}
