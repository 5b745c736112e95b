package data

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ferry-hpc/ferry/proto"
)

// readSmall reads n bytes at 0 of h through the service's inline path.
func readSmall(t *testing.T, s *Service, h string, n int64) ([]int64, []byte) {
	t.Helper()
	r := &proto.IOReq{Handle: h, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: n}}}
	var lens []int64
	var got []byte
	err := s.Read(context.Background(), r, Link{}, func(res Result) error {
		lens = res.Lens
		if res.Small != nil {
			got = append([]byte(nil), res.Small...)
			res.Release()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lens, got
}

// A datafile stays open between requests, and its removal closes it: a
// read after the removal finds no datafile (not the removed bytes through
// a kept descriptor), and nothing stays open.
func TestOpenDatafileKeptAndDroppedOnRemove(t *testing.T) {
	s, _ := newService(t)
	w := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 4}}}
	if _, err := s.Write(context.Background(), w, Link{}, bytes.NewReader([]byte("abcd"))); err != nil {
		t.Fatal(err)
	}
	if _, got := readSmall(t, s, handle, 4); string(got) != "abcd" {
		t.Fatalf("read %q", got)
	}
	if n := s.OpenFiles(); n != 1 {
		t.Fatalf("%d datafiles open after two requests on one, want 1 (kept open)", n)
	}
	if err := s.Remove(handle); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenFiles(); n != 0 {
		t.Fatalf("%d datafiles open after the removal, want 0", n)
	}
	if lens, got := readSmall(t, s, handle, 4); lens[0] != 0 || len(got) != 0 {
		t.Fatalf("read after removal: lens %v bytes %q, want nothing", lens, got)
	}
}

// A datafile truncated or rewritten by path is seen through the kept
// descriptor (it is the same inode).
func TestOpenDatafileSeesTruncate(t *testing.T) {
	s, _ := newService(t)
	w := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 6}}}
	if _, err := s.Write(context.Background(), w, Link{}, bytes.NewReader([]byte("abcdef"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(handle, 2); err != nil {
		t.Fatal(err)
	}
	if lens, got := readSmall(t, s, handle, 6); !slices.Equal(lens, []int64{2}) || string(got) != "ab" {
		t.Fatalf("after truncate: lens %v bytes %q", lens, got)
	}
	if err := s.Truncate(handle, 0); err != nil {
		t.Fatal(err)
	}
	if lens, _ := readSmall(t, s, handle, 6); lens[0] != 0 {
		t.Fatalf("after truncate to 0: lens %v", lens)
	}
}

// Many files and many concurrent requests: at most maxIdleFiles
// descriptors stay open once the requests are done, every read returns
// its own file's bytes, and closing the service closes them all.
func TestOpenDatafilesBounded(t *testing.T) {
	s, _ := newService(t)
	const files = maxIdleFiles + 40
	handles := make([]string, files)
	for i := range handles {
		handles[i] = fmt.Sprintf("%08x-d9cb-469f-a165-70867728950e", i)
		w := &proto.IOReq{Handle: handles[i], Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 8}}}
		if _, err := s.Write(context.Background(), w, Link{}, bytes.NewReader([]byte(handles[i][:8]))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, files*4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range handles {
				h := handles[(i+g*37)%files]
				r := &proto.IOReq{Handle: h, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 8}}}
				err := s.Read(context.Background(), r, Link{}, func(res Result) error {
					defer res.Release()
					if string(res.Small) != h[:8] {
						return fmt.Errorf("read of %s gave %q", h, res.Small)
					}
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.OpenFiles(); n > maxIdleFiles {
		t.Fatalf("%d datafiles open, want at most %d", n, maxIdleFiles)
	}
	s.Close()
	if n := s.OpenFiles(); n != 0 {
		t.Fatalf("%d datafiles open after Close", n)
	}
	// The descriptors are really closed: none of the process's fds points
	// into the storage directory.
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if filepath.Dir(target) == s.store.dir {
			t.Fatalf("fd %s still open on %s", fd.Name(), target)
		}
	}
}
