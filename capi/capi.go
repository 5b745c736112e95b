// Command capi is libferry, Ferry's C library, built with
//
//	go build -buildmode=c-shared -o build/lib/libferry.so ./capi
//
// The public interface is the hand-written include/ferry.h. The public
// functions are defined in C (ferry.c) with exactly the header's
// prototypes, so the compiler checks the header against the definitions;
// each one calls a Go function exported here as ferry_go_<name>. The Go
// side keeps two tables, open files and open directory listings, indexed by
// the small integers C sees: no Go pointer ever crosses into C.
//
// Buffers passed to ferry_pread and ferry_pwrite reach clientlib as a
// []byte over the C memory (unsafe.Slice, no copy), so a later RDMA
// registration cache registers the application's memory in place.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/include -Wall
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "ferry.h"
*/
import "C"

import (
	"context"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/buildinfo"
	"github.com/ferry-hpc/ferry/internal/clientenv"
)

func main() {} // required by -buildmode=c-shared; never runs

// maxHandles bounds each handle table (files, directories).
const maxHandles = 1 << 20

// lib is the library's state. mu guards every field; I/O runs without it
// (a call looks its handle up, then works on the handle alone).
var lib struct {
	mu     sync.RWMutex
	refs   int // successful ferry_init calls not yet finalized
	client *clientlib.Client
	files  []*file // index = fh; nil = free
	dirs   []*dir  // index = dh; nil = free
}

// file is one open file handle.
type file struct {
	f      *clientlib.File
	read   bool // opened O_RDONLY or O_RDWR
	write  bool // opened O_WRONLY or O_RDWR
	append bool // O_APPEND

	mu  sync.Mutex // serializes position calls and appends; guards pos
	pos int64
}

// dir is one open directory listing (a snapshot).
type dir struct {
	mu   sync.Mutex
	ents []clientlib.DirEntry
	next int
}

var bg = context.Background()

// neg turns an errno into the negative C return value.
func neg(e syscall.Errno) C.int { return -C.int(e) }

// mounted returns the client, or ENXIO before ferry_init / after finalize.
func mounted() (*clientlib.Client, syscall.Errno) {
	lib.mu.RLock()
	defer lib.mu.RUnlock()
	if lib.client == nil {
		return nil, syscall.ENXIO
	}
	return lib.client, 0
}

// getFile looks up an open file handle.
func getFile(fh C.int) (*file, syscall.Errno) {
	lib.mu.RLock()
	defer lib.mu.RUnlock()
	if lib.client == nil {
		return nil, syscall.ENXIO
	}
	if fh < 0 || int(fh) >= len(lib.files) || lib.files[fh] == nil {
		return nil, syscall.EBADF
	}
	return lib.files[fh], 0
}

// addFile puts f in the lowest free slot. c is the client f came from: if
// the library was finalized (and maybe re-initialized) since, it fails.
func addFile(c *clientlib.Client, f *file) (C.int, syscall.Errno) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.client == nil || lib.client != c {
		return -1, syscall.ENXIO
	}
	i, e := freeSlot(lib.files)
	if e != 0 {
		return -1, e
	}
	if i == len(lib.files) {
		lib.files = append(lib.files, f)
	} else {
		lib.files[i] = f
	}
	return C.int(i), 0
}

// freeSlot returns the lowest nil index of t (len(t) if none is nil).
func freeSlot[T any](t []*T) (int, syscall.Errno) {
	for i, v := range t {
		if v == nil {
			return i, 0
		}
	}
	if len(t) >= maxHandles {
		return -1, syscall.EMFILE
	}
	return len(t), 0
}

// versionC is buildinfo.Full as a C string, made once and never freed
// (ferry_version returns it to callers as static).
var versionC = sync.OnceValue(func() *C.char { return C.CString(buildinfo.Full()) })

//export ferry_go_version
func ferry_go_version() *C.char { return versionC() }

//export ferry_go_init
func ferry_go_init(path *C.char) C.int {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.refs > 0 {
		lib.refs++
		return 0
	}
	cfg, e := configPath(path)
	if e != 0 {
		return neg(e)
	}
	opts, err := clientenv.Options(clientlib.Options{Name: "libferry:" + os.Args[0]}, getenv)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	c, err := clientlib.Mount(bg, cfg, opts)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	lib.client = c
	lib.refs = 1
	return 0
}

// getenv reads the environment through C: Go's os.Getenv sees it as it was
// when the library was loaded, not as the program has changed it since.
func getenv(name string) string {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	v := C.getenv(cn)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

// configPath picks the config file: the argument, then $FERRY_CONFIG, then
// ./.ferry-local/ferry.toml (clientenv.ConfigPath); ENOENT when there is none.
func configPath(path *C.char) (string, syscall.Errno) {
	arg := ""
	if path != nil {
		arg = C.GoString(path)
	}
	p, err := clientenv.ConfigPath(arg, getenv)
	if err != nil {
		return "", clientlib.Errno(err)
	}
	if _, err := os.Stat(p); err != nil {
		return "", clientlib.Errno(err)
	}
	return p, 0
}

//export ferry_go_finalize
func ferry_go_finalize() C.int {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.refs == 0 {
		return neg(syscall.ENXIO)
	}
	lib.refs--
	if lib.refs > 0 {
		return 0
	}
	for i, f := range lib.files {
		if f != nil {
			f.f.Close()
			lib.files[i] = nil
		}
	}
	lib.files, lib.dirs = nil, nil
	lib.client.Close()
	lib.client = nil
	return 0
}
