/*
 * ferry_mpiio.c - MPI-IO on Ferry: the implementations of the MPI_File_*
 * functions for files named "ferry:...".
 *
 * The entry points (MPI_File_x and PMPI_File_x for every function of the
 * MPI library's mpi.h) are generated into fy_gen.c by gen_wrappers.py.
 * They call fy_File_x here when the handle is a Ferry file, fy_all_File_x
 * for every handle when it is defined here (open, delete, f2c, error
 * handlers), and the MPI library's PMPI_File_x otherwise.
 *
 * A Ferry MPI_File is a pointer to a struct fy_file, kept in a registry
 * (an open-addressing hash set) while open; a value not in the registry
 * belongs to the MPI library. Ferry's C API (ferry.h) is the only way to
 * the file system.
 *
 * Data access: a file view (disp, etype, filetype) is flattened once, at
 * set_view, into the (offset, length) runs of one filetype instance; a
 * transfer walks the runs from its starting position and issues one
 * ferry_pread/ferry_pwrite per contiguous piece. Non-contiguous memory
 * datatypes go through MPI_Pack/MPI_Unpack and a staging buffer.
 * Collectives are independent accesses (no two-phase aggregation yet),
 * with a barrier after collective writes so a following collective read
 * sees every rank's data.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

/* ------------------------------------------------------------------------
 * Flattened datatypes
 * ------------------------------------------------------------------------ */

typedef struct {
  int64_t off, len;
} fy_run;

typedef struct {
  fy_run *r;
  size_t n, cap;
} fy_runs;

static int runs_add(fy_runs *rs, int64_t off, int64_t len) {
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
    if (runs_add(dst, src->r[i].off + shift, src->r[i].len)) return -1;
  return 0;
}

static int type_is_named(MPI_Datatype t) {
  int ni, na, nd, comb;
  MPI_Type_get_envelope(t, &ni, &na, &nd, &comb);
  return comb == MPI_COMBINER_NAMED;
}

static int flatten(MPI_Datatype t, int64_t base, fy_runs *out);

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
      if (runs_add(out, base + tlb + start, i - start)) break;
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
  return flatten(child, 0, cr);
}

/* flatten appends the runs of one instance of t placed at base, in typemap
 * order, merging adjacent runs. */
