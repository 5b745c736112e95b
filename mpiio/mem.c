/*
 * mem.c - the memory side of an access, and the buffers accesses reuse.
 *
 * The memory of count elements of a datatype at buf is a list of pieces
 * (struct iovec) in stream order: byte i of the stream is byte i of the
 * file side (the view's segments). The list goes to Ferry as it is (list
 * I/O) or, when the pieces are too small or too far apart, through a
 * staging buffer that a cursor fills or empties.
 *
 * Every access needs a few arrays (segments, pieces, staging); each file
 * keeps one set that grows to the largest access and is reused, so an
 * access allocates nothing once the program runs in its stride. A thread
 * that finds the set in use by another takes a temporary one.
 */
#include <stdlib.h>
#include <string.h>

#include "fy_internal.h"

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

int fy_segs_add(fy_scratch *s, int64_t off, int64_t len) {
  if (len <= 0) return 0;
  if (s->nsegs && s->segs[s->nsegs - 1].offset + s->segs[s->nsegs - 1].length == off) {
    s->segs[s->nsegs - 1].length += len;
    return 0;
  }
  if (grow((void **)&s->segs, &s->segs_cap, s->nsegs + 1, sizeof *s->segs)) return -1;
  s->segs[s->nsegs].offset = off;
  s->segs[s->nsegs].length = len;
  s->nsegs++;
  return 0;
}

static int iov_add(fy_scratch *s, char *p, int64_t len) {
  if (len <= 0) return 0;
  uintptr_t a = (uintptr_t)p;
  if (!s->niov || a < s->mem_lo) s->mem_lo = a;
  if (!s->niov || a + (uintptr_t)len > s->mem_hi) s->mem_hi = a + (uintptr_t)len;
  if (s->niov) {
    struct iovec *last = &s->iov[s->niov - 1];
    if ((char *)last->iov_base + last->iov_len == p) {
      last->iov_len += (size_t)len;
      return 0;
    }
  }
  if (grow((void **)&s->iov, &s->iov_cap, s->niov + 1, sizeof *s->iov)) return -1;
  s->iov[s->niov].iov_base = p;
  s->iov[s->niov].iov_len = (size_t)len;
  s->niov++;
  return 0;
}

int fy_mem_pieces(fy_scratch *s, const void *buf, MPI_Count count, MPI_Datatype dt) {
  s->niov = 0;
  fy_runs tmp;
  const fy_runs *rs = fy_type_runs(dt, &tmp);
  if (!rs) return -1;
  MPI_Aint lb, ext;
  MPI_Type_get_extent(dt, &lb, &ext);
  char *base = (char *)buf;
  int rc = 0;
  if (rs->n == 1 && rs->r[0].len == (int64_t)ext) {
    /* every element is one run and they touch: one piece */
    rc = iov_add(s, base + rs->r[0].off, (int64_t)count * ext);
  } else {
    for (MPI_Count j = 0; !rc && j < count; j++)
      for (size_t k = 0; !rc && k < rs->n; k++)
        rc = iov_add(s, base + (int64_t)j * ext + rs->r[k].off, rs->r[k].len);
  }
  if (rs == &tmp) free(tmp.r);
  return rc;
}

char *fy_stage(fy_scratch *s, size_t n) {
  if (grow((void **)&s->stage, &s->stage_cap, n, 1)) return NULL;
  return s->stage;
}

void fy_cursor_copy(fy_cursor *c, char *p, int64_t n, int to_mem) {
  while (n > 0) {
    const struct iovec *v = &c->iov[c->i];
    size_t m = v->iov_len - c->off;
    if ((int64_t)m > n) m = (size_t)n;
    char *q = (char *)v->iov_base + c->off;
    if (to_mem) memcpy(q, p, m);
    else memcpy(p, q, m);
    p += m;
    n -= (int64_t)m;
    c->off += m;
    if (c->off == v->iov_len) {
      c->i++;
      c->off = 0;
    }
  }
}

fy_scratch *fy_scratch_get(fy_file *f) {
  if (pthread_mutex_trylock(&f->scratch_mu) == 0) return &f->scratch;
  fy_scratch *s = calloc(1, sizeof *s);
  if (s) s->temp = 1;
  return s;
}

static void scratch_release(fy_scratch *s) {
  free(s->segs);
  free(s->iov);
  free(s->stage);
  for (int i = 0; i < FY_SCRATCH_BUFS; i++) free(s->buf[i]);
  *s = (fy_scratch){0};
}

/* Scratch buffers above this size are not kept between calls. */
#define FY_SCRATCH_KEEP (64 << 20)

void fy_scratch_put(fy_file *f, fy_scratch *s) {
  if (s->temp) {
    scratch_release(s);
    free(s);
    return;
  }
  if (s->stage_cap > FY_SCRATCH_KEEP) {
    free(s->stage);
    s->stage = NULL;
    s->stage_cap = 0;
  }
  for (int i = 0; i < FY_SCRATCH_BUFS; i++)
    if (s->cap[i] > FY_SCRATCH_KEEP) {
      free(s->buf[i]);
      s->buf[i] = NULL;
      s->cap[i] = 0;
    }
  pthread_mutex_unlock(&f->scratch_mu);
}

void fy_scratch_free(fy_file *f) {
  scratch_release(&f->scratch);
  pthread_mutex_destroy(&f->scratch_mu);
}
