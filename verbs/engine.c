// The owner's turn: post what goroutines queued and reap completions; the
// owner blocks in Go (owner_cgo.go). Only the endpoint's owner thread runs
// this, so nothing here takes a lock.
#define _GNU_SOURCE
#include "fabric_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NO_SLOT UINT64_MAX

static uint64_t slot_of(fvb_ep *e, void *ctx) {
	uintptr_t p = (uintptr_t)ctx, base = (uintptr_t)e->ctx;
	if (p < base || p >= base + e->nslots * sizeof(struct fi_context2))
		return NO_SLOT;
	return (p - base) / sizeof(struct fi_context2);
}

// read_err reads one error completion of a CQ into c.
static int read_err(fvb_ep *e, struct fid_cq *cq, fvb_comp *c) {
	struct fi_cq_err_entry ee;
	memset(&ee, 0, sizeof ee);
	ssize_t r = fi_cq_readerr(cq, &ee, 0);
	if (r <= 0)
		return 0;
	c->slot = slot_of(e, ee.op_context);
	c->err = ee.err ? ee.err : FI_EOTHER;
	c->prov_errno = ee.prov_errno;
	const char *s = fi_cq_strerror(cq, ee.prov_errno, ee.err_data, NULL, 0);
	snprintf(c->msg, sizeof c->msg, "%s", s ? s : "");
	return 1;
}

// reap_cq appends up to max completions of one CQ to out. A context-less
// error is attributed to ctxless (the post just made on this lane in drain
// mode), else dropped. Returns the count, or a negative FI_* code when the
// CQ itself fails.
static int reap_cq(fvb_ep *e, struct fid_cq *cq, fvb_comp *out, int max,
		   uint64_t ctxless) {
	struct fi_cq_entry buf[32];
	int k = 0;
	while (k < max) {
		int want = max - k < 32 ? max - k : 32;
		ssize_t n = fi_cq_read(cq, buf, want);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				out[k].slot = slot_of(e, buf[i].op_context);
				out[k].err = 0;
				out[k].prov_errno = 0;
				out[k].msg[0] = 0;
				k++;
			}
			continue;
		}
		if (n == -FI_EAVAIL) {
			if (!read_err(e, cq, &out[k]))
				break;
			if (out[k].slot == NO_SLOT)
				out[k].slot = ctxless;
			if (out[k].slot != NO_SLOT)
				k++;
			continue;
		}
		if (n == -FI_EAGAIN)
			break;
		return (int)n;
	}
	return k;
}

void fvb_set_lane_lock(fvb_ep *e, int lane, const void *word,
		       int32_t unlocked, const void *signal) {
	if (lane < 0 || lane >= e->nlanes)
		return;
	e->lane[lane].lock_word = word;
	e->lane[lane].signal = signal;
	e->lane[lane].unlocked = unlocked;
}

// held says whether reading lane l now would wait on its region lock:
// shm's progress takes it when the signal is set, and a peer holds it
// while it copies into us. Looked at just before the read, so the window
// in which a peer can take the lock first is a few instructions.
static int held(const struct fvb_lane *l) {
	return l->lock_word &&
	       __atomic_load_n(l->signal, __ATOMIC_ACQUIRE) != 0 &&
	       __atomic_load_n(l->lock_word, __ATOMIC_ACQUIRE) != l->unlocked;
}

// reap reads the completions of the lanes in mask, except those of
// skippable that a peer's copy holds (added to *skipped).
static int reap(fvb_ep *e, fvb_comp *out, int max, uint32_t mask,
		uint32_t skippable, uint32_t *skipped) {
	int k = 0;
	for (int l = 0; l < e->nlanes && k < max; l++) {
		if (!(mask & (1u << l)))
			continue;
		if ((skippable & (1u << l)) && held(&e->lane[l])) {
			*skipped |= 1u << l;
			continue;
		}
		int n = reap_cq(e, e->lane[l].cq, out + k, max - k, NO_SLOT);
		if (n < 0)
			return n;
		k += n;
	}
	return k;
}

