package main

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/spf13/cobra"
)

func init() { addCommand(newChmodCmd) }

func newChmodCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("chmod [flags] MODE PATH...", "set the permission bits of paths (octal MODE)",
		"Sets permission bits, given in octal (0640, 1777 ...), with setuid (4000),\nsetgid (2000) and sticky (1000). Only the owner or root may.",
		2, -1, func(_ *cobra.Command, args []string) error { return runChmod(e, &cf, args) })
	cf.add(cmd.Flags())
	return cmd
}

func runChmod(e *env, cf *clientFlags, args []string) error {
	mode, err := parseMode(args[0])
	if err != nil {
		return usageError{err}
	}
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return eachPath(e, "chmod", args[1:], func(p string) error {
		return c.Chmod(context.Background(), p, mode)
	})
}

// parseMode reads an octal mode of at most 07777.
func parseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("mode %q: want octal permission bits, at most 7777", s)
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}
