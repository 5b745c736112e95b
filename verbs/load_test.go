//go:build cgo

package verbs

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// standInEnv makes the test binary a child that loads libfabric, moves
// bytes over shm and reports what it loaded (standInMain).
const standInEnv = "FERRY_VERBS_TEST_STANDINS"

// standInMain opens two shm endpoints, writes 1 MiB from one into the
// other, and prints the stand-ins in use and the libraries mapped.
func standInMain() int {
	fail := func(err error) int { fmt.Printf("ERR %v\n", err); return 1 }
	a, err := Open(Config{Provider: "shm"})
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	b, err := Open(Config{Provider: "shm"})
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	peer, err := a.Connect(b.Address())
	if err != nil {
		return fail(err)
	}
	const n = 1 << 20
	var bufs [2][]byte
	for i := range bufs {
		if bufs[i], err = syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS); err != nil {
			return fail(err)
		}
		defer syscall.Munmap(bufs[i])
	}
	src, dst := bufs[0], bufs[1]
	fill(src, 7)
	ms, err := a.Register(unsafe.Pointer(&src[0]), n, AccessLocal)
	if err != nil {
		return fail(err)
	}
	defer ms.Close()
	md, err := b.Register(unsafe.Pointer(&dst[0]), n, AccessRemoteWrite)
	if err != nil {
		return fail(err)
	}
	defer md.Close()
	rb, err := md.Remote(0, n)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Do(ctx, RMA{Kind: Write, Peer: peer, Local: One(ms, 0, n), Remote: rb}); err != nil {
		return fail(err)
	}
	if !bytes.Equal(src, dst) {
		return fail(fmt.Errorf("bytes written differ from the source"))
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fail(err)
	}
	libs := map[string]bool{}
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(f[5], ".so") {
			libs[f[5]] = true
		}
	}
	// The libraries' constructors must not have taken the runtime's
	// signals (the real libinfinipath exits on SIGTERM).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		return fail(err)
	}
	select {
	case <-sig:
	case <-time.After(10 * time.Second):
		return fail(fmt.Errorf("SIGTERM sent to self never reached signal.Notify"))
	}
	refused, on, restored := kallsymsGuard()
	fmt.Printf("kallsyms_refused=%d\nkallsyms_guard_on=%v\nfopen_restored=%v\n", refused, on, restored)
	fmt.Printf("stand_ins=%s\n", strings.Join(a.Info().Stubbed, ","))
	for l := range libs {
		fmt.Printf("lib=%s\n", l)
	}
	return 0
}

type standInRun struct {
	standIns string
	libs     []string
	kallsyms map[string]string // kallsyms_refused, kallsyms_guard_on, fopen_restored
}

// mapped reports the mapped file of the library soname (the file may
// carry a longer version: libpsm2.so.2.2), if any.
func (r standInRun) mapped(soname string) string {
	for _, l := range r.libs {
		if b := filepath.Base(l); b == soname || strings.HasPrefix(b, soname+".") {
			return l
		}
	}
	return ""
}

func runStandInChild(t *testing.T, exe string, env ...string) standInRun {
	t.Helper()
	cmd := exec.Command(exe, "-test.run", "^$")
	cmd.Env = append(append(os.Environ(), standInEnv+"=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child (%v): %v\n%s%s", env, err, out, stderr.Bytes())
	}
	r := standInRun{kallsyms: map[string]string{}}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && (strings.HasPrefix(k, "kallsyms_") || k == "fopen_restored") {
			r.kallsyms[k] = v
		} else if v, ok := strings.CutPrefix(line, "stand_ins="); ok {
			r.standIns = v
		} else if v, ok := strings.CutPrefix(line, "lib="); ok {
			r.libs = append(r.libs, v)
		}
	}
	return r
}

