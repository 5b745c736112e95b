//go:build cgo

package verbs

/*
#include <stdlib.h>
#include "fabric.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// PSMStubsEnv turns the PSM stand-ins off ("off") or names the directory
// they are in (see doc.go, "Loading libfabric"). Unlike the client's
// settings (internal/clientenv), verbs reads it itself, through C's
// getenv: it says how a library is loaded into the process, as
// libfabric's own FI_* variables do, whichever program (ferryd, ferry, a C
// program through libferry, which may have called setenv) loads it first.
const PSMStubsEnv = "FERRY_PSM_STUBS"

// KallsymsEnv, set to "on", lets libfabric's verbs provider scan
// /proc/kallsyms in its init as it does unguarded (see kallsyms.c): only a
// program that registers GPU memory through the libfabric Ferry loaded
// needs what it finds. Read with C's getenv, like PSMStubsEnv.
const KallsymsEnv = "FERRY_LIBFABRIC_KALLSYMS"

// The stand-ins' file names, by FVB_STUB_* bit.
var stubNames = []struct {
	bit  C.int
	name string
}{{C.FVB_STUB_PSM2, "libpsm2.so.2"}, {C.FVB_STUB_PSM, "libpsm_infinipath.so.1"}}

var fabricLoad struct {
	once    sync.Once
	err     error
	stubbed []string // the libraries stood in for
}

// loadFabric loads libfabric into the process, once: the first Open (or
// LibfabricVersion) pays for it. A process that cannot load it gets an
// error wrapping ErrNotSupported from every Open, so "auto" and clients
// fall back to the sockets path.
func loadFabric() error {
	fabricLoad.once.Do(func() {
		dir := stubDir()
		cdir := C.CString(dir)
		defer C.free(unsafe.Pointer(cdir))
		var stubbed C.int
		var note [C.FERRY_ERRLEN]C.char
		var errbuf [C.FERRY_ERRLEN]C.char
		if C.fvb_load(cdir, &stubbed, &note[0], C.size_t(len(note)), &errbuf[0], C.size_t(len(errbuf))) != 0 {
			fabricLoad.err = fmt.Errorf("verbs: %s: %w", cstr(errbuf[:]), ErrNotSupported)
			return
		}
		for _, s := range stubNames {
			if stubbed&s.bit != 0 {
				fabricLoad.stubbed = append(fabricLoad.stubbed, s.name)
			}
		}
		if n := cstr(note[:]); n != "" {
			slog.Debug("verbs: PSM stand-ins", "dir", dir, "note", n)
		}
	})
	return fabricLoad.err
}

// StubbedLibraries names the libfabric dependencies this process loaded
// stand-ins for (empty before the first Open, or when none were used).
func StubbedLibraries() []string {
	if loadFabric() != nil {
		return nil
	}
	return append([]string(nil), fabricLoad.stubbed...)
}

// kallsymsGuard reports the guard over libfabric's init (kallsyms.c): the
// /proc/kallsyms opens it refused, whether it is still on, and whether
// libfabric's fopen slots hold their original values again.
func kallsymsGuard() (refused uint64, on, restored bool) {
	return uint64(C.fvb_kallsyms_refused()), C.fvb_kallsyms_guarded() != 0, C.fvb_fopen_slots_restored() != 0
}

// stubDir is where the PSM stand-ins are: $FERRY_PSM_STUBS, else beside
// the code running: <dir of libferry.so>/ferry in a C program, else
// <libdir>/ferry from the executable's ../, where CMake's libdir is lib
// (the build tree, prefixes other than /usr), lib/<multiarch> (Debian's
// /usr) or lib64 (Red Hat's). "" when off or not found.
func stubDir() string {
	switch v := strings.TrimSpace(cgetenv(PSMStubsEnv)); {
	case strings.EqualFold(v, "off"):
		return ""
	case v != "":
		return v
	}
	var candidates []string
	if self := C.GoString(C.fvb_self_object()); sharedObject.MatchString(filepath.Base(self)) {
		candidates = append(candidates, filepath.Join(filepath.Dir(self), "ferry"))
	} else if exe, err := os.Executable(); err == nil {
		bin := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(bin, "..", "lib", "ferry"))
		if t := multiarch(); t != "" {
			candidates = append(candidates, filepath.Join(bin, "..", "lib", t, "ferry"))
		}
		candidates = append(candidates, filepath.Join(bin, "..", "lib64", "ferry"))
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, stubNames[0].name)); err == nil {
			return d
		}
	}
	return ""
}

// cgetenv reads the process's environment as C sees it now (Go's os.Getenv
// in libferry sees it as it was when the library loaded).
func cgetenv(name string) string {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if v := C.getenv(cn); v != nil {
		return C.GoString(v)
	}
	return ""
}

// sharedObject matches a shared library's file name (libferry.so.0.1.0).
var sharedObject = regexp.MustCompile(`\.so(\.[0-9.]+)?$`)

// multiarch is Debian's library directory name for this architecture.
func multiarch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-linux-gnu"
	case "arm64":
		return "aarch64-linux-gnu"
	case "ppc64le":
		return "powerpc64le-linux-gnu"
	}
	return ""
}

// abiVersion is the symbol version loadFabric binds a libfabric entry
// point at (tests compare it with what -lfabric binds).
func abiVersion(name string) string {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return C.GoString(C.fvb_abi_version(cn))
}
