/*
 * dtype.c - MPI datatypes flattened into (offset, length) runs.
 *
 * A file view's filetype is flattened once, at set_view; a memory
 * datatype when an access uses it. Runs come in typemap order with
 * adjacent runs merged. Every combiner MPI defines is walked through
 * MPI_Type_get_contents; anything else (darray, Fortran types) goes
 * through a byte mask.
 */
#include <stdlib.h>
#include <string.h>

#include "fy_internal.h"

int fy_runs_add(fy_runs *rs, int64_t off, int64_t len) {
  if (len <= 0) return 0;
  if (rs->n && rs->r[rs->n - 1].off + rs->r[rs->n - 1].len == off) {
    rs->r[rs->n - 1].len += len;
    return 0;
  }
  if (rs->n == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 16;
    fy_run *r = realloc(rs->r, cap * sizeof *r);
    if (!r) return -1;
    rs->r = r;
    rs->cap = cap;
  }
  rs->r[rs->n].off = off;
  rs->r[rs->n].len = len;
  rs->n++;
  return 0;
}

/* runs_copy appends src shifted by shift. */
static int runs_copy(fy_runs *dst, const fy_runs *src, int64_t shift) {
  for (size_t i = 0; i < src->n; i++)
    if (fy_runs_add(dst, src->r[i].off + shift, src->r[i].len)) return -1;
  return 0;
}

/* copies appends k instances of a child's runs cr, cext apart from base.
 * A dense child (one run over its whole extent) gives one run of k
 * extents without a loop over k: contiguous(1 << 30, MPI_BYTE), a 1 GiB
 * block of a view, took seconds one byte at a time. */
static int copies(fy_runs *out, const fy_runs *cr, int64_t base, int64_t k, int64_t cext) {
  if (k <= 0) return 0;
  if (cr->n == 1 && cr->r[0].off == 0 && cr->r[0].len == cext) return fy_runs_add(out, base, k * cext);
  for (int64_t j = 0; j < k; j++)
    if (runs_copy(out, cr, base + j * cext)) return -1;
  return 0;
}

int fy_type_is_named(MPI_Datatype t) {
  int ni, na, nd, comb;
  MPI_Type_get_envelope(t, &ni, &na, &nd, &comb);
  return comb == MPI_COMBINER_NAMED;
}

static int flatten_child(MPI_Datatype child, fy_runs *cr);

/* flatten_mask: the generic fallback (darray, Fortran types, anything
 * unknown): unpack 0xff bytes through the type into a zeroed image of its
 * true extent and read the covered bytes back in address order. Correct
 * for monotonic typemaps (every valid filetype). */
static int flatten_mask(MPI_Datatype t, int64_t base, fy_runs *out) {
  MPI_Aint tlb, text;
  int size;
  MPI_Type_get_true_extent(t, &tlb, &text);
  MPI_Type_size(t, &size);
  if (size == 0) return 0;
  unsigned char *img = calloc(1, (size_t)text), *ones = malloc((size_t)size);
  if (!img || !ones) {
    free(img);
    free(ones);
    return -1;
  }
  memset(ones, 0xff, (size_t)size);
  int pos = 0;
  MPI_Unpack(ones, size, &pos, img - tlb, 1, t, MPI_COMM_SELF);
  int64_t start = -1;
  for (int64_t i = 0; i <= (int64_t)text; i++) {
    int on = i < (int64_t)text && img[i];
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      if (fy_runs_add(out, base + tlb + start, i - start)) break;
      start = -1;
    }
  }
  free(img);
  free(ones);
  return 0;
}

/* flatten_child: the runs of one instance of child at 0, into cr. */
static int flatten_child(MPI_Datatype child, fy_runs *cr) {
  cr->n = 0;
  return fy_flatten(child, 0, cr);
}

/* fy_flatten appends the runs of one instance of t placed at base, in typemap
 * order, merging adjacent runs. */
