package fusefs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/fusefs"
	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// The coreutils a user reaches for first, on 4 servers with 64 KiB
// strips, each checked against the same command on a local file.
func TestCoreutils(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	local := t.TempDir()
	src := filepath.Join(local, "src")
	if err := os.WriteFile(src, randomBytes(t, 5<<20+12345), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, m.dir, fmt.Sprintf(`
L=%[1]s
cp $L/src a
cmp $L/src a
cat a > $L/cat.out
cmp $L/src $L/cat.out
dd if=$L/src of=dd bs=777 status=none
dd if=dd of=$L/dd.out bs=65537 status=none
cmp $L/src dd
cmp $L/src $L/dd.out
cp $L/src $L/patched
dd if=$L/src of=$L/patched bs=4093 skip=3 seek=5 count=700 conv=notrunc status=none
dd if=$L/src of=dd bs=4093 skip=3 seek=5 count=700 conv=notrunc status=none
cmp $L/patched dd
dd if=$L/src of=$L/tail bs=1001 skip=5000 seek=7 count=100 status=none
dd if=$L/src of=tail bs=1001 skip=5000 seek=7 count=100 status=none
cmp $L/tail tail
mkdir -p d1/d2/d3
mv a d1/d2/moved
test ! -e a
cmp $L/src d1/d2/moved
mv d1/d2 d1/renamed
cmp $L/src d1/renamed/moved
truncate -s 1000 d1/renamed/moved
test "$(stat -c %%s d1/renamed/moved)" = 1000
cmp -n 1000 $L/src d1/renamed/moved
truncate -s 300001 d1/renamed/moved
cmp <(head -c 1000 $L/src; head -c 299001 /dev/zero) d1/renamed/moved
chmod 640 dd
test "$(stat -c '%%s %%a %%F' dd)" = "$(stat -c %%s $L/src) 640 regular file"
test "$(stat -c '%%F' d1)" = directory
touch -d '2001-02-03 04:05:06 UTC' dd
test "$(stat -c %%Y dd)" = "$(date -d '2001-02-03 04:05:06 UTC' +%%s)"
touch -a -d '2002-01-01 00:00:00 UTC' dd
test "$(stat -c %%X dd)" = "$(date -d '2002-01-01 00:00:00 UTC' +%%s)"
test "$(stat -c %%Y dd)" = "$(date -d '2001-02-03 04:05:06 UTC' +%%s)"
chown 1234:5678 dd
test "$(stat -c '%%u %%g' dd)" = "1234 5678"
rm -r d1
test ! -e d1
`, local))

	ls := sh(t, m.dir, "ls -l --time-style=+%s dd tail")
	lines := strings.Split(ls, "\n")
	if len(lines) != 2 {
		t.Fatalf("ls -l:\n%s", ls)
	}
	srcInfo, _ := os.Stat(src)
	tailInfo, _ := os.Stat(filepath.Join(local, "tail"))
	for i, want := range []struct {
		mode, name string
		size       int64
	}{{"-rw-r-----", "dd", srcInfo.Size()}, {"-rw-r--r--", "tail", tailInfo.Size()}} {
		f := strings.Fields(lines[i])
		if len(f) != 7 || f[0] != want.mode || f[4] != strconv.FormatInt(want.size, 10) || f[6] != want.name {
			t.Errorf("ls -l line %q, want mode %s size %d name %s", lines[i], want.mode, want.size, want.name)
		}
	}

	// df reports the servers' storage summed.
	st, err := m.c.Statfs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	df := sh(t, m.dir, "df -B4096 --output=size . | tail -n 1")
	if df != strconv.FormatUint(st.Bytes/4096, 10) {
		t.Fatalf("df says %s blocks of 4 KiB, the servers %d bytes", df, st.Bytes)
	}
	if st.Servers != 4 || st.Bytes == 0 || st.Avail > st.Bytes {
		t.Fatalf("statfs %+v", st)
	}
}

