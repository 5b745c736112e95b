package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/internal/testenv"
	"github.com/ferry-hpc/ferry/verbs"
)

// TestEndToEnd runs a tiny sweep against 2 real ferryd servers the bench
// starts itself: sockets and sendfile over shm, read and write, one and
// two clients (the second a worker subprocess), the baselines and the
// registration-cost experiment, and checks that a complete results set
// comes out, with every sockets point measured and, where shm can be
// opened, every sendfile point measured over RDMA on shm. No figure is
// asserted.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	shmErr := openProvider(t, "shm")
	o := QuickOptions()
	o.Mode = "test"
	o.Out = t.TempDir()
	o.Ferryd = testcluster.Binary(t, "ferryd")
	o.Self = testcluster.Binary(t, "ferry")
	o.Plotter = testcluster.Binary(t, "ferry-plot")
	o.TempDir = t.TempDir()
	o.Strategies = []string{"sockets", "sendfile"}
	o.Providers = []string{"shm"}
	o.Sizes = []int64{1 << 20}
	o.ServerCounts = []int{2}
	o.ClientCounts = []int{1, 2}
	o.FileSize, o.Volume, o.BufBytes = 8<<20, 2<<20, 8<<20
	o.Reps, o.MinReps = 2, 1
	var log strings.Builder
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	kinds := map[string]int{}
	for _, p := range res.Points {
		kinds[p.Kind]++
		if p.Kind == KindFerry && p.Name == "sockets" && (p.Err != "" || p.GBs.N == 0 || !(p.GBs.Median > 0)) {
			t.Errorf("sockets point failed: %+v", p)
		}
		if p.Kind == KindFerry && p.Name == "sendfile" {
			switch {
			case shmErr == nil && (p.Err != "" || p.GBs.N == 0 || !(p.GBs.Median > 0) || p.DataPath != "rdma:shm"):
				t.Errorf("sendfile point over shm not measured by RDMA: %+v", p)
			case shmErr != nil && p.Err == "":
				t.Errorf("sendfile point succeeded where shm cannot be opened: %+v", p)
			}
		}
	}
	if kinds[KindFerry] != 2*2*2 || kinds[KindBaseline] == 0 || kinds[KindRegCost] != len(RegCostMethods) {
		t.Errorf("points by kind %v\n%s", kinds, log.String())
	}
	for _, f := range []string{"results.csv", "results.md", "throughput-shm-read.png"} {
		if _, err := os.Stat(filepath.Join(o.Out, f)); err != nil {
			t.Error(err)
		}
	}
	// The servers the bench started are gone with their storage.
	if ents, _ := filepath.Glob(filepath.Join(o.TempDir, "ferry-bench-*")); len(ents) != 0 {
		t.Errorf("storage left behind: %v", ents)
	}
	if shmErr != nil {
		testenv.SkipOrFail(t, "provider shm: %v: the sendfile points ran without RDMA", shmErr)
	}
}

// openProvider opens and closes an endpoint of provider: nil if this
// machine has it, the error wrapping verbs.ErrNotSupported if not.
func openProvider(t testing.TB, provider string) error {
	t.Helper()
	ep, err := verbs.Open(verbs.Config{Provider: provider})
	if errors.Is(err, verbs.ErrNotSupported) {
		return err
	}
	if err != nil {
		t.Fatal(err)
	}
	ep.Close()
	return nil
}
