package ioserver

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ferry-hpc/ferry/proto"
)

// counters are the server's statistics by name. The standard library's
// typed atomics do what go.uber.org/atomic would, so no dependency.
type counters struct {
	mu sync.Mutex
	m  map[string]*atomic.Int64
}

func (c *counters) get(name string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*atomic.Int64)
	}
	v, ok := c.m[name]
	if !ok {
		v = new(atomic.Int64)
		c.m[name] = v
	}
	return v
}

// Add adds d to the counter name (data.Counter).
func (c *counters) Add(name string, d int64) { c.get(name).Add(d) }

func (c *counters) snapshot() *proto.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &proto.Stats{}
	for n := range c.m {
		st.Names = append(st.Names, n)
	}
	sort.Strings(st.Names)
	for _, n := range st.Names {
		st.Values = append(st.Values, c.m[n].Load())
	}
	return st
}
