package bench

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// synthetic is a results set with known figures: memcpy 10 GB/s, fabric
// 5 GB/s on shm, TCP loopback 4 GB/s, pread 7 GB/s at every size.
func synthetic() *Results {
	r := &Results{Machine: Machine{CPU: "test CPU", Host: "testhost", NProc: 3, Virtual: "no hypervisor reported (cpuid)", LoadAvg: "0.50 0.40 0.30", Date: "2026-01-01T00:00:00Z"}, Mode: "test", Setup: []string{"synthetic"}}
	sizes := []int64{64 << 10, 1 << 20, 16 << 20}
	fixed := func(x float64) Summary { return Summarize([]float64{x * 0.9, x, x * 1.1}) }
	for _, z := range sizes {
		r.Points = append(r.Points,
			Point{Kind: KindBaseline, Name: BaseMemcpy, Provider: "-", Dir: "-", Size: z, GBs: fixed(10)},
			Point{Kind: KindBaseline, Name: BasePread, Provider: "-", Dir: "read", Size: z, GBs: fixed(7)},
			Point{Kind: KindBaseline, Name: BaseFabric, Provider: "shm", Dir: "write", Size: z, GBs: fixed(5)},
			Point{Kind: KindBaseline, Name: BaseFabricRead, Provider: "shm", Dir: "read", Size: z, GBs: fixed(6.25)},
			Point{Kind: KindBaseline, Name: BaseTCP, Provider: "-", Dir: "-", Size: z, GBs: fixed(4)},
			Point{Kind: KindBaseline, Name: BaseUnix, Provider: "-", Dir: "-", Size: z, GBs: fixed(8)},
		)
		for _, d := range []string{"read", "write"} {
			r.Points = append(r.Points,
				Point{Kind: KindFerry, Name: "sockets", Provider: "-", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", GBs: fixed(2)},
				Point{Kind: KindFerry, Name: "sendfile", Provider: "shm", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", GBs: fixed(2.5), DataPath: "rdma:shm"},
				Point{Kind: KindFerry, Name: "copy", Provider: "shm", Dir: d, Size: z, Servers: 4, Clients: 1, Cache: "warm", RegCache: "on", Err: "boom | bang"},
			)
		}
		for _, m := range RegCostMethods {
			r.Points = append(r.Points, Point{Kind: KindRegCost, Name: m, Provider: "shm", Dir: "write", Size: z, Pin: true, GBs: fixed(3), PrepUs: fixed(12)})
		}
	}
	return r
}

func TestRatios(t *testing.T) {
	r := synthetic()
	for _, p := range r.Points {
		if p.Kind != KindFerry || p.Err != "" {
			continue
		}
		q := r.RatiosOf(p)
		switch p.Name {
		case "sockets":
			if !near(q.Memcpy, 0.2) || !near(q.Limit, 0.5) || q.LimitName != BaseTCP {
				t.Errorf("sockets ratios %+v", q)
			}
		case "sendfile":
			if p.Dir == "read" && (!near(q.Memcpy, 0.25) || !near(q.Limit, 0.5) || q.LimitName != BaseFabric || !near(q.Pread, 2.5/7)) {
				t.Errorf("sendfile read ratios %+v", q)
			}
			if p.Dir == "write" && (!near(q.Memcpy, 0.25) || !near(q.Limit, 0.4) || q.LimitName != BaseFabricRead || !math.IsNaN(q.Pread)) {
				t.Errorf("sendfile write ratios %+v", q)
			}
		}
	}
	// With the bench's own servers the sockets points are against the
	// Unix stream (TestCSVRoundTrip: a results.csv read back says so).
	r.SocketsLimit = BaseUnix
	sock := Point{Kind: KindFerry, Name: "sockets", Provider: "-", Dir: "read", Size: 1 << 20, GBs: Summarize([]float64{2})}
	if q := r.RatiosOf(sock); !near(q.Limit, 0.25) || q.LimitName != BaseUnix {
		t.Errorf("sockets ratios against the Unix stream %+v", q)
	}
	// A provider without a fabric baseline has no limit ratio.
	q := r.RatiosOf(Point{Kind: KindFerry, Name: "copy", Provider: "tcp;ofi_rxm", Size: 1 << 20, GBs: Summarize([]float64{1})})
	if !math.IsNaN(q.Limit) || !near(q.Memcpy, 0.1) {
		t.Errorf("missing baseline: %+v", q)
	}
}

func TestCSV(t *testing.T) {
	r := synthetic()
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(r.Points)+1 {
		t.Fatalf("%d rows for %d points", len(rows), len(r.Points))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		if len(row) != len(CSVHeader) {
			t.Fatalf("row width %d", len(row))
		}
		if row[col["kind"]] == KindFerry && row[col["name"]] == "sendfile" && row[col["dir"]] == "read" {
			if row[col["median_gbs"]] != "2.5000" || row[col["ratio_memcpy"]] != "0.250" || row[col["ratio_limit"]] != "0.500" {
				t.Errorf("sendfile row %v", row)
			}
		}
		if row[col["kind"]] == KindFerry && row[col["name"]] == "copy" && row[col["error"]] != "boom | bang" {
			t.Errorf("error column %q", row[col["error"]])
		}
		if row[col["kind"]] == KindFerry && row[col["prep_us_median"]] != "" {
			t.Errorf("ferry point with a prep figure: %v", row)
		}
	}
}

func TestMarkdown(t *testing.T) {
	r := synthetic()
	var b bytes.Buffer
	WriteMarkdown(&b, r, []string{"throughput-shm-read.png"})
	md := b.String()
	for _, want := range []string{
		"test CPU",
		"| sendfile / shm | 2.50 (0.25·mc, 0.50·lim) | 2.50 (0.25·mc, 0.50·lim) | 2.50 (0.25·mc, 0.50·lim) | 2.50 (0.25·mc, 0.40·lim) |",
		"*raw fi_read shm (limit of writes)*",
		"| sockets (no fabric) | 2.00 (0.20·mc, 0.50·lim) |",
		"| copy / shm | failed |",
		"*memcpy (1 thread)*",
		"PINNED with mlock",
		`boom \| bang`,
		"![throughput-shm-read.png](throughput-shm-read.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	// The report describes the machine it ran on, never a fixed one.
	if !strings.Contains(md, "These figures come from testhost: test CPU, 3 usable CPUs, no hypervisor reported (cpuid), load average 0.50 0.40 0.30 at the start.") {
		t.Errorf("markdown lacks the machine summary:\n%s", md)
	}
	if strings.Contains(md, "2-core") {
		t.Error("markdown names a machine it did not measure")
	}
	// Sockets sort first among the series.
	if strings.Index(md, "| sockets (TCP") > strings.Index(md, "| sendfile / shm") {
		t.Error("sockets row not first")
	}
}

// Write draws the plots with the ferry-plot program and the report shows
// them.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(synthetic(), dir, testcluster.Binary(t, "ferry-plot")); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.csv", "throughput-shm-read.png", "throughput-shm-write.png", "ratio-memcpy-shm-read.png", "ratio-memcpy-shm-write.png"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".png") {
			if !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG", f)
			}
			if !strings.Contains(string(md), "!["+f+"]("+f+")") {
				t.Errorf("results.md does not show %s", f)
			}
		}
	}
}

