#define _GNU_SOURCE
#include "fabric.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

struct fvb_ep {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	struct fi_context2 *ctx;
	uint32_t nslots;
	int delivery_complete;
	int stop;
	int kick;
	// drain_after_post: the provider completes operations inside the
	// post call and reports their errors without a context (shm's CMA
	// fast path). Posts then drain the CQ under cq_lock into stash, and
	// a context-less error found there belongs to the post just made.
	int drain_after_post;
	pthread_mutex_t cq_lock;
	fvb_comp stash[FERRY_STASH];
	char stash_msg[FERRY_STASH][FERRY_STASH_MSG];
	unsigned stash_head, stash_len;
	uint64_t unattributed;
	unsigned idle; // progress thread only
	int can_wait;  // the CQ has a wait object
};

// The mr_mode bits this binding handles. FI_MR_LOCAL: a descriptor is passed
// for every local buffer. FI_MR_VIRT_ADDR: remote addresses are virtual
// addresses (otherwise offsets). FI_MR_PROV_KEY: keys are read back with
// fi_mr_key. FI_MR_ALLOCATED: only mapped memory is registered.
// FI_MR_ENDPOINT: regions are bound to the endpoint and enabled.
#define FERRY_MR_MODE                                                      \
	(FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | \
	 FI_MR_ENDPOINT)

static const int saved_signals[] = {SIGSEGV, SIGBUS, SIGINT, SIGTERM, SIGPIPE};
#define NSIG_SAVED (sizeof(saved_signals) / sizeof(saved_signals[0]))

static void save_signals(struct sigaction *sa) {
	for (size_t i = 0; i < NSIG_SAVED; i++)
		sigaction(saved_signals[i], NULL, &sa[i]);
}

static void restore_signals(const struct sigaction *sa) {
	for (size_t i = 0; i < NSIG_SAVED; i++)
		sigaction(saved_signals[i], &sa[i], NULL);
}

static void seterr(char *errbuf, size_t errlen, const char *what, int rc) {
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s: %s (%d)", what, fi_strerror(-rc), rc);
}

const char *fvb_strerror(int err) { return fi_strerror(err < 0 ? -err : err); }

static struct fi_info *make_hints(const char *prov, const char *domain_name,
				  int dc) {
	struct fi_info *h = fi_allocinfo();
	if (!h)
		return NULL;
	h->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	// We provide a struct fi_context2 per operation, so we accept the
	// context modes.
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->ep_attr->type = FI_EP_RDM;
	h->domain_attr->mr_mode = FERRY_MR_MODE;
	h->domain_attr->threading = FI_THREAD_SAFE;
	h->domain_attr->control_progress = FI_PROGRESS_UNSPEC;
	h->domain_attr->data_progress = FI_PROGRESS_UNSPEC;
	// No message ordering: lets shm take its CMA fast path.
	h->tx_attr->msg_order = FI_ORDER_NONE;
	h->rx_attr->msg_order = FI_ORDER_NONE;
	if (dc)
		h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	h->fabric_attr->prov_name = strdup(prov);
	if (domain_name && *domain_name)
		h->domain_attr->name = strdup(domain_name);
	return h;
}

static void cleanup(fvb_ep *e) {
	if (e->ep)
		fi_close(&e->ep->fid);
	if (e->av)
		fi_close(&e->av->fid);
	if (e->cq)
		fi_close(&e->cq->fid);
	if (e->domain)
		fi_close(&e->domain->fid);
	if (e->fabric)
		fi_close(&e->fabric->fid);
	if (e->info)
		fi_freeinfo(e->info);
	free(e->ctx);
	pthread_mutex_destroy(&e->cq_lock);
	free(e);
}

int fvb_cma_available(void) {
	char a = 1, b = 0;
	struct iovec l = {&b, 1}, r = {&a, 1};
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1 && b == 1;
}

void fvb_set_drain(fvb_ep *e, int on) { e->drain_after_post = on; }
uint64_t fvb_unattributed(fvb_ep *e) {
	return __atomic_load_n(&e->unattributed, __ATOMIC_RELAXED);
}

