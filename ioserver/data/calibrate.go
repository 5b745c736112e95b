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

func (c copyCosts) sendfileReads() bool  { return c.ReadSendfile < c.ReadPipeline }
func (c copyCosts) sendfileWrites() bool { return c.WriteSendfile < c.WritePipeline }

func (c copyCosts) String() string {
	return fmt.Sprintf("read: pipeline %v, sendfile %v; write: pipeline %v, sendfile %v (%d MiB each)",
		c.ReadPipeline, c.ReadSendfile, c.WritePipeline, c.WriteSendfile, calibBytes>>20)
}

const (
	calibBytes  = 16 << 20
	calibRounds = 5
	calibChunk  = 1 << 20 // the pool's default chunk_size
	calibDepth  = 8       // and pipeline_depth: the bounce buffers in rotation
)

// measureCopyCosts times both strategies' server-side work on a scratch
// file in dir (the datafiles' file system), copying to and from a buffer
// of this process by process_vm_writev/readv, which is what shm's RMA
// makes. Each figure is the CPU time of the calibrating thread (so time
// the machine gave to other processes does not count: the servers of one
// host start and calibrate together, beside their clients' first
// requests), the median of calibRounds rounds taken in alternation (a
// guest's thread clock gives the odd round far too short as well as too
// long: the median ignores both). It
// takes a few tens of milliseconds and leaves nothing behind.
func measureCopyCosts(dir string) (copyCosts, error) {
	var c copyCosts
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := scratchFile(dir)
	if err != nil {
		return c, err
	}
	defer f.Close()
	peer := make([]byte, calibBytes) // stands for the client's buffer
	for i := range peer {
		peer[i] = byte(i*7 + i>>12)
	}
	if _, err := f.WriteAt(peer, 0); err != nil {
		return c, fmt.Errorf("write scratch file: %w", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, calibBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return c, fmt.Errorf("map scratch file: %w", err)
	}
	defer unix.Munmap(m)
	bounce := make([]byte, calibChunk*calibDepth)
	for i := range bounce {
		bounce[i] = 1 // touched, as the pool's registered buffers are
	}
	pid := os.Getpid()
	ways := []struct {
		d   *time.Duration
		run func() error
	}{
		{&c.ReadPipeline, func() error {
			for off, i := 0, 0; off < calibBytes; off, i = off+calibChunk, i+1 {
				b := bounce[i%calibDepth*calibChunk:][:calibChunk]
				if _, err := f.ReadAt(b, int64(off)); err != nil {
					return err
				}
				if err := cma(pid, b, peer[off:off+calibChunk], true); err != nil {
					return err
				}
			}
			return nil
		}},
		{&c.ReadSendfile, func() error {
			for off := 0; off < calibBytes; off += sendfilePiece {
				p := m[off : off+sendfilePiece]
				unix.Madvise(p, unix.MADV_POPULATE_READ)
				if err := cma(pid, p, peer[off:off+sendfilePiece], true); err != nil {
					return err
				}
			}
			return nil
		}},
		{&c.WritePipeline, func() error {
			for off, i := 0, 0; off < calibBytes; off, i = off+calibChunk, i+1 {
				b := bounce[i%calibDepth*calibChunk:][:calibChunk]
				if err := cma(pid, b, peer[off:off+calibChunk], false); err != nil {
					return err
				}
				if _, err := f.WriteAt(b, int64(off)); err != nil {
					return err
				}
			}
			return nil
		}},
		{&c.WriteSendfile, func() error {
			for off := 0; off < calibBytes; off += sendfilePiece {
				p := m[off : off+sendfilePiece]
				unix.Madvise(p, unix.MADV_POPULATE_WRITE)
				if err := cma(pid, p, peer[off:off+sendfilePiece], false); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	times := make([][]time.Duration, len(ways))
	for r := 0; r < calibRounds; r++ {
		for i, w := range ways {
			start := threadCPU()
			if err := w.run(); err != nil {
				return c, fmt.Errorf("calibration copy: %w", err)
			}
			times[i] = append(times[i], threadCPU()-start)
		}
	}
	for i, w := range ways {
		slices.Sort(times[i])
		*w.d = times[i][len(times[i])/2]
	}
	return c, nil
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
