/*
 * coll.c - collective buffering (two-phase I/O) for the collective
 * accesses (_all, _at_all, ordered, split and nonblocking collectives).
 *
 * A few ranks, the aggregators (hints.c picks them: cb_nodes of them,
 * spread over the nodes), do the file I/O for everyone. The file is cut
 * into its strips and strip k belongs to aggregator k mod naggr, as
 * ROMIO's Lustre driver deals stripes to aggregators: with one
 * aggregator per server (the default) each aggregator talks to one
 * server only, in large requests. The accessed range is covered in
 * rounds of naggr x cb_buffer_size bytes (whole strips); a round no rank
 * has data in is skipped.
 *
 * A round: every rank cuts its pieces of the round at strip boundaries
 * and tells each aggregator which it wants (MPI_Alltoall of counts,
 * MPI_Alltoallv of (offset, length) pairs).
 *   write: the bytes follow (MPI_Alltoallv); each aggregator writes all
 *     it received with one list call, straight from its receive buffer
 *     (no collect buffer to fill: list I/O takes the pieces as they came).
 *   read: each aggregator reads the union of the pieces asked of it with
 *     one list call into its staging buffer and sends every rank its
 *     pieces back (MPI_Alltoallv); ranks copy them into their memory.
 * One MPI_Allreduce per round picks the next round and carries errors
 * and, for reads, the first requested byte past the end of the file.
 * Every one of these collectives is waited for with fy_wait (wait.c),
 * which leaves the CPU to the ranks and servers still working.
 *
 * Without collective buffering (hint disabled, or automatic and the
 * ranks' accesses do not interleave), each rank makes its own list call.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fy_internal.h"

/* Scratch buffers of a collective access (indices into fy_scratch.buf). */
enum { B_RANGES, B_PIECES, B_COUNTS, B_INTS, B_POS, B_DESC_OUT, B_DESC_IN, B_DATA_OUT, B_DATA_IN, B_ENTRIES, B_SEGS, B_IOV };

typedef struct {
  int64_t off, len;
  int agg;
} piece;

/* entry: a piece an aggregator received: where in the file, where its
 * bytes are (writes) or which rank asked and in what order (reads). */
typedef struct {
  int64_t off, len;
  char *p;
  int64_t seq;
} entry;

/* buf: scratch buffer i, at least n bytes. Running out of memory in the
 * middle of a collective leaves no way to finish it on every rank, so it
 * aborts, as ROMIO does. */
static void *buf(fy_file *f, fy_scratch *s, int i, size_t n) {
  if (n > s->cap[i]) {
    size_t c = s->cap[i] ? s->cap[i] : 256;
    while (c < n) c *= 2;
    void *q = realloc(s->buf[i], c);
    if (!q) {
      fy_fail(f, MPI_ERR_NO_MEM, "collective buffering", NULL, "out of memory");
      MPI_Abort(f->comm, MPI_ERR_NO_MEM);
    }
    s->buf[i] = q;
    s->cap[i] = c;
  }
  return s->buf[i];
}

