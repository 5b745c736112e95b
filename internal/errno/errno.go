// Package errno maps Go errors to the errno Ferry reports for them: in a
// reply's status on the server, and at the C boundary on the client. One
// table for both sides, so an error means the same number wherever it is
// seen.
package errno

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
)

// Of returns the errno err maps to: the first syscall.Errno it wraps,
// else the errno of the first sentinel it wraps that the table knows,
// else EIO. A config that does not parse or validate is EINVAL whatever
// it wraps.
func Of(err error) syscall.Errno {
	if errors.Is(err, config.ErrInvalid) {
		return syscall.EINVAL
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	for _, m := range table {
		if errors.Is(err, m.err) {
			return m.errno
		}
	}
	return syscall.EIO
}

// table is in order: ErrTooLarge wraps ErrMalformed, so it comes first.
var table = []struct {
	err   error
	errno syscall.Errno
}{
	{proto.ErrTooLarge, syscall.E2BIG},
	{proto.ErrMalformed, syscall.EBADMSG},
	{context.DeadlineExceeded, syscall.ETIMEDOUT},
	{os.ErrDeadlineExceeded, syscall.ETIMEDOUT}, // a socket deadline: "i/o timeout"
	{fs.ErrNotExist, syscall.ENOENT},
	{fs.ErrExist, syscall.EEXIST},
	{fs.ErrPermission, syscall.EACCES},
}
