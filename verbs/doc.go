// Package verbs is Ferry's RDMA layer: a Go binding of libfabric (cgo) that
// opens one reliable-datagram endpoint (FI_EP_RDM) per Open, registers
// memory, and moves bytes with one-sided RMA writes and reads.
//
// The provider is a configuration value, never a code path: the same code
// runs on shm and tcp;ofi_rxm here and on verbs, efa and cxi. Open asks for
// exactly the mr_mode bits the package handles (FI_MR_LOCAL, FI_MR_VIRT_ADDR,
// FI_MR_ALLOCATED, FI_MR_PROV_KEY, FI_MR_ENDPOINT) and honours what the
// provider returns: a descriptor is passed for every local buffer, keys are
// read back from the provider when it chooses them, and RemoteBuffer.Addr is
// a virtual address or an offset as the provider requires.
//
// # Memory
//
// Memory the fabric touches must not move: register C memory, mmap'ed
// memory, or Go memory through RegisterBytes (which pins it with a
// runtime.Pinner until the region is closed). No Go pointer is kept by C;
// operation contexts are slots of a C array, looked up by index in a Go
// table.
//
// # The owner
//
// One goroutine per endpoint, locked to its OS thread, is the endpoint's
// owner. Every libfabric call on the endpoint's fabric, domain, address
// vector, completion queue and regions is made in a turn, under the
// endpoint's turn lock (the domain is opened FI_THREAD_DOMAIN, so the
// provider needs no locks of its own for us, and the turn lock is never
// contended inside the provider). Start checks an RMA, cuts it into posts
// and queues them; Register, Connect and Close make their call on the
// caller's thread under the turn lock when it is free and no call queued
// before waits (a registration then costs 1.7 µs on shm instead of
// 66 µs, go test -bench Register ./regcache), and otherwise hand it to
// the owner and wait for it (a call the owner has not taken within a
// minute, as when it is stuck inside a provider call that does not
// return, is dropped and fails with ETIMEDOUT instead of hanging its
// caller; a call the owner has begun is waited for). A turn takes everything queued, posts
// up to 64 operations in one cgo call (fvb_run), reaps completions and
// closes each finished Op's channel.
//
// The owner takes turns whenever it is woken. A caller that waits for its
// operation next (StartWaiting, Do) and finds the owner idle (the turn
// lock free, nothing of others queued or in flight) takes the turn
// itself, on its own thread: on shm, whose CMA copy completes inside the
// post, the operation is done when StartWaiting returns and no thread is
// woken at all; elsewhere the owner is kicked to reap the completion.
// Handing every post to the owner cost two thread wake-ups per RMA (the
// owner's, then the waiter's): a raw 16 KiB fi_write on shm took 40 µs
// that way and 7 µs in the caller's turn (go test -bench Write/shm), and
// a client's 256 KiB and 1 MiB RDMA reads and writes ran 10-50 % faster
// (bench/results/2026-12-07f).
// Start, which a pipeline uses to overlap its next step with this one's
// copy, always hands its posts to the owner; the server posts a
// request's last piece with StartWaiting (ioserver/data, post).
//
// When it has nothing to do the owner blocks in ppoll(2) on an eventfd that
// goroutines write when they queue work (only while the owner says it may
// sleep) and, where the provider has one, the completion queue's wait fd
// (FI_WAIT_FD, checked with fi_trywait): tcp;ofi_rxm has one, so an idle
// tcp endpoint wakes only for traffic. shm has none (fi_cq_open refuses
// FI_WAIT_FD, FI_GETWAIT is -FI_ENOSYS in libfabric 1.17); shm needs the
// target of RMA to progress when a peer first contacts it (the peer's
// posts return -FI_EAGAIN until the target has read its connection
// request) and to hand back the command slot each RMA into it takes
// (1.17's fast path queues a response per RMA), so an idle shm owner looks
// at its queue every 100 ms, and while a caller expects peers' RMA
// (Endpoint.Expect, which the client holds for the length of an RDMA call
// to a server that has not reached its lane yet: LaneBusy) it polls every
// 20 µs to 4 ms, backing off while nothing happens and starting again
// from 20 µs at each new Expect; once every lane is settled (each server
// has reached us: SettleLane), or once an Expect has seen nothing happen
// for 50 ms (its peers are loaded), it looks every 20 ms, enough to hand
// back command slots. A call to a server whose lane is settled expects
// nothing and wakes no thread: before, each such call woke the owner,
// which then polled from 20 µs while the server copied. Looking costs: it takes
// the endpoint's region lock, which a peer holds for each whole copy into
// us, so the back-off is longer than for an owner's own operations
// (1 ms). A settled lane that a peer is copying into or out of now
// (Endpoint.LaneBusy, held by the client while a data request to the
// lane's server is in flight) is looked at only every 200 ms, and at the
// owner's next turn after the request ends: with 4 servers reading into
// one client, the 20 ms looks spun on the lanes' locks for 15 % of the
// machine's CPU samples, and reads ran 10-20 % slower than without them.
// A look still due is skipped while the lane's region lock is held and a
// command waits (fvb_run reads the lock word and the signal just before
// the read: progress would take the lock and wait for the copy), and is
// tried again from 20 µs on; a lane with 512 RMAs or more begun since its
// last look is read regardless. With 4 servers reading into one client,
// the spins had been 46 % of the client's CPU; the skip cut them 3-4
// times. What is left happens inside libfabric: its progress takes the
// lock three times in a row, and a server waiting for it copies in
// between.
// A lane with a quarter of shm's 1024 command slots or more in flight or
// begun since its last look (as the client estimates them: one RMA per
// extent and per 256 KiB) is looked at every 20 ms still, and the call
// that brings it there kicks the owner to look at once, so an owner
// asleep for 100 ms never lets a server run out of slots. Posts refused with -FI_EAGAIN stay queued, in order for their
// peer, and are retried with the same backoff, while posts to other peers
// go ahead: a peer slow to answer its first contact (a client starved of
// CPU among hundreds) holds up only its own transfers, not every one
// queued behind it. A queued post whose
// context has ended is failed, never posted. Info.TargetConnects says
// whether a provider works this way; where it does, the server makes each
// new peer's first contact with a one-byte read into a page of its own
// (ioserver/data, Fabric.reach) before it takes a bounce buffer for the
// peer, so buffers are not held while a slow peer answers.
//
// The wait is made from Go, not inside a cgo call (block_linux.go): a
// wait of 10 ms or more gives up the thread's P (the runtime's
// entersyscallblock), a shorter one keeps it, as an ordinary system call
// does. A thread blocked in a cgo call keeps its P in a syscall state;
// Go's sysmon then retakes it after 10 ms and goes back to ticking every
// 20 µs, as it also does when a system call wakes it from a deep sleep.
// With 256 shm client processes waiting on their servers that was 21 % of
// the machine's CPU samples. Sleeping in Go instead (a timer and a
// channel) was measured slower still: each wake of a goroutine locked to
// its thread hands the P from one thread to another.
//
// Measured before this design (session 2): FI_THREAD_SAFE endpoints shared
// by a napping progress thread and posting goroutines spent 61% of all CPU
// samples of a pipeline read in libfabric's spin locks.
//
// Writes are posted with FI_DELIVERY_COMPLETE where the provider offers it
// (Info.DeliveryComplete): when Write, or Wait on an async write, returns
// nil, the bytes are in the target's memory and another channel (the control
// connection) may say so.
//
// shm is the exception, by measurement and by its source: with CMA
// available its RMA is a process_vm_writev/readv made by the initiator inside
// the post call, completed after the copy, so the completion already means
// delivery. Passing FI_DELIVERY_COMPLETE (or asking for it as a default op
// flag) would force shm off that fast path, so it is not passed there
// (Info.DeliveryMode says which guarantee an endpoint uses).
//
// # Provider quirks handled here
//
//   - tcp;ofi_rxm (mr_mode 0): RemoteBuffer.Addr is an offset and keys are
//     chosen here, unique per domain (a duplicate, -FI_ENOKEY, takes the
//     next key). The first write to a new peer returns -FI_EAGAIN until the
//     connection is up: posts retry with backoff until the context ends.
//     The interface is chosen with node = Config.Interface and FI_SOURCE,
//     and the listening port with service = a port of Config.Ports: a port
//     in use fails fi_endpoint with -FI_EADDRINUSE and the next is tried.
//     A rejected access (wrong key, window beyond the registration, region
//     deregistered) fails with "Operation canceled: No such file or
//     directory" and tears the connection down: the next operation to that
//     peer fails with "not connected", the one after reconnects.
//   - shm (mr_mode FI_MR_VIRT_ADDR): opened without node/service and with
//     flags 0, no message ordering, so it takes its CMA fast path. That path
//     checks neither keys nor windows at the target (a peer that can
//     process_vm_writev into us could write anywhere anyway; Info.RemoteChecks
//     is false) and reports its errors without an operation context: such
//     posts therefore drain the completion queue under a lock right after
//     fi_writemsg/fi_readmsg and attribute a context-less error to the post
//     just made, so an error never leaves an operation hanging. shm's
//     fi_endpoint installs SIGSEGV/SIGBUS/SIGINT/SIGTERM handlers over Go's:
//     they are saved before and restored after opening (in C).
//   - Both use manual progress (see The owner for how each is driven).
//   - shm takes the target's region spin lock around its CMA copy, so
//     servers writing into one client at once serialize there, and waiters
//     spin: a perf profile of a 4-server sendfile read showed 39% of the
//     servers' samples in pthread_spin_lock (another process's lock, not
//     ours). Lanes remove the contention: Config.Lanes opens several
//     endpoints on one domain (registrations are the domain's, so one
//     registration serves every lane, and one owner drives them all), and
//     the client gives each server a different lane's address, so each
//     server copies under its own lock.
//   - Debian's libfabric 1.17 is linked against libpsm_infinipath and
//     libpsm2. Each library's constructor calibrates the CPU clock at
//     load time, pinned to one CPU, in sleeps of 125 µs for 100 ms (a
//     dlopen of either takes 100-102 ms; strace counts 494
//     clock_nanosleep calls for libpsm2's and 994 for a dlopen of
//     libfabric.so.1, which takes 202 ms on the 2026-12-07 machine), and
//     libinfinipath installs its own SIGSEGV handler. Ferry loads stand-ins
//     for both in their place (see Loading libfabric below).
//   - The first fi_getinfo of a process runs every built-in provider's
//     init function before FI_PROVIDER's filter is applied (1.17's fi_ini
//     and ofi_register_provider), and verbs' init reads /proc/kallsyms
//     twice (peer-memory and dma-buf support, which only GPU memory
//     registration uses: vrb_os_mem_support), about 50 ms each on the
//     2026-12-07 machine (121k symbols): 100 of a fresh process's 150 ms
//     first ping. Nothing in 1.17 skips it, so Ferry keeps it from being
//     read (kallsyms.c, and Loading libfabric below).
//   - Transfers larger than max_msg_size (or 1 GiB) are split into chunks,
//     and scatter lists into pieces of at most iov_limit segments.
//   - shm keeps a spin lock in each endpoint's shared region, and a peer
//     copying into our memory holds our lock for the copy. A peer killed
//     in the middle leaves it held: the owner, and any other peer's RMA
//     into the lane, then spin forever, and Close with them (a soak run
//     hung on it). The lock watchdog (shmlock.go) frees a lane's lock
//     that stayed held for 2 s (at every look 10 ms apart, then through
//     a last 20 ms burst of loads, which sees the moments between live
//     holders' turns) while a process that could hold it when the hold
//     began is gone: the lane's peer that SetLanePeer named (a client
//     learns its servers' pids on their Unix sockets) and the peers it
//     replaced in the last 3 s (a server killed and restarted), else the
//     peers in the address vector and those that left it in the last
//     10 s (a server's clients, whose shm addresses carry their pids). It
//     checks the region's layout (libfabric 1.17's) at open and stays off
//     otherwise. A live holder stopped for 2 s while another candidate
//     died would have its lock freed under it; a dead holder otherwise
//     hangs the endpoint for good.
//
// # Loading libfabric
//
// libfabric is not linked: the first Open (or LibfabricVersion) loads
// libfabric.so.1 with dlopen (load.c) and binds its six exported entry
// points (fi_getinfo, fi_freeinfo, fi_dupinfo, fi_fabric, fi_strerror,
// fi_version; everything else is reached through the fids' ops tables) at
// the symbol versions a program compiled against the same headers would
// link to (TestABIVersions checks them against -lfabric). A process that
// cannot load it gets ErrNotSupported from Open, so clients and "auto"
// servers fall back to sockets.
//
// Loading it here is what allows the stand-ins: before libfabric, unless
// libfabric or the library itself is in the process already, the loader
// loads psmstub's libpsm2.so.2 and libpsm_infinipath.so.1, whose sonames
// match, and the dynamic linker then takes them for libfabric's
// dependencies. Only libfabric's psm and psm2 providers use those
// libraries, and Ferry offers neither (its psm3 and opx need neither
// library); every stand-in call fails as on a host without the device,
// so those two providers report no device. The stand-ins are found in
// $FERRY_PSM_STUBS (read with C's getenv, so a C program's setenv counts;
// "off" disables them), else beside the code: <dir of libferry.so>/ferry
// in a C program, ../lib/ferry (the build tree, most prefixes),
// ../lib/<multiarch>/ferry or ../lib64/ferry (an installed package's
// libdir) from the executable.
// libfabric is bound at load (BIND_NOW), so a libfabric that needs a
// symbol a stand-in lacks fails to load over them: the loader then
// unloads them and loads the real libraries (TestPSMStandIns). The cost:
// a library loaded later in the same process that needs the real libpsm2
// gets the stand-in, which is why C programs have FERRY_PSM_STUBS=off.
//
// When Ferry loads libfabric itself (not when another library, such as
// MPI, loaded it first), libfabric's import of fopen is pointed, until its
// first fi_getinfo returns, at a guard that refuses /proc/kallsyms with
// EACCES, as on a system where the file is unreadable, and opens every
// other path as fopen does (kallsyms.c rewrites the GOT slot of that one
// relocation, on amd64 and arm64; elsewhere it changes nothing). verbs then
// assumes neither kind of GPU registration, which Ferry never asks for.
// A fresh `ferry ping` went from 150 to 20-30 ms. $FERRY_LIBFABRIC_KALLSYMS=on
// (C's getenv, as above) turns the guard off, for a program that registers
// GPU memory through the libfabric Ferry loaded.
//
// Constructors that run after the Go runtime has set its signal handlers
// may take them: the real libinfinipath installs handlers that exit with
// status 1 on SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGINT and SIGTERM (linked,
// it ran before the runtime, which then set its own). The loader saves
// every signal's handler before it loads anything and restores them all
// after.
//
// # Cancellation
//
// The context bounds the wait for resources (operation slots, -FI_EAGAIN
// retries while a tcp connection comes up). Once an operation has been
// posted the provider may touch the local buffer until its completion
// arrives, so Wait does not return early on cancellation: it waits for the
// completion (then reports the context error if the context ended first).
// To give up on a peer that never completes, Close the endpoint: after the
// provider's endpoint is closed no memory is touched and every outstanding
// operation fails with ErrClosed.
package verbs
