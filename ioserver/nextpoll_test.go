package ioserver

import (
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/rawio"
)

// nextPoll polls first, keeps polling while polls catch the request (or 6
// of the last 8 did), stops after a miss, probes every probeEvery waits
// while stopped, and never polls with a budget of 0 or below.
func TestNextPollDecisions(t *testing.T) {
	p := newPollers(time.Millisecond, func(string, int64) {})
	n := newNextPoll(nil, time.Millisecond, p)
	if !n.want() {
		t.Fatal("a new connection's first wait does not poll")
	}
	for i := range 8 {
		if !n.want() {
			t.Fatalf("poll %d after hits: not wanted", i)
		}
		n.record(true)
	}
	n.record(false) // one miss among hits: 7 of the last 8 hit
	if !n.want() {
		t.Fatal("one miss in a run of hits stopped polling")
	}
	for range 3 {
		n.record(false)
	}
	waits := 0
	for !n.want() {
		waits++
		if waits > probeEvery {
			t.Fatalf("no probe within %d waits after misses", probeEvery)
		}
	}
	if waits != probeEvery-1 {
		t.Errorf("probed after %d waits without polling, want %d", waits, probeEvery-1)
	}
	n.record(true) // the probe hit: the next wait polls again
	if !n.want() {
		t.Error("a probe that hit is not followed by a poll")
	}
	for _, budget := range []time.Duration{0, -time.Nanosecond} {
		off := newNextPoll(nil, budget, newPollers(budget, func(string, int64) {}))
		for i := range 3 * probeEvery {
			if off.want() {
				t.Fatalf("budget %v: wait %d polls", budget, i)
			}
		}
	}
}

// A wait polls the socket within the server's bound on polling
// connections: a request already there is a hit, none is a miss after the
// budget, and with the bound at 0 nothing polls.
func TestNextPollWait(t *testing.T) {
	a, b := socketPair(t)
	counts := map[string]int64{}
	p := newPollers(50*time.Microsecond, func(name string, n int64) { counts[name] += n })
	p.max.Store(1)
	n := newNextPoll(rawio.New(a), 50*time.Microsecond, p)
	b.Write([]byte{1})
	n.wait()
	if counts["conn.poll.hit"] != 1 || n.hist&1 != 1 {
		t.Fatalf("a waiting byte: counters %v, history %08b", counts, n.hist)
	}
	var one [1]byte
	a.Read(one[:])
	n.wait()
	if counts["conn.poll.miss"] != 1 || n.hist&1 != 0 {
		t.Fatalf("nothing sent: counters %v, history %08b", counts, n.hist)
	}
	if p.now.Load() != 0 {
		t.Fatalf("%d polling after the waits", p.now.Load())
	}
	p.max.Store(0)
	n.record(true)
	n.wait()
	if counts["conn.poll.hit"]+counts["conn.poll.miss"] != 2 {
		t.Fatalf("polled past a bound of 0: %v", counts)
	}
}