static int by_offset(const void *a, const void *b) {
  const entry *x = a, *y = b;
  if (x->off != y->off) return x->off < y->off ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_lo(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* use_two_phase decides, the same on every rank, from every rank's range. */
static int use_two_phase(fy_file *f, fy_scratch *s, int wr, int64_t *gmin, int64_t *gmax) {
  int mode = wr ? f->h.cb_write : f->h.cb_read;
  /* atomic mode: an aggregator's write mixes ranks' pieces, so each
   * rank's access goes alone, under the file's lock (file.c) */
  if (mode == FY_HINT_DISABLE || f->h.naggr < 1 || f->atomic) return 0;
  int64_t mine[2] = {INT64_MAX, INT64_MIN};
  if (s->nsegs) {
    mine[0] = s->segs[0].offset;
    for (size_t i = 0; i < s->nsegs; i++) {
      if (s->segs[i].offset < mine[0]) mine[0] = s->segs[i].offset;
      if (s->segs[i].offset + s->segs[i].length > mine[1]) mine[1] = s->segs[i].offset + s->segs[i].length;
    }
  }
  int64_t *all = buf(f, s, B_RANGES, sizeof(int64_t) * 2 * (size_t)f->nprocs);
  fy_allgather(mine, 2, MPI_INT64_T, all, f->comm);
  *gmin = INT64_MAX;
  *gmax = INT64_MIN;
  int n = 0;
  for (int r = 0; r < f->nprocs; r++) {
    if (all[2 * r] == INT64_MAX) continue; /* no data */
    if (all[2 * r] < *gmin) *gmin = all[2 * r];
    if (all[2 * r + 1] > *gmax) *gmax = all[2 * r + 1];
    all[2 * n] = all[2 * r];
    all[2 * n + 1] = all[2 * r + 1];
    n++;
  }
  if (!n) return 0;
  if (mode == FY_HINT_ENABLE) return 1;
  /* automatic: when the ranks' ranges interleave (ROMIO's rule) */
  qsort(all, (size_t)n, 2 * sizeof(int64_t), by_lo);
  int64_t reach = all[1];
  for (int i = 1; i < n; i++) {
    if (all[2 * i] < reach) return 1;
    if (all[2 * i + 1] > reach) reach = all[2 * i + 1];
  }
  return 0;
}

/* aggr_write: an aggregator writes the pieces it received in one list
 * call, straight from the receive buffer. Returns 0 or a negative errno. */
static int64_t aggr_write(fy_file *f, fy_scratch *s, const int64_t *desc, const int64_t *counts, char *data) {
  size_t n = 0;
  for (int r = 0; r < f->nprocs; r++) n += (size_t)counts[2 * r];
  if (!n) return 0;
  entry *e = buf(f, s, B_ENTRIES, n * sizeof *e);
  size_t k = 0;
  for (int r = 0; r < f->nprocs; r++)
    for (int64_t i = 0; i < counts[2 * r]; i++, k++) {
      e[k].off = desc[2 * k];
      e[k].len = desc[2 * k + 1];
      e[k].p = data;
      e[k].seq = (int64_t)k;
      data += e[k].len;
    }
  qsort(e, n, sizeof *e, by_offset);
  struct ferry_segment *segs = buf(f, s, B_SEGS, n * sizeof *segs);
  struct iovec *iov = buf(f, s, B_IOV, n * sizeof *iov);
  size_t m = 0;
  int64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    total += e[i].len;
    if (m && segs[m - 1].offset + segs[m - 1].length == e[i].off &&
        (char *)iov[m - 1].iov_base + iov[m - 1].iov_len == e[i].p) {
      segs[m - 1].length += e[i].len;
      iov[m - 1].iov_len += (size_t)e[i].len;
      continue;
    }
    segs[m] = (struct ferry_segment){e[i].off, e[i].len};
    iov[m] = (struct iovec){e[i].p, (size_t)e[i].len};
    m++;
  }
  if (m > INT_MAX) return -EINVAL;
  if (f->h.ds_write == FY_HINT_ENABLE) fy_lock_shared(f);
  ssize_t w = ferry_pwritev(f->fd, iov, (int)m, segs, (int)m);
  if (f->h.ds_write == FY_HINT_ENABLE) fy_unlock_shared(f);
  if (w < 0) return w;
  return w == total ? 0 : -EIO;
}

/* aggr_read: an aggregator reads the union of the pieces asked of it and
 * fills the reply to every rank, in the order each asked. *eof becomes
 * the first asked byte at or past the end of the file, if one was. */
static int64_t aggr_read(fy_file *f, fy_scratch *s, const int64_t *desc, const int64_t *counts, char *reply,
                         int64_t *eof) {
  size_t n = 0;
  for (int r = 0; r < f->nprocs; r++) n += (size_t)counts[2 * r];
  if (!n) return 0;
  entry *e = buf(f, s, B_ENTRIES, n * sizeof *e);
  struct ferry_segment *u = buf(f, s, B_SEGS, n * sizeof *u);
  int64_t *pre = buf(f, s, B_IOV, (n + 1) * sizeof *pre);
  for (size_t k = 0; k < n; k++) {
    e[k].off = desc[2 * k];
    e[k].len = desc[2 * k + 1];
    e[k].seq = (int64_t)k;
  }
  qsort(e, n, sizeof *e, by_offset);
  /* the union: overlapping and touching pieces merged */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (m && e[i].off <= u[m - 1].offset + u[m - 1].length) {
      int64_t end = e[i].off + e[i].len;
      if (end > u[m - 1].offset + u[m - 1].length) u[m - 1].length = end - u[m - 1].offset;
      continue;
    }
    u[m++] = (struct ferry_segment){e[i].off, e[i].len};
  }
  int64_t total = 0;
  for (size_t i = 0; i < m; i++) {
    pre[i] = total;
    total += u[i].length;
  }
  pre[m] = total;
  char *got = fy_stage(s, (size_t)total);
  if (!got) return -ENOMEM;
  if (m > INT_MAX) return -EINVAL;
  struct iovec one = {got, (size_t)total};
  ssize_t r = ferry_preadv(f->fd, &one, 1, u, (int)m);
  if (r < 0) return r;
  if (r < total) {
    memset(got + r, 0, (size_t)(total - r));
    size_t i = 0;
    while (pre[i + 1] <= r) i++;
    *eof = u[i].offset + (r - pre[i]);
  }
  /* each asked piece lies in one union run */
  for (size_t k = 0; k < n; k++) {
    int64_t off = desc[2 * k], len = desc[2 * k + 1];
    size_t lo = 0, hi = m - 1;
    while (lo < hi) {
      size_t mid = (lo + hi + 1) / 2;
      if (u[mid].offset <= off) lo = mid;
      else hi = mid - 1;
    }
    memcpy(reply, got + pre[lo] + (off - u[lo].offset), (size_t)len);
    reply += len;
  }
  return 0;
}

