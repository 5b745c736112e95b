// Opening, closing and registration: everything about libfabric objects
// except moving bytes (engine.c).
#define _GNU_SOURCE
#include "fabric_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

// The mr_mode bits this binding handles. FI_MR_LOCAL: a descriptor is passed
// for every local buffer. FI_MR_VIRT_ADDR: remote addresses are virtual
// addresses (otherwise offsets). FI_MR_PROV_KEY: keys are read back with
// fi_mr_key. FI_MR_ALLOCATED: only mapped memory is registered.
// FI_MR_ENDPOINT: regions are bound to the endpoint and enabled.
#define FERRY_MR_MODE                                                      \
	(FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | \
	 FI_MR_ENDPOINT)

// shm's fi_endpoint installs handlers for these over the Go runtime's.
static const int saved_signals[] = {SIGSEGV, SIGBUS, SIGINT, SIGTERM, SIGPIPE};
#define NSIG_SAVED (sizeof(saved_signals) / sizeof(saved_signals[0]))

// Opens run one at a time: two saving and restoring the process's signal
// handlers side by side could each restore what the other's provider had
// installed.
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;

static void save_signals(struct sigaction *sa) {
	for (size_t i = 0; i < NSIG_SAVED; i++)
		sigaction(saved_signals[i], NULL, &sa[i]);
}

static void restore_signals(const struct sigaction *sa) {
	for (size_t i = 0; i < NSIG_SAVED; i++)
		sigaction(saved_signals[i], &sa[i], NULL);
}

void fvb_seterr(char *errbuf, size_t errlen, const char *what, int rc) {
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s: %s (%d)", what, fi_strerror(-rc), rc);
}

const char *fvb_strerror(int err) { return fi_strerror(err < 0 ? -err : err); }

static struct fi_info *make_hints(const char *prov, int dc) {
	struct fi_info *h = fi_allocinfo();
	if (!h)
		return NULL;
	h->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	// We provide a struct fi_context2 per operation.
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->ep_attr->type = FI_EP_RDM;
	h->domain_attr->mr_mode = FERRY_MR_MODE;
	// One thread (the owner) makes every call on the domain's objects, so
	// the provider needs no locks of its own on the data path.
	h->domain_attr->threading = FI_THREAD_DOMAIN;
	h->domain_attr->control_progress = FI_PROGRESS_UNSPEC;
	h->domain_attr->data_progress = FI_PROGRESS_UNSPEC;
	// No message ordering: lets shm take its CMA fast path.
	h->tx_attr->msg_order = FI_ORDER_NONE;
	h->rx_attr->msg_order = FI_ORDER_NONE;
	if (dc)
		h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	h->fabric_attr->prov_name = strdup(prov);
	return h;
}

static void cleanup(fvb_ep *e) {
	for (int l = 0; l < FERRY_MAX_LANES; l++) {
		struct fvb_lane *ln = &e->lane[l];
		if (ln->ep)
			fi_close(&ln->ep->fid);
		if (ln->av)
			fi_close(&ln->av->fid);
		if (ln->cq)
			fi_close(&ln->cq->fid);
	}
	if (e->domain)
		fi_close(&e->domain->fid);
	if (e->fabric)
		fi_close(&e->fabric->fid);
	if (e->info)
		fi_freeinfo(e->info);
	if (e->kick_fd >= 0)
		close(e->kick_fd);
	free(e->ctx);
	free(e);
}

int fvb_cma_available(void) {
	char a = 1, b = 0;
	struct iovec l = {&b, 1}, r = {&a, 1};
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1 && b == 1;
}

void fvb_set_drain(fvb_ep *e, int on) { e->drain_after_post = on; }

int fvb_kickfd(fvb_ep *e) { return e->kick_fd; }

static int open_cq(fvb_ep *e, struct fvb_lane *ln, uint32_t nslots) {
	struct fi_cq_attr attr = {0};
	attr.format = FI_CQ_FORMAT_CONTEXT;
	attr.size = nslots > 1024 ? nslots : 1024;
	// A wait fd lets the idle owner block in poll(2) together with its
	// kick eventfd until the provider has work.
	attr.wait_obj = FI_WAIT_FD;
	if (fi_cq_open(e->domain, &attr, &ln->cq, NULL) == 0) {
		int fd = -1;
		if (fi_control(&ln->cq->fid, FI_GETWAIT, &fd) == 0 && fd >= 0) {
			ln->wait_fd = fd;
			return 0;
		}
		fi_close(&ln->cq->fid);
		ln->cq = NULL;
	}
	attr.wait_obj = FI_WAIT_NONE;
	return fi_cq_open(e->domain, &attr, &ln->cq, NULL);
}