int fvb_open(const char *prov, const char *node, const char *domain_name,
	       int use_source, int want_dc, uint32_t nslots, fvb_ep **out,
	       char *errbuf, size_t errlen) {
	struct sigaction sa[NSIG_SAVED];
	int rc;
	fvb_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -FI_ENOMEM;
	e->nslots = nslots;
	pthread_mutex_init(&e->cq_lock, NULL);
	e->ctx = calloc(nslots, sizeof(struct fi_context2));
	if (!e->ctx) {
		free(e);
		return -FI_ENOMEM;
	}
	save_signals(sa);
	uint64_t flags = (node && use_source) ? FI_SOURCE : 0;
	uint32_t version = FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION);

	// First ask for FI_DELIVERY_COMPLETE as a default tx op flag; a
	// provider that cannot give it is opened without (and reported so).
	for (int dc = want_dc ? 1 : 0; dc >= 0; dc--) {
		struct fi_info *hints = make_hints(prov, domain_name, dc);
		if (!hints) {
			rc = -FI_ENOMEM;
			goto fail;
		}
		rc = fi_getinfo(version, node, NULL, flags, hints, &e->info);
		fi_freeinfo(hints);
		if (rc == 0) {
			e->delivery_complete = dc;
			break;
		}
	}
	if (rc) {
		seterr(errbuf, errlen, "fi_getinfo", rc);
		goto fail;
	}
	rc = fi_fabric(e->info->fabric_attr, &e->fabric, NULL);
	if (rc) {
		seterr(errbuf, errlen, "fi_fabric", rc);
		goto fail;
	}
	rc = fi_domain(e->fabric, e->info, &e->domain, NULL);
	if (rc) {
		seterr(errbuf, errlen, "fi_domain", rc);
		goto fail;
	}
	struct fi_cq_attr cq_attr = {0};
	cq_attr.format = FI_CQ_FORMAT_CONTEXT;
	// A wait object lets the idle progress thread block in fi_cq_sread
	// until the provider's fds (sockets) have work, instead of napping.
	cq_attr.wait_obj = FI_WAIT_UNSPEC;
	cq_attr.size = nslots > 1024 ? nslots : 1024;
	rc = fi_cq_open(e->domain, &cq_attr, &e->cq, NULL);
	if (rc == 0) {
		e->can_wait = 1;
	} else {
		cq_attr.wait_obj = FI_WAIT_NONE;
		rc = fi_cq_open(e->domain, &cq_attr, &e->cq, NULL);
	}
	if (rc) {
		seterr(errbuf, errlen, "fi_cq_open", rc);
		goto fail;
	}
	struct fi_av_attr av_attr = {0};
	av_attr.type = e->info->domain_attr->av_type != FI_AV_UNSPEC
			       ? e->info->domain_attr->av_type
			       : FI_AV_TABLE;
	rc = fi_av_open(e->domain, &av_attr, &e->av, NULL);
	if (rc) {
		seterr(errbuf, errlen, "fi_av_open", rc);
		goto fail;
	}
	// shm installs SIGSEGV/SIGBUS/SIGINT/SIGTERM handlers here; the
	// saved Go handlers are restored below.
	rc = fi_endpoint(e->domain, e->info, &e->ep, NULL);
	if (rc) {
		seterr(errbuf, errlen, "fi_endpoint", rc);
		goto fail;
	}
	rc = fi_ep_bind(e->ep, &e->av->fid, 0);
	if (rc) {
		seterr(errbuf, errlen, "fi_ep_bind(av)", rc);
		goto fail;
	}
	rc = fi_ep_bind(e->ep, &e->cq->fid, FI_TRANSMIT | FI_RECV);
	if (rc) {
		seterr(errbuf, errlen, "fi_ep_bind(cq)", rc);
		goto fail;
	}
	rc = fi_enable(e->ep);
	if (rc) {
		seterr(errbuf, errlen, "fi_enable", rc);
		goto fail;
	}
	restore_signals(sa);
	*out = e;
	return 0;
fail:
	cleanup(e);
	restore_signals(sa);
	return rc;
}

void fvb_get_info(fvb_ep *e, fvb_info *i) {
	memset(i, 0, sizeof(*i));
	struct fi_info *fi = e->info;
	if (fi->fabric_attr->prov_name)
		snprintf(i->prov, sizeof(i->prov), "%s", fi->fabric_attr->prov_name);
	if (fi->fabric_attr->name)
		snprintf(i->fabric, sizeof(i->fabric), "%s", fi->fabric_attr->name);
	if (fi->domain_attr->name)
		snprintf(i->domain, sizeof(i->domain), "%s", fi->domain_attr->name);
	i->mr_mode = (uint64_t)fi->domain_attr->mr_mode;
	i->max_msg_size = fi->ep_attr->max_msg_size;
	i->mr_key_size = fi->domain_attr->mr_key_size;
	i->iov_limit = fi->tx_attr->iov_limit;
	i->rma_iov_limit = fi->tx_attr->rma_iov_limit;
	i->tx_size = fi->tx_attr->size;
	i->mode = fi->mode;
	i->delivery_complete = e->delivery_complete;
	i->version = fi_version();
}