static int flatten(MPI_Datatype t, int64_t base, fy_runs *out) {
  int ni, na, nd, comb;
  MPI_Type_get_envelope(t, &ni, &na, &nd, &comb);
  if (comb == MPI_COMBINER_NAMED) {
    int size;
    MPI_Type_size(t, &size);
    MPI_Aint lb, ext;
    MPI_Type_get_extent(t, &lb, &ext);
    if (size == ext) return runs_add(out, base, size);
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
    rc = flatten(types[0], base, out);
    break;
  case MPI_COMBINER_CONTIGUOUS:
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < ints[0]; i++) rc = runs_copy(out, &cr, base + (int64_t)i * cext);
    break;
  case MPI_COMBINER_VECTOR:
  case MPI_COMBINER_HVECTOR: {
    int64_t stride = comb == MPI_COMBINER_VECTOR ? (int64_t)ints[2] * cext : (int64_t)addrs[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < ints[0]; i++)
      for (int j = 0; !rc && j < ints[1]; j++)
        rc = runs_copy(out, &cr, base + i * stride + (int64_t)j * cext);
    break;
  }
  case MPI_COMBINER_INDEXED:
  case MPI_COMBINER_HINDEXED: {
    int n = ints[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < n; i++) {
      int64_t d = comb == MPI_COMBINER_INDEXED ? (int64_t)ints[1 + n + i] * cext : (int64_t)addrs[i];
      for (int j = 0; !rc && j < ints[1 + i]; j++) rc = runs_copy(out, &cr, base + d + (int64_t)j * cext);
    }
    break;
  }
  case MPI_COMBINER_INDEXED_BLOCK:
  case MPI_COMBINER_HINDEXED_BLOCK: {
    int n = ints[0];
    rc = flatten_child(types[0], &cr);
    for (int i = 0; !rc && i < n; i++) {
      int64_t d = comb == MPI_COMBINER_INDEXED_BLOCK ? (int64_t)ints[2 + i] * cext : (int64_t)addrs[i];
      for (int j = 0; !rc && j < ints[1]; j++) rc = runs_copy(out, &cr, base + d + (int64_t)j * cext);
    }
    break;
  }
  case MPI_COMBINER_STRUCT: {
    int n = ints[0];
    for (int i = 0; !rc && i < n; i++) {
      MPI_Aint lb, ext;
      MPI_Type_get_extent(types[i], &lb, &ext);
      rc = flatten_child(types[i], &cr);
      for (int j = 0; !rc && j < ints[1 + i]; j++)
        rc = runs_copy(out, &cr, base + (int64_t)addrs[i] + (int64_t)j * ext);
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
      for (int k = 0; !rc && k < sub[fast]; k++) rc = runs_copy(out, &cr, base + (e + k) * cext);
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
    if (types && !type_is_named(types[i])) MPI_Type_free(&types[i]);
  free(cr.r);
  free(ints);
  free(addrs);
  free(types);
  return rc;
}

/* ------------------------------------------------------------------------
 * Files and the registry
 * ------------------------------------------------------------------------ */

#define FY_MAGIC 0x46657272794d5049ull /* "FerryMPI" */
#define FY_FINT_BASE 0x46000000        /* Fortran handles of Ferry files */
#define FY_FINT_MAX 65536

typedef struct fy_file {
  uint64_t magic;
  int fd;          /* ferry handle */
  MPI_Comm comm;   /* dup of the open's communicator */
  int rank, nprocs;
  int amode;
  char *path;      /* as given ("ferry:/...") */
  MPI_Info info;   /* hints given at open / set_info */
  MPI_Errhandler eh;
  int atomic;
  MPI_Fint fint;
  /* view */
  MPI_Offset disp;
  MPI_Datatype etype, filetype; /* dups (or predefined) */
  int64_t esize, ft_size, ft_extent;
  fy_runs runs;   /* one filetype instance */
  int64_t *pre;   /* pre[k]: data bytes before run k */
  int contig;     /* view is disp + a plain byte stream */
  MPI_Offset pos; /* individual file pointer, in etypes */
  /* split collectives */
  int split_active;
  int split_rc;
  MPI_Count split_bytes;
} fy_file;

static pthread_mutex_t fy_lock = PTHREAD_MUTEX_INITIALIZER;
static fy_file **fy_set;  /* open-addressing hash set of live files */
static size_t fy_set_cap, fy_set_n;
static fy_file *fy_fint_tab[FY_FINT_MAX];

static size_t hash_ptr(const void *p, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

static void set_insert_locked(fy_file *f);

static int set_grow_locked(void) {
  size_t ocap = fy_set_cap;
  fy_file **old = fy_set;
  size_t cap = ocap ? ocap * 2 : 64;
  fy_set = calloc(cap, sizeof *fy_set);
  if (!fy_set) {
    fy_set = old;
    return -1;
  }
  fy_set_cap = cap;
  fy_set_n = 0;
  for (size_t i = 0; i < ocap; i++)
    if (old[i] && old[i] != (fy_file *)1) set_insert_locked(old[i]);
  free(old);
  return 0;
}

static void set_insert_locked(fy_file *f) {
  size_t i = hash_ptr(f, fy_set_cap);
  while (fy_set[i] && fy_set[i] != (fy_file *)1) i = (i + 1) & (fy_set_cap - 1);
  fy_set[i] = f;
  fy_set_n++;
}

/* Deleted slots hold the tombstone (fy_file *)1. */
static size_t set_find_locked(const void *p) {
  if (!fy_set_cap) return (size_t)-1;
  size_t i = hash_ptr(p, fy_set_cap);
  for (size_t k = 0; k < fy_set_cap && fy_set[i]; k++) {
    if (fy_set[i] == p) return i;
    i = (i + 1) & (fy_set_cap - 1);
  }
  return (size_t)-1;
}

static int registry_add(fy_file *f) {
  int rc = -1;
  pthread_mutex_lock(&fy_lock);
  if ((fy_set_n + 1) * 2 > fy_set_cap && set_grow_locked()) goto out;
  for (int i = 1; i < FY_FINT_MAX; i++)
    if (!fy_fint_tab[i]) {
      fy_fint_tab[i] = f;
      f->fint = FY_FINT_BASE + i;
      set_insert_locked(f);
      rc = 0;
      break;
    }
out:
  pthread_mutex_unlock(&fy_lock);
  return rc;
}

static void registry_del(fy_file *f) {
  pthread_mutex_lock(&fy_lock);
  size_t i = set_find_locked(f);
  if (i != (size_t)-1) {
    fy_set[i] = (fy_file *)1;
    fy_set_n--;
  }
  if (f->fint > FY_FINT_BASE && f->fint < FY_FINT_BASE + FY_FINT_MAX)
    fy_fint_tab[f->fint - FY_FINT_BASE] = NULL;
  pthread_mutex_unlock(&fy_lock);
}

int fy_is_ferry(MPI_File fh) {
  if (fh == MPI_FILE_NULL || !fy_set_n) return 0;
  pthread_mutex_lock(&fy_lock);
  int found = set_find_locked(fh) != (size_t)-1;
  pthread_mutex_unlock(&fy_lock);
  return found;
}

#define FY(fh) ((fy_file *)(void *)(fh))

void *fy_resolve(const char *sym) {
  void *p = dlsym(RTLD_NEXT, sym);
  if (!p) {
    fprintf(stderr,
            "libferry-mpiio: %s not found after this library; link it before the MPI "
            "library or LD_PRELOAD it\n",
            sym);
    abort();
  }
  return p;
}

FY_EXPORT const char *ferry_mpiio_version(void) { return FERRY_VERSION; }

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

static MPI_Errhandler fy_default_eh = MPI_ERRORS_RETURN; /* set on MPI_FILE_NULL */
static int fy_default_eh_set;

/* User error handler functions, recorded at MPI_File_create_errhandler. */
static struct {
  MPI_Errhandler eh;
  MPI_File_errhandler_function *fn;
} fy_ehfns[256];
static int fy_n_ehfns;

static int fy_verbose(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("FERRY_MPIIO_VERBOSE");
    v = e && *e && strcmp(e, "0");
  }
  return v;
}

/* dyn_codes_work: MPI_Add_error_code/MPI_Add_error_string give codes whose
 * MPI_Error_string is the string added. Not so in MPICH 4.0 for the
 * predefined classes (the string is garbage): there errors return the
 * class itself and fail() prints the message instead. */
static int dyn_codes_work = -1;

/* error_code: an error code of class cls whose string is msg, made once per
 * distinct message (MPI_Add_error_code), or cls itself when that fails. */
static int error_code(int cls, const char *msg) {
  if (!dyn_codes_work) return cls;
  static struct {
    int cls, code;
    char *msg;
  } cache[512];
  static int n;
  int code = cls;
  pthread_mutex_lock(&fy_lock);
  for (int i = 0; i < n; i++)
    if (cache[i].cls == cls && !strcmp(cache[i].msg, msg)) {
      code = cache[i].code;
      goto out;
    }
  if (n < (int)(sizeof cache / sizeof cache[0]) && MPI_Add_error_code(cls, &code) == MPI_SUCCESS &&
      MPI_Add_error_string(code, msg) == MPI_SUCCESS) {
    if (dyn_codes_work < 0) {
      char got[MPI_MAX_ERROR_STRING];
      int len = 0;
      got[0] = 0;
      MPI_Error_string(code, got, &len);
      dyn_codes_work = strstr(got, msg) != NULL;
      if (!dyn_codes_work) {
        code = cls;
        goto out;
      }
    }
    cache[n].cls = cls;
    cache[n].code = code;
    cache[n].msg = strdup(msg);
    n++;
  } else {
    code = cls;
  }
out:
  pthread_mutex_unlock(&fy_lock);
  return code;
}

/* raise: pass code through f's error handler (or the default file one). */
static int raise_err(fy_file *f, int code) {
  if (code == MPI_SUCCESS) return code;
  MPI_Errhandler eh = f ? f->eh : fy_default_eh;
  if (eh == MPI_ERRORS_RETURN) return code;
  if (eh == MPI_ERRORS_ARE_FATAL
#ifdef MPI_ERRORS_ABORT
      || eh == MPI_ERRORS_ABORT
#endif
  ) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, s, &len);
    fprintf(stderr, "libferry-mpiio: fatal error on %s: %s\n", f ? f->path : "MPI_FILE_NULL", s);
    MPI_Abort(f ? f->comm : MPI_COMM_WORLD, code);
    return code;
  }
  MPI_File_errhandler_function *fn = NULL;
  pthread_mutex_lock(&fy_lock);
  for (int i = 0; i < fy_n_ehfns; i++)
    if (fy_ehfns[i].eh == eh) fn = fy_ehfns[i].fn;
  pthread_mutex_unlock(&fy_lock);
  if (fn) {
    MPI_File h = f ? (MPI_File)(void *)f : MPI_FILE_NULL;
    int c = code;
    fn(&h, &c);
  }
  return code;
}

