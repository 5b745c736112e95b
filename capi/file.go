package main

/*
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "ferry.h"
*/
import "C"

import (
	"context"
	"io"
	"math"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/proto"
)

// Flags ferry_open understands, and flags it accepts and ignores.
const openKnown = C.O_ACCMODE | C.O_CREAT | C.O_EXCL | C.O_TRUNC | C.O_APPEND

var openIgnored = C.O_CLOEXEC | C.O_NOCTTY | kernelLargefile

// kernelLargefile is O_LARGEFILE as the kernel sets it in the flags
// fcntl(F_GETFL) returns, which a program may pass on to ferry_open:
// glibc and Go define O_LARGEFILE as 0 on 64-bit targets, but the kernel
// still reports its own bit there.
var kernelLargefile = C.int(map[string]int{"amd64": 0o100000, "arm64": 0o400000}[runtime.GOARCH] | syscall.O_LARGEFILE)

//export ferry_go_open
func ferry_go_open(path *C.char, flags C.int, mode C.mode_t, hints *C.struct_ferry_layout) C.int {
	c, e := mounted()
	if e != 0 {
		return neg(e)
	}
	if path == nil {
		return neg(syscall.EFAULT)
	}
	if flags&^(openKnown|openIgnored) != 0 {
		return neg(syscall.EINVAL)
	}
	h := &file{append: flags&C.O_APPEND != 0}
	switch flags & C.O_ACCMODE {
	case C.O_RDONLY:
		h.read = true
	case C.O_WRONLY:
		h.write = true
	case C.O_RDWR:
		h.read, h.write = true, true
	default:
		return neg(syscall.EINVAL)
	}
	trunc := flags&C.O_TRUNC != 0
	if trunc && !h.write {
		return neg(syscall.EINVAL)
	}
	var o clientlib.CreateOptions
	if hints != nil {
		if hints.reserved != 0 || hints.strip_size < 0 || hints.server_count < 0 {
			return neg(syscall.EINVAL)
		}
		o.StripSize = int64(hints.strip_size)
		o.Count = int(hints.server_count)
	}
	p := C.GoString(path) // a trailing "/": EISDIR with O_CREAT, else ENOTDIR on a file (clientlib)
	var err error
	if flags&C.O_CREAT != 0 {
		o.Mode = fileMode(mode)
		o.Exclusive = flags&C.O_EXCL != 0
		h.f, err = c.Create(bg, p, o)
	} else {
		h.f, err = c.Open(bg, p)
	}
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	// The servers would refuse the data calls anyway; refusing the open
	// is what POSIX callers expect.
	if r := h.f.Rights(); h.read && r&proto.RightRead == 0 || h.write && r&proto.RightWrite == 0 {
		h.f.Close()
		return neg(syscall.EACCES)
	}
	if trunc {
		if err := h.f.Truncate(bg, 0); err != nil {
			h.f.Close()
			return neg(clientlib.Errno(err))
		}
	}
	fh, e := addFile(c, h)
	if e != 0 {
		h.f.Close()
		return neg(e)
	}
	return fh
}

//export ferry_go_close
func ferry_go_close(fh C.int) C.int {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.client == nil {
		return neg(syscall.ENXIO)
	}
	if fh < 0 || int(fh) >= len(lib.files) || lib.files[fh] == nil {
		return neg(syscall.EBADF)
	}
	lib.files[fh].f.Close() // calls still running on it fail with EBADF
	lib.files[fh] = nil
	return 0
}

// ioArgs checks the arguments common to the data calls and returns the C
// buffer as a []byte over the caller's memory (no copy).
func ioArgs(buf unsafe.Pointer, count C.size_t, off int64) ([]byte, syscall.Errno) {
	if off < 0 || uint64(count) > math.MaxInt64 {
		return nil, syscall.EINVAL
	}
	if count == 0 {
		return nil, 0
	}
	if buf == nil {
		return nil, syscall.EFAULT
	}
	return unsafe.Slice((*byte)(buf), int(count)), 0
}

// readAt reads into p at off: the bytes there are, io.EOF not an error.
func (h *file) readAt(p []byte, off int64) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, err := h.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return 0, clientlib.Errno(err)
	}
	return n, 0
}

// writeAt writes p at off, or at the end of the file on an O_APPEND handle
// (the caller holds h.mu then), and returns where the data went.
func (h *file) writeAt(p []byte, off int64) (int64, syscall.Errno) {
	if h.append {
		size, err := h.f.Size(bg)
		if err != nil {
			return 0, clientlib.Errno(err)
		}
		off = size
	}
	if len(p) == 0 {
		return off, 0
	}
	if _, err := h.f.WriteAt(p, off); err != nil {
		return 0, clientlib.Errno(err)
	}
	return off, 0
}

//export ferry_go_pread
func ferry_go_pread(fh C.int, buf unsafe.Pointer, count C.size_t, off C.off_t) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.read {
		e = syscall.EBADF
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	p, e := ioArgs(buf, count, int64(off))
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	n, e := h.readAt(p, int64(off))
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	return C.ssize_t(n)
}

//export ferry_go_pwrite
func ferry_go_pwrite(fh C.int, buf unsafe.Pointer, count C.size_t, off C.off_t) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.write {
		e = syscall.EBADF
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	p, e := ioArgs(buf, count, int64(off))
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	if h.append {
		h.mu.Lock()
		defer h.mu.Unlock()
	}
	if _, e := h.writeAt(p, int64(off)); e != 0 {
		return C.ssize_t(neg(e))
	}
	return C.ssize_t(len(p))
}

