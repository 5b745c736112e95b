// ferry-fi-bw: the C baseline for the Go binding. It drives libfabric
// directly the way bench's "raw fabric" point drives verbs: two FI_EP_RDM
// endpoints of one provider in this process, one registered source and one
// registered destination region, size-byte fi_write (or fi_read) with depth
// operations in flight, cycling through the regions, one thread polling
// both completion queues (the target of RMA must progress too). It asks
// for the same hints as verbs (FI_THREAD_DOMAIN, no ordering; delivery
// completion on writes except on shm, whose CMA copy completes after
// delivery). Prints the rate in GB/s (1e9 bytes/s) on stdout.
//
// usage: ferry-fi-bw PROVIDER write|read SIZE DEPTH BYTES [BUFBYTES]
//
// ferry-fi-bw tcp-pong SIZE is the other process of the TCP ping-pong
// latency baseline: it listens on 127.0.0.1 (an ephemeral port, printed on
// stdout), accepts one connection and answers every 64-byte request with
// SIZE bytes until the peer closes. A client and a server are two
// processes, so the baseline is too: a round trip within one process
// skips the wake-up of a sleeping peer that every real request pays.
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

struct side {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
};

static void die(const char *what, int rc) {
	fprintf(stderr, "ferry-fi-bw: %s: %s (%d)\n", what, fi_strerror(-rc), rc);
	exit(1);
}

static void open_side(struct side *s, const char *prov, int dc) {
	struct fi_info *h = fi_allocinfo();
	h->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->ep_attr->type = FI_EP_RDM;
	h->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
				  FI_MR_PROV_KEY | FI_MR_ENDPOINT;
	h->domain_attr->threading = FI_THREAD_DOMAIN;
	h->tx_attr->msg_order = FI_ORDER_NONE;
	h->rx_attr->msg_order = FI_ORDER_NONE;
	if (dc)
		h->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	h->fabric_attr->prov_name = strdup(prov);
	const char *node = strcmp(prov, "shm") ? "127.0.0.1" : NULL;
	int rc = fi_getinfo(FI_VERSION(1, 17), node, NULL, node ? FI_SOURCE : 0, h, &s->info);
	fi_freeinfo(h);
	if (rc)
		die("fi_getinfo", rc);
	if ((rc = fi_fabric(s->info->fabric_attr, &s->fabric, NULL)))
		die("fi_fabric", rc);
	if ((rc = fi_domain(s->fabric, s->info, &s->domain, NULL)))
		die("fi_domain", rc);
	struct fi_cq_attr ca = {.format = FI_CQ_FORMAT_CONTEXT, .size = 1024};
	if ((rc = fi_cq_open(s->domain, &ca, &s->cq, NULL)))
		die("fi_cq_open", rc);
	struct fi_av_attr aa = {.type = FI_AV_TABLE};
	if ((rc = fi_av_open(s->domain, &aa, &s->av, NULL)))
		die("fi_av_open", rc);
	if ((rc = fi_endpoint(s->domain, s->info, &s->ep, NULL)))
		die("fi_endpoint", rc);
	fi_ep_bind(s->ep, &s->av->fid, 0);
	fi_ep_bind(s->ep, &s->cq->fid, FI_TRANSMIT | FI_RECV);
	if ((rc = fi_enable(s->ep)))
		die("fi_enable", rc);
}

static struct fid_mr *reg(struct side *s, void *p, size_t n, uint64_t acc, uint64_t key) {
	struct fid_mr *mr;
	int rc = fi_mr_reg(s->domain, p, n, acc, 0, key, 0, &mr, NULL);
	if (rc)
		die("fi_mr_reg", rc);
	if (s->info->domain_attr->mr_mode & FI_MR_ENDPOINT) {
		fi_mr_bind(mr, &s->ep->fid, 0);
		fi_mr_enable(mr);
	}
	return mr;
}