int fvb_getname(fvb_ep *e, void *buf, size_t *len) {
	return fi_getname(&e->ep->fid, buf, len);
}

void fvb_stop(fvb_ep *e) { __atomic_store_n(&e->stop, 1, __ATOMIC_SEQ_CST); }

int fvb_close_endpoint(fvb_ep *e, char *errbuf, size_t errlen) {
	int rc = 0;
	if (e->ep) {
		rc = fi_close(&e->ep->fid);
		e->ep = NULL;
		if (rc)
			seterr(errbuf, errlen, "fi_close(endpoint)", rc);
	}
	return rc;
}

int fvb_straddr(fvb_ep *e, const void *addr, char *buf, size_t len) {
	size_t l = len;
	const char *s = fi_av_straddr(e->av, addr, buf, &l);
	return s ? 0 : -1;
}

int fvb_close(fvb_ep *e, char *errbuf, size_t errlen) {
	int first = 0;
	struct fid *fids[] = {e->ep ? &e->ep->fid : NULL,
			      e->av ? &e->av->fid : NULL,
			      e->cq ? &e->cq->fid : NULL,
			      e->domain ? &e->domain->fid : NULL,
			      e->fabric ? &e->fabric->fid : NULL};
	const char *names[] = {"endpoint", "av", "cq", "domain", "fabric"};
	for (int k = 0; k < 5; k++) {
		if (!fids[k])
			continue;
		int rc = fi_close(fids[k]);
		if (rc && !first) {
			first = rc;
			char what[64];
			snprintf(what, sizeof what, "fi_close(%s)", names[k]);
			seterr(errbuf, errlen, what, rc);
		}
	}
	fi_freeinfo(e->info);
	free(e->ctx);
	pthread_mutex_destroy(&e->cq_lock);
	free(e);
	return first;
}

int fvb_av_insert(fvb_ep *e, const void *addr, size_t len, uint64_t *fiaddr,
		    char *errbuf, size_t errlen) {
	(void)len;
	fi_addr_t a = FI_ADDR_UNSPEC;
	int rc = fi_av_insert(e->av, addr, 1, &a, 0, NULL);
	if (rc != 1) {
		if (rc >= 0)
			rc = -FI_EADDRNOTAVAIL;
		seterr(errbuf, errlen, "fi_av_insert", rc);
		return rc;
	}
	*fiaddr = a;
	return 0;
}

int fvb_mr_reg(fvb_ep *e, uint64_t addr, uint64_t len, uint64_t access,
		 uint64_t requested_key, void **mr_out, uint64_t *key_out,
		 char *errbuf, size_t errlen) {
	struct fid_mr *mr = NULL;
	int rc = fi_mr_reg(e->domain, (void *)(uintptr_t)addr, len, access, 0,
			   requested_key, 0, &mr, NULL);
	if (rc) {
		seterr(errbuf, errlen, "fi_mr_reg", rc);
		return rc;
	}
	if (e->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		rc = fi_mr_bind(mr, &e->ep->fid, 0);
		if (rc) {
			seterr(errbuf, errlen, "fi_mr_bind", rc);
			fi_close(&mr->fid);
			return rc;
		}
		rc = fi_mr_enable(mr);
		if (rc) {
			seterr(errbuf, errlen, "fi_mr_enable", rc);
			fi_close(&mr->fid);
			return rc;
		}
	}
	*key_out = fi_mr_key(mr);
	if (*key_out == FI_KEY_NOTAVAIL) {
		seterr(errbuf, errlen, "fi_mr_key (raw keys not supported)",
		       -FI_ENOSYS);
		fi_close(&mr->fid);
		return -FI_ENOSYS;
	}
	*mr_out = mr;
	return 0;
}

int fvb_mr_close(void *mr) { return fi_close(&((struct fid_mr *)mr)->fid); }

