// C side of the verbs package: a thin layer over libfabric that owns every
// fid and every piece of memory libfabric may keep a pointer to. Go never
// hands a Go pointer to this layer beyond the duration of a call; operation
// contexts are slots in a C array, identified by index on the Go side.
//
// Every function that takes an fvb_ep runs on that endpoint's owner thread
// (the domain is opened FI_THREAD_DOMAIN), except fvb_kick.
#ifndef FERRY_FABRIC_H
#define FERRY_FABRIC_H

#include <stdint.h>
#include <stddef.h>

#define FERRY_ERRLEN 512
#define FERRY_ADDRLEN 256
#define FERRY_MAX_IOV 16
#define FERRY_COMP_MSG 160
#define FERRY_MAX_LANES 16

typedef struct fvb_comp {
	uint64_t slot;
	int64_t err; // 0 on success, positive FI_* errno on failure
	int64_t prov_errno;
	char msg[FERRY_COMP_MSG]; // error completions: fi_cq_strerror
} fvb_comp;

// fvb_post is one fi_writemsg/fi_readmsg: count local segments against one
// contiguous remote range.
typedef struct fvb_post {
	uint64_t slot;
	uint64_t peer;
	uint64_t raddr;
	uint64_t key;
	uint64_t flags;
	uint32_t is_write;
	uint32_t count;
	// deadline_ns: CLOCK_REALTIME ns past which the post is failed, not
	// posted (0: none). Checked right before the post, so a batch that a
	// stopped process resumes in the middle of posts nothing late.
	int64_t deadline_ns;
	uint64_t laddr[FERRY_MAX_IOV];
	uint64_t llen[FERRY_MAX_IOV];
	void *lmr[FERRY_MAX_IOV];
} fvb_post;

typedef struct fvb_ep fvb_ep;

// fvb_load loads libfabric into the process once (load.c). stubdir, when
// not empty, holds stand-ins for libfabric's PSM dependencies that are
// loaded first (verbs/psmstub). Returns 0, or -1 with errbuf set; *stubbed
// gets FVB_STUB_* bits for the stand-ins in use, and note explains a
// stand-in that was not used (empty otherwise).
#define FVB_STUB_PSM2 1
#define FVB_STUB_PSM 2
int fvb_load(const char *stubdir, int *stubbed, char *note, size_t notelen,
	     char *errbuf, size_t errlen);
// fvb_fi_version is fi_version() of the loaded library (0 before
// fvb_load); fabric_internal.h names it fi_version for the C side.
uint32_t fvb_fi_version(void);
// fvb_abi_version is the symbol version fvb_load binds name at.
const char *fvb_abi_version(const char *name);
// fvb_self_object names the file this code was loaded from (libferry.so
// in a C program, the executable otherwise), or "" if unknown.
const char *fvb_self_object(void);

// kallsyms.c: while libfabric initializes, its fopen refuses /proc/kallsyms
// (see there). fvb_guard_kallsyms points lib's fopen at the guard and
// returns the number of slots it changed; fvb_unguard_kallsyms puts them
// back. The rest report for tests: opens refused, whether the guard is on,
// whether every slot holds its original value again.
int fvb_guard_kallsyms(void *lib);
void fvb_unguard_kallsyms(void);
unsigned long fvb_kallsyms_refused(void);
int fvb_kallsyms_guarded(void);
int fvb_fopen_slots_restored(void);

typedef struct fvb_info {
	char prov[64];
	char fabric[128];
	char domain[128];
	uint64_t mr_mode;
	uint64_t max_msg_size;
	uint64_t mr_key_size;
	uint64_t iov_limit;
	uint64_t rma_iov_limit;
	uint64_t tx_size;
	uint64_t mode;
	int delivery_complete;
	int wait_fd; // the CQ has a wait fd the owner blocks on
	int lanes;   // endpoints opened on the domain
	uint32_t version;
	uint32_t threading;
} fvb_info;