// open_lane opens one lane's CQ, AV and endpoint and enables it.
static int open_lane(fvb_ep *e, struct fvb_lane *ln, uint32_t nslots,
		     char *errbuf, size_t errlen) {
	int rc = open_cq(e, ln, nslots);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_cq_open", rc);
		return rc;
	}
	struct fi_av_attr av_attr = {0};
	av_attr.type = e->info->domain_attr->av_type != FI_AV_UNSPEC
			       ? e->info->domain_attr->av_type
			       : FI_AV_TABLE;
	rc = fi_av_open(e->domain, &av_attr, &ln->av, NULL);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_av_open", rc);
		return rc;
	}
	// shm installs SIGSEGV/SIGBUS/SIGINT/SIGTERM handlers here; the
	// caller restores the saved Go handlers.
	rc = fi_endpoint(e->domain, e->info, &ln->ep, NULL);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_endpoint", rc);
		return rc;
	}
	rc = fi_ep_bind(ln->ep, &ln->av->fid, 0);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_ep_bind(av)", rc);
		return rc;
	}
	rc = fi_ep_bind(ln->ep, &ln->cq->fid, FI_TRANSMIT | FI_RECV);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_ep_bind(cq)", rc);
		return rc;
	}
	rc = fi_enable(ln->ep);
	if (rc)
		fvb_seterr(errbuf, errlen, "fi_enable", rc);
	return rc;
}

static int open_locked(const char *prov, const char *node,
		       const char *service, int use_source, int want_dc,
		       uint32_t nslots, int nlanes, fvb_ep **out, char *errbuf,
		       size_t errlen);

int fvb_open(const char *prov, const char *node, const char *service,
	     int use_source, int want_dc, uint32_t nslots, int nlanes,
	     fvb_ep **out, char *errbuf, size_t errlen) {
	pthread_mutex_lock(&open_mu);
	int rc = open_locked(prov, node, service, use_source, want_dc, nslots,
			     nlanes,
			     out, errbuf, errlen);
	pthread_mutex_unlock(&open_mu);
	return rc;
}

static int open_locked(const char *prov, const char *node,
		       const char *service, int use_source, int want_dc,
		       uint32_t nslots, int nlanes, fvb_ep **out, char *errbuf,
		       size_t errlen) {
	struct sigaction sa[NSIG_SAVED];
	int rc;
	fvb_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -FI_ENOMEM;
	e->nslots = nslots;
	for (int l = 0; l < FERRY_MAX_LANES; l++)
		e->lane[l].wait_fd = -1;
	e->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->ctx = calloc(nslots, sizeof(struct fi_context2));
	if (!e->ctx || e->kick_fd < 0) {
		if (e->kick_fd >= 0)
			close(e->kick_fd);
		free(e->ctx);
		free(e);
		return -FI_ENOMEM;
	}
	save_signals(sa);
	uint64_t flags = (node && use_source) ? FI_SOURCE : 0;
	uint32_t version = FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION);

	// First ask for FI_DELIVERY_COMPLETE as a default tx op flag; a
	// provider that cannot give it is opened without (and reported so).
	for (int dc = want_dc ? 1 : 0; dc >= 0; dc--) {
		struct fi_info *hints = make_hints(prov, dc);
		if (!hints) {
			rc = -FI_ENOMEM;
			goto fail;
		}
		rc = fi_getinfo(version, node, service, flags, hints, &e->info);
		fi_freeinfo(hints);
		if (rc == 0) {
			e->delivery_complete = dc;
			break;
		}
	}
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_getinfo", rc);
		goto fail;
	}
	rc = fi_fabric(e->info->fabric_attr, &e->fabric, NULL);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_fabric", rc);
		goto fail;
	}
	rc = fi_domain(e->fabric, e->info, &e->domain, NULL);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_domain", rc);
		goto fail;
	}
	// Regions bound to one endpoint cannot serve several lanes.
	if (nlanes < 1 || (e->info->domain_attr->mr_mode & FI_MR_ENDPOINT))
		nlanes = 1;
	if (nlanes > FERRY_MAX_LANES)
		nlanes = FERRY_MAX_LANES;
	for (int l = 0; l < nlanes; l++) {
		rc = open_lane(e, &e->lane[l], nslots, errbuf, errlen);
		if (rc)
			goto fail;
		e->nlanes = l + 1;
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
	i->wait_fd = e->lane[0].wait_fd >= 0;
	i->lanes = e->nlanes;
	i->version = fi_version();
	i->threading = fi->domain_attr->threading;
}

