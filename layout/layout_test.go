package layout

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func randLayout(r *rand.Rand) Layout {
	total := 1 + r.IntN(8)
	return Layout{
		StripSize: int64(MinStripSize * (1 + r.IntN(8))),
		Count:     1 + r.IntN(total),
		First:     r.IntN(total),
		Total:     total,
	}
}

// Every byte of a random range maps to exactly one (server, local offset),
// and that pair maps back to the byte.
func TestMapIsBijective(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		l := randLayout(r)
		off := r.Int64N(20 * l.StripSize)
		n := r.Int64N(10 * l.StripSize)
		ext, err := l.Map(off, n)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[[2]int64]bool{}
		next := off
		for _, e := range ext {
			if e.Logical != next {
				t.Fatalf("%v: extent starts at %d, want %d", l, e.Logical, next)
			}
			if e.Len <= 0 || e.Len > l.StripSize {
				t.Fatalf("%v: extent length %d", l, e.Len)
			}
			j, ok := l.FileServer(e.Server)
			if !ok {
				t.Fatalf("%v: extent on server %d outside the file", l, e.Server)
			}
			for b := int64(0); b < e.Len; b += 1 + e.Len/7 { // sample bytes
				key := [2]int64{int64(e.Server), e.Local + b}
				if seen[key] {
					t.Fatalf("%v: (server %d, local %d) used twice", l, e.Server, e.Local+b)
				}
				seen[key] = true
				if got := l.Logical(j, e.Local+b); got != e.Logical+b {
					t.Fatalf("%v: Logical(%d, %d) = %d, want %d", l, j, e.Local+b, got, e.Logical+b)
				}
			}
			next = e.End()
		}
		if next != off+n {
			t.Fatalf("%v: extents end at %d, want %d", l, next, off+n)
		}
	}
}

// Byte-exact check on small layouts: every byte of a file, one at a time.
func TestEveryByteSmall(t *testing.T) {
	l := Layout{StripSize: MinStripSize, Count: 3, First: 2, Total: 4}
	size := int64(10*MinStripSize + 123)
	used := map[[2]int64]int64{}
	for b := int64(0); b < size; b += 61 {
		ext, err := l.Map(b, 1)
		if err != nil || len(ext) != 1 {
			t.Fatalf("Map(%d,1) = %v, %v", b, ext, err)
		}
		e := ext[0]
		key := [2]int64{int64(e.Server), e.Local}
		if prev, dup := used[key]; dup {
			t.Fatalf("bytes %d and %d share (server %d, local %d)", prev, b, e.Server, e.Local)
		}
		used[key] = b
	}
}

// LocalSize and LogicalEnd agree: a file of size s has datafiles whose
// logical ends have maximum s, and each datafile holds exactly the bytes of
// [0, s) that Map sends to it.
func TestLocalSizeAndLogicalEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 500; iter++ {
		l := randLayout(r)
		size := r.Int64N(30 * l.StripSize)
		if iter%5 == 0 {
			size = l.StripSize * r.Int64N(12) // strip-aligned sizes
		}
		ext, _ := l.Map(0, size)
		want := map[int]int64{}
		for _, e := range ext {
			want[e.Server] += e.Len
		}
		var maxEnd int64
		for j := 0; j < l.Count; j++ {
			got := l.LocalSize(j, size)
			if got != want[l.Server(j)] {
				t.Fatalf("%v size %d: LocalSize(%d) = %d, want %d", l, size, j, got, want[l.Server(j)])
			}
			maxEnd = max(maxEnd, l.LogicalEnd(j, got))
		}
		if maxEnd != size {
			t.Fatalf("%v: max logical end %d, want size %d", l, maxEnd, size)
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	good := Layout{StripSize: 1 << 20, Count: 2, First: 0, Total: 4}
	bad := []Layout{
		{StripSize: 0, Count: 1, Total: 1},
		{StripSize: 1 << 20, Count: 0, Total: 1},
		{StripSize: 1 << 20, Count: 5, Total: 4},
		{StripSize: 1 << 20, Count: 1, First: 4, Total: 4},
		{StripSize: 1 << 20, Count: 1, First: -1, Total: 4},
		{StripSize: MaxStripSize + 1, Count: 1, Total: 1},
	}
	for _, l := range bad {
		if _, err := l.Map(0, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: Map err = %v, want ErrInvalid", l, err)
		}
	}
	for _, r := range [][2]int64{{-1, 1}, {0, -1}, {MaxFileSize, 1}, {1, MaxFileSize}} {
		if _, err := good.Map(r[0], r[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("Map(%d, %d) err = %v, want ErrInvalid", r[0], r[1], err)
		}
	}
	if ext, err := good.Map(5, 0); err != nil || ext != nil {
		t.Errorf("empty range: %v, %v", ext, err)
	}
}

func TestFileServer(t *testing.T) {
	l := Layout{StripSize: 1 << 20, Count: 2, First: 3, Total: 4}
	for id, want := range map[int]int{3: 0, 0: 1} {
		if j, ok := l.FileServer(id); !ok || j != want {
			t.Errorf("FileServer(%d) = %d, %v; want %d", id, j, ok, want)
		}
	}
	for _, id := range []int{1, 2} {
		if _, ok := l.FileServer(id); ok {
			t.Errorf("server %d should hold no strips", id)
		}
	}
}
