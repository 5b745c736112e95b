package itest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/layout"
	"github.com/ferry-hpc/ferry/proto"
	"github.com/ferry-hpc/ferry/verbs"
)

// TestMain lets the security tests run this binary again as another user:
// FERRY_ITEST_CHILD names what the child does.
// securityChild runs the child modes of the security tests (see TestMain).
func securityChild(mode string) int {
	switch mode {
	case "attack":
		return childAttack()
	case "client":
		return childClient()
	case "shmclient":
		return childShmClient()
	}
	fmt.Fprintln(os.Stderr, "unknown FERRY_ITEST_CHILD")
	return 2
}

// publicDir is a directory every user can enter, removed when the test ends.
func publicDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ferry-sec-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

const nobody = 65534

// runAsNobody runs this test binary as uid and gid nobody, from a copy
// nobody may execute, with arg (JSON) for the child, and returns its
// standard output.
func runAsNobody(t *testing.T, child string, arg any) []byte {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as nobody")
	}
	dir := publicDir(t)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "itest.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = "/"
	cmd.Env = []string{"FERRY_ITEST_CHILD=" + child, "FERRY_ITEST_ARG=" + string(js), "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s as nobody: %v (a hang is a failure too)\nstdout:\n%s\nstderr:\n%s", child, err, out, stderr.String())
	}
	t.Logf("child %s stderr:\n%s", child, stderr.String())
	return out
}

func childArg(v any) {
	if err := json.Unmarshal([]byte(os.Getenv("FERRY_ITEST_ARG")), v); err != nil {
		fmt.Fprintln(os.Stderr, "bad FERRY_ITEST_ARG:", err)
		os.Exit(2)
	}
}

// rawConn is a control connection spoken by hand, as an attacker would.
type rawConn struct{ nc net.Conn }

func dialRaw(network, addr string) (*rawConn, error) {
	nc, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{nc: nc}, nil
}

// call sends one request and returns the reply's status and body; data
// sends it as a data frame with no bytes (an RDMA write).
func (r *rawConn) call(op proto.Op, m proto.Message, data bool) (int32, []byte, error) {
	var frame []byte
	if data {
		frame = proto.AppendDataFrame(nil, proto.Header{Op: op, ID: 7}, m, 0)
	} else {
		frame = proto.Frame(proto.Header{Op: op, ID: 7}, m)
	}
	if _, err := r.nc.Write(frame); err != nil {
		return 0, nil, err
	}
	h, err := proto.ReadHeader(r.nc)
	if err != nil {
		return 0, nil, err
	}
	body, err := proto.ReadBody(r.nc, h)
	return h.Status, body, err
}

// hello sends a hello and returns its status and, when accepted, why the
// server refused the fabric addresses.
func (r *rawConn) hello(req *proto.HelloReq) (int32, string, error) {
	st, body, err := r.call(proto.OpHello, req, false)
	if err != nil || st != 0 {
		return st, "", err
	}
	var resp proto.HelloResp
	if err := proto.Unmarshal(body, &resp); err != nil {
		return st, "", err
	}
	return st, resp.Refused, nil
}

// attackArg is what the attacker knows: the victim's shm endpoint and
// registered window (all world-visible or guessable) and a file.
type attackArg struct {
	Socket, Addr string
	Victim       []byte
	Remote       proto.RemoteBuf
	Path         string // a file the attacker may read and write (mode 0666)
	Handle       string
	Layout       layout.Layout
}

// attackStep is what one attempt got.
type attackStep struct {
	Network     string
	HelloStatus int32
	Refused     string
	ReadStatus  int32 // the server writing file bytes into the victim
	WriteStatus int32 // the server reading the victim's bytes into the file
	Err         string
}

