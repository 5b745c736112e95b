package countername

import (
	"sync"
	"testing"
)

// Join gives prefix+name, from many goroutines at once, and allocates
// nothing for a name it has joined before.
func TestJoin(t *testing.T) {
	var c Cache
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range []string{"sockets", "pipeline", "sendfile"} {
				if got := c.Join("read.requests.", n); got != "read.requests."+n {
					t.Errorf("Join(read.requests., %s) = %q", n, got)
				}
			}
		}()
	}
	wg.Wait()
	if got := c.Join("", ""); got != "" {
		t.Errorf("Join of empty strings = %q", got)
	}
	prefix, name := "write.bytes.", "pipeline"
	if allocs := testing.AllocsPerRun(100, func() { c.Join(prefix, name) }); allocs != 0 {
		t.Errorf("%.1f allocations per Join of a known name, want 0", allocs)
	}
}
