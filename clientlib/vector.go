package clientlib

// List I/O: one call moves a list of memory pieces to or from a list of
// file segments, as PVFS2's memory and file requests or an MPI-IO buffer
// datatype and file view do. The bytes of the file segments, in list
// order, are the bytes of the memory pieces, in list order.
//
// A call becomes at most one request per server and memory window, split
// only where a request would pass Options.MaxRequest bytes or
// maxVecExtents extents; the bytes move straight between the servers and
// the caller's memory (no packing copy).
//
// Memory windows. A server addresses a request's bytes as offsets in one
// registered window of the client's memory (proto.IOReq.Remote and the
// extents' BufOff). Pieces close together in memory, as the elements of a
// strided datatype in one buffer, share one window that covers them all:
// one registration (and one registration-cache entry) for the whole call,
// which is what makes many small pieces cheap, and no change to the
// protocol or the servers. The price is that the window also covers the
// gaps between pieces, as the page rounding of every registration already
// does; the servers only touch the extents. Pieces far apart (separate
// allocations) get windows of their own rather than one covering window
// that would register memory the call does not use, or span unmapped
// gaps a real NIC refuses to register; a server with bytes in several
// windows then gets one request per window. Requests that go inline (a
// server's bytes below the eager threshold, or no fabric) ignore windows:
// their bytes travel in the frames, gathered from and scattered into the
// pieces.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// Segment is a byte range [Off, Off+Len) of a file: one entry of a file
// request list.
type Segment struct{ Off, Len int64 }

const (
	// maxVecExtents bounds the extents of one request: 24 bytes each keep
	// the control body well under proto.MaxControlBody.
	maxVecExtents = 16384
	// windowSlack: a window grows to take in the next piece (by address)
	// while its span stays within twice its bytes plus this much.
	windowSlack = 1 << 20
)

// vwindow is a range of the caller's memory registered once per call,
// when the first request that moves by RMA needs it.
type vwindow struct {
	ptr        unsafe.Pointer // the window's first byte (the lowest piece's)
	start, end uintptr
	bytes      int64

	once sync.Once
	reg  *registration
	err  error
}

func (w *vwindow) get(c *Client, access verbs.Access) (*registration, error) {
	w.once.Do(func() { w.reg, w.err = c.registerRange(w.ptr, int(w.end-w.start), access) })
	return w.reg, w.err
}

// vext is a range of one server's datafile and the memory it moves to or
// from: bytes [po, po+n) of memory piece pk.
type vext struct {
	local, logical, n int64
	mem               []byte
	pk                int
	po                int64
	win               int
}

// vreq is one request of a list I/O call.
type vreq struct {
	server int
	win    int // the window of every extent; -1 for a request that goes inline
	exts   []vext
	bytes  int64
}

// vplan is a list I/O call cut into requests.
type vplan struct {
	wins   []*vwindow
	reqs   []*vreq
	total  int64
	maxEnd int64 // the largest end of a file segment
}

