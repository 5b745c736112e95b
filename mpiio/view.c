/*
 * view.c - file views. A view (disp, etype, filetype) is flattened once,
 * at set_view, into the (offset, length) runs of one filetype instance;
 * view byte v then maps to a file offset by a binary search over the
 * runs' prefix sums. Positions (individual and shared) are in etypes.
 */
#include <stdlib.h>
#include <string.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

void fy_view_free(fy_file *f) {
  if (f->etype != MPI_DATATYPE_NULL && !fy_type_is_named(f->etype)) MPI_Type_free(&f->etype);
  if (f->filetype != MPI_DATATYPE_NULL && !fy_type_is_named(f->filetype)) MPI_Type_free(&f->filetype);
  free(f->runs.r);
  free(f->pre);
  f->runs = (fy_runs){0};
  f->pre = NULL;
}

int fy_view_set(fy_file *f, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype ftype) {
  MPI_Count esize, fsize; /* _x: a filetype may span more than 2 GiB */
  MPI_Aint lb, ext;
  MPI_Type_size_x(etype, &esize);
  MPI_Type_size_x(ftype, &fsize);
  MPI_Type_get_extent(ftype, &lb, &ext);
  if (esize <= 0 || fsize <= 0 || fsize % esize) return MPI_ERR_TYPE;
  fy_runs rs = {0};
  if (fy_flatten(ftype, 0, &rs)) {
    free(rs.r);
    return MPI_ERR_NO_MEM;
  }
  int64_t *pre = malloc(sizeof(int64_t) * (rs.n + 1));
  if (!pre) {
    free(rs.r);
    return MPI_ERR_NO_MEM;
  }
  int64_t s = 0;
  for (size_t k = 0; k < rs.n; k++) {
    pre[k] = s;
    s += rs.r[k].len;
  }
  pre[rs.n] = s;
  fy_view_free(f);
  f->disp = disp;
  if (fy_type_is_named(etype)) f->etype = etype;
  else MPI_Type_dup(etype, &f->etype);
  if (fy_type_is_named(ftype)) f->filetype = ftype;
  else MPI_Type_dup(ftype, &f->filetype);
  f->esize = esize;
  f->ft_size = fsize;
  f->ft_extent = ext;
  f->runs = rs;
  f->pre = pre;
  f->contig = rs.n == 1 && rs.r[0].off == 0 && rs.r[0].len == ext;
  return MPI_SUCCESS;
}

/* fy_view_map: file offset of view byte v and the contiguous bytes there. */
int64_t fy_view_map(const fy_file *f, int64_t v, int64_t *avail) {
  if (f->contig) {
    *avail = INT64_MAX;
    return f->disp + v;
  }
  int64_t tile = v / f->ft_size, w = v % f->ft_size;
  size_t lo = 0, hi = f->runs.n - 1;
  while (lo < hi) { /* last k with pre[k] <= w */
    size_t mid = (lo + hi + 1) / 2;
    if (f->pre[mid] <= w) lo = mid;
    else hi = mid - 1;
  }
  *avail = f->runs.r[lo].len - (w - f->pre[lo]);
  return f->disp + tile * f->ft_extent + f->runs.r[lo].off + (w - f->pre[lo]);
}

int fy_view_segments(const fy_file *f, int64_t v, int64_t n, fy_scratch *s) {
  s->nsegs = 0;
  if (n <= 0) return 0;
  if (f->contig) return fy_segs_add(s, f->disp + v, n);
  int64_t tile = v / f->ft_size, w = v % f->ft_size;
  size_t k = 0, hi = f->runs.n - 1;
  while (k < hi) { /* last k with pre[k] <= w */
    size_t mid = (k + hi + 1) / 2;
    if (f->pre[mid] <= w) k = mid;
    else hi = mid - 1;
  }
  int64_t in = w - f->pre[k]; /* bytes of run k already behind */
  while (n > 0) {
    int64_t len = f->runs.r[k].len - in;
    if (len > n) len = n;
    if (fy_segs_add(s, f->disp + tile * f->ft_extent + f->runs.r[k].off + in, len)) return -1;
    n -= len;
    in = 0;
    if (++k == f->runs.n) {
      k = 0;
      tile++;
    }
  }
  return 0;
}

