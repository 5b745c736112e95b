package fusefs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/ferry-hpc/ferry/clientlib"
)

// Defaults of Options.
const (
	DefaultEntryTimeout = time.Second
	DefaultAttrTimeout  = time.Second
	DefaultReadAheadKB  = 4096
	// maxBackground bounds the kernel's asynchronous requests (readahead,
	// writeback) in flight; go-fuse's default, 12, would allow only a few
	// 1 MiB readahead requests at once.
	maxBackground = 64
)

// Options tune a mount. Zero values take the defaults.
type Options struct {
	// EntryTimeout and AttrTimeout bound how long the kernel trusts a
	// name and a file's attributes without asking (default 1 s each):
	// the longest a change made by another client may stay unseen.
	EntryTimeout, AttrTimeout time.Duration
	// ReadAheadKB is the kernel's readahead for the mount, set after
	// mounting where the process may (root); 0 takes the default, -1
	// leaves the kernel's.
	ReadAheadKB int
	// WritebackCache lets the kernel cache writes (see the package
	// comment for what that gives up).
	WritebackCache bool
	// AllowOther lets other users than the mounting one use the mount
	// (for non-root mounts it needs user_allow_other in /etc/fuse.conf).
	AllowOther bool
	// FsName is the source shown by mount and df (default "ferry").
	FsName string
	// Log receives errors that reach callers, with the server they name
	// (default slog.Default()).
	Log *slog.Logger
	// Debug logs every FUSE request and reply.
	Debug bool
}

// Server is a mounted file system being served.
type Server struct {
	srv *fuse.Server
	dir string
}

// Mount mounts c on dir and serves it in the background until Unmount or
// an external unmount (fusermount3 -u, umount). The client must outlive
// the mount.
func Mount(c *clientlib.Client, dir string, o Options) (*Server, error) {
	if o.EntryTimeout == 0 {
		o.EntryTimeout = DefaultEntryTimeout
	}
	if o.AttrTimeout == 0 {
		o.AttrTimeout = DefaultAttrTimeout
	}
	if o.ReadAheadKB == 0 {
		o.ReadAheadKB = DefaultReadAheadKB
	}
	if o.FsName == "" {
		o.FsName = "ferry"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	if st, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mount: %s is not a directory", abs)
	}
	fsys := &filesys{c: c, o: o, log: o.Log.With("mount", abs)}
	root := &node{fsys: fsys}
	entry, attr := o.EntryTimeout, o.AttrTimeout
	mo := fuse.MountOptions{
		FsName:        o.FsName,
		Name:          "ferry",
		MaxWrite:      fuse.MAX_KERNEL_WRITE,
		MaxBackground: maxBackground,
		AllowOther:    o.AllowOther,
		// The kernel checks permissions against the attributes we report.
		Options:       []string{"default_permissions"},
		DisableXAttrs: true,
		// Root mounts with mount(2) itself; others through fusermount3.
		DirectMount: true,
		// Read replies are Go memory already: splicing them would only
		// add a pipe (and go-fuse logs each attempt over 1 MiB).
		DisableSplice: true,
		Debug:         o.Debug,
	}
	if o.WritebackCache {
		mo.ExtraCapabilities |= fuse.CAP_WRITEBACK_CACHE
	}
	srv, err := fs.Mount(abs, root, &fs.Options{
		MountOptions: mo,
		EntryTimeout: &entry,
		AttrTimeout:  &attr,
		// Mode 0 is mode 0: without this go-fuse reports 0644 (0755)
		// for it, and the kernel lets everyone read a chmod 000 file.
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Ino: 1},
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", abs, err)
	}
	s := &Server{srv: srv, dir: abs}
	if o.ReadAheadKB > 0 {
		if err := setReadAhead(abs, o.ReadAheadKB); err != nil {
			fsys.log.Debug("readahead left at the kernel's", "err", err)
		}
	}
	return s, nil
}

// Dir is the mount point.
func (s *Server) Dir() string { return s.dir }

// Wait blocks until the file system is unmounted.
func (s *Server) Wait() { s.srv.Wait() }

// Unmount unmounts the file system; it fails (EBUSY) while it is in use.
func (s *Server) Unmount() error {
	if err := s.srv.Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w", s.dir, err)
	}
	return nil
}

// setReadAhead sets the readahead of the mount's backing device, which
// the kernel creates per FUSE mount (/sys/class/bdi/MAJOR:MINOR).
func setReadAhead(dir string, kb int) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	return os.WriteFile(p, []byte(strconv.Itoa(kb)), 0)
}

// Unmount unmounts the Ferry (or any FUSE) mount at dir: by umount(2)
// where the process may, else by fusermount3 -u as an unprivileged owner
// would.
func Unmount(dir string) error {
	abs, typ, err := MountType(dir)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	// Only a ferry mount: ferry umount run as root on another mount
	// point (a typo, /tmp) would unmount it.
	switch typ {
	case "":
		return fmt.Errorf("unmount %s: not a mount point", abs)
	case Type:
	default:
		return fmt.Errorf("unmount %s: a %s mount, not a ferry mount", abs, typ)
	}
	err = unix.Unmount(abs, 0)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("unmount %s: %w", abs, err)
	}
	if ferr := fusermountUnmount(abs); ferr != nil {
		return fmt.Errorf("unmount %s: %w (umount(2): %v)", abs, ferr, err)
	}
	return nil
}

// Type is a ferry mount's file system type in /proc/self/mountinfo.
const Type = "fuse.ferry"

// MountType resolves dir (absolute, symbolic links in its parents
// followed) and says which file system type is mounted there: the
// topmost of stacked mounts, or "" where dir is not a mount point. dir
// itself is not looked at (nor followed if a link): a mount that is hung
// or whose process died would fail the look, and it is what must be
// unmounted then.
func MountType(dir string) (abs, typ string, err error) {
	if abs, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if parent := filepath.Dir(abs); parent != abs {
		if parent, err = filepath.EvalSymlinks(parent); err != nil {
			return "", "", err
		}
		abs = filepath.Join(parent, filepath.Base(abs))
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || unescapeMountinfo(f[4]) != abs {
			continue
		}
		for i := 6; i < len(f)-1; i++ {
			if f[i] == "-" {
				typ = f[i+1]
				break
			}
		}
	}
	return abs, typ, nil
}

// unescapeMountinfo undoes the kernel's octal escapes in a mountinfo
// path (\040 for a space, \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// fusermountUnmount runs fusermount3 -u (or the older fusermount -u).
func fusermountUnmount(dir string) error {
	prog, err := exec.LookPath("fusermount3")
	if err != nil {
		if prog, err = exec.LookPath("fusermount"); err != nil {
			return errors.New("neither fusermount3 nor fusermount is installed")
		}
	}
	if out, err := exec.Command(prog, "-u", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%s -u: %v: %s", prog, err, bytes.TrimSpace(out))
	}
	return nil
}