int fvb_getname(fvb_ep *e, int lane, void *buf, size_t *len) {
	if (lane < 0 || lane >= e->nlanes)
		return -FI_EINVAL;
	return fi_getname(&e->lane[lane].ep->fid, buf, len);
}

int fvb_close_endpoint(fvb_ep *e, char *errbuf, size_t errlen) {
	int first = 0;
	for (int l = 0; l < e->nlanes; l++) {
		struct fvb_lane *ln = &e->lane[l];
		if (!ln->ep)
			continue;
		int rc = fi_close(&ln->ep->fid);
		ln->ep = NULL;
		if (rc && !first) {
			first = rc;
			fvb_seterr(errbuf, errlen, "fi_close(endpoint)", rc);
		}
	}
	return first;
}

int fvb_straddr(fvb_ep *e, const void *addr, char *buf, size_t len) {
	size_t l = len;
	const char *s = fi_av_straddr(e->lane[0].av, addr, buf, &l);
	return s ? 0 : -1;
}

int fvb_close(fvb_ep *e, char *errbuf, size_t errlen) {
	int first = 0;
	const char *names[] = {"endpoint", "av", "cq", "domain", "fabric"};
	for (int l = 0; l <= e->nlanes; l++) {
		// Every lane's endpoint, AV and CQ, then (l == nlanes) the
		// domain and fabric they were opened on.
		struct fid *fids[5] = {0};
		if (l < e->nlanes) {
			struct fvb_lane *ln = &e->lane[l];
			fids[0] = ln->ep ? &ln->ep->fid : NULL;
			fids[1] = ln->av ? &ln->av->fid : NULL;
			fids[2] = ln->cq ? &ln->cq->fid : NULL;
		} else {
			fids[3] = e->domain ? &e->domain->fid : NULL;
			fids[4] = e->fabric ? &e->fabric->fid : NULL;
		}
		for (int k = 0; k < 5; k++) {
			if (!fids[k])
				continue;
			int rc = fi_close(fids[k]);
			if (rc && !first) {
				first = rc;
				char what[64];
				snprintf(what, sizeof what, "fi_close(%s)", names[k]);
				fvb_seterr(errbuf, errlen, what, rc);
			}
		}
	}
	fi_freeinfo(e->info);
	close(e->kick_fd);
	free(e->ctx);
	free(e);
	return first;
}

int fvb_av_insert(fvb_ep *e, const void *addr, size_t len, uint64_t *fiaddr,
		  char *errbuf, size_t errlen) {
	(void)len;
	fi_addr_t a = FI_ADDR_UNSPEC;
	int rc = fi_av_insert(e->lane[0].av, addr, 1, &a, 0, NULL);
	if (rc != 1) {
		if (rc >= 0)
			rc = -FI_EADDRNOTAVAIL;
		fvb_seterr(errbuf, errlen, "fi_av_insert", rc);
		return rc;
	}
	*fiaddr = a;
	return 0;
}

int fvb_av_remove(fvb_ep *e, uint64_t fiaddr) {
	fi_addr_t a = fiaddr;
	return fi_av_remove(e->lane[0].av, &a, 1, 0);
}

int fvb_mr_reg(fvb_ep *e, uint64_t addr, uint64_t len, uint64_t access,
	       uint64_t requested_key, void **mr_out, uint64_t *key_out,
	       char *errbuf, size_t errlen) {
	struct fid_mr *mr = NULL;
	int rc = fi_mr_reg(e->domain, (void *)(uintptr_t)addr, len, access, 0,
			   requested_key, 0, &mr, NULL);
	if (rc) {
		fvb_seterr(errbuf, errlen, "fi_mr_reg", rc);
		return rc;
	}
	if (e->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		rc = fi_mr_bind(mr, &e->lane[0].ep->fid, 0);
		if (rc) {
			fvb_seterr(errbuf, errlen, "fi_mr_bind", rc);
			fi_close(&mr->fid);
			return rc;
		}
		rc = fi_mr_enable(mr);
		if (rc) {
			fvb_seterr(errbuf, errlen, "fi_mr_enable", rc);
			fi_close(&mr->fid);
			return rc;
		}
	}
	*key_out = fi_mr_key(mr);
	if (*key_out == FI_KEY_NOTAVAIL) {
		fvb_seterr(errbuf, errlen, "fi_mr_key (raw keys not supported)",
			   -FI_ENOSYS);
		fi_close(&mr->fid);
		return -FI_ENOSYS;
	}
	*mr_out = mr;
	return 0;
}

int fvb_mr_close(void *mr) { return fi_close(&((struct fid_mr *)mr)->fid); }
