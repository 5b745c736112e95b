package ioserver

import "testing"

// AddJoined counts into the same counter as Add of the whole name (one
// entry in the snapshot), and a name counted before costs no allocation.
func TestAddJoined(t *testing.T) {
	c := newCounters()
	c.AddJoined("read.requests.", "sockets", 2)
	c.Add("read.requests.sockets", 3)
	c.AddJoined("read.requests.", "sockets", 4)
	st := c.snapshot()
	n := 0
	for i, name := range st.Names {
		if name == "read.requests.sockets" {
			n++
			if st.Values[i] != 9 {
				t.Errorf("read.requests.sockets = %d, want 9", st.Values[i])
			}
		}
	}
	if n != 1 {
		t.Fatalf("read.requests.sockets appears %d times in %v", n, st.Names)
	}
	prefix, name := "write.bytes.", "pipeline"
	c.AddJoined(prefix, name, 1)
	if allocs := testing.AllocsPerRun(100, func() { c.AddJoined(prefix, name, 1) }); allocs != 0 {
		t.Errorf("%.1f allocations per AddJoined of a known name, want 0", allocs)
	}
}
