package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/fusefs"
	"github.com/ferry-hpc/ferry/internal/units"
	"github.com/ferry-hpc/ferry/proto"
)

func init() { addCommand(newCpCmd) }

type cpOptions struct {
	cf                         clientFlags
	strip, chunk               int64
	count                      int
	stats, recursive, preserve bool
	noFsync                    bool
}

func newCpCmd(e *env) *cobra.Command {
	var o cpOptions
	cmd := newCommand("cp [flags] SRC DST", "copy files or trees into, out of, or within Ferry (ferry:/path marks Ferry's side)",
		`Copies SRC to DST; either may be ferry:/path (ferry:path is taken from the
root). A local SRC of - is standard input, a local DST of - standard
output. A DST that is a directory gets SRC's base name. A new file gets
SRC's permission bits; -p also keeps its modification and access times.
-r copies directories and everything in them; inside a tree, symbolic
links and special files are not copied, and an entry that fails is
reported while the rest goes on (exit 1). --strip-size and --count lay
out new files: a Ferry DST that exists with another layout is an error.
Every file written is fsynced before cp reports success (--no-fsync
skips that). Shows a progress bar on a terminal.`,
		2, 2, func(_ *cobra.Command, args []string) error { return runCp(e, &o, args) })
	fl := cmd.Flags()
	o.cf.addData(fl)
	sizeVar(fl, &o.strip, "strip-size", 0, true, "strip size of a new Ferry file, e.g. 1M (0: the file system default)")
	fl.IntVar(&o.count, "count", 0, "servers a new Ferry file spans (0: the default)")
	sizeVar(fl, &o.chunk, "chunk", 64<<20, false, "bytes per read/write call, e.g. 16M")
	fl.BoolVar(&o.stats, "stats", false, "print bytes, time and throughput when done (always on a terminal)")
	fl.BoolVarP(&o.recursive, "recursive", "r", false, "copy directories and their contents")
	fl.BoolVarP(&o.preserve, "preserve", "p", false, "keep permission bits, modification and access times")
	fl.BoolVar(&o.noFsync, "no-fsync", false, "report success once the servers (or the local file system) hold the bytes, without making them durable")
	return cmd
}

// cpSide is one end of a copy: a Ferry path, a local path, or - (the
// standard stream of the local side).
type cpSide struct {
	ferry bool
	path  string
}

func (s cpSide) std() bool { return !s.ferry && s.path == "-" }

// String is the side as the command line names it.
func (s cpSide) String() string {
	if s.ferry {
		return "ferry:" + s.path
	}
	return s.path
}

func parseSide(s string) cpSide {
	p, ok := ferryPath(s)
	return cpSide{ferry: ok, path: p}
}

// copier copies files and trees between the two namespaces.
type copier struct {
	e     *env
	o     *cpOptions
	ctx   context.Context
	c     *clientlib.Client
	bytes int64
	// entries of a tree that failed (-r), each reported as it failed:
	// the rest of the tree goes on, as with cp(1), and cp exits 1
	failed int
}

func runCp(e *env, o *cpOptions, args []string) error {
	if o.chunk < 4096 || o.chunk > 1<<30 {
		return usageError{fmt.Errorf("--chunk %d outside [4096, 1 GiB]", o.chunk)}
	}
	src, dst := parseSide(args[0]), parseSide(args[1])
	if !src.ferry && !dst.ferry {
		return usageError{errors.New("one side must be a Ferry path (ferry:/path); use cp(1) for local copies")}
	}
	ctx := context.Background()
	c, err := o.cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	cp := &copier{e: e, o: o, ctx: ctx, c: c}
	start := time.Now()
	switch {
	case src.std():
		err = cp.fromStdin(dst)
	case dst.std():
		err = cp.toStdout(src)
	default:
		err = cp.copy(src, dst, true)
	}
	if err != nil {
		return err
	}
	if cp.failed > 0 {
		return fmt.Errorf("%d entries of the tree were not copied (each said above)", cp.failed)
	}
	if o.stats || e.isTerminal {
		el := time.Since(start)
		out := e.stdout
		if dst.std() {
			out = e.stderr // stdout carries the file
		}
		fmt.Fprintf(out, "copied %s in %.2fs: %s\n", units.Bytes(cp.bytes), el.Seconds(), units.Rate(float64(cp.bytes)/el.Seconds()))
	}
	return nil
}

// info is what a copy needs to know of a path, on either side.
type info struct {
	dir          bool
	size         int64
	perm         fs.FileMode
	atime, mtime time.Time
}

