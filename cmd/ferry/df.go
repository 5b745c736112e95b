package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newDfCmd) }

func newDfCmd(e *env) *cobra.Command {
	var cf clientFlags
	var asJSON, bytes bool
	cmd := newCommand("df [flags]", "show size, used and available space per server and in total",
		`Shows each server's storage (size, used, available, use%) and the file
system's total, as lfs df does. Servers whose storage shares one file
system (a local test cluster) are each counted in the total. Exits 1 when
a server does not answer.`,
		0, 0, func(*cobra.Command, []string) error { return runDf(e, &cf, asJSON, bytes) })
	cf.add(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&bytes, "bytes", "b", false, "print sizes in bytes, not KiB/MiB/GiB")
	return cmd
}

type dfRow struct {
	Server  string `json:"server"` // the id, or "total"
	Address string `json:"address,omitempty"`
	Size    uint64 `json:"size_bytes"`
	Used    uint64 `json:"used_bytes"`
	Avail   uint64 `json:"avail_bytes"`
	Error   string `json:"error,omitempty"`
}

func runDf(e *env, cf *clientFlags, asJSON, bytes bool) error {
	ctx := context.Background()
	c, addrs, _, err := fsClient(ctx, cf)
	if c == nil {
		return err
	}
	defer c.Close()
	rows := make([]dfRow, 0, len(addrs)+1)
	total := dfRow{Server: "total"}
	down := 0
	for i, a := range addrs {
		r := dfRow{Server: fmt.Sprint(i), Address: a}
		if st, err := c.ServerStatfs(ctx, i); err != nil {
			r.Error = strings.TrimPrefix(err.Error(), "ferry: ")
			down++
		} else {
			r.Size, r.Used, r.Avail = st.Bytes, st.Bytes-st.Free, st.Avail
			total.Size += r.Size
			total.Used += r.Used
			total.Avail += r.Avail
		}
		rows = append(rows, r)
	}
	rows = append(rows, total)
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		size := func(n uint64) string {
			if bytes {
				return fmt.Sprint(n)
			}
			return units.Bytes(int64(n))
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "SERVER\tADDRESS\tSIZE\tUSED\tAVAIL\tUSE%\t")
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t\n", r.Server, r.Address)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Server, r.Address, size(r.Size), size(r.Used), size(r.Avail), usePercent(r.Used, r.Avail))
		}
		tw.Flush()
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(e.stdout, "server %s: %s\n", r.Server, r.Error)
			}
		}
	}
	if down > 0 {
		if asJSON {
			return exitCode(1)
		}
		return fmt.Errorf("%d of %d servers did not answer; the total counts the others", down, len(addrs))
	}
	return nil
}