/* fail: an error of class cls on f (NULL before open), described by
 * op, path and detail; goes through the error handler. */
static int fail(fy_file *f, int cls, const char *op, const char *path, const char *detail) {
  char msg[MPI_MAX_ERROR_STRING];
  snprintf(msg, sizeof msg, "%s(%s): %s", op, path ? path : (f ? f->path : "?"), detail);
  int code = error_code(cls, msg);
  if (fy_verbose() || (code == cls && cls == MPI_ERR_UNSUPPORTED_OPERATION))
    fprintf(stderr, "libferry-mpiio: %s\n", msg);
  return raise_err(f, code);
}

static int errno_class(int err) {
  switch (err < 0 ? -err : err) {
  case ENOENT: return MPI_ERR_NO_SUCH_FILE;
  case EEXIST: return MPI_ERR_FILE_EXISTS;
  case EACCES:
  case EPERM: return MPI_ERR_ACCESS;
  case EROFS: return MPI_ERR_READ_ONLY;
  case ENOSPC: return MPI_ERR_NO_SPACE;
#ifdef EDQUOT
  case EDQUOT: return MPI_ERR_QUOTA;
#endif
  case EISDIR:
  case ENOTDIR:
  case ENAMETOOLONG: return MPI_ERR_BAD_FILE;
  case EINVAL: return MPI_ERR_ARG;
  case EBUSY:
  case ETXTBSY: return MPI_ERR_FILE_IN_USE;
  default: return MPI_ERR_IO;
  }
}

/* fail_errno: a negative Ferry return as an MPI error. */
static int fail_errno(fy_file *f, int err, const char *op, const char *path) {
  return fail(f, errno_class(err), op, path, ferry_strerror(err));
}

int fy_unsupported(MPI_File fh, const char *fn) {
  char msg[MPI_MAX_ERROR_STRING];
  snprintf(msg, sizeof msg, "%s is not supported on Ferry files by libferry-mpiio", fn);
  int code = error_code(MPI_ERR_UNSUPPORTED_OPERATION, msg);
  if (fy_verbose() || code == MPI_ERR_UNSUPPORTED_OPERATION) fprintf(stderr, "libferry-mpiio: %s\n", msg);
  return raise_err(FY(fh), code);
}

/* ------------------------------------------------------------------------
 * libferry lifetime: ferry_init at the first Ferry open or delete,
 * ferry_finalize at MPI_Finalize (an attribute on MPI_COMM_SELF).
 * ------------------------------------------------------------------------ */

static int fy_inited;

static int fy_finalize_cb(MPI_Comm comm, int keyval, void *attr, void *extra) {
  (void)comm, (void)keyval, (void)attr, (void)extra;
  pthread_mutex_lock(&fy_lock);
  if (fy_inited) ferry_finalize();
  fy_inited = 0;
  pthread_mutex_unlock(&fy_lock);
  return MPI_SUCCESS;
}

static int fy_init(void) {
  int rc = 0;
  pthread_mutex_lock(&fy_lock);
  if (!fy_inited) {
    rc = ferry_init(NULL);
    if (rc == 0) {
      fy_inited = 1;
      int kv;
      if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, fy_finalize_cb, &kv, NULL) == MPI_SUCCESS)
        MPI_Comm_set_attr(MPI_COMM_SELF, kv, NULL);
    }
  }
  pthread_mutex_unlock(&fy_lock);
  return rc;
}

static int is_ferry_name(const char *name) { return name && !strncmp(name, "ferry:", 6); }

/* ------------------------------------------------------------------------
 * Views
 * ------------------------------------------------------------------------ */

static void view_free(fy_file *f) {
  if (f->etype != MPI_DATATYPE_NULL && !type_is_named(f->etype)) MPI_Type_free(&f->etype);
  if (f->filetype != MPI_DATATYPE_NULL && !type_is_named(f->filetype)) MPI_Type_free(&f->filetype);
  free(f->runs.r);
  free(f->pre);
  f->runs = (fy_runs){0};
  f->pre = NULL;
}

