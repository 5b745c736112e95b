package main

import (
	"context"
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func init() { addCommand(newChownCmd) }

func newChownCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := newCommand("chown [flags] USER[:GROUP] PATH...", "set the owner and group of paths (USER[:GROUP])",
		"Sets owner and group, by name (looked up on this machine) or number;\n:GROUP alone sets only the group. Only root changes the owner; the owner\nmay change the group to one it is in.",
		2, -1, func(_ *cobra.Command, args []string) error { return runChown(e, &cf, args) })
	cf.add(cmd.Flags())
	return cmd
}

func runChown(e *env, cf *clientFlags, args []string) error {
	uid, gid, err := parseOwner(args[0])
	if err != nil {
		return usageError{err}
	}
	c, err := cf.mount(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return eachPath(e, "chown", args[1:], func(p string) error {
		return c.Chown(context.Background(), p, uid, gid)
	})
}

// parseOwner reads USER, USER:GROUP or :GROUP into ids, -1 for the part
// not given.
func parseOwner(s string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(s, ":")
	uid, gid = -1, -1
	if u == "" && (!hasGroup || g == "") {
		return 0, 0, fmt.Errorf("owner %q: want USER, USER:GROUP or :GROUP", s)
	}
	if u != "" {
		if uid, err = lookupID(u, func(n string) (string, error) {
			usr, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return usr.Uid, nil
		}); err != nil {
			return 0, 0, fmt.Errorf("user %q: %w", u, err)
		}
	}
	if g != "" {
		if gid, err = lookupID(g, func(n string) (string, error) {
			grp, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return grp.Gid, nil
		}); err != nil {
			return 0, 0, fmt.Errorf("group %q: %w", g, err)
		}
	}
	return uid, gid, nil
}

// lookupID takes a number as it is and looks a name up.
func lookupID(s string, lookup func(string) (string, error)) (int, error) {
	id := s
	if _, err := strconv.ParseUint(s, 10, 32); err != nil {
		if id, err = lookup(s); err != nil {
			return 0, err
		}
	}
	v, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, err
	}
	return int(v), nil
}
