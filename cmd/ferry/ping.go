package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/verbs"
)

func init() { addCommand(newPingCmd) }

func newPingCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("ping [flags]", "check that every server answers, with round-trip times",
		"Sends a hello to every server of the file system and prints what each said.",
		0, 0, func(*cobra.Command, []string) error { return runPing(e, &cf) })
	cf.addData(cmd.Flags())
	return cmd
}

func runPing(e *env, cf *clientFlags) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tADDRESS\tRTT\tROLE\tSTRATEGY\tDATA PATH\tREADS\tFABRICS OFFERED")
	var failed int
	for i, addr := range c.Servers() {
		h, rtt, err := c.Ping(ctx, i)
		if err != nil {
			failed++
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\tDOWN: %s\t-\t-\n", i, addr, strings.TrimPrefix(err.Error(), "ferry: "))
			continue
		}
		role := "data"
		if i == c.MetaServer() {
			role = "data+metadata"
		}
		var offers []string
		for _, f := range h.Fabrics {
			if verbs.HostLocal(f.Provider) {
				offers = append(offers, f.Provider)
			} else {
				offers = append(offers, f.Provider+"@"+verbs.AddressString(f.Provider, f.Addr))
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", i, addr, rtt.Round(1000), role, h.Strategy,
			c.DataPath(i), c.ReadPath(i), strings.Join(offers, ","))
	}
	tw.Flush()
	if info := c.FabricInfo(); info != "" {
		fmt.Fprintf(e.stdout, "client fabric: %s\n", info)
	} else {
		fmt.Fprintf(e.stdout, "client fabric: none (%s)\n", c.DataPath(-1))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d servers did not answer", failed, len(c.Servers()))
	}
	return nil
}
