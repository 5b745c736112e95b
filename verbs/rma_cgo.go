//go:build cgo

package verbs

import (
	"context"
	"errors"
	"fmt"
	"unsafe"
)

// Op is an operation in flight: one or more posted fabric operations
// (chunks of a large transfer, pieces of a scatter list).
type Op struct {
	e     *Endpoint
	ctx   context.Context
	kind  string
	peer  Peer
	bytes uint64
	mrs   []*MemoryRegion

	pending int   // the turn lock's holder only: pieces not completed
	err     error // set before done is closed
	done    chan struct{}
}

// Start checks r, queues it for the endpoint's owner and returns at once.
// The context bounds the wait before posting: a piece whose context ended
// is never posted. Once posted, the provider may use the local memory
// until the Op is done. The owner moves the bytes while the caller goes
// on: a pipeline's next step overlaps this one.
func (e *Endpoint) Start(ctx context.Context, r RMA) (*Op, error) {
	return e.start(ctx, r, false)
}

// StartWaiting is Start for a caller that waits for the operation next.
// If no one holds the endpoint's turn lock, the caller posts the
// operation itself, and a provider that completes it within the call
// (shm) has it done when StartWaiting returns: no thread is woken to post
// it or to report it (callerTurn). Otherwise it is queued as by Start.
func (e *Endpoint) StartWaiting(ctx context.Context, r RMA) (*Op, error) {
	return e.start(ctx, r, true)
}

func (e *Endpoint) start(ctx context.Context, r RMA, waiting bool) (*Op, error) {
	kind := r.Kind.String()
	var total uint64
	for i, s := range r.Local {
		if s.MR == nil {
			return nil, fmt.Errorf("verbs: %s: segment %d has no region", kind, i)
		}
		if s.MR.e != e {
			return nil, fmt.Errorf("verbs: %s: segment %d is registered on another endpoint", kind, i)
		}
		if s.MR.acc&AccessLocal == 0 && e.mrLocal {
			return nil, fmt.Errorf("verbs: %s: segment %d: region not registered with AccessLocal", kind, i)
		}
		end, ok := addLen(s.Off, s.Len)
		if !ok || end > uint64(s.MR.n) {
			return nil, fmt.Errorf("verbs: %s: local segment %d [%d, %d+%d) outside %d-byte region: %w", kind, i, s.Off, s.Off, s.Len, s.MR.n, ErrRange)
		}
		var ok2 bool
		if total, ok2 = addLen(total, s.Len); !ok2 {
			return nil, fmt.Errorf("verbs: %s: length overflow: %w", kind, ErrRange)
		}
	}
	if r.Kind != Write && r.Kind != Read {
		return nil, fmt.Errorf("verbs: RMA kind %d is neither Write nor Read", r.Kind)
	}
	rend, ok := addLen(r.Off, total)
	if !ok || rend > r.Remote.Len {
		return nil, fmt.Errorf("verbs: %s of %d bytes at remote offset %d outside %d-byte window: %w", kind, total, r.Off, r.Remote.Len, ErrRange)
	}
	op := &Op{e: e, ctx: ctx, kind: kind, peer: r.Peer, bytes: total, done: make(chan struct{})}
	if total == 0 {
		close(op.done)
		return op, nil
	}
	for _, s := range r.Local {
		if s.Len == 0 || containsMR(op.mrs, s.MR) {
			continue
		}
		if err := s.MR.acquire(); err != nil {
			op.releaseMRs()
			return nil, fmt.Errorf("verbs: %s: local %w", kind, err)
		}
		op.mrs = append(op.mrs, s.MR)
	}
	posts := e.plan(op, r)
	op.pending = len(posts)
	if err := e.enqueue(posts, waiting); err != nil {
		op.releaseMRs()
		return nil, fmt.Errorf("verbs: %s: %w", kind, err)
	}
	return op, nil
}

// Do is StartWaiting followed by Wait.
func (e *Endpoint) Do(ctx context.Context, r RMA) error {
	op, err := e.StartWaiting(ctx, r)
	if err != nil {
		return err
	}
	return op.Wait(ctx)
}

func containsMR(l []*MemoryRegion, m *MemoryRegion) bool {
	for _, x := range l {
		if x == m {
			return true
		}
	}
	return false
}

func (op *Op) releaseMRs() {
	for _, m := range op.mrs {
		m.release()
	}
	op.mrs = nil
}

// plan splits the local segments against the contiguous remote range into
// posts of at most maxChunk bytes and iovLimit segments.
func (e *Endpoint) plan(op *Op, r RMA) []*post {
	limit := e.maxChunk
	if chunkLimit != 0 && chunkLimit < limit {
		limit = chunkLimit
	}
	raddr := r.Remote.Addr + r.Off
	var out []*post
	cur := &post{op: op, write: r.Kind == Write, peer: r.Peer, raddr: raddr, key: r.Remote.Key}
	for _, s := range r.Local {
		off, left := s.Off, s.Len
		for left > 0 {
			if cur.n == e.iovLimit || cur.bytes == limit {
				out = append(out, cur)
				raddr += cur.bytes
				cur = &post{op: op, write: r.Kind == Write, peer: r.Peer, raddr: raddr, key: r.Remote.Key}
			}
			take := min(left, limit-cur.bytes)
			cur.laddr[cur.n] = uint64(uintptr(s.MR.base) + uintptr(off))
			cur.llen[cur.n] = take
			cur.lmr[cur.n] = s.MR.mr
			cur.n++
			cur.bytes += take
			off += take
			left -= take
		}
	}
	if cur.n > 0 {
		out = append(out, cur)
	}
	return out
}

// pieceDone records one piece's end (owner thread).
func (op *Op) pieceDone(err error) {
	if err != nil && op.err == nil {
		op.err = err
	}
	op.pending--
	if op.pending == 0 {
		op.releaseMRs()
		close(op.done)
	}
}

// Done is closed when every piece of the operation has completed or failed.
func (op *Op) Done() <-chan struct{} { return op.done }

// Err is the operation's result once Done is closed.
func (op *Op) Err() error {
	select {
	case <-op.done:
		return op.err
	default:
		return errors.New("verbs: operation in flight")
	}
}

// Wait waits for the operation's end. If ctx ends first, Wait still waits
// for the pieces already posted (the provider may touch the buffer until
// then; pieces not yet posted fail at once) and returns an error wrapping
// ctx.Err(). Close the endpoint to abandon operations that never complete.
func (op *Op) Wait(ctx context.Context) error {
	select {
	case <-op.done:
		return op.err
	default:
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		<-op.done
		if op.err != nil {
			return op.err
		}
		return &OpError{Op: op.kind, Peer: op.peer, PeerAddr: op.e.peerString(op.peer), Provider: op.e.info.Provider,
			Bytes: op.bytes, Msg: "completed after the context ended", Err: ctx.Err()}
	}
}

var _ = unsafe.Pointer(nil)
