package clientlib

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// File is an open Ferry file. It is safe for concurrent use; ReadAt and
// WriteAt at disjoint ranges may run at once from many goroutines.
type File struct {
	c      *Client
	attr   proto.Attr
	capab  capability
	closed atomic.Bool
	local  *localFiles // descriptors of datafiles on this host (localread.go)
}

func (c *Client) newFile(a proto.Attr, cp proto.Cap) *File {
	f := &File{c: c, attr: a, local: &localFiles{c: c}}
	f.capab.cap = cp
	return f
}

// Name is the file's path.
func (f *File) Name() string { return f.attr.Path }

// Layout is the file's striping.
func (f *File) Layout() layout.Layout { return f.attr.Layout }

// Handle is the file's handle.
func (f *File) Handle() string { return f.attr.Handle }

// Close marks the file closed. Data is already on the servers (writes
// return only then); Close does not fsync.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return &Error{Op: "close", Path: f.attr.Path, Server: -1, Err: closedError{"file"}}
	}
	f.local.close()
	return nil
}

func (f *File) check(op string, off int64) error {
	if f.closed.Load() {
		return &Error{Op: op, Path: f.attr.Path, Server: -1, Err: closedError{"file"}}
	}
	if off < 0 {
		return &Error{Op: op, Path: f.attr.Path, Server: -1, Err: fmt.Errorf("negative offset %d: %w", off, syscall.EINVAL)}
	}
	return nil
}

// request is one data request to one server: some of its extents.
type request struct {
	server  int
	extents []layout.Extent
	bytes   int64
}

// plan splits [off, off+n) into per-server requests of at most maxReq bytes.
func (f *File) plan(off, n int64) ([]request, error) {
	by, err := f.attr.Layout.ByServer(off, n)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, syscall.EINVAL)
	}
	var out []request
	for server, exts := range by {
		cur := request{server: server}
		for _, e := range exts {
			for e.Len > 0 { // split extents larger than a request
				room := f.c.opts.MaxRequest - cur.bytes
				if room == 0 {
					out = append(out, cur)
					cur = request{server: server}
					room = f.c.opts.MaxRequest
				}
				part := e
				part.Len = min(e.Len, room)
				cur.extents = append(cur.extents, part)
				cur.bytes += part.Len
				e.Logical += part.Len
				e.Local += part.Len
				e.Len -= part.Len
			}
		}
		if len(cur.extents) > 0 {
			out = append(out, cur)
		}
	}
	return out, nil
}

// run executes the requests, at most Depth in flight per server; the first
// error stops requests not yet sent and is returned.
func (f *File) run(ctx context.Context, reqs []request, do func(context.Context, request) error) error {
	return runPerServer(ctx, f.c.opts.Depth, reqs, func(r request) int { return r.server }, do)
}