//export ferry_go_read
func ferry_go_read(fh C.int, buf unsafe.Pointer, count C.size_t) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.read {
		e = syscall.EBADF
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, e := ioArgs(buf, count, h.pos)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	n, e := h.readAt(p, h.pos)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	h.pos += int64(n)
	return C.ssize_t(n)
}

//export ferry_go_write
func ferry_go_write(fh C.int, buf unsafe.Pointer, count C.size_t) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.write {
		e = syscall.EBADF
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, e := ioArgs(buf, count, h.pos)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	off, e := h.writeAt(p, h.pos)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	h.pos = off + int64(len(p))
	return C.ssize_t(len(p))
}

//export ferry_go_lseek
func ferry_go_lseek(fh C.int, off C.off_t, whence C.int) C.off_t {
	h, e := getFile(fh)
	if e != 0 {
		return C.off_t(neg(e))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var base int64
	switch whence {
	case C.SEEK_SET:
	case C.SEEK_CUR:
		base = h.pos
	case C.SEEK_END:
		size, err := h.f.Size(bg)
		if err != nil {
			return C.off_t(neg(clientlib.Errno(err)))
		}
		base = size
	default:
		return C.off_t(neg(syscall.EINVAL))
	}
	o := int64(off)
	if o > 0 && base > math.MaxInt64-o {
		return C.off_t(neg(syscall.EOVERFLOW))
	}
	if base+o < 0 {
		return C.off_t(neg(syscall.EINVAL))
	}
	h.pos = base + o
	return C.off_t(h.pos)
}

//export ferry_go_fsync
func ferry_go_fsync(fh C.int) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	if err := h.f.Sync(bg); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_ftruncate
func ferry_go_ftruncate(fh C.int, length C.off_t) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	if !h.write || length < 0 {
		return neg(syscall.EINVAL)
	}
	if err := h.f.Truncate(bg, int64(length)); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_get_size
func ferry_go_get_size(fh C.int, size *C.int64_t) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	if size == nil {
		return neg(syscall.EFAULT)
	}
	n, err := h.f.Size(bg)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	*size = C.int64_t(n)
	return 0
}

//export ferry_go_fetch_add
func ferry_go_fetch_add(fh C.int, delta C.int64_t, old *C.int64_t) C.int {
	return counter(fh, int64(delta), old, (*clientlib.File).FetchAdd)
}

//export ferry_go_set_counter
func ferry_go_set_counter(fh C.int, value C.int64_t, old *C.int64_t) C.int {
	return counter(fh, int64(value), old, (*clientlib.File).SetCounter)
}

//export ferry_go_counter_new
func ferry_go_counter_new(fh C.int, value C.int64_t, id *C.uint64_t) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	if id == nil {
		return neg(syscall.EFAULT)
	}
	n, err := h.f.NewCounter(bg, int64(value))
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	*id = C.uint64_t(n)
	return 0
}

//export ferry_go_counter_add
func ferry_go_counter_add(fh C.int, id C.uint64_t, delta C.int64_t, old *C.int64_t) C.int {
	return counter(fh, int64(delta), old, func(f *clientlib.File, ctx context.Context, v int64) (int64, error) {
		return f.CounterAdd(ctx, uint64(id), v)
	})
}

//export ferry_go_counter_set
func ferry_go_counter_set(fh C.int, id C.uint64_t, value C.int64_t, old *C.int64_t) C.int {
	return counter(fh, int64(value), old, func(f *clientlib.File, ctx context.Context, v int64) (int64, error) {
		return f.CounterSet(ctx, uint64(id), v)
	})
}

//export ferry_go_counter_free
func ferry_go_counter_free(fh C.int, id C.uint64_t) C.int {
	return counter(fh, 0, nil, func(f *clientlib.File, ctx context.Context, _ int64) (int64, error) {
		return 0, f.DropCounter(ctx, uint64(id))
	})
}

func counter(fh C.int, v int64, old *C.int64_t, op func(*clientlib.File, context.Context, int64) (int64, error)) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	prev, err := op(h.f, bg, v)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	if old != nil {
		*old = C.int64_t(prev)
	}
	return 0
}

//export ferry_go_fstat
func ferry_go_fstat(fh C.int, st *C.struct_ferry_stat) C.int {
	h, e := getFile(fh)
	if e != 0 {
		return neg(e)
	}
	if st == nil {
		return neg(syscall.EFAULT)
	}
	fi, err := h.f.Stat(bg)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	fillStat(st, fi)
	return 0
}

// fillStat copies a FileInfo into the C struct, zeroing what it lacks.
func fillStat(st *C.struct_ferry_stat, fi *clientlib.FileInfo) {
	*st = C.struct_ferry_stat{}
	mode := C.uint32_t(fi.Sys().(*proto.Attr).Mode & 0o7777)
	if fi.IsDir() {
		mode |= C.S_IFDIR
	} else {
		mode |= C.S_IFREG
		st.size = C.int64_t(fi.Size())
		l := fi.Layout()
		st.strip_size = C.int64_t(l.StripSize)
		st.server_count = C.int32_t(l.Count)
	}
	st.mode = mode
	st.uid = C.uint32_t(fi.UID())
	st.gid = C.uint32_t(fi.GID())
	st.atime = timespec(fi.Atime())
	st.mtime = timespec(fi.ModTime())
	st.ctime = timespec(fi.Ctime())
}

func timespec(t time.Time) C.struct_ferry_timespec {
	return C.struct_ferry_timespec{tv_sec: C.int64_t(t.Unix()), tv_nsec: C.int64_t(t.Nanosecond())}
}
