package clientlib

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/ferry-hpc/ferry/internal/errno"
)

// Error is every error the client returns: the operation, the path, the
// server involved (if one was) and the cause. errors.Is sees through it to
// syscall errnos and so to fs.ErrNotExist, fs.ErrExist and friends.
type Error struct {
	Op     string
	Path   string
	Server int    // -1 when no single server is involved
	Addr   string // the server's address
	Err    error
}

func (e *Error) Error() string {
	s := "ferry: " + e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Server >= 0 {
		s += fmt.Sprintf(" on server %d (%s)", e.Server, e.Addr)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// RemoteError is an error a server replied with: its errno and message.
type RemoteError struct {
	Errno syscall.Errno
	Msg   string
}

func (e *RemoteError) Error() string { return e.Msg }
func (e *RemoteError) Unwrap() error { return e.Errno }

// Errno returns the errno an error maps to at the C boundary: the errno
// it wraps, else the one Ferry gives its kind (internal/errno), else EIO;
// 0 for nil.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return errno.Of(err)
}

func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		if fe.Path == "" {
			fe.Path = path
		}
		if op != "" { // the caller's call, not the request that failed under it
			fe.Op = op
		}
		return fe
	}
	return &Error{Op: op, Path: path, Server: -1, Err: err}
}

// closedError is a use after Close: EBADF at the C boundary (errno.Of
// finds it), fs.ErrClosed to Go callers, as os.File's.
type closedError struct{ what string }

func (e closedError) Error() string   { return e.what + " is closed" }
func (e closedError) Unwrap() []error { return []error{syscall.EBADF, fs.ErrClosed} }
