/*
 * file.c - a Ferry file's life: libferry's lifetime, open (rank 0
 * creates with the layout hints, the others open after it), close,
 * delete; sizes, sync, access modes, info, atomicity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

/* ---- libferry's lifetime: ferry_init at the first Ferry open or delete,
 * ferry_finalize at MPI_Finalize (an attribute on MPI_COMM_SELF). ---- */

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
/* ---- open, close, delete ---------------------------------------------- */

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
    return fy_fail(NULL, MPI_ERR_AMODE, op, filename, "invalid access mode");
  int rc = fy_init();
  if (rc < 0) return fy_fail(NULL, MPI_ERR_IO, op, filename, "cannot mount Ferry (FERRY_CONFIG?)");

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
  if (r0 < 0) return fy_fail_errno(NULL, r0, op, filename);
  if (rank != 0) fd = ferry_open(filename, flags, 0644);
  int mine = fd < 0 ? fd : 0, worst;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MIN, comm);
  if (worst < 0) {
    if (fd >= 0) ferry_close(fd);
    return fy_fail_errno(NULL, worst, op, filename);
  }
  /* The shared file pointer is this open's own counter: another open of
   * the file (other ranks, or these with MPI_COMM_SELF) has its own, as
   * ROMIO's per-open hidden file gives. It starts at the end with
   * MPI_MODE_APPEND, else at 0. */
  int64_t size = 0;
  if (amode & MPI_MODE_APPEND) ferry_get_size(fd, &size);
  int64_t made[2] = {0, 0}; /* rc, id */
  if (rank == 0) {
    uint64_t id = 0;
    made[0] = ferry_counter_new(fd, size, &id);
    made[1] = (int64_t)id;
  }
  MPI_Bcast(made, 2, MPI_INT64_T, 0, comm);
  if (made[0] < 0) {
    ferry_close(fd);
    return fy_fail_errno(NULL, (int)made[0], op, filename);
  }
  fy_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(filename))) {
    free(f);
    ferry_close(fd);
    return fy_fail(NULL, MPI_ERR_NO_MEM, op, filename, "out of memory");
  }
  f->magic = FY_MAGIC;
  pthread_mutex_init(&f->scratch_mu, NULL);
  f->fd = fd;
  f->amode = amode;
  f->eh = fy_default_errhandler();
  f->etype = f->filetype = MPI_DATATYPE_NULL;
  MPI_Comm_dup(comm, &f->comm);
  /* errors of the library's own collectives come back as codes */
  MPI_Comm_set_errhandler(f->comm, MPI_ERRORS_RETURN);
  f->lock_win = MPI_WIN_NULL;
  f->rank = rank;
  f->nprocs = np;
  if (info != MPI_INFO_NULL) MPI_Info_dup(info, &f->info);
  else f->info = MPI_INFO_NULL;
  fy_view_set(f, 0, MPI_BYTE, MPI_BYTE);
  f->pos = size;
  f->shfp = (uint64_t)made[1];
  struct ferry_stat st;
  if (ferry_fstat(fd, &st) == 0) {
    f->h.strip_size = st.strip_size;
    f->h.server_count = st.server_count;
  }
  int hr = fy_hints_apply(f), hall; /* collective; ends with the ranks in step */
  MPI_Allreduce(&hr, &hall, 1, MPI_INT, MPI_MIN, f->comm);
  if (hall < 0 || fy_registry_add(f)) {
    if (rank == 0) ferry_counter_free(fd, f->shfp);
    fy_lock_free(f);
    fy_hints_free(f);
    ferry_close(fd);
    MPI_Comm_free(&f->comm);
    free(f->path);
    free(f);
    return fy_fail(NULL, MPI_ERR_NO_MEM, op, filename, "too many open files");
  }
  /* the handler set on MPI_FILE_NULL, with a reference the library
   * counts, as its own files take one (the program may set another
   * there and free this one while the file lives) */
  MPI_Errhandler eh;
  if (fy_pmpi_File_get_errhandler(MPI_FILE_NULL, &eh) == MPI_SUCCESS) f->eh = eh;
  else fy_eh_hold(f->eh);
  *fh = (MPI_File)(void *)f;
  return MPI_SUCCESS;
}

int fy_File_close(MPI_File *fh) {
  fy_file *f = FY(*fh);
  MPI_Barrier(f->comm);
  /* every rank is done with the shared file pointer; a counter that
   * cannot be freed now goes with the file */
  if (f->rank == 0) ferry_counter_free(f->fd, f->shfp);
  int r = ferry_close(f->fd), rc = MPI_SUCCESS;
  if (f->amode & MPI_MODE_DELETE_ON_CLOSE) {
    MPI_Barrier(f->comm);
    if (f->rank == 0) {
      int u = ferry_unlink(f->path);
      if (u < 0 && r >= 0) r = u;
    }
  }
  fy_registry_del(f);
  if (r < 0) rc = fy_fail_errno(f, r, "MPI_File_close", NULL);
  fy_lock_free(f);
  fy_hints_free(f);
  fy_view_free(f);
  fy_scratch_free(f);
  MPI_Comm_free(&f->comm);
  if (f->info != MPI_INFO_NULL) MPI_Info_free(&f->info);
  free(f->path);
  fy_eh_release(f->eh);
  f->magic = 0;
  free(f);
  *fh = MPI_FILE_NULL;
  return rc;
}