static int view_set(fy_file *f, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype ftype) {
  int esize, fsize;
  MPI_Aint lb, ext;
  MPI_Type_size(etype, &esize);
  MPI_Type_size(ftype, &fsize);
  MPI_Type_get_extent(ftype, &lb, &ext);
  if (esize <= 0 || fsize <= 0 || fsize % esize) return MPI_ERR_TYPE;
  fy_runs rs = {0};
  if (flatten(ftype, 0, &rs)) {
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
  view_free(f);
  f->disp = disp;
  if (type_is_named(etype)) f->etype = etype;
  else MPI_Type_dup(etype, &f->etype);
  if (type_is_named(ftype)) f->filetype = ftype;
  else MPI_Type_dup(ftype, &f->filetype);
  f->esize = esize;
  f->ft_size = fsize;
  f->ft_extent = ext;
  f->runs = rs;
  f->pre = pre;
  f->contig = rs.n == 1 && rs.r[0].off == 0 && rs.r[0].len == ext;
  return MPI_SUCCESS;
}

/* view_map: file offset of view byte v and the contiguous bytes there. */
static int64_t view_map(const fy_file *f, int64_t v, int64_t *avail) {
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

/* ------------------------------------------------------------------------
 * Data access core
 * ------------------------------------------------------------------------ */

static void set_status(MPI_Status *st, MPI_Count nbytes) {
  if (st == MPI_STATUS_IGNORE) return;
  MPI_Status_set_elements_x(st, MPI_BYTE, nbytes);
  MPI_Status_set_cancelled(st, 0);
  st->MPI_SOURCE = MPI_UNDEFINED;
  st->MPI_TAG = MPI_UNDEFINED;
  st->MPI_ERROR = MPI_SUCCESS;
}

/* mem_contig: a memory datatype whose count elements are one plain byte
 * range starting at buf. */
static int mem_contig(MPI_Datatype dt) {
  int size;
  MPI_Aint lb, ext, tlb, text;
  MPI_Type_size(dt, &size);
  MPI_Type_get_extent(dt, &lb, &ext);
  MPI_Type_get_true_extent(dt, &tlb, &text);
  if (size != ext || lb != 0 || tlb != 0 || text != ext) return 0;
  if (type_is_named(dt)) return 1;
  fy_runs rs = {0};
  int ok = !flatten(dt, 0, &rs) && rs.n == 1 && rs.r[0].off == 0 && rs.r[0].len == size;
  free(rs.r);
  return ok;
}

/* view_io moves n bytes between the plain buffer p and the view at view
 * byte v. Returns the bytes moved (fewer at end of file on reads) or a
 * negative Ferry error. */
static int64_t view_io(fy_file *f, int wr, char *p, int64_t n, int64_t v) {
  int64_t done = 0;
  while (done < n) {
    int64_t avail, off = view_map(f, v + done, &avail);
    /* merge runs that are contiguous in the file */
    while (avail < n - done && !f->contig) {
      int64_t a2, o2 = view_map(f, v + done + avail, &a2);
      if (o2 != off + avail) break;
      avail += a2;
    }
    int64_t len = n - done < avail ? n - done : avail;
    ssize_t r = wr ? ferry_pwrite(f->fd, p + done, (size_t)len, off)
                   : ferry_pread(f->fd, p + done, (size_t)len, off);
    if (r < 0) return r;
    done += r;
    if (r < len) break; /* end of file */
  }
  return done;
}

enum { POS_EXPLICIT, POS_INDIVIDUAL, POS_SHARED };

/* data_io: the one path of every read and write. off is in etypes for
 * POS_EXPLICIT. Returns an MPI error code (already through the error
 * handler) and the bytes moved in *moved. */
static int data_io(fy_file *f, const char *op, int wr, int how, MPI_Offset off, void *buf,
                   MPI_Count count, MPI_Datatype dt, MPI_Count *moved) {
  *moved = 0;
  int acc = f->amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR);
  if (wr && acc == MPI_MODE_RDONLY) return fail(f, MPI_ERR_READ_ONLY, op, NULL, "file opened MPI_MODE_RDONLY");
  if (!wr && acc == MPI_MODE_WRONLY) return fail(f, MPI_ERR_ACCESS, op, NULL, "file opened MPI_MODE_WRONLY");
  if (count < 0) return fail(f, MPI_ERR_COUNT, op, NULL, "negative count");
  if (dt == MPI_DATATYPE_NULL) return fail(f, MPI_ERR_TYPE, op, NULL, "MPI_DATATYPE_NULL");
  if (how == POS_EXPLICIT && off < 0) return fail(f, MPI_ERR_ARG, op, NULL, "negative offset");
  if (how == POS_EXPLICIT && (f->amode & MPI_MODE_SEQUENTIAL))
    return fail(f, MPI_ERR_UNSUPPORTED_OPERATION, op, NULL, "explicit offsets on a MPI_MODE_SEQUENTIAL file");
  int tsize;
  MPI_Type_size(dt, &tsize);
  int64_t nbytes = (int64_t)count * tsize;
  if (nbytes % f->esize) return fail(f, MPI_ERR_TYPE, op, NULL, "data is not a whole number of etypes");
  int64_t start;
  if (how == POS_EXPLICIT) {
    start = off;
  } else if (how == POS_INDIVIDUAL) {
    start = f->pos;
  } else {
    int64_t old;
    int r = ferry_fetch_add(f->fd, nbytes / f->esize, &old);
    if (r < 0) return fail_errno(f, r, op, NULL);
    start = old;
  }
  if (nbytes == 0) return MPI_SUCCESS;
  char *p, *stage = NULL;
  int contig = mem_contig(dt);
  if (contig) {
    p = buf;
  } else {
    stage = malloc((size_t)nbytes);
    if (!stage) return fail(f, MPI_ERR_NO_MEM, op, NULL, "staging buffer");
    if (wr) {
      int pos = 0;
      MPI_Pack(buf, (int)count, dt, stage, (int)nbytes, &pos, MPI_COMM_SELF);
    }
    p = stage;
  }
  int64_t r = view_io(f, wr, p, nbytes, start * f->esize);
  if (r > 0 && !contig && !wr) {
    int pos = 0;
    MPI_Unpack(stage, (int)r, &pos, buf, (int)(r / tsize), dt, MPI_COMM_SELF);
  }
  free(stage);
  if (r < 0) return fail_errno(f, (int)r, op, NULL);
  if (how == POS_INDIVIDUAL) f->pos += r / f->esize;
  *moved = r;
  return MPI_SUCCESS;
}

/* ------------------------------------------------------------------------
 * Open, close, delete
 * ------------------------------------------------------------------------ */

static int64_t info_int(MPI_Info info, const char *key) {
  if (info == MPI_INFO_NULL) return 0;
  char v[64];
  int flag = 0;
  MPI_Info_get(info, key, (int)sizeof v - 1, v, &flag);
  return flag ? strtoll(v, NULL, 10) : 0;
}

int fy_all_File_open(MPI_Comm comm, const char *filename, int amode, MPI_Info info, MPI_File *fh) {
  if (!is_ferry_name(filename)) return fy_pmpi_File_open(comm, filename, amode, info, fh);
  const char *op = "MPI_File_open";
  int rank, np;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &np);
  int acc = amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR);
  if ((acc != MPI_MODE_RDONLY && acc != MPI_MODE_WRONLY && acc != MPI_MODE_RDWR) ||
      (acc == MPI_MODE_RDONLY && (amode & (MPI_MODE_CREATE | MPI_MODE_EXCL))) ||
      (acc == MPI_MODE_RDWR && (amode & MPI_MODE_SEQUENTIAL)))
    return fail(NULL, MPI_ERR_AMODE, op, filename, "invalid access mode");
  int rc = fy_init();
  if (rc < 0) return fail(NULL, MPI_ERR_IO, op, filename, "cannot mount Ferry (FERRY_CONFIG?)");

  int flags = acc == MPI_MODE_RDONLY ? O_RDONLY : acc == MPI_MODE_WRONLY ? O_WRONLY : O_RDWR;
  struct ferry_layout lay = {0};
  lay.strip_size = info_int(info, "striping_unit");
  lay.server_count = (int32_t)info_int(info, "striping_factor");
  if (lay.strip_size < 0) lay.strip_size = 0;
  if (lay.server_count < 0) lay.server_count = 0;
  /* rank 0 creates (with the layout hints); the others open after it. */
  int fd = -1;
  if (rank == 0) {
    int f0 = flags | (amode & MPI_MODE_CREATE ? O_CREAT : 0) | (amode & MPI_MODE_EXCL ? O_EXCL : 0);
    fd = ferry_open_layout(filename, f0, 0644, (f0 & O_CREAT) ? &lay : NULL);
    if (fd == -EINVAL && (f0 & O_CREAT) && (lay.strip_size || lay.server_count))
      fd = ferry_open(filename, f0, 0644); /* hints the servers cannot honour */
  }
  int r0 = fd < 0 ? fd : 0;
  MPI_Bcast(&r0, 1, MPI_INT, 0, comm);
  if (r0 < 0) return fail_errno(NULL, r0, op, filename);
  if (rank != 0) fd = ferry_open(filename, flags, 0644);
  int mine = fd < 0 ? fd : 0, worst;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MIN, comm);
  if (worst < 0) {
    if (fd >= 0) ferry_close(fd);
    return fail_errno(NULL, worst, op, filename);
  }
  fy_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(filename))) {
    free(f);
    ferry_close(fd);
    return fail(NULL, MPI_ERR_NO_MEM, op, filename, "out of memory");
  }
  f->magic = FY_MAGIC;
  f->fd = fd;
  f->amode = amode;
  f->eh = fy_default_eh;
  f->etype = f->filetype = MPI_DATATYPE_NULL;
  MPI_Comm_dup(comm, &f->comm);
  f->rank = rank;
  f->nprocs = np;
  if (info != MPI_INFO_NULL) MPI_Info_dup(info, &f->info);
  else f->info = MPI_INFO_NULL;
  view_set(f, 0, MPI_BYTE, MPI_BYTE);
  int64_t size = 0;
  if (amode & MPI_MODE_APPEND) ferry_get_size(fd, &size);
  f->pos = size;
  if (rank == 0) ferry_set_counter(fd, size, NULL);
  MPI_Barrier(f->comm);
  if (registry_add(f)) {
    ferry_close(fd);
    MPI_Comm_free(&f->comm);
    free(f->path);
    free(f);
    return fail(NULL, MPI_ERR_NO_MEM, op, filename, "too many open files");
  }
  *fh = (MPI_File)(void *)f;
  return MPI_SUCCESS;
}

