package main

import (
	"context"
	"fmt"
	"path"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func init() { addCommand(newMvCmd) }

func newMvCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("mv [flags] OLD NEW", "rename a file or directory",
		"Renames OLD to NEW within Ferry, as mv(1): a NEW that is a directory gets OLD\nunder its own name, a file at NEW is replaced. A trailing slash on OLD, or on a\nNEW that does not exist, says it is a directory: a file there is an error.",
		2, 2, func(_ *cobra.Command, args []string) error { return runMv(&cf, args) })
	cf.add(cmd.Flags())
	return cmd
}

func runMv(cf *clientFlags, args []string) error {
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	for _, a := range args {
		if strings.TrimPrefix(a, "ferry:") == "" {
			return errEmptyPath
		}
	}
	oldp := nsPath(args[0])
	newp := nsPath(args[1])
	// Into a directory that is there, as mv(1) (rename(2) would replace
	// an empty one, or fail on a file moved onto it).
	if fi, err := c.StatNames(ctx, newp); err == nil && fi.IsDir() && path.Clean(newp) != path.Clean(oldp) {
		newp = path.Join(newp, path.Base(path.Clean(oldp)))
	}
	if strings.HasSuffix(oldp, "/") || strings.HasSuffix(newp, "/") {
		// As rename(2): a trailing slash names a directory, so a file
		// moved to or from such a name is ENOTDIR (it was renamed to
		// the name without the slash).
		fi, err := c.Stat(ctx, oldp)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("rename %s to %s: %w", oldp, newp, syscall.ENOTDIR)
		}
	}
	return c.Rename(ctx, oldp, newp)
}
