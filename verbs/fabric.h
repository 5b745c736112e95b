// C side of the verbs package: a thin layer over libfabric that owns every
// fid and every piece of memory libfabric may keep a pointer to. Go never
// hands a Go pointer to this layer beyond the duration of a call; operation
// contexts are slots in a C array, identified by index on the Go side.
#ifndef FERRY_FABRIC_H
#define FERRY_FABRIC_H

#include <stdint.h>
#include <stddef.h>

#define FERRY_ERRLEN 512
#define FERRY_ADDRLEN 256
#define FERRY_MAX_IOV 16
#define FERRY_POLL_BATCH 64
#define FERRY_STASH 1024
#define FERRY_STASH_MSG 160

typedef struct fvb_comp {
	uint64_t slot;
	int64_t err;       // 0 on success, positive FI_* errno on failure
	int64_t prov_errno;
} fvb_comp;

typedef struct fvb_ep fvb_ep;

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
	uint32_t version;
} fvb_info;

// fvb_open opens fabric, domain, AV, CQ and an FI_EP_RDM endpoint.
// node may be NULL (shm). domain_name may be NULL. nslots is the number of
// operation contexts (max ops in flight). Returns 0 or a negative FI_* code
// with a message in errbuf.
int fvb_open(const char *prov, const char *node, const char *domain_name,
	       int use_source, int want_dc, uint32_t nslots, fvb_ep **out,
	       char *errbuf, size_t errlen);
void fvb_get_info(fvb_ep *ep, fvb_info *info);
int fvb_getname(fvb_ep *ep, void *buf, size_t *len);
// fvb_close_endpoint closes only the endpoint (memory regions are closed
// between it and the rest); fvb_close closes everything left and frees ep.
int fvb_close_endpoint(fvb_ep *ep, char *errbuf, size_t errlen);
int fvb_close(fvb_ep *ep, char *errbuf, size_t errlen);
int fvb_straddr(fvb_ep *ep, const void *addr, char *buf, size_t len);
void fvb_stop(fvb_ep *ep);

int fvb_av_insert(fvb_ep *ep, const void *addr, size_t len, uint64_t *fiaddr,
		    char *errbuf, size_t errlen);

// Memory registration. access is a mask of FI_READ/FI_WRITE/FI_REMOTE_*.
int fvb_mr_reg(fvb_ep *ep, uint64_t addr, uint64_t len, uint64_t access,
		 uint64_t requested_key, void **mr_out, uint64_t *key_out,
		 char *errbuf, size_t errlen);
int fvb_mr_close(void *mr);

// fvb_rma posts one fi_writemsg (is_write) or fi_readmsg. laddr/llen/lmr
// describe count local segments; the remote side is one contiguous range.
// Returns 0, -FI_EAGAIN or another negative FI_* code. Completions the
// post produced synchronously (drain mode) are returned in out/nout.
int fvb_rma(fvb_ep *ep, int is_write, uint64_t flags, uint64_t peer,
	      const uint64_t *laddr, const uint64_t *llen, void *const *lmr,
	      uint32_t count, uint64_t raddr, uint64_t key, uint64_t slot,
	      fvb_comp *out, int max, int *nout, char *errbuf, size_t errlen);

// fvb_poll drives progress and returns up to max completions in out.
// It polls for at most timeout_ns, sleeping briefly when idle, and returns
// early when fvb_stop was called or when it has an error completion (the
// last entry; its provider message is in errbuf).
int fvb_poll(fvb_ep *ep, fvb_comp *out, int max, int64_t timeout_ns,
	       char *errbuf, size_t errlen);

const char *fvb_strerror(int err);
int fvb_cma_available(void);
void fvb_set_drain(fvb_ep *ep, int on);
uint64_t fvb_unattributed(fvb_ep *ep);
#endif