int fy_File_close(MPI_File *fh) {
  fy_file *f = FY(*fh);
  MPI_Barrier(f->comm);
  int r = ferry_close(f->fd), rc = MPI_SUCCESS;
  if (f->amode & MPI_MODE_DELETE_ON_CLOSE) {
    MPI_Barrier(f->comm);
    if (f->rank == 0) {
      int u = ferry_unlink(f->path);
      if (u < 0 && r >= 0) r = u;
    }
  }
  registry_del(f);
  if (r < 0) rc = fail_errno(f, r, "MPI_File_close", NULL);
  view_free(f);
  MPI_Comm_free(&f->comm);
  if (f->info != MPI_INFO_NULL) MPI_Info_free(&f->info);
  free(f->path);
  f->magic = 0;
  free(f);
  *fh = MPI_FILE_NULL;
  return rc;
}

int fy_all_File_delete(const char *filename, MPI_Info info) {
  if (!is_ferry_name(filename)) return fy_pmpi_File_delete(filename, info);
  int r = fy_init();
  if (r < 0) return fail(NULL, MPI_ERR_IO, "MPI_File_delete", filename, "cannot mount Ferry (FERRY_CONFIG?)");
  r = ferry_unlink(filename);
  return r < 0 ? fail_errno(NULL, r, "MPI_File_delete", filename) : MPI_SUCCESS;
}

/* ------------------------------------------------------------------------
 * Size, sync, modes, info, groups
 * ------------------------------------------------------------------------ */

static int resize(fy_file *f, MPI_Offset size, int grow_only, const char *op) {
  if (size < 0) return fail(f, MPI_ERR_ARG, op, NULL, "negative size");
  if ((f->amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR)) == MPI_MODE_RDONLY)
    return fail(f, MPI_ERR_READ_ONLY, op, NULL, "file opened MPI_MODE_RDONLY");
  int r = 0;
  if (f->rank == 0) {
    int64_t cur = 0;
    if (grow_only) r = ferry_get_size(f->fd, &cur);
    if (r == 0 && (!grow_only || cur < size)) r = ferry_ftruncate(f->fd, size);
  }
  MPI_Bcast(&r, 1, MPI_INT, 0, f->comm);
  return r < 0 ? fail_errno(f, r, op, NULL) : MPI_SUCCESS;
}

int fy_File_set_size(MPI_File fh, MPI_Offset size) { return resize(FY(fh), size, 0, "MPI_File_set_size"); }
int fy_File_preallocate(MPI_File fh, MPI_Offset size) { return resize(FY(fh), size, 1, "MPI_File_preallocate"); }

int fy_File_get_size(MPI_File fh, MPI_Offset *size) {
  int64_t s;
  int r = ferry_get_size(FY(fh)->fd, &s);
  if (r < 0) return fail_errno(FY(fh), r, "MPI_File_get_size", NULL);
  *size = s;
  return MPI_SUCCESS;
}

int fy_File_sync(MPI_File fh) {
  fy_file *f = FY(fh);
  int r = ferry_fsync(f->fd);
  MPI_Barrier(f->comm);
  return r < 0 ? fail_errno(f, r, "MPI_File_sync", NULL) : MPI_SUCCESS;
}

int fy_File_get_amode(MPI_File fh, int *amode) {
  *amode = FY(fh)->amode;
  return MPI_SUCCESS;
}

int fy_File_get_group(MPI_File fh, MPI_Group *group) { return MPI_Comm_group(FY(fh)->comm, group); }

int fy_File_set_info(MPI_File fh, MPI_Info info) {
  fy_file *f = FY(fh);
  if (info == MPI_INFO_NULL) return MPI_SUCCESS;
  if (f->info == MPI_INFO_NULL) return MPI_Info_dup(info, &f->info);
  int n;
  MPI_Info_get_nkeys(info, &n);
  for (int i = 0; i < n; i++) {
    char k[MPI_MAX_INFO_KEY + 1], v[1024];
    int flag;
    MPI_Info_get_nthkey(info, i, k);
    MPI_Info_get(info, k, (int)sizeof v - 1, v, &flag);
    if (flag) MPI_Info_set(f->info, k, v);
  }
  return MPI_SUCCESS;
}

