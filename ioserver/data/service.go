package data

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/internal/rawio"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// Options configure a Service.
type Options struct {
	Dir           string        // storage root; datafiles live in Dir/data
	Strategy      string        // for requests that name none ("": auto)
	PipelineDepth int           // K, bounce buffers one pipelined request keeps in flight
	AutoSendfile  *bool         // fixes auto's choice: true sendfile where the pages allow, false pipeline; nil measures
	Timeout       time.Duration // the most an RDMA request may take (less when the client's budget is shorter)
	Stats         Counter
	Log           *slog.Logger
}

// Service serves data requests: it holds one server's datafiles and runs
// the strategy each request asks for. It is safe for concurrent use.
type Service struct {
	o       Options
	store   *store
	removed *removedSet
	maps    *mapCache
	locks   fileLocks
	set     map[string]strategy
	inline  *env // the env of every request without a fabric link
}

// Open opens (creating it if needed) the storage under o.Dir.
func Open(o Options) (*Service, error) {
	if o.Strategy == "" {
		o.Strategy = proto.StrategyAuto
	}
	if err := proto.CheckStrategy(o.Strategy); err != nil {
		return nil, err
	}
	if o.PipelineDepth < 1 {
		return nil, fmt.Errorf("pipeline depth %d: want at least 1: %w", o.PipelineDepth, unix.EINVAL)
	}
	st, err := openStore(o.Dir)
	if err != nil {
		return nil, err
	}
	rm, err := openRemoved(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, store: st, removed: rm, maps: newMapCache(256), set: make(map[string]strategy, len(strategies))}
	for name, mk := range strategies {
		s.set[name] = mk(o)
	}
	s.inline = s.newEnv(Link{})
	return s, nil
}

// Close drops every registered mapping. Call it after the last request
// is done and before the fabrics close.
func (s *Service) Close() {
	if a, ok := s.set[proto.StrategyAuto].(*auto); ok {
		a.wait() // its copy-cost measurement, if one is running
	}
	s.maps.close()
	s.store.files.closeAll()
}

// OpenFiles is the number of datafile descriptors open now, in use by a
// request or kept for the next one.
func (s *Service) OpenFiles() int64 { return s.store.files.open.Load() }

// pick returns the strategy for a data request and its name.
func (s *Service) pick(req *proto.IOReq) (strategy, string, error) {
	if req.Transport == proto.Inline {
		return s.set[proto.StrategySockets], proto.StrategySockets, nil
	}
	name := req.Strategy
	if name == "" {
		name = s.o.Strategy
	}
	if err := proto.CheckStrategy(name); err != nil {
		return nil, "", err
	}
	if name == proto.StrategySockets {
		return nil, "", fmt.Errorf("strategy sockets moves no bytes by RMA; send the request inline: %w", unix.EINVAL)
	}
	return s.set[name], name, nil
}

func (s *Service) env(l Link) *env {
	if l == (Link{}) {
		return s.inline // an env is never changed: inline requests share one
	}
	return s.newEnv(l)
}

func (s *Service) newEnv(l Link) *env {
	return &env{link: l, maps: s.maps, locks: &s.locks, stats: s.o.Stats, log: s.o.Log,
		strategy: func(name string) strategy { return s.set[name] }}
}

