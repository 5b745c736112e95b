package data

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// copyCosts is what moving calibBytes between the page cache and another
// process's memory costs this server's CPU, each way, by the two RDMA
// strategies that serve page-cache data on a provider whose RMA is a CPU
// copy (shm's CMA; tcp's send and receive): pipeline (pread into a bounce
// buffer, then the copy out of it; the copy in, then pwrite) and sendfile
// (the copy straight out of, or into, a mapping of the datafile). Which
// one is cheaper is a property of the machine, not of Ferry: pipeline was
// measured faster on the 2026-11-25 development VM, whose shadow page
// tables made every first touch of a file mapping dear, and sendfile, with
// one copy fewer, on the 2026-12-06 one, whose CPU copies without fast
// string moves (bench/results/2026-12-06c).
type copyCosts struct {
	ReadPipeline, ReadSendfile   time.Duration
	WritePipeline, WriteSendfile time.Duration
}

// Pipeline serves a direction only when it measured cheaper than
// sendfile by more than pipelineMargin. sendfile makes one copy fewer, so
// a near tie is the measure's noise (a host's servers calibrate together,
// beside a client's first transfer): in 48 calibrations recorded in
// bench/results/2026-12-06d to 2026-12-07b, two read choices went to
// pipeline at 96 % and 97 % of sendfile's measured cost, and those
// servers then served every read by pipeline, with two copies.
const pipelineMargin = 0.10

// The choice compares whole microseconds, as the auto.cost counters
// report them.
func (c copyCosts) sendfileReads() bool  { return !clearlyCheaper(c.ReadPipeline, c.ReadSendfile) }
func (c copyCosts) sendfileWrites() bool { return !clearlyCheaper(c.WritePipeline, c.WriteSendfile) }

// clearlyCheaper says whether cost a is under b by more than pipelineMargin.
func clearlyCheaper(a, b time.Duration) bool {
	return float64(a.Microseconds()) < (1-pipelineMargin)*float64(b.Microseconds())
}

func (c copyCosts) String() string {
	return fmt.Sprintf("read: pipeline %v, sendfile %v; write: pipeline %v, sendfile %v (%d MiB each)",
		c.ReadPipeline, c.ReadSendfile, c.WritePipeline, c.WriteSendfile, calibBytes>>20)
}

const (
	calibBytes  = 16 << 20
	calibRounds = 5
	calibChunk  = 1 << 20 // the pool's default chunk_size
	calibDepth  = 8       // and pipeline_depth: the bounce buffers in rotation
	// calibMinFree is the free space below which no calibration runs (its
	// scratch file could take the last of it from clients' writes).
	calibMinFree = 1 << 30
)

