/*
 * registry.c - which MPI_File values are Ferry's.
 *
 * A Ferry MPI_File is a pointer to a struct fy_file, kept in a registry
 * (an open-addressing hash set) while open; a value not in the registry
 * belongs to the MPI library. Each Ferry file also has a Fortran handle
 * of its own numbering (MPI_File_c2f / MPI_File_f2c). The entry points in
 * fy_gen.c ask fy_is_ferry on every call, and reach the MPI library's
 * originals through fy_resolve.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <ferry.h>

#include "fy_internal.h"
#include "fy_gen.h"

#define FY_FINT_BASE 0x46000000        /* Fortran handles of Ferry files */
#define FY_FINT_MAX 65536

pthread_mutex_t fy_lock = PTHREAD_MUTEX_INITIALIZER;
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

int fy_registry_add(fy_file *f) {
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

void fy_registry_del(fy_file *f) {
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