// budget bounds an RDMA request by the client's budget, or the server's
// timeout when that is shorter or the client sent none: past it nothing
// more is posted and a client still holding transfers is dropped.
func (s *Service) budget(ctx context.Context, req *proto.IOReq) (context.Context, context.CancelFunc) {
	if req.Transport != proto.RDMA {
		return ctx, func() {}
	}
	d := s.o.Timeout
	if req.Budget > 0 && (d <= 0 || req.Budget < d) {
		d = req.Budget
	}
	if d <= 0 {
		return ctx, func() {}
	}
	deadline := time.Now().Add(d)
	if req.Deadline > 0 && verbs.HostLocal(req.Provider) {
		// One clock with the client: its deadline also counts the time
		// the request waited before the server read it.
		deadline = minTime(deadline, time.Unix(0, req.Deadline))
	}
	return context.WithDeadline(ctx, deadline)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Read serves a read request: bytes past the datafile's end are not
// delivered (Result.Lens says how many were). l is the fabric and peer of
// an RDMA request. reply gets the Result while the datafile is still open,
// as an inline Result streams from it; its error is returned as is.
func (s *Service) Read(ctx context.Context, req *proto.IOReq, l Link, reply func(Result) error) error {
	st, name, err := s.pick(req)
	if err != nil {
		return err
	}
	f, release, err := s.store.acquire(req.Handle, false)
	if err != nil {
		return err
	}
	defer release()
	j := &job{req: req, file: f, lens: make([]int64, len(req.Extents))}
	var size int64
	if f != nil {
		if size, err = rawio.Size(f.Fd()); err != nil {
			return fmt.Errorf("stat datafile %s: %w", req.Handle, err)
		}
	}
	for i, x := range req.Extents {
		j.lens[i] = max(0, min(x.Len, size-x.Local))
	}
	s.o.Stats.AddJoined("read.requests.", name, 1)
	res := Result{Lens: j.lens}
	if sum(j.lens) > 0 || req.Transport == proto.Inline {
		ctx, cancel := s.budget(ctx, req)
		defer cancel()
		if err := s.reach(ctx, req, l); err != nil {
			return fmt.Errorf("read %s by %s: %w", req.Handle, name, err)
		}
		if res, err = st.Read(ctx, s.env(l), j); err != nil {
			return fmt.Errorf("read %s by %s: %w", req.Handle, name, err)
		}
	}
	s.o.Stats.AddJoined("read.bytes.", name, res.Bytes)
	res.Strategy, res.Size = name, size
	return reply(res)
}

// Write serves a write request: every extent's bytes, from body for
// inline requests or over l's fabric for RDMA ones, land in the datafile
// (which grows as needed). An inline write that fails may leave body
// partly read.
func (s *Service) Write(ctx context.Context, req *proto.IOReq, l Link, body io.Reader) (Result, error) {
	st, name, err := s.pick(req)
	if err != nil {
		return Result{}, err
	}
	var (
		f       *os.File
		release func()
	)
	err = s.removed.creating(req.Handle, func() (err error) {
		f, release, err = s.store.acquire(req.Handle, true)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	defer release()
	s.o.Stats.AddJoined("write.requests.", name, 1)
	ctx, cancel := s.budget(ctx, req)
	defer cancel()
	if err := s.reach(ctx, req, l); err != nil {
		return Result{}, fmt.Errorf("write %s by %s: %w", req.Handle, name, err)
	}
	res, err := st.Write(ctx, s.env(l), &job{req: req, file: f, body: body})
	if err != nil {
		return Result{}, fmt.Errorf("write %s by %s: %w", req.Handle, name, err)
	}
	s.o.Stats.AddJoined("write.bytes.", name, res.Bytes)
	res.Strategy = name
	return res, nil
}

// reach makes an RDMA request's first contact with its client before a
// strategy takes pool buffers for it (Fabric.reach).
func (s *Service) reach(ctx context.Context, req *proto.IOReq, l Link) error {
	if req.Transport != proto.RDMA || l.Fabric == nil || req.Total() == 0 {
		return nil
	}
	return l.Fabric.reach(ctx, l, req.Remote)
}

// Size returns the datafile's size and mtime (0, 0 when it does not exist).
func (s *Service) Size(handle string) (size, mtime int64, err error) { return s.store.size(handle) }

// Fsync flushes the datafile (if any) and the data directory.
func (s *Service) Fsync(handle string) error { return s.store.fsync(handle) }

// Truncate sets the datafile's size. It waits for RMA on the file's
// mapping to finish and drops the mapping first, so no transfer touches
// pages past the new end.
func (s *Service) Truncate(handle string, size int64) error {
	unlock := s.locks.lock(handle, true)
	defer unlock()
	s.maps.invalidate(handle)
	return s.removed.creating(handle, func() error { return s.store.truncate(handle, size) })
}

// Remove deletes the datafile (a missing one is not an error), after RMA
// on its mapping is done, and remembers the handle as removed: from then
// on Removed reports it and writes and truncates refuse it (ESTALE).
func (s *Service) Remove(handle string) error {
	unlock := s.locks.lock(handle, true)
	defer unlock()
	if err := s.removed.add(handle); err != nil {
		return err
	}
	s.maps.invalidate(handle)
	return s.store.remove(handle)
}

// OpenReadOnly opens handle's datafile for reading only, for a client on
// this host to read by itself (OpLocalFile): a missing datafile is
// ENODATA (the client reads this server by request until it asks again),
// a removed handle ESTALE. A datafile removed once it is open has no
// links, which the client checks before each read.
func (s *Service) OpenReadOnly(handle string) (*os.File, error) {
	if s.removed.has(handle) {
		return nil, fmt.Errorf("file %s was removed: %w", handle, unix.ESTALE)
	}
	return s.store.openReadOnly(handle)
}

// Removed reports whether handle's datafile was removed here.
func (s *Service) Removed(handle string) bool { return s.removed.has(handle) }

// SetMtime sets the datafile's modification time (ns since the epoch), so
// a file's mtime, the latest of its datafiles' and the stored one, can be
// set back (utimens, tar, cp -p). A missing datafile is not an error.
func (s *Service) SetMtime(handle string, mtime int64) error { return s.store.setMtime(handle, mtime) }

// List returns up to max of the datafiles whose handles sort after
// `after`, in handle order, and whether more follow.
func (s *Service) List(after string, max int) ([]proto.Datafile, bool, error) {
	return s.store.list(after, max)
}