// release lets go of the plan's registrations; failed (some request
// got no reply) revokes them, see registration.end.
func (p *vplan) release(failed bool) {
	for _, w := range p.wins {
		if w.reg != nil {
			w.reg.end(failed)
		}
	}
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// errPastLimit: a file segment of a list call ends past
// layout.MaxFileSize. planFor makes it EFBIG for a write, as pwrite's
// limit is (ReadAtv cuts a read list there first; EINVAL if not).
var errPastLimit = errors.New("past the file size limit")

// planVector cuts a list I/O call into requests. A server whose bytes are
// below inlineBelow gets requests that ignore windows (they go inline).
func planVector(l layout.Layout, mem [][]byte, file []Segment, maxReq, inlineBelow int64) (*vplan, error) {
	p := &vplan{}
	var memTotal int64
	for _, b := range mem {
		memTotal += int64(len(b))
	}
	for _, s := range file {
		if s.Off < 0 || s.Len < 0 {
			return nil, fmt.Errorf("file segment [%d, +%d) is negative: %w", s.Off, s.Len, syscall.EINVAL)
		}
		if s.Off > layout.MaxFileSize || s.Len > layout.MaxFileSize-s.Off {
			return nil, fmt.Errorf("file segment [%d, +%d) ends past the %d-byte file size limit: %w", s.Off, s.Len, int64(layout.MaxFileSize), errPastLimit)
		}
		p.total += s.Len
		if s.Len > 0 {
			p.maxEnd = max(p.maxEnd, s.Off+s.Len)
		}
	}
	if p.total != memTotal {
		return nil, fmt.Errorf("file segments hold %d bytes, memory pieces %d: %w", p.total, memTotal, syscall.EINVAL)
	}
	if p.total == 0 {
		return p, nil
	}

	// Windows: pieces by address, grouped while dense enough.
	order := make([]int, 0, len(mem))
	for i, b := range mem {
		if len(b) > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := addrOf(mem[a]), addrOf(mem[b])
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	winOf := make([]int, len(mem))
	var cur *vwindow
	for _, i := range order {
		a := addrOf(mem[i])
		e := a + uintptr(len(mem[i]))
		n := int64(len(mem[i]))
		if cur != nil && int64(max(cur.end, e)-cur.start) <= 2*(cur.bytes+n)+windowSlack {
			cur.end = max(cur.end, e)
			cur.bytes += n
		} else {
			cur = &vwindow{ptr: unsafe.Pointer(unsafe.SliceData(mem[i])), start: a, end: e, bytes: n}
			p.wins = append(p.wins, cur)
		}
		winOf[i] = len(p.wins) - 1
	}

	// Extents per server, in stream order; neighbours in the same piece,
	// datafile and file merge.
	byServer := make(map[int][]vext)
	var servers []int
	k, ko := 0, int64(0)
	for _, s := range file {
		if s.Len == 0 {
			continue
		}
		exts, err := l.Map(s.Off, s.Len)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, syscall.EINVAL)
		}
		for _, e := range exts {
			for e.Len > 0 {
				for int64(len(mem[k]))-ko == 0 {
					k, ko = k+1, 0
				}
				m := min(e.Len, int64(len(mem[k]))-ko)
				list, seen := byServer[e.Server]
				if !seen {
					servers = append(servers, e.Server)
				}
				merged := false
				if n := len(list); n > 0 {
					last := &list[n-1]
					if last.pk == k && last.po+last.n == ko && last.local+last.n == e.Local && last.logical+last.n == e.Logical {
						last.n += m
						last.mem = mem[k][last.po : last.po+last.n]
						merged = true
					}
				}
				if !merged {
					list = append(list, vext{local: e.Local, logical: e.Logical, n: m, mem: mem[k][ko : ko+m], pk: k, po: ko, win: winOf[k]})
				}
				byServer[e.Server] = list
				ko += m
				e.Local += m
				e.Logical += m
				e.Len -= m
			}
		}
	}

	for _, srv := range servers {
		list := byServer[srv]
		var bytes int64
		for _, x := range list {
			bytes += x.n
		}
		if bytes < inlineBelow {
			p.reqs = appendChunks(p.reqs, srv, -1, list, maxReq)
			continue
		}
		var wins []int
		byWin := make(map[int][]vext)
		for _, x := range list {
			if _, ok := byWin[x.win]; !ok {
				wins = append(wins, x.win)
			}
			byWin[x.win] = append(byWin[x.win], x)
		}
		for _, w := range wins {
			p.reqs = appendChunks(p.reqs, srv, w, byWin[w], maxReq)
		}
	}
	return p, nil
}

// appendChunks cuts one server's extents into requests of at most maxReq
// bytes and maxVecExtents extents.
func appendChunks(out []*vreq, server, win int, list []vext, maxReq int64) []*vreq {
	cur := &vreq{server: server, win: win}
	for _, x := range list {
		for x.n > 0 {
			if cur.bytes == maxReq || len(cur.exts) == maxVecExtents {
				out = append(out, cur)
				cur = &vreq{server: server, win: win}
			}
			m := min(x.n, maxReq-cur.bytes)
			part := x
			part.n = m
			part.mem = x.mem[:m]
			cur.exts = append(cur.exts, part)
			cur.bytes += m
			x.local += m
			x.logical += m
			x.po += m
			x.mem = x.mem[m:]
			x.n -= m
		}
	}
	if len(cur.exts) > 0 {
		out = append(out, cur)
	}
	return out
}

