package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/proto"
)

// removedFor is how long a removed handle is remembered: longer than any
// capability issued before the removal can live, with a margin for the
// clocks of the metadata server and this one disagreeing.
const removedFor = proto.CapLifetime + 10*time.Minute

// removedSet remembers the handles whose datafiles were removed, so that a
// capability issued before the removal can neither read nor write them,
// nor create them again. Each is an empty file under root/removed (its
// mtime the time of removal), so the record survives a restart.
type removedSet struct {
	dir string

	mu      sync.RWMutex // held shared while a datafile may be created
	handles map[string]time.Time
	purged  time.Time
}

func openRemoved(root string) (*removedSet, error) {
	r := &removedSet{dir: filepath.Join(root, "removed"), handles: make(map[string]time.Time)}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory of removed handles %s: %w", r.dir, err)
	}
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list removed handles: %w", err)
	}
	for _, e := range ents {
		if !proto.ValidHandle(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			r.handles[e.Name()] = fi.ModTime()
		}
	}
	r.purge(time.Now())
	return r, nil
}

// has reports whether handle was removed.
func (r *removedSet) has(handle string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.handles[handle]
	return ok
}

// creating runs mk (which may create handle's datafile) unless handle was
// removed (ESTALE); a removal waits for it, so no datafile is made after
// its handle is recorded as removed.
func (r *removedSet) creating(handle string, mk func() error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.handles[handle]; ok {
		return fmt.Errorf("file %s was removed: %w", handle, unix.ESTALE)
	}
	return mk()
}

// add records handle as removed, on disk first.
func (r *removedSet) add(handle string) error {
	if !proto.ValidHandle(handle) {
		return fmt.Errorf("handle %q is not a UUID: %w", handle, unix.EINVAL)
	}
	f, err := os.OpenFile(filepath.Join(r.dir, handle), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record removal of %s: %w", handle, err)
	}
	f.Close()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handles[handle] = now
	if now.Sub(r.purged) > time.Minute {
		r.purgeLocked(now)
	}
	return nil
}

func (r *removedSet) purge(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purgeLocked(now)
}

// purgeLocked forgets handles removed long enough ago that no capability
// for them can still be valid.
func (r *removedSet) purgeLocked(now time.Time) {
	r.purged = now
	for h, t := range r.handles {
		if now.Sub(t) > removedFor {
			if err := os.Remove(filepath.Join(r.dir, h)); err == nil || errors.Is(err, fs.ErrNotExist) {
				delete(r.handles, h)
			}
		}
	}
}
