package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
)

// Every strategy name of the wire vocabulary has exactly one
// implementation here, and every implementation has a name there.
func TestEveryStrategyNameHasAnImplementation(t *testing.T) {
	have := slices.Sorted(maps.Keys(strategies))
	want := slices.Sorted(slices.Values(proto.StrategyNames()))
	if !slices.Equal(have, want) {
		t.Fatalf("implemented strategies %v, proto.StrategyNames %v", have, want)
	}
}

type testCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *testCounter) Add(name string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]int64)
	}
	c.m[name] += n
}

func (c *testCounter) AddJoined(prefix, name string, n int64) { c.Add(prefix+name, n) }

func (c *testCounter) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

func newService(t *testing.T) (*Service, *testCounter) {
	t.Helper()
	stats := &testCounter{}
	s, err := Open(Options{Dir: t.TempDir(), PipelineDepth: 2, Timeout: 5 * time.Second, Stats: stats, Log: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, stats
}

const handle = "0f8fad5b-d9cb-469f-a165-70867728950e"

var oneServer = layout.Layout{StripSize: 64 << 10, Count: 1, Total: 1}

// tcpPair returns the two ends of a loopback TCP connection: sockets reads
// stream with sendfile(2), which needs a real socket.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// An inline write lands in the datafile; an inline read returns the
// deliverable lengths (short at the end, zero past it) and streams exactly
// those bytes, and the connection layer owns the frame around them.
func TestSocketsWriteThenRead(t *testing.T) {
	s, stats := newService(t)
	ctx := context.Background()
	payload := []byte("hello, striped world")
	w := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: int64(len(payload))}}}
	res, err := s.Write(ctx, w, Link{}, bytes.NewReader(payload))
	if err != nil || res.Bytes != int64(len(payload)) || res.Strategy != proto.StrategySockets {
		t.Fatalf("write: %+v, %v", res, err)
	}
	r := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{
		{Local: 7, Len: 7}, {Local: 14, Len: 100}, {Local: 1000, Len: 5}}}
	srv, cli := tcpPair(t)
	var got Result
	err = s.Read(ctx, r, Link{}, func(res Result) error {
		got = res
		if res.Small == nil {
			t.Fatal("small inline read not handed over as bytes")
		}
		defer res.Release()
		_, err := srv.Write(res.Small)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Lens, []int64{7, 6, 0}) || got.Bytes != 13 || got.Size != int64(len(payload)) {
		t.Fatalf("result %+v", got)
	}
	buf := make([]byte, got.Bytes)
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cli, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != string(payload[7:20]) {
		t.Fatalf("streamed %q, want %q", buf, payload[7:20])
	}
	if stats.get("read.bytes.sockets") != 13 || stats.get("write.bytes.sockets") != int64(len(payload)) {
		t.Fatalf("counters %v", stats.m)
	}
}

// An inline read larger than the small-read buffer is streamed by the
// connection layer with sendfile, byte for byte.
func TestSocketsLargeReadStreams(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	payload := make([]byte, smallRead*3+17)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	w := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: int64(len(payload))}}}
	if _, err := s.Write(ctx, w, Link{}, bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	r := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 1, Len: int64(len(payload))}}}
	srv, cli := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		done <- s.Read(ctx, r, Link{}, func(res Result) error {
			if res.Inline == nil || res.Small != nil {
				return fmt.Errorf("large inline read: stream %v, small %d bytes", res.Inline != nil, len(res.Small))
			}
			return res.Inline(srv)
		})
	}()
	buf := make([]byte, len(payload)-1)
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cli, buf); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, payload[1:]) {
		t.Fatal("streamed bytes differ from the datafile's")
	}
}

// A datafile this server does not have reads as empty, not as an error.
func TestReadMissingDatafile(t *testing.T) {
	s, _ := newService(t)
	r := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 10}}}
	err := s.Read(context.Background(), r, Link{}, func(res Result) error {
		if res.Bytes != 0 || !slices.Equal(res.Lens, []int64{0}) {
			t.Errorf("result %+v", res)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An RDMA request naming a strategy that does not exist, or sockets, is
// refused with EINVAL before anything is touched.
func TestPickRefuses(t *testing.T) {
	s, _ := newService(t)
	for _, name := range []string{"warp", proto.StrategySockets} {
		r := &proto.IOReq{Handle: handle, Layout: oneServer, Transport: proto.RDMA, Strategy: name,
			Extents: []proto.Extent{{Local: 0, Len: 1}}}
		if _, err := s.Write(context.Background(), r, Link{}, nil); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("strategy %q: %v, want EINVAL", name, err)
		}
	}
	if _, err := Open(Options{Dir: t.TempDir(), Strategy: "warp", PipelineDepth: 1}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("default strategy warp: %v, want EINVAL", err)
	}
}

func TestTruncateRemoveSize(t *testing.T) {
	s, _ := newService(t)
	w := &proto.IOReq{Handle: handle, Layout: oneServer, Extents: []proto.Extent{{Local: 0, Len: 4}}}
	if _, err := s.Write(context.Background(), w, Link{}, bytes.NewReader([]byte("abcd"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(handle, 2); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.Size(handle); n != 2 || err != nil {
		t.Fatalf("size after truncate: %d, %v", n, err)
	}
	if err := s.Fsync(handle); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(handle); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.Size(handle); n != 0 || err != nil {
		t.Fatalf("size after remove: %d, %v", n, err)
	}
	if err := s.Remove(handle); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, _, err := s.Size("../../etc/passwd"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("hostile handle: %v, want EINVAL", err)
	}
}
