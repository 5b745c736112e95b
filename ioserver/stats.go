package ioserver

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferry-hpc/ferry/internal/buildinfo"
	"github.com/ferry-hpc/ferry/proto"
)

// counters are the server's statistics. Each lives in the server's
// Prometheus registry, which the metrics endpoint serves; the dotted names
// (op.read, read.bytes.pipeline, ...) that OpStats answers with, and
// ferry stat --server prints, are read from the same counters.
type counters struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec   // op.<op>
	dataReqs  *prometheus.CounterVec   // <dir>.requests.<strategy>
	dataBytes *prometheus.CounterVec   // <dir>.bytes.<strategy>
	transReqs *prometheus.CounterVec   // <dir>.transport_requests.<provider|inline>
	transByte *prometheus.CounterVec   // <dir>.transport_bytes.<provider|inline>
	errors    *prometheus.CounterVec   // errors.<ERRNO>
	auto      *prometheus.CounterVec   // auto.chose.<strategy>
	fallbacks *prometheus.CounterVec   // fallback.<strategy>
	events    *prometheus.CounterVec   // anything else, by its dotted name
	dropped   prometheus.Counter       // conn.dropped
	latency   *prometheus.HistogramVec // per op, not in OpStats

	// The request path looks its counters up under a read lock; only a
	// name's first use takes the write lock.
	mu     sync.RWMutex
	m      map[string]prometheus.Counter    // by dotted name
	joined map[[2]string]prometheus.Counter // by the name's two parts (AddJoined)
	lat    map[proto.Op]prometheus.Observer
}

func newCounters() *counters {
	reg := prometheus.NewRegistry()
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	c := &counters{
		reg:       reg,
		requests:  vec("requests_total", "Requests served, by operation (data and metadata).", "op"),
		dataReqs:  vec("data_requests_total", "Read and write requests, by direction and serving strategy.", "dir", "strategy"),
		dataBytes: vec("data_bytes_total", "Bytes read and written, by direction and serving strategy.", "dir", "strategy"),
		transReqs: vec("transport_requests_total", "Read and write requests, by direction and fabric provider (inline: on the control connection).", "dir", "provider"),
		transByte: vec("transport_bytes_total", "Bytes read and written, by direction and fabric provider (inline: on the control connection).", "dir", "provider"),
		errors:    vec("errors_total", "Error replies, by errno.", "kind"),
		auto:      vec("auto_choices_total", "Strategies the auto strategy chose.", "strategy"),
		fallbacks: vec("fallbacks_total", "Requests a strategy handed to another.", "strategy"),
		events:    vec("events_total", "Other server events, by name.", "event"),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ferry", Name: "connections_dropped_total",
			Help: "Connections dropped on a protocol or network error."}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ferry", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to its reply, by operation.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 11)}, []string{"op"}),
		m:      make(map[string]prometheus.Counter),
		joined: make(map[[2]string]prometheus.Counter),
		lat:    make(map[proto.Op]prometheus.Observer),
	}
	reg.MustRegister(c.dropped, c.latency, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return c
}

// counter maps a dotted name to its labelled counter.
func (c *counters) counter(name string) prometheus.Counter {
	c.mu.RLock()
	v, ok := c.m[name]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[name]; ok {
		return v
	}
	parts := strings.SplitN(name, ".", 3)
	switch {
	case name == "conn.dropped":
		v = c.dropped
	case len(parts) == 2 && parts[0] == "op":
		v = c.requests.WithLabelValues(parts[1])
	case len(parts) == 2 && parts[0] == "errors":
		v = c.errors.WithLabelValues(parts[1])
	case len(parts) == 2 && parts[0] == "fallback":
		v = c.fallbacks.WithLabelValues(parts[1])
	case len(parts) == 3 && parts[0] == "auto" && parts[1] == "chose":
		v = c.auto.WithLabelValues(parts[2])
	case len(parts) == 3 && (parts[0] == "read" || parts[0] == "write"):
		switch parts[1] {
		case "requests":
			v = c.dataReqs.WithLabelValues(parts[0], parts[2])
		case "bytes":
			v = c.dataBytes.WithLabelValues(parts[0], parts[2])
		case "transport_requests":
			v = c.transReqs.WithLabelValues(parts[0], parts[2])
		case "transport_bytes":
			v = c.transByte.WithLabelValues(parts[0], parts[2])
		}
	}
	if v == nil {
		v = c.events.WithLabelValues(name)
	}
	c.m[name] = v
	return v
}