static uint64_t slot_of(fvb_ep *e, void *ctx) {
	uintptr_t p = (uintptr_t)ctx, base = (uintptr_t)e->ctx;
	if (p < base || p >= base + e->nslots * sizeof(struct fi_context2))
		return UINT64_MAX;
	return (p - base) / sizeof(struct fi_context2);
}

// read_err reads one error completion into c and its message into msg.
static int read_err(fvb_ep *e, fvb_comp *c, char *msg, size_t len) {
	struct fi_cq_err_entry ee;
	memset(&ee, 0, sizeof ee);
	ssize_t r = fi_cq_readerr(e->cq, &ee, 0);
	if (r <= 0)
		return 0;
	c->slot = slot_of(e, ee.op_context);
	c->err = ee.err ? ee.err : FI_EOTHER;
	c->prov_errno = ee.prov_errno;
	const char *s = fi_cq_strerror(e->cq, ee.prov_errno, ee.err_data, NULL, 0);
	snprintf(msg, len, "%s", s ? s : "");
	return 1;
}

// drain moves every available completion into the stash (cq_lock held);
// a context-less error is attributed to slot, the post just made.
static void drain(fvb_ep *e, uint64_t slot) {
	struct fi_cq_entry buf[16];
	while (e->stash_len < FERRY_STASH - 16) {
		ssize_t n = fi_cq_read(e->cq, buf, 16);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				unsigned k = (e->stash_head + e->stash_len++) % FERRY_STASH;
				e->stash[k].slot = slot_of(e, buf[i].op_context);
				e->stash[k].err = 0;
				e->stash[k].prov_errno = 0;
			}
			continue;
		}
		if (n == -FI_EAVAIL) {
			unsigned k = (e->stash_head + e->stash_len) % FERRY_STASH;
			if (!read_err(e, &e->stash[k], e->stash_msg[k], FERRY_STASH_MSG))
				break;
			if (e->stash[k].slot == UINT64_MAX)
				e->stash[k].slot = slot;
			e->stash_len++;
			continue;
		}
		break;
	}
}

// pop_stash moves up to max stashed completions to out (cq_lock held),
// stopping after an error entry, whose message goes to errbuf.
static int pop_stash(fvb_ep *e, fvb_comp *out, int max, char *errbuf,
		     size_t errlen) {
	int k = 0;
	while (e->stash_len && k < max) {
		unsigned h = e->stash_head;
		out[k] = e->stash[h];
		e->stash_head = (h + 1) % FERRY_STASH;
		e->stash_len--;
		if (out[k++].err) {
			snprintf(errbuf, errlen, "%s", e->stash_msg[h]);
			break;
		}
	}
	return k;
}

int fvb_rma(fvb_ep *e, int is_write, uint64_t flags, uint64_t peer,
	      const uint64_t *laddr, const uint64_t *llen, void *const *lmr,
	      uint32_t count, uint64_t raddr, uint64_t key, uint64_t slot,
	      fvb_comp *out, int max, int *nout, char *errbuf, size_t errlen) {
	struct iovec iov[FERRY_MAX_IOV];
	void *desc[FERRY_MAX_IOV];
	uint64_t total = 0;
	if (count == 0 || count > FERRY_MAX_IOV || slot >= e->nslots)
		return -FI_EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		iov[i].iov_base = (void *)(uintptr_t)laddr[i];
		iov[i].iov_len = llen[i];
		desc[i] = lmr[i] ? fi_mr_desc((struct fid_mr *)lmr[i]) : NULL;
		total += llen[i];
	}
	struct fi_rma_iov riov = {.addr = raddr, .len = total, .key = key};
	struct fi_msg_rma msg = {
		.msg_iov = iov,
		.desc = desc,
		.iov_count = count,
		.addr = peer,
		.rma_iov = &riov,
		.rma_iov_count = 1,
		.context = &e->ctx[slot],
		.data = 0,
	};
	// Wake the progress thread, unless completions come back here.
	if (!e->drain_after_post)
		__atomic_store_n(&e->kick, 1, __ATOMIC_RELAXED);
	ssize_t rc;
	if (e->drain_after_post)
		pthread_mutex_lock(&e->cq_lock);
	if (is_write)
		rc = fi_writemsg(e->ep, &msg, flags | FI_COMPLETION);
	else
		rc = fi_readmsg(e->ep, &msg, flags | FI_COMPLETION);
	*nout = 0;
	if (e->drain_after_post) {
		if (rc == 0) {
			drain(e, slot);
			// The completions are here already: hand them to the
			// caller rather than waiting for the progress thread.
			*nout = pop_stash(e, out, max, errbuf, errlen);
		}
		pthread_mutex_unlock(&e->cq_lock);
	}
	return (int)rc;
}


