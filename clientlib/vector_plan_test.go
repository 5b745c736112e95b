package clientlib

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/layout"
)

var testLayout = layout.Layout{StripSize: 64 << 10, Count: 4, First: 1, Total: 4}

// applyPlan plays a write plan onto a model file, checking each extent
// against the layout on the way.
func applyPlan(t *testing.T, l layout.Layout, p *vplan, file []byte) {
	t.Helper()
	for _, r := range p.reqs {
		var bytes int64
		for _, x := range r.exts {
			m, err := l.Map(x.logical, x.n)
			if err != nil || len(m) != 1 || m[0].Server != r.server || m[0].Local != x.local {
				t.Fatalf("extent %+v of server %d: layout says %+v (%v)", x, r.server, m, err)
			}
			if int64(len(x.mem)) != x.n {
				t.Fatalf("extent of %d bytes has %d bytes of memory", x.n, len(x.mem))
			}
			if r.win >= 0 && x.win != r.win {
				t.Fatalf("request of window %d holds an extent of window %d", r.win, x.win)
			}
			copy(file[x.logical:], x.mem)
			bytes += x.n
		}
		if bytes != r.bytes {
			t.Fatalf("request counts %d bytes, its extents %d", r.bytes, bytes)
		}
	}
}

// streamWrite is what a list write must leave: the pieces' bytes, in
// order, at the segments, in order.
func streamWrite(mem [][]byte, segs []Segment, file []byte) {
	stream := bytes.Join(mem, nil)
	for _, s := range segs {
		copy(file[s.Off:s.Off+s.Len], stream)
		stream = stream[s.Len:]
	}
}

// randomList: non-overlapping sorted file segments and strided memory
// pieces in one buffer, with the same total.
func randomList(rng *rand.Rand, buf []byte, fileSize int64) ([][]byte, []Segment) {
	var segs []Segment
	var total int64
	for off := int64(rng.IntN(5000)); off < fileSize; {
		n := int64(1 + rng.IntN(70000))
		if off+n > fileSize {
			n = fileSize - off
		}
		segs = append(segs, Segment{off, n})
		total += n
		off += n + int64(rng.IntN(9000))
	}
	var mem [][]byte
	at := 0
	for left := total; left > 0; {
		n := min(left, int64(1+rng.IntN(40000)))
		mem = append(mem, buf[at:at+int(n)])
		at += int(n) + rng.IntN(64)
		left -= n
	}
	return mem, segs
}

func TestPlanVectorMapsEveryByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 50; iter++ {
		const fileSize = 1 << 20
		buf := make([]byte, 3<<20)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		mem, segs := randomList(rng, buf, fileSize)
		maxReq := int64(1 + rng.IntN(300000))
		p, err := planVector(testLayout, mem, segs, maxReq, int64(rng.IntN(2))*math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		got, want := make([]byte, fileSize), make([]byte, fileSize)
		applyPlan(t, testLayout, p, got)
		streamWrite(mem, segs, want)
		if !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: the plan moves other bytes than the list says", iter)
		}
		for _, r := range p.reqs {
			if r.bytes > maxReq || len(r.exts) > maxVecExtents {
				t.Fatalf("request of %d bytes, %d extents (max %d bytes)", r.bytes, len(r.exts), maxReq)
			}
		}
	}
}

func TestPlanVectorOneRequestPerServer(t *testing.T) {
	buf := make([]byte, 1<<20)
	var mem [][]byte
	var segs []Segment
	// 2000 pieces of 8 bytes, every other 8 bytes of memory, to every
	// 512th byte of a 1 MiB file: 4 servers, 4 strips each.
	for i := 0; i < 2000; i++ {
		mem = append(mem, buf[16*i:16*i+8])
		segs = append(segs, Segment{int64(i) * 512, 8})
	}
	for _, inline := range []int64{0, math.MaxInt64} {
		p, err := planVector(testLayout, mem, segs, 4<<20, inline)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.wins) != 1 {
			t.Fatalf("%d windows for pieces in one buffer, want 1", len(p.wins))
		}
		if len(p.reqs) != 4 {
			t.Fatalf("inline below %d: %d requests, want one per server (4)", inline, len(p.reqs))
		}
		seen := map[int]bool{}
		for _, r := range p.reqs {
			if seen[r.server] {
				t.Fatalf("two requests for server %d", r.server)
			}
			seen[r.server] = true
		}
	}
}