// buildStandIn compiles a stand-in from psmstub/ into dir as it is
// installed (verbs/psmstub/CMakeLists.txt).
func buildStandIn(t *testing.T, dir, src, soname string) {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	abs, err := filepath.Abs("psmstub")
	if err != nil {
		t.Fatal(err)
	}
	mapFile := strings.TrimSuffix(src, ".c") + ".map"
	if !filepath.IsAbs(src) {
		src = filepath.Join(abs, src)
		mapFile = filepath.Join(abs, mapFile)
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-Wall", "-fvisibility=hidden", "-nostdlib",
		"-Wl,-soname,"+soname, "-Wl,--version-script="+mapFile, "-o", filepath.Join(dir, soname), src).CombinedOutput()
	if err != nil {
		t.Fatalf("build stand-in %s: %v\n%s", soname, err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// libfabricPath is the file of the libfabric.so.1 mapped in run.
func libfabricPath(t *testing.T, run standInRun) string {
	t.Helper()
	path := run.mapped("libfabric.so.1")
	if path == "" {
		t.Fatalf("no libfabric mapped in the child: %v", run.libs)
	}
	return path
}

// libfabricNeeds reports whether the libfabric.so.1 mapped in run depends
// on the library soname (Debian's does on both PSM libraries).
func libfabricNeeds(t *testing.T, run standInRun, soname string) bool {
	t.Helper()
	f, err := elf.Open(libfabricPath(t, run))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	needed, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range needed {
		if n == soname {
			return true
		}
	}
	return false
}

// TestPSMStandIns: a process finds the stand-ins beside its executable (or
// where FERRY_PSM_STUBS says), loads them instead of the real PSM
// libraries and still moves bytes; "off" loads the real ones; a stand-in
// that libfabric cannot bind to is dropped for the real library. In each
// case the child catches a SIGTERM it sends itself after the load.
func TestPSMStandIns(t *testing.T) {
	openOrSkip(t, "shm") // the children need shm
	root := t.TempDir()
	bin, lib := filepath.Join(root, "bin"), filepath.Join(root, "lib", "ferry")
	for _, d := range []string{bin, lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	buildStandIn(t, lib, "psm2.c", "libpsm2.so.2")
	buildStandIn(t, lib, "psm.c", "libpsm_infinipath.so.1")
	exe := filepath.Join(bin, "verbs.test")
	copyFile(t, os.Args[0], exe)
	both := "libpsm2.so.2,libpsm_infinipath.so.1"
	env := func(v string) string { return PSMStubsEnv + "=" + v }

	t.Run("beside the executable", func(t *testing.T) {
		r := runStandInChild(t, exe, env(""))
		if r.standIns != both {
			t.Fatalf("stand-ins in use %q, want %q", r.standIns, both)
		}
		for _, so := range []string{"libpsm2.so.2", "libpsm_infinipath.so.1"} {
			if got := r.mapped(so); got != filepath.Join(lib, so) {
				t.Errorf("%s mapped from %q, want the stand-in in %s", so, got, lib)
			}
		}
		if got := r.mapped("libinfinipath.so.4"); got != "" {
			t.Errorf("the real PSM's dependency %s is mapped", got)
		}
	})
	t.Run("named by the environment", func(t *testing.T) {
		r := runStandInChild(t, os.Args[0], env(lib))
		if r.standIns != both || r.mapped("libpsm2.so.2") != filepath.Join(lib, "libpsm2.so.2") {
			t.Fatalf("stand-ins %q, libpsm2 from %q", r.standIns, r.mapped("libpsm2.so.2"))
		}
	})
	t.Run("off", func(t *testing.T) {
		r := runStandInChild(t, exe, env("off"))
		if r.standIns != "" {
			t.Fatalf("stand-ins %q in use with %s=off", r.standIns, PSMStubsEnv)
		}
		for _, so := range []string{"libpsm2.so.2", "libpsm_infinipath.so.1"} {
			got := r.mapped(so)
			if strings.HasPrefix(got, lib) {
				t.Errorf("stand-in %s mapped with %s=off", got, PSMStubsEnv)
			}
			if libfabricNeeds(t, r, so) && got == "" {
				t.Errorf("libfabric needs %s, but the real one is not mapped", so)
			}
		}
	})
	t.Run("a stand-in missing symbols", func(t *testing.T) {
		bad := filepath.Join(root, "bad")
		if err := os.MkdirAll(bad, 0o755); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(bad, "psm2.c")
		if err := os.WriteFile(src, []byte("__attribute__((visibility(\"default\"))) int psm2_init(void) { return 21; }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join("psmstub", "psm2.map"), filepath.Join(bad, "psm2.map"))
		buildStandIn(t, bad, src, "libpsm2.so.2")
		buildStandIn(t, bad, "psm.c", "libpsm_infinipath.so.1")
		r := runStandInChild(t, os.Args[0], env(bad))
		if !libfabricNeeds(t, r, "libpsm2.so.2") {
			t.Skip("this libfabric does not depend on libpsm2")
		}
		if r.standIns != "" {
			t.Fatalf("stand-ins %q in use though libfabric cannot bind to them", r.standIns)
		}
		for _, l := range r.libs {
			if strings.HasPrefix(l, bad) {
				t.Errorf("stand-in %s still mapped after libfabric refused it", l)
			}
		}
		if r.mapped("libpsm2.so.2") == "" {
			t.Errorf("the real libpsm2 is not mapped")
		}
	})
}

// TestKallsymsGuard: a process that loads libfabric keeps the verbs
// provider's init from reading /proc/kallsyms (kallsyms.c), puts
// libfabric's fopen back after the init, and still moves bytes over shm;
// FERRY_LIBFABRIC_KALLSYMS=on lets the init read it.
func TestKallsymsGuard(t *testing.T) {
	openOrSkip(t, "shm") // the children need shm
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the guard patches relocations of amd64 and arm64 only")
	}
	r := runStandInChild(t, os.Args[0])
	path := libfabricPath(t, r)
	lib, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Debian's libfabric 1.17 has verbs built in, and its init opens
	// /proc/kallsyms twice; a libfabric without the string never does.
	scans := bytes.Contains(lib, []byte("/proc/kallsyms"))
	if got := r.kallsyms["kallsyms_refused"]; scans && (got == "" || got == "0") || !scans && got != "0" {
		t.Errorf("%s (reads /proc/kallsyms: %v): the guard refused %q opens", path, scans, got)
	}
	if r.kallsyms["kallsyms_guard_on"] != "false" || r.kallsyms["fopen_restored"] != "true" {
		t.Errorf("after the first fi_getinfo: guard on %q, libfabric's fopen restored %q; want false, true",
			r.kallsyms["kallsyms_guard_on"], r.kallsyms["fopen_restored"])
	}
	on := runStandInChild(t, os.Args[0], KallsymsEnv+"=on")
	if got := on.kallsyms["kallsyms_refused"]; got != "0" {
		t.Errorf("%s=on: the guard refused %q opens, want 0", KallsymsEnv, got)
	}
}

// TestABIVersions: the symbol versions loadFabric binds libfabric's entry
// points at are those a program compiled against the same headers and
// linked with -lfabric binds (the fi_info calls change ABI as struct
// fi_info grows).
func TestABIVersions(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "abi.c")
	prog := `#include <rdma/fabric.h>
int main(void) {
	struct fi_info *i = fi_dupinfo(NULL);
	fi_getinfo(FI_VERSION(1, 9), NULL, NULL, 0, i, &i);
	fi_fabric(NULL, NULL, NULL);
	fi_freeinfo(i);
	return fi_strerror(0) != 0 && fi_version() != 0;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	exe := filepath.Join(dir, "abi")
	if out, err := exec.Command(cc, "-o", exe, src, "-lfabric").CombinedOutput(); err != nil {
		t.Fatalf("build a program linked with -lfabric: %v\n%s", err, out)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, s := range syms {
		if !strings.HasPrefix(s.Name, "fi_") {
			continue
		}
		seen++
		if got := abiVersion(s.Name); got != s.Version {
			t.Errorf("%s: loadFabric binds version %q, -lfabric binds %q", s.Name, got, s.Version)
		}
	}
	if seen != 6 {
		t.Errorf("found %d of the 6 entry points in the program's imports: %v", seen, syms)
	}
}

// The stand-ins are looked for beside a shared library when the code runs
// in one (libferry in a C program), beside the executable otherwise.
func TestSharedObjectName(t *testing.T) {
	for name, want := range map[string]bool{
		"libferry.so": true, "libferry.so.0": true, "libferry.so.0.1.0": true,
		"ferry": false, "ferryd": false, "verbs.test": false, "my.socket-tool": false, "a.sonar": false,
	} {
		if got := sharedObject.MatchString(name); got != want {
			t.Errorf("%q: shared object %v, want %v", name, got, want)
		}
	}
}
