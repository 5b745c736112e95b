package main

/*
#include <sys/uio.h>
#include "ferry.h"
*/
import "C"

import (
	"io"
	"math"
	"syscall"
	"unsafe"

	"github.com/ferry-hpc/ferry/clientlib"
)

// listArgs checks the arguments of the list calls and returns the
// memory pieces as []byte over the caller's memory (no copy) and the
// file segments.
func listArgs(iov *C.struct_iovec, iovcnt C.int, segs *C.struct_ferry_segment, nsegs C.int) ([][]byte, []clientlib.Segment, syscall.Errno) {
	if iovcnt < 0 || nsegs < 0 {
		return nil, nil, syscall.EINVAL
	}
	if (iov == nil && iovcnt > 0) || (segs == nil && nsegs > 0) {
		return nil, nil, syscall.EFAULT
	}
	mem := make([][]byte, 0, int(iovcnt))
	var memTotal uint64
	if iovcnt > 0 {
		for _, v := range unsafe.Slice(iov, int(iovcnt)) {
			n := uint64(v.iov_len)
			if n == 0 {
				continue
			}
			if v.iov_base == nil {
				return nil, nil, syscall.EFAULT
			}
			if n > math.MaxInt64-memTotal {
				return nil, nil, syscall.EINVAL
			}
			memTotal += n
			mem = append(mem, unsafe.Slice((*byte)(v.iov_base), int(n)))
		}
	}
	file := make([]clientlib.Segment, 0, int(nsegs))
	if nsegs > 0 {
		for _, s := range unsafe.Slice(segs, int(nsegs)) {
			file = append(file, clientlib.Segment{Off: int64(s.offset), Len: int64(s.length)})
		}
	}
	return mem, file, 0
}

//export ferry_go_preadv
func ferry_go_preadv(fh C.int, iov *C.struct_iovec, iovcnt C.int, segs *C.struct_ferry_segment, nsegs C.int) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.read {
		e = syscall.EBADF
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	mem, file, e := listArgs(iov, iovcnt, segs, nsegs)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	n, err := h.f.ReadAtv(bg, mem, file)
	if err != nil && err != io.EOF {
		return C.ssize_t(neg(clientlib.Errno(err)))
	}
	return C.ssize_t(n)
}

//export ferry_go_pwritev
func ferry_go_pwritev(fh C.int, iov *C.struct_iovec, iovcnt C.int, segs *C.struct_ferry_segment, nsegs C.int) C.ssize_t {
	h, e := getFile(fh)
	if e == 0 && !h.write {
		e = syscall.EBADF
	}
	if e == 0 && h.append {
		e = syscall.EINVAL
	}
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	mem, file, e := listArgs(iov, iovcnt, segs, nsegs)
	if e != 0 {
		return C.ssize_t(neg(e))
	}
	n, err := h.f.WriteAtv(bg, mem, file)
	if err != nil {
		return C.ssize_t(neg(clientlib.Errno(err)))
	}
	return C.ssize_t(n)
}