// stat describes s. A local path inside a tree (top false) is not
// followed if it is a symbolic link: Ferry has none to copy it to, and
// following it could copy a tree into itself without end.
func (cp *copier) stat(s cpSide, top bool) (info, error) {
	if s.ferry {
		fi, err := cp.c.Stat(cp.ctx, s.path)
		if err != nil {
			return info{}, err
		}
		return info{dir: fi.IsDir(), size: fi.Size(), perm: fi.Mode().Perm(), atime: fi.Atime(), mtime: fi.ModTime()}, nil
	}
	stat := os.Stat
	if !top {
		stat = os.Lstat
	}
	fi, err := stat(s.path)
	if err != nil {
		return info{}, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return info{}, fmt.Errorf("%s is a symbolic link, not copied: Ferry has none", s.path)
	}
	in := info{dir: fi.IsDir(), size: fi.Size(), perm: fi.Mode().Perm(), mtime: fi.ModTime(), atime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		in.atime = time.Unix(st.Atim.Sec, st.Atim.Nsec)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return in, fmt.Errorf("%s is not a regular file or directory", s.path)
	}
	return in, nil
}

func (s cpSide) join(name string) cpSide {
	if s.ferry {
		return cpSide{ferry: true, path: path.Join(s.path, name)}
	}
	return cpSide{path: filepath.Join(s.path, name)}
}

func (s cpSide) base() string {
	if s.ferry {
		return path.Base(s.path)
	}
	return filepath.Base(s.path)
}

// copy copies src (a file, or with -r a tree) to dst. At the top level a
// dst that is a directory gets src's base name, as cp(1) does.
func (cp *copier) copy(src, dst cpSide, top bool) error {
	in, err := cp.stat(src, top)
	if err != nil {
		return err
	}
	if top {
		d, err := cp.stat(dst, true)
		switch {
		case err == nil && d.dir:
			dst = dst.join(src.base())
		case strings.HasSuffix(dst.path, "/"):
			// A trailing slash asks for a directory, as cp(1) reads it:
			// never a file made or replaced under that name.
			if err == nil {
				return fmt.Errorf("%s: %w", dst.path, syscall.ENOTDIR)
			}
			return fmt.Errorf("%s: no such directory: %w", dst.path, syscall.ENOTDIR)
		}
	}
	if !in.dir {
		return cp.copyFile(src, dst, in)
	}
	if !cp.o.recursive {
		return fmt.Errorf("%s is a directory (use -r)", src.path)
	}
	if src.ferry && dst.ferry && (dst.path == src.path || strings.HasPrefix(dst.path, strings.TrimSuffix(src.path, "/")+"/")) {
		return fmt.Errorf("cannot copy directory %s into itself (%s)", src.path, dst.path)
	}
	if err := cp.mkdir(dst, in.perm|0o700); err != nil {
		return err
	}
	names, err := cp.readDir(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := cp.copy(src.join(n), dst.join(n), false); err != nil {
			fmt.Fprintf(cp.e.stderr, "ferry cp: %s\n", strings.TrimPrefix(err.Error(), "ferry: "))
			cp.failed++
		}
	}
	// The directory's own mode and times last: adding entries changed them.
	return cp.setAttrs(dst, in, true)
}

func (cp *copier) mkdir(d cpSide, perm fs.FileMode) error {
	var err error
	if d.ferry {
		_, err = cp.c.MkdirAs(cp.ctx, d.path, perm, clientlib.ProcessOwner())
	} else {
		err = os.Mkdir(d.path, perm)
	}
	if errors.Is(err, fs.ErrExist) {
		if in, serr := cp.stat(d, true); serr == nil && in.dir {
			return nil
		}
	}
	return err
}

func (cp *copier) readDir(d cpSide) ([]string, error) {
	var names []string
	if d.ferry {
		ents, err := cp.c.ReadDir(cp.ctx, d.path)
		if err != nil {
			return nil, err
		}
		for _, de := range ents {
			names = append(names, de.Name)
		}
		return names, nil
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, err
	}
	for _, de := range ents {
		names = append(names, de.Name())
	}
	return names, nil
}

// setAttrs gives dst src's permission bits, and with -p its times; dir
// says whether to set the mode without -p too (a new directory's mode was
// widened to let the copy fill it).
func (cp *copier) setAttrs(dst cpSide, src info, dir bool) error {
	if !cp.o.preserve {
		if !dir {
			return nil
		}
		if dst.ferry {
			m := uint32(src.perm)
			_, err := cp.c.SetAttr(cp.ctx, dst.path, clientlib.AttrChange{Mode: &m})
			return err
		}
		return os.Chmod(dst.path, src.perm)
	}
	if dst.ferry {
		m := uint32(src.perm)
		_, err := cp.c.SetAttr(cp.ctx, dst.path, clientlib.AttrChange{Mode: &m, Atime: &src.atime, Mtime: &src.mtime})
		return err
	}
	if err := os.Chmod(dst.path, src.perm); err != nil {
		return err
	}
	return os.Chtimes(dst.path, src.atime, src.mtime)
}