func childAttack() int {
	var a attackArg
	childArg(&a)
	var steps []attackStep
	for _, net := range []struct{ network, addr string }{{"unix", a.Socket}, {"tcp", a.Addr}} {
		s := attackStep{Network: net.network}
		func() {
			c, err := dialRaw(net.network, net.addr)
			if err != nil {
				s.Err = err.Error()
				return
			}
			defer c.nc.Close()
			s.HelloStatus, s.Refused, err = c.hello(&proto.HelloReq{Client: "attacker",
				Fabrics: []proto.Fabric{{Provider: "shm", Addr: a.Victim}}})
			if err != nil {
				s.Err = err.Error()
				return
			}
			// A capability of its own: the file is open to everyone, so a
			// refusal below is the fabric binding's, not the permissions'.
			var open proto.OpenResp
			st, body, err := c.call(proto.OpLookup, &proto.PathReq{Path: a.Path}, false)
			if err == nil && st == 0 {
				err = proto.Unmarshal(body, &open)
			}
			if err != nil || st != 0 {
				s.Err = fmt.Sprintf("lookup %s: status %d, %v", a.Path, st, err)
				return
			}
			req := &proto.IOReq{Handle: a.Handle, Cap: open.Cap, Layout: a.Layout, Transport: proto.RDMA, Provider: "shm",
				Remote: a.Remote, Extents: []proto.Extent{{Local: 0, Len: int64(a.Remote.Len), BufOff: 0}}}
			if s.ReadStatus, _, err = c.call(proto.OpRead, req, false); err != nil {
				s.Err = err.Error()
				return
			}
			if s.WriteStatus, _, err = c.call(proto.OpWrite, req, true); err != nil {
				s.Err = err.Error()
			}
		}()
		steps = append(steps, s)
	}
	json.NewEncoder(os.Stdout).Encode(steps)
	return 0
}

// The attack of issue 13: an unprivileged user names another process's
// shm endpoint and registered window, and asks the (root) server to write
// file bytes into it and to read it into a file. The server refuses on
// both the Unix socket and TCP; the victim's secret is neither changed
// nor read. The victim itself, on the Unix socket, is served: the refusal
// is the binding, not a broken path.
func TestShmAttackOnAnotherProcessRefused(t *testing.T) {
	needProvider(t, "shm")
	dir := publicDir(t)
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10, Dir: dir})
	root := cl.Mount(t, clientlib.Options{Provider: "none"})
	const n = 64 << 10
	fileBytes := bytes.Repeat([]byte("FILEDATA"), n/8)
	f, err := root.Create(ctx, "/target", clientlib.CreateOptions{Mode: 0o666})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(fileBytes, 0); err != nil {
		t.Fatal(err)
	}

	// The victim: this process, holding a secret in registered memory.
	ep, err := verbs.Open(verbs.Config{Provider: "shm"})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	secret := bytes.Repeat([]byte("SECRET!!"), n/8)
	mem := append([]byte(nil), secret...)
	mr, err := ep.RegisterBytes(mem, verbs.AccessLocal|verbs.AccessRemoteRead|verbs.AccessRemoteWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	rb, err := mr.Remote(0, n)
	if err != nil {
		t.Fatal(err)
	}
	srv := cl.Config.Servers[0]
	arg := attackArg{Socket: srv.SocketPath(), Addr: srv.Address, Victim: ep.Address(),
		Remote: proto.RemoteBuf{Addr: rb.Addr, Key: rb.Key, Len: rb.Len}, Path: "/target", Handle: f.Handle(), Layout: f.Layout()}

	var steps []attackStep
	if err := json.Unmarshal(runAsNobody(t, "attack", arg), &steps); err != nil || len(steps) != 2 {
		t.Fatalf("attacker output: %v %+v", err, steps)
	}
	for _, s := range steps {
		t.Logf("%s: %+v", s.Network, s)
		if s.Err != "" {
			t.Errorf("%s: attacker could not even ask: %s", s.Network, s.Err)
		}
		if s.HelloStatus == 0 && s.Refused == "" {
			t.Errorf("%s: the server took the victim's shm address from another process", s.Network)
		}
		if s.ReadStatus == 0 || s.WriteStatus == 0 {
			t.Errorf("%s: RDMA with the victim's window served (read %d, write %d)", s.Network, s.ReadStatus, s.WriteStatus)
		}
		if s.ReadStatus == int32(syscall.EACCES) || s.WriteStatus == int32(syscall.EACCES) {
			t.Errorf("%s: refused by permissions (EACCES), so the fabric binding was not what was tested", s.Network)
		}
	}
	if !bytes.Equal(mem, secret) {
		t.Fatal("the victim's secret was overwritten")
	}
	got := make([]byte, n)
	if _, err := f.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("SECRET!!")) || !bytes.Equal(got, fileBytes) {
		t.Fatal("the file changed: the victim's memory was read into it")
	}

	// Control: the victim itself is served on the Unix socket.
	c, err := dialRaw("unix", srv.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	if st, refused, err := c.hello(&proto.HelloReq{Client: "victim", Fabrics: []proto.Fabric{{Provider: "shm", Addr: ep.Address()}}}); err != nil || st != 0 || refused != "" {
		t.Fatalf("own shm address: status %d refused %q err %v", st, refused, err)
	}
	req := &proto.IOReq{Handle: f.Handle(), Cap: f.Capability(), Layout: f.Layout(), Transport: proto.RDMA, Provider: "shm",
		Remote: arg.Remote, Extents: []proto.Extent{{Local: 0, Len: n, BufOff: 0}}}
	if st, _, err := c.call(proto.OpRead, req, false); err != nil || st != 0 {
		t.Fatalf("own RDMA read: status %d err %v", st, err)
	}
	if !bytes.Equal(mem, fileBytes) {
		t.Fatal("own RDMA read did not deliver the file's bytes")
	}
}

