package clientlib

import (
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/proto"
)

// A file's ctime is never earlier than its mtime, which a data write on
// the servers sets without the metadata server's ctime knowing.
func TestCtimeNotBeforeMtime(t *testing.T) {
	for _, c := range []struct {
		ctime, storedMtime, dataMtime, want int64
	}{
		{100, 50, 80, 100},  // a change after the last write
		{100, 50, 200, 200}, // a write after the last change
		{100, 300, 0, 300},  // an mtime set later than the change
	} {
		fi := &FileInfo{attr: proto.Attr{Type: proto.TypeFile, Ctime: c.ctime, Mtime: c.storedMtime}, mtime: c.dataMtime}
		if got := fi.Ctime().UnixNano(); got != c.want {
			t.Errorf("ctime %d, stored mtime %d, datafiles' mtime %d: Ctime %d, want %d", c.ctime, c.storedMtime, c.dataMtime, got, c.want)
		}
	}
}

// A bad path is EINVAL, a long one ENAMETOOLONG, and the error says it
// once.
func TestCleanErrors(t *testing.T) {
	for _, c := range []struct {
		path string
		want syscall.Errno
	}{
		{"relative", syscall.EINVAL},
		{"/a/../b", syscall.EINVAL},
		{"/bad\xffutf8", syscall.EINVAL},
		{"/" + strings.Repeat("x", proto.MaxName+1), syscall.ENAMETOOLONG},
	} {
		_, err := clean("stat", c.path)
		if got := Errno(err); got != c.want || strings.Count(err.Error(), c.want.Error()) != 1 {
			t.Errorf("clean(%.20q): %v (errno %v); want %v, said once", c.path, err, got, c.want)
		}
	}
}
