//go:build cgo

package verbs

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

const benchBuf = 256 << 20 // cycle through more memory than the caches hold

var benchSizes = []int{16 << 10, 64 << 10, 1 << 20, 4 << 20}

func BenchmarkWrite(b *testing.B) { benchRMA(b, true) }
func BenchmarkRead(b *testing.B)  { benchRMA(b, false) }

// memcpyGBs measures a single-thread copy of size-byte pieces cycling
// through the same buffers.
func memcpyGBs(dst, src []byte, size, n int) float64 {
	if min := (64 << 20) / size; n < min {
		n = min // at least 64 MiB, so small sizes do not run cache-hot
	}
	start := time.Now()
	off := 0
	for i := 0; i < n; i++ {
		if off+size > len(src) {
			off = 0
		}
		copy(dst[off:off+size], src[off:off+size])
		off += size
	}
	return float64(size) * float64(n) / time.Since(start).Seconds() / 1e9
}

func benchRMA(b *testing.B, write bool) {
	for _, prov := range testProviders {
		b.Run(prov, func(b *testing.B) {
			p := newPair(b, prov)
			local, remote := mmapBuf(b, benchBuf), mmapBuf(b, benchBuf)
			fill(local, 1) // first touch outside the timings
			fill(remote, 2)
			ml := reg(b, p.a, local, AccessLocal)
			mr := reg(b, p.b, remote, AccessRemoteRead|AccessRemoteWrite)
			rb, _ := mr.Remote(0, benchBuf)
			ctx := context.Background()
			// The target expects RMA, as a client does while its
			// requests are in flight: on shm it hands back command
			// slots at that pace.
			defer p.b.Expect()()
			for _, size := range benchSizes {
				for _, depth := range []int{1, 8} {
					b.Run(fmt.Sprintf("%dKiB/depth%d", size>>10, depth), func(b *testing.B) {
						b.SetBytes(int64(size))
						ring := make([]*Op, depth)
						off := uint64(0)
						b.ResetTimer()
						start := time.Now()
						for i := 0; i < b.N; i++ {
							k := i % depth
							if ring[k] != nil {
								if err := ring[k].Wait(ctx); err != nil {
									b.Fatal(err)
								}
							}
							if off+uint64(size) > benchBuf {
								off = 0
							}
							var op *Op
							var err error
							// At depth 1 the caller waits for each
							// operation next (StartWaiting); deeper, it
							// goes on posting while the owner copies.
							start := p.a.Start
							if depth == 1 {
								start = p.a.StartWaiting
							}
							if write {
								op, err = start(ctx, RMA{Kind: Write, Peer: p.peer, Local: One(ml, off, uint64(size)), Remote: rb, Off: off})
							} else {
								op, err = start(ctx, RMA{Kind: Read, Peer: p.peer, Local: One(ml, off, uint64(size)), Remote: rb, Off: off})
							}
							if err != nil {
								b.Fatal(err)
							}
							ring[k] = op
							off += uint64(size)
						}
						for _, op := range ring {
							if op != nil {
								if err := op.Wait(ctx); err != nil {
									b.Fatal(err)
								}
							}
						}
						el := time.Since(start)
						b.StopTimer()
						gbs := float64(size) * float64(b.N) / el.Seconds() / 1e9
						mc := memcpyGBs(remote, local, size, b.N)
						b.ReportMetric(gbs, "GB/s")
						b.ReportMetric(mc, "memcpy-GB/s")
						b.ReportMetric(gbs/mc, "ratio")
					})
				}
			}
		})
	}
}

// FERRY_BENCH_OWNER_ONLY=1 makes every post wait for the owner's turn, as
// before callers took turns, for comparison.
func init() {
	if os.Getenv("FERRY_BENCH_OWNER_ONLY") == "1" {
		callerTurns = false
	}
}