/* view_bytes_below: view bytes that lie in the file below size. */
static int64_t view_bytes_below(const fy_file *f, int64_t size) {
  if (size <= f->disp) return 0;
  int64_t rel = size - f->disp;
  if (f->contig) return rel;
  int64_t tiles = rel / f->ft_extent, rem = rel % f->ft_extent, v = tiles * f->ft_size;
  for (size_t k = 0; k < f->runs.n; k++) {
    int64_t in = rem - f->runs.r[k].off;
    if (in > 0) v += in < f->runs.r[k].len ? in : f->runs.r[k].len;
  }
  return v;
}
/* ---- MPI_File_set_view and friends, positions, seeks --------------------- */

int fy_File_set_view(MPI_File fh, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype filetype,
                     const char *datarep, MPI_Info info) {
  fy_file *f = FY(fh);
  const char *op = "MPI_File_set_view";
  if (!datarep || strcmp(datarep, "native"))
    return fy_fail(f, MPI_ERR_UNSUPPORTED_DATAREP, op, NULL, "only the \"native\" data representation");
  if (disp == MPI_DISPLACEMENT_CURRENT) {
    /* sequential files only: the shared file pointer's place in the file */
    if (!(f->amode & MPI_MODE_SEQUENTIAL))
      return fy_fail(f, MPI_ERR_ARG, op, NULL, "MPI_DISPLACEMENT_CURRENT on a file not opened MPI_MODE_SEQUENTIAL");
    MPI_Barrier(f->comm); /* shared-pointer accesses before it are done */
    int64_t at[2] = {0, 0}; /* byte offset, error */
    if (f->rank == 0) {
      int64_t cur = 0;
      int r = ferry_counter_add(f->fd, f->shfp, 0, &cur);
      int64_t avail;
      at[0] = r < 0 ? 0 : fy_view_map(f, cur * f->esize, &avail);
      at[1] = r;
    }
    MPI_Bcast(at, 2, MPI_INT64_T, 0, f->comm);
    if (at[1] < 0) return fy_fail_errno(f, (int)at[1], op, NULL);
    disp = at[0];
  }
  if (disp < 0) return fy_fail(f, MPI_ERR_ARG, op, NULL, "negative displacement");
  if (etype == MPI_DATATYPE_NULL || filetype == MPI_DATATYPE_NULL)
    return fy_fail(f, MPI_ERR_TYPE, op, NULL, "MPI_DATATYPE_NULL");
  int rc = fy_view_set(f, disp, etype, filetype);
  if (rc) return fy_fail(f, rc, op, NULL, "filetype is not a whole number of etypes (or is empty)");
  f->pos = 0;
  fy_info_merge(f, info);
  if (fy_hints_apply(f)) return fy_fail(f, MPI_ERR_NO_MEM, op, NULL, "out of memory");
  /* the shared pointer goes to 0 after every rank's shared-pointer
   * accesses before the call (fy_hints_apply's broadcast does not wait
   * for them), and before any after it */
  MPI_Barrier(f->comm);
  if (f->rank == 0) ferry_counter_set(f->fd, f->shfp, 0, NULL);
  MPI_Barrier(f->comm);
  return MPI_SUCCESS;
}

int fy_File_get_view(MPI_File fh, MPI_Offset *disp, MPI_Datatype *etype, MPI_Datatype *filetype, char *datarep) {
  fy_file *f = FY(fh);
  *disp = f->disp;
  if (fy_type_is_named(f->etype)) *etype = f->etype;
  else MPI_Type_dup(f->etype, etype);
  if (fy_type_is_named(f->filetype)) *filetype = f->filetype;
  else MPI_Type_dup(f->filetype, filetype);
  strcpy(datarep, "native");
  return MPI_SUCCESS;
}

static int seek_target(fy_file *f, MPI_Offset cur, MPI_Offset offset, int whence, MPI_Offset *out, const char *op) {
  MPI_Offset base;
  if (whence == MPI_SEEK_SET) base = 0;
  else if (whence == MPI_SEEK_CUR) base = cur;
  else if (whence == MPI_SEEK_END) {
    int64_t s;
    int r = ferry_get_size(f->fd, &s);
    if (r < 0) return fy_fail_errno(f, r, op, NULL);
    /* an etype the end cuts counts (as ROMIO): a write from the end
     * then starts past every byte of the file */
    base = (view_bytes_below(f, s) + f->esize - 1) / f->esize;
  } else return fy_fail(f, MPI_ERR_ARG, op, NULL, "unknown whence");
  if (base + offset < 0) return fy_fail(f, MPI_ERR_ARG, op, NULL, "position would be negative");
  *out = base + offset;
  return MPI_SUCCESS;
}

