package plot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-hpc/ferry/bench"
)

// results is a small results set: baselines ten times the Ferry figures,
// the case a linear axis drew badly.
func results(withRDMA bool) *bench.Results {
	r := &bench.Results{}
	fixed := func(x float64) bench.Summary { return bench.Summarize([]float64{x * 0.9, x, x * 1.1}) }
	for _, z := range []int64{64 << 10, 1 << 20, 16 << 20} {
		r.Points = append(r.Points,
			bench.Point{Kind: bench.KindBaseline, Name: bench.BaseMemcpy, Provider: "-", Dir: "-", Size: z, GBs: fixed(20)},
			bench.Point{Kind: bench.KindBaseline, Name: bench.BasePread, Provider: "-", Dir: "read", Size: z, GBs: fixed(15)},
			bench.Point{Kind: bench.KindBaseline, Name: bench.BaseTCP, Provider: "-", Dir: "-", Size: z, GBs: fixed(4)})
		for _, d := range []string{"read", "write"} {
			r.Points = append(r.Points, bench.Point{Kind: bench.KindFerry, Name: "sockets", Provider: "-", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", GBs: fixed(1.5)})
			if withRDMA {
				r.Points = append(r.Points,
					bench.Point{Kind: bench.KindBaseline, Name: bench.BaseFabric, Provider: "shm", Dir: "write", Size: z, GBs: fixed(5)},
					bench.Point{Kind: bench.KindFerry, Name: "pipeline", Provider: "shm", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", GBs: fixed(2)},
					bench.Point{Kind: bench.KindFerry, Name: "copy", Provider: "shm", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", Err: "failed"})
			}
		}
	}
	return r
}

func TestWrite(t *testing.T) {
	for _, c := range []struct {
		rdma bool
		want []string
	}{
		{true, []string{"throughput-shm-read.png", "ratio-memcpy-shm-read.png", "throughput-shm-write.png", "ratio-memcpy-shm-write.png"}},
		{false, []string{"throughput-sockets-read.png", "ratio-memcpy-sockets-read.png", "throughput-sockets-write.png", "ratio-memcpy-sockets-write.png"}},
	} {
		dir := t.TempDir()
		names, err := Write(results(c.rdma), dir)
		if err != nil || len(names) != len(c.want) {
			t.Fatalf("rdma %v: %v, %v", c.rdma, names, err)
		}
		for i, n := range names {
			if n != c.want[i] {
				t.Errorf("plot %d is %s, want %s", i, n, c.want[i])
			}
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s: not a PNG (%v)", n, err)
			}
		}
	}
	if names, err := Write(&bench.Results{}, t.TempDir()); len(names) != 0 || err != nil {
		t.Errorf("no points: %v, %v", names, err)
	}
}

// The log axis has labelled ticks even over less than two decades.
func TestLogTicks(t *testing.T) {
	var got []string
	for _, tk := range (logTicks{}).Ticks(0.9, 60) {
		got = append(got, tk.Label)
	}
	want := []string{"1", "2", "5", "10", "20", "50"}
	if len(got) != len(want) {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ticks %v, want %v", got, want)
		}
	}
	if tk := (logTicks{}).Ticks(0, 10); len(tk) != 0 {
		t.Errorf("ticks from 0: %v", tk)
	}
}
