package itest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/fsck"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// soakEnv sets the soak's duration (a Go duration: 30m, 90s); without it
// TestSoak runs a short round (soakShort, a kill or two) in every test
// run. scripts/soak.sh (make soak) runs it for 30 minutes.
const soakEnv = "FERRY_SOAK_DURATION"

const soakShort = 15 * time.Second

// soakFile is what the soak knows of one name: absent, or present with
// the content made from seed and size; unknown after a call that failed
// (it may or may not have happened, or happened in part).
type soakFile struct {
	known   bool
	present bool
	seed    uint64
	size    int
}

func soakContent(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := size &^ 7; i < size; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestSoak runs mixed load (writes, reads, renames, unlinks, listings,
// fsyncs) from several workers while servers are killed with -9 and
// restarted, for FERRY_SOAK_DURATION. Calls may fail while a server is
// down, but never hang, and every read that succeeds of a file whose
// content is known must return exactly that content. At the end every
// file is checked byte for byte and fsck --repair leaves nothing behind.
func TestSoak(t *testing.T) {
	dur := soakShort
	if env := os.Getenv(soakEnv); env != "" {
		d, err := time.ParseDuration(env)
		if err != nil {
			t.Fatalf("%s=%q: %v", soakEnv, env, err)
		}
		dur = d
	} else if testing.Short() {
		t.Skip("kills servers under load for " + soakShort.String() + "; " + soakEnv + " sets how long (make soak: 30m)")
	}
	const servers, workers, names = 4, 4, 12
	cl := testcluster.Start(t, testcluster.Options{Servers: servers})
	// Unlinks with a server down warn of the orphans they leave; fsck at
	// the end is what counts them.
	c := cl.Mount(t, clientlib.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Logf("data path: %s; %v of load with kills", c.DataPath(0), dur)
	limit := 3 * 10 * time.Second // a call that takes longer than three client timeouts hangs

	var (
		ops, fails, verified, bytesOK atomic.Int64
		stop                          = make(chan struct{})
		wg                            sync.WaitGroup
	)
	// call runs one client call, failing the soak if it hangs.
	call := func(what string, f func() error) error {
		ops.Add(1)
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			if err != nil {
				fails.Add(1)
			}
			return err
		case <-time.After(limit):
			t.Errorf("%s: no result within %v: hang", what, limit)
			return <-done
		}
	}
	model := make([][]soakFile, workers)
	for w := range model {
		model[w] = make([]soakFile, names)
		for i := range model[w] {
			model[w][i] = soakFile{known: true}
		}
		if err := c.Mkdir(ctx, fmt.Sprintf("/w%d", w), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := func(w, i int) string { return fmt.Sprintf("/w%d/f%02d", w, i) }
	// check reads name and compares it with what the model says.
	check := func(w, i int) {
		m := &model[w][i]
		var got []byte
		err := call("read "+name(w, i), func() error {
			f, err := c.Open(ctx, name(w, i))
			if err != nil {
				return err
			}
			defer f.Close()
			size, err := f.Size(ctx)
			if err != nil {
				return err
			}
			got = make([]byte, size)
			if size == 0 {
				return nil
			}
			n, err := f.ReadAt(got, 0)
			got = got[:n]
			return err
		})
		if !m.known {
			return
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if m.present {
				t.Errorf("%s: not found, but it was written", name(w, i))
			}
		case err != nil:
		case !m.present:
			t.Errorf("%s: read %d bytes of a file that was removed", name(w, i), len(got))
		case !bytes.Equal(got, soakContent(m.seed, m.size)):
			t.Errorf("%s: read %d bytes that differ from the %d written (seed %d)", name(w, i), len(got), m.size, m.seed)
		default:
			verified.Add(1)
			bytesOK.Add(int64(len(got)))
		}
	}
	write := func(w, i int, r *rand.Rand) error {
		m := &model[w][i]
		seed, size := r.Uint64(), r.IntN(3<<20)
		if r.IntN(4) == 0 {
			size = r.IntN(64 << 10)
		}
		data := soakContent(seed, size)
		err := call("write "+name(w, i), func() error {
			f, err := c.Create(ctx, name(w, i), clientlib.CreateOptions{})
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Truncate(ctx, 0); err != nil {
				return err
			}
			if _, err := f.WriteAt(data, 0); err != nil {
				return err
			}
			if r.IntN(4) == 0 {
				return f.Sync(ctx)
			}
			return nil
		})
		if err != nil {
			*m = soakFile{}
			return err
		}
		*m = soakFile{known: true, present: true, seed: seed, size: size}
		return nil
	}
	remove := func(w, i int) error {
		err := call("unlink "+name(w, i), func() error { return c.Remove(ctx, name(w, i)) })
		switch {
		case err == nil, errors.Is(err, fs.ErrNotExist):
			model[w][i] = soakFile{known: true}
			return nil
		default:
			model[w][i] = soakFile{}
			return err
		}
	}
	rename := func(w, i, j int) {
		if i == j {
			return
		}
		err := call("rename "+name(w, i), func() error { return c.Rename(ctx, name(w, i), name(w, j)) })
		switch {
		case err == nil:
			model[w][j] = model[w][i]
			model[w][i] = soakFile{known: true}
		case errors.Is(err, fs.ErrNotExist) && model[w][i].known && !model[w][i].present:
		default:
			model[w][i], model[w][j] = soakFile{}, soakFile{}
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := r.IntN(names)
				switch op := r.IntN(10); {
				case op < 4:
					write(w, i, r)
				case op < 7:
					check(w, i)
				case op < 8:
					remove(w, i)
				case op < 9:
					rename(w, i, r.IntN(names))
				default:
					call("list", func() error {
						_, err := c.ReadDirPlusPartial(ctx, fmt.Sprintf("/w%d", w))
						return err
					})
				}
			}
		}()
	}
	// The killer: every few seconds one server (the metadata server too,
	// now and then) gets SIGKILL, stays down a while, and is restarted.
	kills := 0
	deadline := time.Now().Add(dur)
	kr := rand.New(rand.NewPCG(99, 1))
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(3+kr.IntN(8)) * time.Second)
		if !time.Now().Before(deadline) {
			break
		}
		victim := kr.IntN(servers)
		cl.Kill(victim)
		kills++
		time.Sleep(time.Duration(1+kr.IntN(4)) * time.Second)
		cl.StartServer(victim)
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if kills == 0 {
		t.Fatalf("no server was killed in %v: lengthen %s", dur, soakEnv)
	}

	// The last restart may have been a moment ago: every server answers
	// before the end is checked.
	for id := range servers {
		for up := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
			if _, _, err := c.Ping(ctx, id); err == nil {
				break
			} else if time.Now().After(up) {
				t.Fatalf("server %d not answering %v after its restart: %v", id, limit, err)
			}
		}
	}
	// Every file: known ones must read back exactly; unknown ones are
	// rewritten (or removed) and then must too. A call may still meet a
	// connection that a restart closed under it and fail once (the
	// client redials on the next call), so each gets a second try.
	r := rand.New(rand.NewPCG(5, 5))
	for w := range model {
		for i := range model[w] {
			var err error
			for try := 0; !model[w][i].known && try < 2; try++ {
				if try > 0 {
					t.Logf("%s: first try after the restarts failed: %v", name(w, i), err)
				}
				if r.IntN(2) == 0 {
					err = write(w, i, r)
				} else {
					err = remove(w, i)
				}
			}
			if !model[w][i].known {
				t.Fatalf("%s: rewrite with every server up failed twice: %v", name(w, i), err)
			}
			check(w, i)
		}
	}
	rep, err := fsck.Check(ctx, c, fsck.Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	after, err := fsck.Check(ctx, c, fsck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Problems() != 0 {
		t.Errorf("fsck after --repair: %d orphans, %d missing, %d misfits", len(after.Orphans), len(after.Missing), len(after.Misfits))
	}
	t.Logf("%v: %d kills, %d calls (%d failed while servers were down), %d reads verified (%d MiB), "+
		"fsck found %d orphans (%d removed), %d missing, %d misfits",
		dur, kills, ops.Load(), fails.Load(), verified.Load(), bytesOK.Load()>>20,
		len(rep.Orphans), len(rep.Removed), len(rep.Missing), len(rep.Misfits))
}