int fy_File_get_info(MPI_File fh, MPI_Info *info_used) {
  fy_file *f = FY(fh);
  if (f->info != MPI_INFO_NULL) MPI_Info_dup(f->info, info_used);
  else MPI_Info_create(info_used);
  struct ferry_stat st;
  if (ferry_fstat(f->fd, &st) == 0) {
    char v[32];
    snprintf(v, sizeof v, "%d", (int)st.server_count);
    MPI_Info_set(*info_used, "striping_factor", v);
    snprintf(v, sizeof v, "%lld", (long long)st.strip_size);
    MPI_Info_set(*info_used, "striping_unit", v);
  }
  MPI_Info_set(*info_used, "ferry_path", f->path); /* tells a program it runs on Ferry */
  MPI_Info_set(*info_used, "romio_cb_read", "disable"); /* no two-phase I/O yet */
  MPI_Info_set(*info_used, "romio_cb_write", "disable");
  return MPI_SUCCESS;
}

int fy_File_set_atomicity(MPI_File fh, int flag) {
  FY(fh)->atomic = !!flag; /* every Ferry write is visible when it returns */
  MPI_Barrier(FY(fh)->comm);
  return MPI_SUCCESS;
}

int fy_File_get_atomicity(MPI_File fh, int *flag) {
  *flag = FY(fh)->atomic;
  return MPI_SUCCESS;
}

/* ------------------------------------------------------------------------
 * Views and positions
 * ------------------------------------------------------------------------ */

int fy_File_set_view(MPI_File fh, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype filetype,
                     const char *datarep, MPI_Info info) {
  fy_file *f = FY(fh);
  const char *op = "MPI_File_set_view";
  if (!datarep || strcmp(datarep, "native"))
    return fail(f, MPI_ERR_UNSUPPORTED_DATAREP, op, NULL, "only the \"native\" data representation");
  if (disp < 0) return fail(f, MPI_ERR_ARG, op, NULL, "negative or MPI_DISPLACEMENT_CURRENT displacement");
  if (etype == MPI_DATATYPE_NULL || filetype == MPI_DATATYPE_NULL)
    return fail(f, MPI_ERR_TYPE, op, NULL, "MPI_DATATYPE_NULL");
  int rc = view_set(f, disp, etype, filetype);
  if (rc) return fail(f, rc, op, NULL, "filetype is not a whole number of etypes (or is empty)");
  f->pos = 0;
  if (info != MPI_INFO_NULL) fy_File_set_info(fh, info);
  if (f->rank == 0) ferry_set_counter(f->fd, 0, NULL);
  MPI_Barrier(f->comm);
  return MPI_SUCCESS;
}

int fy_File_get_view(MPI_File fh, MPI_Offset *disp, MPI_Datatype *etype, MPI_Datatype *filetype, char *datarep) {
  fy_file *f = FY(fh);
  *disp = f->disp;
  if (type_is_named(f->etype)) *etype = f->etype;
  else MPI_Type_dup(f->etype, etype);
  if (type_is_named(f->filetype)) *filetype = f->filetype;
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
    if (r < 0) return fail_errno(f, r, op, NULL);
    base = view_bytes_below(f, s) / f->esize;
  } else return fail(f, MPI_ERR_ARG, op, NULL, "unknown whence");
  if (base + offset < 0) return fail(f, MPI_ERR_ARG, op, NULL, "position would be negative");
  *out = base + offset;
  return MPI_SUCCESS;
}

int fy_File_seek(MPI_File fh, MPI_Offset offset, int whence) {
  fy_file *f = FY(fh);
  MPI_Offset p;
  int rc = seek_target(f, f->pos, offset, whence, &p, "MPI_File_seek");
  if (rc == MPI_SUCCESS) f->pos = p;
  return rc;
}

int fy_File_get_position(MPI_File fh, MPI_Offset *offset) {
  *offset = FY(fh)->pos;
  return MPI_SUCCESS;
}

int fy_File_get_byte_offset(MPI_File fh, MPI_Offset offset, MPI_Offset *disp) {
  fy_file *f = FY(fh);
  if (offset < 0) return fail(f, MPI_ERR_ARG, "MPI_File_get_byte_offset", NULL, "negative offset");
  int64_t avail;
  *disp = view_map(f, offset * f->esize, &avail);
  return MPI_SUCCESS;
}

int fy_File_get_type_extent(MPI_File fh, MPI_Datatype datatype, MPI_Aint *extent) {
  (void)fh;
  MPI_Aint lb;
  return MPI_Type_get_extent(datatype, &lb, extent);
}

int fy_File_seek_shared(MPI_File fh, MPI_Offset offset, int whence) {
  fy_file *f = FY(fh);
  int rc = MPI_SUCCESS;
  /* collective: shared-pointer accesses every rank made before it are done */
  MPI_Barrier(f->comm);
  if (f->rank == 0) {
    int64_t cur = 0;
    int r = ferry_fetch_add(f->fd, 0, &cur);
    MPI_Offset p = 0;
    if (r < 0) rc = fail_errno(f, r, "MPI_File_seek_shared", NULL);
    else rc = seek_target(f, cur, offset, whence, &p, "MPI_File_seek_shared");
    if (rc == MPI_SUCCESS && (r = ferry_set_counter(f->fd, p, NULL)) < 0)
      rc = fail_errno(f, r, "MPI_File_seek_shared", NULL);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, f->comm);
  return rc;
}

int fy_File_get_position_shared(MPI_File fh, MPI_Offset *offset) {
  int64_t cur;
  int r = ferry_fetch_add(FY(fh)->fd, 0, &cur);
  if (r < 0) return fail_errno(FY(fh), r, "MPI_File_get_position_shared", NULL);
  *offset = cur;
  return MPI_SUCCESS;
}

/* ------------------------------------------------------------------------
 * Data access functions. Each exists with int count and, in MPI-4
 * libraries, MPI_Count count (the _c variants); both call these.
 * ------------------------------------------------------------------------ */

static int do_rw(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                 MPI_Count count, MPI_Datatype dt, MPI_Status *st, int coll) {
  fy_file *f = FY(fh);
  MPI_Count moved = 0;
  int rc = data_io(f, op, wr, how, off, (void *)buf, count, dt, &moved);
  if (coll && wr) MPI_Barrier(f->comm);
  if (rc == MPI_SUCCESS) set_status(st, moved);
  return rc;
}

/* ordered: collective shared-pointer access in rank order. */
static int do_ordered(MPI_File fh, const char *op, int wr, const void *buf, MPI_Count count,
                      MPI_Datatype dt, MPI_Status *st) {
  fy_file *f = FY(fh);
  int tsize;
  MPI_Type_size(dt, &tsize);
  long long mine = (long long)count * tsize / f->esize, before = 0, total = 0;
  MPI_Exscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM, f->comm);
  if (f->rank == 0) before = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, f->comm);
  long long base[2] = {0, 0}; /* value, error */
  if (f->rank == 0) {
    int64_t old = 0;
    int r = ferry_fetch_add(f->fd, total, &old);
    base[0] = old;
    base[1] = r;
  }
  MPI_Bcast(base, 2, MPI_LONG_LONG, 0, f->comm);
  if (base[1] < 0) return fail_errno(f, (int)base[1], op, NULL);
  return do_rw(fh, op, wr, POS_EXPLICIT, base[0] + before, buf, count, dt, st, wr);
}

