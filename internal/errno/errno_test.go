package errno

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/proto"
)

func TestOf(t *testing.T) {
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{fmt.Errorf("open: %w", syscall.ENOSPC), syscall.ENOSPC},
		{fmt.Errorf("frame: %w", proto.ErrTooLarge), syscall.E2BIG},
		{fmt.Errorf("frame: %w", proto.ErrMalformed), syscall.EBADMSG},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), syscall.ETIMEDOUT},
		{fmt.Errorf("hello: %w", &net.OpError{Op: "read", Net: "unix", Err: os.ErrDeadlineExceeded}), syscall.ETIMEDOUT},
		{fmt.Errorf("x: %w", fs.ErrNotExist), syscall.ENOENT},
		{fmt.Errorf("config x: %w: %w", config.ErrInvalid, syscall.ENOENT), syscall.EINVAL},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
