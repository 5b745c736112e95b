package ioserver

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ferry-hpc/ferry/internal/rawio"
)

// DefaultSpinWait is how long a connection's read loop polls for the
// client's next request, when it polls (config spin_wait). A client
// reading or writing 4 KiB at a time, one request after another, sends
// its next request within a few microseconds of the reply; a thread that
// sleeps in the poller meanwhile costs the wake-up, about 12 µs of a
// 30 µs round trip on the development VM (bench/results/2026-12-07c).
const DefaultSpinWait = 20 * time.Microsecond

// nextPoll decides, per connection, whether the read loop polls for the
// next request before its thread sleeps in the poller: while the last
// poll caught the request within the budget, or 6 of the last 8 did (a
// client in a tight loop of small requests to this server), and
// otherwise once every probeEvery waits, to find out whether the client
// has settled into one. Small reads striped over several servers, whose
// next request mostly goes to another, so rarely poll. Fewer of a
// server's connections poll at once than Go has CPUs (GOMAXPROCS), so a
// polling thread never holds the last one.
type nextPoll struct {
	conn   *rawio.Conn // the connection's socket
	budget time.Duration
	shared *pollers
	hist   uint8 // the last 8 polls, newest in bit 0: 1 = the request came in time
	since  uint8 // waits without a poll
}

// pollers is what a server's connections share: how many poll now, the
// bound, and the server's counters (conn.poll.hit, conn.poll.miss).
type pollers struct {
	now, max atomic.Int32
	count    func(name string, n int64)
}

// probeEvery is how many waits a connection whose polls mostly missed
// makes between probes.
const probeEvery = 32

func newPollers(budget time.Duration, count func(string, int64)) *pollers {
	p := &pollers{count: count}
	if budget > 0 {
		p.max.Store(int32(runtime.GOMAXPROCS(0) - 1)) // the CPUs Go may use (a container's limit)
	}
	return p
}

// newNextPoll starts as if a poll had caught its request: the first wait
// polls.
func newNextPoll(conn *rawio.Conn, budget time.Duration, shared *pollers) *nextPoll {
	return &nextPoll{conn: conn, budget: budget, shared: shared, hist: 1}
}

// want says whether this wait polls.
func (n *nextPoll) want() bool {
	if n.budget <= 0 {
		return false
	}
	if n.hist&1 != 0 || bits.OnesCount8(n.hist) >= 6 {
		return true
	}
	n.since++
	return n.since >= probeEvery
}

// record notes a poll's outcome.
func (n *nextPoll) record(hit bool) {
	n.hist <<= 1
	if hit {
		n.hist |= 1
	}
	n.since = 0
}

// wait polls the socket for the next request if this wait should, within
// the server's bound on polling connections.
func (n *nextPoll) wait() {
	if n == nil || !n.want() {
		return
	}
	p := n.shared
	if p.now.Add(1) > p.max.Load() {
		p.now.Add(-1)
		return
	}
	hit := n.conn.Spin(n.budget)
	p.now.Add(-1)
	n.record(hit)
	if hit {
		p.count("conn.poll.hit", 1)
	} else {
		p.count("conn.poll.miss", 1)
	}
}