// Junk fabric addresses of every length, each followed by an RDMA request
// (the two frames that crashed the server in shm's RMA call): every
// request gets an error reply, and the server serves on.
func TestJunkFabricAddressesRefused(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, StripSize: 64 << 10})
	c := cl.Mount(t, clientlib.Options{Provider: "none"})
	f, err := c.Create(ctx, "/j", clientlib.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("alive"), 0); err != nil {
		t.Fatal(err)
	}
	srv := cl.Config.Servers[0]
	pid := os.Getpid()
	kinds := []struct {
		provider string
		make     func(n int) []byte
	}{
		{"shm", func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }},
		{"shm", func(n int) []byte { // the right prefix, then junk
			b := make([]byte, n)
			rand.Read(b)
			return append([]byte("fi_shm://"), b...)[:n]
		}},
		{"shm", func(n int) []byte { // this process's pid and uid, an endpoint that does not exist
			return fmt.Appendf(nil, "fi_shm://%d:%d:%d", pid, os.Getuid(), 100000+n)
		}},
		{"tcp;ofi_rxm", func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }},
		{"tcp;ofi_rxm", func(n int) []byte { // AF_INET, then junk
			b := make([]byte, n)
			rand.Read(b)
			if n >= 2 {
				b[0], b[1] = 2, 0
			}
			return b
		}},
	}
	for _, network := range []string{"unix", "tcp"} {
		addr := srv.Address
		if network == "unix" {
			addr = srv.SocketPath()
		}
		for k, kind := range kinds {
			for n := 0; n <= 300; n++ {
				junk := kind.make(n)
				rc, err := dialRaw(network, addr)
				if err != nil {
					t.Fatalf("%s: server gone after kind %d length %d: %v", network, k, n-1, err)
				}
				hst, refused, err := rc.hello(&proto.HelloReq{Client: "junk", Fabrics: []proto.Fabric{{Provider: kind.provider, Addr: junk}}})
				if err != nil {
					// A decoder may close on an empty address; the server must live on.
					rc.nc.Close()
					continue
				}
				if hst == 0 && refused == "" && kind.provider == "shm" {
					t.Errorf("%s: junk shm address %q accepted", network, junk)
				}
				req := &proto.IOReq{Handle: f.Handle(), Layout: f.Layout(), Transport: proto.RDMA, Provider: kind.provider,
					Remote: proto.RemoteBuf{Addr: 0x10000, Key: 1, Len: 4096}, Extents: []proto.Extent{{Local: 0, Len: 5, BufOff: 0}}}
				st, _, err := rc.call(proto.OpRead, req, false)
				rc.nc.Close()
				if err != nil {
					t.Fatalf("%s: %s address of %d bytes %q, then a read: %v (server crashed?)", network, kind.provider, n, junk, err)
				}
				if st == 0 && refused != "" {
					t.Errorf("%s: read served with a refused address %q", network, junk)
				}
			}
		}
	}
	b := make([]byte, 5)
	if n, err := f.ReadAt(b, 0); n != 5 || string(b) != "alive" {
		t.Fatalf("after the junk: %q, %v", b[:n], err)
	}
	if len(cl.Pids()) != 1 {
		t.Fatalf("server not running: %v", cl.Pids())
	}
}