func TestPlanVectorFarPiecesGetTheirOwnWindows(t *testing.T) {
	a, b := make([]byte, 64<<10), make([]byte, 8<<20)
	mem := [][]byte{a[:4096], b[4<<20 : 4<<20+4096], a[8192:12288]} // b's piece is 4 MiB from anything else
	segs := []Segment{{0, 12288}}
	p, err := planVector(testLayout, mem, segs, 4<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.wins) != 2 {
		t.Fatalf("%d windows, want 2 (a's pieces share one)", len(p.wins))
	}
	got, want := make([]byte, 1<<16), make([]byte, 1<<16)
	for i := range a {
		a[i] = byte(i)
	}
	for i := range b {
		b[i] = byte(i * 7)
	}
	applyPlan(t, testLayout, p, got)
	streamWrite(mem, segs, want)
	if !bytes.Equal(got, want) {
		t.Fatal("plan across two windows moves the wrong bytes")
	}
}

func TestPlanVectorSplitsManyExtents(t *testing.T) {
	n := maxVecExtents + 10
	buf := make([]byte, 2*n)
	var mem [][]byte
	var segs []Segment
	l := layout.Layout{StripSize: 1 << 30, Count: 1, First: 0, Total: 1}
	for i := 0; i < n; i++ {
		mem = append(mem, buf[2*i:2*i+1])
		segs = append(segs, Segment{int64(2 * i), 1})
	}
	p, err := planVector(l, mem, segs, 4<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.reqs) != 2 || len(p.reqs[0].exts) != maxVecExtents {
		t.Fatalf("%d requests (first of %d extents), want 2 (first of %d)", len(p.reqs), len(p.reqs[0].exts), maxVecExtents)
	}
}

func TestPlanVectorMergesNeighbours(t *testing.T) {
	buf := make([]byte, 1<<16)
	// One piece, two file segments that touch: one extent.
	p, err := planVector(testLayout, [][]byte{buf[:300]}, []Segment{{100, 100}, {200, 200}}, 4<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.reqs) != 1 || len(p.reqs[0].exts) != 1 || p.reqs[0].exts[0].n != 300 {
		t.Fatalf("touching segments over one piece: %+v, want one extent of 300", p.reqs)
	}
}

// A read list is cut where no file reaches: at layout.MaxFileSize, in
// file and memory alike; lists planVector refuses are left whole.
func TestBelowLimit(t *testing.T) {
	buf := make([]byte, 100)
	const max = layout.MaxFileSize
	mem, segs, cut := belowLimit([][]byte{buf[:30], buf[30:100]}, []Segment{{0, 40}, {max - 20, 50}, {5, 10}})
	if !cut || len(segs) != 2 || segs[1] != (Segment{max - 20, 20}) || len(mem) != 2 || len(mem[0]) != 30 || len(mem[1]) != 30 {
		t.Errorf("a list across the limit: %v %d pieces, %v", segs, len(mem), cut)
	}
	mem, segs, cut = belowLimit([][]byte{buf[:10]}, []Segment{{max, 10}})
	if !cut || len(segs) != 0 || len(mem) != 0 {
		t.Errorf("a list past the limit: %v %d pieces, %v", segs, len(mem), cut)
	}
	for _, segs := range [][]Segment{{{0, 10}}, {{-1, 10}}, {{max, 11}}, {{max, 5}}} {
		if _, got, cut := belowLimit([][]byte{buf[:10]}, segs); cut || len(got) != len(segs) {
			t.Errorf("%v: cut to %v, want it whole", segs, got)
		}
	}
}

func TestPlanVectorInvalid(t *testing.T) {
	buf := make([]byte, 100)
	for _, c := range []struct {
		mem  [][]byte
		segs []Segment
	}{
		{[][]byte{buf[:10]}, []Segment{{0, 11}}},
		{[][]byte{buf[:10]}, []Segment{{-1, 10}}},
		{[][]byte{buf[:10]}, []Segment{{0, -10}, {0, 20}}},
	} {
		if _, err := planVector(testLayout, c.mem, c.segs, 4<<20, 0); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%v: %v, want EINVAL", c.segs, err)
		}
	}
	for _, segs := range [][]Segment{{{layout.MaxFileSize - 5, 10}}, {{layout.MaxFileSize + 1, 0}, {0, 10}}} {
		if _, err := planVector(testLayout, [][]byte{buf[:10]}, segs, 4<<20, 0); !errors.Is(err, errPastLimit) {
			t.Errorf("%v: %v, want errPastLimit", segs, err)
		}
	}
	p, err := planVector(testLayout, nil, []Segment{{5, 0}}, 4<<20, 0)
	if err != nil || len(p.reqs) != 0 || p.total != 0 {
		t.Errorf("empty list: %+v, %v", p, err)
	}
}