int fy_coll_io(fy_file *f, fy_scratch *s, int wr, int64_t nbytes, int64_t *moved) {
  int64_t gmin, gmax;
  *moved = 0;
  if (!use_two_phase(f, s, wr, &gmin, &gmax)) return 1;
  const int np = f->nprocs, naggr = f->h.naggr;
  const int64_t S = f->h.strip_size > 0 ? f->h.strip_size : (int64_t)1 << 20;
  const int64_t W = (int64_t)naggr * f->h.cb_buffer_size;
  const int64_t base = gmin - gmin % ((int64_t)naggr * S);
  int64_t *sc = buf(f, s, B_COUNTS, sizeof(int64_t) * 4 * (size_t)np), *rc = sc + 2 * np;
  int *ic = buf(f, s, B_INTS, sizeof(int) * 8 * (size_t)np);
  int *dsc = ic, *dsd = ic + np, *drc = ic + 2 * np, *drd = ic + 3 * np; /* descriptors */
  int *bsc = ic + 4 * np, *bsd = ic + 5 * np, *brc = ic + 6 * np, *brd = ic + 7 * np; /* bytes */
  int64_t *pos = buf(f, s, B_POS, sizeof(int64_t) * 2 * (size_t)np);
  int64_t err = 0, eof = INT64_MAX;
  size_t si = 0; /* my next byte: segment si, offset so in it */
  int64_t so = 0;
  fy_cursor mc = {s->iov, 0, 0};
  for (;;) {
    int64_t next = INT64_MAX;
    if (si < s->nsegs) next = (s->segs[si].offset + so - base) / W;
    int64_t in[3] = {next, err, eof}, out[3];
    fy_allreduce(in, out, 3, MPI_INT64_T, MPI_MIN, f->comm);
    if (out[1] < 0 || out[0] == INT64_MAX) {
      err = out[1];
      eof = out[2];
      break;
    }
    int64_t whi = base + (out[0] + 1) * W;
    /* my pieces of this round, cut at strips, in stream order */
    size_t npc = 0, cap = s->cap[B_PIECES] / sizeof(piece);
    piece *pc = s->buf[B_PIECES];
    while (si < s->nsegs && s->segs[si].offset + so < whi) {
      int64_t o = s->segs[si].offset + so, e = s->segs[si].offset + s->segs[si].length;
      if (e > whi) e = whi;
      while (o < e) {
        int64_t se = (o / S + 1) * S;
        if (se > e) se = e;
        int a = (int)((o / S) % naggr);
        if (npc && pc[npc - 1].agg == a && pc[npc - 1].off + pc[npc - 1].len == o) {
          pc[npc - 1].len += se - o;
        } else {
          if (npc == cap) {
            pc = buf(f, s, B_PIECES, (npc + 1) * sizeof *pc);
            cap = s->cap[B_PIECES] / sizeof *pc;
          }
          pc[npc++] = (piece){o, se - o, a};
        }
        o = se;
      }
      so = e - s->segs[si].offset;
      if (so == s->segs[si].length) {
        si++;
        so = 0;
      }
    }
    /* counts, [pieces, bytes], to every rank and from every rank */
    memset(sc, 0, sizeof(int64_t) * 2 * (size_t)np);
    for (size_t i = 0; i < npc; i++) {
      int r = f->h.aggr[pc[i].agg];
      sc[2 * r]++;
      sc[2 * r + 1] += pc[i].len;
    }
    fy_alltoall(sc, 2, MPI_INT64_T, rc, f->comm);
    /* A round moves at most naggr x cb_buffer_size bytes per rank, and an
     * aggregator receives cb_buffer_size bytes per rank at most: MPI's
     * int counts hold unless the hints ask for rounds past 2 GiB. */
    int64_t ds = 0, dr = 0, bs = 0, br = 0;
    for (int r = 0; r < np; r++) {
      ds += 2 * sc[2 * r], dr += 2 * rc[2 * r], bs += sc[2 * r + 1], br += rc[2 * r + 1];
    }
    if (ds > INT_MAX || dr > INT_MAX || bs > INT_MAX || br > INT_MAX) {
      fy_fail(f, MPI_ERR_COUNT, "collective buffering", NULL, "a round moves more than 2 GiB: lower cb_buffer_size");
      MPI_Abort(f->comm, MPI_ERR_COUNT);
    }
    ds = dr = bs = br = 0;
    for (int r = 0; r < np; r++) {
      dsc[r] = (int)(2 * sc[2 * r]), dsd[r] = (int)ds, ds += dsc[r];
      drc[r] = (int)(2 * rc[2 * r]), drd[r] = (int)dr, dr += drc[r];
      bsc[r] = (int)sc[2 * r + 1], bsd[r] = (int)bs, bs += bsc[r];
      brc[r] = (int)rc[2 * r + 1], brd[r] = (int)br, br += brc[r];
    }
    int64_t *dout = buf(f, s, B_DESC_OUT, sizeof(int64_t) * (size_t)(ds + 1));
    int64_t *din = buf(f, s, B_DESC_IN, sizeof(int64_t) * (size_t)(dr + 1));
    char *out_b = buf(f, s, B_DATA_OUT, (size_t)(wr ? bs : br) + 1);
    char *in_b = buf(f, s, B_DATA_IN, (size_t)(wr ? br : bs) + 1);
    /* descriptors (and, writing, the bytes) grouped by destination */
    for (int r = 0; r < np; r++) {
      pos[2 * r] = dsd[r];
      pos[2 * r + 1] = bsd[r];
    }
    for (size_t i = 0; i < npc; i++) {
      int r = f->h.aggr[pc[i].agg];
      dout[pos[2 * r]++] = pc[i].off;
      dout[pos[2 * r]++] = pc[i].len;
      if (wr) {
        fy_cursor_copy(&mc, out_b + pos[2 * r + 1], pc[i].len, 0);
        pos[2 * r + 1] += pc[i].len;
      }
    }
    fy_alltoallv(dout, dsc, dsd, MPI_INT64_T, din, drc, drd, MPI_INT64_T, f->comm);
    if (wr) {
      fy_alltoallv(out_b, bsc, bsd, MPI_BYTE, in_b, brc, brd, MPI_BYTE, f->comm);
      if (f->h.my_aggr >= 0 && !err) err = aggr_write(f, s, din, rc, in_b);
    } else {
      /* reversed: an aggregator sends back brc[r] bytes to rank r */
      if (f->h.my_aggr >= 0 && !err) err = aggr_read(f, s, din, rc, out_b, &eof);
      fy_alltoallv(out_b, brc, brd, MPI_BYTE, in_b, bsc, bsd, MPI_BYTE, f->comm);
      for (int r = 0; r < np; r++) pos[r] = bsd[r];
      for (size_t i = 0; i < npc; i++) {
        int r = f->h.aggr[pc[i].agg];
        fy_cursor_copy(&mc, in_b + pos[r], pc[i].len, 1);
        pos[r] += pc[i].len;
      }
    }
  }
  if (err < 0) return (int)err;
  if (wr || eof == INT64_MAX) {
    *moved = nbytes;
    return 0;
  }
  /* the bytes of the stream before the first at or past the end */
  int64_t n = 0;
  for (size_t i = 0; i < s->nsegs; i++) {
    int64_t o = s->segs[i].offset, l = s->segs[i].length;
    if (o + l <= eof) {
      n += l;
      continue;
    }
    if (eof > o) n += eof - o;
    break;
  }
  *moved = n;
  return 0;
}