// noSocket makes the servers' Unix socket unusable, so local clients
// connect by TCP and authenticate by the auth mode.
func noSocket(cfg *config.Config) {
	for i := range cfg.Servers {
		cfg.Servers[i].Socket = fmt.Sprintf("/nonexistent/ferry%d.sock", i) // one per server, as the config asks
	}
}

// Auth mode key: a client with the file system's key is served; one with
// another key, a credential without a challenge, and a replayed proof are
// refused.
func TestKeyModeWrongKeyRefused(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2, Edit: func(cfg *config.Config) {
		cfg.Auth = config.AuthKey
		noSocket(cfg)
	}})
	good := cl.Mount(t, clientlib.Options{})
	f, err := good.Create(ctx, "/k", clientlib.CreateOptions{})
	if err != nil {
		t.Fatalf("right key: %v", err)
	}
	if _, err := f.WriteAt([]byte("keyed"), 0); err != nil {
		t.Fatalf("right key: %v", err)
	}

	wrong := filepath.Join(t.TempDir(), "wrong.key")
	if err := config.WriteKey(wrong); err != nil {
		t.Fatal(err)
	}
	bad := cl.Mount(t, clientlib.Options{KeyFile: wrong})
	_, err = bad.Stat(ctx, "/k")
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("wrong key: %v, want EACCES", err)
	}

	srv := cl.Config.Servers[0]
	key, err := config.ReadKey(cl.Config.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := dialRaw("tcp", srv.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.nc.Close()
	hello := &proto.HelloReq{Client: "raw", Auth: proto.AuthKey, UID: 1000, GID: 1000, Cred: make([]byte, 32)}
	if st, _, err := c1.hello(hello); err != nil || syscall.Errno(st) != syscall.EACCES {
		t.Fatalf("credential without a challenge: status %d err %v", st, err)
	}
	nonce := challenge(t, c1)
	mac := hmac.New(sha256.New, key)
	mac.Write(proto.KeyProofInput(nonce, hello))
	hello.Cred = mac.Sum(nil)
	if st, _, err := c1.hello(hello); err != nil || st != 0 {
		t.Fatalf("right proof: status %d err %v", st, err)
	}
	c2, err := dialRaw("tcp", srv.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.nc.Close()
	challenge(t, c2)
	if st, _, err := c2.hello(hello); err != nil || syscall.Errno(st) != syscall.EACCES {
		t.Fatalf("replayed proof: status %d err %v", st, err)
	}
}

func challenge(t *testing.T, c *rawConn) []byte {
	t.Helper()
	st, body, err := c.call(proto.OpChallenge, &proto.Empty{}, false)
	if err != nil || st != 0 {
		t.Fatalf("challenge: status %d err %v", st, err)
	}
	var ch proto.Challenge
	if err := proto.Unmarshal(body, &ch); err != nil || len(ch.Nonce) < 16 {
		t.Fatalf("challenge: %v %x", err, ch.Nonce)
	}
	return ch.Nonce
}

// A server refuses auth none unless it listens on loopback only.
func TestAuthNoneNeedsLoopback(t *testing.T) {
	addrs := testcluster.FreePorts(t, 1)
	_, port, _ := net.SplitHostPort(addrs[0])
	cfg, err := config.Generate([]string{net.JoinHostPort("127.0.0.1", port)}, t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Servers[0].Bind = net.JoinHostPort("0.0.0.0", port) // listening on every address
	cfg.Auth = config.AuthNone
	path := filepath.Join(t.TempDir(), "ferry.toml")
	b, _ := cfg.Encode()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testcluster.Binary(t, "ferryd"), "--config", path, "--id", "0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("ferryd with auth none on 0.0.0.0: %v\n%s", err, out)
	}
}

// MUNGE round trip with a real munged: a client's credential is decoded
// by the server, and a credential made for another connection is refused.
func TestMungeRoundTrip(t *testing.T) {
	munged, err := exec.LookPath("munged")
	if err != nil {
		t.Skip("munged is not installed (Debian package munge; scripts/setup.sh installs it)")
	}
	for _, p := range []string{"munge", "unmunge"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (Debian package munge)", p)
		}
	}
	dir := publicDir(t)
	key := filepath.Join(dir, "munge.key")
	kb := make([]byte, 1024)
	rand.Read(kb)
	if err := os.WriteFile(key, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge.socket")
	cmd := exec.Command(munged, "--foreground", "--force", "--socket="+sock, "--key-file="+key,
		"--pid-file="+filepath.Join(dir, "munged.pid"), "--log-file="+filepath.Join(dir, "munged.log"),
		"--seed-file="+filepath.Join(dir, "munged.seed"))
	var mlog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &mlog, &mlog
	if err := cmd.Start(); err != nil {
		t.Skipf("munged cannot start here: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Skipf("munged did not make its socket: %s", mlog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl := testcluster.Start(t, testcluster.Options{Servers: 1, Edit: func(cfg *config.Config) {
		cfg.Auth = config.AuthMunge
		cfg.MungeSocket = sock
		noSocket(cfg)
	}})
	c := cl.Mount(t, clientlib.Options{})
	if _, err := c.Create(ctx, "/m", clientlib.CreateOptions{}); err != nil {
		t.Fatalf("with a MUNGE credential: %v", err)
	}
	// A credential whose payload is not this connection's challenge.
	out, err := exec.Command("munge", "--socket="+sock, "--string=00").Output()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRaw("tcp", cl.Config.Servers[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.nc.Close()
	challenge(t, rc)
	st, _, err := rc.hello(&proto.HelloReq{Client: "raw", Auth: proto.AuthMunge, Cred: bytes.TrimSpace(out)})
	if err != nil || syscall.Errno(st) != syscall.EACCES {
		t.Fatalf("credential for another connection: status %d err %v", st, err)
	}
}

// clientArg tells the child client where the file system is.
type clientArg struct{ Config, Path string }

// clientResult is what the child client saw.
type clientResult struct {
	DataPaths []string
	Err       string
}

func childClient() int {
	var a clientArg
	childArg(&a)
	var r clientResult
	err := func() error {
		c, err := clientlib.Mount(context.Background(), a.Config, clientlib.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		f, err := c.Create(context.Background(), a.Path, clientlib.CreateOptions{})
		if err != nil {
			return err
		}
		data := bytes.Repeat([]byte("nobody wrote this "), 20000) // past the eager size: RMA if any
		if _, err := f.WriteAt(data, 0); err != nil {
			return err
		}
		got := make([]byte, len(data))
		if _, err := f.ReadAt(got, 0); err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return errors.New("read back other bytes")
		}
		for i := range c.Servers() {
			r.DataPaths = append(r.DataPaths, c.DataPath(i))
		}
		return f.Close()
	}()
	if err != nil {
		r.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// A non-root client of root servers: shm serves only the servers' own
// user, so the client says why it does not use shm and moves bytes by RMA
// over tcp, with its address bound by the Unix socket's peer credentials
// or, where the socket is out of its reach, by the TCP connection's
// source. It never crashes or hangs.
func TestNonRootClientOfRootServers(t *testing.T) {
	cases := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"socket reachable", nil, "rdma:tcp"},
		// The default socket, in root's private storage directory; auth
		// none so the TCP client may still create files.
		{"socket out of reach", func(cfg *config.Config) {
			cfg.Auth = config.AuthNone
			for i := range cfg.Servers {
				cfg.Servers[i].Socket = ""
			}
		}, "rdma:tcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := publicDir(t)
			cl := testcluster.Start(t, testcluster.Options{Servers: 2, Dir: dir, Edit: tc.edit})
			root := cl.Mount(t, clientlib.Options{Provider: "none"})
			if err := root.Mkdir(ctx, "/pub", 0o777); err != nil {
				t.Fatal(err)
			}
			if err := root.Chmod(ctx, "/pub", 0o777); err != nil {
				t.Fatal(err)
			}
			var r clientResult
			out := runAsNobody(t, "client", clientArg{Config: cl.ConfigPath, Path: "/pub/n"})
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("child output %q: %v", out, err)
			}
			if r.Err != "" {
				t.Fatalf("nobody's client: %s", r.Err)
			}
			for i, p := range r.DataPaths {
				if !strings.Contains(p, tc.want) {
					t.Errorf("server %d: data path %q, want %q", i, p, tc.want)
				}
			}
			t.Logf("data paths: %q", r.DataPaths)
		})
	}
}