// A tree goes in and comes back out by tar byte for byte, with modes and
// modification times.
func TestTarRoundTrip(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	src, out := t.TempDir(), t.TempDir()
	sizes := []int{0, 1, 4095, 65536, 65537, 300000, 1<<20 + 3}
	when := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	for i, dir := range []string{".", "a", "a/b", "a/b/c", "empty", "x"} {
		if err := os.MkdirAll(filepath.Join(src, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if dir == "empty" {
			continue
		}
		for j, n := range sizes {
			p := filepath.Join(src, dir, fmt.Sprintf("f%d", j))
			if err := os.WriteFile(p, randomBytes(t, n), fs.FileMode(0o600+0o44*(j%2))); err != nil {
				t.Fatal(err)
			}
			mt := when.Add(time.Duration(i*100+j) * time.Hour)
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	sh(t, m.dir, fmt.Sprintf(`
mkdir t
tar -C %[1]s -cf - . | tar -C t -xf -
tar -C t -cf - . | tar -C %[2]s -xf -
`, src, out))
	compareTrees(t, src, out)
	compareTrees(t, src, filepath.Join(m.dir, "t"))
}

// compareTrees checks that b holds what a holds: the same names, types,
// permission bits, bytes, and files' modification times.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		ai, err := d.Info()
		if err != nil {
			return err
		}
		bi, err := os.Stat(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if ai.IsDir() != bi.IsDir() || ai.Mode().Perm() != bi.Mode().Perm() {
			return fmt.Errorf("%s: %v in %s, %v in %s", rel, ai.Mode(), a, bi.Mode(), b)
		}
		if ai.IsDir() {
			return nil
		}
		if !ai.ModTime().Equal(bi.ModTime()) {
			return fmt.Errorf("%s: mtime %v in %s, %v in %s", rel, ai.ModTime(), a, bi.ModTime(), b)
		}
		x, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("%s: %d bytes in %s, %d different bytes in %s", rel, len(x), a, len(y), b)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != seen {
		t.Fatalf("%s holds %d files, %s %d", a, seen, b, n)
	}
}

// Writes and reads at random offsets and lengths through the mount agree
// with the same operations on a local reference, and the servers (read
// by the client library, past the kernel) hold the same bytes.
func TestRandomOffsets(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	p := filepath.Join(m.dir, "r")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ref []byte
	buf := randomBytes(t, 3<<20)
	for i := 0; i < 300; i++ {
		off := rng.Int64N(6 << 20)
		n := 1 + rng.IntN(len(buf)-1)
		if rng.IntN(3) == 0 {
			n = 1 + rng.IntN(5000) // small requests go inline, large ones by RMA
		}
		if rng.IntN(2) == 0 {
			data := buf[rng.IntN(len(buf)-n+1):][:n]
			if _, err := f.WriteAt(data, off); err != nil {
				t.Fatalf("write %d at %d: %v", n, off, err)
			}
			if end := off + int64(n); end > int64(len(ref)) {
				ref = append(ref, make([]byte, end-int64(len(ref)))...)
			}
			copy(ref[off:], data)
			continue
		}
		got := make([]byte, n)
		k, err := f.ReadAt(got, off)
		want := []byte{}
		if off < int64(len(ref)) {
			want = ref[off:min(int64(len(ref)), off+int64(n))]
		}
		if k != len(want) || (err != nil && err != io.EOF) || !bytes.Equal(got[:k], want) {
			t.Fatalf("read %d at %d: %d bytes, %v; want %d bytes (equal: %v)", n, off, k, err, len(want), bytes.Equal(got[:k], want))
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, ref) {
		t.Fatalf("whole file through the mount: %d bytes, %v; want %d", len(got), err, len(ref))
	}
	cf, err := m.c.Open(context.Background(), "/r")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	direct := make([]byte, len(ref))
	if n, err := cf.ReadAt(direct, 0); n != len(ref) || (err != nil && err != io.EOF) || !bytes.Equal(direct, ref) {
		t.Fatalf("whole file from the servers: %d bytes, %v", n, err)
	}
}

// Two mounts (two clients) see each other's files after close, at once,
// although each kernel caches attributes (close-to-open).
func TestTwoMounts(t *testing.T) {
	cl := cluster(t)
	a := mount(t, cl, fusefs.Options{})
	b := mount(t, cl, fusefs.Options{AttrTimeout: time.Hour, EntryTimeout: time.Hour})
	for i, n := range []int{200000, 700001, 1000, 0, 65537} {
		data := randomBytes(t, n)
		if err := os.WriteFile(filepath.Join(a.dir, "f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(b.dir, "f"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: the other mount read %d bytes, %v; want the %d just written", i, len(got), err, n)
		}
		data = randomBytes(t, n/2+1)
		if err := os.WriteFile(filepath.Join(b.dir, "f"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(a.dir, "f")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d, back: %d bytes, %v; want %d", i, len(got), err, len(data))
		}
	}
	if err := os.MkdirAll(filepath.Join(a.dir, "new/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "new/dir/g"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(b.dir, "new/dir"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "g" {
		t.Fatalf("listing from the other mount: %v, %v", ents, err)
	}
	if got, err := os.ReadFile(filepath.Join(b.dir, "new/dir/g")); err != nil || string(got) != "hello" {
		t.Fatalf("read from the other mount: %q, %v", got, err)
	}
}

// A killed server gives cat an error, not a hang; a stopped one a
// timeout; names stay listable; once the server is back, the mount works.
func TestDeadServer(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 4, Edit: func(c *config.Config) {
		c.Timeout.Duration = 3 * time.Second
		c.MetadataServer = 0
	}})
	m := mount(t, cl, fusefs.Options{})
	data := randomBytes(t, 1<<20) // 16 strips of 64 KiB: on every server
	if err := os.WriteFile(filepath.Join(m.dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(m.dir, "f"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes, %v", when, len(got), err)
		}
	}
	check("before")

	cl.Kill(2)
	// The limit is the bound on a hang, not a measurement: an error
	// comes at once, the limit is many times the 3 s timeout.
	out, err := shErr(m.dir, "cat f > /dev/null", time.Minute)
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Fatalf("cat with a dead server: %v: %q, want an Input/output error", err, out)
	}
	if ls, err := shErr(m.dir, "ls", time.Minute); err != nil || ls != "f" {
		t.Fatalf("ls with a dead data server: %v: %q", err, ls)
	}
	// An exclusive create that fails leaves no file behind: a retry
	// (a lock file's) must not find one.
	lock, err := os.OpenFile(filepath.Join(m.dir, "lock"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err == nil {
		lock.Close()
		t.Fatal("exclusive create with a dead data server succeeded")
	}
	// Nor does a plain one (make must not find an empty target).
	if made, err := os.OpenFile(filepath.Join(m.dir, "made"), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		made.Close()
		t.Fatal("create with a dead data server succeeded")
	}
	cl.StartServer(2)
	check("after the server came back")
	for _, name := range []string{"lock", "made"} {
		if _, err := os.Stat(filepath.Join(m.dir, name)); !os.IsNotExist(err) {
			t.Fatalf("the failed create of %s left its file: %v", name, err)
		}
	}
	lock, err = os.OpenFile(filepath.Join(m.dir, "lock"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("exclusive create once the server is back: %v", err)
	}
	lock.Close()

	// ls lists names without the entries' attributes when a server does
	// not give their sizes: it looks no entry up one by one (each such
	// lookup waited a timeout for the stopped server), so it asks the
	// metadata server no more than with every server up.
	lookups := func() int64 {
		st, err := m.c.ServerStats(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return st["op.lookup"]
	}
	ls := func() int64 {
		before := lookups()
		if ls, err := shErr(m.dir, "ls", time.Minute); err != nil || ls != "f\nlock" {
			t.Fatalf("ls: %v: %q", err, ls)
		}
		return lookups() - before
	}
	up := ls()
	cl.Signal(1, syscall.SIGSTOP)
	defer cl.Signal(1, syscall.SIGCONT)
	if n := ls(); n > up {
		t.Errorf("ls with a stopped data server looked up %d entries, %d with every server up", n, up)
	}
	out, err = shErr(m.dir, "cat f > /dev/null", time.Minute)
	if err == nil || !strings.Contains(out, "timed out") {
		t.Fatalf("cat with a stopped server: %v: %q, want a timeout", err, out)
	}
	cl.Signal(1, syscall.SIGCONT)
	check("after the server resumed")
}

// fio's sequential and random jobs run to completion and verify.
func TestFio(t *testing.T) {
	requireTool(t, "fio")
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	common := "--directory=. --ioengine=psync --fallocate=none --verify=crc32c --verify_fatal=1 --group_reporting"
	for _, job := range []string{
		"--name=seq --rw=write --bs=1M --size=32M --end_fsync=1",
		"--name=seqread --rw=read --bs=1M --size=32M --filename=seq.0.0 --verify=0",
		"--name=rand --rw=randwrite --bs=4k --size=4M",
		"--name=randread --rw=randread --bs=4k --size=4M --filename=rand.0.0 --verify=0",
	} {
		out := sh(t, m.dir, "fio "+common+" "+job)
		if !strings.Contains(out, "err= 0") {
			t.Fatalf("fio %s:\n%s", job, out)
		}
	}
}

// ls -l of a directory asks the metadata server for the listing once and
// each server for sizes once, not once per entry.
func TestListingRoundTrips(t *testing.T) {
	cl := cluster(t)
	// Long timeouts: what the kernel was told during the listing must
	// still be valid when ls stats each entry, however slow the machine.
	m := mount(t, cl, fusefs.Options{AttrTimeout: time.Hour, EntryTimeout: time.Hour})
	ctx := context.Background()
	if err := m.c.Mkdir(ctx, "/big", 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 0; i < n; i++ {
		f, err := m.c.Create(ctx, fmt.Sprintf("/big/f%03d", i), clientlib.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte(i)}, i*100), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	before := opCounts(t, m)
	ls := sh(t, m.dir, "ls -l big")
	after := opCounts(t, m)
	if got := strings.Count(ls, "\n"); got != n { // "total" line + n entries
		t.Fatalf("ls -l listed %d lines:\n%s", got, ls)
	}
	if !strings.Contains(ls, " 29900 ") {
		t.Fatalf("ls -l lacks the size of f299:\n%s", ls)
	}
	diff := func(op string) int64 { return after[op] - before[op] }
	if diff("lookup") > 2 || diff("size") != 0 || diff("readdirplus") != 1 || diff("sizes") != 4 {
		t.Fatalf("ls -l of %d files cost lookup %d, size %d, readdirplus %d, sizes %d round trips",
			n, diff("lookup"), diff("size"), diff("readdirplus"), diff("sizes"))
	}
}

// opCounts sums every server's per-opcode request counters.
func opCounts(t *testing.T, m *mounted) map[string]int64 {
	t.Helper()
	sum := map[string]int64{}
	for id := range m.c.Servers() {
		st, err := m.c.ServerStats(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range st {
			if op, ok := strings.CutPrefix(k, "op."); ok {
				sum[op] += v
			}
		}
	}
	return sum
}

// Reads and writes through the mount move by RMA into and out of the
// kernel's request buffers, which go-fuse reuses: the registration cache
// registers them once and then hits, rather than registering per request.
// (EagerThreshold 1: on shm the default sends requests below 1 MiB, these
// among them, inline.)
func TestRegistrationReuse(t *testing.T) {
	cl := cluster(t)
	m := mountWith(t, cl, clientlib.Options{Name: "fusefs-test", EagerThreshold: 1, LocalReads: clientlib.LocalReadsOff}, fusefs.Options{})
	if path := m.c.DataPath(0); !strings.HasPrefix(path, "rdma:") {
		t.Skipf("no fabric here (%s): the mount reads and writes on sockets", path)
	}
	data := randomBytes(t, 64<<20)
	p := filepath.Join(m.dir, "big")
	before := m.c.RegCacheStats()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, %v", len(got), err)
		}
	}
	st := m.c.RegCacheStats()
	hits, regs := st.Hits-before.Hits, st.Registrations-before.Registrations
	t.Logf("192 MiB through the mount: %d cache hits, %d registrations, %d invalidations", hits, regs, st.Invalidations-before.Invalidations)
	// 192 requests of 1 MiB at the least; a registration per request
	// would make regs about as large as hits + regs.
	if hits+regs < 192 || regs*4 > hits+regs {
		t.Fatalf("%d hits and %d registrations for 192 MiB of 1 MiB requests: buffers are not reused", hits, regs)
	}
}

// A shared writable mapping of a file on the mount writes back to the
// servers: the client library, past the kernel, reads what was stored.
func TestMmap(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	const size = 3<<20 + 100
	orig := randomBytes(t, size)
	p := filepath.Join(m.dir, "mapped")
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mem, orig) {
		syscall.Munmap(mem)
		t.Fatal("the mapping does not hold the file's bytes")
	}
	want := append([]byte(nil), orig...)
	patch := randomBytes(t, 200000)
	for _, off := range []int{0, 65530, size - len(patch)} {
		copy(mem[off:], patch)
		copy(want[off:], patch)
	}
	if err := unixMsync(mem); err != nil {
		syscall.Munmap(mem)
		t.Fatal(err)
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	cf, err := m.c.Open(context.Background(), "/mapped")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	got := make([]byte, size)
	if n, err := cf.ReadAt(got, 0); n != size || (err != nil && err != io.EOF) || !bytes.Equal(got, want) {
		t.Fatalf("servers hold %d bytes (%v), equal to the mapping's: %v", n, err, bytes.Equal(got, want))
	}
}

// With the kernel's writeback cache, bytes written reach the servers by
// close, and read back the same.
func TestWritebackCache(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{WritebackCache: true})
	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "src"), randomBytes(t, 2<<20+777), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, m.dir, fmt.Sprintf(`
dd if=%[1]s/src of=w bs=777 status=none
cmp %[1]s/src w
`, local))
	want, _ := os.ReadFile(filepath.Join(local, "src"))
	cf, err := m.c.Open(context.Background(), "/w")
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	got := make([]byte, len(want))
	if n, err := cf.ReadAt(got, 0); n != len(want) || (err != nil && err != io.EOF) || !bytes.Equal(got, want) {
		t.Fatalf("servers hold %d bytes (%v) after close, equal: %v", n, err, bytes.Equal(got, want))
	}
}

// A file unlinked while open loses its data at once (as the README says):
// the servers refuse the removed file's handle, so the descriptor's calls
// fail with ESTALE, as NFS's do for a file removed by another client.
func TestUnlinkWhileOpen(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	p := filepath.Join(m.dir, "gone")
	if err := os.WriteFile(p, randomBytes(t, 300000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("stat after unlink: %v", err)
	}
	if _, err := f.Stat(); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("fstat of the unlinked file: %v, want ESTALE", err)
	}
	if got, err := io.ReadAll(f); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("read of the unlinked file: %d bytes, %v; want ESTALE", len(got), err)
	}
}

// A file that another client renames away and replaces while it is open
// (logrotate on another node): the descriptor keeps its own file. fstat
// reports that file's size, O_APPEND writes land at its end, and a change
// of mode never reaches the file that now has the name.
func TestRenamedWhileOpen(t *testing.T) {
	cl := cluster(t)
	a := mount(t, cl, fusefs.Options{})
	b := mount(t, cl, fusefs.Options{})
	orig := bytes.Repeat([]byte("a log line of 23 bytes\n"), 100)
	if err := os.WriteFile(filepath.Join(a.dir, "log"), orig, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(a.dir, "log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Rename(filepath.Join(b.dir, "log"), filepath.Join(b.dir, "log.1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "log"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fusefs.DefaultAttrTimeout + 200*time.Millisecond) // a's cached attributes expire

	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(orig)) {
		t.Fatalf("fstat of the renamed file: %v, %v; want size %d", fi, err, len(orig))
	}
	if _, err := f.Write([]byte("APPENDED\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(b.dir, "log.1")); err != nil || !bytes.Equal(got, append(orig, "APPENDED\n"...)) {
		t.Fatalf("the renamed file: %d bytes, %v; want the original and the appended line", len(got), err)
	}
	if err := f.Chmod(0o600); err == nil {
		t.Log("fchmod succeeded") // allowed only if it reached the open file
	}
	if fi, err := os.Stat(filepath.Join(b.dir, "log")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the file now named log: %v, %v; want mode 0644, untouched", fi, err)
	}
	if got, err := os.ReadFile(filepath.Join(b.dir, "log")); err != nil || string(got) != "fresh" {
		t.Fatalf("the file now named log: %q, %v; want \"fresh\"", got, err)
	}
	// A truncate by name reaches the file the name holds now.
	if err := os.Truncate(filepath.Join(a.dir, "log"), 3); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(b.dir, "log")); err != nil || string(got) != "fre" {
		t.Fatalf("log after truncating it through the first mount: %q, %v; want \"fre\"", got, err)
	}
	if fi, err := os.Stat(filepath.Join(b.dir, "log.1")); err != nil || fi.Size() != int64(len(orig)+9) {
		t.Fatalf("log.1 after truncating log: %v, %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "log"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Through a, the name leads to the new file.
	if got, err := os.ReadFile(filepath.Join(a.dir, "log")); err != nil || string(got) != "fresh" {
		t.Fatalf("reading log through the first mount: %q, %v; want \"fresh\"", got, err)
	}
	if fi, err := os.Stat(filepath.Join(a.dir, "log")); err != nil || fi.Size() != 5 {
		t.Fatalf("stat of log through the first mount: %v, %v; want size 5", fi, err)
	}
}

// A file written through MPI-IO (the interposer, 4 ranks) reads the same
// through the mount, and one written through the mount reads the same
// through MPI-IO.
func TestMPIIO(t *testing.T) {
	root := testcluster.RepoRoot()
	lib := filepath.Join(root, "build", "lib", "libferry-mpiio-mpich.so")
	for _, need := range []string{"mpicc.mpich", "mpiexec.mpich", lib} {
		if _, err := os.Stat(need); err != nil {
			if _, err := exec.LookPath(need); err != nil {
				if os.Getenv("FERRY_TEST_REQUIRE_FABRIC") == "1" {
					t.Fatalf("FERRY_TEST_REQUIRE_FABRIC=1 but %s is missing (scripts/build.sh builds the library)", need)
				}
				t.Skipf("%s is missing (scripts/setup.sh installs MPICH, scripts/build.sh builds the library)", need)
			}
		}
	}
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	work := t.TempDir()
	exe := filepath.Join(work, "mpi_xfer")
	sh(t, work, fmt.Sprintf("mpicc.mpich -O2 -o %s %s -L%s -Wl,-rpath,%s -lferry-mpiio-mpich",
		exe, filepath.Join(root, "fusefs", "testdata", "mpi_xfer.c"), filepath.Dir(lib), filepath.Dir(lib)))
	mpirun := fmt.Sprintf("mpiexec.mpich -n 4 -genv FERRY_CONFIG %s %s", cl.ConfigPath, exe)

	const size = 5<<20 + 4321
	sh(t, work, mpirun+fmt.Sprintf(" write ferry:/by-mpi %d", size))
	want := make([]byte, size)
	for i := range want {
		off := int64(i)
		want[i] = byte((off*7 + 13) ^ (off >> 9))
	}
	if got, err := os.ReadFile(filepath.Join(m.dir, "by-mpi")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("written by MPI-IO, read through the mount: %d bytes, %v; want %d equal bytes", len(got), err, size)
	}

	data := randomBytes(t, 3<<20+999)
	if err := os.WriteFile(filepath.Join(m.dir, "by-mount"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	sh(t, work, mpirun+" read ferry:/by-mount "+out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("written through the mount, read by MPI-IO: %d bytes, %v; want %d equal bytes", len(got), err, len(data))
	}
}

// Mode 0 through the mount: a file created with it and a directory made
// with it have no permission bits, and O_CREAT with mode 0 on a file
// that exists leaves the file's mode alone.
func TestModeZero(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	f, err := os.OpenFile(filepath.Join(m.dir, "none"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("still writable by its creator")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Mkdir(filepath.Join(m.dir, "nonedir"), 0); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(m.dir, "kept")
	if err := os.WriteFile(kept, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if f, err := os.OpenFile(kept, os.O_CREATE|os.O_WRONLY, 0); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	for name, want := range map[string]fs.FileMode{"none": 0, "nonedir": 0, "kept": 0o640} {
		// the servers' view, and the kernel's, which it checks access by
		fi, err := m.c.Stat(context.Background(), "/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
		if li, err := os.Stat(filepath.Join(m.dir, name)); err != nil || li.Mode().Perm() != want {
			t.Errorf("%s through the mount: mode %v (%v), want %v", name, li.Mode().Perm(), err, want)
		}
	}
	// chmod 000 through the mount is seen as 000 too
	if err := os.Chmod(kept, 0); err != nil {
		t.Fatal(err)
	}
	if li, err := os.Stat(kept); err != nil || li.Mode().Perm() != 0 {
		t.Errorf("kept after chmod 000: %v (%v)", li.Mode().Perm(), err)
	}
}

// Hard and symbolic links, FIFOs and device files are refused with EPERM,
// what link(2), symlink(2) and mknod(2) say for a file system without
// them, and leave nothing behind.
func TestUnsupportedNodes(t *testing.T) {
	cl := cluster(t)
	m := mount(t, cl, fusefs.Options{})
	f := filepath.Join(m.dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"link":    os.Link(f, filepath.Join(m.dir, "hard")),
		"symlink": os.Symlink("f", filepath.Join(m.dir, "soft")),
		"mkfifo":  syscall.Mkfifo(filepath.Join(m.dir, "fifo"), 0o644),
	} {
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: %v, want EPERM", what, err)
		}
	}
	if names, err := os.ReadDir(m.dir); err != nil || len(names) != 1 {
		t.Errorf("the mount holds %v (%v), want only f", names, err)
	}
}