static int post_one(fvb_ep *e, const fvb_post *p) {
	struct iovec iov[FERRY_MAX_IOV];
	void *desc[FERRY_MAX_IOV];
	uint64_t total = 0;
	if (p->count == 0 || p->count > FERRY_MAX_IOV || p->slot >= e->nslots)
		return -FI_EINVAL;
	for (uint32_t i = 0; i < p->count; i++) {
		iov[i].iov_base = (void *)(uintptr_t)p->laddr[i];
		iov[i].iov_len = p->llen[i];
		desc[i] = p->lmr[i] ? fi_mr_desc((struct fid_mr *)p->lmr[i]) : NULL;
		total += p->llen[i];
	}
	struct fi_rma_iov riov = {.addr = p->raddr, .len = total, .key = p->key};
	struct fi_msg_rma msg = {
		.msg_iov = iov,
		.desc = desc,
		.iov_count = p->count,
		.addr = p->peer,
		.rma_iov = &riov,
		.rma_iov_count = 1,
		.context = &e->ctx[p->slot],
		.data = 0,
	};
	struct fid_ep *ep = e->lane[0].ep; // our own operations use lane 0
	if (p->is_write)
		return (int)fi_writemsg(ep, &msg, p->flags | FI_COMPLETION);
	return (int)fi_readmsg(ep, &msg, p->flags | FI_COMPLETION);
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int fvb_run(fvb_ep *e, fvb_post *posts, int npost, int *nposted,
	    fvb_comp *out, int max, uint32_t lanes, uint32_t skippable,
	    uint32_t *skipped, char *errbuf, size_t errlen) {
	*skipped = 0;
	// A post refused with -FI_EAGAIN (shm: a peer that has not yet
	// progressed our first contact; a full queue) defers every later post
	// to its peer, keeping each peer's posts in order, but not the posts
	// to other peers: one client slow to answer a first contact must not
	// hold up the transfers of all the others. Deferred posts are moved,
	// in order, to the end of posts.
	uint64_t blocked[64];
	int nblocked = 0, ndefer = 0, k = 0;
	for (int i = 0; i < npost; i++) {
		int defer = nblocked == (int)(sizeof blocked / sizeof blocked[0]);
		for (int b = 0; b < nblocked && !defer; b++)
			defer = blocked[b] == posts[i].peer;
		// Leave room for this post's completions in drain mode.
		if (!defer && e->drain_after_post && max - k < 2)
			defer = 1;
		int rc = 0;
		if (!defer) {
			rc = (posts[i].deadline_ns && now_ns() >= posts[i].deadline_ns)
				 ? -FI_ETIMEDOUT
				 : post_one(e, &posts[i]);
			if (rc == -FI_EAGAIN) {
				blocked[nblocked++] = posts[i].peer;
				defer = 1;
			} else if (rc != 0 && k == max) {
				defer = 1; // report it next turn
			}
		}
		if (defer) {
			if (ndefer != i)
				posts[ndefer] = posts[i];
			ndefer++;
			continue;
		}
		if (rc != 0) {
			out[k].slot = posts[i].slot;
			out[k].err = -rc;
			out[k].prov_errno = 0;
			snprintf(out[k].msg, sizeof out[k].msg, "post: %s",
				 fi_strerror(-rc));
			k++;
			continue;
		}
		if (e->drain_after_post) {
			int n = reap_cq(e, e->lane[0].cq, out + k, max - k,
					posts[i].slot);
			if (n < 0) {
				// Posts not yet looked at count as deferred.
				for (int j = i + 1; j < npost; j++)
					posts[ndefer++] = posts[j];
				memmove(posts + npost - ndefer, posts,
					ndefer * sizeof posts[0]);
				*nposted = npost - ndefer;
				fvb_seterr(errbuf, errlen, "fi_cq_read", n);
				return n;
			}
			k += n;
		}
	}
	if (ndefer > 0 && ndefer < npost)
		memmove(posts + npost - ndefer, posts, ndefer * sizeof posts[0]);
	*nposted = npost - ndefer;
	int n = reap(e, out + k, max - k, lanes, skippable, skipped);
	if (n < 0) {
		fvb_seterr(errbuf, errlen, "fi_cq_read", n);
		return n;
	}
	k += n;
	return k;
}

int fvb_wait_fds(fvb_ep *e, int *fds, int max) {
	struct fid *fids[FERRY_MAX_LANES];
	int nf = 0;
	for (int l = 0; l < e->nlanes && nf < max; l++) {
		if (e->lane[l].wait_fd < 0)
			continue;
		fids[nf] = &e->lane[l].cq->fid;
		fds[nf++] = e->lane[l].wait_fd;
	}
	if (nf > 0 && fi_trywait(e->fabric, fids, nf) != FI_SUCCESS)
		return -1;
	return nf;
}
