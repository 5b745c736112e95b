package data

import (
	"testing"
	"time"
)

// rateChoice warms up both ways, then takes the faster one but for one
// pick in exploreEvery, follows a change of which one is faster, and
// ignores samples too small to say anything.
func TestRateChoice(t *testing.T) {
	var r rateChoice
	run := func(picks int, pipeline, sendfile time.Duration) (second int) {
		for range picks {
			s := r.pick()
			d := pipeline
			if s {
				second++
				d = sendfile
			}
			r.record(s, d, 1<<20)
		}
		return second
	}
	// Warm-up: the first way warmSamples times, then the second.
	for i := range 2 * warmSamples {
		want := i >= warmSamples
		if got := r.pick(); got != want {
			t.Fatalf("warm-up pick %d: second=%v, want %v", i, got, want)
		}
		d := time.Millisecond // the second way is the faster
		if !want {
			d = 2 * time.Millisecond
		}
		r.record(want, d, 1<<20)
	}
	if n := run(160, 2*time.Millisecond, time.Millisecond); n != 150 {
		t.Fatalf("second way faster: picked %d of 160, want 150 (one in %d explores)", n, exploreEvery)
	}
	// The machine changes: the second way becomes slower; the average
	// moves with the samples, and the choice follows.
	run(200, time.Millisecond, 4*time.Millisecond)
	if n := run(160, time.Millisecond, 4*time.Millisecond); n != 10 {
		t.Fatalf("second way slower: picked it %d of 160, want 10 (explores only)", n)
	}
	// Small samples do not move the averages.
	before := r.nsPerByte
	r.record(true, time.Hour, minSampleBytes-1)
	if r.nsPerByte != before {
		t.Fatalf("a %d-byte sample moved the averages: %v -> %v", minSampleBytes-1, before, r.nsPerByte)
	}
}