// Add adds d to the counter name (data.Counter).
func (c *counters) Add(name string, d int64) { c.counter(name).Add(float64(d)) }

// AddJoined adds d to the counter prefix+name (data.Counter), found by the
// two parts after its first use: a name built for every request would be
// a string allocation per counter per request.
func (c *counters) AddJoined(prefix, name string, d int64) {
	key := [2]string{prefix, name}
	c.mu.RLock()
	v, ok := c.joined[key]
	c.mu.RUnlock()
	if !ok {
		v = c.counter(prefix + name)
		c.mu.Lock()
		c.joined[key] = v
		c.mu.Unlock()
	}
	v.Add(float64(d))
}

// observe records one request's latency.
func (c *counters) observe(op proto.Op, since time.Time) {
	d := time.Since(since).Seconds()
	c.mu.RLock()
	o, ok := c.lat[op]
	c.mu.RUnlock()
	if !ok {
		o = c.latency.WithLabelValues(op.String())
		c.mu.Lock()
		c.lat[op] = o
		c.mu.Unlock()
	}
	o.Observe(d)
}

func (c *counters) snapshot() *proto.Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &proto.Stats{}
	for n := range c.m {
		st.Names = append(st.Names, n)
	}
	sort.Strings(st.Names)
	for _, n := range st.Names {
		var m dto.Metric
		c.m[n].Write(&m)
		st.Values = append(st.Values, int64(m.GetCounter().GetValue()))
	}
	return st
}

// registerServer adds the server's state to the registry, read at each
// scrape: connections, requests in progress, open datafiles, start time,
// build, and each fabric's bounce-buffer pool, peers and registered bytes.
func (s *Server) registerServer() {
	r := s.stats.reg
	gauge := func(name, help string, f func() float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ferry", Name: name, Help: help}, f))
	}
	gauge("connections", "Open client connections.", func() float64 { n, _ := s.load(); return float64(n) })
	gauge("requests_in_flight", "Requests being served.", func() float64 { _, n := s.load(); return float64(n) })
	gauge("open_datafiles", "Datafile descriptors open: in use by requests or kept open for the next one.", func() float64 { return float64(s.data.OpenFiles()) })
	gauge("start_time_seconds", "When the server started, Unix time.", func() float64 { return float64(s.started.UnixNano()) / 1e9 })
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ferry", Name: "build_info", Help: "The server's build, in labels; always 1.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Full(), "protocol": strconv.Itoa(int(proto.Version))}}, func() float64 { return 1 }))
	r.MustRegister(fabricCollector{s})
}

var (
	poolWaitsDesc   = prometheus.NewDesc("ferry_pool_waits_total", "Requests that found no bounce buffer free and waited, by provider.", []string{"provider"}, nil)
	poolBuffersDesc = prometheus.NewDesc("ferry_pool_buffers", "Bounce buffers of the fabric's pool, by provider.", []string{"provider"}, nil)
	peersDesc       = prometheus.NewDesc("ferry_fabric_peers", "Client endpoints connected over the fabric, by provider.", []string{"provider"}, nil)
	registeredDesc  = prometheus.NewDesc("ferry_registered_bytes", "Memory registered with the fabric (bounce-buffer pool, spares, page-cache mappings), by provider.", []string{"provider"}, nil)
)

// fabricCollector reads each fabric's pool figures and peers at a scrape.
type fabricCollector struct{ s *Server }

func (fabricCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolWaitsDesc
	ch <- poolBuffersDesc
	ch <- peersDesc
	ch <- registeredDesc
}

func (f fabricCollector) Collect(ch chan<- prometheus.Metric) {
	for _, fab := range f.s.fabrics {
		waits, buffers := fab.PoolStats()
		p := fab.Provider()
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(waits), p)
		ch <- prometheus.MustNewConstMetric(poolBuffersDesc, prometheus.GaugeValue, float64(buffers), p)
		ch <- prometheus.MustNewConstMetric(peersDesc, prometheus.GaugeValue, float64(fab.Peers()), p)
		ch <- prometheus.MustNewConstMetric(registeredDesc, prometheus.GaugeValue, float64(fab.RegisteredBytes()), p)
	}
}

// MetricsHandler serves the server's metrics in the Prometheus formats.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.stats.reg, promhttp.HandlerOpts{Registry: s.stats.reg})
}