static int poll_once(fvb_ep *e, fvb_comp *out, int max, int64_t timeout_ns,
		     char *errbuf, size_t errlen) {
	struct fi_cq_entry buf[FERRY_POLL_BATCH];
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (max > FERRY_POLL_BATCH)
		max = FERRY_POLL_BATCH;
	unsigned idle = e->idle; // persists across calls
	// Short sleeps must stay short: drop this thread's timer slack.
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	for (;;) {
		ssize_t n;
		pthread_mutex_lock(&e->cq_lock);
		if (e->stash_len) {
			int k = pop_stash(e, out, max, errbuf, errlen);
			pthread_mutex_unlock(&e->cq_lock);
			return k;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		n = fi_cq_read(e->cq, buf, max);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (n == -FI_EAVAIL) {
			int got = read_err(e, &out[0], errbuf, errlen);
			pthread_mutex_unlock(&e->cq_lock);
			if (got) {
				if (out[0].slot == UINT64_MAX)
					__atomic_add_fetch(&e->unattributed, 1, __ATOMIC_RELAXED);
				return 1;
			}
			continue;
		}
		pthread_mutex_unlock(&e->cq_lock);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				out[i].slot = slot_of(e, buf[i].op_context);
				out[i].err = 0;
				out[i].prov_errno = 0;
			}
			return (int)n;
		}
		if (n != -FI_EAGAIN) {
			snprintf(errbuf, errlen, "fi_cq_read: %s", fi_strerror((int)-n));
			return (int)n;
		}
		if (__atomic_load_n(&e->stop, __ATOMIC_RELAXED))
			return 0;
		// A poll that took a while moved data (the target of RMA
		// sees no completions, but its progress copies bytes): stay
		// awake. So does a new post.
		int64_t took = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
			       (t1.tv_nsec - t0.tv_nsec);
		if (__atomic_exchange_n(&e->kick, 0, __ATOMIC_RELAXED) || took > 15000)
			idle = 0;
		if (idle < 1u << 30)
			idle++;
		if (idle > 64 && e->can_wait && !e->drain_after_post) {
			// Idle: block until the provider has work or 1 ms
			// passes (posts do not take cq_lock in this mode).
			pthread_mutex_lock(&e->cq_lock);
			n = fi_cq_sread(e->cq, buf, max, NULL, 1);
			if (n == -FI_EAVAIL) {
				int got = read_err(e, &out[0], errbuf, errlen);
				pthread_mutex_unlock(&e->cq_lock);
				if (got) {
					if (out[0].slot == UINT64_MAX)
						__atomic_add_fetch(&e->unattributed, 1, __ATOMIC_RELAXED);
					e->idle = 0;
					return 1;
				}
				continue;
			}
			pthread_mutex_unlock(&e->cq_lock);
			if (n > 0) {
				for (ssize_t i = 0; i < n; i++) {
					out[i].slot = slot_of(e, buf[i].op_context);
					out[i].err = 0;
					out[i].prov_errno = 0;
				}
				e->idle = 0;
				return (int)n;
			}
			// Still idle: the next round polls once, then blocks again.
		} else if (idle > 64) {
			// Idle: sleep rather than burn the core, but keep
			// polling, since the target of RMA must progress. The
			// longer the quiet, the longer the nap (20 us for ~5 ms,
			// 200 us for ~200 ms, then 1 ms); activity (a post, a
			// completion, a slow poll) resets it.
			long ns = idle < 64 + 250 ? 20000 : idle < 64 + 1250 ? 200000 : 1000000;
			struct timespec ts = {0, ns};
			nanosleep(&ts, NULL);
		}
		if ((idle & 15) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			int64_t el = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000LL +
				     (now.tv_nsec - start.tv_nsec);
			if (el >= timeout_ns) {
				e->idle = idle;
				return 0;
			}
		}
	}
}

int fvb_poll(fvb_ep *e, fvb_comp *out, int max, int64_t timeout_ns,
	       char *errbuf, size_t errlen) {
	int n = poll_once(e, out, max, timeout_ns, errbuf, errlen);
	if (n != 0)
		e->idle = 0; // completions: stay awake
	return n;
}