// registerRange registers n bytes at p (which may span several of the
// caller's objects: the registration cache works on addresses) for RMA.
func (c *Client) registerRange(p unsafe.Pointer, n int, access verbs.Access) (*registration, error) {
	if c.fab == nil {
		return nil, fmt.Errorf("no fabric: %w", verbs.ErrNotSupported)
	}
	h, err := c.fab.cache.Acquire(p, n, verbs.AccessLocal|access)
	if err != nil {
		return nil, err
	}
	rb, err := h.Remote(uint64(n))
	if err != nil {
		h.Release()
		return nil, err
	}
	// The endpoint expects the servers' RMA per request, for the lane
	// of each (verbs.Endpoint.LaneBusy, from serverConn.roundTrip).
	done := h.Release
	revoke := func() { h.Revoke() }
	if !c.fab.ep.Info().RemoteChecks {
		// Where the provider checks no keys (shm), deregistering keeps no
		// peer out, and it is a call under the endpoint's turn lock,
		// which a stopped peer can hold up (shm's owner, in its turn,
		// waits on a region lock the peer took for its copy): the
		// deadline the server obeys is what keeps the contract there
		// (ferry.h, BUFFERS).
		revoke = done
	}
	return &registration{remote: proto.RemoteBuf{Addr: rb.Addr, Key: rb.Key, Len: rb.Len}, done: done, revoke: revoke}, nil
}

// planFor plans a list I/O call on f, a write when write is set.
func (f *File) planFor(op string, write bool, mem [][]byte, file []Segment) (*vplan, error) {
	if err := f.check(op, 0); err != nil {
		return nil, err
	}
	c := f.c
	inlineBelow := int64(math.MaxInt64) // no fabric: every request goes inline
	if c.fab != nil && c.opts.Strategy != "sockets" {
		inlineBelow = max(c.opts.EagerThreshold, 0)
		if c.opts.EagerThreshold < 0 {
			inlineBelow = math.MaxInt64
		}
	}
	p, err := planVector(f.attr.Layout, mem, file, c.opts.MaxRequest, inlineBelow)
	if errors.Is(err, errPastLimit) {
		errno := syscall.EINVAL
		if write {
			errno = syscall.EFBIG
		}
		err = fmt.Errorf("%w: %w", err, errno)
	}
	if err != nil {
		return nil, &Error{Op: op, Path: f.attr.Path, Server: -1, Err: err}
	}
	return p, nil
}

// vioReq is the protocol request for r. With a window w its bytes move by
// RMA and BufOff is each extent's offset in w; without, BufOff is the
// offset in the request's inline data.
func (f *File) vioReq(r *vreq, w *vwindow) *proto.IOReq {
	req := &proto.IOReq{Handle: f.attr.Handle, Cap: f.capForIO(), Layout: f.attr.Layout, Transport: proto.Inline,
		Extents: make([]proto.Extent, len(r.exts))}
	var at uint64
	for i, x := range r.exts {
		off := at
		if w != nil {
			off = uint64(addrOf(x.mem) - w.start)
		}
		req.Extents[i] = proto.Extent{Local: x.local, Len: x.n, BufOff: off}
		at += uint64(x.n)
	}
	return req
}

// window returns r's window when r moves by RMA, nil when it goes inline.
func (f *File) window(ctx context.Context, p *vplan, r *vreq) (*vwindow, error) {
	if r.win < 0 {
		return nil, nil
	}
	useRDMA, err := f.rdmaFor(ctx, request{server: r.server, bytes: r.bytes})
	if err != nil || !useRDMA {
		return nil, err
	}
	return p.wins[r.win], nil
}