/* Nonblocking: the access is done at start; the request is a generalized
 * request completed before it is returned. */
static int greq_query(void *extra, MPI_Status *st) {
  set_status(st, *(MPI_Count *)extra);
  return MPI_SUCCESS;
}
static int greq_free(void *extra) {
  free(extra);
  return MPI_SUCCESS;
}
static int greq_cancel(void *extra, int complete) {
  (void)extra, (void)complete;
  return MPI_SUCCESS;
}

static int do_irw(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                  MPI_Count count, MPI_Datatype dt, MPI_Request *req, int coll) {
  fy_file *f = FY(fh);
  MPI_Count *moved = malloc(sizeof *moved);
  if (!moved) return fail(f, MPI_ERR_NO_MEM, op, NULL, "out of memory");
  int rc = data_io(f, op, wr, how, off, (void *)buf, count, dt, moved);
  if (coll && wr) MPI_Barrier(f->comm);
  if (rc != MPI_SUCCESS) {
    free(moved);
    *req = MPI_REQUEST_NULL;
    return rc;
  }
  MPI_Grequest_start(greq_query, greq_free, greq_cancel, moved, req);
  MPI_Grequest_complete(*req);
  return MPI_SUCCESS;
}

static int split_begin(MPI_File fh, const char *op, int wr, int how, MPI_Offset off, const void *buf,
                       MPI_Count count, MPI_Datatype dt) {
  fy_file *f = FY(fh);
  if (f->split_active) return fail(f, MPI_ERR_OTHER, op, NULL, "a split collective is already active");
  f->split_active = 1;
  f->split_bytes = 0;
  f->split_rc = data_io(f, op, wr, how, off, (void *)buf, count, dt, &f->split_bytes);
  if (wr) MPI_Barrier(f->comm);
  return f->split_rc;
}

static int split_end(MPI_File fh, const char *op, MPI_Status *st) {
  fy_file *f = FY(fh);
  if (!f->split_active) return fail(f, MPI_ERR_OTHER, op, NULL, "no split collective is active");
  f->split_active = 0;
  if (f->split_rc == MPI_SUCCESS) set_status(st, f->split_bytes);
  return f->split_rc;
}

static int ordered_begin(MPI_File fh, const char *op, int wr, const void *buf, MPI_Count count,
                         MPI_Datatype dt) {
  fy_file *f = FY(fh);
  if (f->split_active) return fail(f, MPI_ERR_OTHER, op, NULL, "a split collective is already active");
  MPI_Status st;
  f->split_active = 1;
  f->split_rc = do_ordered(fh, op, wr, buf, count, dt, &st);
  MPI_Count n = 0;
  if (f->split_rc == MPI_SUCCESS) MPI_Get_elements_x(&st, MPI_BYTE, &n);
  f->split_bytes = n;
  return f->split_rc;
}

