package bench

import (
	"fmt"
	"math"
)

// Kinds of points.
const (
	KindFerry    = "ferry"
	KindBaseline = "baseline"
	KindRegCost  = "regcost"
)

// Point is one measured configuration: the median and spread of its
// repetitions, and what was observed while it ran.
type Point struct {
	Kind     string // ferry, baseline, regcost
	Name     string // strategy (ferry), baseline name, or registration method
	Provider string // fabric provider; "-" where none is used
	Dir      string // read or write; "-" where it does not apply
	Size     int64  // request size, bytes
	Servers  int
	Clients  int
	Cache    string // warm or cold (page cache of the datafiles); "-"
	RegCache string // on or off (client registration cache); "-"
	Pin      bool   // regcost: pages pinned with mlock at registration

	GBs    Summary // throughput over the repetitions, GB/s (1e9 bytes/s)
	PrepUs Summary // regcost: µs per request spent making the buffer RMA-able

	Wall float64 // seconds the point took, setup included

	DataPath  string // ferry: what the client reports (rdma:shm, sockets (...))
	Residency string // ferry: page-cache residency of the datafiles before/after
	Note      string // anything else observed (fallbacks, pool waits, errors)
	Err       string // the point failed: why
}

// Label is the point's series name in tables and plots.
func (p Point) Label() string {
	if p.Kind == KindFerry && p.Name == "sockets" {
		return "sockets (no fabric)"
	}
	return p.Name
}

// key identifies a point's configuration (without its figures).
func (p Point) key() string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%d|%d|%s|%s|%v", p.Kind, p.Name, p.Provider, p.Dir, p.Size, p.Servers, p.Clients, p.Cache, p.RegCache, p.Pin)
}

// Results is a whole results set.
type Results struct {
	Machine Machine
	Mode    string // quick, full, custom
	Setup   []string
	Points  []Point
	// SocketsLimit is the baseline the sockets points' ·lim is taken
	// against: BaseUnix where the bench started its own servers (its
	// client reaches them on their Unix sockets), BaseTCP for servers
	// named by --config ("": BaseTCP).
	SocketsLimit string
}

// Baseline finds the median GB/s of baseline name at size, with provider
// when it matters ("" for any); NaN when it was not measured.
func (r *Results) Baseline(name, provider string, size int64) float64 {
	for _, p := range r.Points {
		if p.Kind == KindBaseline && p.Name == name && p.Size == size && (provider == "" || p.Provider == provider) && p.Err == "" {
			return p.GBs.Median
		}
	}
	return math.NaN()
}

// Ratios of a Ferry point to its limits.
type Ratios struct {
	Memcpy    float64 // to single-thread memcpy
	Limit     float64 // to the transport's own limit: raw fabric write for RDMA strategies, a stream socket for sockets (Results.SocketsLimit)
	Pread     float64 // to a local pread of the page cache (reads)
	LimitName string
}

// RatiosOf computes p's ratios to the baselines of the same size.
func (r *Results) RatiosOf(p Point) Ratios {
	m := p.GBs.Median
	q := Ratios{Memcpy: ratio(m, r.Baseline(BaseMemcpy, "", p.Size)), Pread: math.NaN()}
	if p.Dir == "read" {
		q.Pread = ratio(m, r.Baseline(BasePread, "", p.Size))
	}
	if p.Name == "sockets" {
		lim := r.SocketsLimit
		if lim == "" {
			lim = BaseTCP
		}
		q.Limit, q.LimitName = ratio(m, r.Baseline(lim, "", p.Size)), lim
	} else if p.Dir == "write" {
		// A Ferry write is the server's fi_read from the client's buffer.
		q.Limit, q.LimitName = ratio(m, r.Baseline(BaseFabricRead, p.Provider, p.Size)), BaseFabricRead
	} else {
		q.Limit, q.LimitName = ratio(m, r.Baseline(BaseFabric, p.Provider, p.Size)), BaseFabric
	}
	return q
}
