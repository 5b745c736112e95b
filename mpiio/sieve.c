/*
 * sieve.c - data sieving for independent accesses: many small pieces
 * that lie close together move as a few contiguous ranges of the file
 * (ind_rd_buffer_size / ind_wr_buffer_size bytes each) through the
 * file's staging buffer, the pieces copied in or out in memory.
 *
 * List I/O already sends a strided access as one request per server, so
 * sieving pays only where pieces are so small that per-piece work on the
 * servers costs more than moving the gaps too. romio_ds_read=automatic
 * sieves pieces averaging under FY_DS_SMALL bytes that cover at least a
 * quarter of their span (a starting point, not a measurement: make
 * bench-mpiio can tune it); enable sieves every noncontiguous access, as
 * ROMIO does; disable never.
 *
 * Writes read the range, patch the pieces in and write it back, holding
 * the file's lock (lock.c) exclusively; they are off unless
 * romio_ds_write=enable (see lock.c for why).
 */
#include <errno.h>
#include <string.h>

#include "fy_internal.h"

#define FY_DS_SMALL 2048

int fy_sieve_wanted(const fy_file *f, const fy_scratch *s, int wr, int64_t nbytes) {
  int mode = wr ? f->h.ds_write : f->h.ds_read;
  if (s->nsegs < 2 || mode == FY_HINT_DISABLE) return 0;
  if (wr && !f->lock_ok) return 0;
  /* a sieved write reads its range first, which a write-only open cannot */
  if (wr && (f->amode & MPI_MODE_WRONLY)) return 0;
  /* only ascending, disjoint segments (every view's are) */
  for (size_t i = 1; i < s->nsegs; i++)
    if (s->segs[i].offset < s->segs[i - 1].offset + s->segs[i - 1].length) return 0;
  if (mode == FY_HINT_ENABLE) return 1;
  int64_t span = s->segs[s->nsegs - 1].offset + s->segs[s->nsegs - 1].length - s->segs[0].offset;
  return !wr && nbytes / (int64_t)s->nsegs < FY_DS_SMALL && nbytes * 4 >= span;
}

/* chunk_end: the end of the sieving range that starts at segment i,
 * offset in (bytes of segment i already done), at most max bytes long. */
static int64_t chunk_end(const fy_scratch *s, size_t i, int64_t in, int64_t max) {
  int64_t lo = s->segs[i].offset + in, end = lo;
  for (size_t j = i; j < s->nsegs && s->segs[j].offset < lo + max; j++) {
    int64_t e = s->segs[j].offset + s->segs[j].length;
    end = e < lo + max ? e : lo + max;
  }
  return end;
}

int64_t fy_sieve(fy_file *f, fy_scratch *s, int wr) {
  int64_t max = wr ? f->h.ind_wr_buffer_size : f->h.ind_rd_buffer_size;
  char *stage = fy_stage(s, (size_t)max);
  if (!stage) return -ENOMEM;
  fy_cursor c = {s->iov, 0, 0};
  int64_t moved = 0, err = 0;
  size_t i = 0;
  int64_t in = 0;
  if (wr) fy_lock_excl(f);
  else if (f->atomic) fy_lock_shared(f);
  while (i < s->nsegs && !err) {
    int64_t lo = s->segs[i].offset + in, end = chunk_end(s, i, in, max);
    ssize_t r = ferry_pread(f->fd, stage, (size_t)(end - lo), lo);
    if (r < 0) {
      err = r;
      break;
    }
    int eof = 0;
    if (r < end - lo) {
      if (wr) {
        memset(stage + r, 0, (size_t)(end - lo - r)); /* past the end: as a hole reads */
      } else {
        end = lo + r; /* the file ends here */
        eof = 1;
      }
    }
    /* the pieces inside [lo, end), in stream order */
    size_t j = i;
    int64_t jin = in;
    while (j < s->nsegs && s->segs[j].offset + jin < end) {
      int64_t a = s->segs[j].offset + jin, b = s->segs[j].offset + s->segs[j].length;
      if (b > end) b = end;
      fy_cursor_copy(&c, stage + (a - lo), b - a, !wr);
      moved += b - a;
      jin = b - s->segs[j].offset;
      if (jin == s->segs[j].length) {
        j++;
        jin = 0;
      }
    }
    if (wr) {
      ssize_t w = ferry_pwrite(f->fd, stage, (size_t)(end - lo), lo);
      if (w < 0) err = w;
    }
    if (eof) break;
    i = j;
    in = jin;
  }
  if (wr) fy_unlock_excl(f);
  else if (f->atomic) fy_unlock_shared(f);
  return err ? err : moved;
}