// ReadAtv reads the file segments file, in order, into the memory pieces
// mem, in order (their total lengths must be equal). It returns the bytes
// of the list that come before the first byte at or past the end of the
// file, and io.EOF when that is fewer than all; holes read as zeros, and
// memory for bytes past the end is left as it is or zeroed. Overlapping
// segments are allowed. Bytes past layout.MaxFileSize are past the end
// of any file, as for ReadAt.
func (f *File) ReadAtv(ctx context.Context, mem [][]byte, file []Segment) (int64, error) {
	mem, file, cut := belowLimit(mem, file)
	n, err := f.readAtv(ctx, mem, file)
	if err == nil && cut {
		err = io.EOF
	}
	return n, err
}

// belowLimit cuts a read list at layout.MaxFileSize, and says whether it
// did: no file reaches past it, so what lies past it is past the file's
// end. A list planVector refuses anyway (a negative segment, lists of
// different sizes) is left whole.
func belowLimit(mem [][]byte, file []Segment) ([][]byte, []Segment, bool) {
	var memTotal, fileTotal int64
	for _, b := range mem {
		memTotal += int64(len(b))
	}
	at := -1
	for i, s := range file {
		if s.Off < 0 || s.Len < 0 || s.Len > memTotal-fileTotal {
			return mem, file, false
		}
		fileTotal += s.Len
		if at < 0 && (s.Off > layout.MaxFileSize || s.Len > layout.MaxFileSize-s.Off) {
			at = i
		}
	}
	if at < 0 || fileTotal != memTotal {
		return mem, file, false
	}
	kept := slices.Clone(file[:at])
	if s := file[at]; s.Off < layout.MaxFileSize {
		kept = append(kept, Segment{Off: s.Off, Len: layout.MaxFileSize - s.Off})
	}
	var keep int64
	for _, s := range kept {
		keep += s.Len
	}
	var cutMem [][]byte
	for _, b := range mem {
		if keep == 0 {
			break
		}
		b = b[:min(int64(len(b)), keep)]
		cutMem = append(cutMem, b)
		keep -= int64(len(b))
	}
	return cutMem, kept, true
}

