/*
 * lock.c - a readers-writer lock among the ranks of a file's
 * communicator, for sieved writes.
 *
 * A sieved write reads a whole range, patches its pieces in and writes
 * the range back: any other write into the gaps between the pieces that
 * lands in between is lost. Ferry has no byte-range locks, so while
 * romio_ds_write is enabled every write of the file takes this lock:
 * sieved writes exclusively, all others (independent list writes and
 * aggregators' writes) shared. It only orders the ranks of the file's
 * communicator; a program that opens the same file elsewhere at the same
 * time is not covered, which is why sieved writes are off by default.
 *
 * The lock is one 64-bit word in rank 0's memory (an MPI window,
 * created when ds_write is first enabled, under a passive epoch for the
 * file's life): readers add 1 and back off if a writer holds it (the
 * word is negative); a writer swaps WRITER in for 0. Waiters retry after
 * a short sleep, each try an atomic MPI call that also drives progress.
 */
#include <time.h>

#include "fy_internal.h"

#define WRITER (INT64_C(1) << 40)

static void backoff(void) {
  struct timespec ts = {0, 20000};
  nanosleep(&ts, NULL);
}

int fy_lock_init(fy_file *f) {
  if (f->lock_ok) return 0;
  int64_t *mem = NULL;
  MPI_Aint size = f->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
  int ok = MPI_Win_allocate(size, (int)sizeof(int64_t), MPI_INFO_NULL, f->comm, &mem, &f->lock_win) == MPI_SUCCESS;
  if (ok) {
    MPI_Win_set_errhandler(f->lock_win, MPI_ERRORS_RETURN);
    if (f->rank == 0) *mem = 0;
    ok = MPI_Win_lock_all(MPI_MODE_NOCHECK, f->lock_win) == MPI_SUCCESS;
  }
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, f->comm);
  if (!all) {
    if (ok) MPI_Win_unlock_all(f->lock_win);
    if (f->lock_win != MPI_WIN_NULL) MPI_Win_free(&f->lock_win);
    f->lock_win = MPI_WIN_NULL;
    return -1;
  }
  MPI_Barrier(f->comm); /* rank 0's word is 0 before anyone uses it */
  f->lock_ok = 1;
  return 0;
}

void fy_lock_free(fy_file *f) {
  if (!f->lock_ok) return;
  MPI_Win_unlock_all(f->lock_win);
  MPI_Win_free(&f->lock_win);
  f->lock_ok = 0;
}

static int64_t fetch_add(fy_file *f, int64_t d) {
  int64_t old = 0;
  MPI_Fetch_and_op(&d, &old, MPI_INT64_T, 0, 0, MPI_SUM, f->lock_win);
  MPI_Win_flush(0, f->lock_win);
  return old;
}

void fy_lock_shared(fy_file *f) {
  for (;;) {
    if (fetch_add(f, 1) >= 0) return;
    fetch_add(f, -1);
    backoff();
  }
}

void fy_unlock_shared(fy_file *f) { fetch_add(f, -1); }

void fy_lock_excl(fy_file *f) {
  int64_t zero = 0, w = -WRITER, old;
  for (;;) {
    MPI_Compare_and_swap(&w, &zero, &old, MPI_INT64_T, 0, 0, f->lock_win);
    MPI_Win_flush(0, f->lock_win);
    if (old == 0) return;
    backoff();
  }
}

void fy_unlock_excl(fy_file *f) { fetch_add(f, WRITER); }