/* CT: the count type; S: the name suffix ("" or "_c"). */
#define FY_DATA_FUNCS(CT, S)                                                                         \
  int fy_File_read_at##S(MPI_File fh, MPI_Offset offset, void *buf, CT count, MPI_Datatype datatype, \
                         MPI_Status *status) {                                                       \
    return do_rw(fh, "MPI_File_read_at" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, status, 0); \
  }                                                                                                  \
  int fy_File_read_at_all##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,                    \
                             MPI_Datatype datatype, MPI_Status *status) {                            \
    return do_rw(fh, "MPI_File_read_at_all" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, status, 1); \
  }                                                                                                  \
  int fy_File_write_at##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                 \
                          MPI_Datatype datatype, MPI_Status *status) {                               \
    return do_rw(fh, "MPI_File_write_at" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, status, 0); \
  }                                                                                                  \
  int fy_File_write_at_all##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,             \
                              MPI_Datatype datatype, MPI_Status *status) {                           \
    return do_rw(fh, "MPI_File_write_at_all" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, status, 1); \
  }                                                                                                  \
  int fy_File_read##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Status *status) { \
    return do_rw(fh, "MPI_File_read" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, status, 0);     \
  }                                                                                                  \
  int fy_File_read_all##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Status *status) { \
    return do_rw(fh, "MPI_File_read_all" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, status, 1); \
  }                                                                                                  \
  int fy_File_write##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,               \
                       MPI_Status *status) {                                                         \
    return do_rw(fh, "MPI_File_write" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, status, 0);    \
  }                                                                                                  \
  int fy_File_write_all##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,           \
                           MPI_Status *status) {                                                     \
    return do_rw(fh, "MPI_File_write_all" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, status, 1); \
  }                                                                                                  \
  int fy_File_read_shared##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,               \
                             MPI_Status *status) {                                                   \
    return do_rw(fh, "MPI_File_read_shared" #S, 0, POS_SHARED, 0, buf, count, datatype, status, 0);  \
  }                                                                                                  \
  int fy_File_write_shared##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,        \
                              MPI_Status *status) {                                                  \
    return do_rw(fh, "MPI_File_write_shared" #S, 1, POS_SHARED, 0, buf, count, datatype, status, 0); \
  }                                                                                                  \
  int fy_File_read_ordered##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,              \
                              MPI_Status *status) {                                                  \
    return do_ordered(fh, "MPI_File_read_ordered" #S, 0, buf, count, datatype, status);              \
  }                                                                                                  \
  int fy_File_write_ordered##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,       \
                               MPI_Status *status) {                                                 \
    return do_ordered(fh, "MPI_File_write_ordered" #S, 1, buf, count, datatype, status);             \
  }                                                                                                  \
  int fy_File_iread_at##S(MPI_File fh, MPI_Offset offset, void *buf, CT count, MPI_Datatype datatype, \
                          MPI_Request *request) {                                                    \
    return do_irw(fh, "MPI_File_iread_at" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, request, 0); \
  }                                                                                                  \
  int fy_File_iwrite_at##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,                \
                           MPI_Datatype datatype, MPI_Request *request) {                            \
    return do_irw(fh, "MPI_File_iwrite_at" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, request, 0); \
  }                                                                                                  \
  int fy_File_iread_at_all##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,                   \
                              MPI_Datatype datatype, MPI_Request *request) {                         \
    return do_irw(fh, "MPI_File_iread_at_all" #S, 0, POS_EXPLICIT, offset, buf, count, datatype, request, 1); \
  }                                                                                                  \
  int fy_File_iwrite_at_all##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,            \
                               MPI_Datatype datatype, MPI_Request *request) {                        \
    return do_irw(fh, "MPI_File_iwrite_at_all" #S, 1, POS_EXPLICIT, offset, buf, count, datatype, request, 1); \
  }                                                                                                  \
  int fy_File_iread##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype, MPI_Request *request) { \
    return do_irw(fh, "MPI_File_iread" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, request, 0);  \
  }                                                                                                  \
  int fy_File_iwrite##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,              \
                        MPI_Request *request) {                                                      \
    return do_irw(fh, "MPI_File_iwrite" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, request, 0); \
  }                                                                                                  \
  int fy_File_iread_all##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,                 \
                           MPI_Request *request) {                                                   \
    return do_irw(fh, "MPI_File_iread_all" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype, request, 1); \
  }                                                                                                  \
  int fy_File_iwrite_all##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,          \
                            MPI_Request *request) {                                                  \
    return do_irw(fh, "MPI_File_iwrite_all" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype, request, 1); \
  }                                                                                                  \
  int fy_File_iread_shared##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype,              \
                              MPI_Request *request) {                                                \
    return do_irw(fh, "MPI_File_iread_shared" #S, 0, POS_SHARED, 0, buf, count, datatype, request, 0); \
  }                                                                                                  \
  int fy_File_iwrite_shared##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype,       \
                               MPI_Request *request) {                                               \
    return do_irw(fh, "MPI_File_iwrite_shared" #S, 1, POS_SHARED, 0, buf, count, datatype, request, 0); \
  }                                                                                                  \
  int fy_File_read_at_all_begin##S(MPI_File fh, MPI_Offset offset, void *buf, CT count,              \
                                   MPI_Datatype datatype) {                                          \
    return split_begin(fh, "MPI_File_read_at_all_begin" #S, 0, POS_EXPLICIT, offset, buf, count, datatype); \
  }                                                                                                  \
  int fy_File_write_at_all_begin##S(MPI_File fh, MPI_Offset offset, const void *buf, CT count,       \
                                    MPI_Datatype datatype) {                                         \
    return split_begin(fh, "MPI_File_write_at_all_begin" #S, 1, POS_EXPLICIT, offset, buf, count, datatype); \
  }                                                                                                  \
  int fy_File_read_all_begin##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype) {          \
    return split_begin(fh, "MPI_File_read_all_begin" #S, 0, POS_INDIVIDUAL, 0, buf, count, datatype); \
  }                                                                                                  \
  int fy_File_write_all_begin##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype) {   \
    return split_begin(fh, "MPI_File_write_all_begin" #S, 1, POS_INDIVIDUAL, 0, buf, count, datatype); \
  }                                                                                                  \
  int fy_File_read_ordered_begin##S(MPI_File fh, void *buf, CT count, MPI_Datatype datatype) {      \
    return ordered_begin(fh, "MPI_File_read_ordered_begin" #S, 0, buf, count, datatype);             \
  }                                                                                                  \
  int fy_File_write_ordered_begin##S(MPI_File fh, const void *buf, CT count, MPI_Datatype datatype) { \
    return ordered_begin(fh, "MPI_File_write_ordered_begin" #S, 1, buf, count, datatype);            \
  }

FY_DATA_FUNCS(int, )
#if FY_HAVE_LARGE_COUNT
FY_DATA_FUNCS(MPI_Count, _c)

int fy_File_get_type_extent_c(MPI_File fh, MPI_Datatype datatype, MPI_Count *extent) {
  (void)fh;
  MPI_Count lb;
  return MPI_Type_get_extent_x(datatype, &lb, extent);
}
#endif

int fy_File_read_at_all_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_at_all_end", status);
}
int fy_File_write_at_all_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_at_all_end", status);
}
int fy_File_read_all_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_all_end", status);
}
int fy_File_write_all_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_all_end", status);
}
int fy_File_read_ordered_end(MPI_File fh, void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_read_ordered_end", status);
}
int fy_File_write_ordered_end(MPI_File fh, const void *buf, MPI_Status *status) {
  (void)buf;
  return split_end(fh, "MPI_File_write_ordered_end", status);
}

/* ------------------------------------------------------------------------
 * Error handlers and Fortran handles
 * ------------------------------------------------------------------------ */

int fy_all_File_create_errhandler(MPI_File_errhandler_function *fn, MPI_Errhandler *errhandler) {
  int rc = fy_pmpi_File_create_errhandler(fn, errhandler);
  if (rc == MPI_SUCCESS) {
    pthread_mutex_lock(&fy_lock);
    if (fy_n_ehfns < (int)(sizeof fy_ehfns / sizeof fy_ehfns[0])) {
      fy_ehfns[fy_n_ehfns].eh = *errhandler;
      fy_ehfns[fy_n_ehfns].fn = fn;
      fy_n_ehfns++;
    }
    pthread_mutex_unlock(&fy_lock);
  }
  return rc;
}

int fy_all_File_set_errhandler(MPI_File file, MPI_Errhandler errhandler) {
  if (fy_is_ferry(file)) {
    FY(file)->eh = errhandler;
    return MPI_SUCCESS;
  }
  int rc = fy_pmpi_File_set_errhandler(file, errhandler);
  if (rc == MPI_SUCCESS && file == MPI_FILE_NULL) {
    fy_default_eh = errhandler;
    fy_default_eh_set = 1;
  }
  return rc;
}

int fy_File_get_errhandler(MPI_File file, MPI_Errhandler *errhandler) {
  *errhandler = FY(file)->eh;
  return MPI_SUCCESS;
}

int fy_File_call_errhandler(MPI_File fh, int errorcode) {
  raise_err(FY(fh), errorcode);
  return MPI_SUCCESS;
}

MPI_Fint fy_File_c2f(MPI_File file) { return FY(file)->fint; }

MPI_File fy_all_File_f2c(MPI_Fint file) {
  if (file > FY_FINT_BASE && file < FY_FINT_BASE + FY_FINT_MAX) {
    pthread_mutex_lock(&fy_lock);
    fy_file *f = fy_fint_tab[file - FY_FINT_BASE];
    pthread_mutex_unlock(&fy_lock);
    if (f) return (MPI_File)(void *)f;
  }
  return fy_pmpi_File_f2c(file);
}
