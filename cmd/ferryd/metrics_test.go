package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the sample of family name whose labels include want (the sum
// over the matching samples), and whether any matched.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// Every server serves /metrics when configured; the counters move with a
// copy, agree with what OpStats (ferry stat --server) reports, and
// latency histograms fill.
func TestMetrics(t *testing.T) {
	maddrs := testcluster.FreePorts(t, 2)
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, Edit: func(c *config.Config) {
		for i := range c.Servers {
			c.Servers[i].MetricsAddress = maddrs[i]
		}
	}})
	before := scrape(t, maddrs[1])
	w0, _ := value(before, "ferry_requests_total", map[string]string{"op": "write"})
	if v, ok := value(before, "ferry_build_info", nil); !ok || v != 1 {
		t.Fatalf("ferry_build_info: %v %v", v, ok)
	}

	ctx := context.Background()
	// Reads by request (a client on the servers' host reads their
	// datafiles itself otherwise), so that the servers count them.
	c := cl.Mount(t, clientlib.Options{Provider: "none", LocalReads: clientlib.LocalReadsOff})
	f, err := c.Create(ctx, "/m", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20) // 16 strips of 64 KiB: 8 on each server
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := c.Stat(ctx, "/missing"); err == nil {
		t.Fatal("stat of a missing file succeeded")
	}

	for i, addr := range maddrs {
		fams := scrape(t, addr)
		stats, err := c.ServerStats(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{"read", "write"} {
			b, ok := value(fams, "ferry_data_bytes_total", map[string]string{"dir": dir})
			if !ok || b != 512<<10 {
				t.Errorf("server %d: ferry_data_bytes_total{dir=%q} = %v, want %d", i, dir, b, 512<<10)
			}
			tb, _ := value(fams, "ferry_transport_bytes_total", map[string]string{"dir": dir, "provider": "inline"})
			if tb != b {
				t.Errorf("server %d: inline transport bytes %v, data bytes %v", i, tb, b)
			}
		}
		// The same counters behind OpStats.
		w, _ := value(fams, "ferry_requests_total", map[string]string{"op": "write"})
		if int64(w) != stats["op.write"] || w == 0 {
			t.Errorf("server %d: metrics say %v writes, OpStats %d", i, w, stats["op.write"])
		}
		if i == 1 && w <= w0 {
			t.Errorf("server 1: writes did not move: %v then %v", w0, w)
		}
		if n, ok := value(fams, "ferry_request_duration_seconds", map[string]string{"op": "read"}); !ok || n == 0 {
			t.Errorf("server %d: no read latencies (%v)", i, n)
		}
		if n, _ := value(fams, "ferry_connections", nil); n < 1 {
			t.Errorf("server %d: ferry_connections %v", i, n)
		}
		// The file's datafile stays open for the next request.
		if n, ok := value(fams, "ferry_open_datafiles", nil); !ok || n != 1 {
			t.Errorf("server %d: ferry_open_datafiles = %v (%v), want 1", i, n, ok)
		}
		// Each fabric the server opened registered its bounce buffers.
		if f := fams["ferry_registered_bytes"]; f != nil {
			for _, m := range f.Metric {
				if m.GetGauge().GetValue() <= 0 {
					t.Errorf("server %d: %v registers no bytes", i, m.Label)
				}
			}
		}
	}
	if err := c.Remove(ctx, "/m"); err != nil {
		t.Fatal(err)
	}
	for i, addr := range maddrs {
		if n, _ := value(scrape(t, addr), "ferry_open_datafiles", nil); n != 0 {
			t.Errorf("server %d: ferry_open_datafiles = %v after the file's removal, want 0", i, n)
		}
	}
	// The missing file was looked up on the metadata server: an ENOENT.
	meta := cl.Config.MetadataServer
	if n, _ := value(scrape(t, maddrs[meta]), "ferry_errors_total", map[string]string{"kind": "ENOENT"}); n < 1 {
		t.Errorf("ferry_errors_total{kind=ENOENT} = %v", n)
	}
	if logs, err := os.ReadFile(cl.LogPath(0)); err != nil || !strings.Contains(string(logs), "serving metrics") {
		t.Errorf("server 0's log does not say where metrics are (%v)", err)
	}
}