// open opens a source file for reading at offsets.
func (cp *copier) open(s cpSide) (io.ReaderAt, func() error, error) {
	if s.ferry {
		f, err := cp.c.Open(cp.ctx, s.path)
		if err != nil {
			return nil, nil, err
		}
		// Refused now, before the destination is made or truncated,
		// not at the first read: open(2) would refuse it.
		if f.Rights()&proto.RightRead == 0 {
			f.Close()
			return nil, nil, fmt.Errorf("open %s: %w", s, fs.ErrPermission)
		}
		return f, f.Close, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// create creates (or truncates) a destination file. Its finish makes the
// bytes durable (unless --no-fsync), closes the file, and reports the
// first error either brings.
func (cp *copier) create(d cpSide, perm fs.FileMode) (io.WriterAt, func() error, error) {
	if d.ferry {
		f, err := cp.c.Create(cp.ctx, d.path, clientlib.CreateOptions{Mode: perm, ExactMode: true, StripSize: cp.o.strip, Count: cp.o.count})
		if err != nil {
			return nil, nil, err
		}
		// A file that exists keeps its layout: a layout asked for and
		// not had is an error, not a copy laid out otherwise.
		if l := f.Layout(); cp.o.strip != 0 && l.StripSize != cp.o.strip || cp.o.count != 0 && l.Count != cp.o.count {
			f.Close()
			return nil, nil, fmt.Errorf("%s exists with %d-byte strips over %d servers; --strip-size and --count lay out new files only (remove it first)", d, l.StripSize, l.Count)
		}
		if err := f.Truncate(cp.ctx, 0); err != nil {
			f.Close()
			return nil, nil, err
		}
		return f, func() error {
			var err error
			if !cp.o.noFsync {
				err = f.Sync(cp.ctx)
			}
			return errors.Join(err, f.Close())
		}, nil
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return nil, nil, err
	}
	// Only a regular file has anything to make durable: /dev/null, a
	// pipe or a terminal refuses fsync (EINVAL) and needs none.
	regular := false
	if st, err := f.Stat(); err == nil {
		regular = st.Mode().IsRegular()
	}
	return f, func() error {
		var err error
		if !cp.o.noFsync && regular {
			if err = f.Sync(); err != nil {
				err = fmt.Errorf("fsync %s: %w", d.path, err)
			}
		}
		return errors.Join(err, f.Close())
	}, nil
}

func (cp *copier) copyFile(src, dst cpSide, in info) error {
	// The destination is truncated before the source is read: a file
	// copied onto itself would be emptied. So would one copied between
	// its Ferry name and its name on a mount.
	var same bool
	var err error
	switch {
	case src.ferry && dst.ferry:
		same, err = cp.sameFile(src.path, dst.path)
	case src.ferry && !dst.std():
		same, err = cp.sameOnMount(dst.path, src.path)
	case dst.ferry && !src.std():
		same, err = cp.sameOnMount(src.path, dst.path)
	}
	if err != nil {
		return err
	}
	if same {
		return fmt.Errorf("%s and %s are the same file", src, dst)
	}
	r, closeR, err := cp.open(src)
	if err != nil {
		return err
	}
	defer closeR()
	w, finish, err := cp.create(dst, in.perm)
	if err != nil {
		return err
	}
	bar, barDone := cp.bar(src.base(), in.size)
	defer barDone()
	n := in.size
	err = copyPipelined(r, w, in.size, cp.o.chunk, bar)
	if err == nil && !src.ferry {
		// A local file may hold more than its size said: /proc files
		// report 0, and a file may grow during the copy. Read on to
		// its end, as cp(1) does.
		n, err = copyTail(r, w, in.size, cp.o.chunk, bar)
	}
	if ferr := finish(); err == nil && ferr != nil && !errors.Is(ferr, fs.ErrClosed) {
		err = ferr
	}
	if err != nil {
		return err
	}
	cp.bytes += n
	return cp.setAttrs(dst, in, false)
}

// sameFile says whether two Ferry paths name one file (one handle); a
// destination that does not exist is not the source.
func (cp *copier) sameFile(a, b string) (bool, error) {
	fb, err := cp.c.Stat(cp.ctx, b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fa, err := cp.c.Stat(cp.ctx, a)
	if err != nil {
		return false, err
	}
	ha, okA := fa.Sys().(*proto.Attr)
	hb, okB := fb.Sys().(*proto.Attr)
	return okA && okB && ha.Handle != "" && ha.Handle == hb.Handle, nil
}

// sameOnMount says whether local is the Ferry file ferryPath seen through
// a mount (ferry mount): a FUSE file whose inode number is the one the
// mount gives that file's handle. A local path that does not exist, or
// not on FUSE, is not.
func (cp *copier) sameOnMount(local, ferryPath string) (bool, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(local, &sfs); err != nil || sfs.Type != unix.FUSE_SUPER_MAGIC {
		return false, nil
	}
	li, err := os.Stat(local)
	if err != nil {
		return false, nil
	}
	st, ok := li.Sys().(*syscall.Stat_t)
	if !ok || !li.Mode().IsRegular() {
		return false, nil
	}
	fi, err := cp.c.Stat(cp.ctx, ferryPath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Handle() != "" && fusefs.FileIno(fi.Handle()) == st.Ino, nil
}

// copyTail copies what r holds from off to its end (io.EOF), sequentially,
// and returns where it ended.
func copyTail(r io.ReaderAt, w io.WriterAt, off, chunk int64, progress func(int64)) (int64, error) {
	buf := make([]byte, min(chunk, 1<<20))
	for {
		n, err := r.ReadAt(buf, off)
		if n > 0 {
			if _, werr := w.WriteAt(buf[:n], off); werr != nil {
				return off, werr
			}
			off += int64(n)
			progress(int64(n))
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// bar returns the progress callback: a bar on a terminal, with sizes in
// the same IEC units as the summary.
func (cp *copier) bar(name string, size int64) (add func(int64), done func()) {
	if !cp.e.isTerminal {
		return func(int64) {}, func() {}
	}
	b := progressbar.NewOptions64(size, progressbar.OptionSetWriter(cp.e.stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true), progressbar.OptionSetDescription(name),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	// done clears the bar whatever it counted: a size of -1 (standard
	// input) or one the source outgrew never reaches its end by itself.
	return func(n int64) { b.Add64(n) }, func() { b.Finish() }
}

// fromStdin copies standard input, read to its end, into a Ferry file.
func (cp *copier) fromStdin(dst cpSide) error {
	if d, err := cp.stat(dst, true); err == nil && d.dir {
		return fmt.Errorf("%s is a directory: name the file to write standard input to", dst.path)
	}
	w, finish, err := cp.create(dst, 0o644)
	if err != nil {
		return err
	}
	bar, barDone := cp.bar("stdin", -1)
	defer barDone()
	buf := make([]byte, cp.o.chunk)
	var off int64
	for {
		n, rerr := io.ReadFull(cp.e.stdin, buf)
		if n > 0 {
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				finish()
				return err
			}
			off += int64(n)
			bar(int64(n))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			finish()
			return fmt.Errorf("read standard input: %w", rerr)
		}
	}
	cp.bytes = off
	return finish()
}

// toStdout writes a Ferry file to standard output.
func (cp *copier) toStdout(src cpSide) error {
	in, err := cp.stat(src, true)
	if err != nil {
		return err
	}
	if in.dir {
		return fmt.Errorf("%s is a directory: only a file can go to standard output", src.path)
	}
	r, closeR, err := cp.open(src)
	if err != nil {
		return err
	}
	defer closeR()
	if err := copyPipelined(r, &seqWriter{w: cp.e.stdout}, in.size, cp.o.chunk, func(int64) {}); err != nil {
		return err
	}
	cp.bytes = in.size
	return nil
}

// seqWriter is a WriterAt over a stream, for a writer that writes in
// order (copyPipelined does).
type seqWriter struct {
	w   io.Writer
	off int64
}

func (s *seqWriter) WriteAt(p []byte, off int64) (int, error) {
	if off != s.off {
		return 0, fmt.Errorf("write at %d to a stream at %d", off, s.off)
	}
	n, err := s.w.Write(p)
	s.off += int64(n)
	return n, err
}

// copyPipelined copies size bytes with two buffers: chunk i+1 is read
// while chunk i is written.
func copyPipelined(r io.ReaderAt, w io.WriterAt, size, chunk int64, progress func(int64)) error {
	type piece struct {
		buf []byte
		off int64
		err error
	}
	free := make(chan []byte, 2)
	full := make(chan piece, 2)
	for i := 0; i < 2; i++ {
		free <- make([]byte, min(chunk, max(size, 1)))
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(full)
		for off := int64(0); off < size; {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			n := min(int64(len(buf)), size-off)
			m, err := r.ReadAt(buf[:n], off)
			if int64(m) == n {
				err = nil
			} else if err == nil || err == io.EOF {
				err = fmt.Errorf("source shrank during the copy: %d bytes at offset %d, wanted %d", m, off, n)
			}
			select {
			case full <- piece{buf: buf[:n], off: off, err: err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
			off += n
		}
	}()
	for p := range full {
		if p.err != nil {
			return p.err
		}
		if _, err := w.WriteAt(p.buf, p.off); err != nil {
			return err
		}
		progress(int64(len(p.buf)))
		free <- p.buf[:cap(p.buf)]
	}
	return nil
}
