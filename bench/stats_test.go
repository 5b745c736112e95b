package bench

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarize(t *testing.T) {
	cases := []struct {
		in                    []float64
		med, min, max, q1, q3 float64
		n                     int
	}{
		{[]float64{3}, 3, 3, 3, 3, 3, 1},
		{[]float64{4, 1}, 2.5, 1, 4, 1.75, 3.25, 2},
		{[]float64{5, 1, 3}, 3, 1, 5, 2, 4, 3},
		{[]float64{1, 2, 3, 4, 100}, 3, 1, 100, 2, 4, 5},
		{[]float64{2, math.NaN(), 4, 6, 8}, 5, 2, 8, 3.5, 6.5, 4},
	}
	for _, c := range cases {
		s := Summarize(c.in)
		if s.N != c.n || !near(s.Median, c.med) || !near(s.Min, c.min) || !near(s.Max, c.max) || !near(s.Q1, c.q1) || !near(s.Q3, c.q3) {
			t.Errorf("Summarize(%v) = %+v, want n=%d med=%v min=%v max=%v q1=%v q3=%v", c.in, s, c.n, c.med, c.min, c.max, c.q1, c.q3)
		}
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) || !math.IsNaN(s.Spread()) {
		t.Errorf("empty: %+v", s)
	}
	if sp := Summarize([]float64{1, 2, 3}).Spread(); !near(sp, 1) {
		t.Errorf("spread = %v, want 1", sp)
	}
	in := []float64{9, 1, 5}
	Summarize(in)
	if in[0] != 9 {
		t.Error("Summarize reordered its input")
	}
}

func TestRepBytesAndCycle(t *testing.T) {
	if got := repBytes(64<<20, 16<<20); got != 64<<20 {
		t.Errorf("repBytes = %d", got)
	}
	if got := repBytes(64<<20, 64<<20); got != 128<<20 {
		t.Errorf("repBytes at least two requests: %d", got)
	}
	if got := repBytes(100, 64); got != 128 {
		t.Errorf("repBytes rounds up to whole requests: %d", got)
	}
	c := cycle{n: 10, size: 4}
	var offs []int
	for i := 0; i < 5; i++ {
		offs = append(offs, c.next())
	}
	want := []int{0, 4, 0, 4, 0}
	for i := range want {
		if offs[i] != want[i] {
			t.Fatalf("cycle offsets %v, want %v", offs, want)
		}
	}
}