int fy_flatten(MPI_Datatype t, int64_t base, fy_runs *out) {
  int ni, na, nd, comb;
  MPI_Type_get_envelope(t, &ni, &na, &nd, &comb);
  if (comb == MPI_COMBINER_NAMED) {
    MPI_Count size;
    MPI_Type_size_x(t, &size);
    MPI_Aint lb, ext;
    MPI_Type_get_extent(t, &lb, &ext);
    if (size == ext) return fy_runs_add(out, base, size);
    return flatten_mask(t, base, out);
  }
  int *ints = malloc(sizeof(int) * (ni + 1));
  MPI_Aint *addrs = malloc(sizeof(MPI_Aint) * (na + 1));
  MPI_Datatype *types = malloc(sizeof(MPI_Datatype) * (nd + 1));
  fy_runs cr = {0};
  int rc = 0;
  if (!ints || !addrs || !types) {
    rc = -1;
    goto out;
  }
  MPI_Type_get_contents(t, ni, na, nd, ints, addrs, types);
  MPI_Aint clb, cext = 0;
  if (nd > 0) MPI_Type_get_extent(types[0], &clb, &cext);
  switch (comb) {
  case MPI_COMBINER_DUP:
  case MPI_COMBINER_RESIZED:
    rc = fy_flatten(types[0], base, out);
    break;
  case MPI_COMBINER_CONTIGUOUS:
    rc = flatten_child(types[0], &cr);
    if (!rc) rc = copies(out, &cr, base, ints[0], cext);
    break;
  case MPI_COMBINER_VECTOR:
  case MPI_COMBINER_HVECTOR: {
    int64_t stride = comb == MPI_COMBINER_VECTOR ? (int64_t)ints[2] * cext : (int64_t)addrs[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < ints[0]; i++) rc = copies(out, &cr, base + i * stride, ints[1], cext);
    break;
  }
  case MPI_COMBINER_INDEXED:
  case MPI_COMBINER_HINDEXED: {
    int n = ints[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < n; i++) {
      int64_t d = comb == MPI_COMBINER_INDEXED ? (int64_t)ints[1 + n + i] * cext : (int64_t)addrs[i];
      rc = copies(out, &cr, base + d, ints[1 + i], cext);
    }
    break;
  }
  case MPI_COMBINER_INDEXED_BLOCK:
  case MPI_COMBINER_HINDEXED_BLOCK: {
    int n = ints[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < n; i++) {
      int64_t d = comb == MPI_COMBINER_INDEXED_BLOCK ? (int64_t)ints[2 + i] * cext : (int64_t)addrs[i];
      rc = copies(out, &cr, base + d, ints[1], cext);
    }
    break;
  }
  case MPI_COMBINER_STRUCT: {
    int n = ints[0];
    for (int i = 0; !rc && i < n; i++) {
      MPI_Aint lb, ext;
      MPI_Type_get_extent(types[i], &lb, &ext);
      rc = flatten_child(types[i], &cr);
      if (!rc) rc = copies(out, &cr, base + (int64_t)addrs[i], ints[1 + i], ext);
    }
    break;
  }
  case MPI_COMBINER_SUBARRAY: {
    int nd_ = ints[0];
    const int *sizes = ints + 1, *sub = ints + 1 + nd_, *starts = ints + 1 + 2 * nd_;
    int order = ints[1 + 3 * nd_];
    int64_t idx[64] = {0}, stride[64];
    if (nd_ > 64) {
      rc = flatten_mask(t, base, out);
      break;
    }
    /* stride[d]: elements between neighbours along dimension d. */
    for (int d = 0; d < nd_; d++) {
      int dd = order == MPI_ORDER_C ? nd_ - 1 - d : d; /* d-th fastest */
      stride[dd] = d == 0 ? 1 : stride[order == MPI_ORDER_C ? dd + 1 : dd - 1] *
                                    sizes[order == MPI_ORDER_C ? dd + 1 : dd - 1];
    }
    rc = flatten_child(types[0], &cr);
    int fast = order == MPI_ORDER_C ? nd_ - 1 : 0;
    for (int d = 0; d < nd_; d++)
      if (sub[d] == 0) goto out;
    for (;;) {
      int64_t e = 0;
      for (int d = 0; d < nd_; d++) e += (starts[d] + idx[d]) * stride[d];
      rc = copies(out, &cr, base + e * cext, sub[fast], cext);
      if (rc) break;
      /* odometer over the other dimensions, fastest first */
      int d, step = order == MPI_ORDER_C ? -1 : 1;
      for (d = fast + step; d >= 0 && d < nd_; d += step) {
        if (++idx[d] < sub[d]) break;
        idx[d] = 0;
      }
      if (d < 0 || d >= nd_) break;
    }
    break;
  }
  default: /* DARRAY, F90 types, ... */
    rc = flatten_mask(t, base, out);
    break;
  }
out:
  for (int i = 0; i < nd; i++)
    if (types && !fy_type_is_named(types[i])) MPI_Type_free(&types[i]);
  free(cr.r);
  free(ints);
  free(addrs);
  free(types);
  return rc;
}

/* The runs of derived types, cached on the type as an attribute whose
 * delete callback frees them when the program frees the type (handles
 * are reused, so a cache keyed by handle alone would go stale). */
static int runs_keyval = MPI_KEYVAL_INVALID;

static int runs_delete(MPI_Datatype t, int keyval, void *attr, void *extra) {
  (void)t, (void)keyval, (void)extra;
  fy_runs *rs = attr;
  free(rs->r);
  free(rs);
  return MPI_SUCCESS;
}

const fy_runs *fy_type_runs(MPI_Datatype dt, fy_runs *tmp) {
  *tmp = (fy_runs){0};
  if (fy_type_is_named(dt)) {
    if (fy_flatten(dt, 0, tmp)) return NULL;
    return tmp;
  }
  /* Under the lock: two threads caching the same type at once would have
   * the second set_attr free the first one's runs in use. */
  pthread_mutex_lock(&fy_lock);
  if (runs_keyval == MPI_KEYVAL_INVALID)
    MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, runs_delete, &runs_keyval, NULL);
  void *v;
  int flag = 0;
  if (runs_keyval != MPI_KEYVAL_INVALID) MPI_Type_get_attr(dt, runs_keyval, &v, &flag);
  fy_runs *rs = flag ? v : calloc(1, sizeof *rs);
  if (!flag && rs) {
    if (fy_flatten(dt, 0, rs)) {
      free(rs->r);
      free(rs);
      rs = NULL;
    } else if (runs_keyval == MPI_KEYVAL_INVALID || MPI_Type_set_attr(dt, runs_keyval, rs) != MPI_SUCCESS) {
      *tmp = *rs; /* not cacheable: the caller frees it */
      free(rs);
      rs = tmp;
    }
  }
  pthread_mutex_unlock(&fy_lock);
  return rs;
}