// runPerServer runs do for every request, at most depth at once per
// server (as server tells); the first error cancels the requests not yet
// sent and is returned.
func runPerServer[R any](ctx context.Context, depth int, reqs []R, server func(R) int, do func(context.Context, R) error) error {
	if len(reqs) == 1 { // nothing to overlap: no goroutine to hand off to
		if err := ctx.Err(); err != nil {
			return err
		}
		return do(ctx, reqs[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sems := make(map[int]chan struct{})
	for _, r := range reqs {
		if sems[server(r)] == nil {
			sems[server(r)] = make(chan struct{}, depth)
		}
	}
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := sems[server(r)]
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := do(ctx, r); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// lazyReg registers the caller's buffer once, on the first request that
// goes by RMA, and releases it when the call is done.
type lazyReg struct {
	c      *Client
	p      []byte
	access verbs.Access
	once   sync.Once
	reg    *registration
	err    error
}

func (l *lazyReg) get() (*registration, error) {
	l.once.Do(func() { l.reg, l.err = l.c.register(l.p, l.access) })
	return l.reg, l.err
}

// release ends the call's use of the buffer; failed revokes it (see
// registration.end).
func (l *lazyReg) release(failed bool) {
	if l.reg != nil {
		l.reg.end(failed)
	}
}

// rdmaFor decides whether request r moves by RMA: the client has a
// fabric the server shares, sockets were not asked for, and the request is
// above the eager threshold.
func (f *File) rdmaFor(ctx context.Context, r request) (bool, error) {
	c := f.c
	if c.fab == nil || c.opts.Strategy == proto.StrategySockets {
		return false, nil
	}
	if c.opts.EagerThreshold < 0 || r.bytes < c.opts.EagerThreshold {
		return false, nil
	}
	sc := c.servers[r.server]
	if _, err := sc.conn(ctx); err != nil { // the hello tells whether the server shares our fabric
		return false, sc.errorf("connect", err)
	}
	ok, _ := sc.rdmaState()
	return ok, nil
}

func (f *File) withRDMA(req *proto.IOReq, reg *registration) {
	req.Transport = proto.RDMA
	req.Provider = f.c.fab.provider
	req.Strategy = f.c.opts.Strategy
	req.Remote = reg.remote
	req.Budget = rmaBudget(f.c.opts.Timeout)
	req.Deadline = time.Now().Add(req.Budget).UnixNano()
}

func (f *File) ioReq(r request, off int64) *proto.IOReq {
	req := &proto.IOReq{Handle: f.attr.Handle, Cap: f.capForIO(), Layout: f.attr.Layout, Transport: proto.Inline,
		Extents: make([]proto.Extent, len(r.extents))}
	for i, e := range r.extents {
		req.Extents[i] = proto.Extent{Local: e.Local, Len: e.Len, BufOff: uint64(e.Logical - off)}
	}
	return req
}

// ReadAt reads len(p) bytes at off. Holes read as zeros; at the end of
// the file it returns the bytes there are and io.EOF.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt with a context that stops requests not yet sent.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.check("read", off); err != nil {
		return 0, err
	}
	if _, err := f.current(ctx); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// No file has a byte at or past the size limit: a read there is at
	// the end, as a read past any file's end is.
	if off >= layout.MaxFileSize {
		return 0, io.EOF
	}
	if rest := layout.MaxFileSize - off; int64(len(p)) > rest {
		n, err := f.ReadAtContext(ctx, p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	reqs, err := f.plan(off, int64(len(p)))
	if err != nil {
		return 0, &Error{Op: "read", Path: f.attr.Path, Server: -1, Err: err}
	}
	var (
		mu       sync.Mutex
		fileEnd  int64 // the file is at least this long
		short    bool  // some extent came back short
		asked    = make(map[int]bool)
		shortExt []layout.Extent // extents with their delivered length in Len
	)
	reg := &lazyReg{c: f.c, p: p, access: verbs.AccessRemoteWrite}
	defer func() { reg.release(err != nil) }()
	err = f.run(ctx, reqs, func(ctx context.Context, r request) error {
		var resp proto.ReadResp
		local := false
		d, err := f.localFor(ctx, r.server, f.capForIO())
		if err != nil {
			return err
		}
		if d != nil {
			pieces := make([]localPiece, len(r.extents))
			for i, e := range r.extents {
				pieces[i] = localPiece{local: e.Local, dst: p[e.Logical-off : e.Logical-off+e.Len]}
			}
			lens, end, ok, err := f.readLocal(d, r.server, pieces)
			if err != nil {
				return f.c.servers[r.server].errorf("read", err)
			}
			if ok {
				resp, local = proto.ReadResp{Lens: lens, LogicalEnd: end}, true
			}
		}
		if !local {
			if err := f.readRemote(ctx, r, p, off, reg, &resp); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		asked[r.server] = true
		fileEnd = max(fileEnd, resp.LogicalEnd)
		for i, e := range r.extents {
			if resp.Lens[i] < e.Len {
				short = true
				got := e
				got.Len = resp.Lens[i]
				shortExt = append(shortExt, got, e) // delivered, asked
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrap("read", f.attr.Path, err)
	}
	if !short {
		return len(p), nil
	}
	end := off + int64(len(p))
	if fileEnd < end {
		// Servers not asked may hold data further on; only they can say.
		size, err := f.size(ctx, asked)
		if err != nil {
			return 0, wrap("read", f.attr.Path, err)
		}
		fileEnd = max(fileEnd, size)
	}
	n := max(0, min(int64(len(p)), fileEnd-off))
	for i := 0; i < len(shortExt); i += 2 { // zero the holes below the end
		got, want := shortExt[i], shortExt[i+1]
		from := want.Logical + got.Len - off
		to := min(want.End()-off, n)
		if from < to {
			clear(p[from:to])
		}
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// readRemote reads request r's extents into p (whose byte 0 is file
// offset off) by a request to the server, inline or by RMA into the
// buffer reg registers; resp gets the server's answer.
func (f *File) readRemote(ctx context.Context, r request, p []byte, off int64, reg *lazyReg, resp *proto.ReadResp) error {
	req := f.ioReq(r, off)
	sc := f.c.servers[r.server]
	useRDMA, err := f.rdmaFor(ctx, r)
	if err != nil {
		return err
	}
	if !useRDMA {
		sink := func(h proto.Header, body io.Reader) error {
			return readInline(h, body, req, resp, p)
		}
		_, err := sc.roundTrip(ctx, proto.OpRead, req, nil, sink)
		return err
	}
	rg, err := reg.get()
	if err != nil {
		return &Error{Op: "read", Server: -1, Err: fmt.Errorf("register buffer: %w", err)}
	}
	f.withRDMA(req, rg)
	c, err := sc.roundTrip(ctx, proto.OpRead, req, nil, nil)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(c.body, resp); err != nil {
		return sc.errorf("read", err)
	}
	if err := checkLens(req, resp); err != nil {
		return sc.errorf("read", err)
	}
	return nil
}

// readInline reads an inline read reply straight into p.
func readInline(h proto.Header, body io.Reader, req *proto.IOReq, resp *proto.ReadResp, p []byte) error {
	if err := readInlineControl(h, body, req, resp); err != nil {
		return err
	}
	for i, x := range req.Extents {
		if _, err := io.ReadFull(body, p[x.BufOff:x.BufOff+uint64(resp.Lens[i])]); err != nil {
			return err
		}
	}
	return nil
}

// readInlineControl reads an inline read reply's control part into resp
// and checks it; resp.Lens[i] bytes for extent i follow in body.
func readInlineControl(h proto.Header, body io.Reader, req *proto.IOReq, resp *proto.ReadResp) error {
	ctl, data, err := proto.ReadDataControl(body, h)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(ctl, resp); err != nil {
		return err
	}
	if err := checkLens(req, resp); err != nil {
		return err
	}
	var total int64
	for _, n := range resp.Lens {
		total += n
	}
	if total != data {
		return fmt.Errorf("%w: reply carries %d bytes, lengths say %d", proto.ErrMalformed, data, total)
	}
	return nil
}

func checkLens(req *proto.IOReq, resp *proto.ReadResp) error {
	if len(resp.Lens) != len(req.Extents) {
		return fmt.Errorf("%w: %d lengths for %d extents", proto.ErrMalformed, len(resp.Lens), len(req.Extents))
	}
	for i, x := range req.Extents {
		if resp.Lens[i] > x.Len {
			return fmt.Errorf("%w: %d bytes for an extent of %d", proto.ErrMalformed, resp.Lens[i], x.Len)
		}
	}
	return nil
}

// WriteAt writes p at off. It returns len(p) only when every server holds
// its bytes (in its page cache; Sync makes them durable).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	return f.WriteAtContext(context.Background(), p, off)
}

// WriteAtContext is WriteAt with a context that stops requests not yet sent.
func (f *File) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.check("write", off); err != nil {
		return 0, err
	}
	if _, err := f.current(ctx); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Refused whole, as Truncate past the limit (pwrite(2) would write
	// up to a file size limit and return the short count).
	if off > layout.MaxFileSize-int64(len(p)) {
		return 0, &Error{Op: "write", Path: f.attr.Path, Server: -1,
			Err: fmt.Errorf("%d bytes at %d end past the %d-byte file size limit: %w", len(p), off, int64(layout.MaxFileSize), syscall.EFBIG)}
	}
	reqs, err := f.plan(off, int64(len(p)))
	if err != nil {
		return 0, &Error{Op: "write", Path: f.attr.Path, Server: -1, Err: err}
	}
	reg := &lazyReg{c: f.c, p: p, access: verbs.AccessRemoteRead}
	defer func() { reg.release(err != nil) }()
	err = f.run(ctx, reqs, func(ctx context.Context, r request) error {
		req := f.ioReq(r, off)
		sc := f.c.servers[r.server]
		useRDMA, err := f.rdmaFor(ctx, r)
		if err != nil {
			return err
		}
		data := [][]byte{} // RDMA: the frame carries no bytes
		if useRDMA {
			rg, err := reg.get()
			if err != nil {
				return &Error{Op: "write", Server: -1, Err: fmt.Errorf("register buffer: %w", err)}
			}
			f.withRDMA(req, rg)
		} else {
			data = make([][]byte, len(req.Extents))
			for i, x := range req.Extents {
				data[i] = p[x.BufOff : x.BufOff+uint64(x.Len)]
			}
		}
		c, err := sc.roundTrip(ctx, proto.OpWrite, req, data, nil)
		if err != nil {
			return err
		}
		var n proto.Int
		if err := proto.Unmarshal(c.body, &n); err != nil {
			return sc.errorf("write", err)
		}
		if n.V != r.bytes {
			return sc.errorf("write", fmt.Errorf("server wrote %d of %d bytes: %w", n.V, r.bytes, syscall.EIO))
		}
		return nil
	})
	if err != nil {
		// Some requests may have landed, but not all are known to have:
		// report none as written (io.WriterAt allows n < len(p) with err).
		return 0, wrap("write", f.attr.Path, err)
	}
	return len(p), nil
}

// eachServer sends one control request to every server the file spans
// (except skip), in parallel, and calls got with each reply (under a lock).
func (f *File) eachServer(ctx context.Context, op proto.Op, req proto.Message, skip map[int]bool, got func(server int, body []byte) error) error {
	var reqs []request
	l := f.attr.Layout
	for j := 0; j < l.Count; j++ {
		if !skip[l.Server(j)] {
			reqs = append(reqs, request{server: l.Server(j)})
		}
	}
	var mu sync.Mutex
	return f.run(ctx, reqs, func(ctx context.Context, r request) error {
		c, err := f.c.servers[r.server].roundTrip(ctx, op, req, nil, nil)
		if err != nil || got == nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		return got(r.server, c.body)
	})
}

// size asks the file's servers (except skip) for their datafiles' logical
// ends and returns the largest.
func (f *File) size(ctx context.Context, skip map[int]bool) (int64, error) {
	st, err := f.stat(ctx, skip)
	if err != nil {
		return 0, err
	}
	return st.size, nil
}

func (f *File) stat(ctx context.Context, skip map[int]bool) (*FileInfo, error) {
	fi := &FileInfo{attr: f.attr}
	cp, err := f.current(ctx)
	if err != nil {
		return nil, err
	}
	fi.cap = cp
	err = f.eachServer(ctx, proto.OpSize, &proto.DataReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout}, skip, func(server int, body []byte) error {
		var r proto.SizeResp
		if err := proto.Unmarshal(body, &r); err != nil {
			return err
		}
		fi.size = max(fi.size, r.LogicalEnd)
		fi.mtime = max(fi.mtime, r.Mtime)
		return nil
	})
	return fi, err
}

// Stat returns the file's attributes with its current size.
func (f *File) Stat(ctx context.Context) (*FileInfo, error) {
	if err := f.check("stat", 0); err != nil {
		return nil, err
	}
	fi, err := f.stat(ctx, nil)
	return fi, wrap("stat", f.attr.Path, err)
}

// Size returns the file's current size.
func (f *File) Size(ctx context.Context) (int64, error) {
	fi, err := f.Stat(ctx)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Truncate sets the file's size: bytes past it are dropped, a longer file
// reads zeros in the new part.
func (f *File) Truncate(ctx context.Context, size int64) error {
	if err := f.check("truncate", size); err != nil {
		return err
	}
	if size > layout.MaxFileSize {
		return &Error{Op: "truncate", Path: f.attr.Path, Server: -1, Err: fmt.Errorf("size %d past the limit: %w", size, syscall.EFBIG)}
	}
	cp, err := f.current(ctx)
	if err != nil {
		return err
	}
	return wrap("truncate", f.attr.Path, f.eachServer(ctx, proto.OpTruncate,
		&proto.TruncateReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout, Size: size}, nil, nil))
}

// Sync makes every byte written so far durable on every server.
func (f *File) Sync(ctx context.Context) error {
	if err := f.check("fsync", 0); err != nil {
		return err
	}
	cp, err := f.current(ctx)
	if err != nil {
		return err
	}
	return wrap("fsync", f.attr.Path, f.eachServer(ctx, proto.OpFsync,
		&proto.DataReq{Handle: f.attr.Handle, Cap: cp, Layout: f.attr.Layout}, nil, nil))
}

// FetchAdd atomically adds delta to the file's shared counter on the
// metadata server and returns the old value. Every client of the file
// shares this one counter (counter 0); NewCounter makes others.
func (f *File) FetchAdd(ctx context.Context, delta int64) (int64, error) {
	return f.counter(ctx, &proto.FetchAddReq{Delta: delta})
}

// SetCounter stores v in the file's shared counter and returns the old value.
func (f *File) SetCounter(ctx context.Context, v int64) (int64, error) {
	return f.counter(ctx, &proto.FetchAddReq{Delta: v, Set: true})
}

// NewCounter makes a shared counter of the file apart from its own,
// starting at v, and returns its id: MPI-IO's shared file pointer of one
// collective open, which its ranks share and no other open does. Any
// client given the id uses it through CounterAdd and CounterSet until
// DropCounter; removing the file removes it too. Ids are random, so two
// made at once do not meet.
func (f *File) NewCounter(ctx context.Context, v int64) (uint64, error) {
	var id uint64
	for id == 0 {
		id = rand.Uint64()
	}
	_, err := f.counter(ctx, &proto.FetchAddReq{Counter: id, Delta: v, Set: true, Make: true})
	return id, err
}

// CounterAdd is FetchAdd on counter id (0: the file's own); ENOENT for
// a counter that was never made or was dropped.
func (f *File) CounterAdd(ctx context.Context, id uint64, delta int64) (int64, error) {
	return f.counter(ctx, &proto.FetchAddReq{Counter: id, Delta: delta})
}

// CounterSet is SetCounter on counter id (0: the file's own); ENOENT for
// a counter that was never made or was dropped.
func (f *File) CounterSet(ctx context.Context, id uint64, v int64) (int64, error) {
	return f.counter(ctx, &proto.FetchAddReq{Counter: id, Delta: v, Set: true})
}

// DropCounter removes counter id, which NewCounter made.
func (f *File) DropCounter(ctx context.Context, id uint64) error {
	if id == 0 {
		return &Error{Op: "fetchadd", Path: f.attr.Path, Server: -1, Err: fmt.Errorf("the file's own counter is not dropped: %w", syscall.EINVAL)}
	}
	_, err := f.counter(ctx, &proto.FetchAddReq{Counter: id, Drop: true})
	return err
}

// counter sends r for the file and returns the counter's old value.
func (f *File) counter(ctx context.Context, r *proto.FetchAddReq) (int64, error) {
	if err := f.check("fetchadd", 0); err != nil {
		return 0, err
	}
	cp, err := f.current(ctx)
	if err != nil {
		return 0, err
	}
	r.Handle, r.Cap = f.attr.Handle, cp
	var old proto.Int
	err = f.c.meta.control(ctx, proto.OpFetchAdd, r, &old)
	return old.V, wrap("fetchadd", f.attr.Path, err)
}
