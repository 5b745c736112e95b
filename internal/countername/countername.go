// Package countername joins the dotted names of a server's counters
// ("read.requests." + a strategy) once each, so that counting a request
// allocates nothing: a name built anew for every request is a string
// allocation per counter per request.
package countername

import "sync"

// Cache holds the names joined so far. The zero value is ready to use.
type Cache struct {
	mu sync.RWMutex
	m  map[[2]string]string
}

// Join returns prefix+name, built on its first use.
func (c *Cache) Join(prefix, name string) string {
	key := [2]string{prefix, name}
	c.mu.RLock()
	s, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[key]; ok {
		return s
	}
	if c.m == nil {
		c.m = make(map[[2]string]string)
	}
	s = prefix + name
	c.m[key] = s
	return s
}
