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
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/units"
)

func init() { addCommand(newCpCmd) }

type cpSide struct {
	ferry bool
	path  string
}

func newCpCmd(e *env) *cobra.Command {
	var o cpOptions
	cmd := newCommand("cp [flags] SRC DST", "copy a file into, out of, or within Ferry (ferry:/path marks Ferry's side)",
		"Copies SRC to DST; either may be ferry:/path. Shows a progress bar on a terminal.\nA DST that is a directory gets SRC's base name.\nThe copy is fsynced before cp reports success (--no-fsync skips that).",
		2, 2, func(_ *cobra.Command, args []string) error { return runCp(e, &o, args) })
	fl := cmd.Flags()
	o.cf.addData(fl)
	sizeVar(fl, &o.strip, "strip-size", 0, true, "strip size of a new Ferry file, e.g. 1M (0: the file system default)")
	fl.IntVar(&o.count, "count", 0, "servers a new Ferry file spans (0: the default)")
	sizeVar(fl, &o.chunk, "chunk", 64<<20, false, "bytes per read/write call")
	fl.BoolVar(&o.stats, "stats", false, "print bytes, time and throughput when done (always on a terminal)")
	fl.BoolVar(&o.noFsync, "no-fsync", false, "report success once the servers (or the local file system) hold the bytes, without making them durable")
	return cmd
}

type cpOptions struct {
	cf           clientFlags
	strip, chunk int64
	count        int
	stats        bool
	noFsync      bool
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
	var c *clientlib.Client
	c, err := o.cf.mount(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	// Open the source and learn its size.
	var (
		r    io.ReaderAt
		size int64
	)
	if src.ferry {
		f, err := c.Open(ctx, src.path)
		if err != nil {
			return err
		}
		defer f.Close()
		if size, err = f.Size(ctx); err != nil {
			return err
		}
		r = f
	} else {
		f, err := os.Open(src.path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", src.path)
		}
		size, r = st.Size(), f
	}

	// Open (create, truncate) the destination.
	var (
		w      io.WriterAt
		finish func() error
	)
	if dst.ferry {
		if fi, err := c.Stat(ctx, dst.path); err == nil && fi.IsDir() {
			dst.path = path.Join(dst.path, path.Base(src.path))
		}
		f, err := c.Create(ctx, dst.path, clientlib.CreateOptions{StripSize: o.strip, Count: o.count})
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Truncate(ctx, 0); err != nil {
			return err
		}
		w, finish = f, func() error {
			if o.noFsync {
				return nil
			}
			return f.Sync(ctx)
		}
	} else {
		if st, err := os.Stat(dst.path); err == nil && st.IsDir() {
			dst.path = filepath.Join(dst.path, path.Base(src.path))
		}
		f, err := os.OpenFile(dst.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w, finish = f, func() error {
			if !o.noFsync {
				if err := f.Sync(); err != nil {
					return fmt.Errorf("fsync %s: %w", dst.path, err)
				}
			}
			return f.Close()
		}
	}

	var bar *progressbar.ProgressBar
	if e.isTerminal {
		bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(e.stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("copy"), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	start := time.Now()
	if err := copyPipelined(r, w, size, o.chunk, func(n int64) {
		if bar != nil {
			bar.Add64(n)
		}
	}); err != nil {
		return err
	}
	if err := finish(); err != nil && !errors.Is(err, fs.ErrClosed) {
		return err
	}
	if bar != nil {
		bar.Finish()
	}
	if o.stats || e.isTerminal {
		el := time.Since(start)
		fmt.Fprintf(e.stdout, "copied %s in %.2fs: %s\n", units.Bytes(size), el.Seconds(), units.Rate(float64(size)/el.Seconds()))
	}
	return nil
}

func parseSide(s string) cpSide {
	p, ok := ferryPath(s)
	return cpSide{ferry: ok, path: p}
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
