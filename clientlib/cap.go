package clientlib

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/proto"
)

// capability is the capability an open file holds (see proto.Cap): data
// servers serve the file's handle only with it. It is renewed with the
// metadata server when less than half of its life is left, so a file kept
// open for hours works without the caller doing anything.
type capability struct {
	mu  sync.Mutex
	cap proto.Cap
}

// current returns the capability to send, renewing it first when it is
// close to expiry.
func (f *File) current(ctx context.Context) (proto.Cap, error) {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	cp := f.capab.cap
	if f.attr.Type != proto.TypeFile || time.Until(time.Unix(0, cp.Expiry)) > proto.CapLifetime/2 {
		return cp, nil
	}
	var fresh proto.Cap
	err := f.c.meta.control(ctx, proto.OpRenew, &proto.RenewReq{Handle: f.attr.Handle, Cap: cp}, &fresh)
	if errors.Is(err, syscall.EACCES) {
		// Expired while the file sat idle: open it again by name, if the
		// name still holds this file (rights as the mode grants them now).
		var r proto.OpenResp
		if lerr := f.c.meta.control(ctx, proto.OpLookup, &proto.PathReq{Path: f.attr.Path}, &r); lerr == nil {
			if r.Attr.Handle != f.attr.Handle {
				return cp, &Error{Op: "renew capability", Path: f.attr.Path, Server: -1,
					Err: fmt.Errorf("the name now holds another file: %w", syscall.ESTALE)}
			}
			fresh, err = r.Cap, nil
		}
	}
	if err != nil {
		return cp, wrap("renew capability", f.attr.Path, err)
	}
	f.capab.cap = fresh
	return fresh, nil
}

// Rights are what the file's capability allows: proto.RightRead,
// RightWrite and RightOwner as the file's mode and owner grant them to
// the caller.
func (f *File) Rights() proto.Rights {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	return f.capab.cap.Rights
}

// capForIO is current for the read and write paths, which build requests
// where no context is at hand. Those paths call current first, so a
// renewal here is rare (a long call crossing the renewal point); one that
// fails leaves the old capability, and the data server's refusal of it is
// the error the caller sees.
func (f *File) capForIO() proto.Cap {
	f.capab.mu.Lock()
	cp := f.capab.cap
	f.capab.mu.Unlock()
	if f.attr.Type != proto.TypeFile || time.Until(time.Unix(0, cp.Expiry)) > proto.CapLifetime/2 {
		return cp // the common case, without a context's timer
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.c.opts.Timeout)
	defer cancel()
	cp, _ = f.current(ctx)
	return cp
}

// Capability is the capability the file holds now: what a raw protocol
// request for the file's handle must carry.
func (f *File) Capability() proto.Cap {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	return f.capab.cap
}
