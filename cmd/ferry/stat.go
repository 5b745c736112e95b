package main

import (
	"context"
	"fmt"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/proto"
)

func init() { addCommand(newStatCmd) }

func newStatCmd(e *env) *cobra.Command {
	var cf clientFlags
	var server int
	cmd := newCommand("stat [flags] PATH | stat --server N", "show a path's attributes and layout, or a server's counters",
		"Shows a file's size, mode, times and striping layout, or with --server N that server's counters.",
		0, 1, func(_ *cobra.Command, args []string) error { return runStat(e, &cf, &server, args) })
	cf.addData(cmd.Flags())
	cmd.Flags().IntVar(&server, "server", -1, "show the counters of server `N` instead of a path")
	return cmd
}

func runStat(e *env, cf *clientFlags, server *int, args []string) error {
	if *server >= 0 && len(args) > 0 {
		return usageError{fmt.Errorf("give a PATH or --server N, not both")}
	}
	if *server < 0 && len(args) != 1 {
		return usageError{fmt.Errorf("give a PATH or --server N")}
	}
	ctx := context.Background()
	c, err := cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if *server >= 0 {
		st, err := c.ServerStats(ctx, *server)
		if err != nil {
			return err
		}
		var names []string
		for n := range st {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(e.stdout, "server %d (%s)\n", *server, c.Servers()[*server])
		for _, n := range names {
			fmt.Fprintf(e.stdout, "  %-32s %d\n", n, st[n])
		}
		return nil
	}
	p := nsPath(args[0])
	fi, err := c.Stat(ctx, p)
	if err != nil {
		return err
	}
	kind := "file"
	if fi.IsDir() {
		kind = "directory"
	}
	fmt.Fprintf(e.stdout, "  path: %s\n  type: %s\n  mode: %04o (%s)\n", fi.Path(), kind, fi.Sys().(*proto.Attr).Mode&0o7777, lsMode(fi.Mode()))
	fmt.Fprintf(e.stdout, " owner: %s\n group: %s\n", idName(fi.UID(), false), idName(fi.GID(), true))
	fmt.Fprintf(e.stdout, " mtime: %s\n ctime: %s\n", fi.ModTime().Format(time.RFC3339Nano), fi.Ctime().Format(time.RFC3339Nano))
	if fi.IsDir() {
		return nil
	}
	l := fi.Layout()
	fmt.Fprintf(e.stdout, "  size: %d (%s)\nhandle: %s\n", fi.Size(), units.Bytes(fi.Size()), fi.Handle())
	fmt.Fprintf(e.stdout, "layout: strip %s over %d of %d servers:", units.Bytes(l.StripSize), l.Count, l.Total)
	for j := 0; j < l.Count; j++ {
		fmt.Fprintf(e.stdout, " %d", l.Server(j))
	}
	fmt.Fprintln(e.stdout)
	// The file's servers grouped by how bytes move to and from each.
	byPath := func(label string, path func(id int) string) {
		servers := map[string][]string{}
		var order []string
		for j := 0; j < l.Count; j++ {
			p := path(l.Server(j))
			if servers[p] == nil {
				order = append(order, p)
			}
			servers[p] = append(servers[p], fmt.Sprint(l.Server(j)))
		}
		for _, p := range order {
			fmt.Fprintf(e.stdout, "%6s: %s (servers %s)\n", label, p, strings.Join(servers[p], " "))
		}
	}
	byPath("data", c.DataPath)
	byPath("reads", c.ReadPath)
	// What each server holds: the length of its datafile.
	f, err := c.Open(ctx, fi.Path())
	if err != nil {
		return err
	}
	defer f.Close()
	sizes, err := f.ServerSizes(ctx)
	if err != nil {
		return err
	}
	addrs := c.Servers()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "strips:\tSERVER\tADDRESS\tBYTES")
	for j := 0; j < l.Count; j++ {
		id := l.Server(j)
		fmt.Fprintf(tw, "\t%d\t%s\t%d (%s)\n", id, addrs[id], sizes[id], units.Bytes(sizes[id]))
	}
	return tw.Flush()
}

// idName is "NAME (ID)" with the name this machine knows for the id, or
// just the id.
func idName(id uint32, group bool) string {
	n := strconv.FormatUint(uint64(id), 10)
	if group {
		if g, err := user.LookupGroupId(n); err == nil {
			return g.Name + " (" + n + ")"
		}
	} else if u, err := user.LookupId(n); err == nil {
		return u.Username + " (" + n + ")"
	}
	return n
}
