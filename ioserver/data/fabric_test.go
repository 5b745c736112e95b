package data

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testenv"
	"github.com/ferry-hpc/ferry/verbs"
)

// openShmFabric opens a server fabric on shm with a small pool, closed
// when the test ends.
func openShmFabric(t *testing.T) *Fabric {
	t.Helper()
	f, err := OpenFabric("shm", "", verbs.PortRange{}, 4<<20, 1<<20)
	if errors.Is(err, verbs.ErrNotSupported) {
		testenv.SkipOrFail(t, "shm: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// openClients opens n shm endpoints standing for clients, closed when
// the test ends.
func openClients(t *testing.T, n int) [][]byte {
	t.Helper()
	var addrs [][]byte
	for range n {
		ep, err := verbs.Open(verbs.Config{Provider: "shm"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		addrs = append(addrs, ep.Address())
	}
	return addrs
}

// Connections of many clients come and go at once (hellos and closes,
// several connections per client): a peer is in the address vector for
// as long as any connection holds it, even while another connection of
// the same client releases it, and the last release takes it out.
// Connect does not hold the fabric's lock while the endpoint inserts, so
// that clients' hellos do not wait for one another; this checks that an
// insert of an address still never overtakes its remove.
func TestFabricConnectReleaseConcurrently(t *testing.T) {
	f := openShmFabric(t)
	addrs := openClients(t, 8)
	const conns, rounds = 4, 50 // connections per client, each connecting and closing rounds times
	var wg sync.WaitGroup
	errs := make(chan error, len(addrs)*conns)
	for _, a := range addrs {
		for range conns {
			wg.Go(func() {
				for r := range rounds {
					p, err := f.Connect(a)
					if err != nil {
						errs <- err
						return
					}
					if !f.Usable(p) {
						errs <- fmt.Errorf("round %d: peer %v of %s left the address vector while a connection holds it", r, p, a)
						f.Release(p)
						return
					}
					if err := f.Release(p); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.Peers(); n != 0 {
		t.Fatalf("%d peers left with every connection closed", n)
	}
	// And held ones stay: one connection per client, all at once.
	var held []verbs.Peer
	for _, a := range addrs {
		p, err := f.Connect(a)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if n := f.Peers(); n != len(addrs) {
		t.Fatalf("%d peers for %d clients connected", n, len(addrs))
	}
	for _, p := range held {
		if !f.Usable(p) {
			t.Fatalf("peer %v not in the address vector", p)
		}
		if err := f.Release(p); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Peers(); n != 0 {
		t.Fatalf("%d peers left with every connection closed", n)
	}
}
