package main

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newLsCmd) }

type lsOptions struct {
	cf          clientFlags
	long, human bool
}

func newLsCmd(e *env) *cobra.Command {
	var o lsOptions
	cmd := newCommand("ls [flags] [PATH]", "list a directory (default /)",
		`Lists a directory of Ferry's namespace, or names a file; -l adds mode,
owner, group, size and modification time, -h sizes in KiB, MiB, GiB.
A PATH without a leading / is taken from the root. Without -l only the
metadata server is asked. A name holding a control character or bytes
that are not UTF-8 is printed quoted, with escapes ("a\nb").`,
		0, 1, func(_ *cobra.Command, args []string) error { return runLs(e, &o, args) })
	fl := cmd.Flags()
	o.cf.add(fl)
	fl.BoolVarP(&o.long, "long", "l", false, "long listing: mode, owner, group, size, modification time")
	fl.BoolVarP(&o.human, "human-readable", "h", false, "with -l, sizes in KiB, MiB, GiB")
	// -h is ls's human-readable flag, as in ls(1); help stays --help.
	fl.Bool("help", false, "help for ls")
	return cmd
}

func runLs(e *env, o *lsOptions, args []string) error {
	p := "/"
	if len(args) == 1 {
		p = nsPath(args[0])
	}
	ctx := context.Background()
	c, err := o.cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if !o.long {
		return lsNames(ctx, e, c, p)
	}
	fi, err := c.Stat(ctx, p)
	if err != nil {
		return err
	}
	var infos []*clientlib.FileInfo
	if fi.IsDir() {
		// A data server that is down costs the sizes of the files it
		// holds strips of, not the listing: those show "?", and ls
		// exits 1.
		if infos, err = c.ReadDirPlusPartial(ctx, p); err != nil {
			return err
		}
	} else {
		infos = []*clientlib.FileInfo{fi}
	}
	name := func(x *clientlib.FileInfo) string {
		if !fi.IsDir() {
			return lsName(x.Path()) // a file is named as asked, like ls(1)
		}
		if x.IsDir() {
			return lsName(x.Name()) + "/"
		}
		return lsName(x.Name())
	}
	// Columns as ls -l: owner and group left-aligned, size right-aligned,
	// the name last and unpadded.
	type row struct{ mode, owner, group, size, mtime, name string }
	rows := make([]row, len(infos))
	var wo, wg, ws, unknown int
	var why error
	for i, x := range infos {
		size := strconv.FormatInt(x.Size(), 10)
		if o.human {
			size = units.Bytes(x.Size())
		}
		if err := x.SizeErr(); err != nil {
			size = "?"
			unknown++
			why = cmp.Or(why, err)
		}
		rows[i] = row{lsMode(x.Mode()), userName(x.UID()), groupName(x.GID()), size, x.ModTime().Format("2006-01-02 15:04"), name(x)}
		wo, wg, ws = max(wo, len(rows[i].owner)), max(wg, len(rows[i].group)), max(ws, len(size))
	}
	for _, r := range rows {
		fmt.Fprintf(e.stdout, "%s %-*s %-*s %*s %s %s\n", r.mode, wo, r.owner, wg, r.group, ws, r.size, r.mtime, r.name)
	}
	if unknown > 0 {
		return fmt.Errorf("sizes of %d of %d entries unknown (shown as ?): %w", unknown, len(infos), why)
	}
	return nil
}

// lsNames lists p's names (a file: p itself) from the metadata server
// alone: a data server that is down or hung does not hold up a listing
// that shows no sizes.
func lsNames(ctx context.Context, e *env, c *clientlib.Client, p string) error {
	fi, err := c.StatNames(ctx, p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		fmt.Fprintln(e.stdout, lsName(fi.Path()))
		return nil
	}
	ents, err := c.ReadDir(ctx, p)
	if err != nil {
		return err
	}
	for _, d := range ents {
		n := lsName(d.Name)
		if d.IsDir {
			n += "/"
		}
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

// lsName is a name as ls prints it: as it is, or quoted with escapes
// when it holds a control character (a newline would forge a line of the
// listing, an escape sequence drive the terminal) or is not UTF-8.
func lsName(n string) string {
	if !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return strconv.Quote(n)
	}
	return n
}

var userNames, groupNames = map[uint32]string{}, map[uint32]string{}

// userName is uid's login name on this host, else the number.
func userName(uid uint32) string {
	if n, ok := userNames[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	userNames[uid] = n
	return n
}

// groupName is gid's group name on this host, else the number.
func groupName(gid uint32) string {
	if n, ok := groupNames[gid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(n); err == nil {
		n = g.Name
	}
	groupNames[gid] = n
	return n
}

// lsMode is a mode as ls -l writes it: the type, then rwx for owner,
// group and others, with setuid and setgid as s (S without x) in the
// owner's and group's x and sticky as t (T) in the others'. Go's
// FileMode.String writes those bits as letters in front instead.
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	if m.IsDir() {
		b[0] = 'd'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(at int, set bool, lower byte) {
		if !set {
			return
		}
		if b[at] == '-' {
			b[at] = lower - 'a' + 'A'
		} else {
			b[at] = lower
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's')
	special(6, m&fs.ModeSetgid != 0, 's')
	special(9, m&fs.ModeSticky != 0, 't')
	return string(b)
}