// fvb_open opens fabric and domain and, on them, nlanes lanes (an AV, a CQ
// and an FI_EP_RDM endpoint each), plus the eventfd that wakes the owner.
// A provider whose regions bind to one endpoint (FI_MR_ENDPOINT) gets one
// lane. node may be NULL (shm); service (a port) may be NULL (the provider
// picks one). nslots is the number of operation contexts. Returns 0 or a
// negative FI_* code with a message in errbuf.
int fvb_open(const char *prov, const char *node, const char *service,
	     int use_source, int want_dc, uint32_t nslots, int nlanes,
	     fvb_ep **out, char *errbuf, size_t errlen);
void fvb_get_info(fvb_ep *ep, fvb_info *info);
int fvb_getname(fvb_ep *ep, int lane, void *buf, size_t *len);
// fvb_close_endpoint closes only the endpoint (memory regions are closed
// between it and the rest); fvb_close closes everything left and frees ep.
int fvb_close_endpoint(fvb_ep *ep, char *errbuf, size_t errlen);
int fvb_close(fvb_ep *ep, char *errbuf, size_t errlen);
int fvb_straddr(fvb_ep *ep, const void *addr, char *buf, size_t len);
int fvb_kickfd(fvb_ep *ep);

// fvb_av_insert inserts a peer into lane 0's AV (the lane this process's
// own operations use).
int fvb_av_insert(fvb_ep *ep, const void *addr, size_t len, uint64_t *fiaddr,
		  char *errbuf, size_t errlen);
int fvb_av_remove(fvb_ep *ep, uint64_t fiaddr);

// Memory registration. access is a mask of FI_READ/FI_WRITE/FI_REMOTE_*.
int fvb_mr_reg(fvb_ep *ep, uint64_t addr, uint64_t len, uint64_t access,
	       uint64_t requested_key, void **mr_out, uint64_t *key_out,
	       char *errbuf, size_t errlen);
int fvb_mr_close(void *mr);

// fvb_run is one turn of the owner's loop. It posts posts[0..npost) in
// order; a post refused with -FI_EAGAIN is not taken, nor is any later
// post to the same peer (posts to other peers are), and those not taken
// are moved, in order, to the end of posts: *nposted says how many were
// taken, posts[*nposted..npost) are the rest. A post refused with
// another error is taken, reported as an error completion of its slot. Then it reads completions of every lane into
// out. Returns the number of completions or a negative FI_* code with a
// message in errbuf.
// lanes is a mask of the lanes whose completion queues are read (and so
// progressed) this turn. Of those in skippable, a lane whose region lock
// a peer holds while a command waits (fvb_set_lane_lock) is not read: it
// is added to *skipped. It never blocks: the owner blocks in Go
// (owner_cgo.go, ppollReleasingP).
int fvb_run(fvb_ep *ep, fvb_post *posts, int npost, int *nposted,
	    fvb_comp *out, int max, uint32_t lanes, uint32_t skippable,
	    uint32_t *skipped, char *errbuf, size_t errlen);

// fvb_set_lane_lock tells fvb_run where a shm lane's region keeps its
// lock word (free when it reads unlocked) and its signal (set by a peer
// that has queued a command): reading the lane's completion queue takes
// that lock when the signal is set, and a peer holds it for the whole of
// each copy into the region. word and signal stay mapped until the
// endpoint is closed.
void fvb_set_lane_lock(fvb_ep *ep, int lane, const void *word,
		       int32_t unlocked, const void *signal);

// fvb_wait_fds puts the lanes' wait fds in fds (at most max) and returns
// how many, once fi_trywait says blocking on them is safe; -1 when it is
// not (events already queued inside the provider: read the CQs first).
int fvb_wait_fds(fvb_ep *ep, int *fds, int max);

const char *fvb_strerror(int err);
int fvb_cma_available(void);
void fvb_set_drain(fvb_ep *ep, int on);
#endif
