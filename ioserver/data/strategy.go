package data

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// strategy moves the bytes of one data request between a datafile and a
// client. It sees only its env and returns what it moved; it never writes
// a reply.
type strategy interface {
	// Read delivers up to j.lens[i] bytes of extent i to the client.
	Read(ctx context.Context, e *env, j *job) (Result, error)
	// Write stores every extent's bytes from the client in j.file.
	Write(ctx context.Context, e *env, j *job) (Result, error)
}

// strategies holds one constructor per name in proto.StrategyNames.
// Adding a strategy is one file and one line here.
var strategies = map[string]func(Options) strategy{
	proto.StrategySockets:  func(Options) strategy { return sockets{} },
	proto.StrategyCopy:     func(Options) strategy { return bounce{depth: 1} },
	proto.StrategyPipeline: func(o Options) strategy { return bounce{depth: o.PipelineDepth} },
	proto.StrategySendfile: func(Options) strategy { return sendfile{} },
	proto.StrategyAuto:     func(o Options) strategy { return newAuto(o) },
}

// job is one checked data request.
type job struct {
	req  *proto.IOReq
	file *os.File  // nil on reads of a datafile this server lacks
	lens []int64   // reads: bytes to deliver per extent, clamped to the datafile's size
	body io.Reader // inline writes: the extents' bytes, back to back
}

// end is where the request's deliverable bytes end in the datafile: the
// clamped lengths for reads, the whole extents for writes (0 when empty).
func (j *job) end(read bool) int64 {
	var end int64
	for i, x := range j.req.Extents {
		n := x.Len
		if read {
			n = j.lens[i]
		}
		if n > 0 {
			end = max(end, x.Local+n)
		}
	}
	return end
}

// env is everything a strategy may use.
type env struct {
	link     Link       // RDMA: the request's fabric (endpoint and pool) and the client's peer
	maps     *mapCache  // registered datafile mappings
	locks    *fileLocks // held around RMA from a mapping
	stats    Counter
	log      *slog.Logger
	strategy func(name string) strategy // the others, for fallback and auto
}

// Result is what a strategy moved.
type Result struct {
	Strategy string  // the strategy that served the request, as asked ("auto" stays "auto")
	Lens     []int64 // reads: bytes delivered per extent
	Bytes    int64   // bytes moved in all
	Size     int64   // reads: the datafile's size when the request started
	// Inline, set on reads by the sockets strategy, writes the Lens' bytes
	// back to back onto the client's connection (with sendfile(2)); the
	// connection layer calls it right after the reply's control part,
	// holding its write lock. An error leaves the frame cut short.
	Inline func(w Sink) error
	// Small, set instead of Inline for small reads, holds the Lens'
	// bytes already read, so the reply goes out in one write (one
	// segment: the client wakes once). Release returns it to its pool
	// once written.
	Small   []byte
	Release func()
}

// Sink is where a read's inline bytes go: a client's connection, or the
// socket its replies go out on. Written as a stream, or by sendfile(2)
// where it has a descriptor (syscall.Conn).
type Sink = io.Writer

// Counter counts events by name: the server's statistics. AddJoined is
// Add(prefix+name, n) for a name built per request from a fixed prefix
// and a part that varies (a strategy): the counter is found by the two
// parts, so counting a request allocates nothing.
type Counter interface {
	Add(name string, n int64)
	AddJoined(prefix, name string, n int64)
}

// Link is the fabric and the client's peer an RDMA request moves bytes
// over; inline requests have none.
type Link struct {
	Fabric *Fabric
	Peer   verbs.Peer
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}