static void *map(size_t n) {
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 1, n);
	return p;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int tcp_pong(size_t size) {
	int ln = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (ln < 0 || bind(ln, (struct sockaddr *)&a, sizeof a) || listen(ln, 1) ||
	    getsockname(ln, (struct sockaddr *)&a, &alen)) {
		perror("ferry-fi-bw tcp-pong: listen");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	int c = accept(ln, NULL, NULL);
	if (c < 0) {
		perror("ferry-fi-bw tcp-pong: accept");
		return 1;
	}
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	char req[64];
	char *resp = calloc(1, size);
	for (;;) {
		size_t got = 0;
		while (got < sizeof req) {
			ssize_t n = read(c, req + got, sizeof req - got);
			if (n <= 0)
				return 0; // the client is done
			got += n;
		}
		for (size_t sent = 0; sent < size;) {
			ssize_t n = write(c, resp + sent, size - sent);
			if (n <= 0)
				return 1;
			sent += n;
		}
	}
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "tcp-pong") == 0)
		return tcp_pong(strtoull(argv[2], NULL, 0));
	if (argc < 6) {
		fprintf(stderr, "usage: ferry-fi-bw PROVIDER write|read SIZE DEPTH BYTES [BUFBYTES]\n");
		return 2;
	}
	const char *prov = argv[1];
	int write = strcmp(argv[2], "write") == 0;
	size_t size = strtoull(argv[3], NULL, 0);
	int depth = atoi(argv[4]);
	uint64_t total = strtoull(argv[5], NULL, 0);
	size_t buf = argc > 6 ? strtoull(argv[6], NULL, 0) : 256 << 20;
	if (size == 0 || depth <= 0 || depth > 256 || buf < size)
		return 2;
	int shm = strcmp(prov, "shm") == 0;
	struct side a = {0}, b = {0};
	open_side(&a, prov, !shm && write);
	open_side(&b, prov, 0);
	char name[256];
	size_t nlen = sizeof name;
	fi_getname(&b.ep->fid, name, &nlen);
	fi_addr_t peer;
	if (fi_av_insert(a.av, name, 1, &peer, 0, NULL) != 1)
		die("fi_av_insert", -FI_EINVAL);
	char *src = map(buf), *dst = map(buf);
	struct fid_mr *smr = reg(&a, src, buf, FI_READ | FI_WRITE, 1);
	struct fid_mr *dmr = reg(&b, dst, buf, FI_REMOTE_READ | FI_REMOTE_WRITE, 2);
	uint64_t key = fi_mr_key(dmr);
	int virt = (b.info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0;
	struct fi_context2 *ctx = calloc(depth, sizeof *ctx);
	uint64_t n = total / size * size, posted = 0, done = 0, off = 0;
	int inflight = 0;
	struct fi_cq_entry ce[32];
	double t0 = 0;
	// One warm-up operation brings the connection up.
	for (int warm = 1; warm >= 0; warm--) {
		uint64_t goal = warm ? size : n;
		posted = done = 0;
		if (!warm)
			t0 = now();
		while (done < goal) {
			while (inflight < depth && posted < goal) {
				void *desc = fi_mr_desc(smr);
				uint64_t raddr = (virt ? (uint64_t)(uintptr_t)dst : 0) + off;
				ssize_t rc = write ? fi_write(a.ep, src + off, size, desc, peer, raddr, key, &ctx[0])
						   : fi_read(a.ep, src + off, size, desc, peer, raddr, key, &ctx[0]);
				if (rc == -FI_EAGAIN)
					break;
				if (rc)
					die(write ? "fi_write" : "fi_read", (int)rc);
				posted += size;
				inflight++;
				off += size;
				if (off + size > buf)
					off = 0;
			}
			ssize_t k = fi_cq_read(a.cq, ce, 32);
			if (k > 0) {
				done += (uint64_t)k * size;
				inflight -= (int)k;
			} else if (k != -FI_EAGAIN) {
				struct fi_cq_err_entry ee = {0};
				fi_cq_readerr(a.cq, &ee, 0);
				die("completion", -ee.err);
			}
			fi_cq_read(b.cq, ce, 32); // the target progresses too
		}
	}
	double dt = now() - t0;
	printf("%.3f\n", n / dt / 1e9);
	fi_close(&smr->fid);
	fi_close(&dmr->fid);
	fi_close(&a.ep->fid);
	fi_close(&b.ep->fid);
	fi_close(&a.av->fid);
	fi_close(&b.av->fid);
	fi_close(&a.cq->fid);
	fi_close(&b.cq->fid);
	fi_close(&a.domain->fid);
	fi_close(&b.domain->fid);
	fi_close(&a.fabric->fid);
	fi_close(&b.fabric->fid);
	return 0;
}