int fy_all_File_delete(const char *filename, MPI_Info info) {
  if (!is_ferry_name(filename)) return fy_pmpi_File_delete(filename, info);
  int r = fy_init();
  if (r < 0) return fy_fail(NULL, MPI_ERR_IO, "MPI_File_delete", filename, "cannot mount Ferry (FERRY_CONFIG?)");
  r = ferry_unlink(filename);
  return r < 0 ? fy_fail_errno(NULL, r, "MPI_File_delete", filename) : MPI_SUCCESS;
}

/* ---- size, sync, modes, info, groups, atomicity ------------------------- */

static int resize(fy_file *f, MPI_Offset size, int grow_only, const char *op) {
  if (size < 0) return fy_fail(f, MPI_ERR_ARG, op, NULL, "negative size");
  if ((f->amode & (MPI_MODE_RDONLY | MPI_MODE_WRONLY | MPI_MODE_RDWR)) == MPI_MODE_RDONLY)
    return fy_fail(f, MPI_ERR_READ_ONLY, op, NULL, "file opened MPI_MODE_RDONLY");
  int r = 0;
  if (f->rank == 0) {
    int64_t cur = 0;
    if (grow_only) r = ferry_get_size(f->fd, &cur);
    if (r == 0 && (!grow_only || cur < size)) r = ferry_ftruncate(f->fd, size);
  }
  MPI_Bcast(&r, 1, MPI_INT, 0, f->comm);
  return r < 0 ? fy_fail_errno(f, r, op, NULL) : MPI_SUCCESS;
}

int fy_File_set_size(MPI_File fh, MPI_Offset size) { return resize(FY(fh), size, 0, "MPI_File_set_size"); }
int fy_File_preallocate(MPI_File fh, MPI_Offset size) { return resize(FY(fh), size, 1, "MPI_File_preallocate"); }

int fy_File_get_size(MPI_File fh, MPI_Offset *size) {
  int64_t s;
  int r = ferry_get_size(FY(fh)->fd, &s);
  if (r < 0) return fy_fail_errno(FY(fh), r, "MPI_File_get_size", NULL);
  *size = s;
  return MPI_SUCCESS;
}

int fy_File_sync(MPI_File fh) {
  fy_file *f = FY(fh);
  int r = ferry_fsync(f->fd);
  MPI_Barrier(f->comm);
  return r < 0 ? fy_fail_errno(f, r, "MPI_File_sync", NULL) : MPI_SUCCESS;
}

int fy_File_get_amode(MPI_File fh, int *amode) {
  *amode = FY(fh)->amode;
  return MPI_SUCCESS;
}

int fy_File_get_group(MPI_File fh, MPI_Group *group) { return MPI_Comm_group(FY(fh)->comm, group); }

/* fy_info_merge adds info's keys to f's hints (as set_info and
 * set_view do before the hints are applied). */
void fy_info_merge(fy_file *f, MPI_Info info) {
  if (info == MPI_INFO_NULL) return;
  if (f->info == MPI_INFO_NULL) {
    MPI_Info_dup(info, &f->info);
    return;
  }
  int n;
  MPI_Info_get_nkeys(info, &n);
  for (int i = 0; i < n; i++) {
    char k[MPI_MAX_INFO_KEY + 1], v[1024];
    int flag;
    MPI_Info_get_nthkey(info, i, k);
    MPI_Info_get(info, k, (int)sizeof v - 1, v, &flag);
    if (flag) MPI_Info_set(f->info, k, v);
  }
}

int fy_File_set_info(MPI_File fh, MPI_Info info) {
  fy_file *f = FY(fh);
  fy_info_merge(f, info);
  if (fy_hints_apply(f)) return fy_fail(f, MPI_ERR_NO_MEM, "MPI_File_set_info", NULL, "out of memory");
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
  fy_hints_report(f, *info_used);
  MPI_Info_set(*info_used, "ferry_path", f->path); /* tells a program it runs on Ferry */
  return MPI_SUCCESS;
}

/* Atomic mode: each access takes the file's lock among the ranks that
 * opened it (lock.c), writes exclusively and reads shared, and collective
 * accesses go rank by rank (coll.c), as ROMIO's do under fcntl locks. The
 * standard asks atomicity of these ranks' accesses only. Without it,
 * overlapping writes may mix per strip (ferry.h). */
int fy_File_set_atomicity(MPI_File fh, int flag) {
  fy_file *f = FY(fh);
  if (flag && fy_lock_init(f) < 0) /* collective: the same answer on every rank */
    return fy_fail(f, MPI_ERR_OTHER, "MPI_File_set_atomicity", NULL, "cannot make the lock window among the ranks");
  f->atomic = !!flag;
  MPI_Barrier(f->comm);
  return MPI_SUCCESS;
}

int fy_File_get_atomicity(MPI_File fh, int *flag) {
  *flag = FY(fh)->atomic;
  return MPI_SUCCESS;
}
