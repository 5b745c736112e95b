package bench

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residency returns the fraction of the pages of files that are in the
// page cache (mincore on a read-only mapping of each file). Files that
// cannot be checked count as not resident.
func residency(files []string) float64 {
	var pages, resident int64
	ps := int64(os.Getpagesize())
	for _, f := range files {
		r, n, err := fileResidency(f, ps)
		if err != nil {
			continue
		}
		pages += n
		resident += r
	}
	if pages == 0 {
		return 0
	}
	return float64(resident) / float64(pages)
}

func fileResidency(path string, ps int64) (resident, pages int64, err error) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil || st.Size() == 0 {
		return 0, 0, err
	}
	size := st.Size()
	m, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Munmap(m)
	n := (size + ps - 1) / ps
	vec := make([]byte, n)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, 0, e
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return resident, n, nil
}

// dropCache writes back and evicts the files' pages
// (fdatasync + posix_fadvise DONTNEED): the next read comes from storage.
func dropCache(files []string) error {
	for _, f := range files {
		fd, err := os.OpenFile(f, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = unix.Fdatasync(int(fd.Fd()))
		if err == nil {
			err = unix.Fadvise(int(fd.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		fd.Close()
		if err != nil {
			return fmt.Errorf("drop page cache of %s: %w", f, err)
		}
	}
	return nil
}

// warmCache reads the files so their pages are resident.
func warmCache(files []string) error {
	buf := make([]byte, 4<<20)
	for _, f := range files {
		fd, err := os.Open(f)
		if err != nil {
			return err
		}
		unix.Fadvise(int(fd.Fd()), 0, 0, unix.FADV_WILLNEED)
		for {
			_, err := fd.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				fd.Close()
				return err
			}
		}
		fd.Close()
	}
	return nil
}

// anonBuffer maps n bytes of anonymous memory (which never moves, so the
// fabric may touch it) and touches every page, so first-touch cost stays
// out of the timings.
func anonBuffer(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i>>12) | 1
	}
	return b, nil
}

func freeBuffer(b []byte) {
	if b != nil {
		unix.Munmap(b)
	}
}
