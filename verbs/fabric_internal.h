// Private to the C side of verbs: the endpoint struct shared by fabric.c
// and engine.c.
#ifndef FERRY_FABRIC_INTERNAL_H
#define FERRY_FABRIC_INTERNAL_H

#include "fabric.h"

// libfabric is loaded at run time (load.c), not linked: its six exported
// entry points are called through pointers that fvb_load fills. The
// header's declarations are renamed so every call here goes to load.c's
// wrappers (fi_allocinfo, an inline, calls fi_dupinfo).
#define fi_getinfo fvb_fi_getinfo
#define fi_freeinfo fvb_fi_freeinfo
#define fi_dupinfo fvb_fi_dupinfo
#define fi_fabric fvb_fi_fabric
#define fi_strerror fvb_fi_strerror
#define fi_version fvb_fi_version

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

// A lane is one endpoint with its own address vector and completion queue
// on the shared domain: registrations are the domain's, so every lane can
// use them. Several lanes give peers several targets (see Config.Lanes);
// this process's own operations all go out on lane 0, whose AV holds the
// peers it connects to.
struct fvb_lane {
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	int wait_fd; // the CQ's wait fd, or -1
	// shm: the region's lock word and signal (fvb_set_lane_lock), or NULL
	const int32_t *lock_word;
	const int32_t *signal;
	int32_t unlocked;
};

struct fvb_ep {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	int nlanes;
	struct fvb_lane lane[FERRY_MAX_LANES];
	struct fi_context2 *ctx;
	uint32_t nslots;
	int delivery_complete;
	// drain_after_post: the provider completes operations inside the
	// post call and reports their errors without a context (shm's CMA
	// fast path): each post is followed by a CQ read, and a
	// context-less error found there belongs to the post just made.
	int drain_after_post;
	int kick_fd; // eventfd: new work for the owner
};


void fvb_seterr(char *errbuf, size_t errlen, const char *what, int rc);

#endif
