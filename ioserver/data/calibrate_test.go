package data

import (
	"bytes"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
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

// residentFile tells page-cache pages from pages that are not there, and
// dirty pages from clean ones: a write leaves them resident and dirty,
// fdatasync clean, FADV_DONTNEED drops them.
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
	if !residentFile(f, whole, false) {
		t.Skip("cachestat(2) unavailable (Linux before 6.5): writes go by pipeline")
	}
	if !residentFile(f, [][2]int64{{100, 5000}, {1<<20 - 1, 1}}, false) {
		t.Fatal("unaligned ranges of a written file reported not resident")
	}
	if !residentFile(f, whole, true) {
		t.Fatal("pages just written reported not all dirty")
	}
	var fs unix.Statfs_t
	tmpfs := unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Type == unix.TMPFS_MAGIC
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if !residentFile(f, whole, false) {
		t.Fatal("pages written back reported not resident")
	}
	if residentFile(f, [][2]int64{{4096, 1}}, true) && !tmpfs {
		t.Fatal("a page written back (fdatasync) reported dirty")
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if residentFile(f, whole, false) {
		if tmpfs {
			t.Skip("tmpfs keeps its pages whatever FADV_DONTNEED says")
		}
		t.Fatal("pages dropped from the page cache reported resident")
	}
	if !residentFile(f, nil, true) {
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

// A service whose default is auto measures its copy costs when it is
// given a fabric that auto serves by copies, before any request; one whose
// default is another strategy, or whose choice the config fixes, leaves
// the measure to the first request that asks for auto.
func TestMeasureEarly(t *testing.T) {
	f := openShmFabric(t)
	yes := true
	for _, c := range []struct {
		name     string
		strategy string
		fixed    *bool
		fabrics  []*Fabric
		want     bool
	}{
		{"auto, shm", proto.StrategyAuto, nil, []*Fabric{f}, true},
		{"auto, no fabric", proto.StrategyAuto, nil, nil, false},
		{"pipeline default", proto.StrategyPipeline, nil, []*Fabric{f}, false},
		{"auto_sendfile set", proto.StrategyAuto, &yes, []*Fabric{f}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			stats := &testCounter{}
			s, err := Open(Options{Dir: t.TempDir(), Strategy: c.strategy, PipelineDepth: 2, AutoSendfile: c.fixed, Stats: stats})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.MeasureEarly(c.fabrics); got != c.want {
				t.Fatalf("MeasureEarly = %v, want %v", got, c.want)
			}
			a := s.set[proto.StrategyAuto].(*auto)
			a.wait()
			measured := a.costs.Load() != nil
			if measured != c.want {
				t.Fatalf("costs measured before any request: %v, want %v", measured, c.want)
			}
			if c.want && stats.get("auto.cost.read.pipeline.us") == 0 && stats.get("auto.cost.unmeasured") == 0 {
				t.Fatal("measured, but no auto.cost counter says so")
			}
		})
	}
}
