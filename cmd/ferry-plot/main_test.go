package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/bench"
)

// ferry-plot reads a results directory's CSV and writes the plots there.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	r := &bench.Results{}
	for _, z := range []int64{1 << 20, 4 << 20} {
		r.Points = append(r.Points,
			bench.Point{Kind: bench.KindBaseline, Name: bench.BaseMemcpy, Provider: "-", Dir: "-", Size: z, GBs: bench.Summarize([]float64{9, 10})},
			bench.Point{Kind: bench.KindFerry, Name: "sockets", Provider: "-", Dir: "read", Size: z, Servers: 2, Clients: 1, Cache: "warm", RegCache: "on", GBs: bench.Summarize([]float64{1, 2})})
	}
	f, err := os.Create(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bench.WriteCSV(f, r); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var out, errs strings.Builder
	if err := run([]string{dir}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	names := strings.Fields(out.String())
	if len(names) != 2 || names[0] != "throughput-sockets-read.png" {
		t.Fatalf("printed %q", out.String())
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Error(err)
		}
	}
	if err := run([]string{t.TempDir()}, &out, &errs); err == nil {
		t.Error("a directory without results.csv was accepted")
	}
	if err := run(nil, &out, &errs); err == nil {
		t.Error("no arguments accepted")
	}
	errs.Reset()
	if err := run([]string{"--help"}, &out, &errs); err != nil || !strings.Contains(errs.String(), "usage: ferry-plot") {
		t.Errorf("--help: %v %q, want the usage and no error", err, errs.String())
	}
}