/* A MPI_MODE_SEQUENTIAL file has no individual file pointer to use
 * (as ROMIO: MPI_ERR_UNSUPPORTED_OPERATION). */
static int no_individual_pointer(fy_file *f, const char *op) {
  if (!(f->amode & MPI_MODE_SEQUENTIAL)) return MPI_SUCCESS;
  return fy_fail(f, MPI_ERR_UNSUPPORTED_OPERATION, op, NULL, "the individual file pointer of a MPI_MODE_SEQUENTIAL file");
}

int fy_File_seek(MPI_File fh, MPI_Offset offset, int whence) {
  fy_file *f = FY(fh);
  int seq = no_individual_pointer(f, "MPI_File_seek");
  if (seq) return seq;
  MPI_Offset p;
  int rc = seek_target(f, f->pos, offset, whence, &p, "MPI_File_seek");
  if (rc == MPI_SUCCESS) f->pos = p;
  return rc;
}

int fy_File_get_position(MPI_File fh, MPI_Offset *offset) {
  int seq = no_individual_pointer(FY(fh), "MPI_File_get_position");
  if (seq) return seq;
  *offset = FY(fh)->pos;
  return MPI_SUCCESS;
}

int fy_File_get_byte_offset(MPI_File fh, MPI_Offset offset, MPI_Offset *disp) {
  fy_file *f = FY(fh);
  if (offset < 0) return fy_fail(f, MPI_ERR_ARG, "MPI_File_get_byte_offset", NULL, "negative offset");
  int64_t avail;
  *disp = fy_view_map(f, offset * f->esize, &avail);
  return MPI_SUCCESS;
}

int fy_File_get_type_extent(MPI_File fh, MPI_Datatype datatype, MPI_Aint *extent) {
  (void)fh;
  MPI_Aint lb;
  return MPI_Type_get_extent(datatype, &lb, extent);
}

#if FY_HAVE_LARGE_COUNT
int fy_File_get_type_extent_c(MPI_File fh, MPI_Datatype datatype, MPI_Count *extent) {
  (void)fh;
  MPI_Count lb;
  return MPI_Type_get_extent_x(datatype, &lb, extent);
}
#endif

int fy_File_seek_shared(MPI_File fh, MPI_Offset offset, int whence) {
  fy_file *f = FY(fh);
  int rc = MPI_SUCCESS;
  /* collective: shared-pointer accesses every rank made before it are done */
  MPI_Barrier(f->comm);
  if (f->rank == 0) {
    int64_t cur = 0;
    int r = ferry_counter_add(f->fd, f->shfp, 0, &cur);
    MPI_Offset p = 0;
    if (r < 0) rc = fy_fail_errno(f, r, "MPI_File_seek_shared", NULL);
    else rc = seek_target(f, cur, offset, whence, &p, "MPI_File_seek_shared");
    if (rc == MPI_SUCCESS && (r = ferry_counter_set(f->fd, f->shfp, p, NULL)) < 0)
      rc = fy_fail_errno(f, r, "MPI_File_seek_shared", NULL);
  }
  /* Every rank's error handler sees a failure, each with a code of its
   * own (rank 0's may be one only rank 0 added). */
  int cls = MPI_SUCCESS;
  if (f->rank == 0 && rc != MPI_SUCCESS) MPI_Error_class(rc, &cls);
  MPI_Bcast(&cls, 1, MPI_INT, 0, f->comm);
  if (f->rank == 0 || cls == MPI_SUCCESS) return rc;
  return fy_fail(f, cls, "MPI_File_seek_shared", NULL, "rank 0 could not move the shared file pointer (its error says why)");
}

int fy_File_get_position_shared(MPI_File fh, MPI_Offset *offset) {
  int64_t cur;
  int r = ferry_counter_add(FY(fh)->fd, FY(fh)->shfp, 0, &cur);
  if (r < 0) return fy_fail_errno(FY(fh), r, "MPI_File_get_position_shared", NULL);
  *offset = cur;
  return MPI_SUCCESS;
}