// measureCopyCosts times both strategies' server-side work on a scratch
// file in dir (the datafiles' file system), copying to and from a buffer
// of this process by process_vm_writev/readv, which is what shm's RMA
// makes. sendfile's rounds each map the file anew and count faulting its
// pages in (MADV_POPULATE_*) with the copy: a read of a file not read
// before pays that once, and a machine where a mapping's first touch is
// dear (the shadow page tables of the 2026-11-25 VM) shows it. Each figure
// is the CPU time of the calibrating thread (so time the machine gave to
// other processes does not count: the servers of one host start and
// calibrate together, beside their clients' first requests), the median
// of calibRounds rounds taken in alternation (a guest's thread clock gives
// the odd round far too short as well as too long: the median ignores
// both). It takes about 0.1 s of one core and 40 MiB of memory for that
// time, needs calibBytes free in dir (it refuses below calibMinFree, so it
// never fills a nearly full file system) and leaves nothing behind.
func measureCopyCosts(dir string) (copyCosts, error) {
	var c copyCosts
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return c, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if free := int64(fs.Bavail) * int64(fs.Bsize); free < calibMinFree {
		return c, fmt.Errorf("%s has %d MiB free, under the %d MiB the calibration leaves untouched: %w",
			dir, free>>20, calibMinFree>>20, unix.ENOSPC)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := scratchFile(dir)
	if err != nil {
		return c, err
	}
	defer f.Close()
	// The buffers are mapped apart from Go's heap and unmapped at the end,
	// so the server's resident set drops back at once.
	peer, err := anonymous(calibBytes) // stands for the client's buffer
	if err != nil {
		return c, err
	}
	defer unix.Munmap(peer)
	bounce, err := anonymous(calibChunk * calibDepth)
	if err != nil {
		return c, err
	}
	defer unix.Munmap(bounce)
	for i := range peer {
		peer[i] = byte(i*7 + i>>12)
	}
	for i := range bounce {
		bounce[i] = 1 // touched, as the pool's registered buffers are
	}
	if _, err := f.WriteAt(peer, 0); err != nil {
		return c, fmt.Errorf("write scratch file: %w", err)
	}
	pid := os.Getpid()
	// viaMapping maps the file, times populate plus copy per piece, unmaps.
	viaMapping := func(advice int, out bool) (time.Duration, error) {
		m, err := unix.Mmap(int(f.Fd()), 0, calibBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return 0, fmt.Errorf("map scratch file: %w", err)
		}
		defer unix.Munmap(m)
		start := threadCPU()
		for off := 0; off < calibBytes; off += sendfilePiece {
			p := m[off : off+sendfilePiece]
			unix.Madvise(p, advice)
			if err := cma(pid, p, peer[off:off+sendfilePiece], out); err != nil {
				return 0, err
			}
		}
		return threadCPU() - start, nil
	}
	// viaBounce times pipeline: pread then the copy out of a bounce
	// buffer (out), or the copy in then pwrite, per chunk.
	viaBounce := func(out bool) (time.Duration, error) {
		start := threadCPU()
		for off, i := 0, 0; off < calibBytes; off, i = off+calibChunk, i+1 {
			b := bounce[i%calibDepth*calibChunk:][:calibChunk]
			if out {
				if _, err := f.ReadAt(b, int64(off)); err != nil {
					return 0, err
				}
			}
			if err := cma(pid, b, peer[off:off+calibChunk], out); err != nil {
				return 0, err
			}
			if !out {
				if _, err := f.WriteAt(b, int64(off)); err != nil {
					return 0, err
				}
			}
		}
		return threadCPU() - start, nil
	}
	ways := []struct {
		d   *time.Duration
		run func() (time.Duration, error)
	}{
		{&c.ReadPipeline, func() (time.Duration, error) { return viaBounce(true) }},
		{&c.ReadSendfile, func() (time.Duration, error) { return viaMapping(unix.MADV_POPULATE_READ, true) }},
		{&c.WritePipeline, func() (time.Duration, error) { return viaBounce(false) }},
		{&c.WriteSendfile, func() (time.Duration, error) { return viaMapping(unix.MADV_POPULATE_WRITE, false) }},
	}
	times := make([][]time.Duration, len(ways))
	for r := 0; r < calibRounds; r++ {
		for i, w := range ways {
			d, err := w.run()
			if err != nil {
				return c, fmt.Errorf("calibration copy: %w", err)
			}
			times[i] = append(times[i], d)
		}
	}
	for i, w := range ways {
		slices.Sort(times[i])
		*w.d = times[i][len(times[i])/2]
	}
	return c, nil
}

// anonymous maps n bytes of private memory.
func anonymous(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("calibration buffer of %d bytes: %w", n, err)
	}
	return b, nil
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Duration(time.Now().UnixNano()) // no thread clock: wall time
	}
	return time.Duration(ts.Nano())
}

// scratchFile is an unnamed file in dir (O_TMPFILE), or a named one
// removed at once where the file system lacks O_TMPFILE.
func scratchFile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(calibration)"), nil
	}
	f, err := os.CreateTemp(dir, ".calibration-*")
	if err != nil {
		return nil, fmt.Errorf("scratch file in %s: %w", dir, err)
	}
	os.Remove(f.Name())
	return f, nil
}

// cma copies between local and remote, a buffer of process pid, as shm's
// RMA does: process_vm_writev (local to remote) when out, else
// process_vm_readv.
func cma(pid int, local, remote []byte, out bool) error {
	l := []unix.Iovec{{Base: &local[0], Len: uint64(len(local))}}
	r := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&remote[0])), Len: len(remote)}}
	var n int
	var err error
	if out {
		n, err = unix.ProcessVMWritev(pid, l, r, 0)
	} else {
		n, err = unix.ProcessVMReadv(pid, l, r, 0)
	}
	if err != nil {
		return err
	}
	if n != len(local) {
		return fmt.Errorf("copied %d of %d bytes", n, len(local))
	}
	return nil
}
