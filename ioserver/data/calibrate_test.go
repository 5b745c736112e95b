package data

import (
	"bytes"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The calibration runs every way to the end without an error and times
// each (TestCMACopies shows that its copies move the bytes).
func TestMeasureCopyCosts(t *testing.T) {
	c, err := measureCopyCosts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c)
	for name, d := range map[string]int64{"read pipeline": int64(c.ReadPipeline), "read sendfile": int64(c.ReadSendfile),
		"write pipeline": int64(c.WritePipeline), "write sendfile": int64(c.WriteSendfile)} {
		if d <= 0 {
			t.Errorf("%s: %d ns", name, d)
		}
	}
}

func TestCMACopies(t *testing.T) {
	src, dst := bytes.Repeat([]byte("ferry"), 1000), make([]byte, 5000)
	if err := cma(os.Getpid(), src, dst, true); err != nil || !bytes.Equal(src, dst) {
		t.Fatalf("writev: %v", err)
	}
	back := make([]byte, 5000)
	if err := cma(os.Getpid(), back, dst, false); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("readv: %v", err)
	}
}

// residentFile tells page-cache pages from pages that are not there: a
// write leaves them resident, fdatasync and FADV_DONTNEED drop them.
func TestResidentFile(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/resident")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{7}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	whole := [][2]int64{{0, 1 << 20}}
	if !residentFile(f, whole) {
		t.Skip("cachestat(2) unavailable (Linux before 6.5): writes go by pipeline")
	}
	if !residentFile(f, [][2]int64{{100, 5000}, {1<<20 - 1, 1}}) {
		t.Fatal("unaligned ranges of a written file reported not resident")
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if residentFile(f, whole) {
		var fs unix.Statfs_t
		if unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
			t.Skip("tmpfs keeps its pages whatever FADV_DONTNEED says")
		}
		t.Fatal("pages dropped from the page cache reported resident")
	}
	if !residentFile(f, nil) {
		t.Fatal("no ranges: nothing to read, so resident")
	}
}

// A server that cannot measure (here: no data directory) serves by
// pipeline and says so in its counters.
func TestAutoUnmeasured(t *testing.T) {
	stats := &testCounter{}
	a := newAuto(Options{Dir: t.TempDir() + "/missing", Stats: stats})
	if a.measured() != nil {
		t.Fatal("costs known before any measure")
	}
	a.wait()
	c := a.measured()
	if c == nil || c.sendfileReads() || c.sendfileWrites() {
		t.Fatalf("after a failed measure: %+v, want pipeline both ways", c)
	}
	if stats.get("auto.cost.unmeasured") != 1 || stats.get("auto.cost.read.pipeline.us") != 0 {
		t.Fatalf("counters after a failed measure: unmeasured %d, read pipeline %d",
			stats.get("auto.cost.unmeasured"), stats.get("auto.cost.read.pipeline.us"))
	}
}

// sendfile, one copy fewer, keeps a near tie; pipeline takes a direction
// only when it measured clearly cheaper, and an unmeasured server's costs
// send everything by pipeline.
func TestCopyCostChoice(t *testing.T) {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	for _, c := range []struct {
		pipeline, sendfile int
		want               bool // sendfile
	}{
		{3104, 3192, true}, // the near ties of bench/results/2026-12-07b
		{11211, 11717, true},
		{3000, 3000, true},
		{5000, 3000, true},
		{2600, 3000, false}, // pipeline 13 % cheaper
		{0, int(time.Hour / time.Microsecond), false},
	} {
		costs := copyCosts{ReadPipeline: us(c.pipeline), ReadSendfile: us(c.sendfile),
			WritePipeline: us(c.pipeline), WriteSendfile: us(c.sendfile)}
		if costs.sendfileReads() != c.want || costs.sendfileWrites() != c.want {
			t.Errorf("pipeline %d µs, sendfile %d µs: reads by sendfile %v, writes %v; want %v",
				c.pipeline, c.sendfile, costs.sendfileReads(), costs.sendfileWrites(), c.want)
		}
	}
}