func (f *File) readAtv(ctx context.Context, mem [][]byte, file []Segment) (int64, error) {
	const op = "readv"
	p, err := f.planFor(op, false, mem, file)
	if err != nil || p.total == 0 {
		return 0, err
	}
	defer func() { p.release(err != nil) }()
	if _, err := f.current(ctx); err != nil {
		return 0, err
	}
	type short struct {
		x   vext
		got int64
	}
	var (
		mu      sync.Mutex
		fileEnd int64
		asked   = make(map[int]bool)
		shorts  []short
	)
	err = runPerServer(ctx, f.c.opts.Depth, p.reqs, func(r *vreq) int { return r.server }, func(ctx context.Context, r *vreq) error {
		sc := f.c.servers[r.server]
		var resp proto.ReadResp
		local := false
		d, err := f.localFor(ctx, r.server, f.capForIO())
		if err != nil {
			return err
		}
		if d != nil {
			pieces := make([]localPiece, len(r.exts))
			for i, x := range r.exts {
				pieces[i] = localPiece{local: x.local, dst: x.mem[:x.n]}
			}
			lens, end, ok, err := f.readLocal(d, r.server, pieces)
			if err != nil {
				return sc.errorf(op, err)
			}
			if ok {
				resp, local = proto.ReadResp{Lens: lens, LogicalEnd: end}, true
			}
		}
		if !local {
			if err := f.readvRemote(ctx, op, p, r, &resp); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		asked[r.server] = true
		fileEnd = max(fileEnd, resp.LogicalEnd)
		for i, x := range r.exts {
			if resp.Lens[i] < x.n {
				shorts = append(shorts, short{x, resp.Lens[i]})
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrap(op, f.attr.Path, err)
	}
	if len(shorts) == 0 {
		return p.total, nil
	}
	if fileEnd < p.maxEnd {
		// Servers not asked may hold data further on; only they can say.
		size, err := f.size(ctx, asked)
		if err != nil {
			return 0, wrap(op, f.attr.Path, err)
		}
		fileEnd = max(fileEnd, size)
	}
	for _, s := range shorts { // zero the holes below the end
		if to := min(s.x.n, fileEnd-s.x.logical); s.got < to {
			clear(s.x.mem[s.got:to])
		}
	}
	var n int64
	for _, s := range file {
		if s.Len == 0 { // no byte, so not the first past the end
			continue
		}
		if s.Off+s.Len <= fileEnd {
			n += s.Len
			continue
		}
		n += max(0, fileEnd-s.Off)
		break
	}
	if n < p.total {
		return n, io.EOF
	}
	return n, nil
}

// readvRemote reads list request r by a request to its server, inline or
// by RMA into the request's window; resp gets the server's answer.
func (f *File) readvRemote(ctx context.Context, op string, p *vplan, r *vreq, resp *proto.ReadResp) error {
	sc := f.c.servers[r.server]
	w, err := f.window(ctx, p, r)
	if err != nil {
		return err
	}
	req := f.vioReq(r, w)
	if w == nil {
		sink := func(h proto.Header, body io.Reader) error {
			if err := readInlineControl(h, body, req, resp); err != nil {
				return err
			}
			for i, x := range r.exts {
				if _, err := io.ReadFull(body, x.mem[:resp.Lens[i]]); err != nil {
					return err
				}
			}
			return nil
		}
		_, err := sc.roundTrip(ctx, proto.OpRead, req, nil, sink)
		return err
	}
	reg, err := w.get(f.c, verbs.AccessRemoteWrite)
	if err != nil {
		return &Error{Op: op, Server: -1, Err: fmt.Errorf("register buffer: %w", err)}
	}
	f.withRDMA(req, reg)
	c, err := sc.roundTrip(ctx, proto.OpRead, req, nil, nil)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(c.body, resp); err != nil {
		return sc.errorf(op, err)
	}
	if err := checkLens(req, resp); err != nil {
		return sc.errorf(op, err)
	}
	return nil
}

// WriteAtv writes the memory pieces mem, in order, to the file segments
// file, in order (their total lengths must be equal). It returns the
// bytes written, all of them, only when every server holds its bytes.
// Where segments overlap, the overlap holds bytes of either.
func (f *File) WriteAtv(ctx context.Context, mem [][]byte, file []Segment) (int64, error) {
	const op = "writev"
	p, err := f.planFor(op, true, mem, file)
	if err != nil || p.total == 0 {
		return 0, err
	}
	defer func() { p.release(err != nil) }()
	if _, err := f.current(ctx); err != nil {
		return 0, err
	}
	err = runPerServer(ctx, f.c.opts.Depth, p.reqs, func(r *vreq) int { return r.server }, func(ctx context.Context, r *vreq) error {
		sc := f.c.servers[r.server]
		w, err := f.window(ctx, p, r)
		if err != nil {
			return err
		}
		req := f.vioReq(r, w)
		data := [][]byte{} // RDMA: the frame carries no bytes
		if w != nil {
			reg, err := w.get(f.c, verbs.AccessRemoteRead)
			if err != nil {
				return &Error{Op: op, Server: -1, Err: fmt.Errorf("register buffer: %w", err)}
			}
			f.withRDMA(req, reg)
		} else {
			data = make([][]byte, len(r.exts))
			for i, x := range r.exts {
				data[i] = x.mem
			}
		}
		c, err := sc.roundTrip(ctx, proto.OpWrite, req, data, nil)
		if err != nil {
			return err
		}
		var n proto.Int
		if err := proto.Unmarshal(c.body, &n); err != nil {
			return sc.errorf(op, err)
		}
		if n.V != r.bytes {
			return sc.errorf(op, fmt.Errorf("server wrote %d of %d bytes: %w", n.V, r.bytes, syscall.EIO))
		}
		return nil
	})
	if err != nil {
		// As WriteAt: some requests may have landed, none is reported.
		return 0, wrap(op, f.attr.Path, err)
	}
	return p.total, nil
}
