package clientlib

import (
	"io/fs"
	"path"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// FileInfo describes a file or directory. It implements fs.FileInfo.
type FileInfo struct {
	attr    proto.Attr
	cap     proto.Cap // a file's, for the sizes of a listing
	size    int64
	mtime   int64
	sizeErr error // why size and mtime lack a server's part (ReadDirPlusPartial)
}

// SizeErr is why Size and ModTime may be short: a server that holds
// strips of the file did not answer (nil when every server did).
func (fi *FileInfo) SizeErr() error { return fi.sizeErr }

func (fi *FileInfo) Name() string { return path.Base(fi.attr.Path) }
func (fi *FileInfo) Size() int64  { return fi.size }
func (fi *FileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.attr.Mode & 0o777)
	if fi.attr.Type == proto.TypeDir {
		m |= fs.ModeDir
	}
	if fi.attr.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.attr.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.attr.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (fi *FileInfo) ModTime() time.Time {
	return time.Unix(0, max(fi.attr.Mtime, fi.mtime))
}
func (fi *FileInfo) IsDir() bool { return fi.attr.Type == proto.TypeDir }

// Sys returns the *proto.Attr behind the info.
func (fi *FileInfo) Sys() any { return &fi.attr }

// Path is the absolute path in Ferry's namespace.
func (fi *FileInfo) Path() string { return fi.attr.Path }

// Handle is the file's handle (the name of its datafiles).
func (fi *FileInfo) Handle() string { return fi.attr.Handle }

// Layout is the file's striping.
func (fi *FileInfo) Layout() layout.Layout { return fi.attr.Layout }

// Atime, Ctime and UID/GID. Ctime is never earlier than ModTime: a
// data write, which the servers time, changes the file too.
func (fi *FileInfo) Atime() time.Time { return time.Unix(0, fi.attr.Atime) }
func (fi *FileInfo) Ctime() time.Time {
	return time.Unix(0, max(fi.attr.Ctime, fi.ModTime().UnixNano()))
}
func (fi *FileInfo) UID() uint32 { return fi.attr.UID }
func (fi *FileInfo) GID() uint32 { return fi.attr.GID }
