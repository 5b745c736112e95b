package main

/*
#include <errno.h>
#include <sys/stat.h>
#include "ferry.h"
*/
import "C"

import (
	"io/fs"
	"syscall"
	"unsafe"

	"github.com/ferry-hpc/ferry/clientlib"
)

// pathArg returns the mounted client and the Go copy of a C path.
func pathArg(path *C.char) (*clientlib.Client, string, syscall.Errno) {
	c, e := mounted()
	if e != 0 {
		return nil, "", e
	}
	if path == nil {
		return nil, "", syscall.EFAULT
	}
	return c, C.GoString(path), 0
}

//export ferry_go_stat
func ferry_go_stat(path *C.char, st *C.struct_ferry_stat) C.int {
	c, p, e := pathArg(path)
	if e == 0 && st == nil {
		e = syscall.EFAULT
	}
	if e != 0 {
		return neg(e)
	}
	fi, err := c.Stat(bg, p) // a trailing "/" on a file: ENOTDIR
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	fillStat(st, fi)
	return 0
}

// removeKind removes path if it is a directory (dir) or a file (!dir).
func removeKind(path *C.char, dir bool) C.int {
	c, p, e := pathArg(path)
	if e != 0 {
		return neg(e)
	}
	// The metadata server checks the type with the removal, in one
	// request: no data server is asked (one that is down leaves only
	// its datafile, for fsck), and no name swapped in between is removed.
	remove := c.Unlink
	if dir {
		remove = c.Rmdir
	}
	if err := remove(bg, p); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_unlink
func ferry_go_unlink(path *C.char) C.int { return removeKind(path, false) }

//export ferry_go_rmdir
func ferry_go_rmdir(path *C.char) C.int { return removeKind(path, true) }

//export ferry_go_mkdir
func ferry_go_mkdir(path *C.char, mode C.mode_t) C.int {
	c, p, e := pathArg(path)
	if e != 0 {
		return neg(e)
	}
	if err := c.Mkdir(bg, p, fileMode(mode)); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

// fileMode is a C mode's permission bits with setuid, setgid and sticky.
func fileMode(mode C.mode_t) fs.FileMode {
	m := fs.FileMode(mode).Perm()
	if mode&C.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if mode&C.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if mode&C.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

//export ferry_go_chmod
func ferry_go_chmod(path *C.char, mode C.mode_t) C.int {
	c, p, e := pathArg(path)
	if e != 0 {
		return neg(e)
	}
	if mode&^0o7777 != 0 {
		return neg(syscall.EINVAL)
	}
	if err := c.Chmod(bg, p, fileMode(mode)); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_chown
func ferry_go_chown(path *C.char, uid C.uid_t, gid C.gid_t) C.int {
	c, p, e := pathArg(path)
	if e != 0 {
		return neg(e)
	}
	id := func(v uint32) int { // (uid_t)-1 leaves the id as it is
		if v == ^uint32(0) {
			return -1
		}
		return int(v)
	}
	if err := c.Chown(bg, p, id(uint32(uid)), id(uint32(gid))); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_rename
func ferry_go_rename(oldpath, newpath *C.char) C.int {
	c, op, e := pathArg(oldpath)
	if e == 0 && newpath == nil {
		e = syscall.EFAULT
	}
	if e != 0 {
		return neg(e)
	}
	np := C.GoString(newpath)
	if err := c.Rename(bg, op, np); err != nil {
		return neg(clientlib.Errno(err))
	}
	return 0
}

//export ferry_go_opendir
func ferry_go_opendir(path *C.char) C.int {
	c, p, e := pathArg(path)
	if e != 0 {
		return neg(e)
	}
	ents, err := c.ReadDir(bg, p)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.client != c {
		return neg(syscall.ENXIO)
	}
	i, e := freeSlot(lib.dirs)
	if e != 0 {
		return neg(e)
	}
	d := &dir{ents: ents}
	if i == len(lib.dirs) {
		lib.dirs = append(lib.dirs, d)
	} else {
		lib.dirs[i] = d
	}
	return C.int(i)
}

func getDir(dh C.int) (*dir, syscall.Errno) {
	lib.mu.RLock()
	defer lib.mu.RUnlock()
	if lib.client == nil {
		return nil, syscall.ENXIO
	}
	if dh < 0 || int(dh) >= len(lib.dirs) || lib.dirs[dh] == nil {
		return nil, syscall.EBADF
	}
	return lib.dirs[dh], 0
}

//export ferry_go_readdir
func ferry_go_readdir(dh C.int, ent *C.struct_ferry_dirent) C.int {
	d, e := getDir(dh)
	if e == 0 && ent == nil {
		e = syscall.EFAULT
	}
	if e != 0 {
		return neg(e)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.next >= len(d.ents) {
		return 0
	}
	de := d.ents[d.next]
	d.next++
	name := unsafe.Slice((*byte)(unsafe.Pointer(&ent.name[0])), len(ent.name))
	n := copy(name[:len(name)-1], de.Name)
	name[n] = 0
	ent._type = C.FERRY_DT_REG
	if de.IsDir {
		ent._type = C.FERRY_DT_DIR
	}
	return 1
}

//export ferry_go_closedir
func ferry_go_closedir(dh C.int) C.int {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.client == nil {
		return neg(syscall.ENXIO)
	}
	if dh < 0 || int(dh) >= len(lib.dirs) || lib.dirs[dh] == nil {
		return neg(syscall.EBADF)
	}
	lib.dirs[dh] = nil
	return 0
}

//export ferry_go_statfs
func ferry_go_statfs(st *C.struct_ferry_statfs) C.int {
	c, e := mounted()
	if e == 0 && st == nil {
		e = syscall.EFAULT
	}
	if e != 0 {
		return neg(e)
	}
	fs, err := c.Statfs(bg)
	if err != nil {
		return neg(clientlib.Errno(err))
	}
	*st = C.struct_ferry_statfs{
		bytes:       C.uint64_t(fs.Bytes),
		bytes_free:  C.uint64_t(fs.Free),
		bytes_avail: C.uint64_t(fs.Avail),
		files:       C.uint64_t(fs.Files),
		files_free:  C.uint64_t(fs.FilesFree),
		servers:     C.int32_t(fs.Servers),
	}
	return 0
}
