package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// store holds one server's datafiles: one file per (file, server),
// named by the file's handle, under root/data.
type store struct {
	dir   string
	files *openFiles
}

// maxIdleFiles is how many datafiles stay open with no request using them.
const maxIdleFiles = 256

func openStore(root string) (*store, error) {
	dir := filepath.Join(root, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create storage directory %s: %w", dir, err)
	}
	return &store{dir: dir, files: newOpenFiles(maxIdleFiles)}, nil
}

// path of a handle's datafile. Handles are checked by the decoder; check
// again here because this is the line that touches the file system.
func (s *store) path(handle string) (string, error) {
	if !proto.ValidHandle(handle) {
		return "", fmt.Errorf("handle %q is not a UUID: %w", handle, unix.EINVAL)
	}
	return filepath.Join(s.dir, handle), nil
}

// open opens a datafile. With create the file is made if missing;
// without, a missing datafile returns (nil, nil): the server holds no
// bytes of that file yet, which reads see as an empty datafile.
func (s *store) open(handle string, create bool) (*os.File, error) {
	p, err := s.path(handle)
	if err != nil {
		return nil, err
	}
	flag := unix.O_RDWR | unix.O_CLOEXEC
	if create {
		flag |= unix.O_CREAT
	}
	// unix.Open and os.NewFile, not os.OpenFile: the latter tries to add
	// every file to the network poller (four fcntl calls and a refused
	// epoll_ctl for a regular file), which a datafile never needs.
	fd, err := unix.Open(p, flag, 0o600)
	if errors.Is(err, unix.ENOENT) && !create {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open datafile %s: %w", handle, &fs.PathError{Op: "open", Path: p, Err: err})
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openReadOnly opens a datafile for reading only (close-on-exec); a
// missing one is ENODATA. It makes none: an empty datafile would move the
// file's mtime (the newest of its datafiles') on a read.
func (s *store) openReadOnly(handle string) (*os.File, error) {
	p, err := s.path(handle)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("server holds no bytes of %s yet: %w", handle, unix.ENODATA)
	}
	if err != nil {
		return nil, fmt.Errorf("open datafile %s: %w", handle, &fs.PathError{Op: "open", Path: p, Err: err})
	}
	return os.NewFile(uintptr(fd), p), nil
}

// acquire is open through the cache of open datafiles: the file stays
// open for later requests. Call release when done with f (also when f is
// nil).
func (s *store) acquire(handle string, create bool) (f *os.File, release func(), err error) {
	return s.files.get(handle, func() (*os.File, error) { return s.open(handle, create) })
}

// size returns the datafile's size and mtime (0, 0 when it does not exist).
func (s *store) size(handle string) (int64, int64, error) {
	p, err := s.path(handle)
	if err != nil {
		return 0, 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("stat datafile %s: %w", handle, err)
	}
	return st.Size(), st.ModTime().UnixNano(), nil
}

// truncate sets the datafile's size, creating it when it must grow.
func (s *store) truncate(handle string, size int64) error {
	p, err := s.path(handle)
	if err != nil {
		return err
	}
	if size == 0 {
		if err := os.Truncate(p, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("truncate datafile %s: %w", handle, err)
		}
		return nil
	}
	f, err := s.open(handle, true)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate datafile %s to %d: %w", handle, size, err)
	}
	return nil
}

// fsync flushes the datafile (if any) and the data directory.
func (s *store) fsync(handle string) error {
	f, err := s.open(handle, false)
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync datafile %s: %w", handle, err)
		}
	}
	return syncDir(s.dir)
}

// remove deletes the datafile; a missing one is not an error.
func (s *store) remove(handle string) error {
	p, err := s.path(handle)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	s.files.drop(handle)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove datafile %s: %w", handle, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// setMtime sets the datafile's mtime, leaving its atime; a missing
// datafile is not an error.
func (s *store) setMtime(handle string, mtime int64) error {
	p, err := s.path(handle)
	if err != nil {
		return err
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("set mtime of datafile %s: %w", handle, err)
	}
	return nil
}

// list returns up to max of the datafiles whose handles sort after
// `after`, in handle order, and whether more follow. It reads the whole
// directory per page (the kernel gives no order to resume from): fsck's
// cost, not the data path's. Names that are not handles are skipped.
func (s *store) list(after string, max int) ([]proto.Datafile, bool, error) {
	d, err := os.Open(s.dir)
	if err != nil {
		return nil, false, fmt.Errorf("list datafiles: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, false, fmt.Errorf("list datafiles in %s: %w", s.dir, err)
	}
	sort.Strings(names)
	i := sort.SearchStrings(names, after)
	var out []proto.Datafile
	for ; i < len(names); i++ {
		n := names[i]
		if n <= after || !proto.ValidHandle(n) {
			continue
		}
		if len(out) == max {
			return out, true, nil
		}
		st, err := os.Lstat(filepath.Join(s.dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		}
		if err != nil {
			return nil, false, fmt.Errorf("stat datafile %s: %w", n, err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		out = append(out, proto.Datafile{Handle: n, Size: st.Size(), Mtime: st.ModTime().UnixNano()})
	}
	return out, false, nil
}