// A plotter that fails leaves the CSV and a report without plots, and an
// error that says why.
func TestWritePlotterFails(t *testing.T) {
	dir := t.TempDir()
	err := Write(synthetic(), dir, "/bin/false")
	if err == nil || !strings.Contains(err.Error(), "plots") {
		t.Fatalf("Write with a failing plotter: %v", err)
	}
	for _, f := range []string{"results.csv", "results.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// ReadCSV gives back the points WriteCSV wrote, figures to their printed
// precision (a prep time only where one was measured).
func TestCSVRoundTrip(t *testing.T) {
	r := synthetic()
	r.Points[0].Note, r.Points[0].Wall = "a, \"quoted\" note", 1.25
	r.SocketsLimit = BaseUnix
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != len(r.Points) {
		t.Fatalf("%d points back for %d", len(got.Points), len(r.Points))
	}
	if got.SocketsLimit != BaseUnix {
		t.Errorf("results.csv read back: sockets limit %q, want %q", got.SocketsLimit, BaseUnix)
	}
	same := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-3 }
	for i, want := range r.Points {
		p := got.Points[i]
		if p.key() != want.key() || p.Err != want.Err || p.Note != want.Note || p.DataPath != want.DataPath || p.GBs.N != want.GBs.N ||
			!same(p.GBs.Median, want.GBs.Median) || !same(p.GBs.Min, want.GBs.Min) || !same(p.GBs.Max, want.GBs.Max) ||
			!same(p.GBs.Q1, want.GBs.Q1) || p.PrepUs.N != want.PrepUs.N || !same(p.Wall, want.Wall) ||
			(want.PrepUs.N > 0 && (!same(p.PrepUs.Median, want.PrepUs.Median) || !same(p.PrepUs.Max, want.PrepUs.Max))) {
			t.Errorf("point %d:\n got  %+v\n want %+v", i, p, want)
		}
	}
	if _, err := ReadCSV(strings.NewReader("kind,name\nferry,x\n")); err == nil {
		t.Error("a CSV without the columns was accepted")
	}
}
